import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vla_bench.cli import main
from vla_bench.records import load_results, read_manifest
from vla_bench.report.model import build_tables, layouts_from_manifests

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def tables(*runs):
    """Tables laid out as the runs' run.json say (report_layouts), as `vla-bench report` does."""
    return build_tables(load_results(runs), layouts=layouts_from_manifests(read_manifest(r) for r in runs))


def report(runs, fmt, tmp_path, name="out"):
    out = tmp_path / f"{name}.{fmt}"
    assert main(["report", *map(str, runs), "--format", fmt, "--output", str(out)]) == 0
    return out.read_text()


@pytest.mark.parametrize("fmt", ["md", "latex", "csv"])
def test_reports_match_golden_files_and_are_byte_stable(synthetic_runs, tmp_path, fmt):
    runs = [synthetic_runs[k] for k in ("a", "b", "calvin", "mw")]
    text = report(runs, fmt, tmp_path)
    assert text == report(runs, fmt, tmp_path, "again")
    golden = GOLDEN / f"report.{fmt}"
    if os.environ.get("VLA_BENCH_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_libero_layout_merges_shards_and_marks_only_significant_best(synthetic_runs):
    results = load_results([synthetic_runs["a"], synthetic_runs["b"]])
    assert len(results) == 4 * 2 * 25 * 2  # shards merged, the retried identity counted once
    (table,) = tables(synthetic_runs["a"], synthetic_runs["b"])
    assert table.title == "LIBERO" and table.columns == ["Spatial", "Object", "Goal", "Long", "Avg"]
    assert table.cells[("strong", "Spatial")].n == 50
    assert table.cells[("strong", "Spatial")].best  # 0.95 vs 0.6 on 50 paired episodes
    assert not table.cells[("strong", "Object")].best and not table.cells[("weak", "Object")].best  # 0.9 vs 0.85
    assert table.errors == {}  # the ERROR attempt was retried successfully


def test_calvin_layout(synthetic_runs):
    (table,) = tables(synthetic_runs["calvin"])
    assert table.columns == ["1", "2", "3", "4", "5", "Avg. Len."]
    strong = [table.cells[("strong", str(i))].value for i in range(1, 6)]
    assert strong == sorted(strong, reverse=True)
    assert table.cells[("strong", "Avg. Len.")].value > table.cells[("weak", "Avg. Len.")].value


def test_perturbed_results_get_their_own_table(synthetic_runs):
    titles = [t.title for t in tables(synthetic_runs["mw"])]
    assert titles == ["mt10", "mt10 [vision.blur@3]", "Degradation vs clean: strong"]
    deg = tables(synthetic_runs["mw"])[-1]
    assert deg.rows == ["vision.blur", "worst case"] and deg.columns == ["3"]
    cell = deg.cells[("vision.blur", "3")]
    assert cell.n == 10 and cell.value == pytest.approx(-0.4) and cell.lo <= -0.4 <= cell.hi


def test_layout_comes_from_run_json_not_from_the_suite_name(synthetic_runs):
    results = load_results([synthetic_runs["calvin"]])
    assert [t.title for t in build_tables(results, layouts={"calvin_abc_d": "per_task"})] == ["calvin_abc_d"]
    assert [t.title for t in build_tables(results, layouts={"calvin_abc_d": "calvin_chain"})] == ["CALVIN"]
    renamed = [dataclasses.replace(r, spec=dataclasses.replace(r.spec, suite="abc_d_chains")) for r in results]
    (table,) = build_tables(renamed, layouts={"abc_d_chains": "calvin_chain"})
    assert table.title == "CALVIN" and table.columns[-1] == "Avg. Len."


def test_compare_prints_paired_summary(synthetic_runs, capsys):
    assert main(["compare", str(synthetic_runs["mw"]), str(synthetic_runs["mw"]), "--policy-a", "strong",
                 "--policy-b", "slow"]) == 0
    out = capsys.readouterr().out
    assert "shared identities: 10" in out and "only A 5, only B 0" in out
    assert re.search(r"exact McNemar p = 0\.0625", out)


def test_report_errors_name_the_problem(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "is not a run directory" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (.ci/run installs Debian's chromium)")
def test_html_report_renders_in_headless_chromium(synthetic_runs, tmp_path):
    html_text = report([synthetic_runs[k] for k in ("a", "b", "calvin", "mw")], "html", tmp_path)
    assert not re.search(r"(src|href)=\"(https?:)?//", html_text)  # self-contained
    page = tmp_path / "out.html"
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chr'}",
         "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    assert dom.count("<table>") == 5 and "LIBERO" in dom and "Avg. Len." in dom
    # the page, inline plots included, paints into a non-trivial screenshot
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chr2'}",
         "--window-size=1200,3000", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120,
    )
    assert shot.stat().st_size > 20_000
    assert dom.count("data:image/png;base64,") >= 6
