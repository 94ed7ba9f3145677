"""Perturbations: registered env wrappers with severity 0..5, deterministic per episode identity.

A perturbation is named ``kind.name`` and applied as ``kind.name@severity`` in the episode identity's
``perturbation`` field, so the exact perturbation is part of every record. Severity 0 is exactly the
identity. Every random draw comes from a generator derived from the episode identity (and the step,
for per-frame effects), so the same identity is perturbed the same way for every policy. Each one wraps
the adapter in a gymnasium wrapper for the episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import gymnasium as gym
import numpy as np

from vla_bench.policy import episode_rng
from vla_bench.types import ActionSpec, EpisodeSpec

MAX_SEVERITY = 5


def parse(perturbation: str) -> tuple[str, int]:
    """'vision.blur@3' -> ('vision.blur', 3); raises ValueError naming the problem."""
    name, sep, sev = perturbation.partition("@")
    if not sep or not sev.isdigit():
        raise ValueError(f"perturbation {perturbation!r} must look like 'kind.name@severity', e.g. 'vision.blur@3'")
    severity = int(sev)
    if not 0 <= severity <= MAX_SEVERITY:
        raise ValueError(f"severity must be 0..{MAX_SEVERITY}, got {severity} in {perturbation!r}")
    return name, severity


class PerturbationWrapper(gym.Wrapper):
    """Base of every perturbation's wrapper (listed before ``gym.ObservationWrapper`` or ``gym.ActionWrapper``
    where a subclass uses their hooks).

    Gymnasium wrappers forward no adapter attributes, so the ones a rollout reads (``action_spec``,
    ``noop_action``, ``suite``) are forwarded here, from the nearest layer that has them.
    """

    def __init__(self, env: gym.Env, pert: Perturbation) -> None:
        option = pert.reset_option
        if option and option not in getattr(env.unwrapped, "accepted_reset_options", frozenset()):
            raise TypeError(f"perturbation {pert.kind}.{pert.name} needs the reset option {option!r}, which "
                            f"{type(env.unwrapped).__name__} does not honour (its accepted_reset_options); "
                            "its episodes would run unperturbed")
        super().__init__(env)
        self.pert = pert

    @property
    def action_spec(self) -> ActionSpec:
        return self.env.get_wrapper_attr("action_spec")

    @property
    def suite(self) -> Any:
        return self.env.get_wrapper_attr("suite")

    def noop_action(self) -> np.ndarray:
        return self.env.get_wrapper_attr("noop_action")()

    def begin_subtask(self, subtask: Any) -> tuple[Any, dict]:
        """Chained episodes (vla_bench.rollout.chain): a subtask's first observation is perturbed too."""
        obs, info = self.env.get_wrapper_attr("begin_subtask")(subtask)
        return (self.observation(obs) if isinstance(self, gym.ObservationWrapper) else obs), info

    def restore(self) -> None:
        """Undo any change to the simulator (the runner reuses the base env)."""


@dataclass(frozen=True)
class Level:
    """What one severity means, for docs and records."""

    severity: int
    value: Any


class Perturbation:
    """Base class. Subclasses set ``kind``, ``levels`` (severity 0..5 -> parameter), ``source`` and
    implement ``wrap``."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    levels: ClassVar[Sequence[Any]] = ()
    unit: ClassVar[str] = ""
    source: ClassVar[str] = ""
    description: ClassVar[str] = ""
    reset_option: ClassVar[str | None] = None  # an adapter reset option this perturbation works through

    def __init__(self, severity: int, episode: EpisodeSpec) -> None:
        if len(self.levels) != MAX_SEVERITY + 1:
            raise TypeError(f"{type(self).__name__} must define {MAX_SEVERITY + 1} levels")
        self.severity = severity
        self.episode = episode
        self.param = self.levels[severity]
        self.rng = episode_rng(episode, f"{self.kind}.{self.name}")

    def step_rng(self, step: int) -> np.random.Generator:
        return episode_rng(self.episode, f"{self.kind}.{self.name}/{step}")

    def wrap(self, env: gym.Env) -> PerturbationWrapper:
        raise NotImplementedError
