"""LIBERO (libero_spatial, libero_object, libero_goal, libero_10, libero_90) as a uniform-contract env.

Episode identity -> initial state: init_id k is LIBERO's k-th fixed init state of the task (50 per
task, from its ``.pruned_init`` file); reset does what the published runners do: ``env.seed``,
``env.reset()``, ``env.set_init_state(init_states[k])``. The protocol constants (resolution, env
seed, settle steps, budgets) come from a preset in envs/libero_presets.py; the default is OpenVLA's.

Actions: 7-D delta end effector (OSC_POSE at 20 Hz): dx, dy, dz, droll, dpitch, dyaw in [-1, 1]
(robosuite scales them to 0.05 m and 0.5 rad) and the gripper. Project convention: +1 open,
-1 close; LIBERO/robosuite use -1 open, +1 close, so the adapter negates the last dimension.
``noop_action`` is [0]*6 + [+1] (gripper open), which LIBERO receives as the runners' dummy action
[0]*6 + [-1].

Observation: ``primary`` (agentview) and ``wrist`` (robot0_eye_in_hand) images, each the raw
render rotated 180 degrees (``img[::-1, ::-1]``, as every LIBERO runner and the published LIBERO
datasets do: the raw OpenGL frame is bottom-up); state = eef position (3) + eef orientation as
axis-angle (3) + gripper finger positions (2), float32.

Success is LIBERO's own: ``done`` from its step (the BDDL goal holds at that step).
LIBERO and torch are imported on first reset, after its config file and assets are checked
(envs/libero_assets.py), so constructing the adapter is cheap and needs neither.
"""

from __future__ import annotations

from collections import OrderedDict
from importlib import metadata
from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import Field, field_validator

from vla_bench.env import BenchmarkEnv, EnvConfig, observation_space
from envs.libero_presets import (
    DEFAULT_PRESET,
    NUM_INIT_STATES,
    check_preset,
    check_suite,
    libero_task,
    make_suite,
)
from vla_bench.types import ActionDim, ActionSpec

CAMERAS = ("agentview", "robot0_eye_in_hand", "frontview", "birdview", "sideview")
DEFAULT_CAMERAS = {"primary": "agentview", "wrist": "robot0_eye_in_hand"}
STATE_DIM = 8
SIMULATOR_PACKAGES = ("libero", "robosuite", "mujoco", "numpy")

ACTION_SPEC = ActionSpec(
    dims=(
        ActionDim("dx", -1.0, 1.0, "base", "x 0.05 m"),
        ActionDim("dy", -1.0, 1.0, "base", "x 0.05 m"),
        ActionDim("dz", -1.0, 1.0, "base", "x 0.05 m"),
        ActionDim("droll", -1.0, 1.0, "base", "x 0.5 rad (axis-angle)"),
        ActionDim("dpitch", -1.0, 1.0, "base", "x 0.5 rad (axis-angle)"),
        ActionDim("dyaw", -1.0, 1.0, "base", "x 0.5 rad (axis-angle)"),
        ActionDim("gripper", -1.0, 1.0, "gripper", "+1 open, -1 close"),
    ),
    control="delta_ee_pose (robosuite OSC_POSE, 20 Hz)",
    gripper_index=6,
)


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """A unit quaternion (x, y, z, w) as an axis-angle 3-vector (angle in [0, 2*pi))."""
    x, y, z, w = (float(v) for v in q)
    w = min(1.0, max(-1.0, w))
    s = np.sqrt(max(0.0, 1.0 - w * w))
    if s < 1e-10:
        return np.zeros(3)
    return np.array([x, y, z]) * (2.0 * np.arccos(w) / s)


def load_init_states(path: str) -> np.ndarray:
    """A task's fixed init states: (n, state_dim) float64 flattened MuJoCo states."""
    import torch  # LIBERO stores them as torch pickles

    states = torch.load(path, weights_only=False)
    return np.asarray(states, dtype=np.float64)


class LiberoEnv(BenchmarkEnv):
    """One adapter serves a whole suite; a LIBERO env is built per task (a few are kept)."""

    simulator = "libero"

    class Config(EnvConfig):
        suite: str = "libero_spatial"
        preset: str = DEFAULT_PRESET
        task: str | None = None
        cameras: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CAMERAS))  # {}: state only
        image_size: int | None = Field(default=None, gt=0)  # None: the preset's resolution
        fast_render: bool = False
        max_cached_tasks: int = Field(default=2, gt=0)
        hard_reset: bool = True

        @field_validator("suite")
        @classmethod
        def _known_suite(cls, v: str) -> str:
            return check_suite(v)

        @field_validator("preset")
        @classmethod
        def _known_preset(cls, v: str) -> str:
            check_preset(v)
            return v

        @field_validator("cameras")
        @classmethod
        def _known_cameras(cls, v: dict[str, str]) -> dict[str, str]:
            bad = [c for c in v.values() if c not in CAMERAS]
            if bad:
                raise ValueError(f"unknown LIBERO camera(s) {bad}; choose from {CAMERAS}")
            return v

    config: Config

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        cfg = self.config
        self.suite_name = cfg.suite
        self.preset = check_preset(cfg.preset)
        self.suite = make_suite(cfg.suite, cfg.preset)
        self.task_name = self.suite.tasks[0].name if cfg.task is None else libero_task(cfg.suite, cfg.task).name
        self.cameras = dict(cfg.cameras)
        self.image_size = int(cfg.image_size or self.preset.resolution)
        self.action_spec = ACTION_SPEC
        self.action_space = gym.spaces.Box(-1.0, 1.0, (7,), np.float32)
        self.observation_space = observation_space(
            {n: (self.image_size, self.image_size) for n in self.cameras}, STATE_DIM)
        self._sims: OrderedDict[str, tuple[Any, np.ndarray]] = OrderedDict()  # task -> (env, init states)
        self._init_id = 0
        self._raw: dict[str, Any] = {}

    # -- simulator, built lazily -------------------------------------------------------------
    def _sim(self, task: str) -> tuple[Any, np.ndarray]:
        if task in self._sims:
            self._sims.move_to_end(task)
            return self._sims[task]
        from envs import libero_assets

        libero_assets.ensure_config()
        libero_assets.check_assets(full=False)
        from libero.libero.envs import OffScreenRenderEnv

        root = libero_assets.package_dir()
        t = libero_task(self.suite_name, task)
        init_path = root / "init_files" / t.problem_folder / t.init_states_file
        bddl = root / "bddl_files" / t.problem_folder / t.bddl_file
        for p in (init_path, bddl):
            if not p.is_file():
                raise FileNotFoundError(f"{p} is missing from the libero package; reinstall it: "
                                        "pip install --force-reinstall libero==0.1.1")
        while len(self._sims) >= self.config.max_cached_tasks:
            _, (old, _) = self._sims.popitem(last=False)
            old.close()
        kwargs: dict[str, Any] = {"bddl_file_name": str(bddl), "hard_reset": self.config.hard_reset}
        if self.cameras:
            kwargs.update(camera_names=list(dict.fromkeys(self.cameras.values())),
                          camera_heights=self.image_size, camera_widths=self.image_size)
        else:  # state only (drift checks): no renderer at all
            kwargs.update(use_camera_obs=False, has_offscreen_renderer=False, camera_names=[])
        env = OffScreenRenderEnv(**kwargs) if self.cameras else _state_only_env(kwargs)
        self._close_at_exit()
        states = load_init_states(str(init_path))
        self._sims[task] = (env, states)
        return env, states

    @property
    def sim_env(self) -> Any:
        """LIBERO's env (``OffScreenRenderEnv``) of the current task."""
        return self._sim(self.task_name)[0]

    def _apply_render_flags(self, env: Any) -> None:
        if not self.config.fast_render or not self.cameras:
            return
        import mujoco

        ctx = getattr(env.sim, "_render_context_offscreen", None)
        if ctx is not None:
            ctx.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            ctx.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        options = options or {}
        task = libero_task(self.suite_name, options.get("task", self.task_name)).name
        if "init_id" in options:
            init_id = int(options["init_id"])
        else:
            init_id = (seed or 0) % NUM_INIT_STATES
        if not 0 <= init_id < NUM_INIT_STATES:
            raise ValueError(f"init_id {init_id} out of range for {self.suite_name}/{task}: 0..{NUM_INIT_STATES - 1}")
        env, states = self._sim(task)
        if not 0 <= init_id < len(states):
            raise ValueError(f"init_id {init_id} out of range for {self.suite_name}/{task}: 0..{len(states) - 1}")
        self.task_name, self._init_id = task, init_id
        env_seed = self.preset.env_seed if self.preset.env_seed is not None else (seed or 0)
        env.seed(env_seed)
        env.reset()
        self._apply_render_flags(env)  # a hard reset rebuilds the render context
        self._raw = env.set_init_state(states[init_id])
        return self._obs(self._raw), self._info(False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self.task_name not in self._sims:
            raise RuntimeError("step() before reset(): reset the env to an episode identity first")
        env = self._sims[self.task_name][0]
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        a[6] = -a[6]  # ours: +1 open; LIBERO: -1 open
        raw, reward, done, _ = env.step(a)
        self._raw = raw
        success = bool(done)
        return self._obs(raw), float(reward), success, False, self._info(success)

    def noop_action(self) -> np.ndarray:
        return np.array([0, 0, 0, 0, 0, 0, 1.0], dtype=np.float32)

    def render(self) -> np.ndarray:
        name = next(iter(self.cameras))
        return self._obs(self._raw)["images"][name]

    def close(self) -> None:
        while self._sims:
            _, (env, _) = self._sims.popitem()
            try:
                env.close()
            except Exception:  # noqa: BLE001 - closing a half-built env must not mask the real error
                pass

    def simulator_versions(self) -> dict[str, str]:
        out = {}
        for p in SIMULATOR_PACKAGES:
            try:
                out[p] = metadata.version(p)
            except metadata.PackageNotFoundError:
                out[p] = "not installed"
        return out

    # -- helpers -------------------------------------------------------------------------------
    def _image(self, raw: dict[str, Any], camera: str) -> np.ndarray:
        img = raw[f"{camera}_image"]
        if self.preset.image_rotation == 180:
            img = img[::-1, ::-1]
        return np.ascontiguousarray(img, dtype=np.uint8)

    def _obs(self, raw: dict[str, Any]) -> dict[str, Any]:
        state = np.concatenate([
            raw["robot0_eef_pos"], quat_to_axis_angle(raw["robot0_eef_quat"]), raw["robot0_gripper_qpos"],
        ]).astype(np.float32)
        return {
            "images": {name: self._image(raw, cam) for name, cam in self.cameras.items()},
            "state": state,
            "instruction": self.suite.task(self.task_name).instruction,
        }

    def _info(self, success: bool) -> dict[str, Any]:
        return {"success": success, "task": self.task_name, "init_id": self._init_id,
                "suite": self.suite_name, "preset": self.preset.name}


def _state_only_env(kwargs: dict[str, Any]) -> Any:
    """LIBERO's ControlEnv without any renderer (physics only)."""
    from libero.libero.envs import OffScreenRenderEnv
    from libero.libero.envs.env_wrapper import ControlEnv

    del OffScreenRenderEnv  # imported for its registration side effects only
    return ControlEnv(**kwargs)
