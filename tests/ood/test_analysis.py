"""Degradation and robustness curves over synthetic records with known outcomes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_bench.ood.analysis import degradation, robustness_curves
from vla_bench.types import EpisodeResult, EpisodeSpec, EpisodeStatus

OK, FAIL, ERR = EpisodeStatus.SUCCESS, EpisodeStatus.FAILURE, EpisodeStatus.ERROR


def rec(pert, init, status, policy="p", task="t"):
    return EpisodeResult(EpisodeSpec("s", task, init, pert), policy, status, steps=1)


outcomes = st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None)
@given(outcomes)
def test_drop_is_the_paired_difference_and_worst_case_is_below_each(rows):
    results = []
    for i, (c, a, b) in enumerate(rows):
        results += [rec("none", i, OK if c else FAIL), rec("vision.blur@2", i, OK if a else FAIL),
                    rec("language.synonym@2", i, OK if b else FAIL)]
    by = {d.perturbation: d for d in degradation(results, reps=200)}
    n = len(rows)
    assert by["vision.blur"].drop == pytest.approx(sum(c for c, _, _ in rows) / n - sum(a for _, a, _ in rows) / n)
    worst = by["worst case"]
    assert worst.perturbed == pytest.approx(sum(a and b for _, a, b in rows) / n)
    assert worst.perturbed <= min(by["vision.blur"].perturbed, by["language.synonym"].perturbed)
    for d in by.values():
        assert d.n == n and d.lo - 1e-12 <= d.drop <= d.hi + 1e-12


def test_errors_and_unpaired_identities_are_left_out():
    results = [rec("none", 0, OK), rec("none", 1, OK), rec("none", 2, ERR),
               rec("vision.blur@1", 0, FAIL), rec("vision.blur@1", 1, ERR), rec("vision.blur@1", 2, FAIL),
               rec("vision.blur@1", 3, FAIL)]
    (d,) = [x for x in degradation(results, reps=100) if x.perturbation == "vision.blur"]
    assert (d.n, d.clean, d.perturbed, d.drop) == (1, 1.0, 0.0, 1.0)


def test_robustness_curve_starts_at_clean_on_the_same_identities():
    results = [rec("none", i, OK if i < 8 else FAIL) for i in range(10)]
    results += [rec(f"vision.blur@{s}", i, OK if i < 8 - 2 * s else FAIL) for s in (1, 3) for i in range(10)]
    results += [rec("dynamics.latency@2", i, FAIL) for i in range(4)]  # ran on 4 identities only
    pts = {(c.perturbation, c.severity): c for c in robustness_curves(results)}
    assert [pts[("vision.blur", s)].success for s in (0, 1, 3)] == [0.8, 0.6, 0.2]
    assert pts[("dynamics.latency", 0)].n == 4 and pts[("dynamics.latency", 0)].success == 1.0
    for c in pts.values():
        assert 0 <= c.lo <= c.success <= c.hi <= 1
