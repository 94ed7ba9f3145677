"""Jacobi (fixed-point) parallel decoding of an autoregressive head: PD-VLA / CEED-VLA.

The whole action block (or n-token blocks of it) is guessed at once and refined in parallel: one
forward of the guess on top of the committed prefix cache (causal inside), then every position takes
the argmax its predecessor's logits give it. The map's fixed point is exactly the greedy
autoregressive output; after ``k`` iterations at least the first ``k`` tokens are final, so
``max_iter`` = block length always converges. Unlike the public implementations (whose cache grows
with every iteration), the cache is rolled back to the committed prefix after every non-final
iteration and only the accepted block's keys/values are committed.

With an aligned head (``pred_offset`` 0) a slot's own input must be ``mask`` while later slots see
the guess, so each iteration runs the block once per slot in one batched forward (row ``i`` is the
guess with slot ``i`` masked; the prefix cache is repeated) — still one forward pass per iteration.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from policies.backbone import KVCache
from policies.decoders.autoregressive import IncrementalDecoder
from policies.decoders.base import DecodeRequest, DecoderConfig


class JacobiConfig(DecoderConfig):
    init: Literal["mask", "random"] = Field("mask", description="initial guess: mask ids or random action ids")
    max_iter: int | None = Field(None, ge=1, description="iterations per block; default = block length")
    block_size: int | None = Field(None, ge=1, description="tokens per Jacobi block; default = whole chunk")


class Jacobi(IncrementalDecoder):
    """Parallel fixed-point decoding; output equals greedy autoregressive decoding."""

    name = "jacobi"
    Config = JacobiConfig
    layout = "causal"
    region = "action"

    def run(self, req: DecodeRequest) -> tuple[torch.Tensor, dict[str, Any]]:
        r = req.region
        ids = r.ids.clone()
        gen = [j for j, m in enumerate(r.modality) if m]
        if gen != list(range(gen[0], gen[-1] + 1)) or len(set(r.modality[j] for j in gen)) != 1:
            raise ValueError("jacobi decodes one contiguous span of one modality")
        modality = r.modality[gen[0]]
        offset = int(req.model.pred_offset)
        n_total = len(gen)
        size = self.config.block_size or n_total
        b = req.batch

        # prefill: prefix + the markers before the first slot (soa); its last logits predict slot 0
        logits, before, cache = self.region_forward(req, ids, 0, gen[0], None)
        last = logits[:, -1] if logits.shape[1] else before
        info: dict[str, Any] = {"iterations": [], "row_iterations": [], "cache_lengths": [], "converged": []}
        start = gen[0]
        while start <= gen[-1]:
            end = min(start + size, gen[-1] + 1)
            n = end - start
            max_iter = self.config.max_iter or n
            guess = self._init_guess(req, modality, b, n)
            if offset == 1:
                guess[:, 0] = self.pick(last, req, modality, 0.0)
            done = torch.zeros(b, dtype=torch.bool)
            row_iters = torch.zeros(b, dtype=torch.long)
            final_logits = final_cache = None
            it = 0
            for it in range(1, max_iter + 1):
                ids[:, start:end] = guess
                info["cache_lengths"].append(None if cache is None else cache.length)
                if offset == 1:
                    logits, _, new_cache = self.region_forward(req, ids, start, end, cache)
                    new = torch.cat([guess[:, :1], self.pick(logits[:, :-1], req, modality, 0.0)], dim=1)
                else:
                    new = self._aligned_step(req, ids, start, end, cache, modality)
                    logits = new_cache = None
                same = (new == guess).all(dim=1)
                row_iters[~done] = it
                move = ~done & ~same
                guess[move] = new[move]
                done |= same
                if bool(done.all()):
                    final_logits, final_cache = logits, new_cache
                    break
                # not accepted: the keys/values this forward appended are dropped (the next iteration
                # runs on the committed cache again, which is the grown one cropped to its length)
            ids[:, start:end] = guess
            info["iterations"].append(it)
            info["row_iterations"].append(row_iters.tolist())
            info["converged"].append(bool(done.all()))
            if end <= gen[-1]:  # commit this block's keys/values and the logits predicting the next slot
                if final_logits is None:
                    final_logits, _, final_cache = self.region_forward(req, ids, start, end, cache)
                last, cache = final_logits[:, -1], final_cache
            start = end
        return ids, info

    def _init_guess(self, req: DecodeRequest, modality: str, batch: int, n: int) -> torch.Tensor:
        if self.config.init == "mask":
            return torch.full((batch, n), req.vocab.special("mask"), dtype=torch.long)
        rng = req.vocab.range(modality)
        return torch.randint(rng.start, rng.stop, (batch, n), generator=req.generator)

    def _aligned_step(self, req: DecodeRequest, ids: torch.Tensor, start: int, end: int,
                      cache: KVCache | None, modality: str) -> torch.Tensor:
        """pred_offset 0: row ``i`` holds the guess with slot ``i`` masked; slot ``i`` reads its own logits."""
        b, n = ids.shape[0], end - start
        rows = ids.repeat_interleave(n, dim=0)  # [B*n, G], row-major (b, i)
        slots = torch.arange(n)
        rows.view(b, n, -1)[:, slots, start + slots] = req.vocab.special("mask")
        rep_cache = None if cache is None else cache.repeat(n)
        logits, _, _ = self.region_forward(req, rows, start, end, rep_cache, repeat=n)
        diag = logits.view(b, n, n, -1)[:, slots, slots]  # [B, n, V]
        return self.pick(diag, req, modality, 0.0)
