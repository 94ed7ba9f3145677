"""The runner end to end on the scripted env: records, retries, worker pools, kill -9 and resume."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vla_bench import records
from vla_bench.config import parse_run_config
from vla_bench.plan import plan
from vla_bench.runner import RunDirError, run


def config(env=None, episodes=3, workers=1, **extra):
    data = {
        "name": "t",
        "suites": [{"suite": "scripted", "episodes_per_task": episodes, "env": env or {}}],
        "policies": ["scripted_expert", {"type": "scripted_expert", "name": "weak", "kwargs": {"gain": 0.3}}],
        "workers": workers,
        **extra,
    }
    return parse_run_config(data, "test")


def outcomes(results):
    return {(r.policy, r.spec.key): (r.status.value, r.steps) for r in results}


def test_inprocess_run_records_every_planned_identity(tmp_path):
    cfg = config()
    summary = run(cfg, tmp_path / "run", progress=False)
    planned = {(cfg.policies[i.policy_index].display_name, i.spec.key) for i in plan(cfg)}
    assert set(outcomes(summary.results)) == planned and summary.errors == 0
    manifest = records.read_manifest(tmp_path / "run")
    assert manifest["planned_episodes"] == len(planned) == 18
    assert manifest["config_hash"] and manifest["simulators"] == {"scripted": "1"}
    assert "numpy" in manifest["packages"]
    rates = {p: sum(r.success for r in summary.results if r.policy == p) for p in ("scripted_expert", "weak")}
    assert rates["scripted_expert"] == 9 and rates["weak"] < 9  # the weak gain runs out of steps


def test_pool_of_workers_gives_the_same_outcomes(tmp_path):
    seq = run(config(), tmp_path / "a", progress=False)
    pool = run(config(workers=2), tmp_path / "b", progress=False)
    assert outcomes(seq.results) == outcomes(pool.results)
    assert sorted(p.name for p in (tmp_path / "b" / "logs").iterdir()) == ["worker-0.log", "worker-1.log"]


@pytest.mark.parametrize("workers", [1, 2])
def test_persistent_crash_is_error_retried_once_and_never_a_failure(tmp_path, workers):
    summary = run(config(env={"crash_init_ids": [1]}, workers=workers), tmp_path / "r", progress=False)
    attempts = list(records.iter_attempts(tmp_path / "r"))
    errs = [a for a in attempts if a.status.value == "error"]
    assert len(errs) == 2 * 3 * 2  # 3 tasks x 2 policies, each tried twice
    assert {a.attempt for a in errs} == {0, 1}
    assert all("scripted crash at init_id 1" in a.error for a in errs)
    final_errors = [r for r in summary.results if r.status.value == "error"]
    assert len(final_errors) == 6 and all(r.spec.init_id == 1 for r in final_errors)


def test_transient_crash_is_retried_in_a_fresh_env_and_counted(tmp_path):
    flaky = tmp_path / "flaky"
    flaky.mkdir()
    summary = run(config(env={"flaky_dir": str(flaky)}, episodes=1), tmp_path / "r", progress=False)
    attempts = list(records.iter_attempts(tmp_path / "r"))
    assert [a.status.value for a in attempts].count("error") == 3  # first touch of each task crashes once
    assert all(r.status.counted for r in summary.results)


def test_a_dying_worker_process_becomes_error_and_is_replaced(tmp_path):
    summary = run(config(env={"die_init_ids": [2]}, workers=2), tmp_path / "r", progress=False)
    died = [r for r in summary.results if r.status.value == "error"]
    assert {r.spec.init_id for r in died} == {2}
    assert all("died (exit code 3)" in r.error for r in died)
    assert sum(r.status.counted for r in summary.results) == 18 - 6


def test_existing_run_needs_resume_and_same_config(tmp_path):
    run(config(), tmp_path / "r", progress=False)
    with pytest.raises(RunDirError, match="--resume"):
        run(config(), tmp_path / "r", progress=False)
    with pytest.raises(RunDirError, match="different config"):
        run(config(episodes=4), tmp_path / "r", resume=True, progress=False)
    again = run(config(), tmp_path / "r", resume=True, progress=False)
    assert again.executed == 0 and again.skipped == 18


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_then_resume_holds_exactly_the_planned_identities(tmp_path, workers, kill_mid_run_then_resume):
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "name": "killme",
        "suites": [{"suite": "scripted", "episodes_per_task": 6, "env": {"step_delay_s": 0.01}}],
        "policies": ["scripted_expert"],
        "workers": workers,
    }))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "vla_bench.cli", "eval", str(cfg_path), "--output", str(out), "--no-progress"]
    done, keys = kill_mid_run_then_resume(cmd, out, planned=18)
    assert len(keys) == len(set(keys)) == 18
    assert "reach-left" in done.stdout


def test_config_error_writes_nothing(tmp_path):
    cfg_path = tmp_path / "bad.yaml"
    cfg_path.write_text(yaml.safe_dump({"suites": [{"suite": "scripted", "episodes_per_task": -1}],
                                        "policies": ["scripted_expert"]}))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "vla_bench.cli", "eval", str(cfg_path), "--output", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert f"{cfg_path}: suites[0].episodes_per_task: Input should be greater than 0" in done.stderr
    assert not Path(out).exists()


@pytest.mark.parametrize("design", [["--sequential", "anytime"], ["--plan-rates", "0.8", "0.6"]])
def test_stop_when_decided_ends_the_run_early_with_a_valid_decision(tmp_path, design):
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "name": "seq", "suites": [{"suite": "scripted", "episodes_per_task": 20}],
        "policies": ["scripted_expert", "zero"],
    }))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "vla_bench.cli", "eval", str(cfg_path), "--output", str(out),
                           "--no-progress", "--stop-when-decided", *design], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    n = (out / records.EPISODES).read_text().count("\n")
    assert 10 <= n < 120  # decided after a handful of discordant pairs, far before the 120 planned
    assert "scripted_expert is better" in done.stdout
    again = subprocess.run([sys.executable, "-m", "vla_bench.cli", "eval", str(cfg_path), "--output", str(out),
                            "--no-progress", "--resume", "--stop-when-decided", *design],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr  # the records on disk already decide it: nothing more runs
    assert (out / records.EPISODES).read_text().count("\n") == n and "scripted_expert is better" in again.stdout


def test_planned_design_needs_its_rates(tmp_path, capsys):
    from vla_bench.cli import main

    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump({"suites": [{"suite": "scripted"}], "policies": ["scripted_expert", "zero"]}))
    assert main(["eval", str(cfg_path), "--output", str(tmp_path / "o"), "--stop-when-decided"]) == 2
    assert "--plan-rates" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_a_hung_episode_is_killed_and_recorded_as_error(tmp_path):
    cfg = config(env={"step_delay_s": 5.0}, episodes=1, workers=2, episode_timeout_s=1.0)
    cfg = cfg.model_copy(update={"suites": (cfg.suites[0].model_copy(update={"tasks": ("reach-up",)}),),
                                 "max_attempts": 1})
    summary = run(cfg, tmp_path / "r", progress=False)
    assert len(summary.results) == 2
    assert all(r.status.value == "error" and "no result within 1 s" in r.error for r in summary.results)
