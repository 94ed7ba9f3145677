"""``chain``: an episode is a sequence of subtasks with no reset between them (CALVIN's protocol).

Each subtask has its own instruction, step budget and success; the policy is reset at the start of
each one (CALVIN's evaluation calls ``model.reset()`` per subtask), and the chain stops at the first
subtask that fails. The record lists the subtasks reached, ``[{name, success, steps}]``, and the chain
length; the episode is SUCCESS only when every subtask succeeded, otherwise it carries the status of
the subtask that ended it.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from vla_bench.policy import Policy
from vla_bench.rollout.base import (
    Clock, Env, RolloutMode, Segment, StepHook, act_until_done, env_attr, reset_and_settle, result,
)
from vla_bench.suite import SubtaskSpec, SuiteSpec
from vla_bench.types import EpisodeResult, EpisodeSpec, EpisodeStatus, SubtaskResult


@runtime_checkable
class ChainEnv(Protocol):
    """What an adapter implements to run chained episodes."""

    def subtasks(self, task: str, init_id: int) -> Sequence[SubtaskSpec]:
        """The chain of episode (task, init_id), in order."""
        ...

    def begin_subtask(self, subtask: SubtaskSpec) -> tuple[Any, dict]:
        """Make ``subtask`` the active one (instruction, success rule measured from now) without moving
        the scene; return the current observation and info."""
        ...


class Chain(RolloutMode):
    requires = ChainEnv

    def episode(self, env: Env, policy: Policy, spec: EpisodeSpec, suite: SuiteSpec, clock: Clock, *,
                max_steps: int | None, on_step: StepHook | None) -> EpisodeResult:
        chain = list(env_attr(env, "subtasks")(spec.task, spec.init_id))
        if not chain:
            raise ValueError(f"{spec.key}: the env returned an empty chain")
        begin = env_attr(env, "begin_subtask")
        start = reset_and_settle(env, spec, suite, clock)
        steps, status, done = start.steps, EpisodeStatus.SUCCESS, []
        for sub in chain:
            with clock.env():
                raw, info = begin(sub)
            with clock.policy():
                policy.reset(spec, env.action_spec)
            budget = min(sub.max_steps, max_steps) if max_steps else sub.max_steps
            end = act_until_done(env, policy, Segment(status, 0, raw, info), budget, suite.execute_steps, clock,
                                 on_step)
            steps += end.steps
            done.append(SubtaskResult(sub.name, end.status is EpisodeStatus.SUCCESS, end.steps))
            if end.status is not EpisodeStatus.SUCCESS:
                status = end.status
                break
        return result(policy, spec, status, steps, clock, subtasks=tuple(done))
