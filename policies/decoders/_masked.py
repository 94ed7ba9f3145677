"""Helpers shared by the masked-token decoders (jd3p, masked_diffusion, hierarchical, one_step).

Not a decoder itself (no ``name``): the layout knob every masked decoder has, the per-modality
decoding space (which global ids a generated position may take), and per-row top-k selection, so
each row of a batch can commit a different set of positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from pydantic import model_validator

from policies.decoders.base import DecodeRequest, Decoder, DecoderConfig
from policies.vocab import Vocab


class MaskedConfig(DecoderConfig):
    """Adds the attention layout: hybrid by default; bidirectional (MM-ACT, released MMaDA-VLA) needs
    ``use_cache=False`` because the prefix KV cache is only exact when the prefix cannot see the region."""

    layout: Literal["causal", "bidirectional", "hybrid"] = "hybrid"

    @model_validator(mode="after")
    def _cache_needs_causal_prefix(self) -> MaskedConfig:
        if self.use_cache and self.layout == "bidirectional":
            raise ValueError("layout='bidirectional' cannot use the prefix KV cache: set use_cache=False "
                             "(the cache is exact only under the causal or hybrid layout)")
        return self


class MaskedDecoder(Decoder):
    """A decoder whose attention layout comes from its config (the class attribute is the default)."""

    Config = MaskedConfig

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layout = self.config.layout  # type: ignore[misc]  # instance override of the class default


@dataclass
class Group:
    """The generated positions of one modality and the global ids they may take."""

    modality: str
    positions: torch.Tensor  # [n] indices into the region
    ids: torch.Tensor  # [K] global ids; local choice j means global id ids[j]

    @property
    def size(self) -> int:
        return int(self.positions.numel())

    def logits(self, logits: torch.Tensor) -> torch.Tensor:
        """``[B, G, V]`` region logits -> ``[B, n, K]`` logits over this group's decoding space."""
        return logits[:, self.positions].index_select(-1, self.ids)


def groups(req: DecodeRequest, extra: dict[str, tuple[str, ...]] | None = None) -> list[Group]:
    """One group per modality present in the region, in region order (image before action)."""
    dev = req.region.ids.device
    out = []
    for modality in dict.fromkeys(m for m in req.region.modality if m):
        ids = space(req.vocab, modality, (extra or {}).get(modality, ()))
        out.append(Group(modality, req.region.positions(modality).to(dev), ids.to(dev)))
    return out


def space(vocab: Vocab, modality: str, specials: tuple[str, ...] = ()) -> torch.Tensor:
    """Global ids of a modality's range, then the named special tokens (e.g. ``eoa``)."""
    r = vocab.range(modality)
    return torch.tensor(list(r) + [vocab.special(s) for s in specials], dtype=torch.long)


def token_prob(probs: torch.Tensor, tok: torch.Tensor) -> torch.Tensor:
    """``probs[..., tok]`` for ``probs [..., K]`` and ``tok [...]``."""
    return probs.gather(-1, tok[..., None])[..., 0]


def select_lowest(scores: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Boolean ``[B, n]``: the ``k[b]`` lowest scores of each row (ties broken by position)."""
    order = scores.argsort(dim=1, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(scores.shape[1], device=scores.device)
                                            .expand_as(order).contiguous())
    return rank < k[:, None]


def select_highest(scores: torch.Tensor, k: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """Boolean ``[B, n]``: the ``k[b]`` highest scores among ``eligible`` positions of each row."""
    s = torch.where(eligible, -scores.double(), torch.inf)
    return select_lowest(s, torch.minimum(k, eligible.sum(1))) & eligible


def even_split(n: int, parts: int) -> list[int]:
    """``n`` items over ``parts`` steps as evenly as possible, larger counts first (LLaDA's split)."""
    base, rem = divmod(n, parts)
    return [base + 1] * rem + [base] * (parts - rem)
