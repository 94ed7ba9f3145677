import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def _kill_mid_run_then_resume(cmd: list[str], out: Path, planned: int, at_least: int = 4):
    """Start ``cmd`` (a ``vla-bench eval ... --output out``), kill -9 it once ``at_least`` records exist, resume
    it, and return the finished resume and every record's (policy, identity key)."""
    from vla_bench import records

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    episodes = out / records.EPISODES
    deadline = time.time() + 60
    while time.time() < deadline:
        if episodes.exists() and episodes.read_bytes().count(b"\n") >= at_least:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = episodes.read_bytes().count(b"\n")
    assert at_least <= n_before < planned, "the run must be interrupted mid-way"
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in episodes.read_text().splitlines()]
    return done, [(d["policy"], "/".join(str(d["spec"][k]) for k in ("suite", "task", "init_id", "perturbation",
                                                                         "seed"))) for d in lines]


@pytest.fixture()
def kill_mid_run_then_resume():
    return _kill_mid_run_then_resume
