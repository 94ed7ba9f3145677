"""Plots for reports; each takes an ``ax`` (or makes one) and returns it, so they compose into figures."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from vla_bench.report.model import Table
from vla_bench.types import EpisodeResult


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 4))
    return ax


def success_bars(table: Table, ax: Any = None) -> Any:
    """Success per column (task or suite) and policy, with interval whiskers."""
    ax = _axes(ax)
    cols = [c for c in table.columns if any((r, c) in table.cells and table.cells[(r, c)].kind == "rate"
                                            for r in table.rows)]
    width = 0.8 / max(1, len(table.rows))
    x = np.arange(len(cols))
    for i, r in enumerate(table.rows):
        vals = [table.cells[(r, c)] if (r, c) in table.cells else None for c in cols]
        y = np.array([100 * v.value if v else np.nan for v in vals])
        lo = np.array([100 * (v.value - v.lo) if v else 0 for v in vals])
        hi = np.array([100 * (v.hi - v.value) if v else 0 for v in vals])
        ax.bar(x + i * width, y, width, yerr=[lo, hi], capsize=2, label=r)
    ax.set_xticks(x + width * (len(table.rows) - 1) / 2, cols, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("success %")
    ax.set_ylim(0, 105)
    ax.set_title(table.title)
    ax.legend(fontsize=7)
    return ax


def latency_vs_success(results: list[EpisodeResult], ax: Any = None) -> Any:
    """Mean policy time per executed step against success rate, one point per policy."""
    ax = _axes(ax)
    by: dict[str, list[EpisodeResult]] = defaultdict(list)
    for r in results:
        if r.status.counted:
            by[r.policy].append(r)
    for p, rs in sorted(by.items()):
        ms = 1000 * sum(r.timing.get("policy_s", 0.0) for r in rs) / max(1, sum(r.steps for r in rs))
        ax.scatter([ms], [100 * np.mean([r.success for r in rs])], label=f"{p} (n={len(rs)})")
    ax.set_xlabel("policy ms per executed step")
    ax.set_ylabel("success %")
    ax.legend(fontsize=7)
    return ax


def degradation_heatmap(results: list[EpisodeResult], policy: str, ax: Any = None) -> Any:
    """Success drop vs clean (percentage points) per perturbation (rows) and severity (columns)."""
    ax = _axes(ax)
    rates: dict[str, dict[int, list[bool]]] = defaultdict(lambda: defaultdict(list))
    clean: list[bool] = []
    for r in results:
        if r.policy != policy or not r.status.counted:
            continue
        if r.spec.perturbation == "none":
            clean.append(r.success)
        else:
            name, _, sev = r.spec.perturbation.partition("@")
            rates[name][int(sev or 0)].append(r.success)
    names = sorted(rates)
    sevs = sorted({s for d in rates.values() for s in d})
    base = float(np.mean(clean)) if clean else np.nan
    grid = np.array([[100 * (base - np.mean(rates[n][s])) if rates[n][s] else np.nan for s in sevs] for n in names])
    im = ax.imshow(grid if grid.size else np.zeros((1, 1)), cmap="Reds", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(sevs)), [str(s) for s in sevs])
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("severity")
    ax.set_title(f"{policy}: success drop vs clean (pp)")
    ax.figure.colorbar(im, ax=ax)
    return ax


def chain_curve(results: list[EpisodeResult], horizon: int = 5, ax: Any = None) -> Any:
    """CALVIN: share of chains completing at least i subtasks, per policy."""
    from vla_bench.stats.chains import chain_lengths

    ax = _axes(ax)
    by: dict[str, list[tuple[bool, ...]]] = defaultdict(list)
    for r in results:
        if r.status.counted and r.subtasks:
            by[r.policy].append(tuple(s.success for s in r.subtasks))
    for p, chains in sorted(by.items()):
        lengths = chain_lengths(chains)
        ax.plot(range(1, horizon + 1), [100 * np.mean(lengths >= i) for i in range(1, horizon + 1)], "o-",
                label=f"{p} (n={len(chains)})")
    ax.set_xlabel("subtasks completed in a row")
    ax.set_ylabel("% of chains")
    ax.legend(fontsize=7)
    return ax


def robustness_curves(results: list[EpisodeResult], policy: str, ax: Any = None) -> Any:
    """Success vs severity per perturbation (severity 0 = clean), one line each."""
    ax = _axes(ax)
    clean = [r.success for r in results if r.policy == policy and r.status.counted and r.spec.perturbation == "none"]
    by: dict[str, dict[int, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.policy == policy and r.status.counted and r.spec.perturbation != "none":
            name, _, sev = r.spec.perturbation.partition("@")
            by[name][int(sev or 0)].append(r.success)
    for name, levels in sorted(by.items()):
        sevs = sorted(levels)
        xs = ([0] if clean else []) + sevs
        ys = ([100 * np.mean(clean)] if clean else []) + [100 * np.mean(levels[s]) for s in sevs]
        ax.plot(xs, ys, "o-", label=name)
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel("success %")
    ax.set_ylim(-5, 105)
    ax.set_title(f"{policy}: robustness")
    ax.legend(fontsize=6)
    return ax
