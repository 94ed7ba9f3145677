"""How many episodes a comparison needs before it can tell two policies apart."""

from __future__ import annotations

import math
from statistics import NormalDist


def _z(q: float) -> float:
    return NormalDist().inv_cdf(q)


def episodes_unpaired(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Episodes per policy for a two-sided two-proportion test (normal approximation, pooled null).

    95% vs 97% needs 1,506 episodes per policy at alpha 0.05 and power 0.8.
    """
    if not (0 < p1 < 1 and 0 < p2 < 1) or p1 == p2:
        raise ValueError("need 0 < p1, p2 < 1 and p1 != p2")
    pbar = (p1 + p2) / 2
    num = _z(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar)) + _z(power) * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil((num / (p1 - p2)) ** 2)


def episodes_paired(delta: float, discordance: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Paired episodes for McNemar's test (Connor 1987): delta = p_a - p_b, discordance = P(outcomes differ).

    Pairing helps exactly when discordance is small: the same 2 points with 4% discordant pairs need far
    fewer episodes than unpaired runs. Connor's formula is a normal approximation: the exact McNemar test
    the project runs has power about 0.77 at the n it returns for a 0.8 target (0.774-0.779 over the
    reference scenarios); ``episodes_paired_exact`` returns the exact test's n.
    """
    if not 0 < discordance <= 1 or not 0 < abs(delta) < discordance:
        raise ValueError("need 0 < |delta| < discordance <= 1")
    num = _z(1 - alpha / 2) * math.sqrt(discordance) + _z(power) * math.sqrt(discordance - delta ** 2)
    return math.ceil((num / delta) ** 2)


def episodes_paired_exact(p_a: float, p_b: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Paired episodes at which the exact two-sided McNemar test reaches ``power`` when the policies succeed
    at p_a and p_b with independent outcomes (e.g. 0.80 vs 0.70: 313, where Connor's formula gives 296)."""
    from vla_bench.stats.design import fixed_n

    return fixed_n(p_a, p_b, alpha, power).n
