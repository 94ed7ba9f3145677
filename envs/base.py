"""The env adapter contract shared by every benchmark.

An adapter is a ``gymnasium.Env`` whose observation is a dict
``{"images": {camera: HxWx3 uint8 upright}, "state": float32[state_dim], "instruction": str}``.
``reset(seed=..., options={"task": name, "init_id": k})`` puts the simulator in the state that the
episode identity names, so the same identity always gives the same first observation.
``info["success"]`` is the benchmark's own success signal at that step.
Simulators are imported and built lazily (on first reset), so constructing an adapter is cheap and
safe before a fork.
"""

from __future__ import annotations

from typing import Any, Mapping

import gymnasium as gym
import numpy as np

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


class BenchmarkEnv(gym.Env):
    """Base class of every adapter. Subclasses set ``suite``, ``action_spec`` and the spaces."""

    metadata = {"render_modes": ["rgb_array"]}
    suite: SuiteSpec
    action_spec: ActionSpec

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(self.observation_space["images"].spaces)  # type: ignore[index]

    def simulator_versions(self) -> dict[str, str]:
        """Versions of the simulator stack, recorded in run.json."""
        return {}

