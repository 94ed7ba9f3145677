"""Env workers under another interpreter that has only the light core installed.

The policy stays in the runner's process and is reached over the websocket transport, which is how
benchmarks with clashing pins (CALVIN's numpy<2, LIBERO's robosuite) are run. .ci/run builds that
interpreter (``pip install .`` into a fresh venv) and names it in VLA_BENCH_CORE_PYTHON.
"""

import os
import subprocess

import pytest

from vla_bench.config import parse_run_config
from vla_bench.runner import run

CORE_PYTHON = os.environ.get("VLA_BENCH_CORE_PYTHON")
pytestmark = pytest.mark.skipif(not CORE_PYTHON, reason="VLA_BENCH_CORE_PYTHON (a core-only venv) is not set")


def test_core_interpreter_has_no_torch_and_no_simulator():
    out = subprocess.run(
        [CORE_PYTHON, "-c", "import importlib.util as u; import vla_bench.worker, envs.scripted;"
         "print([m for m in ('torch', 'mujoco', 'metaworld') if u.find_spec(m)])"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "[]"


def test_workers_in_core_interpreter_reach_policy_over_websocket(tmp_path):
    data = {
        "suites": [{"suite": "scripted", "episodes_per_task": 2, "python": CORE_PYTHON}],
        "policies": ["scripted_expert", "zero"],
        "workers": 2,
        "transport": "websocket",
    }
    summary = run(parse_run_config(data, "test"), tmp_path / "r", progress=False)
    assert summary.errors == 0, [r.error for r in summary.results if r.error]
    by_policy = {p: [r for r in summary.results if r.policy == p] for p in ("scripted_expert", "zero")}
    assert len(by_policy["scripted_expert"]) == len(by_policy["zero"]) == 6
    assert all(r.success for r in by_policy["scripted_expert"])
    assert not any(r.success for r in by_policy["zero"])
