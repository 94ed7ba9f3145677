"""A chained suite end to end: runner, records with subtasks, and a report laid out from run.json."""

from vla_bench import records
from vla_bench.cli import main
from vla_bench.config import parse_run_config
from vla_bench.runner import run


def test_chain_suite_runs_records_subtasks_and_reports_chain_rates(tmp_path):
    cfg = parse_run_config({
        "suites": [{"suite": "scripted_chain"}],
        "policies": ["scripted_expert", {"type": "scripted_expert", "name": "weak", "kwargs": {"gain": 0.12}}],
    }, "test")
    summary = run(cfg, tmp_path / "r", progress=False)
    assert summary.errors == 0 and len(summary.results) == 12
    manifest = records.read_manifest(tmp_path / "r")
    assert manifest["rollouts"] == {"scripted_chain": "chain"}
    assert manifest["report_layouts"] == {"scripted_chain": "calvin_chain"}
    expert = [r for r in summary.results if r.policy == "scripted_expert"]
    assert all(r.success and r.chain_length == 3 for r in expert)
    weak = [r for r in summary.results if r.policy == "weak"]
    assert any(r.chain_length < 3 for r in weak)
    for r in weak:  # the chain stops at the first failed subtask
        assert [s.success for s in r.subtasks] == [True] * r.chain_length + [False] * (len(r.subtasks) - r.chain_length)
        assert len(r.subtasks) == min(r.chain_length + 1, 3)
    out = tmp_path / "report.md"
    assert main(["report", str(tmp_path / "r"), "--output", str(out)]) == 0
    text = out.read_text()
    assert "CALVIN" in text and "Avg. Len." in text and "scripted_expert" in text
