"""What every episode-loop mode shares: the env contract it drives, observation and chunk checks,
time accounting, and the reset-settle-act steps that ``single`` and ``chain`` both run.

A mode turns (env, policy, episode identity, suite) into one ``EpisodeResult`` and never raises for
an env or policy crash: that is recorded as ERROR with its traceback, never counted as a failure.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator, Mapping, Protocol

import numpy as np
from numpy.typing import NDArray

from vla_bench.policy import Policy
from vla_bench.suite import SuiteSpec
from vla_bench.types import ActionSpec, EpisodeResult, EpisodeSpec, EpisodeStatus, Observation, SubtaskResult

StepHook = Callable[[Observation, NDArray[np.float32], Mapping[str, Any]], None]


class Env(Protocol):
    """What a rollout needs from an adapter (see vla_bench.env.BenchmarkEnv)."""

    action_spec: ActionSpec

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]: ...

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]: ...

    def noop_action(self) -> NDArray[np.float32]: ...


def to_observation(raw: Mapping[str, Any], info: Mapping[str, Any]) -> Observation:
    """An adapter's dict observation (see vla_bench/env.py) as the typed Observation."""
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


def env_attr(env: Any, name: str) -> Any:
    """An attribute of the adapter under any gymnasium wrappers (wrappers may override it)."""
    getter = getattr(env, "get_wrapper_attr", None)
    return getter(name) if getter is not None else getattr(env, name)


def unwrapped(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


def judge(info: Mapping[str, Any], terminated: bool, truncated: bool) -> EpisodeStatus | None:
    """The status a step ends the episode with, or None if it goes on."""
    if info.get("success"):
        return EpisodeStatus.SUCCESS
    if terminated:
        return EpisodeStatus.FAILURE
    if truncated:
        return EpisodeStatus.TIMEOUT
    return None


class Clock:
    """Wall time of the episode, split into env and policy time."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.env_s = self.policy_s = 0.0

    @contextlib.contextmanager
    def _adding_to(self, total: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, total, getattr(self, total) + time.perf_counter() - t0)

    def env(self) -> contextlib.AbstractContextManager[None]:
        return self._adding_to("env_s")

    def policy(self) -> contextlib.AbstractContextManager[None]:
        return self._adding_to("policy_s")

    def timing(self, **more: float) -> dict[str, float]:
        total = time.perf_counter() - self.start
        return {"total_s": round(total, 4), "env_s": round(self.env_s, 4), "policy_s": round(self.policy_s, 4),
                **more}


@dataclass
class Segment:
    """Where an act loop left the episode: its status, the steps it took and the last observation."""

    status: EpisodeStatus
    steps: int
    raw: Any
    info: Mapping[str, Any]


def reset_and_settle(env: Env, spec: EpisodeSpec, suite: SuiteSpec, clock: Clock) -> Segment:
    """Reset to the identity and run the suite's no-op settle steps (counted when the suite says so)."""
    with clock.env():
        raw, info = env.reset(seed=spec.seed, options={"task": spec.task, "init_id": spec.init_id})
    steps = 0
    for _ in range(suite.settle_steps):
        with clock.env():
            raw, _, _, _, info = env.step(env.noop_action())
        steps += int(suite.settle_counted)
    return Segment(EpisodeStatus.TIMEOUT, steps, raw, info)


def act_until_done(env: Env, policy: Policy, start: Segment, budget: int, execute_steps: int, clock: Clock,
                   on_step: StepHook | None = None) -> Segment:
    """Query chunks and execute ``execute_steps`` of each until success, termination or ``budget`` steps."""
    raw, info, steps, status = start.raw, start.info, 0, EpisodeStatus.TIMEOUT
    done = False
    while not done and steps < budget:
        obs = to_observation(raw, info)
        with clock.policy():
            chunk = check_chunk(policy.act(obs), env.action_spec)
        for action in chunk[:execute_steps]:
            with clock.env():
                raw, _, terminated, truncated, info = env.step(action)
            steps += 1
            if on_step is not None:
                on_step(obs, action, info)
                obs = to_observation(raw, info)
            ended = judge(info, terminated, truncated)
            if ended is not None:
                status, done = ended, True
            if done or steps >= budget:
                break
    return Segment(status, steps, raw, info)


class RolloutMode(ABC):
    """An episode-loop mode, named by a suite's ``rollout``. ``requires``: the interface the env must
    implement beyond the basic contract (checked when the config is validated)."""

    requires: ClassVar[type | None] = None

    def run(self, env: Env, policy: Policy, spec: EpisodeSpec, suite: SuiteSpec, *, max_steps: int | None = None,
            on_step: StepHook | None = None) -> EpisodeResult:
        """Run one episode; an exception anywhere ends it as ERROR with its traceback."""
        clock = Clock()
        name = getattr(policy, "name", type(policy).__name__)
        try:
            return self.episode(env, policy, spec, suite, clock, max_steps=max_steps, on_step=on_step)
        except Exception:  # noqa: BLE001 - a crash is recorded, never counted as a failure
            return EpisodeResult(spec, name, EpisodeStatus.ERROR, 0, timing=clock.timing(),
                                 error=traceback.format_exc(limit=20))

    @abstractmethod
    def episode(self, env: Env, policy: Policy, spec: EpisodeSpec, suite: SuiteSpec, clock: Clock, *,
                max_steps: int | None, on_step: StepHook | None) -> EpisodeResult:
        """The loop itself; may raise (``run`` turns that into ERROR)."""


def result(policy: Policy, spec: EpisodeSpec, status: EpisodeStatus, steps: int, clock: Clock, *,
           subtasks: tuple[SubtaskResult, ...] = (), extra: Mapping[str, Any] | None = None,
           **timing: float) -> EpisodeResult:
    return EpisodeResult(spec, getattr(policy, "name", type(policy).__name__), status, steps, subtasks=subtasks,
                         timing=clock.timing(**timing), extra=dict(extra or {}))
