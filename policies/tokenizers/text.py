"""Instruction tokenizers: UTF-8 bytes (open vocabulary) and a fitted word list (closed vocabulary).

Bytes are the default because OOD language sweeps feed synonyms and paraphrases no training
instruction contained; a byte tokenizer represents them exactly, where a word list can only say UNK.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from policies.tokenizers._io import read_meta, write_meta

_WORD = re.compile(r"\w+|[^\w\s]")


class ByteTextTokenizer:
    """Text <-> UTF-8 byte values (vocab 256)."""

    type_name = "text_bytes"
    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        """Lone surrogates (not valid UTF-8) become ``?``; everything else round-trips exactly."""
        return list(str(text).encode("utf-8", errors="replace"))

    def decode(self, ids: Iterable[Any]) -> str:
        """Ids outside ``[0, 256)`` are dropped and invalid UTF-8 becomes U+FFFD; never raises."""
        data = bytearray()
        for i in ids if ids is not None else ():
            try:
                j = int(i)
            except (TypeError, ValueError, OverflowError):
                continue
            if 0 <= j < 256:
                data.append(j)
        return data.decode("utf-8", errors="replace")

    def save(self, directory: Path) -> None:
        write_meta(directory, self.type_name)

    @classmethod
    def load(cls, directory: Path) -> ByteTextTokenizer:
        read_meta(directory, cls.type_name)
        return cls()

    def __repr__(self) -> str:
        return "ByteTextTokenizer()"


class _FitDescriptor:
    """Lets ``fit`` be called on the class (returns a new tokenizer) or on an instance (fits it)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, owner: type) -> Any:
        target = obj if obj is not None else owner()
        return self.fn.__get__(target, owner)


class WordTextTokenizer:
    """Lower-cased words and punctuation -> ids; id 0 is ``[UNK]`` for anything not seen in ``fit``."""

    type_name = "text_words"
    UNK = "[UNK]"

    def __init__(self, words: Sequence[str] = ()) -> None:
        self._set_words(words)

    def _set_words(self, words: Iterable[str]) -> None:
        self.words: list[str] = [self.UNK, *sorted(set(words) - {self.UNK})]
        self._index = {w: i for i, w in enumerate(self.words)}

    @staticmethod
    def split(text: str) -> list[str]:
        return _WORD.findall(str(text).lower())

    @_FitDescriptor
    def fit(self, instructions: Iterable[str]) -> WordTextTokenizer:
        """Build the vocabulary from training instructions (sorted, so it does not depend on order)."""
        self._set_words(w for text in instructions for w in self.split(text))
        return self

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    @property
    def unk_id(self) -> int:
        return 0

    def encode(self, text: str) -> list[int]:
        return [self._index.get(w, 0) for w in self.split(text)]

    def decode(self, ids: Iterable[Any]) -> str:
        """Space-joined words; ids that are not in the vocabulary read as ``[UNK]``. Never raises."""
        out = []
        for i in ids if ids is not None else ():
            try:
                j = int(i)
            except (TypeError, ValueError, OverflowError):
                j = 0
            out.append(self.words[j] if 0 <= j < len(self.words) else self.UNK)
        return " ".join(out)

    def save(self, directory: Path) -> None:
        write_meta(directory, self.type_name, words=self.words)

    @classmethod
    def load(cls, directory: Path) -> WordTextTokenizer:
        return cls(read_meta(directory, cls.type_name)["words"])

    def __repr__(self) -> str:
        return f"WordTextTokenizer(vocab_size={self.vocab_size})"
