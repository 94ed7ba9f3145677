"""The on-disk convention shared by all tokenizers: a ``tokenizer.json`` with a ``type`` field.

JSON (and safetensors for tensors) only, never pickle, so a checkpoint cannot run code when loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOKENIZER_FILE = "tokenizer.json"


def write_meta(directory: Path, type_name: str, **fields: Any) -> Path:
    """Write ``tokenizer.json`` (creating ``directory``) and return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / TOKENIZER_FILE
    path.write_text(json.dumps({"type": type_name, **fields}, indent=1, sort_keys=True) + "\n")
    return path


def read_meta(directory: Path, expected: str | None = None) -> dict[str, Any]:
    """Read ``tokenizer.json``; raise ValueError if its type is not ``expected``."""
    meta = json.loads((Path(directory) / TOKENIZER_FILE).read_text())
    if "type" not in meta:
        raise ValueError(f"{directory / TOKENIZER_FILE} has no 'type' field")
    if expected is not None and meta["type"] != expected:
        raise ValueError(f"{directory} holds a {meta['type']!r} tokenizer, not {expected!r}")
    return meta


def norm_to_dict(norm: Any) -> dict[str, list[float]]:
    """NormStats -> JSON-friendly dict."""
    return {k: list(getattr(norm, k)) for k in ("q01", "q99", "mean", "std")}


def norm_from_dict(d: dict[str, Any]) -> Any:
    from vla_bench.types import NormStats

    return NormStats(**{k: tuple(float(v) for v in d.get(k, ())) for k in ("q01", "q99", "mean", "std")})
