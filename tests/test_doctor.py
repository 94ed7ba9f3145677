"""vla-bench doctor: registered, quick without LIBERO, and it names what drifted."""

import importlib.util
import json

import pytest

from vla_bench.cli import build_parser, main

HAS_LIBERO = importlib.util.find_spec("libero") is not None
TASK0 = "pick_up_the_black_bowl_between_the_plate_and_the_ramekin_and_place_it_on_the_plate"


def test_doctor_is_a_command():
    args = build_parser().parse_args(["doctor", "--suite", "libero_spatial", "--sample", "2"])
    assert args.command == "doctor" and args.suite == ["libero_spatial"] and args.sample == 2
    with pytest.raises(SystemExit):
        build_parser().parse_args(["doctor", "--suite", "libero_long"])


@pytest.mark.skipif(HAS_LIBERO, reason="checks the message shown where LIBERO is absent")
def test_doctor_without_libero_says_so(capsys):
    assert main(["doctor"]) == 0
    assert "LIBERO: not installed" in capsys.readouterr().out
    assert main(["doctor", "--suite", "libero_goal"]) == 1


def test_golden_files_are_well_formed():
    from envs import libero_drift
    from envs.libero_presets import task_table

    present = [s for s in ("libero_spatial", "libero_object", "libero_goal", "libero_10")
               if libero_drift.golden_path(s).exists()]
    assert "libero_spatial" in present
    for s in present:
        header, records = libero_drift.read_golden(s)
        assert header["preset"] == "openvla" and header["settle_steps"] == 10
        assert header["versions"]["mujoco"] == libero_drift.PINNED["mujoco"]
        names = {t.name for t in task_table()[s]}
        assert records and all(t in names and 0 <= i < 50 for t, i in records)
        for rec in list(records.values())[:5]:
            assert libero_drift.state_hash(rec["qpos"], rec["qvel"]) == rec["hash"]
    _, spatial = libero_drift.read_golden("libero_spatial")
    assert {(TASK0, i) for i in range(10)} <= set(spatial)


def test_compare_names_the_joint_that_moved():
    from envs.libero_drift import compare

    g = {"qpos": [0.0, 0.1, 0.2], "qvel": [0.0, 0.0, 0.0]}
    assert compare(g, {"qpos": [0.0, 0.1002, 0.2], "qvel": [0.0, 0.001, 0.0]}) is None
    why = compare(g, {"qpos": [0.0, 0.1, 0.25], "qvel": [0.0, 0.0, 0.0]}, ["a", "b", "bowl_joint[2]"])
    assert why is not None and "bowl_joint[2] +0.2000 -> +0.2500" in why
    assert "state size changed" in compare(g, {"qpos": [0.0], "qvel": [0.0]})


def test_version_problems_flag_known_bad_mujoco():
    from envs.libero_drift import version_problems

    ok = {"libero": "0.1.1", "robosuite": "1.4.0", "mujoco": "3.3.0", "numpy": "2.4.6"}
    assert version_problems(ok) == []
    bad = version_problems({**ok, "mujoco": "3.4.0"})
    assert any("known to change LIBERO" in p for p in bad) and any("3.3.0 pinned" in p for p in bad)


@pytest.mark.sim
@pytest.mark.skipif(not HAS_LIBERO, reason="libero is not installed")
def test_doctor_passes_on_the_pinned_stack_and_reports_drift(tmp_path, monkeypatch, capsys):
    from envs import libero_assets, libero_drift

    try:
        libero_assets.check_assets()
    except libero_assets.AssetError as exc:
        pytest.skip(str(exc))
    assert main(["doctor", "--suite", "libero_spatial", "--init-ids", "0", "--tasks", TASK0]) == 0
    out = capsys.readouterr().out
    assert "585 files, sizes and sha256 match" in out and "no drift found" in out

    # a golden file whose bowl sits 5 cm elsewhere: the doctor names the identity and the joint
    header, records = libero_drift.read_golden("libero_spatial")
    rec = dict(records[(TASK0, 0)])
    qpos = list(rec["qpos"])
    qpos[9] += 0.05  # first object joint after the 9 robot joints
    rec["qpos"] = qpos
    monkeypatch.setattr(libero_drift, "GOLDEN_DIR", tmp_path)
    (tmp_path / "libero_spatial.jsonl").write_text(json.dumps({"header": header}) + "\n" + json.dumps(rec) + "\n")
    assert main(["doctor", "--suite", "libero_spatial"]) == 1
    out = capsys.readouterr().out
    assert f"DRIFT libero_spatial/{TASK0}/init 0: max |dqpos| 0.0500" in out
    assert "DRIFT or problems found" in out


def test_a_state_that_differs_from_itself_is_unstable_not_drift(monkeypatch):
    """Drift reproduces; LIBERO's own non-determinism (a different state on each reset) is reported apart."""
    from envs import libero_drift

    golden = {"qpos": [0.0, 0.5], "qvel": [0.0, 0.0]}
    calls = {"n": 0}

    class Fake:
        def __init__(self, suite, preset):
            pass

        def __call__(self, task, init_id):
            calls["n"] += 1
            shift = 0.1 * calls["n"] if task == "wobbly" else 0.2  # "steady" drifts the same way each time
            return {"task": task, "init_id": init_id, "hash": "x", "qpos": [0.0, 0.5 + shift], "qvel": [0.0, 0.0]}

        def joint_of_qpos(self):
            return ["robot", "bowl"]

        def close(self):
            pass

    monkeypatch.setattr(libero_drift, "SettledStates", Fake)
    monkeypatch.setattr(libero_drift, "read_golden", lambda s: ({"preset": "openvla"}, {
        ("wobbly", 3): {**golden, "hash": "g"}, ("steady", 3): {**golden, "hash": "g"}}))
    rep = libero_drift.check_suite_drift("libero_spatial")
    assert rep.checked == 2 and not rep.ok
    assert len(rep.drifted) == 1 and rep.drifted[0].startswith("libero_spatial/steady/init 3: max |dqpos| 0.2000: bowl")
    assert len(rep.unstable) == 1 and rep.unstable[0].startswith("libero_spatial/wobbly/init 3")
