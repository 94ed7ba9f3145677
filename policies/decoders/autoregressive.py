"""OpenVLA-style autoregressive decoding: one token per forward pass, causal attention, prefix KV cache.

The region template (``soa``, masked action slots, ``eoa``) is filled left to right. The first forward
runs the prefix together with the fixed markers before the first action slot (``soa``) and yields the
first token; every later forward feeds only the tokens committed since the previous one. With a
shifted head (``pred_offset`` 1) the last committed token's logits predict the next slot; with an
aligned head (``pred_offset`` 0) the slot itself is fed as ``mask`` and its logits are read, and its
key/value is cropped from the cache, so the cache only ever holds committed tokens. Without the cache
every forward re-runs the prefix and everything committed so far (same tokens, same NFE, more work).

NFE = one forward per generated token (the prefill produces the first one).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from policies.backbone import KVCache
from policies.decoders.base import DecodeRequest, Decoder, DecoderConfig, sample
from policies.sequence import Part, concat


def span(part: Part, ids: torch.Tensor, a: int, b: int) -> Part:
    """Positions ``[a, b)`` of ``part`` holding ``ids[:, a:b]`` (block structure from the template)."""
    return Part(ids[:, a:b], part.segment[:, a:b], part.causal[:, a:b], part.pad[:, a:b], part.modality[a:b])


def _repeat(part: Part, times: int) -> Part:
    rep = lambda t: t.repeat_interleave(times, dim=0)  # noqa: E731
    return Part(rep(part.ids), rep(part.segment), rep(part.causal), rep(part.pad), part.modality)


class IncrementalDecoder(Decoder):
    """Shared plumbing for decoders that grow a committed region span left to right (AR, Jacobi)."""

    layout = "causal"

    def region_forward(self, req: DecodeRequest, ids: torch.Tensor, a: int, b: int,
                       cache: KVCache | None, repeat: int = 1,
                       ) -> tuple[torch.Tensor, torch.Tensor | None, KVCache | None]:
        """Run region positions ``[a, b)`` (ids ``[B * repeat, G]``); counts one forward pass.

        With ``use_cache``: feeds only ``[a, b)`` on top of ``cache`` (which must hold the prefix and
        region ``[0, a)``), or, when ``cache`` is None, prefills the prefix plus region ``[0, b)`` (then
        ``a`` must be 0). Without it: re-runs prefix plus region ``[0, b)``. Returns the raw logits of
        positions ``[a, b)``, the logits ``[B, V]`` of the position just before ``a`` when this forward
        computed them (None on a cached step: the caller kept them from the previous forward), and the
        new cache (prefix + region ``[0, b)``) or None.
        """
        region = req.region if repeat == 1 else _repeat(req.region, repeat)
        if self.config.use_cache and cache is not None:
            if cache.length != req.prefix.length + a:
                raise AssertionError(f"cache holds {cache.length} positions, expected {req.prefix.length + a}")
            p = span(region, ids, a, b)
            out = req.model(p.ids, p.segment, p.causal, self.layout, cache=cache, pad=p.pad, use_cache=True)
            self.nfe += 1
            return out.logits, None, out.cache
        prefix = req.prefix if repeat == 1 else _repeat(req.prefix, repeat)
        images = req.images
        if images is not None and repeat > 1:
            images = images.repeat_interleave(repeat, dim=0)
        full = concat(prefix, span(region, ids, 0, b))
        use = self.config.use_cache
        if use and a != 0:
            raise AssertionError("a prefill must start at region position 0")
        out = req.model(full.ids, full.segment, full.causal, self.layout, images=images, pad=full.pad,
                        use_cache=use)
        self.nfe += 1
        start = prefix.length + a
        return out.logits[:, start:], out.logits[:, start - 1], out.cache

    def pick(self, logits: torch.Tensor, req: DecodeRequest, modality: str, temperature: float) -> torch.Tensor:
        """Global ids from logits ``[..., V]`` restricted to ``modality``'s range."""
        local = sample(self.restrict(logits.float(), req.vocab, modality), temperature, req.generator)
        return req.vocab.to_global(modality, local)


class AutoregressiveConfig(DecoderConfig):
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy; > 0 samples (Gumbel-max)")


class Autoregressive(IncrementalDecoder):
    """Greedy (or sampled) left-to-right decoding of the action block with a prefix KV cache."""

    name = "autoregressive"
    Config = AutoregressiveConfig
    layout = "causal"
    region = "action"

    def run(self, req: DecodeRequest) -> tuple[torch.Tensor, dict[str, Any]]:
        r = req.region
        ids = r.ids.clone()
        gen = [j for j, m in enumerate(r.modality) if m]
        offset = int(req.model.pred_offset)
        cache: KVCache | None = None
        done = 0  # region positions [0, done) are in the cache
        for j in gen:
            # offset 1: feed the committed tokens up to j-1, the last logits predict j;
            # offset 0: also feed slot j (still ``mask``) and read its logits, then drop its key/value.
            b = j if offset == 1 else j + 1
            logits, before, cache = self.region_forward(req, ids, done, b, cache)
            if cache is not None and offset == 0:
                cache = cache.crop(cache.length - 1)
            done = j
            last = logits[:, -1] if logits.shape[1] else before
            ids[:, j] = self.pick(last, req, r.modality[j], self.config.temperature)
        return ids, {"tokens_per_forward": len(gen) / max(self.nfe, 1)}
