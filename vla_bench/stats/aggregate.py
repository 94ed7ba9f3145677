"""Aggregates across tasks as rliable defines them, on per-task success rates.

With binary episodes, IQM over raw 0/1 outcomes is degenerate, so the scores here are per-task success
rates (one score per task, or per task and seed block): a matrix of shape (runs, tasks).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def iqm(scores: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% of all scores (25% trimmed from each end)."""
    from scipy.stats import trim_mean

    x = np.asarray(scores, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("no scores")
    return float(trim_mean(x, 0.25))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) averaged over tasks: per task, the Mann-Whitney U of X's runs against Y's, divided by
    n_x * n_y (ties count one half). x, y: (runs, tasks) score matrices with the same task columns."""
    x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
    if x.shape[1] != y.shape[1]:
        raise ValueError("x and y must have the same tasks (columns)")
    per_task = []
    for t in range(x.shape[1]):
        a, b = x[:, t][:, None], y[:, t][None, :]
        per_task.append(float(np.mean((a > b) + 0.5 * (a == b))))
    return float(np.mean(per_task))
