"""FAST: frequency-space action tokens (Pertsch et al. 2025, used by pi0-FAST and UD-VLA).

A normalised chunk ``(H, D)`` is taken to DCT-II coefficients along time (orthonormal), scaled and
rounded; smooth motion concentrates in a few low-frequency coefficients and the rest round to zero.
The integers are flattened coefficient row by row (all dims of frequency 0, then frequency 1, ...),
shifted by ``-min_token`` to be non-negative, written as one character each, and compressed with a BPE
trained on the data, so runs of zeros become a handful of tokens.

The BPE here works on those characters directly (one symbol per coefficient value, no byte-level
split), so every id decodes to a whole number of coefficients. Decoding accepts any id sequence:
unknown ids are dropped and the coefficient list is truncated or zero-padded to ``H * D``, as in
UD-VLA's copy of FAST (the original returns an all-zero chunk instead).

Rounding error per coefficient is at most ``0.5 / scale``; through the orthonormal inverse DCT that is
at most ``sqrt(H) * 0.5 / scale`` per value, and typically ``0.5 / scale / sqrt(3)`` (RMS).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from policies.tokenizers._io import read_meta, write_meta

_BPE_FILE = "fast_bpe.json"


@lru_cache(maxsize=32)
def dct_matrix(n: int) -> NDArray[np.float64]:
    """Orthonormal DCT-II matrix ``C`` (n, n): ``coeff = C @ x`` along time, ``x = C.T @ coeff``."""
    k = np.arange(n)[:, None]
    t = np.arange(n)[None, :]
    c = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * t + 1) * k / (2 * n))
    c[0] /= np.sqrt(2.0)
    c.setflags(write=False)
    return c


class FASTTokenizer:
    """Action chunk ``(H, D)`` in [-1, 1] <-> variable-length list of ids in ``[0, vocab_size)``.

    ``fit`` must run before ``encode``/``decode``. ``min_token`` left as None is chosen by ``fit``.
    """

    type_name = "fast"

    def __init__(self, scale: float = 10.0, vocab_size: int = 1024, min_token: int | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.scale = float(scale)
        self.target_vocab_size = int(vocab_size)
        self.min_token = min_token
        self.max_token: int | None = None
        self.horizon: int | None = None
        self.dim: int | None = None
        self._bpe: Any = None
        self._id_to_ints: list[tuple[int, ...]] = []

    # -- properties ---------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Ids emitted, once fitted (the BPE may stop short of the requested size on little data)."""
        return len(self._id_to_ints) if self._bpe is not None else self.target_vocab_size

    @property
    def fitted(self) -> bool:
        return self._bpe is not None

    def max_error(self, horizon: int | None = None) -> float:
        """Worst-case per-value round-trip error for chunks whose coefficients lie in the alphabet."""
        return math.sqrt(horizon or self.horizon or 1) * 0.5 / self.scale

    # -- numeric part -------------------------------------------------------------------------
    def coefficients(self, chunk: ArrayLike) -> NDArray[np.int64]:
        """Rounded, scaled DCT coefficients ``(H, D)`` (before clipping into the alphabet)."""
        x = np.nan_to_num(np.asarray(chunk, dtype=np.float64))
        if x.ndim == 1:
            x = x[:, None]
        return np.rint(dct_matrix(x.shape[0]) @ x * self.scale).astype(np.int64)

    def _to_text(self, chunk: ArrayLike) -> str:
        assert self.min_token is not None and self.max_token is not None
        c = np.clip(self.coefficients(chunk), self.min_token, self.max_token) - self.min_token
        return "".join(map(chr, c.reshape(-1).tolist()))

    # -- training -----------------------------------------------------------------------------
    def fit(self, chunks: ArrayLike) -> FASTTokenizer:
        """Train the BPE on normalised chunks ``(N, H, D)``; records ``horizon`` and ``dim``.

        The alphabet spans the observed coefficient range widened to what any chunk in [-1, 1] can
        reach (``|coeff| <= sqrt(H) * scale``), so unseen but legal chunks are never clipped.
        """
        from tokenizers import Tokenizer, models, trainers

        x = np.asarray(chunks, dtype=np.float64)
        if x.ndim == 2:
            x = x[..., None]
        if x.ndim != 3 or x.shape[0] == 0:
            raise ValueError(f"fit needs chunks of shape (N, H, D), got {x.shape}")
        self.horizon, self.dim = int(x.shape[1]), int(x.shape[2])
        coeffs = np.stack([self.coefficients(c) for c in x])
        bound = int(math.ceil(math.sqrt(self.horizon) * self.scale))
        if self.min_token is None:
            self.min_token = int(min(coeffs.min(), -bound))
        self.max_token = int(max(coeffs.max(), bound))
        n_alphabet = self.max_token - self.min_token + 1
        if n_alphabet > self.target_vocab_size:
            raise ValueError(
                f"{n_alphabet} coefficient values need more than vocab_size={self.target_vocab_size}; "
                "lower the scale or raise the vocabulary"
            )
        trainer = trainers.BpeTrainer(
            vocab_size=self.target_vocab_size,
            min_frequency=2,
            initial_alphabet=[chr(i) for i in range(n_alphabet)],
            special_tokens=[],
            show_progress=False,
        )
        bpe = Tokenizer(models.BPE())
        bpe.train_from_iterator((self._to_text(c) for c in x), trainer=trainer, length=len(x))
        self._set_bpe(bpe)
        return self

    def _set_bpe(self, bpe: Any) -> None:
        assert self.min_token is not None
        self._bpe = bpe
        vocab = bpe.get_vocab()
        table: list[tuple[int, ...]] = [()] * (max(vocab.values()) + 1 if vocab else 0)
        for piece, i in vocab.items():
            table[i] = tuple(ord(ch) + self.min_token for ch in piece)
        self._id_to_ints = table

    def _require_fit(self) -> None:
        if self._bpe is None:
            raise RuntimeError("FASTTokenizer is not fitted; call fit(chunks) or load(directory)")

    # -- encode / decode ----------------------------------------------------------------------
    def encode(self, chunk: ArrayLike) -> list[int]:
        """One normalised chunk ``(H, D)`` -> ids. Coefficients outside the alphabet are clipped."""
        self._require_fit()
        return list(self._bpe.encode(self._to_text(chunk)).ids)

    def decode(self, ids: Sequence[int], horizon: int | None = None, dim: int | None = None) -> NDArray[np.float32]:
        """Any id sequence -> chunk ``(H, D)`` float32. Never raises on the ids.

        Unknown ids (negative, >= vocab_size, non-integers) are dropped; the coefficient list is
        truncated or zero-padded to ``H * D``.
        """
        self._require_fit()
        h = int(horizon or self.horizon or 1)
        d = int(dim or self.dim or 1)
        table = self._id_to_ints
        flat: list[int] = []
        for i in ids if ids is not None else ():
            try:
                j = int(i)
            except (TypeError, ValueError, OverflowError):
                continue
            if 0 <= j < len(table):
                flat.extend(table[j])
        coeff = np.zeros(h * d, dtype=np.float64)
        n = min(len(flat), h * d)
        coeff[:n] = flat[:n]
        chunk = dct_matrix(h).T @ (coeff.reshape(h, d) / self.scale)
        return chunk.astype(np.float32)

    def encode_batch(self, chunks: ArrayLike) -> list[list[int]]:
        """``(N, H, D)`` -> N id lists."""
        self._require_fit()
        return [list(e.ids) for e in self._bpe.encode_batch([self._to_text(c) for c in np.asarray(chunks)])]

    def decode_batch(
        self, seqs: Sequence[Sequence[int]], horizon: int | None = None, dim: int | None = None
    ) -> NDArray[np.float32]:
        """N id lists -> ``(N, H, D)`` float32."""
        h, d = int(horizon or self.horizon or 1), int(dim or self.dim or 1)
        out = [self.decode(s, h, d) for s in seqs]
        return np.stack(out) if out else np.zeros((0, h, d), dtype=np.float32)

    # -- io -----------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        self._require_fit()
        write_meta(
            directory,
            self.type_name,
            scale=self.scale,
            vocab_size=self.target_vocab_size,
            min_token=self.min_token,
            max_token=self.max_token,
            horizon=self.horizon,
            dim=self.dim,
            bpe_file=_BPE_FILE,
        )
        (Path(directory) / _BPE_FILE).write_text(self._bpe.to_str())

    @classmethod
    def load(cls, directory: Path) -> FASTTokenizer:
        from tokenizers import Tokenizer

        m = read_meta(directory, cls.type_name)
        tok = cls(scale=m["scale"], vocab_size=m["vocab_size"], min_token=m["min_token"])
        tok.max_token, tok.horizon, tok.dim = m["max_token"], m["horizon"], m["dim"]
        tok._set_bpe(Tokenizer.from_str((Path(directory) / m.get("bpe_file", _BPE_FILE)).read_text()))
        return tok

    def __repr__(self) -> str:
        return (
            f"FASTTokenizer(scale={self.scale}, vocab_size={self.vocab_size}, min_token={self.min_token}, "
            f"horizon={self.horizon}, dim={self.dim})"
        )


