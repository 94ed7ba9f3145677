"""Episode plans: the exact list of episode identities a run config asks for.

Identity is explicit and independent of the policy, so every policy in a comparison runs the same
identities and statistics can be paired. For task t, episode k uses init state
``init_ids[k % len(init_ids)]``; repeats beyond the available init states get a new seed
(``run seed + repeat``), and ``seeds_per_episode`` adds further seeds per identity.

Suites are resolved once (the registered suite with the run's overrides) and the plan carries them, so
every part of a run (executor, workers, manifest, report) sees the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from vla_bench import registries
from vla_bench.config import RunConfig, SuiteRunConfig
from vla_bench.suite import SuiteSpec
from vla_bench.types import EpisodeSpec


@dataclass(frozen=True)
class WorkItem:
    """One episode of one policy on one suite entry of the run config."""

    suite_index: int
    policy_index: int
    spec: EpisodeSpec

    def to_dict(self) -> dict[str, Any]:
        return {"suite_index": self.suite_index, "policy_index": self.policy_index, "spec": self.spec.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WorkItem:
        return cls(int(d["suite_index"]), int(d["policy_index"]), EpisodeSpec.from_dict(d["spec"]))


@dataclass(frozen=True)
class Plan:
    """The run's resolved suites (one per suite entry) and its work items, task-major."""

    suites: tuple[SuiteSpec, ...]
    items: tuple[WorkItem, ...]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)


def resolve_suite(entry: SuiteRunConfig) -> SuiteSpec:
    """The registered suite with the run's overrides applied."""
    spec: SuiteSpec = registries.suites.get(entry.suite)
    return spec.with_overrides(episodes_per_task=entry.episodes_per_task, execute_steps=entry.execute_steps)


def resolve_suites(cfg: RunConfig) -> tuple[SuiteSpec, ...]:
    return tuple(resolve_suite(entry) for entry in cfg.suites)


def suite_episodes(entry: SuiteRunConfig, run_seed: int, seeds_per_episode: int = 1,
                   suite: SuiteSpec | None = None) -> list[EpisodeSpec]:
    suite = suite or resolve_suite(entry)
    out: list[EpisodeSpec] = []
    for task in suite.tasks:
        if entry.tasks is not None and task.name not in entry.tasks:
            continue
        init_ids = list(entry.init_ids) if entry.init_ids is not None else list(range(task.num_init_states))
        for k in range(suite.episodes_per_task if entry.init_ids is None else len(init_ids)):
            repeat = k // len(init_ids)
            for s in range(seeds_per_episode):
                out.append(
                    EpisodeSpec(
                        suite=suite.name,
                        task=task.name,
                        init_id=init_ids[k % len(init_ids)],
                        perturbation=entry.perturbation,
                        seed=run_seed + repeat * seeds_per_episode + s,
                    )
                )
    return out


def plan(cfg: RunConfig) -> Plan:
    """All work items of a run, ordered task-major so partial runs cover tasks evenly per policy."""
    suites = resolve_suites(cfg)
    items: list[WorkItem] = []
    for si, (entry, suite) in enumerate(zip(cfg.suites, suites)):
        for spec in suite_episodes(entry, cfg.seed, cfg.seeds_per_episode, suite):
            for pi in range(len(cfg.policies)):
                items.append(WorkItem(si, pi, spec))
    keys = [(cfg.policies[i.policy_index].display_name, i.spec.key) for i in items]
    if len(set(keys)) != len(keys):
        raise ValueError("the run config plans the same (policy, episode identity) twice; check suites/init_ids")
    return Plan(suites, tuple(items))
