"""vla-bench bench {rollout,decode}: throughput benchmarks printed as ratios from one run."""

from __future__ import annotations

import argparse

HELP = "Benchmarks: rollout throughput (harness overhead, worker scaling) and decoder speed."


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    r = sub.add_parser("rollout", help="bare Meta-World loop vs harness, 1 vs N workers")
    r.add_argument("--tasks", nargs="+", default=["reach-v3", "drawer-open-v3", "window-close-v3"])
    r.add_argument("--episodes-per-task", type=int, default=4)
    r.add_argument("--steps", type=int, default=150, help="env steps per episode")
    r.add_argument("--image-size", type=int, default=128)
    r.add_argument("--default-render", action="store_true", help="keep shadows and reflections on")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--repeats", type=int, default=3, help="repeat and report the median")
    r.set_defaults(_bench=_rollout)
    try:
        from vla_bench.commands.bench_decode import add_decode_arguments
    except ModuleNotFoundError:
        return
    d = sub.add_parser("decode", help="every decoder on one checkpoint: passes, latency, throughput")
    add_decode_arguments(d)
    d.set_defaults(_bench=_decode)


def _rollout(args: argparse.Namespace) -> int:
    from envs.metaworld_bench import RolloutBench, format_rollout_bench, run_rollout_bench

    b = RolloutBench(tuple(args.tasks), args.episodes_per_task, args.steps, args.image_size,
                     not args.default_render, args.workers, args.repeats)
    print(format_rollout_bench(b, run_rollout_bench(b)))
    return 0


def _decode(args: argparse.Namespace) -> int:
    from vla_bench.commands.bench_decode import run_decode_bench

    return int(run_decode_bench(args) or 0)


def run(args: argparse.Namespace) -> int:
    return args._bench(args)
