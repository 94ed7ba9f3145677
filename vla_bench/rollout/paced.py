"""``paced``: the loop runs at the suite's control rate ``max_hz`` and the world does not wait.

Real robots and latency-aware evaluation: every tick (1 / max_hz) exactly one action is sent to the
env. The policy computes in a background thread on the latest observation while the env keeps
stepping; a tick with no action ready holds (no motion, the gripper as last commanded), so a slow
policy pays for its latency in the episode itself. Ticks are scheduled on absolute deadlines, so
jitter does not accumulate; a tick that comes late is not made up for with a burst.

Operator hooks: an adapter that implements ``OperatorHooks`` (a real robot) is asked to have the scene
reset before the episode and to label success after it; the label decides the status and is recorded.
The record's timing carries the measured control rate; ``extra`` the hold and late ticks.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from vla_bench.policy import Policy
from vla_bench.rollout.base import (
    Clock, Env, RolloutMode, StepHook, check_chunk, judge, reset_and_settle, result, to_observation, unwrapped,
)
from vla_bench.suite import SuiteSpec
from vla_bench.types import EpisodeResult, EpisodeSpec, EpisodeStatus, Observation


@runtime_checkable
class OperatorHooks(Protocol):
    """An operator in the loop: resets the physical scene and labels the outcome."""

    def reset_scene(self, episode: EpisodeSpec) -> None:
        """Block until the scene is set up for ``episode``."""
        ...

    def label_success(self, episode: EpisodeSpec, status: EpisodeStatus) -> bool | None:
        """The operator's verdict (None: keep ``status`` as the env judged it)."""
        ...


def hold_action(noop: NDArray[np.float32], last: NDArray[np.float32] | None, gripper: int | None) -> NDArray[np.float32]:
    """No motion; the gripper keeps its last command (a no-op would open it and drop what it holds)."""
    if last is None or gripper is None:
        return noop
    out = noop.copy()
    out[gripper] = last[gripper]
    return out


class Paced(RolloutMode):
    def episode(self, env: Env, policy: Policy, spec: EpisodeSpec, suite: SuiteSpec, clock: Clock, *,
                max_steps: int | None, on_step: StepHook | None) -> EpisodeResult:
        assert suite.max_hz, "paced suites carry max_hz (checked by SuiteSpec)"
        period = 1.0 / suite.max_hz
        budget = max_steps or suite.task(spec.task).max_steps
        operator = unwrapped(env) if isinstance(unwrapped(env), OperatorHooks) else None
        if operator is not None:
            operator.reset_scene(spec)
        start = reset_and_settle(env, spec, suite, clock)
        with clock.policy():
            policy.reset(spec, env.action_spec)

        def act(obs: Observation) -> NDArray[np.float32]:
            t0 = time.perf_counter()
            try:
                return check_chunk(policy.act(obs), env.action_spec)[: suite.execute_steps]
            finally:
                clock.policy_s += time.perf_counter() - t0

        noop, gripper = env.noop_action(), env.action_spec.gripper_index
        raw, info, steps, status = start.raw, start.info, start.steps, EpisodeStatus.TIMEOUT
        queue: deque[NDArray[np.float32]] = deque()
        last: NDArray[np.float32] | None = None
        holds = late = 0
        ticks: list[float] = []
        with ThreadPoolExecutor(1, thread_name_prefix="vla-bench-policy") as thinker:
            pending: Future[NDArray[np.float32]] | None = thinker.submit(act, to_observation(raw, info))
            deadline = time.perf_counter()
            while steps < budget:
                wait = deadline - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                if pending is not None and pending.done():
                    queue.extend(pending.result())  # a policy crash re-raises here: ERROR
                    pending = None
                obs = to_observation(raw, info) if on_step is not None else None
                if queue:
                    action = last = queue.popleft()
                else:
                    action, holds = hold_action(noop, last, gripper), holds + 1
                ticks.append(time.perf_counter())
                with clock.env():
                    raw, _, terminated, truncated, info = env.step(action)
                steps += 1
                if on_step is not None and obs is not None:
                    on_step(obs, action, info)
                ended = judge(info, terminated, truncated)
                if ended is not None:
                    status = ended
                    break
                if not queue and pending is None:
                    pending = thinker.submit(act, to_observation(raw, info))
                deadline += period
                if time.perf_counter() > deadline + period:  # more than a tick behind: start afresh
                    late += 1
                    deadline = time.perf_counter()
        label = operator.label_success(spec, status) if operator is not None else None
        if label is not None:
            status = EpisodeStatus.SUCCESS if label else EpisodeStatus.FAILURE
        rate = (len(ticks) - 1) / (ticks[-1] - ticks[0]) if len(ticks) > 1 and ticks[-1] > ticks[0] else 0.0
        extra = {"hold_steps": holds, "late_ticks": late, "max_hz": suite.max_hz}
        if label is not None:
            extra["operator_label"] = label
        return result(policy, spec, status, steps, clock, extra=extra, control_hz=round(rate, 3))
