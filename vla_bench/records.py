"""Run directories: ``run.json`` (the manifest) and ``episodes.jsonl`` (one attempt per line).

Per-episode records are the source of truth. Lines are appended and flushed (and fsynced) one at a
time, so a run killed at any instant loses at most the line being written; a truncated last line is
ignored on read and cut off before the next append. Several run directories merge by episode
identity: for each (policy, identity) the last counted attempt wins, and an identity whose every
attempt crashed stays ERROR.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from vla_bench.types import EpisodeResult

MANIFEST = "run.json"
EPISODES = "episodes.jsonl"


def write_manifest(run_dir: Path, manifest: Mapping[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, run_dir / MANIFEST)


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory: {MANIFEST} is missing")
    return json.loads(path.read_text())


def iter_attempts(run_dir: Path) -> Iterator[EpisodeResult]:
    """Every complete line of episodes.jsonl, in order; a torn last line is skipped."""
    path = Path(run_dir) / EPISODES
    if not path.exists():
        return
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # torn write from a killed process
            line = raw.strip()
            if line:
                yield EpisodeResult.from_dict(json.loads(line))


def final_results(attempts: Iterable[EpisodeResult]) -> list[EpisodeResult]:
    """One result per (policy, identity): a counted attempt wins over ERROR; later wins over earlier."""
    best: dict[tuple[str, str], EpisodeResult] = {}
    for r in attempts:
        k = (r.policy, r.spec.key)
        prev = best.get(k)
        if prev is None or r.status.counted or not prev.status.counted:
            best[k] = r
    return sorted(best.values(), key=lambda r: (r.policy, r.spec))


def load_results(run_dirs: Iterable[Path]) -> list[EpisodeResult]:
    """Merge the final results of several run directories (shards, resumed runs, other policies)."""
    return final_results(a for d in run_dirs for a in iter_attempts(Path(d)))


@dataclass
class EpisodeLog:
    """Append-only writer for episodes.jsonl, safe against kill -9."""

    path: Path

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        self._f = self.path.open("ab")

    def _repair(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def append(self, result: EpisodeResult) -> None:
        self._f.write((json.dumps(result.to_dict(), sort_keys=True) + "\n").encode())
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> EpisodeLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
