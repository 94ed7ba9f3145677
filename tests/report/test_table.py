from vla_bench.report import render_success_table
from vla_bench.types import EpisodeResult, EpisodeSpec, EpisodeStatus


def test_table_counts_rates_and_keeps_errors_apart():
    rows = [EpisodeResult(EpisodeSpec("mt10", "reach-v3", i), "a", EpisodeStatus.SUCCESS if i < 3 else
                          EpisodeStatus.TIMEOUT, 5) for i in range(4)]
    rows.append(EpisodeResult(EpisodeSpec("mt10", "reach-v3", 4), "a", EpisodeStatus.ERROR, 0))
    text = render_success_table(rows)
    assert "reach-v3" in text and " 75.0 [" in text and "n=4" in text
    assert "ERROR (not counted)" in text


def test_perturbed_and_clean_episodes_never_share_a_cell():
    clean = [EpisodeResult(EpisodeSpec("mt10", "reach-v3", i), "p", EpisodeStatus.SUCCESS, 5) for i in range(10)]
    blurred = [EpisodeResult(EpisodeSpec("mt10", "reach-v3", i, "vision.blur@3"), "p", EpisodeStatus.FAILURE, 5)
               for i in range(10)]
    text = render_success_table(clean + blurred)
    assert "50.0" not in text and "n=20" not in text
    assert text.count("100.0 [") == 2 and text.count("  0.0 [") == 2  # task row and all-episodes row of each
    assert text.index("mt10 [vision.blur@3]") > text.index("mt10 ")  # clean first, as the report orders them
