"""Monte-Carlo check of the planned sequential design against the fixed-n exact McNemar design.

Runs are simulated as the runner makes them: paired episodes with independent outcomes, pairs fed to
the stop rule one at a time in identity order (a look after every pair), each run capped at the
design's 99% run size. Under H0 both policies succeed at the mean of the planned rates. Figures come
with their Monte-Carlo standard errors, so a claim like "type-I error <= alpha" is checked against
alpha plus its sampling error, not against noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vla_bench.stats.design import Rates, SPRTDesign, fixed_n, plan_sprt

SCENARIOS = ((0.80, 0.70), (0.60, 0.45), (0.95, 0.90), (0.97, 0.95), (0.75, 0.60))


@dataclass(frozen=True)
class Simulated:
    """Share of runs deciding each way, and the mean number of pairs used."""

    runs: int
    reject_a: float
    reject_b: float
    mean_pairs: float
    sd_pairs: float

    @property
    def rejects(self) -> float:
        return self.reject_a + self.reject_b

    def se(self, p: float) -> float:
        return math.sqrt(max(p * (1 - p), 1e-12) / self.runs)


def simulate(design: SPRTDesign, rates: Rates, runs: int, seed: int = 0, chunk: int = 2000) -> Simulated:
    """Simulate ``runs`` sequential comparisons of the design under ``rates`` (vectorised over runs)."""
    rng = np.random.default_rng(seed)
    cap = design.max_pairs(rates)
    ra = rb = 0
    pairs: list[np.ndarray] = []
    done = 0
    while done < runs:
        n = min(chunk, runs - done)
        a = rng.random((n, cap)) < rates.p_a
        b = rng.random((n, cap)) < rates.p_b
        s, t = np.cumsum(a & ~b, axis=1), np.cumsum(~a & b, axis=1)
        verdict = _decide(design, s, t)
        stopped = verdict != 0
        first = np.where(stopped.any(axis=1), stopped.argmax(axis=1), cap - 1)
        v = verdict[np.arange(n), first]
        ra += int(np.sum(v == 1))
        rb += int(np.sum(v == 2))
        pairs.append(first + 1)
        done += n
    used = np.concatenate(pairs)
    return Simulated(runs, ra / runs, rb / runs, float(used.mean()), float(used.std()))


def _decide(design: SPRTDesign, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """design.decide over arrays: 0 continue, 1 A better, 2 B better, 3 futile (vectorised, same rule)."""
    m, d = s + t, s - t
    edge = design.h + design.c * m
    out = np.zeros(s.shape, dtype=np.int8)
    futile = (m >= design.m_max) | (np.abs(d) <= design.c * m - design.g)
    out[(m > 0) & futile] = 3
    out[(m > 0) & (d >= edge)] = 1
    out[(m > 0) & (-d >= edge)] = 2
    return out


def table(alpha: float, power: float, runs: int, scenarios: tuple[tuple[float, float], ...] = SCENARIOS,
          seed: int = 0) -> list[dict[str, float]]:
    """One row per scenario: fixed-n design, sequential design (exact and simulated), savings."""
    rows = []
    for i, (p_a, p_b) in enumerate(scenarios):
        rates = Rates(p_a, p_b)
        fixed, design = fixed_n(p_a, p_b, alpha, power), plan_sprt(p_a, p_b, alpha, power)
        h1, h0 = simulate(design, rates, runs, seed + 2 * i), simulate(design, rates.null, runs, seed + 2 * i + 1)
        exact1, exact0 = design.operating(rates), design.operating(rates.null)
        rows.append({
            "p_a": p_a, "p_b": p_b, "fixed_n": fixed.n, "fixed_power": fixed.power, "fixed_alpha": fixed.alpha,
            "max_n": design.max_pairs(rates), "exact_power": exact1.reject_a,
            "exact_alpha": exact0.reject_a + exact0.reject_b, "exact_en1": exact1.mean_pairs,
            "exact_en0": exact0.mean_pairs, "sim_power": h1.reject_a, "sim_power_se": h1.se(h1.reject_a),
            "sim_alpha": h0.rejects, "sim_alpha_se": h0.se(h0.rejects), "sim_en1": h1.mean_pairs,
            "sim_en0": h0.mean_pairs, "saving_h1": 1 - h1.mean_pairs / fixed.n, "saving_h0": 1 - h0.mean_pairs / fixed.n,
            "wrong_way": h1.reject_b,
        })
    return rows


def format_table(rows: list[dict[str, float]], alpha: float, power: float, runs: int) -> str:
    lines = [
        f"planned sequential design vs fixed-n exact McNemar: two-sided alpha {alpha}, power {power}; "
        f"{runs} simulated runs per cell (a look after every pair), exact figures from the design's DP",
        f"{'rates':<12}{'fixed n':>8}{'max n':>7}{'power (sim ± se)':>20}{'alpha (sim ± se)':>20}"
        f"{'E[n|H1]':>9}{'save':>6}{'E[n|H0]':>9}{'save':>6}",
    ]
    for r in rows:
        lines.append(
            f"{r['p_a']:.2f} v {r['p_b']:.2f}{r['fixed_n']:>8d}{r['max_n']:>7d}"
            f"{r['sim_power']:>12.3f} ± {r['sim_power_se']:.3f}{r['sim_alpha']:>12.4f} ± {r['sim_alpha_se']:.4f}"
            f"{r['sim_en1']:>9.0f}{100 * r['saving_h1']:>5.0f}%{r['sim_en0']:>9.0f}{100 * r['saving_h0']:>5.0f}%")
    checks = []
    for r in rows:
        name = f"{r['p_a']:.2f} v {r['p_b']:.2f}"
        checks += [
            (f"{name}: type-I {r['sim_alpha']:.4f} <= alpha + 2 se", r["sim_alpha"] <= alpha + 2 * r["sim_alpha_se"]),
            (f"{name}: power {r['sim_power']:.3f} within 0.02 of {power}", abs(r["sim_power"] - power) <= 0.02),
            (f"{name}: saves {100 * r['saving_h1']:.0f}% under H1 (>= 25%)", r["saving_h1"] >= 0.25),
            (f"{name}: saves {100 * r['saving_h0']:.0f}% under H0 (>= 40%)", r["saving_h0"] >= 0.40),
        ]
    lines += ["", *(f"{'PASS' if ok else 'FAIL'}  {text}" for text, ok in checks)]
    return "\n".join(lines)
