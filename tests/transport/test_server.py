"""A real policy server on loopback with concurrent clients, bad frames and a CLI subprocess."""

import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest
from websockets.sync.client import connect

from vla_bench.transport.batching import as_batch_policy
from vla_bench.transport.client import RemoteError, RemotePolicy
from vla_bench.transport.codec import packb, unpackb
from vla_bench.transport.server import PolicyServer
from vla_bench.types import ActionDim, ActionSpec, EpisodeSpec, Observation

SPEC = ActionSpec((ActionDim("a", -1, 1), ActionDim("b", -1, 1)))


class EchoInitPolicy:
    """Answers with its episode's init_id and the observation's state sum: easy to check per client."""

    name = "echo"

    def reset(self, episode, action_spec):
        self.init_id = episode.init_id

    def act(self, obs):
        time.sleep(0.002)
        return np.array([[self.init_id, float(obs.state.sum())]], dtype=np.float32)

    def metadata(self):
        return {"kind": "echo"}


def obs(x):
    return Observation({"primary": np.zeros((8, 8, 3), np.uint8)}, np.array([x, 1.0], np.float32), "go")


@pytest.fixture()
def server():
    s = PolicyServer(as_batch_policy(EchoInitPolicy), port=0, max_batch=8, batch_timeout_ms=20,
                     max_frame_bytes=64 * 1024)
    s.start_in_thread()
    yield s
    s.stop()


def test_concurrent_clients_get_their_own_answers_and_batches_form(server):
    errors, barrier = [], threading.Barrier(8)

    def client(i):
        try:
            p = RemotePolicy(port=server.port)
            p.reset(EpisodeSpec("s", "t", i), SPEC)
            barrier.wait()
            for step in range(10):
                out = p.act(obs(float(step)))
                assert out.tolist() == [[i, step + 1.0]], out
            p.close()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert not errors, errors
    assert server.stats["requests"] == 80
    assert max(server.stats["batch_sizes"]) > 1, server.stats


def test_bad_frames_get_error_replies_and_service_goes_on(server):
    with connect(f"ws://127.0.0.1:{server.port}", max_size=None) as ws:
        meta = unpackb(ws.recv())
        assert meta["type"] == "metadata" and meta["policy"] == "echo" and meta["metadata"] == {"kind": "echo"}
        for frame, fragment in [
            (b"\xc1\xff garbage", "malformed msgpack"),
            ("text frame", "binary"),
            (packb({"type": "fly"}), "unknown message type"),
            (packb({"type": "act"}), "observation must be a mapping"),
            (packb({"type": "act", "obs": {"images": {}, "state": np.ones(2, np.float32), "instruction": "x"}}),
             "act before reset"),
        ]:
            ws.send(frame)
            reply = unpackb(ws.recv(timeout=10))
            assert reply.keys() == {"type", "code", "message"}, reply  # no traceback without debug
            assert reply["code"] == "bad_request" and fragment in reply["message"], (fragment, reply)
        ws.send(packb({"type": "reset", "episode": EpisodeSpec("s", "t", 5).to_dict(), "action_spec": SPEC.to_dict()}))
        assert unpackb(ws.recv(timeout=10)) == {"type": "ok"}
        ws.send(packb({"type": "act", "obs": {"images": {}, "state": np.ones(2, np.float32), "instruction": "x"}}))
        assert unpackb(ws.recv(timeout=10))["actions"].tolist() == [[5, 2.0]]
    p = RemotePolicy(port=server.port)
    p.reset(EpisodeSpec("s", "t", 3), SPEC)
    assert p.act(obs(0.0)).tolist() == [[3, 1.0]]
    assert server.stats["errors"] == 5


def test_healthz(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as r:
        assert r.status == 200 and r.read() == b"OK\n"


def test_remote_error_carries_code_and_message_but_no_traceback_by_default(server):
    p = RemotePolicy(port=server.port)
    with pytest.raises(RemoteError, match=r"act before reset.*\[bad_request\]") as info:
        p.act(obs(0.0))
    assert info.value.code == "bad_request" and info.value.remote_traceback == ""
    assert info.value.message.startswith("act before reset")


def test_debug_server_sends_the_policy_traceback():
    class Bad(EchoInitPolicy):
        def act(self, obs):
            raise ValueError("no luck")

    s = PolicyServer(as_batch_policy(Bad), debug=True)
    s.start_in_thread()
    try:
        p = RemotePolicy(port=s.port)
        p.reset(EpisodeSpec("s", "t", 0), SPEC)
        with pytest.raises(RemoteError, match="ValueError: no luck") as info:
            p.act(obs(0.0))
        assert info.value.code == "policy_error"
        assert "Traceback" in info.value.remote_traceback and "in act" in info.value.remote_traceback
    finally:
        s.stop()


def test_client_refuses_a_request_over_the_servers_limit_and_stays_connected(server):
    p = RemotePolicy(port=server.port)
    p.reset(EpisodeSpec("s", "t", 6), SPEC)
    big = Observation({"primary": np.zeros((200, 200, 3), np.uint8)}, np.array([1.0, 1.0], np.float32), "go")
    with pytest.raises(RemoteError, match="exceeds the limit of 65536") as info:
        p.act(big)
    assert info.value.code == "too_large"
    assert p.act(obs(1.0)).tolist() == [[6, 2.0]] and server.stats["connections"] == 1


def test_frames_in_flight_share_one_byte_budget():
    class Slow(EchoInitPolicy):
        def act(self, obs):
            time.sleep(0.2)
            return super().act(obs)

    s = PolicyServer(as_batch_policy(Slow), max_frame_bytes=64 * 1024, max_inflight_bytes=64 * 1024)
    s.start_in_thread()
    try:
        big = Observation({"primary": np.zeros((100, 100, 3), np.uint8)}, np.array([1.0, 1.0], np.float32), "go")
        clients = [RemotePolicy(port=s.port) for _ in range(3)]
        for i, c in enumerate(clients):
            c.reset(EpisodeSpec("s", "t", i), SPEC)
        answers, t0 = {}, time.monotonic()
        threads = [threading.Thread(target=lambda i=i, c=c: answers.__setitem__(i, c.act(big)))
                   for i, c in enumerate(clients)]
        [t.start() for t in threads]
        [t.join(10) for t in threads]
        assert {i: a.tolist() for i, a in answers.items()} == {i: [[i, 2.0]] for i in range(3)}
        # ~30 KiB frames: two fit the 64 KiB budget at once, the third waits (unread) for room
        assert 2 * 30000 < s._inflight.peak <= 64 * 1024 and time.monotonic() - t0 < 5
    finally:
        s.stop()


def test_client_gives_up_with_a_clear_error_when_no_server():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = RemotePolicy(port=port, connect_timeout_s=0.5)
    with pytest.raises(ConnectionError, match=f"no policy server at ws://127.0.0.1:{port}"):
        p.reset(EpisodeSpec("s", "t", 0), SPEC)


def test_client_times_out_on_a_silent_server():
    class Slow(EchoInitPolicy):
        def act(self, obs):
            time.sleep(1.5)
            return super().act(obs)

    s = PolicyServer(as_batch_policy(Slow), port=0)
    s.start_in_thread()
    try:
        p = RemotePolicy(port=s.port, recv_timeout_s=0.3)
        p.reset(EpisodeSpec("s", "t", 0), SPEC)
        with pytest.raises(TimeoutError, match="did not answer within 0.3 s"):
            p.act(obs(0.0))
    finally:
        s.stop()


def test_serve_command_as_a_subprocess(tmp_path):
    cfg = tmp_path / "policy.yaml"
    cfg.write_text("type: scripted_expert\nname: expert\nkwargs: {gain: 2.0}\n")
    proc = subprocess.Popen([sys.executable, "-m", "vla_bench.cli", "serve", str(cfg), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving expert on ws://127.0.0.1:"), line
        port = int(line.split("ws://127.0.0.1:")[1].split()[0])
        from envs.scripted import ScriptedEnv
        from vla_bench.rollout import run_episode
        from vla_bench.suite import SuiteSpec  # noqa: F401

        env = ScriptedEnv()
        p = RemotePolicy(port=port)
        result = run_episode(env, p, EpisodeSpec("scripted", "reach-right", 1), env.suite)
        assert result.status.value == "success" and result.policy == "scripted_expert"
        p.close()
        proc.terminate()  # SIGTERM stops the server cleanly
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_frame_over_the_limit_closes_only_that_connection(server):
    from websockets.exceptions import ConnectionClosed

    with connect(f"ws://127.0.0.1:{server.port}", max_size=None) as ws:
        ws.recv()
        ws.send(b"\x00" * (64 * 1024 + 1))  # refused from the frame header, never read whole
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
        assert info.value.rcvd.code == 1009  # message too big
    p = RemotePolicy(port=server.port)
    p.reset(EpisodeSpec("s", "t", 4), SPEC)
    assert p.act(obs(1.0)).tolist() == [[4, 2.0]]


class NativeBatch:
    """A batch policy that records the size of every act_batch call (one forward pass per batch)."""

    name = "native"

    def __init__(self):
        self.calls, self.init = [], {}

    def reset_session(self, session, episode, action_spec):
        self.init[session] = episode.init_id

    def act_batch(self, items):
        self.calls.append(len(items))
        time.sleep(0.005)
        return [np.array([[self.init[s], o.state[0]]], np.float32) for s, o in items]

    def close_session(self, session):
        self.init.pop(session, None)

    def metadata(self):
        return {"native": True}


def test_native_batch_policy_answers_many_clients_in_one_call():
    policy = NativeBatch()
    assert as_batch_policy(policy) is policy
    s = PolicyServer(policy, max_batch=8, batch_timeout_ms=30)
    s.start_in_thread()
    try:
        clients = [RemotePolicy(port=s.port) for _ in range(6)]
        for i, c in enumerate(clients):
            c.reset(EpisodeSpec("s", "t", i), SPEC)
        answers = {}
        threads = [threading.Thread(target=lambda i=i, c=c: answers.__setitem__(i, c.act(obs(float(i)))))
                   for i, c in enumerate(clients)]
        [t.start() for t in threads]
        [t.join(10) for t in threads]
        assert {i: a.tolist() for i, a in answers.items()} == {i: [[i, i]] for i in range(6)}
        assert sum(policy.calls) == 6 and max(policy.calls) > 1 and clients[0].name == "native"
        assert clients[0].last_server_timing["batch_size"] >= 1
        [c.close() for c in clients]
    finally:
        s.stop()


def test_policy_errors_and_unencodable_outputs_become_error_replies():
    class Bad(EchoInitPolicy):
        def act(self, obs):
            if obs.state[0] < 0:
                raise ValueError("negative state")
            return super().act(obs)

    class BadBatch(NativeBatch):
        def act_batch(self, items):
            return [np.array(["not a number"])] * len(items)

    for policy, fragment in [(as_batch_policy(Bad), "negative state"), (BadBatch(), "could not convert")]:
        s = PolicyServer(policy)
        s.start_in_thread()
        try:
            p = RemotePolicy(port=s.port)
            p.reset(EpisodeSpec("s", "t", 2), SPEC)
            with pytest.raises(RemoteError, match=fragment):
                p.act(obs(-1.0))
            if isinstance(policy, NativeBatch):
                continue
            assert p.act(obs(1.0)).tolist() == [[2, 2.0]]
        finally:
            s.stop()


def test_stop_returns_promptly_with_a_request_in_flight():
    class Slow(EchoInitPolicy):
        def act(self, obs):
            time.sleep(0.5)
            return super().act(obs)

    s = PolicyServer(as_batch_policy(Slow))
    s.start_in_thread()
    p = RemotePolicy(port=s.port, recv_timeout_s=5)
    p.reset(EpisodeSpec("s", "t", 0), SPEC)
    outcome = []

    def call():
        try:
            outcome.append(p.act(obs(0.0)))
        except (ConnectionError, RemoteError) as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    s.stop()
    assert time.monotonic() - t0 < 3 and not s._thread.is_alive()
    worker.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], (ConnectionError, RemoteError)), outcome


def test_client_reconnects_after_a_timeout():
    class SlowOnce(EchoInitPolicy):
        slept = False

        def act(self, obs):
            if not SlowOnce.slept:
                SlowOnce.slept = True
                time.sleep(0.6)
            return super().act(obs)

    s = PolicyServer(as_batch_policy(SlowOnce))
    s.start_in_thread()
    try:
        p = RemotePolicy(port=s.port, recv_timeout_s=0.3)
        p.reset(EpisodeSpec("s", "t", 1), SPEC)
        with pytest.raises(TimeoutError):
            p.act(obs(0.0))
        time.sleep(0.5)  # the late reply must not be taken as the answer to the next request
        p.reset(EpisodeSpec("s", "t", 9), SPEC)
        assert p.act(obs(2.0)).tolist() == [[9, 3.0]]
        assert s.stats["connections"] == 2
    finally:
        s.stop()


def test_plain_policy_instances_are_refused():
    with pytest.raises(TypeError, match="not an instance"):
        as_batch_policy(EchoInitPolicy())


def test_lone_client_does_not_wait_for_the_batch_timeout():
    s = PolicyServer(as_batch_policy(EchoInitPolicy), batch_timeout_ms=1000)
    s.start_in_thread()
    try:
        p = RemotePolicy(port=s.port)
        p.reset(EpisodeSpec("s", "t", 0), SPEC)
        t0 = time.monotonic()
        for _ in range(5):
            p.act(obs(0.0))
        assert time.monotonic() - t0 < 1.0  # five requests, far less than one batch timeout
    finally:
        s.stop()


def test_per_session_policies_build_one_instance_per_concurrent_session():
    built = []

    def factory():
        built.append(EchoInitPolicy())
        return built[-1]

    batch = as_batch_policy(factory)
    assert batch.name == "echo" and len(built) == 1
    batch.reset_session("a", EpisodeSpec("s", "t", 1), SPEC)
    batch.reset_session("b", EpisodeSpec("s", "t", 2), SPEC)
    assert len(built) == 2
    assert [a.tolist() for a in batch.act_batch([("b", obs(0.0)), ("a", obs(1.0))])] == [[[2, 1.0]], [[1, 2.0]]]
    batch.close_session("a")
    batch.reset_session("c", EpisodeSpec("s", "t", 3), SPEC)  # reuses the freed first instance
    assert len(built) == 2 and batch.metadata() == {"kind": "echo"}
    with pytest.raises(RuntimeError, match="act before reset"):
        batch.act_batch([("a", obs(0.0))])


def test_client_modules_do_not_import_torch():
    code = ("import sys, vla_bench.transport.client, vla_bench.transport.server, vla_bench.commands.serve; "
            "print(sorted(m for m in ('torch', 'mujoco', 'metaworld') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
