"""Start a real ``vla-bench serve`` subprocess with the test policies of serve_plugin.py.

Fixtures: ``serve(*args, policy=..., kwargs=..., env=...) -> Served`` (stopped after the test) and
``serve_module`` (the same, stopped after the module, for servers several tests share).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PLUGIN = Path(__file__).with_name("serve_plugin.py")


class Served:
    """A ``vla-bench serve`` process: its port, its log (stderr goes to a file, never a pipe that
    could fill up and block the server) and its resident memory."""

    def __init__(self, directory: Path, *args: str, policy: str = "test_picky", kwargs: dict | None = None,
                 env: dict[str, str] | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        cfg = directory / f"{policy}.yaml"
        cfg.write_text(yaml.safe_dump({"type": policy, "name": policy, "kwargs": kwargs or {}}))
        self.log_path = directory / "server.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vla_bench.cli", "serve", str(cfg), "--port", "0", "--plugin", str(PLUGIN),
                 *args], stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, **(env or {})})
        line = self.proc.stdout.readline()
        found = re.search(r"ws://[^ ]+:(\d+) ", line)
        if found is None:
            self.stop()
            raise RuntimeError(f"serve did not start: {line!r}\n{self.log()}")
        self.port = int(found.group(1))

    def log(self) -> str:
        return self.log_path.read_text()

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc.stdout.close()
        return self.proc.returncode


def _starter(directory: Path):
    started: list[Served] = []

    def start(*args: str, **kwargs) -> Served:
        started.append(Served(directory / f"server{len(started)}", *args, **kwargs))
        return started[-1]

    return start, started


@pytest.fixture()
def serve(tmp_path):
    start, started = _starter(tmp_path)
    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def serve_module(tmp_path_factory):
    start, started = _starter(tmp_path_factory.mktemp("served"))
    yield start
    for s in started:
        s.stop()
