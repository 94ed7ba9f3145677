"""``single``: one task per episode, one success flag (LIBERO, Meta-World, SimplerEnv)."""

from __future__ import annotations

from vla_bench.policy import Policy
from vla_bench.rollout.base import Clock, Env, RolloutMode, StepHook, act_until_done, reset_and_settle, result
from vla_bench.suite import SuiteSpec
from vla_bench.types import EpisodeResult, EpisodeSpec


class Single(RolloutMode):
    """Reset to the identity, settle, then act until success, termination or the task's step budget."""

    def episode(self, env: Env, policy: Policy, spec: EpisodeSpec, suite: SuiteSpec, clock: Clock, *,
                max_steps: int | None, on_step: StepHook | None) -> EpisodeResult:
        budget = max_steps or suite.task(spec.task).max_steps
        start = reset_and_settle(env, spec, suite, clock)
        with clock.policy():
            policy.reset(spec, env.action_spec)
        end = act_until_done(env, policy, start, budget - start.steps, suite.execute_steps, clock, on_step)
        return result(policy, spec, end.status, start.steps + end.steps, clock)
