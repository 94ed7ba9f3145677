"""The run manifest (run.json): what ran, with which code, packages, simulators and seeds."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from vla_bench import __version__
from vla_bench.config import RunConfig
from vla_bench.plan import Plan
from vla_bench.types import stable_hash

TRACKED_PACKAGES = (
    "vla-bench", "numpy", "torch", "metaworld", "mujoco", "gymnasium", "libero", "robosuite",
    "msgpack", "websockets", "pydantic",
)


def config_hash(cfg: RunConfig) -> str:
    """Hash of everything that defines the episodes and their outcome (not where or how fast they run)."""
    d = cfg.model_dump(mode="json")
    for k in ("workers", "output", "backend", "policy_server", "ray"):
        d.pop(k, None)
    if not d.get("plugins"):
        d.pop("plugins", None)  # runs without plugins keep the hash they had before the key existed
    return stable_hash(d)


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str]:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_sha(cwd: Path | None = None) -> str | None:
    here = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_hashes(cfg: RunConfig) -> dict[str, str]:
    """sha256 of every policy kwarg that names an existing file or directory of files."""
    out: dict[str, str] = {}
    for p in cfg.policies:
        for key, value in p.kwargs.items():
            if isinstance(value, str) and value and Path(value).exists():
                path = Path(value)
                files = sorted(path.rglob("*")) if path.is_dir() else [path]
                digest = stable_hash({str(f.relative_to(path) if path.is_dir() else f.name): file_sha256(f)
                                      for f in files if f.is_file()})
                out[f"{p.display_name}.{key}"] = digest
    return out


def build_manifest(cfg: RunConfig, plan: Plan, backends: Iterable[str] = (),
                   simulators: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "vla_bench_version": __version__,
        "config": cfg.model_dump(mode="json"),
        "config_hash": config_hash(cfg),
        "planned_episodes": len(plan),
        "policies": [p.display_name for p in cfg.policies],
        "suites": [s.suite for s in cfg.suites],
        "rollouts": {s.name: s.rollout for s in plan.suites},
        "report_layouts": {s.name: s.report_layout for s in plan.suites},
        "backend": sorted(set(backends)),
        "seed": cfg.seed,
        "git_sha": git_sha(),
        "packages": package_versions(),
        "simulators": simulators or {},
        "checkpoints": checkpoint_hashes(cfg),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
