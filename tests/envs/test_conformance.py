"""Every registered env obeys the uniform contract (skipped where its simulator is not installed)."""

import importlib.util

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from vla_bench import registries
from vla_bench.rollout import to_observation
from vla_bench.rollout.chain import ChainEnv


@pytest.fixture(params=registries.envs.names())
def env(request):
    name = request.param
    cls = registries.envs.get(name)  # adapters import their simulator lazily, so this works without it
    if cls.simulator and importlib.util.find_spec(cls.simulator) is None:
        pytest.skip(f"{cls.simulator} is not installed")
    kwargs = dict(cls.conformance_kwargs)
    assert hasattr(cls, "Config"), f"env {name!r} has no pydantic Config for its kwargs"
    cls.Config(**kwargs)  # the kwargs used here are valid ones
    e = cls(**kwargs)
    try:
        e.reset(options={"task": e.suite.tasks[0].name, "init_id": 0})
    except ModuleNotFoundError as exc:
        pytest.skip(f"simulator of {name!r} not installed: {exc.name}")
    yield e
    e.close()


def _same(a, b):
    return all(np.array_equal(a["images"][c], b["images"][c]) for c in a["images"]) and np.array_equal(
        a["state"], b["state"]) and a["instruction"] == b["instruction"]


@pytest.mark.sim
def test_env_contract(env):
    check_env(env, skip_render_check=True)
    first, last = env.suite.tasks[0].name, env.suite.tasks[-1].name
    a, ia = env.reset(seed=1, options={"task": last, "init_id": 1})
    for _ in range(3):
        env.step(env.action_space.sample())
    env.reset(options={"task": first, "init_id": 0})
    b, ib = env.reset(seed=1, options={"task": last, "init_id": 1})
    assert _same(a, b), "the same episode identity must give the same first observation"
    obs = to_observation(a, ia)
    obs.validate()
    if isinstance(env, ChainEnv):  # a chained episode starts with its first subtask's instruction
        assert obs.instruction == env.subtasks(last, 1)[0].instruction
    else:
        assert obs.instruction == env.suite.task(last).instruction
    assert set(obs.images) == set(env.camera_names)
    assert ia.get("success") is False
    noop = env.noop_action()
    assert noop.shape == (env.action_spec.dim,) and env.action_space.contains(noop)
    if env.action_spec.gripper_index is not None:
        assert noop[env.action_spec.gripper_index] == 1.0  # noop keeps the gripper open
    out = env.step(noop)
    assert len(out) == 5 and isinstance(out[4].get("success"), bool)
    assert isinstance(out[2], bool) and isinstance(out[3], bool)
    assert env.observation_space.contains(out[0])
    assert env.action_spec.gripper_convention == "+1 open, -1 close"
    versions = env.simulator_versions()
    assert isinstance(versions, dict) and all(isinstance(v, str) for v in versions.values())
