"""The shared transformer: one vocabulary, selectable attention layout, prefix KV cache.

Every decoder drives the same ``Backbone.forward``: token ids plus their block structure go in, logits
over the unified vocabulary come out. Current camera images enter as continuous patch features at the
``img`` placeholder positions (as LLaDA-VLA and Discrete Diffusion VLA feed vision-encoder features);
future images, actions, state and text are discrete tokens. ``pred_offset`` says which position's
logits predict a token: 0 = the same position (masked-diffusion heads), 1 = the position before it
(autoregressive heads, UD-VLA, OpenVLA-OFT). Decoders read it through :func:`logits_for`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from policies.attention import allowed, check_layout
from policies.vocab import Vocab


@dataclass(frozen=True)
class BackboneConfig:
    vocab: Vocab
    d_model: int = 192
    n_layers: int = 4
    n_heads: int = 6
    mlp_ratio: float = 4.0
    max_len: int = 512
    pred_offset: int = 1
    dropout: float = 0.0
    image_size: int = 64
    n_cameras: int = 1
    image_grid: int = 4
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        if self.pred_offset not in (0, 1):
            raise ValueError(f"pred_offset must be 0 or 1, got {self.pred_offset}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model {self.d_model} must split into {self.n_heads} heads of even size")
        if self.image_size % self.image_grid or (self.image_size // self.image_grid) & (self.image_size // self.image_grid - 1):
            raise ValueError(f"image_size {self.image_size} / image_grid {self.image_grid} must be a power of two")

    @property
    def image_tokens(self) -> int:
        """Placeholder positions per sample (all cameras)."""
        return self.n_cameras * self.image_grid**2

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "vocab"}
        d["vocab"] = self.vocab.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BackboneConfig:
        d = dict(d)
        return cls(vocab=Vocab(**d.pop("vocab")), **d)


@dataclass
class KVCache:
    """Keys and values per layer (``[B, H, P, Dh]``) with the block structure of the cached positions."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    segment: torch.Tensor
    causal: torch.Tensor
    pad: torch.Tensor

    @property
    def length(self) -> int:
        return int(self.segment.shape[1])

    def crop(self, n: int) -> KVCache:
        """The first ``n`` positions (Jacobi decoding rolls the cache back to the accepted prefix)."""
        return KVCache([k[:, :, :n] for k in self.keys], [v[:, :, :n] for v in self.values],
                       self.segment[:, :n], self.causal[:, :n], self.pad[:, :n])

    def repeat(self, times: int) -> KVCache:
        """Each row repeated ``times`` times (row-major), e.g. for several samples per prefix."""
        rep = lambda t: t.repeat_interleave(times, dim=0)  # noqa: E731
        return KVCache([rep(k) for k in self.keys], [rep(v) for v in self.values],
                       rep(self.segment), rep(self.causal), rep(self.pad))


@dataclass
class BackboneOutput:
    logits: torch.Tensor  # [B, L, V] for the new positions
    cache: KVCache | None = None
    hidden: torch.Tensor | None = field(default=None, repr=False)


def logits_for(logits: torch.Tensor, pred_offset: int, first: torch.Tensor | None = None) -> torch.Tensor:
    """Logits aligned with token positions: ``out[:, j]`` predicts the token at position ``j``.

    With offset 1 the logits of position ``j - 1`` predict ``j``; position 0 then takes ``first``
    (the last logits before this span, e.g. the prefix's) or stays as is when it is a fixed marker.
    """
    if pred_offset == 0:
        return logits
    head = logits[:, :1] if first is None else first[:, None] if first.dim() == 2 else first
    return torch.cat([head, logits[:, :-1]], dim=1)


class ImageEncoder(nn.Module):
    """A small strided CNN: ``[B, C, S, S]`` images to a ``grid x grid`` map of d-dim patch features."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        n_down = int(math.log2(cfg.image_size // cfg.image_grid))
        chans = [3] + [min(32 * 2**i, cfg.d_model) for i in range(n_down - 1)] + [cfg.d_model]
        layers: list[nn.Module] = []
        for i in range(n_down):
            layers += [nn.Conv2d(chans[i], chans[i + 1], 4, stride=2, padding=1),
                       nn.GroupNorm(min(8, chans[i + 1]), chans[i + 1]), nn.GELU()]
        self.net = nn.Sequential(*layers)
        self.pos = nn.Parameter(torch.zeros(cfg.image_grid**2, cfg.d_model))
        self.camera = nn.Parameter(torch.zeros(cfg.n_cameras, cfg.d_model))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, n_cam, 3, S, S]`` floats in [0, 1] -> ``[B, n_cam * grid^2, d]``."""
        b, n = images.shape[:2]
        x = self.net(images.flatten(0, 1) * 2.0 - 1.0)  # [B*n, d, g, g]
        x = x.flatten(2).transpose(1, 2) + self.pos  # [B*n, g*g, d]
        x = x.view(b, n, -1, x.shape[-1]) + self.camera[None, :n, None]
        return x.flatten(1, 2)


def rope_tables(n: int, dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary cos/sin tables ``[n, dim/2]`` for positions ``0..n-1`` (computed once per model)."""
    half = dim // 2
    freq = base ** (-torch.arange(half, dtype=torch.float32) / half)
    ang = torch.arange(n).float()[:, None] * freq
    return ang.cos(), ang.sin()


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def extend_blocks(segment: torch.Tensor, causal: torch.Tensor, pad: torch.Tensor | None, layout: str,
                  cache: KVCache | None, max_len: int) -> tuple[torch.Tensor, ...]:
    """Block structure of cache + new positions and the ``[B, 1, L, P+L]`` mask of the new ones (checked)."""
    check_layout(layout)
    if cache is not None and layout == "bidirectional":
        raise ValueError("a prefix KV cache is only exact under the causal or hybrid layout")
    pad = torch.zeros_like(segment, dtype=torch.bool) if pad is None else pad
    p, l = 0 if cache is None else cache.length, segment.shape[1]
    if p + l > max_len:
        raise ValueError(f"sequence of {p + l} tokens exceeds max_len {max_len}")
    if cache is not None:
        segment, causal = torch.cat([cache.segment, segment], 1), torch.cat([cache.causal, causal], 1)
        pad = torch.cat([cache.pad, pad], 1)
    return segment, causal, pad, allowed(segment, causal, pad, layout, n_query=l)


def place_image_features(x: torch.Tensor, ids: torch.Tensor, vocab: Vocab, encoder: nn.Module,
                         images: torch.Tensor | None) -> torch.Tensor:
    """Token embeddings ``x`` with the ``img`` placeholder positions replaced, in order, by patch features."""
    slots = ids == vocab.special("img")
    if not bool(slots.any()):
        return x
    if images is None:
        raise ValueError("the sequence has image placeholders but no images were given")
    feats = encoder(images)
    if int(slots.sum()) != feats.shape[0] * feats.shape[1]:
        raise ValueError(f"{int(slots.sum())} image placeholders for {feats.shape[0]}x{feats.shape[1]} patch features")
    return x.masked_scatter(slots[..., None], feats.to(x.dtype))


class Block(nn.Module):
    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        d, self.h = cfg.d_model, cfg.n_heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        hidden = int(d * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor,
                past: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, l, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, l, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        q, k = _rope(q, *rope), _rope(k, *rope)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.drop(self.out(a.transpose(1, 2).reshape(b, l, d)))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x, (k, v)


class Backbone(nn.Module):
    """A pre-norm transformer with RoPE over the unified vocabulary."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embed = nn.Embedding(cfg.vocab.size, cfg.d_model)
        self.images = ImageEncoder(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab.size)
        self.apply(_init)
        cos, sin = rope_tables(cfg.max_len, cfg.d_model // cfg.n_heads, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    @property
    def pred_offset(self) -> int:
        return self.config.pred_offset

    def embed_inputs(self, ids: torch.Tensor, images: torch.Tensor | None) -> torch.Tensor:
        return place_image_features(self.embed(ids), ids, self.config.vocab, self.images, images)

    def forward(self, ids: torch.Tensor, segment: torch.Tensor, causal: torch.Tensor, layout: str,
                cache: KVCache | None = None, images: torch.Tensor | None = None,
                pad: torch.Tensor | None = None, use_cache: bool = False) -> BackboneOutput:
        """Logits for ``ids`` (``[B, L]``) given an optional cache of the positions before them.

        ``segment``/``causal``/``pad`` describe the new positions only; the cache carries its own.
        With ``use_cache`` the returned cache covers cache + new positions.
        """
        p, l = 0 if cache is None else cache.length, ids.shape[1]
        full_seg, full_causal, full_pad, mask = extend_blocks(segment, causal, pad, layout, cache,
                                                              self.config.max_len)
        rope = (self.rope_cos[p:p + l], self.rope_sin[p:p + l])
        x = self.embed_inputs(ids, images)
        keys, values = [], []
        for i, blk in enumerate(self.blocks):
            past = None if cache is None else (cache.keys[i], cache.values[i])
            x, (k, v) = blk(x, rope, mask, past)
            keys.append(k)
            values.append(v)
        hidden = self.norm(x)
        new_cache = KVCache(keys, values, full_seg, full_causal, full_pad) if use_cache else None
        return BackboneOutput(self.head(hidden), new_cache, hidden)


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
