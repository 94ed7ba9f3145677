"""Where episodes execute. A backend takes attempts with ``submit``, hands back ``(attempt, result)``
pairs from ``next_result`` and is shut down with ``close``; the runner never knows which one it has.

Registered backends (``vla_bench.registries.backends``; a run config picks one with ``backend:``):
``inprocess`` runs attempts one at a time in this process; ``pool`` runs N worker subprocesses
(``python -m vla_bench.worker``) under the interpreter a suite names, so benchmarks with clashing pins
run in their own virtual environments. A pool worker that dies mid-episode yields an ERROR result for
that episode and is replaced. ``Router`` splits one run over several backends, one per interpreter.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vla_bench.config import PolicyConfig, RunConfig
from vla_bench.plan import WorkItem
from vla_bench.types import EpisodeResult, EpisodeStatus


class BackendError(RuntimeError):
    """A backend cannot start or go on (an env worker that will not come up); the message says where to look."""


@dataclass(frozen=True)
class Attempt:
    """One try at one work item: ``number`` counts earlier ERROR tries; ``fresh`` asks for a rebuilt env."""

    item: WorkItem
    number: int = 0
    fresh: bool = False

    @property
    def affinity_key(self) -> tuple[str, str]:
        """Attempts with the same key reuse one built simulator scene in a worker (a scheduling hint)."""
        return self.item.spec.suite, self.item.spec.task

    def retry(self) -> Attempt:
        return Attempt(self.item, self.number + 1, fresh=True)


@dataclass(frozen=True)
class BackendContext:
    """What every backend is built from: the run, the policy overrides (remote policies when the
    websocket transport is on), the worker count, where logs go and which interpreter runs episodes
    (None: this one)."""

    cfg: RunConfig
    policy_overrides: dict[int, PolicyConfig]
    workers: int
    log_dir: Path
    python: str | None = None


class Backend(ABC):
    """The execution seam: attempts in, results out."""

    def __init__(self, ctx: BackendContext) -> None:
        self.ctx = ctx

    @abstractmethod
    def start(self) -> dict[str, str]:
        """Start executing; return the simulator versions the episodes will run under."""

    @abstractmethod
    def submit(self, attempt: Attempt) -> None:
        """Queue one attempt."""

    @abstractmethod
    def next_result(self) -> tuple[Attempt, EpisodeResult]:
        """Block until one submitted attempt has a result."""

    def ready(self) -> bool:
        """Whether ``next_result`` would return without waiting on another process."""
        return False

    @abstractmethod
    def close(self) -> None:
        """Stop after the episodes in flight; drop the queued ones."""


class AffinityQueue:
    """A task queue that keeps each worker on one benchmark task while it lasts.

    Building a task's scene (model, renderer) costs a large fraction of a second; a worker asks for
    more of the task it already built, and otherwise for a task no other worker is on, so N
    workers build about as many scenes as one. ``None`` is the stop signal.
    """

    def __init__(self) -> None:
        self._items: list[Attempt | None] = []
        self._cv = threading.Condition()
        self._active: dict[int, tuple[int, str] | None] = {}

    def put(self, task: Attempt | None) -> None:
        with self._cv:
            self._items.append(task)
            self._cv.notify()

    def clear(self) -> None:
        with self._cv:
            self._items = [t for t in self._items if t is None]

    def get(self, worker: int) -> Attempt | None:
        with self._cv:
            while not self._items:
                self._cv.wait()
            mine, others = self._active.get(worker), {k for w, k in self._active.items() if w != worker}
            pick = next((i for i, t in enumerate(self._items) if t is not None and t.affinity_key == mine), None)
            if pick is None:
                pick = next((i for i, t in enumerate(self._items) if t is not None and t.affinity_key not in others),
                            None)
            if pick is None:
                pick = next((i for i, t in enumerate(self._items) if t is not None), 0)
            task = self._items.pop(pick)
            self._active[worker] = task.affinity_key if task is not None else None
            return task


class InProcessBackend(Backend):
    """Runs attempts one at a time in this process, when asked for a result."""

    def __init__(self, ctx: BackendContext) -> None:
        super().__init__(ctx)
        from vla_bench.executor import Executor

        self.executor = Executor(ctx.cfg, ctx.policy_overrides)
        self._todo: deque[Attempt] = deque()

    def start(self) -> dict[str, str]:
        return self.executor.simulator_versions()

    def submit(self, attempt: Attempt) -> None:
        self._todo.append(attempt)

    def ready(self) -> bool:
        return bool(self._todo)

    def next_result(self) -> tuple[Attempt, EpisodeResult]:
        attempt = self._todo.popleft()
        return attempt, self.executor.run(attempt.item, attempt.number, attempt.fresh)

    def close(self) -> None:
        self.executor.close()


class _Worker:
    """One subprocess and the thread that feeds it."""

    def __init__(self, pool: PoolBackend, index: int) -> None:
        self.pool, self.index = pool, index
        self.proc: subprocess.Popen[str] | None = None
        self.timed_out = False

    def spawn(self) -> dict[str, str]:
        log_dir = self.pool.log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        log = (log_dir / f"worker-{self.index}.log").open("a")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if len(self.pool.workers) > 1:
            # one CPU rasterizer thread per worker: N workers on N cores should not oversubscribe them
            env.setdefault("LP_NUM_THREADS", "1")
        try:
            self.proc = subprocess.Popen(
                [self.pool.python, "-m", "vla_bench.worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1, env=env,
            )
        except OSError as exc:
            raise BackendError(f"cannot start an env worker under {self.pool.python}: {exc.strerror or exc}") from None
        finally:
            log.close()
        try:
            self._send({"cmd": "init", "config": self.pool.cfg_json, "policies": self.pool.overrides_json})
            reply = self._recv()
        except (OSError, ValueError):  # a dead pipe, or a line that is not the worker's JSON
            reply = None
        if reply is None or not reply.get("ready"):
            raise BackendError(
                f"env worker under {self.pool.python} failed to start; see {log_dir / f'worker-{self.index}.log'}"
            )
        return dict(reply.get("simulators", {}))

    def _send(self, msg: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def _recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """One reply line, or None if the worker died or stayed silent past ``timeout`` (then killed)."""
        assert self.proc is not None and self.proc.stdout is not None
        if timeout is not None and not select.select([self.proc.stdout], [], [], timeout)[0]:
            self.proc.kill()
            self.timed_out = True
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def loop(self) -> None:
        while True:
            task = self.pool.inbox.get(self.index)
            if task is None:
                break
            try:
                self._send({"cmd": "run", "item": task.item.to_dict(), "attempt": task.number, "fresh": task.fresh})
                reply = self._recv(self.pool.cfg.episode_timeout_s)
            except (BrokenPipeError, OSError):
                reply = None
            if reply is None:
                code = self.proc.wait() if self.proc else None
                why = (f"env worker {self.index} gave no result within {self.pool.cfg.episode_timeout_s:g} s and "
                       "was killed" if self.timed_out else f"env worker {self.index} died (exit code {code})")
                self.timed_out = False
                result = EpisodeResult(
                    task.item.spec, self.pool.cfg.policies[task.item.policy_index].display_name,
                    EpisodeStatus.ERROR, 0, attempt=task.number,
                    error=f"{why}; see logs/worker-{self.index}.log",
                )
                self.pool.outbox.put((task, result))
                try:
                    self.spawn()
                except RuntimeError as exc:  # cannot recover this worker; let the others go on
                    self.pool.outbox.put((None, exc))
                    return
                continue
            self.pool.outbox.put((task, EpisodeResult.from_dict(reply["result"])))

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
        if self.proc.stdout:
            self.proc.stdout.close()


class PoolBackend(Backend):
    """N worker subprocesses under one interpreter, pulling attempts from a shared affinity queue."""

    def __init__(self, ctx: BackendContext) -> None:
        super().__init__(ctx)
        self.cfg = ctx.cfg
        self.cfg_json = ctx.cfg.model_dump(mode="json")
        self.overrides_json = {str(k): v.model_dump(mode="json") for k, v in ctx.policy_overrides.items()}
        self.python = ctx.python or sys.executable
        self.log_dir = ctx.log_dir
        self.inbox = AffinityQueue()
        self.outbox: queue.Queue[tuple[Any, Any]] = queue.Queue()
        self.workers = [_Worker(self, i) for i in range(ctx.workers)]
        self.threads: list[threading.Thread] = []

    def start(self) -> dict[str, str]:
        sims: dict[str, str] = {}
        for w in self.workers:  # spawn sequentially so a broken interpreter fails fast and clearly
            sims.update(w.spawn())
        for w in self.workers:
            t = threading.Thread(target=w.loop, daemon=True, name=f"vla-bench-worker-{w.index}")
            t.start()
            self.threads.append(t)
        return sims

    def submit(self, attempt: Attempt) -> None:
        self.inbox.put(attempt)

    def ready(self) -> bool:
        return not self.outbox.empty()

    def next_result(self) -> tuple[Attempt, EpisodeResult]:
        attempt, result = self.outbox.get()
        if attempt is None:
            raise result
        return attempt, result

    def close(self) -> None:
        self.inbox.clear()  # drop queued attempts so workers stop after their current episode
        for _ in self.workers:
            self.inbox.put(None)
        for t in self.threads:
            t.join(timeout=60)
        for w in self.workers:
            w.stop()


def backend_name(cfg: RunConfig, python: str | None, workers: int) -> str:
    """The run's backend for one interpreter: the configured one, else in-process for a single worker
    under this interpreter and a pool otherwise."""
    if cfg.backend is not None:
        return cfg.backend
    return "inprocess" if python is None and workers == 1 else "pool"


class Router:
    """One run over several backends: one per interpreter its suites name, each attempt to its own."""

    def __init__(self, cfg: RunConfig, overrides: dict[int, PolicyConfig], workers: int, log_dir: Path) -> None:
        from vla_bench.registries import backends

        self.cfg = cfg
        self.chosen = {py: backend_name(cfg, py, workers) for py in {s.python for s in cfg.suites}}
        self.backends: dict[str | None, Backend] = {
            py: backends.get(name)(BackendContext(cfg, overrides, workers, log_dir, py))
            for py, name in self.chosen.items()
        }
        self.pending: dict[str | None, int] = {py: 0 for py in self.backends}

    def start(self) -> dict[str, str]:
        sims: dict[str, str] = {}
        for b in self.backends.values():
            sims.update(b.start())
        return sims

    def submit(self, attempt: Attempt) -> None:
        py = self.cfg.suites[attempt.item.suite_index].python
        self.backends[py].submit(attempt)
        self.pending[py] += 1

    def next_result(self) -> tuple[Attempt, EpisodeResult]:
        """A result from a backend that has one ready, else wait on the first with work in flight."""
        busy = [py for py, n in self.pending.items() if n]
        py = next((p for p in busy if self.backends[p].ready()), busy[0])
        self.pending[py] -= 1
        return self.backends[py].next_result()

    def close(self) -> None:
        for b in self.backends.values():
            b.close()
