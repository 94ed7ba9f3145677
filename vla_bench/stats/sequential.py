"""Anytime-valid sequential comparison of two policies on paired episodes.

Only discordant pairs (one policy succeeds, the other fails) carry information. Under the null of equal
success, each discordant pair favours A with probability 1/2. The test statistic is the mixture
likelihood ratio with a uniform prior on that probability,

    L_m = integral p^s (1-p)^(m-s) dp / 2^-m = B(s+1, m-s+1) * 2^m,

for s pairs favouring A out of m. L_m is a nonnegative martingale under the null, so by Ville's
inequality P(L_m >= 1/alpha for some m) <= alpha: stopping the first time L_m >= 1/alpha, after any
number of looks and however the run is interrupted and resumed, keeps the type-I error at or below
alpha. There is no futility stop; a run that never crosses simply ends at its planned size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable


def log_mixture_lr(s: int, m: int) -> float:
    """log L_m for s of m discordant pairs favouring A."""
    return math.lgamma(s + 1) + math.lgamma(m - s + 1) - math.lgamma(m + 2) + m * math.log(2)


@dataclass
class SequentialPairedTest:
    """Feed paired outcomes one pair at a time; ``decided`` turns True at most once and stays True."""

    alpha: float = 0.05
    favours_a: int = 0
    favours_b: int = 0
    concordant: int = 0
    decided: bool = False

    def update(self, a_success: bool, b_success: bool) -> bool:
        if a_success and not b_success:
            self.favours_a += 1
        elif b_success and not a_success:
            self.favours_b += 1
        else:
            self.concordant += 1
        if not self.decided:
            m = self.favours_a + self.favours_b
            self.decided = m > 0 and log_mixture_lr(self.favours_a, m) >= math.log(1 / self.alpha)
        return self.decided

    @property
    def better(self) -> str | None:
        if not self.decided:
            return None
        return "a" if self.favours_a > self.favours_b else "b"


@dataclass
class PairedStopRule:
    """Runner hook: pairs results of two policies by episode identity and stops once decided."""

    policy_a: str
    policy_b: str
    test: SequentialPairedTest = field(default_factory=SequentialPairedTest)
    _pending: dict[str, dict[str, bool]] = field(default_factory=dict)

    def __call__(self, result: Any) -> bool:
        if result.policy not in (self.policy_a, self.policy_b) or not result.status.counted:
            return self.test.decided
        slot = self._pending.setdefault(result.spec.key, {})
        slot[result.policy] = result.success
        if len(slot) == 2:
            del self._pending[result.spec.key]
            self.test.update(slot[self.policy_a], slot[self.policy_b])
        return self.test.decided


def stop_rule_for_run(cfg: Any, alpha: float = 0.05) -> Callable[[Any], bool]:
    """The stop rule ``vla-bench eval --stop-when-decided`` uses: the first two policies of the config."""
    if len(cfg.policies) < 2:
        raise ValueError("--stop-when-decided needs at least two policies in the config")
    a, b = cfg.policies[0].display_name, cfg.policies[1].display_name
    return PairedStopRule(a, b, SequentialPairedTest(alpha=alpha))
