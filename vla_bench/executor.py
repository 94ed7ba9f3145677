"""Runs work items against cached envs and policies; shared by the in-process runner and workers.

An env that crashed is closed and rebuilt before its next episode, so a retry always starts in a
fresh simulator. Perturbations are applied per episode through ``vla_bench.ood.perturbed``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import traceback
from typing import Any, Iterator

from vla_bench import registries
from vla_bench.config import PolicyConfig, RunConfig, SuiteRunConfig
from vla_bench.plan import WorkItem, resolve_suites
from vla_bench.rollout import run_episode
from vla_bench.suite import SuiteSpec
from vla_bench.types import EpisodeResult, EpisodeStatus, stable_hash


def env_key(suite: SuiteSpec, entry: SuiteRunConfig) -> str:
    """Suite entries with the same env and kwargs (e.g. one per perturbation in a sweep) share an env."""
    return stable_hash({"env": suite.env, "kwargs": {**suite.env_kwargs, **entry.env}})


def make_env(suite: SuiteSpec, entry: SuiteRunConfig) -> Any:
    return registries.envs.get(suite.env)(**{**suite.env_kwargs, **entry.env})


def make_policy(pcfg: PolicyConfig) -> Any:
    policy = registries.policies.get(pcfg.type)(**pcfg.kwargs)
    return policy


@contextlib.contextmanager
def _perturbed(env: Any, item: WorkItem) -> Iterator[Any]:
    if item.spec.perturbation == "none":
        yield env
        return
    from vla_bench.ood import perturbed  # only runs that ask for perturbations need it

    with perturbed(env, item.spec) as wrapped:
        yield wrapped


class Executor:
    """Holds one env per distinct env config and one policy per policy entry, built on first use."""

    def __init__(self, cfg: RunConfig, policy_overrides: dict[int, PolicyConfig] | None = None) -> None:
        from vla_bench.plugins import load_plugins

        load_plugins(cfg.plugins)  # env workers are fresh processes: register the run's plugins here too
        self.cfg = cfg
        self._policy_cfgs = {i: (policy_overrides or {}).get(i, p) for i, p in enumerate(cfg.policies)}
        self._envs: dict[str, Any] = {}
        self.suites = resolve_suites(cfg)
        self._keys = {i: env_key(s, cfg.suites[i]) for i, s in enumerate(self.suites)}
        self._policies: dict[int, Any] = {}

    def simulator_versions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(len(self.cfg.suites)):
            env = self._env(i)
            out.update(getattr(env, "simulator_versions", dict)())
        return out

    def _env(self, i: int) -> Any:
        key = self._keys[i]
        if key not in self._envs:
            self._envs[key] = make_env(self.suites[i], self.cfg.suites[i])
        return self._envs[key]

    def _policy(self, i: int) -> Any:
        if i not in self._policies:
            self._policies[i] = make_policy(self._policy_cfgs[i])
        return self._policies[i]

    def drop_env(self, i: int) -> None:
        env = self._envs.pop(self._keys[i], None)
        if env is not None:
            with contextlib.suppress(Exception):
                env.close()

    def run(self, item: WorkItem, attempt: int = 0, fresh: bool = False) -> EpisodeResult:
        name = self.cfg.policies[item.policy_index].display_name
        if fresh:
            self.drop_env(item.suite_index)
        entry = self.cfg.suites[item.suite_index]
        try:
            env, policy = self._env(item.suite_index), self._policy(item.policy_index)
            with _perturbed(env, item) as penv:
                result = run_episode(penv, policy, item.spec, self.suites[item.suite_index], max_steps=entry.max_steps)
        except Exception:  # noqa: BLE001 - construction or perturbation crash is an ERROR, not a failure
            result = EpisodeResult(item.spec, name, EpisodeStatus.ERROR, 0, error=traceback.format_exc(limit=20))
        if result.status is EpisodeStatus.ERROR:
            self.drop_env(item.suite_index)
        return dataclasses.replace(result, policy=name, attempt=attempt)

    def close(self) -> None:
        for i in self._keys:
            self.drop_env(i)
        for p in self._policies.values():
            with contextlib.suppress(Exception):
                getattr(p, "close", lambda: None)()
        self._policies.clear()
