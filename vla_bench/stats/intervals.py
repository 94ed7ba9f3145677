"""Confidence intervals for a success rate (pure numpy; no scipy needed for Wilson)."""

from __future__ import annotations

import math


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (0, 1) when n == 0.

    Preferred over the normal (Wald) interval because it keeps close to nominal coverage near 0 and 1,
    where robot success rates live. 475/500 gives [0.927, 0.966].
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    if k == 0:
        lo = 0.0
    if k == n:
        hi = 1.0
    return lo, hi


def _z(confidence: float) -> float:
    """Two-sided normal quantile, via the inverse error function's Newton refinement."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    target = 1 - (1 - confidence) / 2
    x = 0.0
    for _ in range(60):  # Newton on Phi(x) - target
        cdf = 0.5 * (1 + math.erf(x / math.sqrt(2)))
        pdf = math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        x -= (cdf - target) / pdf
    return x


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval: conservative, coverage >= nominal for every p."""
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    from scipy.stats import beta

    a = 1 - confidence
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


INTERVALS = {"wilson": wilson, "clopper-pearson": clopper_pearson}


def interval(k: int, n: int, method: str = "wilson", confidence: float = 0.95) -> tuple[float, float]:
    if method not in INTERVALS:
        raise ValueError(f"unknown interval method {method!r}; choose from {sorted(INTERVALS)}")
    return INTERVALS[method](k, n, confidence)
