"""Suites: the tasks, instructions, budgets and episode counts a protocol fixes, held as data."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping


@dataclass(frozen=True)
class TaskSpec:
    """One task of a suite: its name, its instruction and its step budget."""

    name: str
    instruction: str
    max_steps: int
    num_init_states: int = 50


@dataclass(frozen=True)
class SuiteSpec:
    """A benchmark suite as its protocol defines it.

    env: registry name of the env adapter; env_kwargs: fixed constructor arguments.
    settle_steps: no-op steps before the policy acts (counted in max_steps when settle_counted).
    execute_steps: how many actions of each returned chunk are executed before re-querying.
    """

    name: str
    env: str
    tasks: tuple[TaskSpec, ...]
    episodes_per_task: int = 50
    execute_steps: int = 1
    settle_steps: int = 0
    settle_counted: bool = True
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def task(self, name: str) -> TaskSpec:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"suite {self.name!r} has no task {name!r}; tasks: {[t.name for t in self.tasks]}")

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)

    def with_overrides(self, **kw: Any) -> SuiteSpec:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})
