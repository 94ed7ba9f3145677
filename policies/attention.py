"""Attention layouts over a sequence of modality blocks.

A sequence is a run of blocks (text, state, image, future image, action) numbered by a non-decreasing
``segment`` id. ``causal`` marks tokens whose own block is causal inside (text is; image and action
blocks are not). The three layouts:

- ``causal``: every token sees itself and the tokens before it (autoregressive decoding, Jacobi);
- ``bidirectional``: every token sees every non-pad token (MM-ACT, the released MMaDA-VLA code);
- ``hybrid``: causal across blocks, bidirectional inside image and action blocks, causal inside text
  (UD-VLA's blockwise mask, MMaDA-VLA's segment rule). A prefix never sees a later block, so its KV
  cache is exact while the blocks after it are being denoised.
"""

from __future__ import annotations

import torch

LAYOUTS: tuple[str, ...] = ("causal", "bidirectional", "hybrid")


def check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown attention layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    return layout


def allowed(segment: torch.Tensor, causal: torch.Tensor, pad: torch.Tensor, layout: str,
            n_query: int | None = None) -> torch.Tensor:
    """Boolean ``[B, 1, Q, T]`` mask (True = may attend) for the last ``Q`` positions of the sequence.

    ``segment``/``causal``/``pad`` cover the whole sequence (cached prefix plus new tokens), ``[B, T]``.
    Every query also sees itself, so a pad row never becomes all -inf.
    """
    check_layout(layout)
    b, t = segment.shape
    q = t if n_query is None else n_query
    qpos = torch.arange(t - q, t, device=segment.device)
    kpos = torch.arange(t, device=segment.device)
    before = kpos[None, :] <= qpos[:, None]  # [Q, T]
    if layout == "causal":
        ok = before[None].expand(b, q, t)
    elif layout == "bidirectional":
        ok = torch.ones(b, q, t, dtype=torch.bool, device=segment.device)
    else:
        sq, sk = segment[:, -q:, None], segment[:, None, :]
        inside = (sq == sk) & (~causal[:, -q:, None] | before[None])
        ok = (sk < sq) | inside
    ok = ok & ~pad[:, None, :]
    ok = ok | (kpos[None, None, :] == qpos[None, :, None])
    return ok[:, None]
