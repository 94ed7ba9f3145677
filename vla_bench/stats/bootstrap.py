"""Bootstrap intervals that respect the design: resample episodes within each task (stratified)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def stratified_bootstrap_mean(
    outcomes: Mapping[str, Sequence[float]], reps: int = 10_000, confidence: float = 0.95, seed: int = 0,
) -> tuple[float, float, float]:
    """Suite mean (the mean of per-task success rates) with a percentile interval.

    Episodes are resampled with replacement within each task, so every replicate keeps each task's
    n; the task set is fixed (the suite is not a sample of tasks). Reproducible for a given seed.
    """
    tasks = [np.asarray(v, dtype=float) for _, v in sorted(outcomes.items()) if len(v)]
    if not tasks:
        raise ValueError("no outcomes")
    rng = np.random.default_rng(seed)
    point = float(np.mean([t.mean() for t in tasks]))
    reps_means = np.zeros(reps)
    for t in tasks:
        idx = rng.integers(0, len(t), size=(reps, len(t)))
        reps_means += t[idx].mean(axis=1)
    reps_means /= len(tasks)
    a = (1 - confidence) / 2
    lo, hi = np.quantile(reps_means, [a, 1 - a])
    return point, float(lo), float(hi)


def paired_bootstrap_diff(
    a: Mapping[str, Sequence[float]], b: Mapping[str, Sequence[float]], reps: int = 10_000,
    confidence: float = 0.95, seed: int = 0,
) -> tuple[float, float, float]:
    """Mean over tasks of (rate_a - rate_b) on paired episodes, resampling pairs within each task.

    ``a[task][i]`` and ``b[task][i]`` must be outcomes of the same episode identity.
    """
    rng = np.random.default_rng(seed)
    diffs = []
    for task in sorted(a):
        x, y = np.asarray(a[task], float), np.asarray(b[task], float)
        if len(x) != len(y):
            raise ValueError(f"task {task}: {len(x)} vs {len(y)} outcomes; pairs must align")
        if len(x):
            diffs.append(x - y)
    if not diffs:
        raise ValueError("no paired outcomes")
    point = float(np.mean([d.mean() for d in diffs]))
    reps_means = np.zeros(reps)
    for d in diffs:
        reps_means += d[rng.integers(0, len(d), size=(reps, len(d)))].mean(axis=1)
    reps_means /= len(diffs)
    q = (1 - confidence) / 2
    lo, hi = np.quantile(reps_means, [q, 1 - q])
    return point, float(lo), float(hi)
