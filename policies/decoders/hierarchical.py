"""LLaDA-VLA hierarchical action-structured decoding: one whole action at a time, easiest action first.

Source: "LLaDA-VLA" (arXiv 2509.06932; no public code, algorithm from the paper), with LLaDA's low-confidence commit inside an action.

The action block holds ``chunk`` actions of ``action_dim`` tokens each (time-major); ``action_dim``
comes from ``DecodeRequest.action_dim`` (the policy fills it from its ``SequenceSpec``). Each action
gets ``steps_per_action`` forward passes:

1. at the first of them, every token position gets a prediction (argmax, or a Gumbel sample at
   ``temperature`` while the confidence stays the un-tempered probability, as LLaDA does) and each
   unfinished action a confidence ``C_a`` = sum (``action_score="sum"``, the paper) or mean of its
   tokens' confidences; the best action ``a*`` is chosen (ties: the earliest) and the predictions of
   every other unfinished action are discarded (they stay masked: action-level re-masking);
2. inside ``a*``, each pass commits the most confident still-masked tokens, ``action_dim`` split as
   evenly as possible over the passes (larger counts first); the rest stay masked until the action's
   last pass commits them all, so ``a*`` is finished after ``steps_per_action`` passes;
3. finished actions stay fixed and keep conditioning the later ones.

Defaults: ``steps_per_action=2`` (the paper: 5 actions x 7 tokens in 10 steps), ``action_score="sum"``,
``temperature=0.0``. NFE = ``chunk * steps_per_action`` (+1 prefill with ``use_cache``). With every
unfinished action fully masked, sum and mean rank actions alike; the knob matters only for a region
whose actions differ in length. ``info["order"]`` is the order in which each row decoded its actions.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from policies.decoders._masked import (MaskedConfig, MaskedDecoder, even_split, groups, select_highest,
                                       token_prob)
from policies.decoders.base import DecodeRequest, sample


class HierarchicalConfig(MaskedConfig):
    steps_per_action: int = Field(2, ge=1, description="forward passes spent on each action")
    action_score: Literal["sum", "mean"] = "sum"
    temperature: float = Field(0.0, ge=0.0, description="value sampling temperature; 0 = argmax")


class Hierarchical(MaskedDecoder):
    """LLaDA-VLA action-by-action decoding (see the module docstring)."""

    name: ClassVar[str] = "hierarchical"
    Config = HierarchicalConfig
    region: ClassVar[str] = "action"

    def run(self, req: DecodeRequest) -> tuple[torch.Tensor, dict[str, Any]]:
        cfg: HierarchicalConfig = self.config  # type: ignore[assignment]
        mask_id = req.vocab.special("mask")
        (g,) = [g for g in groups(req) if g.modality == "action"] or [None]
        if g is None:
            raise ValueError("hierarchical decodes the action block but the region has no action positions")
        d = req.action_dim
        if d <= 0:
            raise ValueError("hierarchical decoding needs DecodeRequest.action_dim (tokens per action, "
                             "from SequenceSpec.action_dim); it is 0 (unknown)")
        if g.size % d:
            raise ValueError(f"{g.size} action positions do not split into actions of action_dim={d} tokens")
        chunk = g.size // d
        x = req.region.ids.clone()
        b, dev = x.shape[0], x.device
        rows = torch.arange(b, device=dev)
        finished = torch.zeros(b, chunk, dtype=torch.bool, device=dev)
        split = even_split(d, cfg.steps_per_action)
        order = []
        for _ in range(chunk):
            target = torch.zeros(b, dtype=torch.long, device=dev)
            for s in range(cfg.steps_per_action):
                lg = g.logits(self.region_logits(req, x)).view(b, chunk, d, -1)
                pred = sample(lg, cfg.temperature, req.generator)  # [B, chunk, d]
                conf = token_prob(torch.softmax(lg.double(), -1), pred)
                if s == 0:
                    c = conf.sum(-1) if cfg.action_score == "sum" else conf.mean(-1)
                    target = torch.where(finished, -torch.inf, c).argmax(1)
                    order.append(target)
                slots = g.positions.view(chunk, d)[target]  # [B, d] region indices of a*
                cur = x[rows[:, None], slots]
                masked = cur == mask_id
                k = masked.sum(1) if s == cfg.steps_per_action - 1 else torch.full((b,), split[s], device=dev)
                commit = select_highest(conf[rows, target], k, masked)
                x[rows[:, None], slots] = torch.where(commit, g.ids[pred[rows, target]], cur)
            finished[rows, target] = True
        return x, {"steps": chunk * cfg.steps_per_action, "prefill": int(cfg.use_cache),
                   "order": torch.stack(order, 1)}
