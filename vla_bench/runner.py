"""Run a validated config: plan identities, skip what is done, execute, append records.

``run`` is resumable: with ``resume=True`` it reads ``episodes.jsonl``, keeps every finished
identity, and runs only what is missing, so after a ``kill -9`` and a resume the run holds exactly
the planned identities, none twice. ERROR attempts are retried (``max_attempts`` in all) in a fresh
env and are reported apart from failures.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vla_bench import records
from vla_bench.backends import Attempt, Router, backend_name
from vla_bench.config import PolicyConfig, RunConfig
from vla_bench.manifest import build_manifest, config_hash
from vla_bench.plan import Plan, plan
from vla_bench.progress import Progress
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


def check_output(out_dir: Path) -> None:
    """The run directory can be created and written, or one clear RunDirError."""
    if out_dir.exists() and not out_dir.is_dir():
        raise RunDirError(f"cannot use {out_dir} as the run directory: it is a file")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunDirError(f"cannot write the run directory {out_dir}: {exc.strerror or exc}") from None


def adopt_records(cfg: RunConfig, out_dir: Path, the_plan: Plan, skip_bad: bool) -> int:
    """Records left without a run.json are taken into a resumed run only if every one belongs to its plan."""
    planned = {(cfg.policies[i.policy_index].display_name, i.spec.key) for i in the_plan.items}
    found = list(records.iter_attempts(out_dir, skip_bad))
    foreign = [a for a in found if (a.policy, a.spec.key) not in planned]
    if foreign:
        raise RunDirError(f"{out_dir} has no {records.MANIFEST}, and {len(foreign)} of its {len(found)} records are "
                          f"not episodes of this config (first: {foreign[0].policy} {foreign[0].spec.key}); "
                          "resume them with the config that wrote them, or choose another --output")
    return len(found)


def prepare_run_dir(cfg: RunConfig, out_dir: Path, resume: bool, the_plan: Plan, backends: list[str],
                    skip_bad: bool = False) -> dict[str, Any]:
    manifest_path = out_dir / records.MANIFEST
    if not manifest_path.exists() and (out_dir / records.EPISODES).exists():
        if not resume:
            raise RunDirError(f"{out_dir} holds episode records but no {records.MANIFEST}; pass --resume to "
                              "complete it (its records must be episodes of this config) or choose another --output")
        manifest = build_manifest(cfg, the_plan, backends)
        manifest["adopted_records"] = adopt_records(cfg, out_dir, the_plan, skip_bad)
        records.write_manifest(out_dir, manifest)
        return manifest
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
    manifest = build_manifest(cfg, the_plan, backends)
    records.write_manifest(out_dir, manifest)
    return manifest


def pending_attempts(cfg: RunConfig, the_plan: Plan,
                     attempts: list[EpisodeResult]) -> tuple[list[Attempt], int]:
    """Attempts still to run given those on disk, numbered on from earlier ERROR attempts (a fresh env)."""
    counted: set[tuple[str, str]] = set()
    errors: dict[tuple[str, str], int] = {}
    for a in attempts:
        k = (a.policy, a.spec.key)
        if a.status.counted:
            counted.add(k)
        else:
            errors[k] = errors.get(k, 0) + 1
    todo: list[Attempt] = []
    for item in the_plan.items:
        k = (cfg.policies[item.policy_index].display_name, item.spec.key)
        if k in counted or errors.get(k, 0) >= cfg.max_attempts:
            continue
        n_err = errors.get(k, 0)
        todo.append(Attempt(item, number=n_err, fresh=n_err > 0))
    return todo, len(the_plan) - len(todo)


@contextlib.contextmanager
def policy_servers(cfg: RunConfig) -> Iterator[dict[int, PolicyConfig]]:
    """With the websocket transport, serve each policy (``policy_server``: loopback and free ports by
    default) and point the env workers at it."""
    if cfg.transport != "websocket":
        yield {}
        return
    from vla_bench.executor import make_policy
    from vla_bench.transport.batching import as_batch_policy
    from vla_bench.transport.server import PolicyServer

    host, base_port = cfg.policy_server.host, cfg.policy_server.port
    connect = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    # off loopback, the run's own servers take a fresh random token (given to its workers only)
    token = None if host in ("127.0.0.1", "localhost", "::1") else secrets.token_hex(16)
    servers, overrides = [], {}
    try:
        for i, p in enumerate(cfg.policies):
            # debug: the run owns these servers, so a policy's traceback belongs in its episode records
            server = PolicyServer(as_batch_policy(lambda p=p: make_policy(p)), host=host,
                                  port=base_port + i if base_port else 0, token=token, debug=True)
            port = server.start_in_thread()
            servers.append(server)
            overrides[i] = PolicyConfig(type="remote", name=p.display_name, kwargs={
                "host": connect, "port": port, "name": p.display_name, "token": token})
        yield overrides
    finally:
        for s in servers:
            s.stop()


def run(cfg: RunConfig, out_dir: Path, *, resume: bool = False, progress: bool = True,
        workers: int | None = None, stop_rule: Any = None, backend: str | None = None,
        skip_bad_lines: bool = False, preflight: bool = True) -> RunSummary:
    """Execute every pending episode of ``cfg`` into ``out_dir`` and return a summary.

    Nothing is written before the preflight (``vla_bench.preflight``: every policy built, every env
    value checked) and the output check have passed. ``workers`` and ``backend`` override the config
    (neither changes what an episode is). ``stop_rule(result) -> bool`` ends the run early once it
    returns True (e.g. a decided comparison); a rule with ``start(order, done)`` first gets the plan's
    identity order and the records already on disk, so a resumed run continues the same test.
    ``skip_bad_lines`` skips unreadable lines of an existing episodes.jsonl instead of refusing it.
    """
    out_dir = Path(out_dir)
    if backend is not None:
        cfg = cfg.model_copy(update={"backend": backend})
    n_workers = workers or cfg.workers
    the_plan = plan(cfg)
    if preflight:
        from vla_bench.preflight import check_run

        check_run(cfg, the_plan)
    check_output(out_dir)
    chosen = sorted({backend_name(cfg, s.python, n_workers) for s in cfg.suites})
    manifest = prepare_run_dir(cfg, out_dir, resume, the_plan, chosen, skip_bad_lines)
    attempts = list(records.iter_attempts(out_dir, skip_bad_lines))  # read once: plan, stop rule, progress
    done = records.final_results(attempts)
    todo, skipped = pending_attempts(cfg, the_plan, attempts)
    summary = RunSummary(out_dir, len(the_plan), skipped)
    if stop_rule is not None and hasattr(stop_rule, "start"):
        # a resumed run continues the same sequential test: every record on disk, in identity order
        if stop_rule.start([i.spec.key for i in the_plan.items], done):
            todo = []
    if not todo:
        summary.results = done
        return summary
    bar = Progress(total=len(the_plan), initial=skipped, enabled=progress)
    for r in done:
        bar.update(r, advance=False)
    with policy_servers(cfg) as overrides:
        router = Router(cfg, overrides, n_workers, out_dir / "logs")
        try:
            t_start = time.perf_counter()
            sims = router.start()
            t_episodes = time.perf_counter()
            summary.startup_s = t_episodes - t_start
            if (sims and manifest.get("simulators") != sims) or manifest.get("backend") != chosen:
                manifest.update(simulators=sims or manifest.get("simulators", {}), backend=chosen)
                records.write_manifest(out_dir, manifest)
            outstanding = 0
            for t in todo:
                router.submit(t)
                outstanding += 1
            with records.EpisodeLog(out_dir / records.EPISODES) as log:
                while outstanding:
                    attempt, result = router.next_result()
                    outstanding -= 1
                    log.append(result)
                    summary.executed += 1
                    if result.status is EpisodeStatus.ERROR:
                        summary.errors += 1
                        if attempt.number + 1 < cfg.max_attempts:
                            router.submit(attempt.retry())
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
    summary.results = records.load_results([out_dir], skip_bad_lines)
    return summary
