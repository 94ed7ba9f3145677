"""Backends: the affinity queue, the Backend interface (a new backend is one class), backend selection."""

import queue
import threading

import pytest

from vla_bench import records, registries
from vla_bench.backends import AffinityQueue, Attempt, Backend, BackendContext
from vla_bench.config import ConfigError, parse_run_config
from vla_bench.plan import WorkItem, plan
from vla_bench.runner import run
from vla_bench.types import EpisodeSpec


def task(name, i):
    return Attempt(WorkItem(0, 0, EpisodeSpec("s", name, i)))


def test_workers_stay_on_their_own_task_and_spread_over_tasks():
    q = AffinityQueue()
    for name in ("a", "b", "c"):
        for i in range(3):
            q.put(task(name, i))
    seen = {0: [], 1: []}
    for _ in range(9):
        for w in (0, 1):
            if len(seen[0]) + len(seen[1]) < 9:
                seen[w].append(q.get(w).item.spec.task)
    assert seen[0][:3] == ["a", "a", "a"] and seen[1][:3] == ["b", "b", "b"]
    assert sorted(seen[0] + seen[1]) == sorted(["a", "b", "c"] * 3)
    assert len(set(seen[0])) + len(set(seen[1])) <= 4  # scenes built in all, vs 6 with a plain FIFO


def test_clear_keeps_stop_signals():
    q = AffinityQueue()
    q.put(task("a", 0))
    q.put(None)
    q.clear()
    assert q.get(0) is None


# --- the execution seam ------------------------------------------------------------------------------------


class ThreadBackend(Backend):
    """A backend written against the interface only: attempts run on one thread of this process."""

    started = 0

    def __init__(self, ctx: BackendContext) -> None:
        super().__init__(ctx)
        from vla_bench.executor import Executor

        self.executor = Executor(ctx.cfg, ctx.policy_overrides)
        self.inbox: queue.Queue = queue.Queue()
        self.outbox: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while (attempt := self.inbox.get()) is not None:
            self.outbox.put((attempt, self.executor.run(attempt.item, attempt.number, attempt.fresh)))

    def start(self):
        type(self).started += 1
        self.thread.start()
        return {"threaded": "1"}

    def submit(self, attempt):
        self.inbox.put(attempt)

    def next_result(self):
        return self.outbox.get()

    def close(self):
        self.inbox.put(None)
        self.thread.join()
        self.executor.close()


def scripted(**extra):
    data = {"suites": [{"suite": "scripted", "episodes_per_task": 2}],
            "policies": ["scripted_expert", {"type": "scripted_expert", "name": "weak", "kwargs": {"gain": 0.3}}],
            **extra}
    return parse_run_config(data, "test")


def outcomes(summary):
    return sorted((r.policy, r.spec.key, r.status.value, r.steps) for r in summary.results)


def test_a_new_backend_is_one_class_and_one_registry_line(tmp_path):
    if "threaded" not in registries.backends:
        registries.backends.add("threaded", ThreadBackend)
    mine = run(scripted(backend="threaded"), tmp_path / "t", progress=False)
    ours = run(scripted(), tmp_path / "i", progress=False)
    assert ThreadBackend.started == 1
    assert outcomes(mine) == outcomes(ours) and len(outcomes(mine)) == 12
    assert records.read_manifest(tmp_path / "t")["backend"] == ["threaded"]
    assert records.read_manifest(tmp_path / "i")["backend"] == ["inprocess"]
    # where episodes ran does not change what they are: same identities, same config hash
    assert records.read_manifest(tmp_path / "t")["config_hash"] == records.read_manifest(tmp_path / "i")["config_hash"]


def test_backend_key_and_override_pick_the_pool(tmp_path):
    summary = run(scripted(), tmp_path / "p", progress=False, backend="pool")
    assert summary.errors == 0 and (tmp_path / "p" / "logs" / "worker-0.log").exists()
    assert records.read_manifest(tmp_path / "p")["backend"] == ["pool"]


def test_backend_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"backend: unknown backend 'poool'; did you mean 'pool'"):
        scripted(backend="poool")
    with pytest.raises(ConfigError, match="backend: 'inprocess' runs one episode at a time; workers is 2"):
        scripted(backend="inprocess", workers=2)


def test_work_items_serialize_themselves():
    items = plan(scripted()).items
    assert all(WorkItem.from_dict(i.to_dict()) == i for i in items)
    assert len(plan(scripted()).suites) == 1 and plan(scripted()).suites[0].name == "scripted"


def test_policy_server_address_is_configurable(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = scripted(transport="websocket", policy_server={"host": "127.0.0.1", "port": port})
    seen = []
    from vla_bench import runner

    with runner.policy_servers(cfg) as overrides:
        seen = [(o.kwargs["host"], o.kwargs["port"]) for o in overrides.values()]
    assert seen == [("127.0.0.1", port), ("127.0.0.1", port + 1)]
    summary = run(cfg, tmp_path / "w", progress=False)
    assert summary.errors == 0 and outcomes(summary) == outcomes(run(scripted(), tmp_path / "i", progress=False))


def test_servers_off_loopback_take_a_run_token(tmp_path):
    from vla_bench import runner
    from vla_bench.transport.client import RemotePolicy, RemoteError
    from vla_bench.types import ActionSpec, ActionDim, EpisodeSpec

    cfg = scripted(transport="websocket", policy_server={"host": "0.0.0.0", "port": 0})
    with runner.policy_servers(cfg) as overrides:
        tokens = {o.kwargs["token"] for o in overrides.values()}
        assert len(tokens) == 1 and None not in tokens and overrides[0].kwargs["host"] == "127.0.0.1"
        stranger = RemotePolicy(host="127.0.0.1", port=overrides[0].kwargs["port"], connect_timeout_s=5)
        spec = ActionSpec((ActionDim("x", -1, 1),))
        with pytest.raises(RemoteError, match="token"):
            stranger.reset(EpisodeSpec("scripted", "reach-up", 0), spec)
    summary = run(cfg, tmp_path / "w", progress=False)
    assert summary.errors == 0 and outcomes(summary) == outcomes(run(scripted(), tmp_path / "i", progress=False))
