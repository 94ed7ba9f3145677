"""Episode loops. ``run_episode`` drives one episode in the mode its suite names (``suite.rollout``):

- ``single``: one task, one success flag (rollout/single.py);
- ``chain``: subtasks in sequence without reset, stopped at the first failure (rollout/chain.py);
- ``paced``: a fixed control rate while the policy computes, with operator hooks (rollout/paced.py).

A new mode is one file with a ``RolloutMode`` subclass plus one line in ``vla_bench.registries.rollouts``.
"""

from __future__ import annotations

from vla_bench.policy import Policy
from vla_bench.rollout.base import Env, RolloutMode, StepHook, check_chunk, to_observation
from vla_bench.suite import SuiteSpec
from vla_bench.types import EpisodeResult, EpisodeSpec

__all__ = ["Env", "RolloutMode", "StepHook", "check_chunk", "mode", "run_episode", "to_observation"]


def mode(name: str) -> RolloutMode:
    from vla_bench.registries import rollouts

    return rollouts.get(name)()


def run_episode(env: Env, policy: Policy, spec: EpisodeSpec, suite: SuiteSpec, *, max_steps: int | None = None,
                on_step: StepHook | None = None) -> EpisodeResult:
    """Run one episode of ``spec`` in the suite's rollout mode; never raises for env or policy crashes."""
    return mode(suite.rollout).run(env, policy, spec, suite, max_steps=max_steps, on_step=on_step)
