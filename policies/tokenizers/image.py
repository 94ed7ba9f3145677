"""A tiny VQ-VAE that turns camera frames into a grid of discrete codes (and back).

Unified VLAs (UD-VLA, MMaDA-VLA, MM-ACT) predict future-frame tokens next to action tokens. Their
tokenizers (Emu3's 32768 codes, MAGVIT-v2) are large pretrained models; for a harness that trains on a
CPU we need the same interface at toy scale: 32 px frames, 8 px patches -> 4x4 = 16 codes from a
256-entry codebook, trainable from scratch in minutes. It is meant for looking at and scoring
predicted futures, not for photo-quality reconstruction.

The codebook is learned with EMA updates (k-means in the limit) plus a commitment loss for the encoder,
and codes unused for a while are restarted from current batch encodings, so the whole codebook stays
in use. This module imports torch at import time; ``policies.tokenizers`` itself does not import it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn
from torch.nn import functional as F  # noqa: N812

from policies.tokenizers._io import read_meta, write_meta
from policies.tokenizers.bins import _as_int_ids

_WEIGHTS_FILE = "image_vq.safetensors"


@dataclass(frozen=True)
class ImageTokenizerConfig:
    """Sizes of the VQ-VAE. ``patch`` must be a power of two dividing ``image_size``."""

    image_size: int = 32
    patch: int = 8
    codebook_size: int = 256
    code_dim: int = 32
    hidden: int = 64
    seed: int = 0
    # Weight of the encoder's commitment loss (VQ-VAE's beta).
    beta: float = 0.25
    # EMA decay of codebook statistics.
    decay: float = 0.99
    # A code no batch has used for this many training steps is restarted from a batch encoding.
    restart_after: int = 20

    def __post_init__(self) -> None:
        p = self.patch
        if p < 2 or p & (p - 1):
            raise ValueError(f"patch must be a power of two >= 2, got {p}")
        if self.image_size % p:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch {p}")
        if self.codebook_size < 2 or self.code_dim < 1 or self.hidden < 8:
            raise ValueError("codebook_size >= 2, code_dim >= 1 and hidden >= 8 are required")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch


class _Quantizer(nn.Module):
    """Nearest-neighbour codebook with EMA updates and dead-code restarts (train mode only)."""

    def __init__(self, k: int, dim: int, decay: float, restart_after: int) -> None:
        super().__init__()
        self.k, self.decay, self.restart_after = k, decay, restart_after
        self.register_buffer("codebook", torch.randn(k, dim) * 0.1)
        self.register_buffer("ema_count", torch.ones(k))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("idle_steps", torch.zeros(k))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        cb = self.codebook
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ cb.T + cb.pow(2).sum(1)[None]
        return d.argmin(1)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, idx: torch.Tensor, gen: torch.Generator) -> None:
        if not bool(self.initialised):  # start from real encodings, not from noise
            pick = torch.randint(len(flat), (self.k,), generator=gen)
            self.codebook.copy_(flat[pick])
            n_per_code = len(flat) / self.k
            self.ema_sum.copy_(flat[pick] * n_per_code)
            self.ema_count.fill_(n_per_code)
            self.initialised.fill_(True)
            idx = self.nearest(flat)
        counts = torch.bincount(idx, minlength=self.k).to(flat.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, flat)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + 1e-5) / (n + self.k * 1e-5) * n  # Laplace: no division by zero
        self.codebook.copy_(self.ema_sum / smoothed[:, None])
        self.idle_steps.add_(1).masked_fill_(counts > 0, 0)
        dead = self.idle_steps >= self.restart_after
        if dead.any():
            mean = self.ema_count.mean()
            pick = torch.randint(len(flat), (int(dead.sum()),), generator=gen)
            self.codebook[dead] = flat[pick]
            self.ema_sum[dead] = flat[pick] * mean
            self.ema_count[dead] = mean
            self.idle_steps[dead] = 0

    def forward(self, z: torch.Tensor, gen: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        b, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, c)
        idx = self.nearest(flat)
        if self.training and gen is not None:
            self._update(flat.detach(), idx, gen)
            idx = self.nearest(flat)
        q = self.codebook[idx].view(b, h, w, c).permute(0, 3, 1, 2)
        commit = F.mse_loss(z, q.detach())
        q = z + (q - z).detach()  # straight-through gradient to the encoder
        return q, idx.view(b, h * w), commit

    def lookup(self, idx: torch.Tensor, grid: int) -> torch.Tensor:
        return self.codebook[idx].view(idx.shape[0], grid, grid, -1).permute(0, 3, 1, 2)


class _VQVAE(nn.Module):
    """Stride-2 convs down to the code grid, transposed convs back up; widths double per halving.

    Deliberately shallow (no residual blocks): on a shared 2-core CPU every extra layer costs more in
    memory traffic than it buys in reconstruction at 32 px.
    """

    def __init__(self, cfg: ImageTokenizerConfig) -> None:
        super().__init__()
        n = int(math.log2(cfg.patch))
        chans = [max(cfg.hidden >> (n - 1 - i), 8) for i in range(n)]  # e.g. 16, 32, 64 for patch 8
        enc: list[nn.Module] = []
        for c_in, c_out in zip([3, *chans[:-1]], chans):
            enc += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
        enc += [nn.Conv2d(chans[-1], cfg.code_dim, 1)]
        self.encoder = nn.Sequential(*enc)
        self.quantizer = _Quantizer(cfg.codebook_size, cfg.code_dim, cfg.decay, cfg.restart_after)
        dec: list[nn.Module] = [nn.Conv2d(cfg.code_dim, chans[-1], 3, padding=1), nn.ReLU()]
        ups = chans[::-1]
        for c_in, c_out in zip(ups, [*ups[1:], 3]):
            dec += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
        self.decoder = nn.Sequential(*dec[:-1])  # no activation on the output pixels


def _to_nchw(images: ArrayLike, size: int) -> torch.Tensor:
    """uint8 ``[B,H,W,3]`` or ``[H,W,3]`` -> uint8 tensor ``[B,3,size,size]`` (area resize when needed)."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be [B,H,W,3] or [H,W,3], got {x.shape}")
    if x.dtype != np.uint8:
        x = np.clip(np.nan_to_num(x.astype(np.float64)), 0, 255).round().astype(np.uint8)
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
    if t.shape[-2:] == (size, size):
        return t.contiguous()
    out = [
        F.interpolate(part.float(), size=(size, size), mode="area").round().clamp(0, 255).to(torch.uint8)
        for part in t.split(2048)
    ]
    return torch.cat(out)


def _to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1.0


def _to_uint8(x: torch.Tensor) -> NDArray[np.uint8]:
    img = ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return img.permute(0, 2, 3, 1).cpu().numpy()


class ImageTokenizer:
    """uint8 frames <-> ``[B, n_tokens]`` codes in ``[0, codebook_size)``, row-major over the grid."""

    type_name = "image_vq"

    def __init__(self, config: ImageTokenizerConfig | None = None) -> None:
        self.config = config or ImageTokenizerConfig()
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
            torch.manual_seed(self.config.seed)
            self.model = _VQVAE(self.config).eval()

    @property
    def grid(self) -> int:
        return self.config.grid

    @property
    def n_tokens(self) -> int:
        return self.grid**2

    @property
    def vocab_size(self) -> int:
        return self.config.codebook_size

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def device(self) -> torch.device:
        return self.model.quantizer.codebook.device

    def to(self, device: str | torch.device) -> ImageTokenizer:
        self.model.to(device)
        return self

    # -- training -----------------------------------------------------------------------------
    def fit(
        self,
        frames: ArrayLike,
        steps: int = 1500,
        batch_size: int = 128,
        lr: float = 2e-3,
        progress: bool = True,
        *,
        threads: int = 2,
    ) -> dict[str, float]:
        """Train on uint8 frames ``[N,H,W,3]`` (resized to ``image_size``); returns final figures.

        The returned ``mse`` and ``initial_mse`` are reconstruction errors in [0, 1] pixel units on
        up to 1024 of the frames; ``usage`` is the fraction of codes used there and ``perplexity``
        the exponentiated code entropy (``codebook_size`` when all codes are equally used).
        torch runs on at most ``threads`` threads during fit (restored afterwards); on a CPU shared
        with other jobs, 1 thread can be several times faster than 2 because OpenMP threads wait on
        each other.
        """
        data = _to_nchw(frames, self.image_size)
        if len(data) == 0:
            raise ValueError("fit needs at least one frame")
        rng = np.random.default_rng(self.config.seed)
        gen = torch.Generator().manual_seed(self.config.seed)
        probe = data[rng.permutation(len(data))[:1024]]
        initial = self.evaluate(probe)["mse"]
        previous = torch.get_num_threads()
        torch.set_num_threads(max(1, min(threads, previous)))
        model = self.model
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / max(steps, 1))))
        )
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc="image VQ", leave=False)
        t0 = time.perf_counter()
        try:
            model.train()
            for step in range(steps):
                x = _to_float(data[torch.from_numpy(rng.integers(0, len(data), batch_size))].to(self.device))
                q, _, commit = model.quantizer(model.encoder(x), gen)
                recon = F.mse_loss(model.decoder(q), x)
                loss = recon + self.config.beta * commit
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                if bar is not None:
                    bar.update()
                    if step % 50 == 0:
                        bar.set_postfix(mse=f"{recon.item() / 4:.4f}")
        finally:
            model.eval()
            torch.set_num_threads(previous)
            if bar is not None:
                bar.close()
        seconds = time.perf_counter() - t0
        return {**self.evaluate(probe), "initial_mse": initial, "steps": float(steps), "seconds": seconds}

    @torch.no_grad()
    def evaluate(self, images: ArrayLike | torch.Tensor) -> dict[str, float]:
        """Reconstruction MSE (pixels in [0, 1]), codebook usage and perplexity on ``images``."""
        data = images if isinstance(images, torch.Tensor) else _to_nchw(images, self.image_size)
        model = self.model
        se, n, counts = 0.0, 0, torch.zeros(self.vocab_size)
        for part in data.split(512):
            x = _to_float(part.to(self.device))
            q, idx, _ = model.quantizer(model.encoder(x))
            se += float(((model.decoder(q).clamp(-1, 1) - x) / 2).pow(2).sum())
            n += x.numel()
            counts += torch.bincount(idx.reshape(-1).cpu(), minlength=self.vocab_size).float()
        p = counts / counts.sum().clamp(min=1)
        entropy = -(p[p > 0] * p[p > 0].log()).sum()
        return {
            "mse": se / max(n, 1),
            "usage": float((counts > 0).float().mean()),
            "perplexity": float(entropy.exp()),
        }

    # -- encode / decode ----------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: ArrayLike) -> NDArray[np.int64]:
        """uint8 ``[B,H,W,3]`` or ``[H,W,3]`` -> codes ``[B, n_tokens]`` int64."""
        data = _to_nchw(images, self.image_size)
        model = self.model
        out = [model.quantizer(model.encoder(_to_float(p.to(self.device))))[1] for p in data.split(1024)]
        if not out:
            return np.zeros((0, self.n_tokens), dtype=np.int64)
        return torch.cat(out).cpu().numpy().astype(np.int64)

    @torch.no_grad()
    def decode(self, codes: ArrayLike) -> NDArray[np.uint8]:
        """Codes ``[B, n_tokens]`` (or ``[n_tokens]``, ``[B, g, g]``) -> uint8 ``[B, S, S, 3]``.

        Never raises on integer input: ids are clipped into the codebook and each row is truncated
        or padded with code 0 to ``n_tokens``.
        """
        arr = _as_int_ids(codes, self.vocab_size)
        if arr.ndim < 2:
            arr = arr.reshape(1, -1)
        elif arr.ndim > 2:
            arr = arr.reshape(arr.shape[0], int(np.prod(arr.shape[1:])))
        fixed = np.zeros((arr.shape[0], self.n_tokens), dtype=np.int64)
        n = min(arr.shape[1], self.n_tokens)
        fixed[:, :n] = arr[:, :n]
        s = self.image_size
        if len(fixed) == 0:
            return np.zeros((0, s, s, 3), dtype=np.uint8)
        idx = torch.from_numpy(fixed).to(self.device)
        model = self.model
        imgs = [model.decoder(model.quantizer.lookup(p, self.grid)) for p in idx.split(1024)]
        return _to_uint8(torch.cat(imgs))

    def reconstruct(self, images: ArrayLike) -> NDArray[np.uint8]:
        """``decode(encode(images))``: what the tokenizer keeps of a frame."""
        return self.decode(self.encode(images))

    # -- io -----------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        write_meta(directory, self.type_name, config=asdict(self.config), weights=_WEIGHTS_FILE)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(Path(directory) / _WEIGHTS_FILE), metadata={"config": json.dumps(asdict(self.config))})

    @classmethod
    def load(cls, directory: Path) -> ImageTokenizer:
        from safetensors.torch import load_file

        m = read_meta(directory, cls.type_name)
        tok = cls(ImageTokenizerConfig(**m["config"]))
        tok.model.load_state_dict(load_file(str(Path(directory) / m.get("weights", _WEIGHTS_FILE))))
        return tok

    def __repr__(self) -> str:
        c = self.config
        return f"ImageTokenizer({c.image_size}px, {self.grid}x{self.grid} codes of {c.codebook_size})"


def to_png(images: ArrayLike | Sequence[ArrayLike], path: str | Path, tile: int | None = None) -> Path:
    """Write rows of uint8 images as one PNG grid, e.g. ``to_png([originals, recon, predicted], p)``.

    ``images`` is one ``[B,H,W,3]`` array (one row) or a sequence of them (one row each; rows may
    differ in length and size). Every tile is scaled (nearest) to ``tile`` px, by default the
    largest input height but at least 64, so 32 px frames are big enough to look at.
    """
    from PIL import Image

    rows = [images] if isinstance(images, np.ndarray) and np.asarray(images).ndim in (3, 4) else list(images)
    rows = [np.asarray(r)[None] if np.asarray(r).ndim == 3 else np.asarray(r) for r in rows]
    tile = tile or max([64, *(r.shape[1] for r in rows if r.size)])
    gap = 2
    cols = max([1, *(len(r) for r in rows)])
    canvas = np.full((len(rows) * (tile + gap) + gap, cols * (tile + gap) + gap, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).resize((tile, tile), Image.NEAREST)
            y, x = gap + i * (tile + gap), gap + j * (tile + gap)
            canvas[y : y + tile, x : x + tile] = np.asarray(im)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).save(path)
    return path
