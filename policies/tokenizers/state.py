"""Proprioception as bin ids (pi0-FAST puts a 256-bin state in its prompt; MM-ACT reuses its action bins).

Same q01/q99 normalisation and uniform bins as actions, without gripper snapping: a state is a
measurement, and a half-closed gripper is a real state.
"""

from __future__ import annotations

from pathlib import Path

from policies.tokenizers._io import norm_from_dict, read_meta
from policies.tokenizers.bins import _NormalizedBins
from vla_bench.types import NormStats


class StateTokenizer(_NormalizedBins):
    """(..., D) float32 state <-> (..., D) ids in ``[0, n_bins)``."""

    type_name = "state_bins"

    def __init__(self, norm: NormStats, n_bins: int = 256) -> None:
        super().__init__(norm, n_bins)

    @classmethod
    def load(cls, directory: Path) -> StateTokenizer:
        m = read_meta(directory, cls.type_name)
        return cls(norm_from_dict(m["norm"]), n_bins=m["n_bins"])
