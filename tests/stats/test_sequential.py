"""Sequential comparisons: the planned SPRT design (exact operating characteristics), and stop rules that
survive interruption: a resumed run continues the same test, in identity order."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_bench.stats import design as D
from vla_bench.stats.sequential import PairedStopRule, PlannedPairedTest, SequentialPairedTest
from vla_bench.stats.significance import mcnemar_exact
from vla_bench.types import EpisodeResult, EpisodeSpec, EpisodeStatus


# --- the design --------------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(theta=st.floats(0.05, 0.95), c=st.floats(0.0, 0.5), h=st.floats(0.5, 12), g=st.floats(-5, 10),
       m_max=st.integers(1, 60))
def test_walk_probabilities_add_up_and_mirror(theta, c, h, g, m_max):
    ra, rb, em = D._walk(theta, c, h, g, m_max)
    assert 0 <= ra <= 1 and 0 <= rb <= 1 and ra + rb <= 1 + 1e-9 and 0 < em <= m_max + 1e-9
    rb2, ra2, em2 = D._walk(1 - theta, c, h, g, m_max)  # swapping the policies mirrors the walk
    assert math.isclose(ra, ra2, abs_tol=1e-9) and math.isclose(rb, rb2, abs_tol=1e-9)
    assert math.isclose(em, em2, rel_tol=1e-9)


def test_walk_matches_the_decision_rule_by_simulation():
    design = D.SPRTDesign(0.05, 0.8, 0.65, 0.12, 4.5, 1.5, 40)
    rng = np.random.default_rng(1)
    decisions, ms = [], []
    for _ in range(4000):
        s = t = 0
        while (v := design.decide(s, t)) is None:
            if rng.random() < 0.65:
                s += 1
            else:
                t += 1
        decisions.append(v)
        ms.append(s + t)
    ra, rb, em = D._walk(0.65, design.c, design.h, design.g, design.m_max)
    assert abs(decisions.count("a") / 4000 - ra) < 0.025 and abs(decisions.count("b") / 4000 - rb) < 0.01
    assert abs(np.mean(ms) - em) < 0.05 * em


def test_mcnemar_power_equals_enumeration():
    n, alpha, rates = 14, 0.05, D.Rates(0.8, 0.5)
    p10, p01 = rates.p_a * (1 - rates.p_b), (1 - rates.p_a) * rates.p_b
    total = 0.0
    for a, b in itertools.product(range(n + 1), repeat=2):
        if a + b <= n:
            prob = math.comb(n, a) * math.comb(n - a, b) * p10 ** a * p01 ** b * (1 - p10 - p01) ** (n - a - b)
            total += prob * (mcnemar_exact(a, b) <= alpha)
    assert math.isclose(D.mcnemar_power(n, rates, alpha), total, rel_tol=1e-9)


def test_fixed_n_is_the_smallest_n_with_the_power():
    f = D.fixed_n(0.75, 0.6, 0.05, 0.8)
    rates = D.Rates(0.75, 0.6)
    assert f.power >= 0.8 > D.mcnemar_power(f.n - 1, rates, 0.05)
    assert f.alpha <= 0.05


def test_planned_design_meets_its_targets_and_saves_episodes():
    rates = D.Rates(0.75, 0.6)
    design, fixed = D.plan_sprt(0.75, 0.6, 0.05, 0.8), D.fixed_n(0.75, 0.6, 0.05, 0.8)
    h1, h0 = design.operating(rates), design.operating(rates.null)
    no_futility = design.operating(rates.null, futility=False)
    assert no_futility.reject_a + no_futility.reject_b <= 0.05  # futility is non-binding
    assert h0.reject_a + h0.reject_b <= 0.05
    assert 0.8 <= h1.reject_a <= 0.82
    assert h1.mean_pairs <= 0.75 * fixed.n and h0.mean_pairs <= 0.6 * fixed.n
    assert design.max_pairs(rates) > fixed.n  # the price: a longer worst case


# --- stop rules across interruptions -------------------------------------------------------------------------

def results_for(outcomes, rng):
    """Records of two policies on len(outcomes) identities, in an outcome-dependent completion order."""
    out = []
    for i, (a, b) in enumerate(outcomes):
        spec = EpisodeSpec("s", "t", i)
        for name, ok in (("A", a), ("B", b)):
            status = EpisodeStatus.SUCCESS if ok else EpisodeStatus.TIMEOUT
            finish = i + (0.0 if ok else 25.0) + rng.random()  # failures take longer: order depends on outcome
            out.append((finish, EpisodeResult(spec, name, status, 1)))
    return [r for _, r in sorted(out, key=lambda x: x[0])]


def run_segments(make_test, results, order, cuts):
    """Feed results in completion order; at each cut, start afresh from the records written so far."""
    written, rule = [], None
    bounds = [0, *sorted(cuts), len(results)]
    for lo, hi in zip(bounds, bounds[1:]):
        rule = PairedStopRule("A", "B", make_test())
        if rule.start(order, list(written)):
            return rule
        for r in results[lo:hi]:
            written.append(r)
            if rule(r):
                return rule
    return rule


@pytest.mark.parametrize("make_test", [lambda: SequentialPairedTest(alpha=0.05),
                                       lambda: PlannedPairedTest(design=D.plan_sprt(0.75, 0.6, 0.05, 0.8))],
                         ids=["anytime", "planned"])
def test_interrupted_and_resumed_runs_reach_the_same_decision(make_test):
    rng = np.random.default_rng(3)
    for _ in range(60):
        n = 300
        outcomes = list(zip(rng.random(n) < 0.7, rng.random(n) < rng.choice([0.7, 0.55])))
        results = results_for(outcomes, rng)
        order = [EpisodeSpec("s", "t", i).key for i in range(n)]
        whole = run_segments(make_test, results, order, [])
        cut = run_segments(make_test, results, order, rng.choice(len(results), size=4, replace=False))
        assert (cut.test.verdict, cut.test.pairs) == (whole.test.verdict, whole.test.pairs)
        assert cut.test.favours_a == whole.test.favours_a and cut.test.favours_b == whole.test.favours_b


@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_type_one_error_holds_with_outcome_dependent_order_and_resumes(alpha):
    rng = np.random.default_rng(11)
    runs, alarms = 400, 0
    design = D.plan_sprt(0.75, 0.6, alpha, 0.8)
    for _ in range(runs):
        n = 400
        outcomes = list(zip(rng.random(n) < 0.675, rng.random(n) < 0.675))
        results = results_for(outcomes, rng)
        order = [EpisodeSpec("s", "t", i).key for i in range(n)]
        rule = run_segments(lambda: PlannedPairedTest(design=design), results, order,
                            rng.choice(len(results), size=5, replace=False))
        alarms += rule.test.verdict in ("a", "b")
    assert alarms / runs <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def test_an_identity_that_stayed_error_is_left_out_not_waited_for():
    rule = PairedStopRule("A", "B", SequentialPairedTest(alpha=0.05), max_attempts=2)
    order = [EpisodeSpec("s", "t", i).key for i in range(3)]
    rule.start(order, [])
    spec0, spec1 = EpisodeSpec("s", "t", 0), EpisodeSpec("s", "t", 1)
    rule(EpisodeResult(spec0, "A", EpisodeStatus.ERROR, 0, attempt=0))
    rule(EpisodeResult(spec0, "B", EpisodeStatus.SUCCESS, 3))
    rule(EpisodeResult(spec1, "A", EpisodeStatus.SUCCESS, 3))
    rule(EpisodeResult(spec1, "B", EpisodeStatus.TIMEOUT, 3))
    assert rule.test.pairs == 0  # identity 0 may still be retried: the walk waits for it
    rule(EpisodeResult(spec0, "A", EpisodeStatus.ERROR, 0, attempt=1))  # retries used up
    assert rule.test.pairs == 1 and rule.test.favours_a == 1
