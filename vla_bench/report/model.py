"""Tables computed from merged episode results, laid out as each benchmark's papers lay them out.

A suite's layout is the ``report_layout`` its run recorded in run.json (a registered report layout):
``libero`` puts the LIBERO suites side by side (Spatial, Object, Goal, Long, Avg), ``calvin_chain``
reports chain rates and the average length, ``per_task`` gives one column per task plus the suite mean. A column's best cell is
marked only when it is significantly better than every other row after Holm correction over all
comparisons in the table: exact McNemar where the two rows ran the same episode identities, Barnard's
test otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from vla_bench.stats.bootstrap import stratified_bootstrap_mean
from vla_bench.stats.intervals import interval
from vla_bench.stats.significance import PairedCounts, barnard, holm, mcnemar_exact
from vla_bench.types import EpisodeResult, EpisodeStatus

ALPHA = 0.05
BOOTSTRAP_SEED = 0
BOOTSTRAP_REPS = 5000


@dataclass
class Cell:
    value: float  # a rate in [0, 1], or an average chain length
    lo: float
    hi: float
    n: int
    successes: int | None = None
    best: bool = False
    outcomes: dict[str, bool] = field(default_factory=dict, repr=False)  # identity key -> success
    kind: str = "rate"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[str]
    cells: dict[tuple[str, str], Cell]
    notes: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


def _rate_cell(outcomes: dict[str, bool], method: str) -> Cell:
    k, n = sum(outcomes.values()), len(outcomes)
    lo, hi = interval(k, n, method)
    return Cell(k / n if n else 0.0, lo, hi, n, k, outcomes=outcomes)


def _mean_cell(per_task: dict[str, dict[str, bool]]) -> Cell:
    data = {t: [float(v) for _, v in sorted(o.items())] for t, o in per_task.items() if o}
    point, lo, hi = stratified_bootstrap_mean(data, reps=BOOTSTRAP_REPS, seed=BOOTSTRAP_SEED)
    outcomes = {k: v for o in per_task.values() for k, v in o.items()}
    return Cell(point, lo, hi, len(outcomes), sum(outcomes.values()), outcomes=outcomes)


def _p_value(a: Cell, b: Cell) -> float:
    if a.outcomes and set(a.outcomes) == set(b.outcomes):
        keys = sorted(a.outcomes)
        c = PairedCounts.from_outcomes([a.outcomes[k] for k in keys], [b.outcomes[k] for k in keys])
        return mcnemar_exact(c.only_a, c.only_b)
    return barnard(a.successes or 0, a.n, b.successes or 0, b.n)


def mark_best(table: Table) -> None:
    """Mark each column's top row where it beats every other row significantly after Holm."""
    tests: list[tuple[tuple[str, str], float]] = []
    for col in table.columns:
        cells = [(r, table.cells[(r, col)]) for r in table.rows if (r, col) in table.cells]
        if len(cells) < 2 or any(c.kind != "rate" for _, c in cells):
            continue
        best_row, best = max(cells, key=lambda rc: rc[1].value)
        if sum(c.value == best.value for _, c in cells) > 1:
            continue
        for r, c in cells:
            if r != best_row:
                tests.append(((best_row, col), _p_value(best, c)))
    if not tests:
        return
    adjusted = holm([p for _, p in tests])
    verdict: dict[tuple[str, str], bool] = {}
    for (key, _), p in zip(tests, adjusted):
        verdict[key] = verdict.get(key, True) and p < ALPHA
    for key, ok in verdict.items():
        table.cells[key].best = ok
    table.notes.append(f"best marked only if better than every other row, Holm-adjusted p < {ALPHA} "
                       f"({len(tests)} comparisons)")


def _outcomes(results: Iterable[EpisodeResult]) -> dict[tuple[str, str, str], dict[str, bool]]:
    """(policy, suite, task) -> {identity key: success}, counted results only."""
    out: dict[tuple[str, str, str], dict[str, bool]] = defaultdict(dict)
    for r in results:
        if r.status.counted:
            out[(r.policy, r.spec.suite, r.spec.task)][r.spec.key] = r.success
    return out


def _errors(results: list[EpisodeResult]) -> dict[str, int]:
    err: dict[str, int] = defaultdict(int)
    for r in results:
        if r.status is EpisodeStatus.ERROR:
            err[r.policy] += 1
    return dict(sorted(err.items()))


def per_task_table(suite: str, results: list[EpisodeResult], method: str) -> Table:
    oc = _outcomes(results)
    policies = sorted({r.policy for r in results})
    tasks = sorted({r.spec.task for r in results})
    cells: dict[tuple[str, str], Cell] = {}
    for p in policies:
        per_task = {t: oc.get((p, suite, t), {}) for t in tasks}
        for t, o in per_task.items():
            if o:
                cells[(p, t)] = _rate_cell(o, method)
        if any(per_task.values()):
            cells[(p, "Mean")] = _mean_cell(per_task)
    t = Table(suite, [*tasks, "Mean"], policies, cells, errors=_errors(results))
    t.notes.append(f"cells: success % [95% {method} interval] (n); Mean: mean over tasks, stratified bootstrap")
    return t


LIBERO_COLUMNS = {"libero_spatial": "Spatial", "libero_object": "Object", "libero_goal": "Goal",
                  "libero_10": "Long", "libero_90": "LIBERO-90"}


def libero_table(results: list[EpisodeResult], method: str) -> Table:
    oc = _outcomes(results)
    policies = sorted({r.policy for r in results})
    suites = [s for s in LIBERO_COLUMNS if any(r.spec.suite == s for r in results)]
    cells: dict[tuple[str, str], Cell] = {}
    for p in policies:
        all_tasks: dict[str, dict[str, bool]] = {}
        for s in suites:
            merged = {k: v for (pp, ss, _), o in oc.items() if pp == p and ss == s for k, v in o.items()}
            if merged:
                cells[(p, LIBERO_COLUMNS[s])] = _rate_cell(merged, method)
            all_tasks.update({f"{s}/{t}": o for (pp, ss, t), o in oc.items() if pp == p and ss == s})
        if all_tasks:
            cells[(p, "Avg")] = _mean_cell(all_tasks)
    t = Table("LIBERO", [LIBERO_COLUMNS[s] for s in suites] + ["Avg"], policies, cells, errors=_errors(results))
    t.notes.append(f"cells: success % [95% {method} interval] (n); Avg: mean over tasks, stratified bootstrap")
    return t


def calvin_table(results: list[EpisodeResult], method: str) -> Table:
    from vla_bench.stats.chains import chain_metrics

    policies = sorted({r.policy for r in results})
    cells: dict[tuple[str, str], Cell] = {}
    for p in policies:
        chains = [[s.success for s in r.subtasks] for r in results if r.policy == p and r.status.counted]
        if not chains:
            continue
        m = chain_metrics(chains, reps=BOOTSTRAP_REPS, seed=BOOTSTRAP_SEED)
        for i in range(1, 6):
            v, lo, hi = m[f"{i}/5"]
            cells[(p, str(i))] = Cell(v, lo, hi, len(chains), kind="chain")
        v, lo, hi = m["avg_len"]
        cells[(p, "Avg. Len.")] = Cell(v, lo, hi, len(chains), kind="length")
    t = Table("CALVIN", ["1", "2", "3", "4", "5", "Avg. Len."], policies, cells, errors=_errors(results))
    t.notes.append("i: share of chains completing at least i subtasks; intervals: bootstrap over chains")
    return t


def per_task_tables(results: list[EpisodeResult], method: str) -> list[Table]:
    """Layout ``per_task``: one table per suite, a column per task plus the mean over tasks."""
    by_suite: dict[str, list[EpisodeResult]] = defaultdict(list)
    for r in results:
        by_suite[r.spec.suite].append(r)
    return [per_task_table(s, rs, method) for s, rs in sorted(by_suite.items())]


def libero_tables(results: list[EpisodeResult], method: str) -> list[Table]:
    """Layout ``libero``: the LIBERO suites side by side, as the papers print them."""
    return [libero_table(results, method)]


def calvin_tables(results: list[EpisodeResult], method: str) -> list[Table]:
    """Layout ``calvin_chain``: chain rates 1..5 and the average length."""
    return [calvin_table(results, method)]


def by_perturbation(results: Iterable[EpisodeResult]) -> dict[str, list[EpisodeResult]]:
    """Results split by perturbation, clean first: no table ever mixes perturbed and clean episodes."""
    groups: dict[str, list[EpisodeResult]] = defaultdict(list)
    for r in results:
        groups[r.spec.perturbation].append(r)
    return {p: groups[p] for p in sorted(groups, key=lambda p: (p != "none", p))}


def title(suite: str, perturbation: str) -> str:
    return suite if perturbation == "none" else f"{suite} [{perturbation}]"


def layout_of(suite: str, layouts: Mapping[str, str] | None) -> str:
    """The suite's report layout: as recorded in run.json, else as its registered suite declares it."""
    if layouts and suite in layouts:
        return layouts[suite]
    from vla_bench.registries import suites

    try:
        return str(suites.get(suite).report_layout)
    except (KeyError, ImportError, AttributeError):
        return "per_task"


def layouts_from_manifests(manifests: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """suite -> report layout, from the ``report_layouts`` that runs record in run.json."""
    out: dict[str, str] = {}
    for m in manifests:
        out.update(m.get("report_layouts") or {})
    return out


def build_tables(results: list[EpisodeResult], method: str = "wilson",
                 layouts: Mapping[str, str] | None = None) -> list[Table]:
    """One table group per report layout present (and per perturbation).

    ``layouts`` maps suite -> layout name (``layouts_from_manifests``); a suite not in it uses its
    registered suite's ``report_layout``, and an unknown suite the per-task layout.
    """
    from vla_bench.registries import report_layouts

    tables: list[Table] = []
    by_pert = by_perturbation(results)
    chosen = {s: layout_of(s, layouts) for s in {r.spec.suite for r in results}}
    for pert in by_pert:
        by_layout: dict[str, list[EpisodeResult]] = defaultdict(list)
        for r in by_pert[pert]:
            by_layout[chosen[r.spec.suite]].append(r)
        found: list[Table] = []
        for name in sorted(by_layout, key=lambda n: (n == "per_task", n)):  # grouped layouts first
            found += report_layouts.get(name)(by_layout[name], method)
        for t in found:
            t.title = title(t.title, pert)
            mark_best(t)
        tables += found
    if len(by_pert) > 1:
        tables += degradation_tables(results)
    return tables


def degradation_tables(results: list[EpisodeResult]) -> list[Table]:
    """Per policy: success change vs clean (pp) per perturbation and severity, paired on identities."""
    from vla_bench.ood.analysis import degradation

    rows = degradation(results, reps=BOOTSTRAP_REPS, seed=BOOTSTRAP_SEED)
    tables = []
    for policy in sorted({d.policy for d in rows}):
        mine = [d for d in rows if d.policy == policy]
        sevs = sorted({d.severity for d in mine})
        perts = sorted({d.perturbation for d in mine}, key=lambda p: (p == "worst case", p))
        cells = {(d.perturbation, str(d.severity)): Cell(-d.drop, -d.hi, -d.lo, d.n, kind="delta") for d in mine}
        t = Table(f"Degradation vs clean: {policy}", [str(s) for s in sevs], perts, cells)
        t.notes.append("cells: success change vs clean in percentage points [95% paired bootstrap] (n pairs); "
                       "columns: severity; worst case: success only if every perturbation at that severity succeeded")
        tables.append(t)
    return tables
