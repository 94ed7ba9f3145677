"""LIBERO throughput: default vs fast rendering, time per reset, and 1 vs 2 env workers.

    python -m envs.libero_bench [--suite libero_spatial] [--steps 40] [--episodes 4] [--workers 2]

Figures from one invocation, on the same machine state:
- adapter loop, zero actions, agentview + wrist at the preset's resolution: steps/s with the
  default renderer settings and with ``fast_render`` (shadows and reflections off);
- state only (no renderer), for reference;
- seconds per reset (env.seed, env.reset with LIBERO's hard reset, set_init_state);
- the real runner with the ``zero`` policy, fast rendering, in 1 and in N worker processes:
  env steps/s over whole episodes (resets included), workers already started.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from envs.libero_presets import SUITE_NAMES, task_table


def adapter_rate(suite: str, steps: int, fast: bool, cameras: dict[str, str] | None = None,
                 image_size: int | None = None) -> tuple[float, float]:
    """(steps/s over ``steps`` zero-action steps, seconds per reset averaged over 2 resets after the first)."""
    from envs.libero import DEFAULT_CAMERAS, LiberoEnv

    env = LiberoEnv(suite=suite, fast_render=fast, cameras=DEFAULT_CAMERAS if cameras is None else cameras,
                    image_size=image_size)
    try:
        env.reset(options={"init_id": 0})  # builds the scene: not timed
        t0 = time.perf_counter()
        for k in (1, 2):
            env.reset(options={"init_id": k})
        reset_s = (time.perf_counter() - t0) / 2
        noop = env.noop_action()
        env.step(noop)  # first step warm-up
        t0 = time.perf_counter()
        for _ in range(steps):
            env.step(noop)
        return steps / (time.perf_counter() - t0), reset_s
    finally:
        env.close()


def runner_rate(suite: str, episodes: int, steps: int, workers: int) -> tuple[float, float]:
    """Env steps/s of ``episodes`` zero-policy episodes through the runner, and worker start-up seconds."""
    from vla_bench.config import parse_run_config
    from vla_bench.runner import run

    tasks = [t.name for t in task_table()[suite]][:2]
    data: dict[str, Any] = {
        "name": "libero-bench",
        "suites": [{"suite": suite, "tasks": tasks, "init_ids": list(range(max(1, episodes // len(tasks)))),
                    "max_steps": steps, "env": {"fast_render": True}}],
        "policies": ["zero"],
        "workers": workers,
    }
    cfg = parse_run_config(data, "libero-bench")
    out = Path(tempfile.mkdtemp(prefix="vla-bench-libero-"))
    try:
        summary = run(cfg, out / "run", progress=False, workers=workers, backend="pool")
        if summary.errors:
            raise RuntimeError(f"benchmark episodes crashed: {summary.results[0].error}")
        return sum(r.steps for r in summary.results) / summary.episodes_s, summary.startup_s
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m envs.libero_bench", description=__doc__.split("\n")[0])
    p.add_argument("--suite", default="libero_spatial", choices=SUITE_NAMES)
    p.add_argument("--steps", type=int, default=40, help="steps per measurement / per runner episode")
    p.add_argument("--episodes", type=int, default=4, help="runner episodes (2 tasks)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--image-size", type=int, help="render size (default: the preset's, 256)")
    p.add_argument("--skip-runner", action="store_true")
    args = p.parse_args(argv)

    rows = []
    size = args.image_size or 256
    d, reset_d = adapter_rate(args.suite, args.steps, False, image_size=args.image_size)
    f, reset_f = adapter_rate(args.suite, args.steps, True, image_size=args.image_size)
    s, reset_s = adapter_rate(args.suite, args.steps * 4, False, cameras={})
    rows += [(f"adapter, 2 cams {size}px, default render", d, reset_d),
             (f"adapter, 2 cams {size}px, fast render", f, reset_f),
             ("adapter, no cameras (physics only)", s, reset_s)]
    print(f"LIBERO {args.suite} throughput (zero actions; {args.steps} steps per figure)")
    print(f"{'variant':<42}{'steps/s':>9}{'s/reset':>9}")
    for name, rate, reset in rows:
        print(f"{name:<42}{rate:>9.2f}{reset:>9.2f}")
    print(f"fast vs default render: {f / d:.2f}x")
    if not args.skip_runner:
        r1, s1 = runner_rate(args.suite, args.episodes, args.steps, 1)
        rn, sn = runner_rate(args.suite, args.episodes, args.steps, args.workers)
        print(f"{'runner, zero policy, 1 worker (fast)':<42}{r1:>9.2f}   (+{s1:.1f} s to start)")
        print(f"{f'runner, zero policy, {args.workers} workers (fast)':<42}{rn:>9.2f}   (+{sn:.1f} s to start)")
        print(f"{args.workers} workers vs 1: {rn / r1:.2f}x  (episodes of {args.steps} steps incl. 10 settle, "
              "resets included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
