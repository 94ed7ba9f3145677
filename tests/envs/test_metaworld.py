import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

pytest.importorskip("metaworld")
pytestmark = pytest.mark.sim

from envs.metaworld import MetaWorldEnv  # noqa: E402
from envs.metaworld_suites import INSTRUCTIONS, MT10, MT50  # noqa: E402


@pytest.fixture(scope="module")
def env():
    e = MetaWorldEnv(image_size=(48, 64), fast_render=True, cameras={"primary": "corner", "wrist": "gripperPOV"})
    yield e
    e.close()


def test_check_env(env):
    check_env(env, skip_render_check=True)


def test_same_identity_same_first_observation_and_init_ids_differ(env):
    a, ia = env.reset(seed=3, options={"task": "drawer-open-v3", "init_id": 7})
    env.step(env.action_space.sample())
    env.reset(options={"task": "reach-v3", "init_id": 1})
    b, ib = env.reset(seed=3, options={"task": "drawer-open-v3", "init_id": 7})
    for cam in a["images"]:
        assert np.array_equal(a["images"][cam], b["images"][cam])
    assert np.array_equal(a["state"], b["state"]) and np.array_equal(ia["metaworld_obs"], ib["metaworld_obs"])
    _, ic = env.reset(options={"task": "drawer-open-v3", "init_id": 8})
    assert not np.allclose(ia["metaworld_obs"][4:7], ic["metaworld_obs"][4:7])  # the drawer moved


def test_observation_contract(env):
    obs, info = env.reset(options={"task": "window-open-v3", "init_id": 0})
    assert obs["images"]["primary"].shape == (48, 64, 3) and obs["images"]["primary"].dtype == np.uint8
    assert obs["state"].dtype == np.float32 and obs["state"].shape == (4,)
    assert obs["instruction"] == "slide the window open" and info["task"] == "window-open-v3"


def test_images_are_upright(env):
    """Our image is Meta-World's raw (upside-down) render flipped vertically: the floor is at the bottom."""
    obs, _ = env.reset(options={"task": "reach-v3", "init_id": 0})
    sim, renderer, _ = env._sims["reach-v3"]
    renderer.update_scene(sim.data, camera="corner")
    raw = renderer.render()
    assert np.array_equal(obs["images"]["primary"], raw[::-1])
    # the sky/background (bright, uniform) is at the top of an upright corner view, the table at the bottom
    img = obs["images"]["primary"].astype(float)
    assert img[:6].std() < img[-12:].std()


def test_gripper_convention_plus_one_opens(env):
    env.reset(options={"task": "reach-v3", "init_id": 0})
    for _ in range(15):
        obs, *_ = env.step(np.array([0, 0, 0, -1], np.float32))  # close
    closed = obs["state"][3]
    for _ in range(15):
        obs, *_ = env.step(np.array([0, 0, 0, 1], np.float32))  # open
    assert obs["state"][3] > closed + 0.2


def test_success_comes_from_metaworld():
    from policies.reference import OraclePolicy
    from vla_bench.rollout import run_episode
    from vla_bench.types import EpisodeSpec

    e = MetaWorldEnv(image_size=(32, 32), fast_render=True)
    try:
        r = run_episode(e, OraclePolicy(), EpisodeSpec("mt10", "drawer-close-v3", 2), MT10, max_steps=200)
    finally:
        e.close()
    assert r.status.value == "success" and 10 < r.steps < 200


def test_suites_cover_all_tasks_with_instructions():
    assert len(MT10.tasks) == 10 and len(MT50.tasks) == 50
    assert all(INSTRUCTIONS[t.name] == t.instruction for t in MT50.tasks)
    assert len({t.instruction for t in MT50.tasks}) == 50
    assert all(t.max_steps == 500 and t.num_init_states == 50 for t in MT50.tasks)


def test_privileged_state_ablation():
    e = MetaWorldEnv(image_size=(16, 16), fast_render=True, privileged_state=True)
    try:
        obs, info = e.reset(options={"task": "push-v3", "init_id": 0})
    finally:
        e.close()
    assert obs["state"].shape == (43,)
    assert np.allclose(obs["state"][4:], info["metaworld_obs"])


@pytest.mark.slow
@pytest.mark.parametrize("suite", ["mt10", "mt50"])
def test_cached_variations_equal_metaworlds_own(suite):
    from envs.metaworld_variations import BENCHMARK_SEED, compute, load

    assert load(suite, BENCHMARK_SEED) == compute(suite, BENCHMARK_SEED)


def test_unclosed_env_exits_cleanly():
    """GL contexts of an env nobody closed are freed at exit, before EGL shuts down (no teardown errors)."""
    import os
    import subprocess
    import sys

    code = ("from envs.metaworld import MetaWorldEnv\n"
            "e = MetaWorldEnv(image_size=(8, 8), fast_render=True)\n"
            "e.reset(options={'task': 'reach-v3', 'init_id': 0})\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")})
    assert r.returncode == 0, r.stderr
    assert "Exception ignored" not in r.stderr and "EGLError" not in r.stderr, r.stderr


def test_suite_task_names_are_metaworlds_and_have_experts():
    from metaworld.env_dict import MT10_V3, MT50_V3
    from metaworld.policies import ENV_POLICY_MAP

    assert set(MT10.task_names) == set(MT10_V3) and set(MT50.task_names) == set(MT50_V3)
    assert set(MT50.task_names) <= set(ENV_POLICY_MAP)


def test_suites_module_does_not_import_metaworld():
    import subprocess
    import sys

    code = "import sys, envs.metaworld_suites, envs.metaworld; assert 'metaworld' not in sys.modules, 'imported'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_bad_input_is_named(env):
    with pytest.raises(ValueError, match="init_id 50 out of range"):
        env.reset(options={"task": "reach-v3", "init_id": 50})
    with pytest.raises(KeyError, match="no task 'reach-v9'"):
        env.reset(options={"task": "reach-v9", "init_id": 0})
    with pytest.raises(ValueError, match="cameras"):
        MetaWorldEnv(cameras={"primary": "topview"})
    with pytest.raises(ValueError, match="unknown Meta-World suite 'mt5'"):
        MetaWorldEnv(suite="mt5")
    with pytest.raises(ValueError, match="suite"):
        MetaWorldEnv.Config(suite="mt5")


def test_object_shift_onto_the_goal_falls_back_instead_of_looping():
    """Meta-World re-draws layouts where object and goal are too close; a frozen variation must not hang."""
    import subprocess
    import sys

    code = (
        "import numpy as np\nfrom envs.metaworld import MetaWorldEnv\n"
        "from envs.metaworld_variations import load\n"
        "v = np.array(load('mt10', 0)['push-v3'][2]['rand_vec'])\n"
        "e = MetaWorldEnv(image_size=(16, 16), fast_render=True)\n"
        "_, a = e.reset(options={'task': 'push-v3', 'init_id': 2, 'object_offset': list(v[3:5] - v[:2])})\n"
        "_, b = e.reset(options={'task': 'push-v3', 'init_id': 2, 'object_offset': [0.03, 0.0]})\n"
        "_, c = e.reset(options={'task': 'push-v3', 'init_id': 2})\n"
        "print(np.allclose(a['metaworld_obs'][4:6], c['metaworld_obs'][4:6]),"
        " round(float(b['metaworld_obs'][4] - c['metaworld_obs'][4]), 3))\ne.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "0.03"], out.stderr[-2000:]
