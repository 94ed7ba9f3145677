"""A tiny deterministic point-reaching benchmark with no simulator dependency.

It exists so the whole pipeline (plans, workers, records, resume, reports) can run in seconds on any
machine, including worker interpreters that have only the light core. A 2-D point must reach a
target; the image is a rendered top view. ``crash_init_ids`` makes chosen identities raise inside
``step`` (a persistent crash), and ``flaky_dir`` makes each identity crash once and then work (a
transient crash), and ``die_init_ids`` kills the process outright, so error handling can be tested
on real processes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from vla_bench.env import BenchmarkEnv, EnvConfig, observation_space
from vla_bench.policy import episode_rng
from vla_bench.suite import SuiteSpec, TaskSpec
from vla_bench.types import ActionDim, ActionSpec, EpisodeSpec, Observation

TARGETS = {"reach-left": (-0.6, 0.0), "reach-right": (0.6, 0.0), "reach-up": (0.0, 0.6)}

SCRIPTED = SuiteSpec(
    name="scripted",
    env="scripted",
    tasks=tuple(TaskSpec(n, f"move the point to the {n.split('-')[1]} target", 40, 20) for n in TARGETS),
    episodes_per_task=5,
    description="Deterministic point reaching for fast end-to-end checks.",
)


class ScriptedEnv(BenchmarkEnv):
    """Point reaching: state (x, y), action (dx, dy, gripper) in [-1, 1], success within 0.1 of target."""

    class Config(EnvConfig):
        image_size: tuple[PositiveInt, PositiveInt] = (32, 32)
        crash_init_ids: tuple[int, ...] = ()
        die_init_ids: tuple[int, ...] = ()
        flaky_dir: str | None = None
        step_delay_s: float = Field(default=0.0, ge=0.0)

    config: Config

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = SCRIPTED
        self.action_spec = ActionSpec(
            dims=(ActionDim("dx", -1, 1), ActionDim("dy", -1, 1), ActionDim("gripper", -1, 1, "gripper")),
            control="delta_pos", gripper_index=2,
        )
        self.action_space = gym.spaces.Box(-1, 1, (3,), np.float32)
        self.observation_space = observation_space({"primary": self.config.image_size}, 2)
        self._task, self._init_id, self._pos, self._t = SCRIPTED.tasks[0].name, 0, np.zeros(2), 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        options = options or {}
        self._task = options.get("task", self._task)
        self._init_id = int(options.get("init_id", seed or 0))
        spec = EpisodeSpec("scripted", self._task, self._init_id)
        self._pos = episode_rng(spec, "init").uniform(-0.3, 0.3, 2)
        self._t = 0
        return self._obs(), self._info(False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        cfg = self.config
        if self._init_id in cfg.crash_init_ids:
            raise RuntimeError(f"scripted crash at init_id {self._init_id}")
        if self._init_id in cfg.die_init_ids:
            os._exit(3)  # the whole process dies, as a segfaulting simulator would
        if cfg.flaky_dir is not None:
            marker = Path(cfg.flaky_dir) / f"{self._task}-{self._init_id}"
            if not marker.exists():
                marker.touch()
                raise RuntimeError(f"transient scripted crash at {self._task}/{self._init_id}")
        if cfg.step_delay_s:
            import time

            time.sleep(cfg.step_delay_s)
        a = np.clip(np.asarray(action, dtype=np.float64), -1, 1)
        self._pos = np.clip(self._pos + 0.1 * a[:2], -1, 1)
        self._t += 1
        success = bool(np.linalg.norm(self._pos - TARGETS[self._task]) < 0.1)
        return self._obs(), float(success), success, False, self._info(success)

    def noop_action(self) -> np.ndarray:
        return np.array([0.0, 0.0, 1.0], dtype=np.float32)

    def _info(self, success: bool) -> dict[str, Any]:
        return {"success": success, "task": self._task, "init_id": self._init_id,
                "target": np.array(TARGETS[self._task], dtype=np.float32), "pid": os.getpid()}

    def _obs(self) -> dict[str, Any]:
        h, w = self.config.image_size
        img = np.full((h, w, 3), 255, np.uint8)
        for (x, y), colour in ((TARGETS[self._task], (255, 0, 0)), (tuple(self._pos), (0, 0, 255))):
            r, c = int((1 - (y + 1) / 2) * (h - 1)), int((x + 1) / 2 * (w - 1))
            img[max(r - 1, 0): r + 2, max(c - 1, 0): c + 2] = colour
        return {"images": {"primary": img}, "state": self._pos.astype(np.float32),
                "instruction": SCRIPTED.task(self._task).instruction}

    def simulator_versions(self) -> dict[str, str]:
        return {"scripted": "1"}


class ScriptedExpert:
    """Moves straight to the target (read from info), a stand-in expert for the scripted env."""

    name = "scripted_expert"

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        gain: float = Field(default=5.0, gt=0)

    def __init__(self, **kwargs: Any) -> None:
        self.config = self.Config(**kwargs)
        self._spec: ActionSpec | None = None

    def reset(self, episode: EpisodeSpec, action_spec: ActionSpec) -> None:
        self._spec = action_spec

    def act(self, obs: Observation) -> np.ndarray:
        d = np.clip(self.config.gain * (np.asarray(obs.info["target"]) - obs.state), -1, 1)
        return np.array([[d[0], d[1], 1.0]], dtype=np.float32)

    def metadata(self) -> dict[str, Any]:
        return {"gain": self.config.gain}
