"""Rollout throughput: a bare Meta-World loop vs the same episodes through the harness, 1 vs N workers.

All figures come from one invocation and are printed as ratios, because absolute speed on shared
machines is noise. The bare loop does what any hand-written evaluation would do per step (physics
step, render the same camera at the same size with the same renderer flags, flip the image upright);
the harness runs the ``zero`` policy through the real runner, records and all.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vla_bench.config import parse_run_config


@dataclass(frozen=True)
class RolloutBench:
    tasks: tuple[str, ...] = ("reach-v3", "drawer-open-v3", "window-close-v3")
    episodes_per_task: int = 2
    steps: int = 100
    image_size: int = 128
    fast_render: bool = True
    workers: int = 2
    repeats: int = 1


def bare_metaworld(b: RolloutBench, init_ids: list[int]) -> float:
    """Env steps/s of a plain Meta-World loop with the same rendering, no harness."""
    import metaworld
    import mujoco

    from envs.metaworld import BENCHMARK_SEED  # the seed the adapter builds its task variations with

    bench = metaworld.MT10(seed=BENCHMARK_SEED)
    total_steps, elapsed = 0, 0.0
    for name in b.tasks:
        env = bench.train_classes[name]()
        variations = [t for t in bench.train_tasks if t.env_name == name]
        renderer = mujoco.Renderer(env.model, b.image_size, b.image_size)
        if b.fast_render:
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        zero = np.zeros(4, dtype=np.float32)
        for k in init_ids:
            t0 = time.perf_counter()
            env.set_task(variations[k])
            env.reset()
            for _ in range(b.steps):
                obs, *_ = env.step(zero)
                renderer.update_scene(env.data, camera="corner")
                img = renderer.render()[::-1].copy()
                _state = np.asarray(obs[:4], dtype=np.float32)
            elapsed += time.perf_counter() - t0
            total_steps += b.steps
            del img
        renderer.close()
        env.close()
    return total_steps / elapsed


def harness(b: RolloutBench, init_ids: list[int], workers: int, pool: bool) -> float:
    """Env steps/s of the same episodes through the runner with the zero policy."""
    from vla_bench.runner import run

    data: dict[str, Any] = {
        "name": "bench",
        "suites": [{
            "suite": "mt10", "tasks": list(b.tasks), "init_ids": init_ids, "max_steps": b.steps,
            "env": {"image_size": [b.image_size, b.image_size], "fast_render": b.fast_render},
        }],
        "policies": ["zero"],
        "workers": workers,
    }
    cfg = parse_run_config(data, "bench")
    out = Path(tempfile.mkdtemp(prefix="vla-bench-"))
    try:
        t0 = time.perf_counter()
        summary = run(cfg, out / "run", progress=False, workers=workers if pool else 1,
                      force_pool=pool)
        elapsed = time.perf_counter() - t0
        steps = sum(r.steps for r in summary.results)
        if summary.errors:
            raise RuntimeError(f"benchmark episodes crashed: {summary.results[0].error}")
        return steps / elapsed
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_rollout_bench(b: RolloutBench) -> dict[str, float]:
    init_ids = list(range(b.episodes_per_task))
    rows: dict[str, list[float]] = {"bare": [], "harness": [], "pool1": [], f"pool{b.workers}": []}
    for _ in range(b.repeats):  # interleaved, so drift in machine load hits every variant alike
        rows["bare"].append(bare_metaworld(b, init_ids))
        rows["harness"].append(harness(b, init_ids, 1, pool=False))
        rows["pool1"].append(harness(b, init_ids, 1, pool=True))
        rows[f"pool{b.workers}"].append(harness(b, init_ids, b.workers, pool=True))
    return {k: float(np.median(v)) for k, v in rows.items()}


def format_rollout_bench(b: RolloutBench, r: dict[str, float]) -> str:
    n = b.workers
    overhead = 1.0 - r["harness"] / r["bare"]
    speedup = r[f"pool{n}"] / r["pool1"]
    episodes = len(b.tasks) * b.episodes_per_task
    lines = [
        f"rollout benchmark: {episodes} episodes x {b.steps} steps, MT10 {', '.join(b.tasks)}, "
        f"{b.image_size}px, fast_render={b.fast_render}, median of {b.repeats}",
        f"{'variant':<34}{'env steps/s':>12}",
        f"{'bare Meta-World loop':<34}{r['bare']:>12.1f}",
        f"{'harness, zero policy, in-process':<34}{r['harness']:>12.1f}",
        f"{'harness, 1 worker process':<34}{r['pool1']:>12.1f}",
        f"{f'harness, {n} worker processes':<34}{r[f'pool{n}']:>12.1f}",
        "",
        f"harness overhead vs bare: {100 * overhead:+.1f}%   (target <= 5%: {'met' if overhead <= 0.05 else 'NOT met'})",
        f"{n} workers vs 1 worker: {speedup:.2f}x   (target >= {0.9 * n:.1f}x: "
        f"{'met' if speedup >= 0.9 * n else 'NOT met'})",
    ]
    return "\n".join(lines)
