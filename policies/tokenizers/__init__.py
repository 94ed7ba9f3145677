"""Tokenizers that turn text, images, proprioception and actions into integer ids.

Every tokenizer emits ids in ``[0, vocab_size)``; the model, not the tokenizer, decides where those ids
live in its own vocabulary. Each has ``encode``, ``decode`` (which never raises on bad ids, because
decoders sample arbitrary ids), ``save(directory)`` and ``load(directory)``. ``save`` writes a
``tokenizer.json`` whose ``type`` names an entry of :data:`TOKENIZERS`, so :func:`load_tokenizer`
can rebuild any of them. Entries are lazy import strings: importing this package imports neither
torch nor ``tokenizers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policies.tokenizers._io import TOKENIZER_FILE, read_meta

TOKENIZERS: dict[str, str] = {
    "bins": "policies.tokenizers.bins:BinTokenizer",
    "actions": "policies.tokenizers.bins:ActionTokenizer",
    "fast": "policies.tokenizers.fast:FASTTokenizer",
    "image_vq": "policies.tokenizers.image:ImageTokenizer",
    "text_bytes": "policies.tokenizers.text:ByteTextTokenizer",
    "text_words": "policies.tokenizers.text:WordTextTokenizer",
    "state_bins": "policies.tokenizers.state:StateTokenizer",
}


def get_tokenizer_class(name: str) -> Any:
    """The class registered under ``name``, imported on demand."""
    from vla_bench.registry import import_string

    if name not in TOKENIZERS:
        raise KeyError(f"unknown tokenizer {name!r} (known: {', '.join(sorted(TOKENIZERS))})")
    return import_string(TOKENIZERS[name])


def load_tokenizer(directory: str | Path) -> Any:
    """Rebuild whichever tokenizer ``save(directory)`` wrote, from its ``tokenizer.json`` type."""
    meta = read_meta(Path(directory))
    return get_tokenizer_class(meta["type"]).load(Path(directory))


__all__ = ["TOKENIZERS", "TOKENIZER_FILE", "get_tokenizer_class", "load_tokenizer"]
