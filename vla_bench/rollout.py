"""One episode: reset to an identity, settle, query the policy for chunks, execute, judge.

A crash anywhere (env or policy) ends the episode as ERROR with its traceback; it is never turned
into a failure. FAILURE means the env ended the episode without success; TIMEOUT means the step
budget ran out.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, Callable, Mapping, Protocol

import numpy as np
from numpy.typing import NDArray

from vla_bench.policy import Policy
from vla_bench.suite import SuiteSpec
from vla_bench.types import ActionSpec, EpisodeResult, EpisodeSpec, EpisodeStatus, Observation

StepHook = Callable[[Observation, NDArray[np.float32], Mapping[str, Any]], None]


class Env(Protocol):
    """What the rollout needs from an adapter (see envs.base.BenchmarkEnv)."""

    action_spec: ActionSpec

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]: ...

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]: ...

    def noop_action(self) -> NDArray[np.float32]: ...


def to_observation(raw: Mapping[str, Any], info: Mapping[str, Any]) -> Observation:
    """An adapter's dict observation (see envs/base.py) as the typed Observation."""
    return Observation(
        images=dict(raw["images"]),
        state=np.asarray(raw["state"], dtype=np.float32),
        instruction=str(raw["instruction"]),
        info=dict(info),
    )


def check_chunk(chunk: Any, spec: ActionSpec) -> NDArray[np.float32]:
    """Coerce a policy output to (horizon, action_dim) float32, or raise a clear error."""
    a = np.asarray(chunk, dtype=np.float32)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != spec.dim or a.shape[0] == 0:
        raise ValueError(f"policy returned actions of shape {np.shape(chunk)}; expected (horizon, {spec.dim})")
    if not np.all(np.isfinite(a)):
        raise ValueError("policy returned non-finite actions")
    return a


def run_episode(
    env: Env,
    policy: Policy,
    spec: EpisodeSpec,
    suite: SuiteSpec,
    *,
    max_steps: int | None = None,
    on_step: StepHook | None = None,
) -> EpisodeResult:
    """Run one episode of ``spec`` and return its result; never raises for env or policy crashes."""
    task = suite.task(spec.task)
    budget = max_steps or task.max_steps
    t_env = t_pol = 0.0
    steps = 0
    start = time.perf_counter()
    status = EpisodeStatus.TIMEOUT
    error = None
    try:
        t0 = time.perf_counter()
        raw, info = env.reset(seed=spec.seed, options={"task": spec.task, "init_id": spec.init_id})
        t_env += time.perf_counter() - t0
        for _ in range(suite.settle_steps):
            t0 = time.perf_counter()
            raw, _, _, _, info = env.step(env.noop_action())
            t_env += time.perf_counter() - t0
            steps += int(suite.settle_counted)
        t0 = time.perf_counter()
        policy.reset(spec, env.action_spec)
        t_pol += time.perf_counter() - t0
        done = False
        while not done and steps < budget:
            obs = to_observation(raw, info)
            t0 = time.perf_counter()
            chunk = check_chunk(policy.act(obs), env.action_spec)
            t_pol += time.perf_counter() - t0
            for action in chunk[: suite.execute_steps]:
                t0 = time.perf_counter()
                raw, _, terminated, truncated, info = env.step(action)
                t_env += time.perf_counter() - t0
                steps += 1
                if on_step is not None:
                    on_step(obs, action, info)
                obs = to_observation(raw, info)
                if info.get("success"):
                    status, done = EpisodeStatus.SUCCESS, True
                elif terminated:
                    status, done = EpisodeStatus.FAILURE, True
                elif truncated:
                    status, done = EpisodeStatus.TIMEOUT, True
                if done or steps >= budget:
                    break
    except Exception:  # noqa: BLE001 - a crash is recorded, never counted as a failure
        status, error = EpisodeStatus.ERROR, traceback.format_exc(limit=20)
    total = time.perf_counter() - start
    return EpisodeResult(
        spec=spec,
        policy=getattr(policy, "name", type(policy).__name__),
        status=status,
        steps=steps,
        timing={"total_s": round(total, 4), "env_s": round(t_env, 4), "policy_s": round(t_pol, 4)},
        error=error,
    )
