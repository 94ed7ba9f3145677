"""The Ray backend: env actors on a Ray cluster (this machine or many), fed from this process.

``backend: ray`` (or ``--backend ray``; ``--address HOST:6379`` joins a running cluster) starts ``workers``
env actors. Each holds an ``Executor`` built from the run config and the policy overrides, exactly as a pool
worker does (vla_bench/worker.py): with ``transport: inprocess`` every actor builds its own policy, with
``transport: websocket`` actors reach the run's policy servers. The driver keeps one attempt in flight per
actor, gives each actor more of the task it last ran (the pool's ``AffinityQueue``), and stays the only
writer of episodes.jsonl: actors only return results.

An actor that dies mid-episode (a crashing simulator, ``ray.kill``, a lost node) yields an ERROR for that
attempt and is replaced; an attempt silent past ``episode_timeout_s`` has its actor killed and is an ERROR
too. The runner retries ERROR attempts in a fresh env as it does with the pool. See docs/cluster.md.

Ray is imported only when this backend starts (the ``ray`` extra); this module imports neither envs nor
policies.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import subprocess
import sys
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Any

from vla_bench.backends import AffinityQueue, Attempt, Backend, BackendContext, BackendError
from vla_bench.config import PolicyConfig, RunConfig
from vla_bench.plan import WorkItem
from vla_bench.preflight import PreflightError
from vla_bench.types import EpisodeResult, EpisodeStatus

# the driver's rendering and threading settings travel to the actors (pool workers inherit them)
FORWARDED_ENV = ("MUJOCO_GL", "PYOPENGL_PLATFORM", "LP_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WAIT_SLICE_S = 2.0  # ray.wait in slices, so Ctrl-C is seen
PLACEMENT_WARN_S = 60.0  # say so when actors wait this long for free CPUs
CLOSE_GRACE_S = 60.0  # episodes in flight at close get this long to end, as in the pool


class RayStartError(PreflightError):
    """The Ray backend cannot start (nothing ran): one line naming the key to change."""


class RayBackendError(BackendError):
    """The Ray backend cannot go on (an env actor cannot be started again)."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayStartError("backend", "'ray' needs Ray installed in this interpreter: "
                            "pip install 'vla-bench[ray]'") from None
    return ray


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class EnvActor:
    """What one Ray actor holds: an Executor, as a pool worker does (wrapped by ``ray.remote`` at start).

    It works in the driver's directory when that exists on its node (paths in a run are relative to it)
    and prints into the run's ``logs/worker-N.log`` when that directory is reachable (same node or a
    shared filesystem); otherwise its output stays in Ray's own worker logs on its node.
    """

    def __init__(self, cfg_json: dict[str, Any], overrides_json: dict[str, Any], cwd: str, log_path: str) -> None:
        if cwd and os.path.isdir(cwd):
            os.chdir(cwd)
        if log_path and os.path.isdir(os.path.dirname(log_path)):
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
        from vla_bench.executor import Executor

        cfg = RunConfig.model_validate(cfg_json)
        overrides = {int(k): PolicyConfig.model_validate(v) for k, v in overrides_json.items()}
        self.executor = Executor(cfg, overrides)

    def hello(self) -> dict[str, Any]:
        """Simulator versions (building every env once, as a pool worker does at init) and where it runs."""
        try:
            sims = self.executor.simulator_versions()
        except Exception:  # noqa: BLE001 - reported, episodes will record the error too
            sims = {"error": traceback.format_exc(limit=5)}
        return {"simulators": sims, "pid": os.getpid(), "python": sys.executable}

    def run(self, item: dict[str, Any], attempt: int, fresh: bool) -> dict[str, Any]:
        return self.executor.run(WorkItem.from_dict(item), attempt, fresh).to_dict()

    def close(self) -> None:
        self.executor.close()


# Ray is initialised once per process: the first backend that finds it down starts (or joins) it, and the
# last one to close shuts it down again. A Ray the caller initialised is never shut down here.
_session = {"users": 0, "owned": False}


def _probe(address: str, timeout: float = 10.0) -> None:
    """A HOST:PORT address must accept connections: Ray waits without end on one that does not."""
    host, sep, port = address.split("://")[-1].rpartition(":")
    if not sep or not port.isdigit():
        return  # auto, local, or something for Ray itself to judge
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayStartError("ray.address", f"cannot reach the Ray cluster at {address}: "
                            f"{exc.strerror or type(exc).__name__}") from None


def _acquire(ray: Any, address: str, num_cpus: int) -> None:
    if not ray.is_initialized():
        _probe(address)
        kw: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        if address == "local":
            kw.update(num_cpus=num_cpus, include_dashboard=False)
        try:
            ray.init(address=address, **kw)
        except Exception as exc:  # noqa: BLE001 - any failure to connect is one line
            where = "start a local Ray" if address == "local" else f"reach the Ray cluster at {address}"
            raise RayStartError("ray.address", f"cannot {where}: {_one_line(exc)}") from None
        _session["owned"] = True
    _session["users"] += 1


def _release(ray: Any) -> None:
    _session["users"] = max(0, _session["users"] - 1)
    if _session["users"] == 0 and _session["owned"]:
        _session["owned"] = False
        ray.shutdown()


@dataclass
class _Slot:
    """One env actor position: its current actor and the attempt it is running."""

    index: int
    actor: Any
    ref: Any = None
    attempt: Attempt | None = None
    since: float = 0.0
    finished: int = 0  # episodes this actor incarnation has returned
    idle: bool = False  # a replacement that has been given nothing yet: closing it is just killing it


class RayBackend(Backend):
    """``workers`` Ray env actors under one interpreter, fed one attempt each from an affinity queue."""

    def __init__(self, ctx: BackendContext) -> None:
        super().__init__(ctx)
        self.cfg = ctx.cfg
        self.cfg_json = ctx.cfg.model_dump(mode="json")
        self.overrides = dict(ctx.policy_overrides)
        self.queue = AffinityQueue()
        self.queued = 0
        self.done: deque[tuple[Attempt, EpisodeResult]] = deque()
        self.slots: list[_Slot] = []
        self.inflight: dict[Any, _Slot] = {}
        self.ray: Any = None
        self._actor_cls: Any = None
        self._options: dict[str, Any] = {}
        self._overrides_json: dict[str, Any] = {}
        self._joined = False

    # --- starting -----------------------------------------------------------------------------------------

    def _suite_key(self) -> str:
        i = next((i for i, s in enumerate(self.cfg.suites) if s.python == self.ctx.python), 0)
        return f"suites[{i}].python"

    def _check_python(self, ray: Any, address: str) -> None:
        """A suite's interpreter must run the same Ray and Python minor version as this driver (checked here
        when it exists on this machine; Ray keeps an actor waiting forever when its interpreter cannot start)."""
        py = self.ctx.python
        if py is None:
            return
        if not os.path.exists(py):
            if address == "local":
                raise RayStartError(self._suite_key(), f"{py} does not exist")
            return  # it may exist on the cluster's nodes only
        probe = "import sys, ray; print(ray.__version__, '%d.%d' % sys.version_info[:2])"
        try:
            out = subprocess.run([py, "-c", probe], capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RayStartError(self._suite_key(), f"cannot run {py}: {_one_line(exc)}") from None
        mine = f"{ray.__version__} {sys.version_info[0]}.{sys.version_info[1]}"
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["?"])[-1]
            raise RayStartError(self._suite_key(), f"{py} cannot host Ray env actors ({_one_line(last, 120)}); "
                                f"install ray=={ray.__version__} there, or use backend: pool")
        if out.stdout.strip() != mine:
            theirs = out.stdout.strip().split()
            raise RayStartError(self._suite_key(), f"{py} runs ray {theirs[0]} on Python {theirs[-1]}, this driver "
                                f"ray {ray.__version__} on Python {mine.split()[1]}; Ray actors need both the same "
                                "(or use backend: pool)")

    def _policy_overrides(self, ray: Any) -> dict[int, PolicyConfig]:
        """Remote policies as actors on any node can reach them."""
        if self.cfg.transport != "websocket" or not self.overrides:
            return self.overrides
        host = self.cfg.policy_server.host
        if host in LOOPBACK:
            nodes = [n for n in ray.nodes() if n.get("Alive")]
            if len(nodes) > 1:
                raise RayStartError("policy_server.host", f"the policy servers listen on {host} only, which env actors "
                                    f"on the other {len(nodes) - 1} node(s) of this Ray cluster cannot reach; set "
                                    "policy_server: {host: 0.0.0.0} (the run then takes a token)")
            return self.overrides
        if host in ("0.0.0.0", "", "::"):  # listening everywhere: point actors at this node's address
            ip = ray.util.get_node_ip_address()
            return {i: o.model_copy(update={"kwargs": {**o.kwargs, "host": ip}}) for i, o in self.overrides.items()}
        return self.overrides

    def _runtime_env(self) -> dict[str, Any]:
        env_vars = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        if self.ctx.workers > 1:
            env_vars.setdefault("LP_NUM_THREADS", "1")  # one rasterizer thread per actor, as in the pool
        env_vars["PYTHONUNBUFFERED"] = "1"
        out: dict[str, Any] = {"env_vars": env_vars}
        if self.ctx.python is not None:
            out["py_executable"] = self.ctx.python
        return out

    def _new_actor(self, index: int) -> Any:
        log = str((self.ctx.log_dir / f"worker-{index}.log").resolve())
        return self._actor_cls.options(**self._options).remote(self.cfg_json, self._overrides_json, os.getcwd(), log)

    def start(self) -> dict[str, str]:
        ray = self.ray = _import_ray()
        address = self.cfg.ray.address or os.environ.get("RAY_ADDRESS") or "local"
        self._check_python(ray, address if not ray.is_initialized() else "")
        per_env = self.cfg.ray.num_cpus_per_env
        interpreters = len({s.python for s in self.cfg.suites})  # one backend per interpreter shares the Ray
        _acquire(ray, address, max(1, math.ceil(self.ctx.workers * per_env * interpreters)))
        self._joined = True
        try:
            overrides = self._policy_overrides(ray)
            self._overrides_json = {str(k): v.model_dump(mode="json") for k, v in overrides.items()}
            self.ctx.log_dir.mkdir(parents=True, exist_ok=True)
            self._actor_cls = ray.remote(EnvActor)
            # max_restarts=0: a dead actor is replaced here, so a retry always starts in a fresh process
            self._options = {"num_cpus": per_env, "max_restarts": 0, "runtime_env": self._runtime_env()}
            self.slots = [_Slot(i, self._new_actor(i)) for i in range(self.ctx.workers)]
            return self._hello(ray)
        except BaseException:
            self._shutdown()
            raise

    def _hello(self, ray: Any) -> dict[str, str]:
        """Wait until every actor is up; their simulator versions are the run's."""
        refs = {s.actor.hello.remote(): s for s in self.slots}
        pending, sims, t0, warned = list(refs), {}, time.monotonic(), False
        while pending:
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=WAIT_SLICE_S)
            for ref in ready:
                try:
                    sims.update(ray.get(ref)["simulators"])
                except ray.exceptions.RayError as exc:
                    i = refs[ref].index
                    raise RayStartError("backend", f"ray env actor {i} failed to start: {self._why(exc)}; see "
                                        f"{self.ctx.log_dir / f'worker-{i}.log'} or Ray's worker logs") from None
            if pending and not warned and time.monotonic() - t0 > PLACEMENT_WARN_S:
                warned = True
                print(f"still waiting for {len(pending)} of {len(self.slots)} Ray env actors to start: each reserves "
                      f"{self.cfg.ray.num_cpus_per_env:g} CPU and the cluster has "
                      f"{ray.available_resources().get('CPU', 0):g} of {ray.cluster_resources().get('CPU', 0):g} "
                      "free; an interpreter that cannot start Ray workers (a suite's python: on some node) also "
                      "keeps them waiting: see Ray's logs (raylet.err) on the nodes", file=sys.stderr)
        return sims

    # --- running ------------------------------------------------------------------------------------------

    def submit(self, attempt: Attempt) -> None:
        self.queue.put(attempt)
        self.queued += 1

    def _dispatch(self) -> None:
        """Every idle actor gets the next attempt, preferring the task it last ran."""
        for slot in self.slots:
            if slot.ref is None and self.queued:
                attempt = self.queue.get(slot.index)
                assert attempt is not None
                self.queued -= 1
                slot.ref = slot.actor.run.remote(attempt.item.to_dict(), attempt.number, attempt.fresh)
                slot.attempt, slot.since, slot.idle = attempt, time.monotonic(), False
                self.inflight[slot.ref] = slot

    def _error(self, attempt: Attempt, why: str) -> EpisodeResult:
        name = self.cfg.policies[attempt.item.policy_index].display_name
        return EpisodeResult(attempt.item.spec, name, EpisodeStatus.ERROR, 0, attempt=attempt.number, error=why)

    @staticmethod
    def _why(exc: BaseException) -> str:
        """What a Ray error says about the actor, in one line (pid, node, cause)."""
        text = str(exc)
        fields = dict(re.findall(r"^\t(pid|ip): (\S+)$", text, flags=re.M))
        cause = next((ln for ln in text.splitlines() if ln.startswith("The actor is dead because")),
                     text.splitlines()[0] if text else type(exc).__name__)
        cause = cause.split(" Some common causes")[0]
        where = f" (pid {fields['pid']} on {fields.get('ip', '?')})" if "pid" in fields else ""
        return f"{type(exc).__name__}{where}: {_one_line(cause, 240)}"

    def _take(self, slot: _Slot) -> Attempt:
        self.inflight.pop(slot.ref, None)
        attempt = slot.attempt
        assert attempt is not None
        slot.ref, slot.attempt = None, None
        return attempt

    def _replace(self, slot: _Slot) -> None:
        try:
            self.ray.kill(slot.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        slot.actor, slot.finished, slot.idle = self._new_actor(slot.index), 0, True

    def _collect(self, slot: _Slot) -> None:
        ray, ref = self.ray, slot.ref
        attempt = self._take(slot)
        log = f"logs/worker-{slot.index}.log"
        try:
            result = EpisodeResult.from_dict(ray.get(ref))
            slot.finished += 1
        except ray.exceptions.RayActorError as exc:
            if getattr(exc, "actor_init_failed", False):
                raise RayBackendError(f"ray env actor {slot.index} could not be started again: {self._why(exc)}; "
                                      f"see {log}") from None
            result = self._error(attempt, f"ray env actor {slot.index} died mid-episode: {self._why(exc)}; it was "
                                 f"replaced; see {log}")
            self._replace(slot)
        except ray.exceptions.RayTaskError as exc:  # the executor raised (it should not): the actor lives on
            result = self._error(attempt, f"ray env actor {slot.index} raised: {exc}")
        except ray.exceptions.RayError as exc:  # a lost worker or object (node failure): start afresh
            result = self._error(attempt, f"ray env actor {slot.index} was lost: {self._why(exc)}; it was "
                                 f"replaced; see {log}")
            self._replace(slot)
        self.done.append((attempt, result))

    def _expire(self) -> None:
        """Attempts silent past episode_timeout_s: their actors are killed and replaced."""
        limit = self.cfg.episode_timeout_s
        now = time.monotonic()
        for slot in self.slots:
            if slot.ref is not None and now - slot.since > limit:
                attempt = self._take(slot)
                self._replace(slot)
                self.done.append((attempt, self._error(
                    attempt, f"ray env actor {slot.index} gave no result within {limit:g} s and was killed; "
                    f"see logs/worker-{slot.index}.log")))

    def _poll(self, timeout: float) -> None:
        self._dispatch()
        if not self.inflight:
            return
        oldest = min(s.since for s in self.inflight.values())
        wait = max(0.0, min(timeout, oldest + self.cfg.episode_timeout_s - time.monotonic()))
        ready, _ = self.ray.wait(list(self.inflight), num_returns=1, timeout=wait)
        for ref in ready:
            self._collect(self.inflight[ref])
        self._expire()
        self._dispatch()

    def ready(self) -> bool:
        if not self.done and self.slots:
            self._poll(0.0)
        return bool(self.done)

    def next_result(self) -> tuple[Attempt, EpisodeResult]:
        while not self.done:
            if not self.inflight and not self.queued:
                raise RuntimeError("next_result() with no attempt submitted")
            self._poll(WAIT_SLICE_S)
        return self.done.popleft()

    # --- stopping -----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Drop the queued attempts, let the episodes in flight end (bounded), close and kill the actors."""
        self.queue.clear()
        self.queued = 0
        self._shutdown()

    def _shutdown(self) -> None:
        ray = self.ray
        if ray is None or not self._joined:
            return
        try:
            if self.slots and ray.is_initialized():
                # each close runs after its actor's episode in flight
                closing = [s.actor.close.remote() for s in self.slots if not s.idle]
                ray.wait(closing, num_returns=len(closing), timeout=CLOSE_GRACE_S)
                for s in self.slots:
                    try:
                        ray.kill(s.actor, no_restart=True)
                    except Exception:  # noqa: BLE001 - already gone
                        pass
        finally:
            self.slots, self.inflight, self.done = [], {}, deque()
            self._joined = False
            _release(ray)
