"""CALVIN-style chain metrics: each episode is a chain of subtasks, stopped at the first failure."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def chain_lengths(chains: Sequence[Sequence[bool]]) -> np.ndarray:
    """Number of consecutive successes from the start of each chain."""
    out = []
    for c in chains:
        n = 0
        for ok in c:
            if not ok:
                break
            n += 1
        out.append(n)
    return np.asarray(out, dtype=int)


def chain_metrics(chains: Sequence[Sequence[bool]], horizon: int = 5, reps: int = 10_000, seed: int = 0,
                  confidence: float = 0.95) -> dict[str, tuple[float, float, float]]:
    """Average length and i/horizon rates (share of chains completing at least i subtasks), each with a
    percentile bootstrap interval over chains: {"avg_len": (point, lo, hi), "1/5": ..., ...}."""
    lengths = chain_lengths(chains)
    if lengths.size == 0:
        raise ValueError("no chains")
    rng = np.random.default_rng(seed)
    boot = lengths[rng.integers(0, len(lengths), size=(reps, len(lengths)))]
    q = (1 - confidence) / 2
    out = {"avg_len": (float(lengths.mean()), *map(float, np.quantile(boot.mean(1), [q, 1 - q])))}
    for i in range(1, horizon + 1):
        out[f"{i}/{horizon}"] = (float(np.mean(lengths >= i)), *map(float, np.quantile((boot >= i).mean(1),
                                                                                          [q, 1 - q])))
    return out


def subtask_rates(chains: Sequence[Sequence[bool]], names: Sequence[Sequence[str]]) -> dict[str, tuple[int, int]]:
    """Per-subtask (successes, attempts), counting a subtask only where the chain reached it.

    Conditional on reaching the subtask, so early-chain subtasks get more attempts.
    """
    counts: dict[str, list[int]] = {}
    for chain, chain_names in zip(chains, names):
        for ok, name in zip(chain, chain_names):
            c = counts.setdefault(name, [0, 0])
            c[0] += bool(ok)
            c[1] += 1
            if not ok:
                break
    return {k: (v[0], v[1]) for k, v in sorted(counts.items())}
