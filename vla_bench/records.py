"""Run directories: ``run.json`` (the manifest) and ``episodes.jsonl`` (one attempt per line).

Per-episode records are the source of truth. Lines are appended and flushed (and fsynced) one at a
time, so a run killed at any instant loses at most the line being written; a truncated last line is
ignored on read and cut off before the next append. Several run directories merge by episode
identity: for each (policy, identity) the last counted attempt wins, and an identity whose every
attempt crashed stays ERROR.

A damaged or foreign file is a ``RecordError`` naming the file, the line and what is wrong; readers
may skip bad lines instead (and count them), never silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from vla_bench.types import EpisodeResult, EpisodeStatus

MANIFEST = "run.json"
EPISODES = "episodes.jsonl"
REQUIRED = ("spec", "policy", "status", "steps")


class RecordError(ValueError):
    """A run-directory file that cannot be read as a record: the file, the line, what is wrong."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        self.path, self.line, self.reason = Path(path), line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def _expect_file(path: Path) -> None:
    if path.exists() and not path.is_file():
        raise RecordError(path, "is a directory, expected a file" if path.is_dir() else "is not a regular file")


def write_manifest(run_dir: Path, manifest: Mapping[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, run_dir / MANIFEST)


def read_manifest(run_dir: Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RecordError(run_dir, "is a file, expected a run directory")
    path = run_dir / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory: {MANIFEST} is missing")
    _expect_file(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise RecordError(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RecordError(path, f"not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    if not isinstance(data, dict):
        raise RecordError(path, f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_record(raw: bytes) -> EpisodeResult:
    """One line of episodes.jsonl; ValueError saying what is wrong with it."""
    try:
        d = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(d, dict):
        raise ValueError(f"expected a JSON object, got {type(d).__name__}")
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise ValueError(f"missing key {missing[0]!r} (a record has {', '.join(REQUIRED)}, ...)")
    if d["status"] not in {s.value for s in EpisodeStatus}:
        raise ValueError(f"unknown status {d['status']!r} (known: {', '.join(s.value for s in EpisodeStatus)})")
    try:
        return EpisodeResult.from_dict(d)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed record ({type(exc).__name__}: {exc})") from None


def iter_attempts(run_dir: Path, skip_bad: bool = False, bad: list[str] | None = None) -> Iterator[EpisodeResult]:
    """Every complete line of episodes.jsonl, in order; a torn last line (a killed writer) is skipped.

    A line that is not a record raises ``RecordError``; with ``skip_bad`` it is skipped and described in
    ``bad`` instead.
    """
    path = Path(run_dir) / EPISODES
    if not path.exists():
        return
    _expect_file(path)
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                break  # torn write from a killed process
            if not raw.strip():
                continue
            try:
                yield parse_record(raw)
            except ValueError as exc:
                if not skip_bad:
                    raise RecordError(path, str(exc), lineno) from None
                if bad is not None:
                    bad.append(f"{path}:{lineno}: {exc}")


def final_results(attempts: Iterable[EpisodeResult]) -> list[EpisodeResult]:
    """One result per (policy, identity): a counted attempt wins over ERROR; later wins over earlier."""
    best: dict[tuple[str, str], EpisodeResult] = {}
    for r in attempts:
        k = (r.policy, r.spec.key)
        prev = best.get(k)
        if prev is None or r.status.counted or not prev.status.counted:
            best[k] = r
    return sorted(best.values(), key=lambda r: (r.policy, r.spec))


def load_results(run_dirs: Iterable[Path], skip_bad: bool = False, bad: list[str] | None = None) -> list[EpisodeResult]:
    """Merge the final results of several run directories (shards, resumed runs, other policies)."""
    return final_results(a for d in run_dirs for a in iter_attempts(Path(d), skip_bad, bad))


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
