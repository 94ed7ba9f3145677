"""What every decoder shares: the request it gets, the result it returns, and the common steps.

A decoder fills the masked positions of a *region* (the action block, or the future-image block and
the action block) given a *prefix* (instruction, state, images). It only talks to the backbone through
:meth:`Decoder.region_logits`, which runs with or without the prefix KV cache (identical results under
the causal and hybrid layouts) and returns logits aligned with the region's positions whatever the
backbone's prediction offset. NFE (forward passes) is counted here, so every decoder reports it alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict

from policies.backbone import KVCache, logits_for
from policies.sequence import Part, concat
from policies.vocab import Vocab


class DecoderConfig(BaseModel):
    """Knobs every decoder has; subclasses add their own (all validated, all in config files)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    use_cache: bool = True
    seed: int = 0


@dataclass
class DecodeRequest:
    model: Any  # policies.backbone.Backbone or a wrapper with the same forward signature
    vocab: Vocab
    prefix: Part
    region: Part  # template: markers pre-filled, ``mask`` at generated positions
    images: torch.Tensor | None
    generator: torch.Generator
    action_dim: int = 0  # tokens per action (SequenceSpec.action_dim); 0 = unknown to the decoder

    @property
    def batch(self) -> int:
        return int(self.prefix.ids.shape[0])


@dataclass
class DecodeResult:
    tokens: torch.Tensor  # [B, G] global ids for every region position, no ``mask`` left
    nfe: int
    info: dict[str, Any] = field(default_factory=dict)


class Decoder:
    """Base class: subclasses set ``name``, ``Config``, ``layout`` and ``region`` and implement ``run``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[DecoderConfig]] = DecoderConfig
    layout: ClassVar[str] = "hybrid"
    region: ClassVar[str] = "action"  # or "image+action"

    def __init__(self, **kwargs: Any) -> None:
        self.config = self.Config(**kwargs)
        self.nfe = 0
        self._cache: KVCache | None = None
        self._prefix_last: torch.Tensor | None = None

    # -- the entry point --------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, req: DecodeRequest) -> DecodeResult:
        self.nfe = 0
        self._cache, self._prefix_last = None, None
        tokens, info = self.run(req)
        mask = req.vocab.special("mask")
        if bool((tokens == mask).any()):
            raise RuntimeError(f"decoder {self.name!r} left mask tokens in its output")
        return DecodeResult(tokens, self.nfe, info)

    def run(self, req: DecodeRequest) -> tuple[torch.Tensor, dict[str, Any]]:
        raise NotImplementedError

    # -- talking to the backbone ------------------------------------------------------------
    def prefill(self, req: DecodeRequest) -> None:
        """Run the prefix once and keep its KV cache (only when ``use_cache``)."""
        if not self.config.use_cache or self._cache is not None:
            return
        p = req.prefix
        out = req.model(p.ids, p.segment, p.causal, self.layout, images=req.images, pad=p.pad, use_cache=True)
        self.nfe += 1
        self._cache, self._prefix_last = out.cache, out.logits[:, -1]

    def region_logits(self, req: DecodeRequest, ids: torch.Tensor, part: Part | None = None) -> torch.Tensor:
        """Logits ``[B, G, V]`` where ``out[:, j]`` predicts the region token at position ``j``.

        ``part`` overrides the region's block structure (e.g. a shorter span for AR steps); its
        positions must start right after the prefix.
        """
        part = (part or req.region).with_ids(ids)
        if self.config.use_cache:
            self.prefill(req)
            out = req.model(part.ids, part.segment, part.causal, self.layout, cache=self._cache, pad=part.pad)
            first = self._prefix_last
        else:
            full = concat(req.prefix, part)
            out = req.model(full.ids, full.segment, full.causal, self.layout, images=req.images, pad=full.pad)
            first = out.logits[:, req.prefix.length - 1]
            out.logits = out.logits[:, req.prefix.length:]
        self.nfe += 1
        return logits_for(out.logits, req.model.pred_offset, first).float()

    # -- shared helpers ---------------------------------------------------------------------
    def restrict(self, logits: torch.Tensor, vocab: Vocab, modality: str) -> torch.Tensor:
        """Logits over one modality's local ids (the decoding-space restriction every VLA decoder uses)."""
        r = vocab.range(modality)
        return logits[..., r.start:r.stop]


def cosine_mask_ratio(step: int, steps: int) -> float:
    """MaskGIT's cosine schedule: the fraction still masked after ``step`` of ``steps`` (1-based)."""
    return math.cos(math.pi / 2 * step / steps)


SCHEDULES = {
    "cosine": cosine_mask_ratio,
    "linear": lambda step, steps: 1.0 - step / steps,
    "square": lambda step, steps: 1.0 - (step / steps) ** 2,
}


def gumbel(shape: torch.Size | tuple[int, ...], generator: torch.Generator,
           device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard Gumbel noise, float64 (low-precision Gumbel hurts sampling quality)."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64, device=device).clamp_(1e-20, 1.0 - 1e-12)
    return -torch.log(-torch.log(u))


def sample(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """Gumbel-max sample from ``softmax(logits / temperature)``; greedy at temperature 0."""
    if temperature <= 0:
        return logits.argmax(-1)
    g = gumbel(logits.shape, generator, logits.device)
    return (logits.double() / temperature + g).argmax(-1)
