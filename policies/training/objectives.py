"""Training objectives, one per decoding family, so one checkpoint serves every decoder.

- ``joint``: masked-token cross-entropy over the future-image and action blocks under the hybrid layout
  (UD-VLA JD3P, MMaDA-VLA): one mask ratio ``cos(pi/2 * t)``, ``t ~ U(0, 1)``, per sample, shared by both
  blocks; image positions weighted by omega (a class-weighted mean, as UD-VLA's vision loss weight).
- ``action_masked``: the same over the action block alone (Discrete Diffusion VLA, LLaDA-VLA, MM-ACT).
- ``causal``: next-token prediction of the action block under the causal layout (OpenVLA; Jacobi
  decoding reads the same head).

Cross-entropy is taken over the target modality's ids only (LLaDA-VLA's localized classification),
which is also the space every decoder samples from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from policies.backbone import logits_for
from policies.sequence import Part, SequenceSpec, action_block, concat, future_block, prefix


@dataclass
class Batch:
    text: list[list[int]]
    state_ids: torch.Tensor  # [B, state_dim] local
    images: torch.Tensor  # [B, n_cam, 3, S, S]
    action_ids: torch.Tensor  # [B, chunk * action_dim] local
    future_codes: torch.Tensor  # [B, future_tokens] local

    def __len__(self) -> int:
        return int(self.state_ids.shape[0])

    def rows(self, sl: slice) -> Batch:
        return Batch(self.text[sl], self.state_ids[sl], self.images[sl], self.action_ids[sl], self.future_codes[sl])


def _mask(seq: Part, generator: torch.Generator, min_ratio: float) -> torch.Tensor:
    """Boolean ``[B, L]``: generated positions masked with a cosine-sampled ratio, at least one per row."""
    b, l = seq.ids.shape
    gen = seq.generated()[None].expand(b, l)
    t = torch.rand(b, 1, generator=generator)
    ratio = torch.cos(math.pi / 2 * t).clamp(min=min_ratio)
    masked = (torch.rand(b, l, generator=generator) < ratio) & gen
    # Guarantee one masked position per row: pick a random generated position.
    score = torch.rand(b, l, generator=generator).masked_fill(~gen, -1.0)
    masked[torch.arange(b), score.argmax(1)] = True
    return masked


def _restricted_ce(logits: torch.Tensor, targets: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    return F.cross_entropy(logits[:, lo:hi].float(), (targets - lo).clamp(0, hi - lo - 1), reduction="none")


def _masked_loss(model: Any, spec: SequenceSpec, seq: Part, images: torch.Tensor, generator: torch.Generator,
                 omega: float, min_ratio: float) -> tuple[torch.Tensor, dict[str, float]]:
    v = spec.vocab
    masked = _mask(seq, generator, min_ratio)
    inputs = seq.ids.masked_fill(masked, v.special("mask"))
    out = model(inputs, seq.segment, seq.causal, "hybrid", images=images, pad=seq.pad)
    logits = logits_for(out.logits, model.pred_offset)
    total, weight, stats = logits.new_zeros(()), 0.0, {}
    for modality, w in (("action", 1.0), ("image", omega)):
        cols = seq.positions(modality)
        if len(cols) == 0:
            continue
        sel = masked[:, cols]
        if not bool(sel.any()):
            continue
        lg, tg = logits[:, cols][sel], seq.ids[:, cols][sel]
        r = v.range(modality)
        ce = _restricted_ce(lg, tg, r.start, r.stop)
        total = total + w * ce.sum()
        weight += w * ce.numel()
        stats[f"{modality}_acc"] = float((lg[:, r.start:r.stop].argmax(-1) == tg - r.start).float().mean())
    return total / max(weight, 1e-8), stats


def joint(model: Any, spec: SequenceSpec, batch: Batch, generator: torch.Generator, omega: float = 0.5,
          min_ratio: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    b = len(batch)
    seq = concat(prefix(spec, batch.text, batch.state_ids), future_block(spec, b, batch.future_codes),
                 action_block(spec, b, batch.action_ids))
    return _masked_loss(model, spec, seq, batch.images, generator, omega, min_ratio)


def action_masked(model: Any, spec: SequenceSpec, batch: Batch, generator: torch.Generator, omega: float = 0.5,
                  min_ratio: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    seq = concat(prefix(spec, batch.text, batch.state_ids), action_block(spec, len(batch), batch.action_ids))
    return _masked_loss(model, spec, seq, batch.images, generator, omega, min_ratio)


def causal(model: Any, spec: SequenceSpec, batch: Batch, generator: torch.Generator, omega: float = 0.5,
           min_ratio: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    if model.pred_offset != 1:
        raise ValueError("the causal next-token objective needs a backbone with pred_offset 1")
    seq = concat(prefix(spec, batch.text, batch.state_ids), action_block(spec, len(batch), batch.action_ids))
    out = model(seq.ids, seq.segment, seq.causal, "causal", images=batch.images, pad=seq.pad)
    logits = logits_for(out.logits, 1)
    cols = seq.positions("action")
    r = spec.vocab.range("action")
    lg, tg = logits[:, cols].flatten(0, 1), seq.ids[:, cols].flatten()
    ce = _restricted_ce(lg, tg, r.start, r.stop)
    acc = float((lg[:, r.start:r.stop].argmax(-1) == tg - r.start).float().mean())
    return ce.mean(), {"ar_acc": acc}


OBJECTIVES: dict[str, Callable[..., tuple[torch.Tensor, dict[str, float]]]] = {
    "joint": joint,
    "action_masked": action_masked,
    "causal": causal,
}
