"""LIBERO adapter: protocol constants against the reference, suites, assets, and real episodes.

The data tests run everywhere; the ``sim`` tests need LIBERO with its assets (skipped otherwise).
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from envs import libero_assets, libero_presets
from envs.libero_presets import PRESETS, SUITE_NAMES, make_suite, task_table
from vla_bench import registries

DATA = Path(libero_presets.__file__).parent / "data"
REFERENCE = json.loads((DATA / "libero_protocol_reference.json").read_text())
TASK0 = "pick_up_the_black_bowl_between_the_plate_and_the_ramekin_and_place_it_on_the_plate"


def _libero_ready() -> str | None:
    if importlib.util.find_spec("libero") is None:
        return "libero is not installed"
    try:
        libero_assets.check_assets(full=False)
    except libero_assets.AssetError as exc:
        return str(exc)
    return None


needs_libero = pytest.mark.skipif(_libero_ready() is not None, reason=str(_libero_ready()))


# -- protocol constants ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REFERENCE["presets"]))
def test_preset_constants_match_the_reference(name):
    ref, p = REFERENCE["presets"][name], PRESETS[name]
    for key, value in ref.items():
        assert getattr(p, key) == value, f"{name}.{key}: {getattr(p, key)!r} != reference {value!r}"


def test_default_suite_is_the_openvla_protocol():
    s = registries.suites.get("libero_spatial")
    assert s.env_kwargs == {"suite": "libero_spatial", "preset": "openvla"}
    assert (s.episodes_per_task, s.settle_steps, s.settle_counted, s.execute_steps) == (50, 10, True, 1)
    # OpenVLA loops while t < max_steps + num_steps_wait, t counting the wait steps too
    for suite, steps in REFERENCE["presets"]["openvla"]["max_steps"].items():
        assert {t.max_steps for t in make_suite(suite).tasks} == {steps + 10}
    lerobot = registries.suites.get("libero_spatial.lerobot")
    assert not lerobot.settle_counted and lerobot.tasks[0].max_steps == 280
    assert lerobot.name == "libero_spatial"  # recorded under the canonical name, so reports lay it out


def test_every_suite_and_preset_is_registered():
    for suite in SUITE_NAMES:
        for preset in PRESETS:
            key = suite if preset == "openvla" else f"{suite}.{preset}"
            s = registries.suites.get(key)
            assert s.env == "libero" and s.env_kwargs["preset"] == preset
    assert registries.envs.target("libero") == "envs.libero:LiberoEnv"


def test_task_table_sizes_and_instructions():
    from vla_bench.env import INSTRUCTION_CHARSET

    for suite, n in REFERENCE["suites"].items():
        tasks = task_table()[suite]
        assert len(tasks) == n and len({t.name for t in tasks}) == n
        for t in tasks:
            assert t.language and set(t.language) <= INSTRUCTION_CHARSET
            assert t.bddl_file == f"{t.name}.bddl" and t.init_states_file == f"{t.name}.pruned_init"
    assert task_table()["libero_spatial"][0].name == TASK0
    assert make_suite("libero_spatial").tasks[0].instruction == (
        "pick up the black bowl between the plate and the ramekin and place it on the plate")


def test_bad_input_gives_clear_errors():
    from envs.libero import LiberoEnv

    with pytest.raises(ValueError, match="unknown LIBERO suite 'libero_long'"):
        LiberoEnv(suite="libero_long")
    with pytest.raises(ValueError, match="unknown LIBERO preset"):
        LiberoEnv(preset="octo")
    with pytest.raises(ValueError, match="has no task 'fly'"):
        LiberoEnv(task="fly")
    with pytest.raises(ValueError, match="unknown LIBERO camera"):
        LiberoEnv(cameras={"primary": "topview"})
    env = LiberoEnv()
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(env.noop_action())
    with pytest.raises(ValueError, match=r"init_id 50 out of range .*0\.\.49"):
        env.reset(options={"task": TASK0, "init_id": 50})
    with pytest.raises(ValueError, match="has no task"):
        env.reset(options={"task": "nope", "init_id": 0})


def test_config_validation_of_a_libero_suite_config():
    from vla_bench.config import ConfigError, load_run_config

    root = Path(__file__).resolve().parents[2] / "configs"
    for name in ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90", "libero_smoke"):
        cfg = load_run_config(root / f"{name}.yaml")
        assert cfg.suites[0].env["preset"] == "openvla"
    with pytest.raises(ConfigError, match="image_sise"):
        from vla_bench.config import parse_run_config

        parse_run_config({"suites": [{"suite": "libero_goal", "env": {"image_sise": 128}}], "policies": ["zero"]}, "x")


def test_axis_angle_of_quaternions():
    from envs.libero import quat_to_axis_angle

    assert np.allclose(quat_to_axis_angle(np.array([0, 0, 0, 1.0])), 0)
    half = np.sqrt(0.5)
    assert np.allclose(quat_to_axis_angle(np.array([0, 0, half, half])), [0, 0, np.pi / 2])
    assert np.allclose(quat_to_axis_angle(np.array([1.0, 0, 0, 0])), [np.pi, 0, 0])


# -- assets ---------------------------------------------------------------------------------------
def test_manifest_lists_libero_asset_tree():
    m = libero_assets.manifest()
    assert len(m["files"]) == 585 and len(m["wheels"]) == 5
    assert sum(size for _, size, _ in m["files"].values()) > 400e6
    assert "scenes/libero_kitchen_tabletop_base_style.xml" in m["files"] or any(
        k.startswith("scenes/") for k in m["files"])


def test_missing_or_corrupt_asset_names_the_file_and_the_fix(tmp_path, monkeypatch):
    files = dict(list(libero_assets.manifest()["files"].items())[:3])
    monkeypatch.setattr(libero_assets, "manifest", lambda: {"files": files})
    monkeypatch.setattr(libero_assets, "assets_dir", lambda: tmp_path / "assets")
    with pytest.raises(libero_assets.AssetError, match=r"does not exist\); run: vla-bench doctor --install-assets"):
        libero_assets.check_assets()
    (rel_a, (_, size_a, _)), (rel_b, (_, size_b, _)), (rel_c, _) = files.items()
    for rel, data in ((rel_a, b"x" * size_a), (rel_b, b"short")):
        path = tmp_path / "assets" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    problems = {p.path: p.what for p in libero_assets.verify(tmp_path / "assets", full=True)}
    assert "sha256 differs" in problems[rel_a] and "size 5 bytes" in problems[rel_b] and problems[rel_c] == "missing"
    with pytest.raises(libero_assets.AssetError) as exc:
        libero_assets.check_assets(full=True)
    assert rel_a in str(exc.value) and rel_c in str(exc.value) and "--install-assets --force" in str(exc.value)


@pytest.mark.skipif(importlib.util.find_spec("libero") is None, reason="libero is not installed")
def test_config_file_is_written_so_libero_never_prompts(tmp_path, monkeypatch):
    monkeypatch.delenv("LIBERO_CONFIG_PATH", raising=False)
    monkeypatch.setenv("VLA_BENCH_CACHE", str(tmp_path))
    path = libero_assets.ensure_config()
    import os

    assert path == tmp_path / "libero" / "config" / "config.yaml" and os.environ["LIBERO_CONFIG_PATH"] == str(path.parent)
    import yaml

    data = yaml.safe_load(path.read_text())
    assert set(data) == set(libero_assets.CONFIG_KEYS) and Path(data["bddl_files"]).is_dir()
    assert libero_assets.ensure_config() == path  # kept when complete


# -- real LIBERO ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def env():
    from envs.libero import LiberoEnv

    e = LiberoEnv(image_size=64, fast_render=True)
    yield e
    e.close()


@pytest.mark.sim
@needs_libero
def test_real_episode_through_the_runner(env):
    from policies.reference import RandomPolicy
    from vla_bench.rollout import run_episode
    from vla_bench.types import EpisodeSpec

    r = run_episode(env, RandomPolicy(), EpisodeSpec("libero_spatial", TASK0, 3), env.suite, max_steps=14)
    assert r.status.value == "timeout", r.error
    assert r.steps == 14  # 10 settle steps counted, then 4 policy steps


@pytest.mark.sim
@needs_libero
def test_observation_contract_and_rotation(env):
    obs, info = env.reset(options={"task": TASK0, "init_id": 0})
    assert set(obs["images"]) == {"primary", "wrist"}
    assert obs["images"]["primary"].shape == (64, 64, 3) and obs["images"]["primary"].dtype == np.uint8
    raw = env._raw
    assert np.array_equal(obs["images"]["primary"], raw["agentview_image"][::-1, ::-1])
    assert np.array_equal(obs["images"]["wrist"], raw["robot0_eye_in_hand_image"][::-1, ::-1])
    assert obs["state"].shape == (8,) and obs["state"].dtype == np.float32
    assert np.allclose(obs["state"][:3], raw["robot0_eef_pos"])
    assert obs["instruction"] == env.suite.task(TASK0).instruction
    assert info == {"success": False, "task": TASK0, "init_id": 0, "suite": "libero_spatial", "preset": "openvla"}
    assert env.simulator_versions()["robosuite"] == "1.4.0"


@pytest.mark.sim
@needs_libero
def test_same_identity_same_state_and_init_ids_differ(env):
    env.reset(options={"task": TASK0, "init_id": 4})
    a = np.array(env.sim_env.sim.data.qpos)
    env.step(env.action_space.sample())
    env.reset(options={"task": TASK0, "init_id": 5})
    b = np.array(env.sim_env.sim.data.qpos)
    env.reset(options={"task": TASK0, "init_id": 4})
    assert np.array_equal(a, env.sim_env.sim.data.qpos) and not np.allclose(a, b)


@pytest.mark.sim
@needs_libero
def test_gripper_plus_one_opens(env):
    env.reset(options={"task": TASK0, "init_id": 0})
    for _ in range(8):
        obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, -1], np.float32))  # close
    closed = obs["state"][6] - obs["state"][7]
    for _ in range(8):
        obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, 1], np.float32))  # open
    opened = obs["state"][6] - obs["state"][7]
    assert opened > closed + 0.02
    assert np.array_equal(env.noop_action(), [0, 0, 0, 0, 0, 0, 1])


@pytest.mark.sim
@needs_libero
def test_check_env_small():
    from gymnasium.utils.env_checker import check_env

    from envs.libero import LiberoEnv

    e = LiberoEnv(suite="libero_object", image_size=32, fast_render=True, cameras={"primary": "agentview"})
    try:
        check_env(e, skip_render_check=True)
    finally:
        e.close()


@pytest.mark.sim
@needs_libero
def test_rendering_env_settles_to_the_golden_state(env):
    """The evaluated path (cameras on) reaches the golden state computed without a renderer."""
    from envs import libero_drift

    _, golden = libero_drift.read_golden("libero_spatial")
    if (TASK0, 0) not in golden:
        pytest.skip("no golden state for libero_spatial task 0 init 0")
    env.reset(options={"task": TASK0, "init_id": 0})
    for _ in range(10):
        env.step(env.noop_action())
    sim = env.sim_env.sim
    now = {"qpos": np.round(sim.data.qpos, 6).tolist(), "qvel": np.round(sim.data.qvel, 6).tolist()}
    assert libero_drift.compare(golden[(TASK0, 0)], now) is None
