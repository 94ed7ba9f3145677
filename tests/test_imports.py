"""Importing the packages has no side effects: no torch, no simulator, no output."""

import subprocess
import sys

HEAVY = ["torch", "mujoco", "metaworld", "libero", "robosuite", "matplotlib", "scipy"]


def test_import_is_light_and_silent():
    code = (
        "import sys; import vla_bench, vla_bench.registries, vla_bench.cli, vla_bench.config, vla_bench.runner, "
        "vla_bench.records, vla_bench.env, envs, policies; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert out.stderr == ""


def test_cli_help_does_not_import_heavy_modules():
    code = (
        "import sys, contextlib, io\nfrom vla_bench.cli import build_parser\nbuild_parser()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
