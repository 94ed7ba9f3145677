"""Bad input as a user meets it: one clear line, the right exit code, and nothing written or lost."""

import shutil
from pathlib import Path

import pytest
import yaml

from vla_bench import records
from vla_bench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp_path, suite=None, policies=None, **extra):
    data = {"name": "t", "suites": [{"suite": "scripted", "episodes_per_task": 1, **(suite or {})}],
            "policies": policies or ["scripted_expert", {"type": "scripted_expert", "name": "weak",
                                                         "kwargs": {"gain": 0.3}}], **extra}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def one_line(err):
    lines = [x for x in err.strip().splitlines() if x]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# 5. preflight: nothing is written before every policy is built and every value checked

def test_preflight_missing_checkpoint_writes_nothing(tmp_path, capsys):
    cfg = write_config(tmp_path, policies=[{"type": "vla", "kwargs": {"checkpoint": str(tmp_path / "nope"),
                                                                      "decoder": "one_step"}}])
    assert main(["eval", str(cfg), "--output", str(tmp_path / "out"), "--no-progress"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "policies[0]" in line and str(tmp_path / "nope") in line
    assert not (tmp_path / "out").exists()


def test_preflight_truncated_safetensors_names_the_file(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(ROOT / "checkpoints" / "mt10", ckpt, ignore=shutil.ignore_patterns("train_state.pt"))
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    cfg = write_config(tmp_path, policies=[{"type": "vla", "kwargs": {"checkpoint": str(ckpt), "decoder": "one_step"}}])
    assert main(["eval", str(cfg), "--output", str(tmp_path / "out"), "--no-progress"]) == 2
    assert str(weights) in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("suite,needle", [
    ({"init_ids": [3, 25]}, "suites[0].init_ids: init id 25 is out of range"),
    ({"env": {"image_size": [0, 32]}}, "suites[0].env.image_size"),
    ({"episodes_per_task": 10**7}, "suites[0].episodes_per_task"),
])
def test_bad_values_stop_before_the_run(tmp_path, capsys, suite, needle):
    cfg = write_config(tmp_path, suite=suite)
    assert main(["eval", str(cfg), "--output", str(tmp_path / "out"), "--no-progress"]) == 2
    assert needle in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


# 6. exit codes that tell the truth

def test_episodes_that_stay_error_exit_3_and_say_how_many(tmp_path, capsys):
    cfg = write_config(tmp_path, suite={"init_ids": [0, 1], "tasks": ["reach-up"], "env": {"crash_init_ids": [1]}})
    assert main(["eval", str(cfg), "--output", str(tmp_path / "out"), "--no-progress"]) == 3
    err = capsys.readouterr().err
    assert "2 of 4 episode(s) ended in ERROR after retries" in err


def test_a_run_where_everything_errored_says_so_first(tmp_path, capsys):
    cfg = write_config(tmp_path, suite={"init_ids": [0], "env": {"crash_init_ids": [0]}})
    assert main(["eval", str(cfg), "--output", str(tmp_path / "out"), "--no-progress"]) == 3
    out = capsys.readouterr()
    assert out.err.startswith("every episode of this run ended in ERROR (6); nothing was measured")


# 7. damaged or foreign files: the file, the line and what is wrong

@pytest.fixture()
def finished_run(tmp_path):
    cfg = write_config(tmp_path, suite={"episodes_per_task": 2})
    assert main(["eval", str(cfg), "--output", str(tmp_path / "run"), "--no-progress"]) == 0
    return cfg, tmp_path / "run"


@pytest.mark.parametrize("line,what", [
    (b"garbage\n", "not JSON"),
    (b"\xff\xfe\xfa\n", "not UTF-8 text"),
    (b"[1, 2]\n", "expected a JSON object, got list"),
    (b'{"policy": "x", "status": "success", "steps": 1}\n', "missing key 'spec'"),
    (b'{"spec": {"suite": "s", "task": "t", "init_id": 0}, "policy": "x", "status": "great", "steps": 1}\n',
     "unknown status 'great'"),
    (b'{"spec": {"suite": "s", "task": "t", "init_id": 0}, "policy": "x", "status": "success", "steps": "many"}\n',
     "malformed record"),
])
def test_bad_record_lines_are_named_and_can_be_skipped(finished_run, tmp_path, capsys, line, what):
    cfg, run = finished_run
    episodes = run / records.EPISODES
    lines = episodes.read_bytes().splitlines(keepends=True)
    episodes.write_bytes(b"".join(lines[:3]) + line + b"".join(lines[3:]))
    capsys.readouterr()
    assert main(["report", str(run)]) == 2
    err = one_line(capsys.readouterr().err)
    assert f"{episodes}:4: {what}" in err and "--skip-bad-lines" in err
    assert main(["report", str(run), "--skip-bad-lines"]) == 0
    assert "skipped 1 unreadable line(s)" in capsys.readouterr().err
    assert main(["compare", str(run), str(run)]) == 2
    assert f"{episodes}:4:" in one_line(capsys.readouterr().err)
    assert main(["eval", str(cfg), "--output", str(run), "--resume", "--no-progress"]) == 2
    assert f"{episodes}:4:" in one_line(capsys.readouterr().err)
    assert main(["eval", str(cfg), "--output", str(run), "--resume", "--no-progress", "--skip-bad-lines"]) == 0


def test_garbage_or_misplaced_run_json(finished_run, capsys):
    _, run = finished_run
    manifest = run / records.MANIFEST
    manifest.write_text("{ nope")
    assert main(["report", str(run)]) == 2
    assert f"{manifest}: not valid JSON" in one_line(capsys.readouterr().err)
    manifest.unlink()
    manifest.mkdir()
    assert main(["report", str(run)]) == 2
    assert f"{manifest}: is a directory, expected a file" in one_line(capsys.readouterr().err)


def test_records_without_run_json_are_adopted_only_if_they_belong(finished_run, tmp_path, capsys):
    cfg, run = finished_run
    (run / records.MANIFEST).unlink()
    before = (run / records.EPISODES).read_text()
    assert main(["eval", str(cfg), "--output", str(run), "--no-progress"]) == 2
    assert "holds episode records but no run.json" in one_line(capsys.readouterr().err)
    foreign = tmp_path / "foreign.yaml"
    foreign.write_text(yaml.safe_dump({"name": "t", "seed": 5, "suites": [{"suite": "scripted", "episodes_per_task": 2}],
                                       "policies": ["scripted_expert", {"type": "scripted_expert", "name": "weak",
                                                                        "kwargs": {"gain": 0.3}}]}))
    assert main(["eval", str(foreign), "--output", str(run), "--resume", "--no-progress"]) == 2
    assert "are not episodes of this config" in one_line(capsys.readouterr().err)
    assert (run / records.EPISODES).read_text() == before and not (run / records.MANIFEST).exists()
    assert main(["eval", str(cfg), "--output", str(run), "--resume", "--no-progress"]) == 0
    manifest = records.read_manifest(run)
    assert manifest["adopted_records"] == before.count("\n") and (run / records.EPISODES).read_text() == before


# 8. unwritable outputs

@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_unwritable_output_is_one_line(tmp_path, capsys, where):
    cfg = write_config(tmp_path)
    (tmp_path / "afile").write_text("x")
    out = {"under_a_file": tmp_path / "afile" / "run", "proc": Path("/proc/vla-bench-run")}[where]
    assert main(["eval", str(cfg), "--output", str(out), "--no-progress"]) == 2
    assert "cannot write the run directory" in one_line(capsys.readouterr().err)


def test_unwritable_report_output(finished_run, tmp_path, capsys):
    _, run = finished_run
    capsys.readouterr()
    assert main(["report", str(run), "--output", str(tmp_path / "nodir" / "x" / "r.md")]) == 2
    assert "cannot write" in one_line(capsys.readouterr().err)


# 10. --policies by the name tables show; unknown names are errors

def test_policies_and_tasks_select_by_shown_name(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert main(["eval", str(cfg), "--output", str(tmp_path / "a"), "--no-progress", "--policies", "weak",
                 "--tasks", "reach-up"]) == 0
    results = records.load_results([tmp_path / "a"])
    assert {r.policy for r in results} == {"weak"} and {r.spec.task for r in results} == {"reach-up"}
    assert main(["eval", str(cfg), "--output", str(tmp_path / "b"), "--policies", "wek"]) == 2
    assert "no policy named 'wek'; this config has: scripted_expert, weak" in one_line(capsys.readouterr().err)
    assert main(["eval", str(cfg), "--output", str(tmp_path / "b"), "--tasks", "reach-down"]) == 2
    assert "no task named 'reach-down'; the suites have: reach-left, reach-right, reach-up" in \
        one_line(capsys.readouterr().err)
    assert not (tmp_path / "b").exists()


def test_quickstart_policies_are_selected_by_their_table_names():
    from vla_bench.commands.eval import select
    from vla_bench.config import load_run_config

    cfg = load_run_config(ROOT / "configs" / "quickstart.yaml")
    chosen = select(cfg, ["vla-jd3p", "oracle"], None, "quickstart.yaml")
    assert [p.display_name for p in chosen.policies] == ["oracle", "vla-jd3p"]


def test_a_suite_interpreter_that_is_missing_or_broken_is_one_line(tmp_path, capsys):
    cfg = write_config(tmp_path, suite={"python": str(tmp_path / "no-such-python")})
    assert main(["eval", str(cfg), "--output", str(tmp_path / "a"), "--no-progress"]) == 2
    assert "suites[0].python: no interpreter at" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "a").exists()
    cfg = write_config(tmp_path, suite={"python": "/bin/true"})  # starts, then never answers as a worker
    assert main(["eval", str(cfg), "--output", str(tmp_path / "b"), "--no-progress"]) == 2
    assert "env worker under /bin/true failed to start; see" in one_line(capsys.readouterr().err)
