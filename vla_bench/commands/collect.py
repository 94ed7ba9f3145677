"""vla-bench collect: scripted-expert demonstrations to robomimic/LIBERO-style HDF5."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Collect scripted-expert demonstrations (images, state, instruction, actions) as HDF5."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", default="mt10")
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--episodes-per-task", type=int, default=10, help="init ids start..start+N-1")
    p.add_argument("--init-start", type=int, default=0,
                   help="first init id; keep training and evaluation init ids disjoint")
    p.add_argument("--init-ids", type=int, nargs="+", help="explicit init ids (overrides the two options above)")
    p.add_argument("--tasks", nargs="+")
    p.add_argument("--policy", default="oracle")
    p.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"))
    p.add_argument("--cameras", nargs="+", metavar="NAME=CAMERA", help="e.g. primary=corner wrist=gripperPOV")
    p.add_argument("--fast-render", action="store_true")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--keep-failures", action="store_true")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from vla_bench.collect import CollectConfig, collect

    if args.episodes_per_task < 1:
        raise SystemExit("--episodes-per-task must be at least 1")
    init_ids = tuple(args.init_ids) if args.init_ids else tuple(
        range(args.init_start, args.init_start + args.episodes_per_task))
    env_kwargs: dict = {}
    if args.image_size:
        env_kwargs["image_size"] = tuple(args.image_size)
    if args.cameras:
        bad = [c for c in args.cameras if "=" not in c]
        if bad:
            raise SystemExit(f"--cameras takes NAME=CAMERA pairs, got {bad}")
        env_kwargs["cameras"] = dict(c.split("=", 1) for c in args.cameras)
    if args.fast_render:
        env_kwargs["fast_render"] = True
    cfg = CollectConfig(
        suite=args.suite, output=args.output, tasks=tuple(args.tasks) if args.tasks else None,
        init_ids=init_ids, env_kwargs=env_kwargs,
        policy=args.policy, max_steps=args.max_steps, keep_failures=args.keep_failures, seed=args.seed,
    )
    manifest = collect(cfg)
    print(f"collected {sum(manifest['demos_per_task'].values())} demonstrations into {args.output}")
    return 0
