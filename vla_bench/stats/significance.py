"""Hypothesis tests for success rates: paired exact McNemar, unpaired Barnard, Holm correction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class PairedCounts:
    """2x2 table of paired outcomes: both succeed, only A, only B, neither."""

    both: int
    only_a: int
    only_b: int
    neither: int

    @property
    def n(self) -> int:
        return self.both + self.only_a + self.only_b + self.neither

    @classmethod
    def from_outcomes(cls, a: Sequence[bool], b: Sequence[bool]) -> PairedCounts:
        x, y = np.asarray(a, bool), np.asarray(b, bool)
        if x.shape != y.shape:
            raise ValueError("paired outcome vectors must have the same length")
        return cls(int(np.sum(x & y)), int(np.sum(x & ~y)), int(np.sum(~x & y)), int(np.sum(~x & ~y)))


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs against 1/2.

    Concordant pairs carry no information about which policy is better; with m discordant pairs,
    p = min(1, 2 * P[Bin(m, 1/2) <= min(only_a, only_b)]).
    """
    m = only_a + only_b
    if m == 0:
        return 1.0
    from scipy.stats import binom

    return float(min(1.0, 2 * binom.cdf(min(only_a, only_b), m, 0.5)))


def barnard(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Barnard exact test for two independent binomial samples (unpaired runs)."""
    from scipy.stats import barnard_exact

    if n1 == 0 or n2 == 0:
        return 1.0
    if (k1 in (0, n1) and k2 == k1 and n1 == n2) or (k1 + k2 in (0, n1 + n2)):
        return 1.0  # identical degenerate tables: no evidence either way
    return float(barnard_exact([[k1, k2], [n1 - k1, n2 - k2]], alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error control, uniformly better than Bonferroni)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()
