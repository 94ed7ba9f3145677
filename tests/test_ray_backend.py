"""The Ray backend on a local Ray: the same outcomes as in-process, killed and dying actors, hung episodes,
kill -9 of the driver and resume, the websocket transport and a suite's own interpreter."""

import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray")

from vla_bench import records, registries  # noqa: E402
from vla_bench.config import ConfigError, parse_run_config  # noqa: E402
from vla_bench.manifest import config_hash  # noqa: E402
from vla_bench.plan import plan  # noqa: E402
from vla_bench.ray_backend import RayBackend  # noqa: E402
from vla_bench.runner import run  # noqa: E402


def config(env=None, episodes=3, workers=2, policies=None, **extra):
    data = {
        "name": "t",
        "suites": [{"suite": "scripted", "episodes_per_task": episodes, "env": env or {}}],
        "policies": policies or ["scripted_expert",
                                 {"type": "scripted_expert", "name": "weak", "kwargs": {"gain": 0.3}}],
        "workers": workers,
        "backend": "ray",
        **extra,
    }
    return parse_run_config(data, "test")


def planned(cfg):
    return {(cfg.policies[i.policy_index].display_name, i.spec.key) for i in plan(cfg)}


def outcomes(results):
    return {(r.policy, r.spec.key): (r.status.value, r.steps) for r in results}


def attempts(out):
    return list(records.iter_attempts(out))


def test_a_ray_run_gives_the_inprocess_outcomes_and_leaves_ray_as_it_found_it(tmp_path):
    before = ray.is_initialized()  # normally not: the backend starts a local Ray and shuts it down again
    cfg = config()
    mine = run(cfg, tmp_path / "ray", progress=False)
    assert ray.is_initialized() == before
    ours = run(cfg.model_copy(update={"backend": "inprocess", "workers": 1}), tmp_path / "i", progress=False)
    assert set(outcomes(mine.results)) == planned(cfg) and len(planned(cfg)) == 18
    assert outcomes(mine.results) == outcomes(ours.results) and mine.errors == 0
    manifest = records.read_manifest(tmp_path / "ray")
    assert manifest["backend"] == ["ray"] and manifest["simulators"] == {"scripted": "1"}
    assert manifest["config_hash"] == records.read_manifest(tmp_path / "i")["config_hash"]
    assert sorted(p.name for p in (tmp_path / "ray" / "logs").iterdir()) == ["worker-0.log", "worker-1.log"]


def test_where_ray_runs_is_not_part_of_the_config_hash():
    assert config_hash(config(ray={"address": "10.0.0.1:6379", "num_cpus_per_env": 2})) == config_hash(config())
    with pytest.raises(ConfigError, match=r"ray\.num_cpus_per_env"):
        config(ray={"num_cpus_per_env": 0})


def test_address_needs_the_ray_backend_and_a_reachable_cluster(tmp_path, capsys):
    from vla_bench.cli import main

    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump({"suites": [{"suite": "scripted"}], "policies": ["scripted_expert"]}))
    assert main(["eval", str(cfg_path), "--output", str(tmp_path / "o"), "--address", "auto"]) == 2
    assert "--address: a Ray cluster address needs --backend ray" in capsys.readouterr().err
    if ray.is_initialized():
        pytest.skip("a Ray is already initialised in this process: the backend would use it")
    import socket

    with socket.socket() as s:  # a port nothing listens on: Ray itself would wait for it without end
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    assert main(["eval", str(cfg_path), "--output", str(tmp_path / "p"), "--backend", "ray", "--address", address,
                 "--no-progress"]) == 2
    assert f"ray.address: cannot reach the Ray cluster at {address}" in capsys.readouterr().err


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the tests below (the user's Ray, as far as the backend is concerned)."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


class SpyRayBackend(RayBackend):
    """The Ray backend, remembered once started so a test can reach its actors."""

    live: list = []

    def start(self):
        sims = super().start()
        SpyRayBackend.live.append(self)
        self.given = []  # (actor slot, task) of every attempt handed out
        return sims

    def _dispatch(self):
        before = [s.ref for s in self.slots]
        super()._dispatch()
        self.given += [(s.index, s.attempt.affinity_key) for s, ref in zip(self.slots, before)
                       if s.ref is not None and s.ref is not ref]


def test_an_actor_killed_mid_run_is_an_error_then_a_counted_retry(tmp_path, local_ray):
    if "ray_spy" not in registries.backends:
        registries.backends.add("ray_spy", SpyRayBackend)
    cfg = config(env={"step_delay_s": 0.01}, episodes=4, backend="ray_spy")
    out = tmp_path / "r"
    killed = []

    def killer():
        deadline = time.time() + 60
        while time.time() < deadline:
            episodes = out / records.EPISODES
            if SpyRayBackend.live and episodes.exists() and episodes.read_bytes().count(b"\n") >= 2:
                slot = SpyRayBackend.live[-1].slots[0]
                killed.append(slot.attempt)
                ray.kill(slot.actor)
                return
            time.sleep(0.01)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    summary = run(cfg, out, progress=False)
    t.join()
    assert killed, "the actor was never killed"
    assert ray.is_initialized()  # a Ray the caller started is never shut down by the backend
    found = attempts(out)
    errs = [i for i, a in enumerate(found) if a.status.value == "error"]
    assert len(errs) == 1 and summary.errors == 1
    err = found[errs[0]]
    assert "ray env actor 0 died mid-episode" in err.error and "ray.kill" in err.error
    retry = [a for a in found[errs[0] + 1:] if (a.policy, a.spec.key) == (err.policy, err.spec.key)]
    assert len(retry) == 1 and retry[0].attempt == 1 and retry[0].status.counted
    counted = [(a.policy, a.spec.key) for a in found if a.status.counted]
    assert len(counted) == len(set(counted)) and set(counted) == planned(cfg)
    # each actor stays on a task while it lasts: about 4 scenes built in all (a plain FIFO builds 6 here)
    given = SpyRayBackend.live[-1].given
    assert sum(len({k for w, k in given if w == slot}) for slot in (0, 1)) <= 5


def test_an_actor_that_dies_by_itself_is_an_error_and_is_replaced(tmp_path, local_ray):
    cfg = config(env={"die_init_ids": [2]}, policies=["scripted_expert"])
    cfg = cfg.model_copy(update={"suites": (cfg.suites[0].model_copy(update={"tasks": ("reach-up", "reach-left")}),)})
    summary = run(cfg, tmp_path / "r", progress=False)
    died = [a for a in attempts(tmp_path / "r") if a.status.value == "error"]
    assert {a.spec.init_id for a in died} == {2} and len(died) == 2 * 2  # 2 tasks, each tried twice
    assert all("died mid-episode" in a.error and "exits with a connection error" in a.error for a in died)
    pids = [a.error.split("(pid ")[1].split()[0] for a in died]
    assert len(set(pids)) == len(pids)  # each retry ran in a new actor process
    assert sum(r.status.counted for r in summary.results) == 6 - 2 and len(summary.results) == 6


def test_a_hung_episode_has_its_actor_killed_and_is_an_error(tmp_path, local_ray):
    cfg = config(env={"step_delay_s": 5.0}, episodes=1, episode_timeout_s=1.0, max_attempts=1)
    cfg = cfg.model_copy(update={"suites": (cfg.suites[0].model_copy(update={"tasks": ("reach-up",)}),)})
    t0 = time.perf_counter()
    summary = run(cfg, tmp_path / "r", progress=False)
    assert time.perf_counter() - t0 < 30
    assert len(summary.results) == 2
    assert all(r.status.value == "error" and "no result within 1 s and was killed" in r.error for r in summary.results)


class FakeRay:
    """Just what the policy-override rewrite asks of Ray: the nodes and this node's address."""

    def __init__(self, nodes):
        self._nodes = nodes
        self.util = type("util", (), {"get_node_ip_address": staticmethod(lambda: "10.1.2.3")})

    def nodes(self):
        return [{"Alive": True}] * self._nodes


def test_actors_on_other_nodes_get_an_address_they_can_reach(tmp_path):
    from vla_bench import runner
    from vla_bench.backends import BackendContext
    from vla_bench.preflight import PreflightError

    def rewritten(host, nodes):
        cfg = config(transport="websocket", policy_server={"host": host, "port": 0})
        with runner.policy_servers(cfg) as overrides:
            backend = RayBackend(BackendContext(cfg, overrides, 2, tmp_path))
            return {o.kwargs["host"] for o in backend._policy_overrides(FakeRay(nodes)).values()}

    assert rewritten("0.0.0.0", 3) == {"10.1.2.3"}  # servers on every interface: actors use this node's address
    assert rewritten("127.0.0.1", 1) == {"127.0.0.1"}  # one node: loopback is fine
    with pytest.raises(PreflightError, match=r"policy_server\.host: .*other 2 node\(s\).*0\.0\.0\.0"):
        rewritten("127.0.0.1", 3)


def test_kill_9_of_the_driver_then_resume_holds_exactly_the_planned_identities(tmp_path, local_ray,
                                                                             kill_mid_run_then_resume):
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "name": "killme",
        "suites": [{"suite": "scripted", "episodes_per_task": 6, "env": {"step_delay_s": 0.01}}],
        "policies": ["scripted_expert"],
        "workers": 2,
    }))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "vla_bench.cli", "eval", str(cfg_path), "--backend", "ray", "--address", local_ray,
           "--output", str(out), "--no-progress"]
    done, keys = kill_mid_run_then_resume(cmd, out, planned=18)
    assert len(keys) == len(set(keys)) == 18
    assert records.read_manifest(out)["config"]["ray"]["address"] == local_ray
    assert "reach-left" in done.stdout


def test_websocket_policies_are_reached_from_the_actors(tmp_path, local_ray):
    cfg = config(transport="websocket", policy_server={"host": "0.0.0.0", "port": 0})
    summary = run(cfg, tmp_path / "w", progress=False)
    assert summary.errors == 0, [r.error for r in summary.results if r.error]
    assert outcomes(summary.results) == outcomes(run(config(backend="inprocess", workers=1), tmp_path / "i",
                                                      progress=False).results)


def test_a_suite_interpreter_runs_the_actors(tmp_path, local_ray):
    seen = tmp_path / "invocations"
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {seen}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    data = {"suites": [{"suite": "scripted", "episodes_per_task": 1, "python": str(wrapper)}],
            "policies": ["scripted_expert"], "workers": 1, "backend": "ray"}
    summary = run(parse_run_config(data, "test"), tmp_path / "r", progress=False)
    assert summary.errors == 0 and len(summary.results) == 3
    assert "default_worker.py" in seen.read_text()  # Ray started its worker through the suite's interpreter


def test_a_suite_interpreter_without_ray_is_refused_in_one_line(tmp_path, local_ray):
    from vla_bench.preflight import PreflightError

    bare = tmp_path / "python"
    bare.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")  # -S: no site-packages, so no ray
    bare.chmod(0o755)
    data = {"suites": [{"suite": "scripted", "episodes_per_task": 1, "python": str(bare)}],
            "policies": ["scripted_expert"], "workers": 1, "backend": "ray"}
    with pytest.raises(PreflightError, match=r"suites\[0\]\.python: .* cannot host Ray env actors .*ray=="):
        run(parse_run_config(data, "test"), tmp_path / "r", progress=False)
    assert not list(Path(tmp_path / "r").glob("logs/*"))
