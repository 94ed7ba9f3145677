"""Observation preprocessing shared by training and inference, so both see identical inputs."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def resize_images(frames: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` -> float ``[N, 3, size, size]`` in [0, 1], area-averaged (no aliasing)."""
    x = torch.as_tensor(np.asarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="area")
    return x


def camera_tensor(images: Sequence[dict[str, np.ndarray]], cameras: Sequence[str], size: int) -> torch.Tensor:
    """A batch of observation image dicts -> ``[B, n_cam, 3, size, size]``; a missing camera is an error."""
    per_cam = []
    for cam in cameras:
        missing = [i for i, imgs in enumerate(images) if cam not in imgs]
        if missing:
            raise KeyError(f"observation has no camera {cam!r} (has {sorted(images[missing[0]])}); "
                           f"the checkpoint was trained on cameras {list(cameras)}")
        per_cam.append(resize_images(np.stack([imgs[cam] for imgs in images]), size))
    return torch.stack(per_cam, 1)
