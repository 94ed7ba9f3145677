"""Where episodes execute: in this process, or in a pool of worker processes.

Both backends take tasks with ``submit`` and hand back ``(task, result)`` pairs from ``next_result``.
Pool workers are subprocesses (``python -m vla_bench.worker``) started under the interpreter the
suite names, so benchmarks with clashing pins run in their own virtual environments. A worker that
dies mid-episode yields an ERROR result for that episode and is replaced.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vla_bench.config import PolicyConfig, RunConfig
from vla_bench.executor import Executor
from vla_bench.protocol import WorkItem
from vla_bench.types import EpisodeResult, EpisodeStatus
from vla_bench.worker import item_to_dict


@dataclass(frozen=True)
class Task:
    item: WorkItem
    attempt: int = 0
    fresh: bool = False

    @property
    def env_key(self) -> tuple[str, str]:
        """Episodes with the same key reuse one built simulator scene in a worker (a scheduling hint)."""
        return self.item.spec.suite, self.item.spec.task


class AffinityQueue:
    """A task queue that keeps each worker on one benchmark task while it lasts.

    Building a task's scene (model, renderer) costs a large fraction of a second; a worker asks for
    more of the task it already built, and otherwise for a task no other worker is on, so N
    workers build about as many scenes as one. ``None`` is the stop signal.
    """

    def __init__(self) -> None:
        self._items: list[Task | None] = []
        self._cv = threading.Condition()
        self._active: dict[int, tuple[int, str] | None] = {}

    def put(self, task: Task | None) -> None:
        with self._cv:
            self._items.append(task)
            self._cv.notify()

    def clear(self) -> None:
        with self._cv:
            self._items = [t for t in self._items if t is None]

    def get(self, worker: int) -> Task | None:
        with self._cv:
            while not self._items:
                self._cv.wait()
            mine, others = self._active.get(worker), {k for w, k in self._active.items() if w != worker}
            pick = next((i for i, t in enumerate(self._items) if t is not None and t.env_key == mine), None)
            if pick is None:
                pick = next((i for i, t in enumerate(self._items) if t is not None and t.env_key not in others),
                            None)
            if pick is None:
                pick = next((i for i, t in enumerate(self._items) if t is not None), 0)
            task = self._items.pop(pick)
            self._active[worker] = task.env_key if task is not None else None
            return task


class InProcessBackend:
    """Runs tasks one at a time in this process."""

    def __init__(self, cfg: RunConfig, policy_overrides: dict[int, PolicyConfig]) -> None:
        self.executor = Executor(cfg, policy_overrides)
        self._todo: deque[Task] = deque()

    def start(self) -> dict[str, str]:
        return self.executor.simulator_versions()

    def submit(self, task: Task) -> None:
        self._todo.append(task)

    def next_result(self) -> tuple[Task, EpisodeResult]:
        task = self._todo.popleft()
        return task, self.executor.run(task.item, task.attempt, task.fresh)

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
        self.proc = subprocess.Popen(
            [self.pool.python, "-m", "vla_bench.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1, env=env,
        )
        log.close()
        self._send({"cmd": "init", "config": self.pool.cfg_json, "policies": self.pool.overrides_json})
        reply = self._recv()
        if reply is None or not reply.get("ready"):
            raise RuntimeError(
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
                self._send({"cmd": "run", "item": item_to_dict(task.item), "attempt": task.attempt,
                            "fresh": task.fresh})
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
                    EpisodeStatus.ERROR, 0, attempt=task.attempt,
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


class PoolBackend:
    """N worker subprocesses under one interpreter, pulling tasks from a shared queue."""

    def __init__(
        self, cfg: RunConfig, policy_overrides: dict[int, PolicyConfig], workers: int, log_dir: Path,
        python: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.cfg_json = cfg.model_dump(mode="json")
        self.overrides_json = {str(k): v.model_dump(mode="json") for k, v in policy_overrides.items()}
        self.python = python or sys.executable
        self.log_dir = log_dir
        self.inbox = AffinityQueue()
        self.outbox: queue.Queue[tuple[Any, Any]] = queue.Queue()
        self.workers = [_Worker(self, i) for i in range(workers)]
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

    def submit(self, task: Task) -> None:
        self.inbox.put(task)

    def next_result(self) -> tuple[Task, EpisodeResult]:
        task, result = self.outbox.get()
        if task is None:
            raise result
        return task, result

    def close(self) -> None:
        self.inbox.clear()  # drop queued tasks so workers stop after their current episode
        for _ in self.workers:
            self.inbox.put(None)
        for t in self.threads:
            t.join(timeout=60)
        for w in self.workers:
            w.stop()
