"""LIBERO suites and evaluation protocols (presets), held as data.

Pure data: importing this module imports neither LIBERO nor torch. The task lists (names, language
instructions, BDDL and init-state files) come from ``envs/data/libero_tasks.json``, which was
written from the ``libero`` package (see ``python -m envs.libero_drift tasks``) and is checked
against it by the tests.

A preset is one published evaluation protocol. What the runner owns (episodes per task, settle
no-op steps and whether they count in the budget, max steps, actions executed per chunk) lives in
the suite; what the env owns (resolution, env seed, image rotation) lives in ``Preset`` and reaches
the env through the suite's ``env_kwargs``. Suite ``libero_spatial`` is the OpenVLA protocol;
``libero_spatial.openpi``, ``libero_spatial.oft`` and ``libero_spatial.lerobot`` the others. All
variants record their episodes under the canonical suite name (``libero_spatial``), so reports lay
them out as LIBERO tables; a run's config names the variant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from vla_bench.suite import SuiteSpec, TaskSpec

SUITE_NAMES = ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")
TASKS_FILE = Path(__file__).parent / "data" / "libero_tasks.json"
NUM_INIT_STATES = 50


@dataclass(frozen=True)
class Preset:
    """One LIBERO evaluation protocol. Every field is a constant of the code it names (see docs/libero.md).

    max_steps: policy steps per suite; settle_steps no-op steps come first (counted in max_steps
    when settle_counted, as in OpenVLA's ``while t < max_steps + num_steps_wait``, whose budget
    reads max_steps + 10 because its wait steps increment t too).
    env_seed: the seed handed to LIBERO's ``env.seed`` before every episode; None: the episode's
    own seed (LeRobot seeds each reset).
    image_rotation: degrees the raw render is rotated; 180 is ``img[::-1, ::-1]``.
    """

    name: str
    source: str
    episodes_per_task: int
    settle_steps: int
    settle_counted: bool
    max_steps: dict[str, int]
    env_seed: int | None
    resolution: int
    image_rotation: int
    execute_steps: int
    cameras: tuple[str, ...] = ("agentview", "robot0_eye_in_hand")
    global_seed: int | None = None
    notes: str = ""

    def budget(self, suite: str) -> int:
        """The step budget the runner enforces: policy steps plus counted settle steps."""
        return self.max_steps[suite] + (self.settle_steps if self.settle_counted else 0)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


_MAX_STEPS = {"libero_spatial": 220, "libero_object": 280, "libero_goal": 300, "libero_10": 520, "libero_90": 400}

PRESETS: dict[str, Preset] = {
    "openvla": Preset(
        name="openvla",
        source="openvla/openvla experiments/robot/libero/run_libero_eval.py",
        episodes_per_task=50, settle_steps=10, settle_counted=True, max_steps=dict(_MAX_STEPS),
        env_seed=0, resolution=256, image_rotation=180, execute_steps=1, global_seed=7,
        notes="one action per query; OpenVLA itself sends only the agentview image",
    ),
    "oft": Preset(
        name="oft",
        source="moojink/openvla-oft experiments/robot/libero/run_libero_eval.py",
        episodes_per_task=50, settle_steps=10, settle_counted=True, max_steps=dict(_MAX_STEPS),
        env_seed=0, resolution=256, image_rotation=180, execute_steps=8, global_seed=7,
        notes="8-action chunks executed open loop; agentview + wrist images and 8-D proprio",
    ),
    "openpi": Preset(
        name="openpi",
        source="Physical-Intelligence/openpi examples/libero/main.py",
        episodes_per_task=50, settle_steps=10, settle_counted=True, max_steps=dict(_MAX_STEPS),
        env_seed=7, resolution=256, image_rotation=180, execute_steps=5, global_seed=7,
        notes="env.seed(7) instead of 0; first 5 actions of each chunk (replan_steps=5); policy letterboxes to 224",
    ),
    "lerobot": Preset(
        name="lerobot",
        source="huggingface/lerobot src/lerobot/envs/libero.py",
        episodes_per_task=50, settle_steps=10, settle_counted=False,
        max_steps={**_MAX_STEPS, "libero_spatial": 280},
        env_seed=None, resolution=360, image_rotation=180, execute_steps=10, global_seed=1000,
        notes="settle steps inside reset, not counted; spatial budget 280; 360 px renders; "
              "each reset seeded by the episode seed; n_action_steps=10 (pi0.5); docs recommend 10 episodes/task",
    ),
}
DEFAULT_PRESET = "openvla"


@dataclass(frozen=True)
class LiberoTask:
    """Where LIBERO keeps one task: its BDDL problem file and its init-state file."""

    suite: str
    index: int
    name: str
    language: str
    problem_folder: str
    bddl_file: str
    init_states_file: str


@lru_cache(maxsize=1)
def task_table() -> dict[str, tuple[LiberoTask, ...]]:
    """suite -> its tasks in LIBERO's order (task order index 0)."""
    data = json.loads(TASKS_FILE.read_text())
    return {s: tuple(LiberoTask(suite=s, index=i, **t) for i, t in enumerate(data["suites"][s])) for s in SUITE_NAMES}


def check_suite(suite: str) -> str:
    if suite not in SUITE_NAMES:
        raise ValueError(f"unknown LIBERO suite {suite!r}; choose one of {list(SUITE_NAMES)}")
    return suite


def check_preset(preset: str) -> Preset:
    if preset not in PRESETS:
        raise ValueError(f"unknown LIBERO preset {preset!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[preset]


def libero_task(suite: str, task: str) -> LiberoTask:
    """The task by name (or by its index in the suite, as a string or int)."""
    tasks = task_table()[check_suite(suite)]
    for t in tasks:
        if t.name == task:
            return t
    if isinstance(task, int) or (isinstance(task, str) and task.isdigit()):
        i = int(task)
        if 0 <= i < len(tasks):
            return tasks[i]
        raise ValueError(f"task index {i} out of range for {suite}: 0..{len(tasks) - 1}")
    raise ValueError(f"suite {suite!r} has no task {task!r}; tasks: {[t.name for t in tasks]}")


def make_suite(suite: str, preset: str = DEFAULT_PRESET) -> SuiteSpec:
    """The SuiteSpec of a LIBERO suite under a preset."""
    p = check_preset(preset)
    check_suite(suite)
    budget = p.budget(suite)
    tasks = tuple(TaskSpec(t.name, t.language, budget, NUM_INIT_STATES) for t in task_table()[suite])
    counted = "counted in" if p.settle_counted else "outside"
    return SuiteSpec(
        name=suite,
        env="libero",
        tasks=tasks,
        episodes_per_task=p.episodes_per_task,
        execute_steps=p.execute_steps,
        settle_steps=p.settle_steps,
        settle_counted=p.settle_counted,
        env_kwargs={"suite": suite, "preset": p.name},
        report_layout="libero",
        description=(f"LIBERO {suite[len('libero_'):]} ({p.name} protocol): {len(tasks)} tasks x "
                     f"{p.episodes_per_task} fixed init states, {p.max_steps[suite]} steps + "
                     f"{p.settle_steps} settle ({counted} the budget)"),
    )


def __getattr__(name: str) -> SuiteSpec:
    # LIBERO_SPATIAL, LIBERO_SPATIAL_OPENPI, ... built on demand (reads the task table)
    for suite in SUITE_NAMES:
        for preset in PRESETS:
            attr = suite.upper() if preset == DEFAULT_PRESET else f"{suite}_{preset}".upper()
            if name == attr:
                return make_suite(suite, preset)
    raise AttributeError(name)


def registry_entries() -> dict[str, str]:
    """Registry name -> import target of every LIBERO suite variant."""
    out = {}
    for suite in SUITE_NAMES:
        for preset in PRESETS:
            key = suite if preset == DEFAULT_PRESET else f"{suite}.{preset}"
            attr = suite.upper() if preset == DEFAULT_PRESET else f"{suite}_{preset}".upper()
            out[key] = f"envs.libero_presets:{attr}"
    return out
