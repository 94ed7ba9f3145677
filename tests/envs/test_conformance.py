"""Every registered env obeys the uniform contract (skipped where its simulator is not installed)."""

import importlib.util

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from vla_bench import registries
from vla_bench.rollout import _obs

SIMULATOR = {"metaworld": "metaworld", "libero": "libero"}
SMALL = {"metaworld": {"image_size": (32, 32), "fast_render": True}, "scripted": {}}


@pytest.fixture(params=registries.envs.names())
def env(request):
    name = request.param
    module = SIMULATOR.get(name)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    e = registries.envs.get(name)(**SMALL.get(name, {}))
    yield e
    e.close()


@pytest.mark.sim
def test_env_contract(env):
    check_env(env, skip_render_check=True)
    task = env.suite.tasks[-1].name
    a, ia = env.reset(seed=1, options={"task": task, "init_id": 1})
    b, ib = env.reset(seed=1, options={"task": task, "init_id": 1})
    for cam in a["images"]:
        assert np.array_equal(a["images"][cam], b["images"][cam])
    assert np.array_equal(a["state"], b["state"])
    obs = _obs(a, ia)
    obs.validate()
    assert obs.instruction == env.suite.task(task).instruction
    assert set(obs.images) == set(env.camera_names)
    noop = env.noop_action()
    assert noop.shape == (env.action_spec.dim,) and env.action_space.contains(noop)
    out = env.step(noop)
    assert len(out) == 5 and isinstance(out[4].get("success"), bool)
    assert env.observation_space.contains(out[0])
    assert env.action_spec.gripper_convention == "+1 open, -1 close"
    assert env.simulator_versions()
