"""The env adapter contract shared by every benchmark (the core's; adapters live in ``envs``).

An adapter is a ``gymnasium.Env`` whose observation is a dict
``{"images": {camera: HxWx3 uint8 upright}, "state": float32[state_dim], "instruction": str}``.
``reset(seed=..., options={"task": name, "init_id": k})`` puts the simulator in the state that the
episode identity names, so the same identity always gives the same first observation.
``info["success"]`` is the benchmark's own success signal at that step.
Simulators are imported and built lazily (on first reset), so constructing an adapter is cheap and
safe before a fork. Constructor kwargs are declared once, in the adapter's ``Config``, which both the
constructor and config loading (vla_bench/config.py) validate against.
"""

from __future__ import annotations

import atexit
import weakref
from typing import Any, ClassVar, Mapping

import gymnasium as gym
import numpy as np
from pydantic import BaseModel, ConfigDict

from vla_bench.suite import SuiteSpec
from vla_bench.types import ActionSpec

INSTRUCTION_CHARSET = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.'-!?;:()/&\""
)


def observation_space(
    cameras: Mapping[str, tuple[int, int]], state_dim: int, max_instruction: int = 512
) -> gym.spaces.Dict:
    """The uniform observation space for the given cameras (name -> (height, width))."""
    return gym.spaces.Dict(
        {
            "images": gym.spaces.Dict(
                {name: gym.spaces.Box(0, 255, (h, w, 3), np.uint8) for name, (h, w) in cameras.items()}
            ),
            "state": gym.spaces.Box(-np.inf, np.inf, (state_dim,), np.float32),
            "instruction": gym.spaces.Text(max_length=max_instruction, min_length=0, charset=INSTRUCTION_CHARSET),
        }
    )


class EnvConfig(BaseModel):
    """An adapter's constructor kwargs; subclasses add fields (all validated, all in config files)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchmarkEnv(gym.Env):
    """Base class of every adapter. Subclasses declare ``Config`` and set ``suite``, ``action_spec`` and the
    spaces in ``__init__``, after ``super().__init__(**kwargs)`` has validated ``self.config``."""

    metadata = {"render_modes": ["rgb_array"]}
    Config: ClassVar[type[EnvConfig]] = EnvConfig
    simulator: ClassVar[str | None] = None  # import name of the simulator package (None: needs none)
    conformance_kwargs: ClassVar[Mapping[str, Any]] = {}  # small, fast kwargs for the conformance test
    # reset options honoured beyond task and init_id (perturbations that need one refuse other envs)
    accepted_reset_options: ClassVar[frozenset[str]] = frozenset()
    suite: SuiteSpec
    action_spec: ActionSpec

    def __init__(self, **kwargs: Any) -> None:
        self.config = self.Config(**kwargs)
        self._closes_at_exit = False

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(self.observation_space["images"].spaces)  # type: ignore[index]

    def simulator_versions(self) -> dict[str, str]:
        """Versions of the simulator stack, recorded in run.json."""
        return {}

    def _close_at_exit(self) -> None:
        """Have this env closed at interpreter exit if nobody closed it (once per env).

        Call it right after building the first renderer: atexit runs hooks last in, first out, so the
        GL contexts are then freed before the hook that the renderer's library registered with its
        first context (MuJoCo's EGL one) terminates the display.
        """
        if not self._closes_at_exit:
            atexit.register(_close_if_alive, weakref.ref(self))
            self._closes_at_exit = True


def _close_if_alive(ref: weakref.ref[BenchmarkEnv]) -> None:
    env = ref()
    if env is not None:
        env.close()
