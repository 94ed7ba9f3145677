"""Token sequences for the shared backbone: a prefix of observed blocks and generated blocks after it.

Layout, one block per segment id (non-decreasing along the sequence)::

    [bot text.. eot] [sost state.. eost] [soi img.. eoi] | [soi future-image.. eoi] [soa action.. eoa]
     segment 0        segment 1           segment 2        segment 3                 segment 4
     causal inside    bidirectional       bidirectional    bidirectional             bidirectional

Text is left-padded to a fixed length inside its block, so every sample of a batch has the same
layout and the same positions. Generated blocks keep their markers pre-filled and hold ``mask`` at the
positions a decoder fills in. Training and every decoder build their sequences here, so the layout seen
at training time is exactly the one seen at decode time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from policies.vocab import Vocab

SEG_TEXT, SEG_STATE, SEG_IMAGE, SEG_FUTURE, SEG_ACTION = range(5)


@dataclass(frozen=True)
class SequenceSpec:
    """Sizes that fix the layout: text length, state dims, image placeholders, future codes, action chunk."""

    vocab: Vocab
    text_len: int
    state_dim: int
    image_tokens: int
    future_tokens: int
    chunk: int
    action_dim: int

    @property
    def action_tokens(self) -> int:
        return self.chunk * self.action_dim

    @property
    def prefix_len(self) -> int:
        return self.text_len + 2 + self.state_dim + 2 + self.image_tokens + 2


@dataclass
class Part:
    """A span of a sequence: ids and its block structure, all ``[B, L]``.

    ``modality`` names what a generated position holds ("image", "action") or "" for fixed tokens.
    """

    ids: torch.Tensor
    segment: torch.Tensor
    causal: torch.Tensor
    pad: torch.Tensor
    modality: tuple[str, ...] = ()

    @property
    def length(self) -> int:
        return int(self.ids.shape[1])

    def with_ids(self, ids: torch.Tensor) -> Part:
        return Part(ids, self.segment, self.causal, self.pad, self.modality)

    def positions(self, modality: str) -> torch.Tensor:
        """Indices of the positions that hold ``modality`` tokens."""
        return torch.tensor([i for i, m in enumerate(self.modality) if m == modality], dtype=torch.long)

    def generated(self) -> torch.Tensor:
        """Boolean ``[L]``: positions a decoder generates (not markers)."""
        return torch.tensor([m != "" for m in self.modality], dtype=torch.bool)


def concat(*parts: Part) -> Part:
    return Part(torch.cat([p.ids for p in parts], 1), torch.cat([p.segment for p in parts], 1),
                torch.cat([p.causal for p in parts], 1), torch.cat([p.pad for p in parts], 1),
                sum((p.modality for p in parts), ()))


def _block(vocab: Vocab, open_: str, body: torch.Tensor, close: str, segment: int, causal: bool,
           body_pad: torch.Tensor | None = None, modality: str = "") -> Part:
    b, n = body.shape
    dev = body.device
    ids = torch.cat([torch.full((b, 1), vocab.special(open_), device=dev), body,
                     torch.full((b, 1), vocab.special(close), device=dev)], 1).long()
    pad = torch.zeros_like(ids, dtype=torch.bool)
    if body_pad is not None:
        pad[:, 1:-1] = body_pad
    return Part(ids, torch.full_like(ids, segment), torch.full_like(ids, causal, dtype=torch.bool), pad,
                ("",) + (modality,) * n + ("",))


def text_block(spec: SequenceSpec, text_ids: list[list[int]], device: torch.device | str = "cpu") -> Part:
    """Local text ids, truncated to ``text_len`` and left-padded."""
    v = spec.vocab
    body = torch.full((len(text_ids), spec.text_len), v.special("pad"), dtype=torch.long)
    pad = torch.ones(len(text_ids), spec.text_len, dtype=torch.bool)
    for i, t in enumerate(text_ids):
        t = list(t)[: spec.text_len]
        if t:
            body[i, spec.text_len - len(t):] = v.to_global("text", torch.tensor(t, dtype=torch.long))
            pad[i, spec.text_len - len(t):] = False
    return _block(v, "bot", body.to(device), "eot", SEG_TEXT, True, pad.to(device))


def prefix(spec: SequenceSpec, text_ids: list[list[int]], state_ids: torch.Tensor) -> Part:
    """Instruction, proprioception (local state-bin ids ``[B, state_dim]``) and image placeholders."""
    v, dev = spec.vocab, state_ids.device
    b = state_ids.shape[0]
    state = _block(v, "sost", v.to_global("state", state_ids.long()), "eost", SEG_STATE, False)
    img = _block(v, "soi", torch.full((b, spec.image_tokens), v.special("img"), device=dev), "eoi",
                 SEG_IMAGE, False)
    return concat(text_block(spec, text_ids, dev), state, img)


def _generated(spec: SequenceSpec, modality: str, n: int, markers: tuple[str, str], segment: int, batch: int,
               local: torch.Tensor | None, device: torch.device | str) -> Part:
    """A block a decoder generates: the given local ids, or all ``mask`` when None."""
    v = spec.vocab
    body = (torch.full((batch, n), v.special("mask"), device=device) if local is None
            else v.to_global(modality, local.long()))
    return _block(v, markers[0], body, markers[1], segment, False, modality=modality)


def future_block(spec: SequenceSpec, batch: int, codes: torch.Tensor | None = None,
                 device: torch.device | str = "cpu") -> Part:
    """The future-image block: local codes ``[B, future_tokens]``, or all ``mask`` when None."""
    return _generated(spec, "image", spec.future_tokens, ("soi", "eoi"), SEG_FUTURE, batch, codes, device)


def action_block(spec: SequenceSpec, batch: int, tokens: torch.Tensor | None = None,
                 device: torch.device | str = "cpu") -> Part:
    """The action block: local action ids ``[B, chunk * action_dim]`` (time-major), or all ``mask``."""
    return _generated(spec, "action", spec.action_tokens, ("soa", "eoa"), SEG_ACTION, batch, tokens, device)


REGIONS = ("action", "image+action")


def region(spec: SequenceSpec, kind: str, batch: int, device: torch.device | str = "cpu") -> Part:
    """The masked template a decoder fills in: the action block, or the future image then the action block."""
    if kind == "action":
        return action_block(spec, batch, device=device)
    if kind == "image+action":
        return concat(future_block(spec, batch, device=device), action_block(spec, batch, device=device))
    raise ValueError(f"unknown region {kind!r}; choose one of {', '.join(REGIONS)}")
