"""A real ``vla-bench serve`` process: fault isolation in a batch, error codes without server internals,
the shared token, NaN and mistyped fields, and a broken checkpoint at startup."""

import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from vla_bench.transport.client import RemoteError, RemotePolicy
from vla_bench.transport.codec import packb, unpackb
from vla_bench.types import ActionDim, ActionSpec, EpisodeSpec, Observation

SPEC = ActionSpec((ActionDim("a", -1, 1), ActionDim("b", -1, 1)))
ROOT = Path(__file__).resolve().parents[2]


def obs(x, instruction="go"):
    return Observation({"primary": np.zeros((8, 8, 3), np.uint8)}, np.array([x, 1.0], np.float32), instruction)


@pytest.mark.parametrize("policy", ["test_picky", "test_picky_batch"])
def test_a_poisoned_client_costs_only_its_own_requests(serve, policy):
    server = serve("--max-batch", "8", "--batch-timeout-ms", "50", policy=policy)
    n_healthy, steps = 4, 40
    barrier = threading.Barrier(n_healthy + 1)
    errors, poisoned, batch_sizes = [], [], []

    def client(i):
        try:
            p = RemotePolicy(port=server.port)
            p.reset(EpisodeSpec("s", "t", i), SPEC)
            barrier.wait(30)
            for step in range(steps):
                if i == n_healthy:
                    try:
                        p.act(obs(float(step), "poison"))
                        poisoned.append("answered")
                    except RemoteError as exc:
                        poisoned.append(exc)
                    continue
                assert p.act(obs(float(step))).tolist() == [[i, step + 1.0]]
                batch_sizes.append(p.last_server_timing["batch_size"])
            p.close()
        except Exception as exc:  # noqa: BLE001
            errors.append((i, exc))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_healthy + 1)]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    assert not errors, errors
    assert len(batch_sizes) == n_healthy * steps
    assert len(poisoned) == steps and all(isinstance(e, RemoteError) for e in poisoned), poisoned
    assert {e.code for e in poisoned} == {"policy_error"} and "'poison' is refused" in poisoned[0].message
    assert poisoned[0].remote_traceback == ""  # no --debug: the traceback stays in the server log
    # the poisoned requests shared batches with healthy ones (5 connections, each one request in flight)
    assert max(batch_sizes) == n_healthy + 1, batch_sizes
    log = server.log()
    assert "Traceback" in log and "'poison' is refused" in log


@pytest.fixture(scope="module")
def picky(serve_module):
    return serve_module()


def _raw(port, frames, headers=None):
    with connect(f"ws://127.0.0.1:{port}", max_size=None, additional_headers=headers) as ws:
        assert unpackb(ws.recv(timeout=10))["type"] == "metadata"
        replies = []
        for frame in frames:
            ws.send(frame)
            replies.append(unpackb(ws.recv(timeout=10)))
        return replies


RESET = packb({"type": "reset", "episode": EpisodeSpec("s", "t", 1).to_dict(), "action_spec": SPEC.to_dict()})


def _act(state=None, images=None, **extra):
    o = {"images": images if images is not None else {}, "instruction": "go",
         "state": state if state is not None else np.ones(2, np.float32), **extra}
    return packb({"type": "act", "obs": o})


def test_nan_inf_and_mistyped_info_are_refused_by_field_name(picky):
    nan_image = np.zeros((2, 2, 3), np.float32)
    nan_image[0, 0, 0] = np.nan
    replies = _raw(picky.port, [
        RESET,
        _act(np.array([1.0, np.nan], np.float32)),
        _act(np.array([np.inf, 1.0], np.float32)),
        _act(info=[1, 2]),
        _act(info="x"),
        _act(images={"primary": nan_image}),
        _act(images={"primary": np.zeros((2, 2, 3), np.float32)}),
        _act(info=None),
    ])
    assert replies[0] == {"type": "ok"}
    assert [(r.get("code"), r.get("message")) for r in replies[1:-1]] == [
        ("bad_request", "observation.state contains NaN"),
        ("bad_request", "observation.state contains inf"),
        ("bad_request", "observation.info must be a mapping, got list"),
        ("bad_request", "observation.info must be a mapping, got str"),
        ("bad_request", "observation.images['primary'] contains NaN"),
        ("bad_request", "observation.images['primary'] must be HxWx3 uint8, got float32 (2, 2, 3)"),
    ]
    assert replies[-1]["actions"].tolist() == [[1, 2.0]]  # info may be absent or null


def test_error_replies_hold_code_and_message_only_and_the_log_has_the_traceback(picky, serve):
    replies = _raw(picky.port, [b"\xc1", RESET, _act(), packb({"type": "act", "obs": {
        "images": {}, "state": np.ones(2, np.float32), "instruction": "poison"}})])
    assert replies[0]["code"] == "bad_request" and replies[0].keys() == {"type", "code", "message"}
    assert replies[2]["type"] == "actions"
    assert replies[3] == {"type": "error", "code": "policy_error",
                          "message": "ValueError: the instruction 'poison' is refused"}
    assert "Traceback" in picky.log() and "serve_plugin.py" in picky.log()

    debug = serve("--debug")
    replies = _raw(debug.port, [RESET, packb({"type": "act", "obs": {
        "images": {}, "state": np.ones(2, np.float32), "instruction": "poison"}})])
    assert replies[1]["code"] == "policy_error" and "serve_plugin.py" in replies[1]["traceback"]


def test_token_is_checked_in_the_handshake(serve, monkeypatch):
    server = serve("--host", "0.0.0.0", env={"VLA_BENCH_TOKEN": "s3cret"})
    assert "warning: serving on 0.0.0.0" in server.log() and "no --token" not in server.log()
    monkeypatch.delenv("VLA_BENCH_TOKEN", raising=False)
    for token in (None, "wrong"):
        p = RemotePolicy(port=server.port, token=token, connect_timeout_s=20)
        with pytest.raises(RemoteError, match="refused the connection") as info:
            p.reset(EpisodeSpec("s", "t", 0), SPEC)  # at once: a refused token is not retried
        assert info.value.code == "unauthorized"
    with pytest.raises(InvalidStatus) as info:
        _raw(server.port, [RESET])
    assert info.value.response.status_code == 401 and b"unauthorized" in info.value.response.body
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as r:
        assert r.status == 200
    p = RemotePolicy(port=server.port, token="s3cret")
    assert "s3cret" not in repr(p.config)
    p.reset(EpisodeSpec("s", "t", 3), SPEC)
    assert p.act(obs(1.0)).tolist() == [[3, 2.0]]
    monkeypatch.setenv("VLA_BENCH_TOKEN", "s3cret")  # the client's default
    p = RemotePolicy(port=server.port)
    p.reset(EpisodeSpec("s", "t", 4), SPEC)
    assert p.act(obs(1.0)).tolist() == [[4, 2.0]]
    assert _raw(server.port, [RESET], {"Authorization": "Bearer s3cret"}) == [{"type": "ok"}]


def test_a_non_loopback_host_without_token_is_warned_about(serve):
    server = serve("--host", "0.0.0.0", "--token", "")
    assert "no --token is set" in server.log()


def _serve_exit(cfg, tmp_path):
    return subprocess.run([sys.executable, "-m", "vla_bench.cli", "serve", str(cfg), "--port", "0"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


def test_a_broken_checkpoint_is_one_line_and_exit_2_before_binding(tmp_path):
    pytest.importorskip("torch")
    ckpt = tmp_path / "mt10"
    shutil.copytree(ROOT / "checkpoints" / "mt10", ckpt)
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100_000])
    for checkpoint, fragment in [(ckpt, str(weights)), (tmp_path / "absent", str(tmp_path / "absent"))]:
        cfg = tmp_path / "policy.yaml"
        cfg.write_text(f"type: vla\nname: broken\nkwargs: {{checkpoint: {checkpoint}, decoder: autoregressive}}\n")
        out = _serve_exit(cfg, tmp_path)
        assert out.returncode == 2 and out.stdout == "", (out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
        assert lines[0].startswith("cannot load policy broken: ") and fragment in lines[0], lines[0]
