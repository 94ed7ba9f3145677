"""The scripted point-reaching env as a chained benchmark: reach three targets in a row, no reset between.

It exercises the ``chain`` rollout mode (CALVIN's protocol) without a simulator: episode (chain,
init_id k) visits the three targets in the k-th of their six orders, each subtask with its own
instruction and a 40-step budget, starting where the previous subtask left the point.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

from envs.scripted import SCRIPTED, TARGETS, ScriptedEnv
from vla_bench.suite import SubtaskSpec, SuiteSpec, TaskSpec

SUBTASK_STEPS = 40
ORDERS = tuple(itertools.permutations(TARGETS))

SCRIPTED_CHAIN = SuiteSpec(
    name="scripted_chain",
    env="scripted_chain",
    tasks=(TaskSpec("chain", "reach the three targets in turn", 3 * SUBTASK_STEPS, len(ORDERS)),),
    episodes_per_task=len(ORDERS),
    rollout="chain",
    report_layout="calvin_chain",
    description="Scripted point reaching, three subtasks per chain (chain rollout without a simulator).",
)


class ScriptedChainEnv(ScriptedEnv):
    """``subtasks``/``begin_subtask`` (vla_bench.rollout.chain.ChainEnv) over the scripted env."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = SCRIPTED_CHAIN

    def subtasks(self, task: str, init_id: int) -> Sequence[SubtaskSpec]:
        SCRIPTED_CHAIN.task(task)
        return tuple(SubtaskSpec(name, SCRIPTED.task(name).instruction, SUBTASK_STEPS)
                     for name in ORDERS[init_id % len(ORDERS)])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        options = dict(options or {})
        init_id = int(options.get("init_id", seed or 0))
        options["task"] = self.subtasks(options.get("task", "chain"), init_id)[0].name
        return super().reset(seed=seed, options={**options, "init_id": init_id})

    def begin_subtask(self, subtask: SubtaskSpec) -> tuple[Any, dict]:
        self._task = subtask.name
        return self._obs(), self._info(False)
