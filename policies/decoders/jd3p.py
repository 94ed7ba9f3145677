"""Joint discrete denoising of the future image and the action chunk (JD3P).

Sources: UD-VLA, "Unified Diffusion VLA" (arXiv 2511.01718, repo xiao10ma/Unified-Diffusion-VLA,
``EmuVLAModel_i_ia_dis.denoise``) and MMaDA-VLA (arXiv 2603.25406, repo yliu-cs/MMaDA-VLA,
``MMaDAVLAModelLM.generate``); both are MaskGIT's parallel decoding (google-research/maskgit) run over
one region holding the predicted next camera image and the action tokens.

Per step ``k = 1..steps`` (one forward pass each):

1. logits for every region position, restricted per modality (future-image positions to image codes,
   action positions to action tokens, plus ``eoa`` when ``allow_eoa``);
2. a value is drawn at every still-masked position (Gumbel-max at ``sample_temperature``; 1 is MaskGIT's
   categorical sample, 0 is argmax); its confidence is its probability under the un-tempered softmax;
   committed positions keep their value and are never masked again;
3. ``mask_len = clip(floor(N * schedule(k / steps)), 1, #unknown - 1)`` positions are masked again,
   the least confident by ``log p + tau_k * Gumbel``; ``N`` counts each modality on its own
   (``per_modality``, MMaDA-VLA) or the whole region (UD-VLA), and ``tau_k = choice_temperature *
   (1 - k / steps)`` (MaskGIT) or, with ``compounding``, the running product the ports compute;
4. with ``action_delay = rho``, action positions stay masked while ``k / steps < rho`` (UD-VLA's
   ``action_decay_rate``), so the image takes shape first.

The last step's values fill every position (no mask is left). Markers (``soi``/``eoi``/``soa``/``eoa``)
come pre-filled from the region template and are never touched.

End of action (variable-length action blocks such as FAST; only possible with ``allow_eoa``): once an
action position holds ``eoa`` (committed, or in the final output), every action position after the
first such ``eoa`` is set to ``eoa`` as well and counts as committed. ``info["action_lengths"]`` is the
number of action tokens before the first ``eoa`` (the full block when there is none).

Defaults: ``steps=12`` for this project's small backbone (UD-VLA's scripts use 72 steps over 817
positions; MMaDA-VLA's server uses 24), cosine schedule, ``choice_temperature=1.0`` (both ports),
``sample_temperature=1.0``, per-modality counts, MaskGIT's non-compounding annealing (the ports
compound: ``compounding=True``), no action delay, hybrid attention with the prefix KV cache.
NFE = ``steps`` (+1 prefill with ``use_cache``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from policies.decoders._masked import MaskedConfig, MaskedDecoder, groups, select_lowest, token_prob
from policies.decoders.base import SCHEDULES, DecodeRequest, gumbel, sample


class JD3PConfig(MaskedConfig):
    steps: int = Field(12, ge=1, description="denoising steps = forward passes (without the prefill)")
    schedule: Literal["cosine", "linear", "square"] = "cosine"
    sample_temperature: float = Field(1.0, ge=0.0, description="value sampling; 0 = argmax")
    choice_temperature: float = Field(1.0, ge=0.0, description="Gumbel noise choosing what stays masked")
    compounding: bool = Field(False, description="anneal the choice noise as the MMaDA/UD-VLA ports do")
    per_modality: bool = Field(True, description="mask count per modality (MMaDA-VLA), else per region")
    action_delay: float = Field(0.0, ge=0.0, lt=1.0, description="actions masked while step/steps < this")
    allow_eoa: bool = Field(False, description="action positions may take eoa (variable-length blocks)")


class JD3P(MaskedDecoder):
    """UD-VLA / MMaDA-VLA joint future-image + action denoising (see the module docstring)."""

    name: ClassVar[str] = "jd3p"
    Config = JD3PConfig
    region: ClassVar[str] = "image+action"

    def run(self, req: DecodeRequest) -> tuple[torch.Tensor, dict[str, Any]]:
        cfg: JD3PConfig = self.config  # type: ignore[assignment]
        v, gen = req.vocab, req.generator
        mask_id, eoa = v.special("mask"), v.special("eoa")
        x = req.region.ids.clone()
        dev = x.device
        grp = groups(req, {"action": ("eoa",)} if cfg.allow_eoa else None)
        none = torch.zeros(0, dtype=torch.long, device=dev)
        act = next((g.positions for g in grp if g.modality == "action"), none)
        gen_pos = torch.cat([g.positions for g in grp])
        schedule = SCHEDULES[cfg.schedule]
        tau = cfg.choice_temperature
        sampled = x
        for k in range(1, cfg.steps + 1):
            logits = self.region_logits(req, x)
            sampled = x.clone()
            logp = torch.full(x.shape, torch.inf, dtype=torch.float64, device=dev)
            for g in grp:
                lg = g.logits(logits)
                local = sample(lg, cfg.sample_temperature, gen)
                lp = token_prob(torch.log_softmax(lg.double(), -1), local)
                cur = x[:, g.positions]
                unknown = cur == mask_id
                sampled[:, g.positions] = torch.where(unknown, g.ids[local], cur)
                logp[:, g.positions] = torch.where(unknown, lp, torch.inf)
            if k == cfg.steps:
                break
            ratio = k / cfg.steps
            tau = tau * (1.0 - ratio) if cfg.compounding else cfg.choice_temperature * (1.0 - ratio)
            choice = logp + tau * gumbel(logp.shape, gen, dev)
            r = schedule(k, cfg.steps)
            delay = ratio < cfg.action_delay and act.numel() > 0
            remask = torch.zeros_like(x, dtype=torch.bool)
            spans = [g.positions for g in grp] if cfg.per_modality else [gen_pos]
            for pos in spans:
                unknown = x[:, pos] == mask_id
                n_unknown = unknown.sum(1)
                c = choice[:, pos]
                if delay:  # unknown actions are the first to stay masked (and all of them do, below)
                    c = torch.where(unknown & torch.isin(pos, act)[None], -torch.inf, c)
                want = torch.full_like(n_unknown, max(1, math.floor(len(pos) * r)))
                mask_len = torch.clamp(torch.minimum(want, n_unknown - 1), min=0)
                remask[:, pos] = select_lowest(c, mask_len) & unknown
            if delay:
                remask[:, act] |= x[:, act] == mask_id  # every unknown action position stays masked
            x = torch.where(remask, torch.full_like(x, mask_id), sampled)
            x = _fill_after_eoa(x, act, eoa)
        out = _fill_after_eoa(sampled, act, eoa)
        info: dict[str, Any] = {
            "steps": cfg.steps,
            "prefill": int(cfg.use_cache),
            "generated_tokens": int(gen_pos.numel()),
            "action_lengths": _action_lengths(out, act, eoa),
        }
        img = next((g.positions for g in grp if g.modality == "image"), None)
        if img is not None:
            info["future_image"] = v.to_local("image", out[:, img])
        return out, info


def _fill_after_eoa(x: torch.Tensor, act: torch.Tensor, eoa: int) -> torch.Tensor:
    """Every action position after the first ``eoa`` among the action positions becomes ``eoa``."""
    if act.numel() == 0:
        return x
    tail = (x[:, act] == eoa).long().cumsum(1) > 0
    if not bool(tail.any()):
        return x
    x = x.clone()
    x[:, act] = torch.where(tail, torch.full_like(x[:, act], eoa), x[:, act])
    return x


def _action_lengths(x: torch.Tensor, act: torch.Tensor, eoa: int) -> torch.Tensor:
    """Action tokens before the first ``eoa`` per row (the whole block when there is none)."""
    return ((x[:, act] == eoa).long().cumsum(1) == 0).sum(1)
