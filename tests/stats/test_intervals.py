import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from vla_bench.stats.intervals import wilson


def test_worked_numbers():
    assert wilson(475, 500) == pytest.approx((0.927, 0.966), abs=5e-4)
    assert wilson(45, 50) == pytest.approx((0.786, 0.957), abs=5e-4)
    assert wilson(12, 24) == pytest.approx((0.314, 0.686), abs=5e-4)
    assert wilson(24, 24)[1] == 1.0


@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_matches_statsmodels_and_contains_estimate(kn, conf):
    k, n = kn
    lo, hi = wilson(k, n, conf)
    ref = proportion_confint(k, n, alpha=1 - conf, method="wilson")
    assert (lo, hi) == pytest.approx(ref, abs=1e-9)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_coverage_by_simulation():
    rng = np.random.default_rng(0)
    for p, n in [(0.5, 50), (0.9, 100), (0.97, 500)]:
        ks = rng.binomial(n, p, size=4000)
        covered = np.mean([lo <= p <= hi for lo, hi in (wilson(int(k), n) for k in ks)])
        assert 0.93 <= covered <= 0.975, (p, n, covered)


def test_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson(5, 3)
