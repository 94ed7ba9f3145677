"""Reference policies: the benchmark's scripted expert, uniform random actions, and zeros.

They bracket every table: ``oracle`` is the ceiling a learned policy is measured against, ``random``
and ``zero`` the floor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from vla_bench.policy import episode_rng
from vla_bench.types import ActionSpec, EpisodeSpec, Observation


class _NoKwargs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ReferencePolicy:
    """What the three share: no knobs, declared as an empty ``Config`` so config files are checked too."""

    Config = _NoKwargs

    def __init__(self, **kwargs: Any) -> None:
        self.config = self.Config(**kwargs)

    def metadata(self) -> dict[str, Any]:
        return {}


class ZeroPolicy(_ReferencePolicy):
    """All-zero actions: the robot holds still (gripper half-way, i.e. 0)."""

    name = "zero"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._dim = 0

    def reset(self, episode: EpisodeSpec, action_spec: ActionSpec) -> None:
        self._dim = action_spec.dim

    def act(self, obs: Observation) -> np.ndarray:
        return np.zeros((1, self._dim), dtype=np.float32)


class RandomPolicy(_ReferencePolicy):
    """Uniform actions in the action spec's range, seeded by the episode identity."""

    name = "random"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rng = np.random.default_rng(0)
        self._low = self._high = np.zeros(0, dtype=np.float32)

    def reset(self, episode: EpisodeSpec, action_spec: ActionSpec) -> None:
        self._rng = episode_rng(episode, "random-policy")
        self._low, self._high = action_spec.low, action_spec.high

    def act(self, obs: Observation) -> np.ndarray:
        return self._rng.uniform(self._low, self._high)[None].astype(np.float32)


class OraclePolicy(_ReferencePolicy):
    """Meta-World's own scripted policy for the episode's task, driven by privileged state.

    Reads ``obs.info["metaworld_obs"]``; its gripper output (+1 close) is converted to the
    project's convention (+1 open).
    """

    name = "oracle"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._experts: dict[str, Any] = {}
        self._task = ""

    def reset(self, episode: EpisodeSpec, action_spec: ActionSpec) -> None:
        from metaworld.policies import ENV_POLICY_MAP

        if episode.task not in ENV_POLICY_MAP:
            raise ValueError(f"no scripted expert for task {episode.task!r}")
        if episode.task not in self._experts:
            self._experts[episode.task] = ENV_POLICY_MAP[episode.task]()
        self._task = episode.task

    def act(self, obs: Observation) -> np.ndarray:
        raw = obs.info.get("metaworld_obs")
        if raw is None:
            raise ValueError("the oracle needs info['metaworld_obs'] (a Meta-World env)")
        a = np.asarray(self._experts[self._task].get_action(raw), dtype=np.float32).copy()
        a[3] = -a[3]
        return np.clip(a, -1.0, 1.0)[None]

    def metadata(self) -> dict[str, Any]:
        return {"source": "metaworld.policies"}
