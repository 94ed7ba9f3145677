"""Meta-World (MT10/MT50) as a uniform-contract env: the benchmark that runs on a fresh machine.

Identity -> initial state: Meta-World defines 50 variations (object and goal positions) per task,
sampled when its MT10/MT50 benchmark object is built. We use those of the benchmark built with
``BENCHMARK_SEED`` (cached, see envs/metaworld_variations.py) and init_id k selects the k-th
variation of the task, so the same (task, init_id) always gives the same scene. Gripper: our convention is +1 open, -1 close; Meta-World closes on a positive last action,
so the adapter negates that dimension. Images are rendered with our own ``mujoco.Renderer`` (so the
fast-render flags can be set) and flipped upright. The step budget belongs to the runner: Meta-World's
own ``max_path_length`` is lifted so it never truncates an episode first. The adapter is
``SceneEditable`` (vla_bench/ood/scene.py): scene perturbations edit the current task's MuJoCo model.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import Field, PositiveInt, field_validator

from vla_bench.env import BenchmarkEnv, EnvConfig, observation_space
from envs.metaworld_suites import MT10, MT50
from envs.metaworld_variations import BENCHMARK_SEED, load, make_task
from vla_bench.ood.scene import SceneEditable
from vla_bench.suite import SuiteSpec
from vla_bench.types import ActionDim, ActionSpec, stable_hash

SUITES: dict[str, SuiteSpec] = {"mt10": MT10, "mt50": MT50}
CAMERAS = ("corner", "corner2", "corner3", "corner4", "gripperPOV", "behindGripper")
STATE_DIM, PRIVILEGED_DIM = 4, 39

ACTION_SPEC = ActionSpec(
    dims=(
        ActionDim("dx", -1.0, 1.0, "world", "1/100 m"),
        ActionDim("dy", -1.0, 1.0, "world", "1/100 m"),
        ActionDim("dz", -1.0, 1.0, "world", "1/100 m"),
        ActionDim("gripper", -1.0, 1.0, "gripper", "+1 open, -1 close"),
    ),
    control="delta_ee_position (mocap, action scale 1/100 m)",
    gripper_index=3,
)


class MetaWorldEnv(BenchmarkEnv, SceneEditable):
    """One env object serves a whole suite; the task is chosen at reset."""

    simulator = "metaworld"
    accepted_reset_options = frozenset({"object_offset", "hand_offset"})
    conformance_kwargs = {"image_size": (32, 32), "fast_render": True}

    class Config(EnvConfig):
        suite: str = "mt10"
        task: str | None = None
        cameras: dict[str, Literal[CAMERAS]] = Field(  # type: ignore[valid-type]
            default_factory=lambda: {"primary": "corner"}, min_length=1)
        image_size: tuple[PositiveInt, PositiveInt] = (128, 128)
        fast_render: bool = False
        privileged_state: bool = False

        @field_validator("suite")
        @classmethod
        def _known_suite(cls, v: str) -> str:
            if v not in SUITES:
                raise ValueError(f"unknown Meta-World suite {v!r}; choose one of {sorted(SUITES)}")
            return v

    config: Config

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = SUITES[self.config.suite]
        self.task_name = self.config.task or self.suite.tasks[0].name
        self.suite.task(self.task_name)  # fail early on an unknown task
        self.cameras = dict(self.config.cameras)
        self.action_spec = ACTION_SPEC
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        dim = STATE_DIM + (PRIVILEGED_DIM if self.config.privileged_state else 0)
        self.observation_space = observation_space({n: self.config.image_size for n in self.cameras}, dim)
        self._sims: dict[str, tuple[Any, Any, list[Any]]] = {}  # task -> (env, renderer, variations)
        self._init_id = 0
        self._mw_obs: np.ndarray | None = None

    # -- simulator, built lazily -------------------------------------------------------------
    def _sim(self, task: str) -> tuple[Any, Any, list[Any]]:
        if task not in self._sims:
            import mujoco
            from metaworld.env_dict import ALL_V3_ENVIRONMENTS

            cls = ALL_V3_ENVIRONMENTS[task]
            env = cls()
            env.max_path_length = 1 << 30  # the runner owns the step budget
            variations = [make_task(cls, task, v) for v in load(self.suite.name, BENCHMARK_SEED)[task]]
            if self.config.fast_render:
                env.model.vis.quality.offsamples = 0
            renderer = mujoco.Renderer(env.model, *self.config.image_size)
            self._close_at_exit()
            if self.config.fast_render:
                renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
                renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            self._sims[task] = (env, renderer, variations)
        return self._sims[task]

    @property
    def sim_env(self) -> Any:
        """The underlying Meta-World env of the current task."""
        return self._sim(self.task_name)[0]

    # -- SceneEditable: scene perturbations edit the model and restore what they change --------
    def scene_model(self) -> Any:
        """The MuJoCo model of the current task."""
        return self._sim(self.task_name)[0].model

    def observe(self) -> dict[str, Any]:
        """The observation of the current state, rendered again (after the model was edited)."""
        import mujoco

        env = self.sim_env
        mujoco.mj_forward(env.model, env.data)  # camera and light poses derive from the model
        return self._obs(self._mw_obs)

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        options = options or {}
        task = options.get("task", self.task_name)
        self.suite.task(task)
        env, _, variations = self._sim(task)
        init_id = int(options["init_id"]) if "init_id" in options else (seed or 0) % len(variations)
        if not 0 <= init_id < len(variations):
            raise ValueError(f"init_id {init_id} out of range for {task}: 0..{len(variations) - 1}")
        self.task_name, self._init_id = task, init_id
        env.set_task(variations[init_id])
        env.seed(int(stable_hash([task, init_id, seed or 0])[:8], 16))
        # scene perturbations: shift the task's object/fixture (first two entries of the variation's
        # position vector) and the hand's start position, for this episode only
        if "object_offset" in options:
            _shift_object(env, np.asarray(options["object_offset"], dtype=np.float64)[:2])
        hand_home = env.hand_init_pos
        if "hand_offset" in options:
            env.hand_init_pos = hand_home + np.asarray(options["hand_offset"], dtype=np.float64)[:3]
        try:
            mw_obs, _ = env.reset()
        finally:
            env.hand_init_pos = hand_home
            for name in ("_get_state_rand_vec", "reset_model"):
                env.__dict__.pop(name, None)
        self._mw_obs = mw_obs
        return self._obs(mw_obs), self._info(False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        env = self._sims[self.task_name][0]
        a = np.asarray(action, dtype=np.float32).copy()
        a[3] = -a[3]  # ours: +1 open; Meta-World: +1 close
        mw_obs, reward, _, _, mw_info = env.step(np.clip(a, -1.0, 1.0))
        self._mw_obs = mw_obs
        success = bool(mw_info.get("success", False))
        return self._obs(mw_obs), float(reward), success, False, self._info(success)

    def noop_action(self) -> np.ndarray:
        return np.array([0.0, 0.0, 0.0, 1.0], dtype=np.float32)

    def render(self) -> np.ndarray:
        return self._render(next(iter(self.cameras.values())))

    def close(self) -> None:
        for env, renderer, _ in self._sims.values():
            renderer.close()
            env.close()
        self._sims.clear()

    def simulator_versions(self) -> dict[str, str]:
        return {p: metadata.version(p) for p in ("metaworld", "mujoco")}

    # -- helpers -------------------------------------------------------------------------------
    def _render(self, camera: str) -> np.ndarray:
        env, renderer, _ = self._sims[self.task_name]
        renderer.update_scene(env.data, camera=camera)
        return np.ascontiguousarray(renderer.render()[::-1])

    def _obs(self, mw_obs: np.ndarray) -> dict[str, Any]:
        state = mw_obs[:STATE_DIM]
        if self.config.privileged_state:
            state = np.concatenate([state, mw_obs])
        return {
            "images": {name: self._render(cam) for name, cam in self.cameras.items()},
            "state": np.asarray(state, dtype=np.float32),
            "instruction": self.suite.task(self.task_name).instruction,
        }

    def _info(self, success: bool) -> dict[str, Any]:
        return {"success": success, "task": self.task_name, "init_id": self._init_id,
                "metaworld_obs": self._mw_obs}


def _shift_object(env: Any, offset: np.ndarray) -> None:
    """Make the next reset place the task's object/fixture ``offset`` (x, y) away from its variation.

    Meta-World resets the model twice per ``reset`` and, inside each, re-draws the variation while
    object and goal are too close; with a frozen variation that loop would never end. So each layout
    pass gets the shifted vector first and the unshifted (valid) one on any re-draw.
    """
    original = env._last_rand_vec.copy()
    shifted = original.copy()
    shifted[:2] += offset
    first = [True]

    def rand_vec() -> np.ndarray:
        out = shifted if first[0] else original
        first[0] = False
        return out.copy()

    reset_model = env.reset_model

    def layout() -> Any:
        first[0] = True
        return reset_model()

    env._get_state_rand_vec = rand_vec
    env.reset_model = layout
