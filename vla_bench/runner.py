"""Run a validated config: plan identities, skip what is done, execute, append records.

``run`` is resumable: with ``resume=True`` it reads ``episodes.jsonl``, keeps every finished
identity, and runs only what is missing, so after a ``kill -9`` and a resume the run holds exactly
the planned identities, none twice. ERROR attempts are retried (``max_attempts`` in all) in a fresh
env and are reported apart from failures.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vla_bench import records
from vla_bench.backends import InProcessBackend, PoolBackend, Task
from vla_bench.config import PolicyConfig, RunConfig
from vla_bench.manifest import build_manifest, config_hash
from vla_bench.progress import Progress
from vla_bench.protocol import WorkItem, plan
from vla_bench.types import EpisodeResult, EpisodeStatus


class RunDirError(RuntimeError):
    """The output directory cannot be used for this run."""


@dataclass
class RunSummary:
    out_dir: Path
    planned: int
    skipped: int
    executed: int = 0
    errors: int = 0
    startup_s: float = 0.0  # starting workers and policy servers
    episodes_s: float = 0.0  # from the first submitted episode to the last result
    results: list[EpisodeResult] = field(default_factory=list)


def prepare_run_dir(cfg: RunConfig, out_dir: Path, resume: bool, n_planned: int) -> dict[str, Any]:
    manifest_path = out_dir / records.MANIFEST
    if manifest_path.exists():
        if not resume:
            raise RunDirError(f"{out_dir} already holds a run; pass --resume to complete it or choose another --output")
        old = records.read_manifest(out_dir)
        if old.get("config_hash") != config_hash(cfg):
            raise RunDirError(
                f"{out_dir} was started with a different config (hash {old.get('config_hash', '?')[:12]} vs "
                f"{config_hash(cfg)[:12]}); resume needs the same suites, policies, seeds and episode counts"
            )
        return old
    manifest = build_manifest(cfg, n_planned)
    records.write_manifest(out_dir, manifest)
    return manifest


def pending_tasks(cfg: RunConfig, items: list[WorkItem], out_dir: Path) -> tuple[list[Task], int]:
    """Tasks still to run, with attempt numbers continuing from earlier ERROR attempts."""
    counted: set[tuple[str, str]] = set()
    errors: dict[tuple[str, str], int] = {}
    for a in records.iter_attempts(out_dir):
        k = (a.policy, a.spec.key)
        if a.status.counted:
            counted.add(k)
        else:
            errors[k] = errors.get(k, 0) + 1
    todo: list[Task] = []
    for item in items:
        k = (cfg.policies[item.policy_index].display_name, item.spec.key)
        if k in counted or errors.get(k, 0) >= cfg.max_attempts:
            continue
        n_err = errors.get(k, 0)
        todo.append(Task(item, attempt=n_err, fresh=n_err > 0))
    return todo, len(items) - len(todo)


@contextlib.contextmanager
def policy_servers(cfg: RunConfig) -> Iterator[dict[int, PolicyConfig]]:
    """With the websocket transport, serve each policy on loopback and point workers at it."""
    if cfg.transport != "websocket":
        yield {}
        return
    from vla_bench.executor import make_policy
    from vla_bench.transport.batching import as_batch_policy
    from vla_bench.transport.server import PolicyServer

    servers, overrides = [], {}
    try:
        for i, p in enumerate(cfg.policies):
            server = PolicyServer(as_batch_policy(lambda p=p: make_policy(p)), host="127.0.0.1", port=0)
            port = server.start_in_thread()
            servers.append(server)
            overrides[i] = PolicyConfig(type="remote", name=p.display_name,
                                        kwargs={"host": "127.0.0.1", "port": port, "name": p.display_name})
        yield overrides
    finally:
        for s in servers:
            s.stop()


class _Router:
    """Sends each task to the backend of its suite's interpreter."""

    def __init__(self, cfg: RunConfig, overrides: dict[int, PolicyConfig], workers: int, out_dir: Path,
                 force_pool: bool = False) -> None:
        self.cfg = cfg
        pythons = {s.python for s in cfg.suites}
        self.backends: dict[str | None, Any] = {}
        for py in pythons:
            if py is None and workers == 1 and not force_pool:
                self.backends[py] = InProcessBackend(cfg, overrides)
            else:
                self.backends[py] = PoolBackend(cfg, overrides, workers, out_dir / "logs", python=py)
        self.pending: dict[str | None, int] = {py: 0 for py in pythons}

    def start(self) -> dict[str, str]:
        sims: dict[str, str] = {}
        for b in self.backends.values():
            sims.update(b.start())
        return sims

    def submit(self, task: Task) -> None:
        py = self.cfg.suites[task.item.suite_index].python
        self.backends[py].submit(task)
        self.pending[py] += 1

    def next_result(self) -> tuple[Task, EpisodeResult]:
        # in-process backends run on demand; pools deliver from their threads
        for py, b in self.backends.items():
            if self.pending[py] and isinstance(b, InProcessBackend):
                self.pending[py] -= 1
                return b.next_result()
        py = next(p for p, n in self.pending.items() if n)
        self.pending[py] -= 1
        return self.backends[py].next_result()

    def close(self) -> None:
        for b in self.backends.values():
            b.close()


def run(cfg: RunConfig, out_dir: Path, *, resume: bool = False, progress: bool = True,
        workers: int | None = None, stop_rule: Any = None, force_pool: bool = False) -> RunSummary:
    """Execute every pending episode of ``cfg`` into ``out_dir`` and return a summary.

    ``workers`` overrides the config; ``force_pool`` runs even a single worker as a subprocess.
    ``stop_rule(result) -> bool`` ends the run early once it returns True (e.g. a decided comparison).
    """
    out_dir = Path(out_dir)
    items = plan(cfg)
    manifest = prepare_run_dir(cfg, out_dir, resume, len(items))
    todo, skipped = pending_tasks(cfg, items, out_dir)
    summary = RunSummary(out_dir, len(items), skipped)
    if not todo:
        summary.results = records.load_results([out_dir])
        return summary
    bar = Progress(total=len(items), initial=skipped, enabled=progress)
    for r in records.load_results([out_dir]):
        bar.update(r, advance=False)
    with policy_servers(cfg) as overrides:
        router = _Router(cfg, overrides, workers or cfg.workers, out_dir, force_pool)
        try:
            t_start = time.perf_counter()
            sims = router.start()
            t_episodes = time.perf_counter()
            summary.startup_s = t_episodes - t_start
            if sims and manifest.get("simulators") != sims:
                manifest["simulators"] = sims
                records.write_manifest(out_dir, manifest)
            outstanding = 0
            for t in todo:
                router.submit(t)
                outstanding += 1
            with records.EpisodeLog(out_dir / records.EPISODES) as log:
                while outstanding:
                    task, result = router.next_result()
                    outstanding -= 1
                    log.append(result)
                    summary.executed += 1
                    if result.status is EpisodeStatus.ERROR:
                        summary.errors += 1
                        if task.attempt + 1 < cfg.max_attempts:
                            router.submit(Task(task.item, task.attempt + 1, fresh=True))
                            outstanding += 1
                            bar.note_retry()
                            continue
                    bar.update(result)
                    if stop_rule is not None and stop_rule(result):
                        break
            summary.episodes_s = time.perf_counter() - t_episodes
        finally:
            router.close()
            bar.close()
    summary.results = records.load_results([out_dir])
    return summary


def print_errors(summary: RunSummary, stream: Any = sys.stderr) -> None:
    errs = [r for r in summary.results if r.status is EpisodeStatus.ERROR]
    if errs:
        print(f"{len(errs)} episode(s) ended in ERROR after retries (not counted in success rates); first error:",
              file=stream)
        print(errs[0].error, file=stream)
