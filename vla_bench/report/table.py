"""The plain-text success table ``vla-bench eval`` prints at the end of a run.

Rows are tasks grouped by suite and perturbation (the grouping of ``vla-bench report``: clean and perturbed
episodes never share a cell), columns are policies; each cell is the success rate with its 95% Wilson
interval and n. ERROR identities are excluded from the rates and counted apart.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from vla_bench.stats.intervals import wilson
from vla_bench.types import EpisodeResult, EpisodeStatus


def _cell(k: int, n: int) -> str:
    if n == 0:
        return "-"
    lo, hi = wilson(k, n)
    return f"{100 * k / n:5.1f} [{100 * lo:4.1f}, {100 * hi:5.1f}] n={n}"


def render_success_table(results: Iterable[EpisodeResult]) -> str:
    from vla_bench.report.model import by_perturbation, title

    results = list(results)
    if not results:
        return "no episodes recorded"
    policies = sorted({r.policy for r in results})
    lines: list[str] = []
    for pert, group in by_perturbation(results).items():
        for suite in sorted({r.spec.suite for r in group}):
            lines += _block([r for r in group if r.spec.suite == suite], title(suite, pert), policies)
    lines.append("success % [95% Wilson interval] n = counted episodes; ERROR episodes are reported apart")
    return "\n".join(lines)


def _block(results: list[EpisodeResult], heading: str, policies: list[str]) -> list[str]:
    """One suite (under one perturbation): a row per task, then all episodes, then ERROR counts."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # succ, counted, errors
    for r in results:
        c = counts[(r.spec.task, r.policy)]
        if r.status is EpisodeStatus.ERROR:
            c[2] += 1
        else:
            c[0] += r.success
            c[1] += 1
    tasks = sorted({r.spec.task for r in results})
    width = max(len(t) for t in [*tasks, heading, "mean over tasks"]) + 2
    header = f"{heading:<{width}}" + "".join(f"{p:>32}" for p in policies)
    lines = [header, "-" * len(header)]
    for task in tasks:
        lines.append(f"{task:<{width}}" + "".join(f"{_cell(*counts[(task, p)][:2]):>32}" for p in policies))
    lines.append("-" * len(header))
    total = [(sum(counts[(t, p)][0] for t in tasks), sum(counts[(t, p)][1] for t in tasks)) for p in policies]
    lines.append(f"{'all episodes':<{width}}" + "".join(f"{_cell(k, n):>32}" for k, n in total))
    errors = [sum(counts[(t, p)][2] for t in tasks) for p in policies]
    if any(errors):
        lines.append(f"{'ERROR (not counted)':<{width}}" + "".join(f"{e:>32}" for e in errors))
    lines.append("")
    return lines
