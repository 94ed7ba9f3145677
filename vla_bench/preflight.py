"""Preflight: what a run needs is built and checked before anything is written.

Config validation (vla_bench/config.py) has checked names, keys and types from the file alone.
Preflight goes one step further, at the cost of building each thing once: every policy is constructed
(a checkpoint is loaded: a missing path, a truncated safetensors file or wrong tokenizer files fail
here, naming the file), every distinct env is constructed from its suite entry (its values validated
by the adapter), and every suite entry's ``init_ids`` lie within its tasks' init states. Simulators
stay unbuilt (adapters build them on first reset), so this takes seconds, not minutes.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

from vla_bench.config import RunConfig
from vla_bench.plan import Plan


class PreflightError(ValueError):
    """A run that cannot start; the message is one line naming the config key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


def _one_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return text if text else type(exc).__name__


def _build(key: str, what: str, make: Callable[[], Any]) -> None:
    try:
        obj = make()
    except Exception as exc:  # noqa: BLE001 - any failure to build is reported at its key
        raise PreflightError(key, f"cannot build {what}: {_one_line(exc)}") from exc
    with contextlib.suppress(Exception):
        getattr(obj, "close", lambda: None)()


def check_init_ids(cfg: RunConfig, plan: Plan) -> None:
    for i, (entry, suite) in enumerate(zip(cfg.suites, plan.suites)):
        if entry.init_ids is None:
            continue
        for task in suite.tasks:
            if entry.tasks is not None and task.name not in entry.tasks:
                continue
            bad = [k for k in entry.init_ids if k >= task.num_init_states]
            if bad:
                raise PreflightError(f"suites[{i}].init_ids", f"init id {bad[0]} is out of range for task "
                                     f"{task.name!r} of {suite.name!r} (0..{task.num_init_states - 1})")


def check_run(cfg: RunConfig, plan: Plan) -> None:
    """Raise PreflightError for the first thing that would stop the run once it has started."""
    from vla_bench.executor import env_key, make_env, make_policy

    check_init_ids(cfg, plan)
    seen: set[str] = set()
    for i, (entry, suite) in enumerate(zip(cfg.suites, plan.suites)):
        key = env_key(suite, entry)
        if key not in seen:
            seen.add(key)
            _build(f"suites[{i}].env", f"env {suite.env!r} for suite {suite.name!r}", lambda: make_env(suite, entry))
    for i, p in enumerate(cfg.policies):
        _build(f"policies[{i}]", f"policy {p.display_name!r}", lambda: make_policy(p))
