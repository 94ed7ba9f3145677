"""Degradation under perturbation, paired with clean runs on the same episode identities.

Identities are matched on (suite, task, init_id, seed); the perturbation is the only difference, so the
drop in success is a paired difference with a paired bootstrap interval (stratified by task). The worst
case at a severity counts an identity as a success only if it succeeded under every perturbation at that
severity (HELM's "worst" robustness summary).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from vla_bench.stats.bootstrap import paired_bootstrap_diff
from vla_bench.types import EpisodeResult


@dataclass(frozen=True)
class Degradation:
    policy: str
    perturbation: str  # "kind.name" or "worst case"
    severity: int
    n: int
    clean: float
    perturbed: float
    drop: float  # clean - perturbed, mean over tasks
    lo: float
    hi: float


def _base(r: EpisodeResult) -> tuple[str, str, str, int, int]:
    return (r.policy, r.spec.suite, r.spec.task, r.spec.init_id, r.spec.seed)


def degradation(results: list[EpisodeResult], reps: int = 2000, seed: int = 0) -> list[Degradation]:
    clean: dict[tuple, bool] = {}
    pert: dict[tuple[str, int], dict[tuple, bool]] = defaultdict(dict)
    for r in results:
        if not r.status.counted:
            continue
        if r.spec.perturbation == "none":
            clean[_base(r)] = r.success
        else:
            name, _, sev = r.spec.perturbation.partition("@")
            pert[(name, int(sev))][_base(r)] = r.success
    out: list[Degradation] = []
    worst: dict[tuple[str, int], dict[tuple, bool]] = defaultdict(dict)
    for (name, sev), outcomes in sorted(pert.items()):
        for k, ok in outcomes.items():
            w = worst[(k[0], sev)]
            w[k] = w.get(k, True) and ok
        out += _rows(clean, outcomes, name, sev, reps, seed)
    for (policy, sev), outcomes in sorted(worst.items()):
        out += [d for d in _rows(clean, outcomes, "worst case", sev, reps, seed) if d.policy == policy]
    return out


def _rows(clean: dict, outcomes: dict, name: str, sev: int, reps: int, seed: int) -> list[Degradation]:
    rows = []
    for policy in sorted({k[0] for k in outcomes}):
        keys = sorted(k for k in outcomes if k[0] == policy and k in clean)
        if not keys:
            continue
        a: dict[str, list[float]] = defaultdict(list)
        b: dict[str, list[float]] = defaultdict(list)
        for k in keys:
            a[f"{k[1]}/{k[2]}"].append(float(clean[k]))
            b[f"{k[1]}/{k[2]}"].append(float(outcomes[k]))
        drop, lo, hi = paired_bootstrap_diff(a, b, reps=reps, seed=seed)
        c = sum(clean[k] for k in keys) / len(keys)
        p = sum(outcomes[k] for k in keys) / len(keys)
        rows.append(Degradation(policy, name, sev, len(keys), c, p, drop, lo, hi))
    return rows


@dataclass(frozen=True)
class CurvePoint:
    """Success at one severity of one perturbation (severity 0 is the clean run), with a Wilson interval."""

    policy: str
    perturbation: str
    severity: int
    n: int
    success: float
    lo: float
    hi: float


def robustness_curves(results: list[EpisodeResult], confidence: float = 0.95) -> list[CurvePoint]:
    """Per (policy, perturbation): success over severity, the clean run standing in for severity 0, so
    every curve starts from the same point. Only identities that also ran clean are counted, keeping the
    curve paired."""
    from vla_bench.stats.intervals import wilson

    clean: dict[tuple, bool] = {}
    pert: dict[tuple[str, str, int], list[bool]] = defaultdict(list)
    seen: dict[tuple[str, str], set[tuple]] = defaultdict(set)
    for r in results:
        if r.status.counted and r.spec.perturbation == "none":
            clean[_base(r)] = r.success
    for r in results:
        if r.status.counted and r.spec.perturbation != "none" and _base(r) in clean:
            name, _, sev = r.spec.perturbation.partition("@")
            pert[(r.policy, name, int(sev))].append(r.success)
            seen[(r.policy, name)].add(_base(r))
    out: list[CurvePoint] = []
    for (policy, name), keys in sorted(seen.items()):
        base = [clean[k] for k in sorted(keys)]
        levels = [(0, base)] + sorted((s, v) for (p, n, s), v in pert.items() if (p, n) == (policy, name))
        for sev, outcomes in levels:
            k, n = sum(outcomes), len(outcomes)
            lo, hi = wilson(k, n, confidence)
            out.append(CurvePoint(policy, name, sev, n, k / n, lo, hi))
    return out
