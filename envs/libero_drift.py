"""Simulator-drift guard for LIBERO: golden settled states of every (suite, task, init_id).

MuJoCo and robosuite releases have changed LIBERO's results without any error (a bowl that tilts on
a ramekin's rim during settling, a darker floor). So for each episode identity we store the
simulator state after the protocol's reset and settle steps, computed under the pinned stack:
``reset`` (env.seed, env.reset, set_init_state) then ``SETTLE_STEPS`` no-op actions, exactly the
path an evaluated episode takes. ``vla-bench doctor`` recomputes a sample of them and says which
identity drifted, which joints moved and by how much.

Each record holds qpos and qvel rounded to ``DECIMALS`` and a hash of them. The verdict compares
values with a tolerance (``QPOS_TOL``; a different CPU may differ in the last bits), the hash is
for exact equality at a glance. A few identities are not reproducible even on the pinned stack (the
settled state differs between two resets in one process, e.g. a bowl resting on a drawer's edge):
a mismatch is recomputed after another identity, and one that then differs from itself is reported
as unstable (a warning), not as drift. Images are not part of the golden set: renders depend on the GL
driver (llvmpipe vs a GPU) and cost ~0.1-0.3 s each on a CPU.

Golden files: ``envs/data/libero_golden/<suite>.jsonl``, a header line with the versions it was
computed with, then one line per identity. Writing is resumable (identities already present are
skipped; lines are appended and flushed one by one)::

    nice -n 19 python -m envs.libero_drift write --suite libero_spatial --init-ids 0-49
    python -m envs.libero_drift tasks      # regenerate envs/data/libero_tasks.json from the package
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from envs.libero_presets import (
    DEFAULT_PRESET,
    NUM_INIT_STATES,
    PRESETS,
    SUITE_NAMES,
    TASKS_FILE,
    check_suite,
    task_table,
)

GOLDEN_DIR = Path(__file__).parent / "data" / "libero_golden"
DECIMALS = 6
QPOS_TOL = 1e-3  # 1 mm / 1 mrad
QVEL_TOL = 1e-2
PINNED = {"libero": "0.1.1", "robosuite": "1.4.0", "mujoco": "3.3.0"}
# LIBERO results are known to change with mujoco >= 3.3.3 (floor shading) and >= 3.4.0 (init states)
MUJOCO_KNOWN_BAD = (3, 3, 3)


def golden_path(suite: str) -> Path:
    return GOLDEN_DIR / f"{check_suite(suite)}.jsonl"


def versions() -> dict[str, str]:
    out = {}
    for p in ("libero", "robosuite", "mujoco", "numpy"):
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def version_problems(found: dict[str, str] | None = None) -> list[str]:
    """Differences between the installed simulator stack and the pinned one."""
    found = found or versions()
    problems = []
    for p, want in PINNED.items():
        if found.get(p) != want:
            problems.append(f"{p} {found.get(p)} installed, {want} pinned")
    try:
        mj = tuple(int(x) for x in found.get("mujoco", "0").split(".")[:3])
        if mj >= MUJOCO_KNOWN_BAD:
            problems.append(f"mujoco {found['mujoco']} is >= 3.3.3, known to change LIBERO's results")
    except ValueError:
        pass
    return problems


# -- computing settled states --------------------------------------------------------------------
def state_hash(qpos: np.ndarray, qvel: np.ndarray) -> str:
    data = np.concatenate([np.round(qpos, DECIMALS), np.round(qvel, DECIMALS)]) + 0.0  # no negative zero
    return hashlib.sha256(np.ascontiguousarray(data, dtype="<f8").tobytes()).hexdigest()[:16]


class SettledStates:
    """Computes settled states with a camera-less adapter (physics only, no renderer)."""

    def __init__(self, suite: str, preset: str = DEFAULT_PRESET) -> None:
        from envs.libero import LiberoEnv

        self.env = LiberoEnv(suite=suite, preset=preset, cameras={}, max_cached_tasks=1)
        self.settle_steps = PRESETS[preset].settle_steps

    def __call__(self, task: str, init_id: int) -> dict[str, Any]:
        self.env.reset(options={"task": task, "init_id": init_id})
        noop = self.env.noop_action()
        for _ in range(self.settle_steps):
            self.env.step(noop)
        sim = self.env.sim_env.sim
        qpos = np.array(sim.data.qpos, dtype=np.float64)
        qvel = np.array(sim.data.qvel, dtype=np.float64)
        return {"task": task, "init_id": int(init_id), "hash": state_hash(qpos, qvel),
                "qpos": np.round(qpos, DECIMALS).tolist(), "qvel": np.round(qvel, DECIMALS).tolist()}

    def joint_of_qpos(self) -> list[str]:
        """qpos index -> name of the joint it belongs to (for drift reports)."""
        m = self.env.sim_env.sim.model
        names = [""] * m.nq
        nq_of = {0: 7, 1: 4, 2: 1, 3: 1}  # free, ball, slide, hinge
        for j in range(m.njnt):
            adr = int(m.jnt_qposadr[j])
            for k in range(nq_of[int(m.jnt_type[j])]):
                names[adr + k] = f"{m.joint_id2name(j)}[{k}]" if nq_of[int(m.jnt_type[j])] > 1 else m.joint_id2name(j)
        return names

    def close(self) -> None:
        self.env.close()


# -- golden files --------------------------------------------------------------------------------
def read_golden(suite: str) -> tuple[dict[str, Any], dict[tuple[str, int], dict[str, Any]]]:
    """The header and the records of a suite's golden file (empty when it does not exist)."""
    path = golden_path(suite)
    header: dict[str, Any] = {}
    records: dict[tuple[str, int], dict[str, Any]] = {}
    if not path.exists():
        return header, records
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by an interrupted writer: ignored, recomputed
            continue
        if "header" in rec:
            header = rec["header"]
        else:
            records[(rec["task"], int(rec["init_id"]))] = rec
    return header, records


def parse_ids(spec: str) -> list[int]:
    """'0-49', '0,3,7' or '0-9,20' -> sorted ids."""
    ids: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            ids.update(range(int(a), int(b) + 1))
        elif part:
            ids.add(int(part))
    return sorted(ids)


def write_golden(suite: str, init_ids: Iterable[int], tasks: Iterable[str] | None = None,
                 log: Callable[[str], None] = print, time_budget_s: float | None = None) -> int:
    """Compute and append the missing identities of ``suite``; returns how many were added."""
    header, done = read_golden(suite)
    here = versions()
    if header and header.get("versions") != here:
        raise RuntimeError(f"{golden_path(suite)} was computed with {header.get('versions')}; this stack is "
                           f"{here}. Regenerate it on purpose (delete the file) or install the pinned stack.")
    names = list(tasks) if tasks else [t.name for t in task_table()[suite]]
    todo = [(t, i) for t in names for i in init_ids if (t, i) not in done]
    if not todo:
        log(f"{suite}: nothing to add ({len(done)} identities present)")
        return 0
    path = golden_path(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    calc = SettledStates(suite)
    start = time.perf_counter()
    added = 0
    try:
        with path.open("a") as f:
            if not header:
                f.write(json.dumps({"header": {
                    "suite": suite, "preset": DEFAULT_PRESET, "settle_steps": calc.settle_steps,
                    "decimals": DECIMALS, "versions": here,
                    "procedure": "reset(env.seed, env.reset, set_init_state) + settle no-op steps; qpos, qvel",
                }}) + "\n")
            for task, init_id in todo:
                if time_budget_s is not None and time.perf_counter() - start > time_budget_s:
                    log(f"{suite}: time budget reached after {added} identities; run again to resume")
                    break
                rec = calc(task, init_id)
                f.write(json.dumps(rec) + "\n")
                f.flush()
                added += 1
                if added % 10 == 0:
                    rate = (time.perf_counter() - start) / added
                    log(f"{suite}: {added}/{len(todo)} ({rate:.2f} s each)")
    finally:
        calc.close()
    return added


# -- checking ------------------------------------------------------------------------------------
@dataclass
class DriftReport:
    suite: str
    checked: int = 0
    exact: int = 0
    missing_golden: int = 0
    drifted: list[str] = field(default_factory=list)
    unstable: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.drifted and self.checked > 0


def compare(golden: dict[str, Any], now: dict[str, Any], joints: list[str] | None = None) -> str | None:
    """None when ``now`` matches ``golden`` within tolerance, else a description of what moved."""
    g_q, n_q = np.asarray(golden["qpos"]), np.asarray(now["qpos"])
    g_v, n_v = np.asarray(golden["qvel"]), np.asarray(now["qvel"])
    if g_q.shape != n_q.shape or g_v.shape != n_v.shape:
        return f"state size changed: qpos {g_q.shape}->{n_q.shape}, qvel {g_v.shape}->{n_v.shape}"
    dq, dv = np.abs(n_q - g_q), np.abs(n_v - g_v)
    if dq.max(initial=0) <= QPOS_TOL and dv.max(initial=0) <= QVEL_TOL:
        return None
    worst = np.argsort(-dq)[:3]
    parts = [f"{(joints[i] if joints and i < len(joints) else f'qpos[{i}]')} {g_q[i]:+.4f} -> {n_q[i]:+.4f}"
             for i in worst if dq[i] > QPOS_TOL]
    if not parts:
        parts = [f"max |dqvel| {dv.max():.4f}"]
    return f"max |dqpos| {dq.max():.4f}: " + "; ".join(parts)


def check_suite_drift(suite: str, init_ids: list[int] | None = None, tasks: list[str] | None = None,
                      sample: int | None = None, seed: int = 0,
                      log: Callable[[str], None] = lambda s: None) -> DriftReport:
    """Recompute golden identities of ``suite`` (all present, or a filtered/sampled subset) and compare."""
    report = DriftReport(suite)
    header, golden = read_golden(suite)
    keys = sorted(golden)
    if tasks:
        names = {t.name for t in task_table()[suite]}
        unknown = [t for t in tasks if t not in names]
        if unknown:
            raise ValueError(f"suite {suite!r} has no task(s) {unknown}")
        keys = [k for k in keys if k[0] in tasks]
    if init_ids is not None:
        wanted = set(init_ids)
        keys = [k for k in keys if k[1] in wanted]
        report.missing_golden = len({(t, i) for t, _ in keys for i in wanted} - set(keys))
    if sample is not None and sample < len(keys):
        keys = sorted(random.Random(seed).sample(keys, sample))
    if not keys:
        return report
    start = time.perf_counter()
    calc = SettledStates(suite, header.get("preset", DEFAULT_PRESET))
    try:
        joints: list[str] | None = None
        for task, init_id in keys:
            now = calc(task, init_id)
            if joints is None:
                joints = calc.joint_of_qpos()
            g = golden[(task, init_id)]
            report.checked += 1
            report.exact += int(now["hash"] == g["hash"])
            why = compare(g, now, joints)
            if why:
                # recompute after another identity: a state that differs between two resets on this very
                # stack is the simulator's own non-determinism (a resting contact that tips either way),
                # not drift; drift reproduces
                calc(task, (init_id + 1) % NUM_INIT_STATES)
                again = calc(task, init_id)
                if compare(now, again) is not None:
                    report.unstable.append(f"{suite}/{task}/init {init_id}: {why}; recomputed: "
                                           f"{compare(g, again, joints) or 'matches'}")
                    log(f"UNSTABLE {report.unstable[-1]}")
                else:
                    report.drifted.append(f"{suite}/{task}/init {init_id}: {why}")
                    log(f"DRIFT {report.drifted[-1]}")
            joints = None  # the next task has another scene
    finally:
        calc.close()
    report.seconds = time.perf_counter() - start
    return report


# -- task table ----------------------------------------------------------------------------------
def write_task_table(path: Path = TASKS_FILE) -> None:
    """envs/data/libero_tasks.json from the installed libero package (task order 0)."""
    from envs import libero_assets

    libero_assets.ensure_config()
    from libero.libero import benchmark

    suites = {}
    bench = benchmark.get_benchmark_dict()
    for s in SUITE_NAMES:
        b = bench[s](task_order_index=0)
        suites[s] = [{"name": t.name, "language": t.language, "problem_folder": t.problem_folder,
                      "bddl_file": t.bddl_file, "init_states_file": t.init_states_file} for t in b.tasks]
    data = {"source": f"libero {metadata.version('libero')}, libero.libero.benchmark, task_order_index 0",
            "suites": suites}
    lines = ["{", f'  "source": {json.dumps(data["source"])},', '  "suites": {']
    for si, (s, tasks) in enumerate(suites.items()):
        lines.append(f'    "{s}": [')
        lines += [f"      {json.dumps(t)}{',' if i < len(tasks) - 1 else ''}" for i, t in enumerate(tasks)]
        lines.append(f"    ]{',' if si < len(suites) - 1 else ''}")
    lines += ["  }", "}"]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m envs.libero_drift", description="LIBERO golden settled states")
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="compute and append missing golden identities (resumable)")
    w.add_argument("--suite", nargs="+", default=["libero_spatial"], choices=SUITE_NAMES)
    w.add_argument("--init-ids", default="0-49", help="e.g. 0-49 or 0-9,20")
    w.add_argument("--tasks", nargs="+", help="task names (default: all of the suite)")
    w.add_argument("--time-budget", type=float, help="stop after this many seconds (resume later)")
    sub.add_parser("tasks", help=f"rewrite {TASKS_FILE.name} from the installed libero package")
    args = p.parse_args(argv)
    if args.cmd == "tasks":
        write_task_table()
        print(f"wrote {TASKS_FILE}")
        return 0
    start = time.perf_counter()
    for s in args.suite:
        budget = None if args.time_budget is None else args.time_budget - (time.perf_counter() - start)
        if budget is not None and budget <= 0:
            break
        n = write_golden(s, parse_ids(args.init_ids), args.tasks, time_budget_s=budget)
        print(f"{s}: added {n}; {len(read_golden(s)[1])} identities in {golden_path(s)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
