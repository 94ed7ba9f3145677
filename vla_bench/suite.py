"""Suites: the tasks, instructions, budgets and episode counts a protocol fixes, held as data.

A suite also names how its episodes are driven (``rollout``: a registered episode-loop mode) and how
its results are tabled (``report_layout``: a registered report layout), so neither the runner nor the
report has to guess from the suite's name.
"""

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
class SubtaskSpec:
    """One link of a chained episode (``rollout: chain``): its own instruction, budget and success."""

    name: str
    instruction: str
    max_steps: int


@dataclass(frozen=True)
class SuiteSpec:
    """A benchmark suite as its protocol defines it.

    env: registry name of the env adapter; env_kwargs: fixed constructor arguments.
    settle_steps: no-op steps before the policy acts (counted in max_steps when settle_counted).
    execute_steps: how many actions of each returned chunk are executed before re-querying.
    rollout: episode-loop mode (``single``, ``chain``, ``paced``; see vla_bench/rollout).
    max_hz: control rate of a ``paced`` loop.
    report_layout: how reports table this suite (``per_task``, ``libero``, ``calvin_chain``, ...).
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
    rollout: str = "single"
    max_hz: float | None = None
    report_layout: str = "per_task"

    def __post_init__(self) -> None:
        if self.rollout == "paced" and not (self.max_hz and self.max_hz > 0):
            raise ValueError(f"suite {self.name!r}: a paced rollout needs a positive max_hz")

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
