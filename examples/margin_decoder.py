"""A decoder plugin: LLaDA-style low-confidence remasking, ranked by margin (top-1 minus top-2 probability).

Every step predicts all still-masked action tokens and keeps the ones the model is surest about, where
"surest" is the gap between its two best guesses rather than the best guess's probability; the rest stay
masked for the next step. Lives outside the package: see README "Registering a new decoder".
"""

import math

import torch
from pydantic import Field

from policies.decoders.base import DecodeRequest, Decoder, DecoderConfig, sample
from vla_bench.registries import decoders


class MarginConfig(DecoderConfig):
    steps: int = Field(4, ge=1, description="forward passes (plus one prefill with use_cache)")
    temperature: float = Field(0.0, ge=0.0, description="value sampling; 0 = argmax")


class MarginDecoder(Decoder):
    name = "margin"
    Config = MarginConfig
    region = "action"  # fills the action block only

    def run(self, req: DecodeRequest) -> tuple[torch.Tensor, dict]:
        cfg, v = self.config, req.vocab
        x = req.region.ids.clone()
        pos = req.region.positions("action").to(x.device)
        n, mask = pos.numel(), v.special("mask")
        for k in range(1, cfg.steps + 1):
            unknown = x[:, pos] == mask
            n_commit = math.ceil(n * k / cfg.steps) - (n - int(unknown[0].sum()))  # same in every row
            if n_commit <= 0:  # more steps than tokens: skip the idle step, no forward pass
                continue
            logits = self.restrict(self.region_logits(req, x)[:, pos], v, "action")  # [B, n, K]
            top2 = logits.softmax(-1).topk(2, dim=-1).values
            margin = top2[..., 0] - top2[..., 1]
            values = v.to_global("action", sample(logits, cfg.temperature, req.generator))
            pick = margin.masked_fill(~unknown, -math.inf).topk(n_commit, dim=-1).indices
            block = x[:, pos]
            block.scatter_(1, pick, values.gather(1, pick))
            x[:, pos] = block
        return x, {"steps": cfg.steps}


if "margin" not in decoders:  # importing registers it; an entry point named "margin" registers it instead
    decoders.add("margin", MarginDecoder, origin=__name__)
