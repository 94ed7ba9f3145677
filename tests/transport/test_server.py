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
            (packb({"type": "act"}), "malformed observation"),
            (packb({"type": "act", "obs": {"images": {}, "state": np.ones(2, np.float32), "instruction": "x"}}),
             "act before reset"),
            (b"\x00" * (100 * 1024), "exceeds the limit"),
        ]:
            ws.send(frame)
            reply = unpackb(ws.recv(timeout=10))
            assert reply["type"] == "error" and fragment in reply["message"], (fragment, reply)
        ws.send(packb({"type": "reset", "episode": EpisodeSpec("s", "t", 5).to_dict(), "action_spec": SPEC.to_dict()}))
        assert unpackb(ws.recv(timeout=10)) == {"type": "ok"}
        ws.send(packb({"type": "act", "obs": {"images": {}, "state": np.ones(2, np.float32), "instruction": "x"}}))
        assert unpackb(ws.recv(timeout=10))["actions"].tolist() == [[5, 2.0]]
    p = RemotePolicy(port=server.port)
    p.reset(EpisodeSpec("s", "t", 3), SPEC)
    assert p.act(obs(0.0)).tolist() == [[3, 1.0]]
    assert server.stats["errors"] == 6


def test_healthz(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as r:
        assert r.status == 200 and r.read() == b"OK\n"


def test_remote_error_carries_server_traceback(server):
    p = RemotePolicy(port=server.port)
    with pytest.raises(RemoteError, match="act before reset") as info:
        p.act(obs(0.0))
    assert "Traceback" in info.value.remote_traceback


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
    finally:
        proc.terminate()
        proc.wait(10)
