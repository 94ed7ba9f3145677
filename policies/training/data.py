"""Demonstrations from ``vla-bench collect`` turned into training samples.

A sample at frame ``t`` of a demonstration is: the instruction, the state at ``t``, the camera images
at ``t`` (resized once, as the policy resizes them), the action chunk ``t .. t+chunk-1`` (the last
action repeated past the end) and the future frame at ``t + future_offset`` (the last frame past the
end) as VQ codes. Everything is precomputed into tensors so a training step only indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from policies.preprocess import resize_images


@dataclass
class Demo:
    task: str
    instruction: str
    images: dict[str, np.ndarray]  # camera -> uint8 [T, H, W, 3]
    state: np.ndarray  # [T, S]
    actions: np.ndarray  # [T, D]


def demo_files(paths: Sequence[str | Path]) -> list[Path]:
    """HDF5 files named directly or found in the given directories (sorted, so order is reproducible)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.hdf5"))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"demonstration path {p} does not exist (make it with `vla-bench collect`)")
    if not files:
        raise FileNotFoundError(f"no .hdf5 demonstration files under {[str(p) for p in paths]}")
    return files


def load_demos(paths: Sequence[str | Path], cameras: Sequence[str]) -> list[Demo]:
    import h5py

    demos: list[Demo] = []
    for path in demo_files(paths):
        with h5py.File(path, "r") as f:
            task = str(f.attrs.get("task", path.stem))
            for key in sorted(f["data"], key=lambda k: int(k.split("_")[-1])):
                g = f["data"][key]
                missing = [c for c in cameras if f"{c}_rgb" not in g["obs"]]
                if missing:
                    raise KeyError(f"{path}:{key} has no camera {missing} (has {list(g['obs'])})")
                demos.append(Demo(task, str(g.attrs["instruction"]),
                                  {c: g["obs"][f"{c}_rgb"][()] for c in cameras},
                                  g["obs"]["state"][()].astype(np.float32), g["actions"][()].astype(np.float32)))
    return demos


@dataclass
class Samples:
    """Frame-level training tensors (one row per frame of every demonstration)."""

    images: torch.Tensor  # [N, n_cam, 3, S, S] float16
    state: np.ndarray  # [N, S] float32
    chunks: np.ndarray  # [N, chunk, D] float32 (raw actions)
    future: np.ndarray  # [N, H, W, 3] uint8 future frame of the first camera
    text: list[list[int]]  # per frame, the instruction's text ids
    task: list[str]

    def __len__(self) -> int:
        return len(self.task)


def build_samples(demos: Sequence[Demo], cameras: Sequence[str], image_size: int, chunk: int,
                  future_offset: int, encode_text: Callable[[str], list[int]]) -> Samples:
    images, state, chunks, future, text, task = [], [], [], [], [], []
    for d in demos:
        t_len = len(d.actions)
        idx = np.arange(t_len)
        steps = np.minimum(idx[:, None] + np.arange(chunk)[None], t_len - 1)
        cams = [resize_images(d.images[c], image_size).half() for c in cameras]
        images.append(torch.stack(cams, 1))
        state.append(d.state)
        chunks.append(d.actions[steps])
        future.append(d.images[cameras[0]][np.minimum(idx + future_offset, t_len - 1)])
        ids = encode_text(d.instruction)
        text += [ids] * t_len
        task += [d.task] * t_len
    return Samples(torch.cat(images), np.concatenate(state), np.concatenate(chunks), np.concatenate(future),
                   text, task)


def shift_augment(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``pad`` pixels (replicate padding), one shift per sample."""
    if pad <= 0:
        return images
    b, n, c, h, w = images.shape
    x = torch.nn.functional.pad(images.flatten(0, 1).float(), (pad,) * 4, mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    out = torch.empty(b * n, c, h, w)
    for i in range(b):
        out[i * n:(i + 1) * n] = x[i * n:(i + 1) * n, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    return out.view(b, n, c, h, w)
