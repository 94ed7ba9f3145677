"""Stopping a paired comparison once it is decided, however the run is interrupted and resumed.

Two tests on the discordant pairs (one policy succeeds, the other fails) of the first two policies:

- ``planned`` (default of ``vla-bench eval --stop-when-decided``): the calibrated truncated SPRT of
  ``vla_bench.stats.design``, planned for success rates at the minimal difference worth detecting, a
  power and a two-sided alpha; it stops for efficacy or for futility.
- ``anytime``: the mixture likelihood ratio with a uniform prior on theta = P(A wins | discordant),
  L_m = B(s+1, m-s+1) * 2^m for s of m discordant pairs won by A. It is a nonnegative martingale under
  theta = 1/2, so by Ville's inequality stopping when L_m >= 1/alpha keeps the type-I error <= alpha
  after any number of looks. No futility stop.

Pairs are fed to a test in *identity order* (the plan's order), never in completion order: episodes of
different outcomes take different times, so completion order depends on outcomes and would bias the
walk. ``PairedStopRule.start`` replays every record already on disk in that order, so a resumed run
continues the same test instead of starting a fresh one (each fresh start would spend alpha again).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from vla_bench.stats.design import SPRTDesign, plan_sprt


class PairedTest(Protocol):
    favours_a: int
    favours_b: int
    decided: bool

    def update(self, a_success: bool, b_success: bool) -> bool: ...

    @property
    def verdict(self) -> str | None: ...


def log_mixture_lr(s: int, m: int) -> float:
    """log L_m for s of m discordant pairs favouring A."""
    return math.lgamma(s + 1) + math.lgamma(m - s + 1) - math.lgamma(m + 2) + m * math.log(2)


@dataclass
class _Counts:
    favours_a: int = 0
    favours_b: int = 0
    concordant: int = 0
    decided: bool = False
    outcome: str | None = None  # "a", "b" or "futile" once decided

    def _count(self, a_success: bool, b_success: bool) -> None:
        if a_success and not b_success:
            self.favours_a += 1
        elif b_success and not a_success:
            self.favours_b += 1
        else:
            self.concordant += 1

    @property
    def pairs(self) -> int:
        return self.favours_a + self.favours_b + self.concordant

    @property
    def verdict(self) -> str | None:
        return self.outcome

    @property
    def better(self) -> str | None:
        return self.outcome if self.outcome in ("a", "b") else None


@dataclass
class SequentialPairedTest(_Counts):
    """The anytime-valid mixture test; ``decided`` turns True at most once and stays True."""

    alpha: float = 0.05

    def update(self, a_success: bool, b_success: bool) -> bool:
        self._count(a_success, b_success)
        if not self.decided:
            m = self.favours_a + self.favours_b
            if m > 0 and log_mixture_lr(max(self.favours_a, self.favours_b), m) >= math.log(1 / self.alpha):
                self.decided, self.outcome = True, "a" if self.favours_a > self.favours_b else "b"
        return self.decided


@dataclass
class PlannedPairedTest(_Counts):
    """The planned truncated SPRT (vla_bench.stats.design); stops for efficacy ("a"/"b") or futility."""

    design: SPRTDesign | None = None

    def update(self, a_success: bool, b_success: bool) -> bool:
        self._count(a_success, b_success)
        if not self.decided and self.design is not None:
            self.outcome = self.design.decide(self.favours_a, self.favours_b)
            self.decided = self.outcome is not None
        return self.decided


@dataclass
class PairedStopRule:
    """Runner hook: pairs the two policies' results by identity and feeds complete pairs to ``test`` in
    the plan's identity order. An identity whose episode stayed ERROR (``final_error``) is left out."""

    policy_a: str
    policy_b: str
    test: Any = field(default_factory=SequentialPairedTest)
    max_attempts: int = 2
    _order: list[str] = field(default_factory=list)
    _cursor: int = 0
    _seen: dict[str, dict[str, bool | None]] = field(default_factory=dict)

    def start(self, order: Iterable[str], done: Iterable[Any]) -> bool:
        """Take the plan's identity order and replay the records already on disk; True if decided."""
        self._order = list(dict.fromkeys(order))
        for r in done:
            self._note(r, final=r.attempt + 1 >= self.max_attempts)
        return self._advance()

    def __call__(self, result: Any) -> bool:
        self._note(result, final=result.attempt + 1 >= self.max_attempts)
        return self._advance()

    def _note(self, result: Any, final: bool) -> None:
        if result.policy not in (self.policy_a, self.policy_b):
            return
        if result.status.counted:
            self._seen.setdefault(result.spec.key, {})[result.policy] = result.success
        elif final:  # an episode that stayed ERROR: its pair can never be completed
            self._seen.setdefault(result.spec.key, {})[result.policy] = None

    def _advance(self) -> bool:
        if not self._order:  # no plan given: pair in arrival order (tests and ad-hoc use)
            self._order = list(self._seen)
        while not self.test.decided and self._cursor < len(self._order):
            slot = self._seen.get(self._order[self._cursor], {})
            if self.policy_a not in slot or self.policy_b not in slot:
                break
            a, b = slot[self.policy_a], slot[self.policy_b]
            if a is not None and b is not None:
                self.test.update(a, b)
            self._cursor += 1
        return self.test.decided

    def describe(self) -> str:
        t = self.test
        what = {"a": f"{self.policy_a} is better", "b": f"{self.policy_b} is better",
                "futile": "no difference of the planned size"}.get(t.verdict or "", "undecided")
        return (f"{self.policy_a} vs {self.policy_b}: {what} after {t.pairs} pairs "
                f"({t.favours_a} vs {t.favours_b} discordant)")


def stop_rule_for_run(cfg: Any, design: str = "planned", rates: tuple[float, float] | None = None,
                      alpha: float = 0.05, power: float = 0.8) -> PairedStopRule:
    """The stop rule ``vla-bench eval --stop-when-decided`` uses: the first two policies of the config."""
    if len(cfg.policies) < 2:
        raise ValueError("--stop-when-decided needs at least two policies in the config")
    a, b = cfg.policies[0].display_name, cfg.policies[1].display_name
    if design == "anytime":
        test: Any = SequentialPairedTest(alpha=alpha)
    elif design == "planned":
        if rates is None:
            raise ValueError("the planned design needs --plan-rates P_A P_B (success rates at the smallest "
                             "difference worth detecting); or use --sequential anytime")
        test = PlannedPairedTest(design=plan_sprt(rates[0], rates[1], alpha, power))
    else:
        raise ValueError(f"unknown sequential design {design!r} (planned, anytime)")
    return PairedStopRule(a, b, test, max_attempts=cfg.max_attempts)
