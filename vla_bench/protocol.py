"""Episode plans: the exact list of episode identities a run config asks for.

Identity is explicit and independent of the policy, so every policy in a comparison runs the same
identities and statistics can be paired. For task t, episode k uses init state
``init_ids[k % len(init_ids)]``; repeats beyond the available init states get a new seed
(``run seed + repeat``), and ``seeds_per_episode`` adds further seeds per identity.
"""

from __future__ import annotations

from dataclasses import dataclass

from vla_bench import registries
from vla_bench.config import PolicyConfig, RunConfig, SuiteRunConfig
from vla_bench.suite import SuiteSpec
from vla_bench.types import EpisodeSpec


@dataclass(frozen=True)
class WorkItem:
    """One episode of one policy on one suite entry of the run config."""

    suite_index: int
    policy_index: int
    spec: EpisodeSpec


def resolve_suite(entry: SuiteRunConfig) -> SuiteSpec:
    """The registered suite with the run's overrides applied."""
    spec: SuiteSpec = registries.suites.get(entry.suite)
    return spec.with_overrides(episodes_per_task=entry.episodes_per_task, execute_steps=entry.execute_steps)


def suite_episodes(entry: SuiteRunConfig, run_seed: int, seeds_per_episode: int = 1) -> list[EpisodeSpec]:
    suite = resolve_suite(entry)
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


def plan(cfg: RunConfig) -> list[WorkItem]:
    """All work items of a run, ordered task-major so partial runs cover tasks evenly per policy."""
    items: list[WorkItem] = []
    for si, entry in enumerate(cfg.suites):
        episodes = suite_episodes(entry, cfg.seed, cfg.seeds_per_episode)
        for spec in episodes:
            for pi in range(len(cfg.policies)):
                items.append(WorkItem(si, pi, spec))
    keys = [(cfg.policies[i.policy_index].display_name, i.spec.key) for i in items]
    if len(set(keys)) != len(keys):
        raise ValueError("the run config plans the same (policy, episode identity) twice; check suites/init_ids")
    return items


def policy_name(cfg: RunConfig, item: WorkItem) -> str:
    return cfg.policies[item.policy_index].display_name


def policy_of(cfg: RunConfig, item: WorkItem) -> PolicyConfig:
    return cfg.policies[item.policy_index]
