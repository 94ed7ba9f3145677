"""MM-ACT one-step parallel decoding: every action token from a single forward pass.

Source: MM-ACT (arXiv 2512.00975, repo HHYHRHY/MM-ACT, ``models/modeling_mmact.py::action_generate``
run with ``timesteps=1`` as in its LIBERO and RoboTwin deployments).

The whole action block is masked, one forward pass gives logits at every action position, restricted
to the action range, and each position takes its most probable token (``sample=False``, the
deterministic variant) or a sample at ``temperature`` (``sample=True, temperature=1.0`` is what MM-ACT
deploys: its ``temperature=0`` argument only removes MaskGIT's choice noise, values are still drawn at
tau=1). Any other modality in the region (e.g. a future image) is filled the same way from the same pass.

Defaults: ``sample=False``, ``temperature=1.0`` (used only when sampling), ``use_cache=False`` so that
NFE = 1 (with ``use_cache=True`` the prefill is a second forward pass: NFE = 2). The layout is hybrid by
default; MM-ACT attends bidirectionally (``layout="bidirectional"``, which needs ``use_cache=False``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field

from policies.decoders._masked import MaskedConfig, MaskedDecoder, groups
from policies.decoders.base import DecodeRequest, sample


class OneStepConfig(MaskedConfig):
    use_cache: bool = False
    sample: bool = Field(False, description="sample token values (MM-ACT) instead of argmax")
    temperature: float = Field(1.0, ge=0.0, description="sampling temperature when sample=True")


class OneStep(MaskedDecoder):
    """MM-ACT single-pass action decoding (see the module docstring)."""

    name: ClassVar[str] = "one_step"
    Config = OneStepConfig
    region: ClassVar[str] = "action"

    def run(self, req: DecodeRequest) -> tuple[torch.Tensor, dict[str, Any]]:
        cfg: OneStepConfig = self.config  # type: ignore[assignment]
        x = req.region.ids.clone()
        logits = self.region_logits(req, x)
        for g in groups(req):
            local = sample(g.logits(logits), cfg.temperature if cfg.sample else 0.0, req.generator)
            x[:, g.positions] = g.ids[local]
        return x, {"steps": 1, "prefill": int(cfg.use_cache)}
