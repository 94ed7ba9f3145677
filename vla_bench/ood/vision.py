"""Image-level perturbations, applied to the chosen cameras of every observation (numpy only, plus
Pillow for JPEG). Parameters follow LIBERO-Plus's camera/noise families and VLA-Arena's ranges
(Gaussian noise sigma 0.085, colour jitter up to +-0.75); see docs/perturbations.md."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from vla_bench.ood.base import Perturbation, PerturbationWrapper


class _ImageWrapper(PerturbationWrapper, gym.ObservationWrapper):
    """Transforms the chosen cameras of every observation; ``t`` counts frames for per-frame draws."""

    pert: VisionPerturbation

    def __init__(self, env: gym.Env, pert: VisionPerturbation) -> None:
        super().__init__(env, pert)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self.t = 0
        return super().reset(seed=seed, options=options)

    def observation(self, obs: dict[str, Any]) -> dict[str, Any]:
        if self.pert.severity == 0:
            return obs
        images = dict(obs["images"])
        for cam in images:
            if self.pert.cameras is None or cam in self.pert.cameras:
                img = self.pert.transform(images[cam], self.pert.step_rng(self.t))
                images[cam] = np.clip(np.rint(img), 0, 255).astype(np.uint8) if img.dtype != np.uint8 else img
        self.t += 1
        return {**obs, "images": images}


class VisionPerturbation(Perturbation):
    kind = "vision"
    cameras: tuple[str, ...] | None = None  # None: every camera

    def transform(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def wrap(self, env: gym.Env) -> PerturbationWrapper:
        return _ImageWrapper(env, self)


def _gray(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


class Brightness(VisionPerturbation):
    name, unit, source = "brightness", "relative change", "VLA-Arena light_adjustment"
    levels: ClassVar = (0.0, 0.1, 0.2, 0.3, 0.45, 0.6)
    description = "scale pixel values by 1 +- delta (sign fixed per episode)"

    def transform(self, img, rng):
        if not hasattr(self, "_sign"):  # drawn once per episode
            self._sign = 1.0 if self.rng.random() < 0.5 else -1.0
        return img.astype(np.float64) * (1 + self._sign * self.param)


class Contrast(VisionPerturbation):
    name, unit, source = "contrast", "contrast factor", "VLA-Arena light_adjustment"
    levels: ClassVar = (1.0, 0.85, 0.7, 0.55, 0.4, 0.25)
    description = "blend toward the mean grey level"

    def transform(self, img, rng):
        mean = _gray(img).mean()
        return mean + self.param * (img.astype(np.float64) - mean)


class Saturation(VisionPerturbation):
    name, unit, source = "saturation", "saturation factor", "VLA-Arena light_adjustment"
    levels: ClassVar = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)
    description = "blend toward the grey image"

    def transform(self, img, rng):
        g = _gray(img)[..., None]
        return g + self.param * (img.astype(np.float64) - g)


class Hue(VisionPerturbation):
    name, unit, source = "hue", "degrees", "colour jitter (torchvision-style hue shift)"
    levels: ClassVar = (0, 10, 20, 40, 60, 90)
    description = "rotate hue by the given angle (about the grey axis)"

    def transform(self, img, rng):
        a = np.deg2rad(self.param)
        k = np.ones(3) / np.sqrt(3)
        c, s = np.cos(a), np.sin(a)
        rot = c * np.eye(3) + s * np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]]) + (1 - c) * np.outer(k, k)
        return img.astype(np.float64) @ rot.T


class GaussianNoise(VisionPerturbation):
    name, unit, source = "gaussian_noise", "sigma (fraction of 255)", "VLA-Arena add_noise (0.085), LIBERO-Plus"
    levels: ClassVar = (0.0, 0.02, 0.04, 0.06, 0.085, 0.12)
    description = "i.i.d. pixel noise, fresh every frame"

    def transform(self, img, rng):
        return img.astype(np.float64) + rng.normal(0, 255 * self.param, img.shape)


class Blur(VisionPerturbation):
    name, unit, source = "blur", "Gaussian sigma (px at 128 px)", "LIBERO-Plus blur family"
    levels: ClassVar = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
    description = "separable Gaussian blur; sigma scales with image width / 128"

    def transform(self, img, rng):
        sigma = self.param * img.shape[1] / 128
        r = max(1, int(3 * sigma))
        x = np.arange(-r, r + 1)
        k = np.exp(-x ** 2 / (2 * sigma ** 2))
        k /= k.sum()
        out = img.astype(np.float64)
        pad = np.pad(out, ((r, r), (r, r), (0, 0)), mode="edge")
        out = sum(w * pad[:, i: i + img.shape[1]] for i, w in enumerate(k))
        out = sum(w * out[i: i + img.shape[0]] for i, w in enumerate(k))
        return out


class Jpeg(VisionPerturbation):
    name, unit, source = "jpeg", "JPEG quality", "compression artefacts"
    levels: ClassVar = (None, 80, 50, 30, 15, 7)
    description = "encode and decode as JPEG at the given quality"

    def transform(self, img, rng):
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=int(self.param))
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


class Occlusion(VisionPerturbation):
    name, unit, source = "occlusion", "patch side (fraction of image side)", "occlusion patch"
    levels: ClassVar = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3)
    description = "a black square at a position fixed per episode"

    def transform(self, img, rng):
        h, w = img.shape[:2]
        side = max(1, int(round(self.param * min(h, w))))
        if not hasattr(self, "_pos"):
            self._pos = (int(self.rng.integers(0, h - side + 1)), int(self.rng.integers(0, w - side + 1)))
        out = img.copy()
        r, c = self._pos
        out[r: r + side, c: c + side] = 0  # black: Meta-World and LIBERO scenes are mostly mid-grey
        return out
