"""Checkpoint directories: weights, configs, normalization statistics and tokenizer files, no pickle.

Layout::

    CKPT/
      model.safetensors      backbone weights
      config.json            backbone config, sequence layout, preprocessing, action/state specs
      norm_stats.json        q01/q99 (and mean/std) of actions and state, per suite
      tokenizers/text/       text tokenizer files
      tokenizers/image/      future-image VQ tokenizer files
      train_state.pt         optimizer/scheduler/RNG state for resuming (tensors only; optional)

A checkpoint is everything a policy needs to run: nothing else is read at load time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vla_bench.types import NormStats

CONFIG, WEIGHTS, NORM, TRAIN_STATE = "config.json", "model.safetensors", "norm_stats.json", "train_state.pt"


class CheckpointError(ValueError):
    """A checkpoint file that is missing, truncated or not what it should be; the message names it."""


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Any failure while reading ``path`` becomes one CheckpointError line naming the file."""
    try:
        yield
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - json, safetensors, OS and shape errors alike
        if isinstance(exc, FileNotFoundError) or not Path(path).exists():
            raise CheckpointError(f"{path}: missing") from exc
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise CheckpointError(f"{path}: cannot be read ({type(exc).__name__}: {first})") from exc


@dataclass(frozen=True)
class CheckpointConfig:
    """What a checkpoint says about itself, beyond the weights.

    ``sequence`` holds :class:`policies.sequence.SequenceSpec` sizes (without the vocabulary, which
    lives in ``backbone``); ``preprocess`` the camera names and sizes images are resized to.
    """

    backbone: dict[str, Any]
    sequence: dict[str, int]
    preprocess: dict[str, Any]
    action_bins: int = 256
    state_bins: int = 256
    gripper_index: int | None = None
    text_tokenizer: str = "text_words"
    train: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _norm_to_json(stats: dict[str, NormStats]) -> dict[str, Any]:
    return {k: {"q01": list(s.q01), "q99": list(s.q99), "mean": list(s.mean), "std": list(s.std)}
            for k, s in stats.items()}


def save(directory: Path, model: Any, config: CheckpointConfig, norm: dict[str, NormStats],
         tokenizers: dict[str, Any]) -> Path:
    """Write a checkpoint (weights as float32 safetensors); ``tokenizers`` maps a name to an object with ``save``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS), metadata={"format": "pt"})
    (directory / CONFIG).write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
    (directory / NORM).write_text(json.dumps(_norm_to_json(norm), indent=2, sort_keys=True) + "\n")
    for name, tok in tokenizers.items():
        tok.save(directory / "tokenizers" / name)
    return directory


def load_config(directory: Path) -> CheckpointConfig:
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: {directory} is not a vla_bench checkpoint directory")
    with reading(path):
        return CheckpointConfig(**json.loads(path.read_text()))


def load_norm(directory: Path) -> dict[str, NormStats]:
    path = Path(directory) / NORM
    with reading(path):
        raw = json.loads(path.read_text())
        return {k: NormStats(tuple(v["q01"]), tuple(v["q99"]), tuple(v.get("mean", ())), tuple(v.get("std", ())))
                for k, v in raw.items()}


def load_model(directory: Path, device: str = "cpu") -> Any:
    """The backbone with its weights, in eval mode."""
    from safetensors.torch import load_file

    from policies.backbone import Backbone, BackboneConfig

    cfg = load_config(directory)
    with reading(Path(directory) / CONFIG):
        model = Backbone(BackboneConfig.from_dict(cfg.backbone))
    path = Path(directory) / WEIGHTS
    with reading(path):
        missing, unexpected = model.load_state_dict(load_file(str(path), device=device), strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path} does not match the backbone in {CONFIG}: missing {missing}, "
                              f"unexpected {unexpected}")
    return model.to(device).eval()


def digest(directory: Path) -> str:
    """sha256 over the files that define the policy (weights, configs, tokenizers), for run manifests."""
    h = hashlib.sha256()
    root = Path(directory)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != TRAIN_STATE):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()
