"""Planned sequential comparison of two policies on paired episodes: a truncated two-sided SPRT on the
discordant pairs, with an efficacy and a futility boundary, calibrated exactly.

Only discordant pairs (one policy succeeds, the other fails) carry information about which policy is
better. With s pairs won by A and t by B after m = s + t discordant pairs, d = s - t is a random walk
that steps up with probability theta = P(A wins | discordant): 1/2 under H0. A user plans for success
rates (p_a, p_b) at the minimal difference worth detecting, a power and a two-sided alpha. Under
independent outcomes the pair is discordant with probability psi = p_a(1-p_b) + (1-p_a)p_b, and
theta1 = p_a(1-p_b) / psi.

The boundaries are Wald's log-likelihood-ratio lines for theta1 (and 1 - theta1) against 1/2, in d:
efficacy when |d| >= h + c*m, futility when |d| <= c*m - g, truncated at m_max (there the efficacy
line decides and everything else is futile), with slope c = log(1 / (4 theta1 (1 - theta1))) /
log(theta1 / (1 - theta1)). The intercepts and m_max are not Wald's approximations: a dynamic program over
(m, d) gives the exact rejection probabilities and the expected number of discordant pairs, and

- h is the smallest intercept whose type-I error *without* the futility boundary is <= alpha, so
  futility is non-binding (ignoring it, e.g. continuing a run, cannot inflate alpha);
- g is the most aggressive futility intercept that keeps the power >= the target;
- m_max is chosen from a grid to minimise the mean of the expected pair counts under H0 and H1.

Because the rule depends on the discordant sequence only, its type-I error holds whatever the
discordance rate; a pair count is the discordant count divided by psi (Wald's identity, looking after
every pair). The fixed-n design it is compared against is the exact two-sided McNemar test at the
smallest n with power >= the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np



@dataclass(frozen=True)
class Rates:
    """Planned success rates of the two policies; outcomes independent within a pair."""

    p_a: float
    p_b: float

    def __post_init__(self) -> None:
        if not (0 < self.p_a < 1 and 0 < self.p_b < 1):
            raise ValueError(f"success rates must lie strictly between 0 and 1, got {self.p_a} and {self.p_b}")

    @property
    def discordance(self) -> float:
        return self.p_a * (1 - self.p_b) + (1 - self.p_a) * self.p_b

    @property
    def theta(self) -> float:
        return self.p_a * (1 - self.p_b) / self.discordance

    @property
    def null(self) -> Rates:
        """H0 at the same overall level: both policies at the mean rate."""
        p = (self.p_a + self.p_b) / 2
        return Rates(p, p)


def planned_rates(p_a: float, p_b: float) -> Rates:
    rates = Rates(p_a, p_b)
    if p_a == p_b:
        raise ValueError(f"plan for two different success rates, got {p_a} twice")
    return rates


@dataclass(frozen=True)
class Operating:
    """What a design does under one scenario."""

    reject_a: float  # P(decide A is better)
    reject_b: float  # P(decide B is better)
    mean_discordant: float  # E[discordant pairs at the stop]
    mean_pairs: float  # E[pairs at the stop]


@dataclass(frozen=True)
class SPRTDesign:
    """Continue while c*m - g < |d| < h + c*m and m < m_max (see the module docstring)."""

    alpha: float
    power: float
    theta1: float
    c: float
    h: float
    g: float
    m_max: int

    def decide(self, s: int, t: int) -> str | None:
        """'a' or 'b' (that policy is better), 'futile' (stop: no difference of the planned size), or None."""
        m, d = s + t, s - t
        if m == 0:
            return None
        edge = self.h + self.c * m
        if d >= edge:
            return "a"
        if -d >= edge:
            return "b"
        if m >= self.m_max or abs(d) <= self.c * m - self.g:
            return "futile"
        return None

    def operating(self, rates: Rates, futility: bool = True) -> Operating:
        ra, rb, em = _walk(rates.theta, self.c, self.h, self.g if futility else math.inf, self.m_max)
        return Operating(ra, rb, em, em / rates.discordance)

    def max_pairs(self, rates: Rates, quantile: float = 0.99) -> int:
        """Pairs within which m_max discordant pairs arrive with probability ``quantile`` (run size to plan)."""
        return _negbin_quantile(self.m_max, rates.discordance, quantile)


def _walk(theta: float, c: float, h: float, g: float, m_max: int) -> tuple[float, float, float]:
    """Exact P(reject for A), P(reject for B) and E[M] of the boundary rule, by dynamic programming on d."""
    size = 2 * m_max + 1
    p = np.zeros(size)
    p[m_max] = 1.0  # d = 0
    d = np.arange(-m_max, m_max + 1)
    ra = rb = em = 0.0
    for m in range(1, m_max + 1):
        nxt = np.zeros(size)
        nxt[1:] += theta * p[:-1]
        nxt[:-1] += (1 - theta) * p[1:]
        p = nxt
        edge = h + c * m
        up, down = d >= edge, -d >= edge
        ra += p[up].sum()
        rb += p[down].sum()
        stop = up | down
        if m >= m_max:
            stop[:] = True
        elif c * m - g >= 0:
            stop |= np.abs(d) <= c * m - g
        em += m * p[stop].sum()
        p = np.where(stop, 0.0, p)
    return float(ra), float(rb), float(em)


def _negbin_quantile(k: int, p: float, q: float) -> int:
    """Smallest n with P(at least k successes in n Bernoulli(p) trials) >= q."""
    n = k
    while True:
        lo = max(0, k - 1)
        # P(Bin(n, p) >= k) via the complement, summed in log space for stability
        logs = [math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * math.log(p)
                + (n - j) * math.log1p(-p) for j in range(0, lo + 1)]
        below = sum(math.exp(x) for x in logs) if k > 0 else 0.0
        if 1 - below >= q:
            return n
        n += max(1, int(0.01 * n))


def _bisect(f, lo: float, hi: float, iters: int = 24) -> float:  # type: ignore[no-untyped-def]
    """Smallest x in [lo, hi] with f(x) True, for f monotone False..True."""
    for _ in range(iters):
        mid = (lo + hi) / 2
        if f(mid):
            hi = mid
        else:
            lo = mid
    return hi


@lru_cache(maxsize=64)
def plan_sprt(p_a: float, p_b: float, alpha: float = 0.05, power: float = 0.8) -> SPRTDesign:
    """The calibrated design for planned rates (p_a, p_b), two-sided ``alpha`` and ``power``."""
    rates = planned_rates(p_a, p_b)
    th = rates.theta if rates.theta > 0.5 else 1 - rates.theta  # symmetric: plan for the larger side
    lo_odds, k = math.log(th / (1 - th)), -math.log(4 * th * (1 - th))
    c = k / lo_odds
    h_wald = 2 * math.log(power / (alpha / 2)) / lo_odds
    m_fixed = fixed_n(p_a, p_b, alpha, power).n * rates.discordance
    best: tuple[float, SPRTDesign] | None = None
    for f in np.arange(1.0, 1.61, 0.1):
        m_max = max(2, int(round(f * m_fixed)))

        def alpha_ok(h: float, m_max: int = m_max) -> bool:
            ra, rb, _ = _walk(0.5, c, h, math.inf, m_max)
            return ra + rb <= alpha

        h = _bisect(alpha_ok, 0.0, 4 * h_wald + 10)
        if _walk(th, c, h, math.inf, m_max)[0] < power:
            continue  # too short to reach the power even without futility

        def power_ok(g: float, h: float = h, m_max: int = m_max) -> bool:
            return _walk(th, c, h, g, m_max)[0] >= power

        g = _bisect(power_ok, -10.0 * m_max, 4 * h_wald + 10 + c * m_max)
        design = SPRTDesign(alpha, power, th, c, h, g, m_max)
        h1 = design.operating(Rates(p_a, p_b) if rates.theta > 0.5 else Rates(p_b, p_a))
        h0 = design.operating(rates.null)
        score = (h1.mean_pairs + h0.mean_pairs) / 2
        if best is None or score < best[0]:
            best = (score, design)
    if best is None:
        raise ValueError(f"no design reaches power {power} within 1.6x the discordant pairs of the fixed-n design")
    return best[1]


@dataclass(frozen=True)
class FixedDesign:
    """The fixed-n exact McNemar design: n pairs, its exact power and type-I error."""

    n: int
    power: float
    alpha: float


def _walk_pmfs(theta: float, n_max: int):  # type: ignore[no-untyped-def]
    """pmf of the number of discordant pairs won by A, for m = 0..n_max discordant pairs."""
    pmf = np.array([1.0])
    yield pmf
    for _ in range(n_max):
        nxt = np.zeros(pmf.size + 1)
        nxt[1:] += theta * pmf
        nxt[:-1] += (1 - theta) * pmf
        pmf = nxt
        yield pmf


@lru_cache(maxsize=16)
def _critical(n_max: int, alpha: float) -> np.ndarray:
    """k[m]: the exact two-sided McNemar test with m discordant pairs rejects iff min(s, t) <= k[m]."""
    out = np.full(n_max + 1, -1)
    for m, pmf in enumerate(_walk_pmfs(0.5, n_max)):
        cdf = np.cumsum(pmf)
        ok = np.nonzero(np.minimum(1.0, 2 * cdf[: m // 2 + 1]) <= alpha * (1 + 1e-12))[0]
        out[m] = ok[-1] if ok.size else -1
    return out


@lru_cache(maxsize=32)
def _reject_given_m(theta: float, alpha: float, n_max: int) -> np.ndarray:
    """P(the exact McNemar test rejects | m discordant pairs), m = 0..n_max, when A wins each w.p. theta."""
    ks = _critical(n_max, alpha)
    out = np.zeros(n_max + 1)
    for m, pmf in enumerate(_walk_pmfs(theta, n_max)):
        k = ks[m]
        if k >= 0:
            out[m] = pmf[: k + 1].sum() + pmf[m - k:].sum()
    return out


def _binom_pmf(n: int, p: float) -> np.ndarray:
    j = np.arange(n + 1)
    lg = np.vectorize(math.lgamma)
    return np.exp(math.lgamma(n + 1) - lg(j + 1) - lg(n - j + 1) + j * math.log(p) + (n - j) * math.log1p(-p))


def mcnemar_power(n: int, rates: Rates, alpha: float, n_max: int | None = None) -> float:
    """Exact power of the two-sided exact McNemar test with n pairs (a rejection either way counts)."""
    r = _reject_given_m(rates.theta, alpha, max(n, n_max or 0))
    return float(_binom_pmf(n, rates.discordance) @ r[: n + 1])


@lru_cache(maxsize=64)
def fixed_n(p_a: float, p_b: float, alpha: float = 0.05, power: float = 0.8) -> FixedDesign:
    """The smallest n whose exact McNemar test reaches ``power`` at (p_a, p_b)."""
    from statistics import NormalDist

    rates = planned_rates(p_a, p_b)
    delta, psi = abs(p_a - p_b), rates.discordance
    z = NormalDist().inv_cdf
    guess = ((z(1 - alpha / 2) * math.sqrt(psi) + z(power) * math.sqrt(psi - delta ** 2)) / delta) ** 2
    top = int(2 * guess) + 50
    n = max(4, int(0.8 * guess))
    while mcnemar_power(n, rates, alpha, top) < power:
        n += max(1, n // 200)
        if n > top:
            top = 2 * top
    while n > 4 and mcnemar_power(n - 1, rates, alpha, top) >= power:
        n -= 1
    return FixedDesign(n, mcnemar_power(n, rates, alpha, top), mcnemar_power(n, rates.null, alpha, top))
