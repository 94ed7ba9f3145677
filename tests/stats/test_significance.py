import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from vla_bench.stats.aggregate import iqm, probability_of_improvement
from vla_bench.stats.bootstrap import paired_bootstrap_diff, stratified_bootstrap_mean
from vla_bench.stats.chains import chain_lengths, chain_metrics, subtask_rates
from vla_bench.stats.intervals import clopper_pearson, interval
from vla_bench.stats.samplesize import episodes_paired, episodes_unpaired
from vla_bench.stats.sequential import SequentialPairedTest
from vla_bench.stats.significance import PairedCounts, barnard, holm, mcnemar_exact


@given(st.integers(0, 60), st.integers(0, 60))
def test_mcnemar_matches_statsmodels(b, c):
    ref = mcnemar([[10, b], [c, 7]], exact=True).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(ref, abs=1e-12)


def test_barnard_worked_numbers():
    # Samples are the table's columns (scipy fixes column sums). The figures 0.113 and 0.057 quoted in
    # some notes come from the transposed table, which fixes the success/failure totals instead.
    assert barnard(475, 500, 485, 500) == pytest.approx(0.1091, abs=5e-4)  # 95% vs 97%: not significant
    assert barnard(40, 50, 47, 50) == pytest.approx(0.0417, abs=5e-4)
    assert barnard(40, 50, 47, 50) == barnard(47, 50, 40, 50)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_matches_statsmodels(p):
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), abs=1e-12)


def test_clopper_pearson_matches_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    for k, n in [(0, 10), (8, 10), (475, 500), (24, 24)]:
        assert clopper_pearson(k, n) == pytest.approx(proportion_confint(k, n, method="beta"), abs=1e-9)
    with pytest.raises(ValueError, match="unknown interval method"):
        interval(1, 2, "wald")


def test_paired_counts():
    c = PairedCounts.from_outcomes([1, 1, 0, 0, 1], [1, 0, 1, 0, 0])
    assert (c.both, c.only_a, c.only_b, c.neither, c.n) == (1, 2, 1, 1, 5)


def test_stratified_bootstrap_is_seeded_and_brackets_the_mean():
    data = {"t1": [1] * 45 + [0] * 5, "t2": [1] * 30 + [0] * 20}
    a = stratified_bootstrap_mean(data, reps=4000, seed=3)
    assert a == stratified_bootstrap_mean(data, reps=4000, seed=3)
    assert a[0] == pytest.approx(0.75) and a[1] < 0.75 < a[2] and a[2] - a[1] < 0.2
    d = paired_bootstrap_diff({"t": [1] * 40 + [0] * 10}, {"t": [1] * 30 + [0] * 20}, reps=2000)
    assert d[0] == pytest.approx(0.2) and d[1] > 0


def test_iqm_and_probability_of_improvement_definitions():
    assert iqm([0, 1, 2, 3, 4, 5, 6, 7]) == pytest.approx(3.5)  # mean of 2..5
    x = np.array([[0.9, 0.5], [0.8, 0.6]])
    y = np.array([[0.7, 0.5], [0.6, 0.4]])
    # task 0: all of x beat all of y -> 1.0; task 1: (0.5 vs 0.5 tie, 0.5>0.4, 0.6>0.5, 0.6>0.4) -> 0.875
    assert probability_of_improvement(x, y) == pytest.approx((1.0 + 0.875) / 2)
    assert probability_of_improvement(x, x) == pytest.approx(0.5)


def test_calvin_chain_metrics():
    chains = [[1, 1, 1, 1, 1], [1, 1, 0, 1, 1], [0, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert chain_lengths(chains).tolist() == [5, 2, 0, 3]
    m = chain_metrics(chains, reps=2000)
    assert m["avg_len"][0] == pytest.approx(2.5)
    assert [m[f"{i}/5"][0] for i in range(1, 6)] == [0.75, 0.75, 0.5, 0.25, 0.25]
    assert m["avg_len"][1] <= 2.5 <= m["avg_len"][2]
    names = [["a", "b", "c", "d", "e"]] * 4
    assert subtask_rates(chains, names)["c"] == (2, 3)


def test_sample_sizes():
    n = episodes_unpaired(0.95, 0.97)
    assert n == 1506  # 500 per policy is far from enough for 2 points
    assert episodes_paired(0.02, 0.04) < n


def test_sample_size_gives_the_promised_power_by_simulation():
    rng = np.random.default_rng(1)
    n = episodes_unpaired(0.6, 0.8)
    hits = 0
    for _ in range(400):
        k1, k2 = rng.binomial(n, 0.6), rng.binomial(n, 0.8)
        p = (k1 + k2) / (2 * n)
        z = abs(k1 - k2) / n / np.sqrt(2 * p * (1 - p) / n)
        hits += z > 1.96
    assert 0.72 < hits / 400 < 0.9


def test_sequential_test_type_one_error_by_simulation():
    rng = np.random.default_rng(0)
    false_alarms = 0
    for _ in range(600):  # equal policies, 500 paired episodes each, looking after every pair
        t = SequentialPairedTest(alpha=0.05)
        a, b = rng.random(500) < 0.7, rng.random(500) < 0.7
        false_alarms += any(t.update(x, y) for x, y in zip(a, b))
    assert false_alarms / 600 <= 0.05


def test_sequential_test_decides_a_real_difference_early():
    rng = np.random.default_rng(0)
    t = SequentialPairedTest(alpha=0.05)
    a, b = rng.random(500) < 0.9, rng.random(500) < 0.5
    stop = next(i for i, (x, y) in enumerate(zip(a, b)) if t.update(x, y))
    assert stop < 150 and t.better == "a"
