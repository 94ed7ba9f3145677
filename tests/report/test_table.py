from vla_bench.report import render_success_table
from vla_bench.types import EpisodeResult, EpisodeSpec, EpisodeStatus


def test_table_counts_rates_and_keeps_errors_apart():
    rows = [EpisodeResult(EpisodeSpec("mt10", "reach-v3", i), "a", EpisodeStatus.SUCCESS if i < 3 else
                          EpisodeStatus.TIMEOUT, 5) for i in range(4)]
    rows.append(EpisodeResult(EpisodeSpec("mt10", "reach-v3", 4), "a", EpisodeStatus.ERROR, 0))
    text = render_success_table(rows)
    assert "reach-v3" in text and " 75.0 [" in text and "n=4" in text
    assert "ERROR (not counted)" in text
