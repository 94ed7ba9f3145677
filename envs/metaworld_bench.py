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
    episodes_per_task: int = 4
    steps: int = 150
    image_size: int = 128
    fast_render: bool = True
    workers: int = 2
    repeats: int = 3


def bare_metaworld(b: RolloutBench, init_ids: list[int]) -> float:
    """Env steps/s of a plain Meta-World loop with the same rendering, no harness.

    Uses the same task variations as the harness (Meta-World's MT10 built with the adapter's seed;
    building it is not timed) and is timed from creating the first env to the last step, as the
    harness is timed from its first episode to its last result.
    """
    import metaworld
    import mujoco

    from envs.metaworld_variations import BENCHMARK_SEED

    bench = metaworld.MT10(seed=BENCHMARK_SEED)
    t_start = time.perf_counter()
    total_steps = 0
    for name in b.tasks:
        env = bench.train_classes[name]()
        variations = [t for t in bench.train_tasks if t.env_name == name]
        if b.fast_render:  # multisampling is fixed when the render context is made
            env.model.vis.quality.offsamples = 0
        renderer = mujoco.Renderer(env.model, b.image_size, b.image_size)
        if b.fast_render:
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        zero = np.zeros(4, dtype=np.float32)
        for k in init_ids:
            env.set_task(variations[k])
            env.reset()
            renderer.update_scene(env.data, camera="corner")  # the first frame the policy sees
            img = renderer.render()[::-1].copy()
            for _ in range(b.steps):
                obs, *_ = env.step(zero)
                renderer.update_scene(env.data, camera="corner")
                img = renderer.render()[::-1].copy()
                _state = np.asarray(obs[:4], dtype=np.float32)
            total_steps += b.steps
            del img
        renderer.close()
        env.close()
    return total_steps / (time.perf_counter() - t_start)


def harness(b: RolloutBench, init_ids: list[int], workers: int, pool: bool) -> tuple[float, float]:
    """Env steps/s of the same episodes through the runner with the zero policy, and startup seconds.

    Throughput is timed from the first episode to the last record (workers already started); the
    one-off cost of starting worker processes is reported apart.
    """
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
        summary = run(cfg, out / "run", progress=False, workers=workers if pool else 1,
                      backend="pool" if pool else "inprocess")
        steps = sum(r.steps for r in summary.results)
        if summary.errors:
            raise RuntimeError(f"benchmark episodes crashed: {summary.results[0].error}")
        return steps / summary.episodes_s, summary.startup_s
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_rollout_bench(b: RolloutBench) -> dict[str, float]:
    init_ids = list(range(b.episodes_per_task))
    bare_metaworld(RolloutBench(b.tasks[:1], 1, 5, b.image_size, b.fast_render), [0])  # warm up EGL
    n = b.workers
    rows: dict[str, list[float]] = {k: [] for k in ("bare", "harness", "pool1", f"pool{n}", "startup1",
                                                       f"startup{n}")}
    for _ in range(b.repeats):  # interleaved, so drift in machine load hits every variant alike
        rows["bare"].append(bare_metaworld(b, init_ids))
        rows["harness"].append(harness(b, init_ids, 1, pool=False)[0])
        rate, startup = harness(b, init_ids, 1, pool=True)
        rows["pool1"].append(rate)
        rows["startup1"].append(startup)
        rate, startup = harness(b, init_ids, n, pool=True)
        rows[f"pool{n}"].append(rate)
        rows[f"startup{n}"].append(startup)
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
        f"{'harness, 1 worker process':<34}{r['pool1']:>12.1f}   (+{r['startup1']:.1f} s to start the worker)",
        f"{f'harness, {n} worker processes':<34}{r[f'pool{n}']:>12.1f}   (+{r[f'startup{n}']:.1f} s to start them)",
        "",
        f"harness overhead vs bare: {100 * overhead:+.1f}%   (target <= 5%: {'met' if overhead <= 0.05 else 'NOT met'})",
        f"{n} workers vs 1 worker: {speedup:.2f}x   (target >= {0.9 * n:.1f}x: "
        f"{'met' if speedup >= 0.9 * n else 'NOT met'})",
    ]
    return "\n".join(lines)
