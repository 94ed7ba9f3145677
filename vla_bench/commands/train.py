"""vla-bench train CONFIG: fit the shared backbone on demonstrations from `vla-bench collect`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Train the shared backbone (every decoder's objective mixed) on collected demonstrations."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="training config YAML (e.g. configs/training/mt10.yaml)")
    p.add_argument("--output", help="checkpoint directory (overrides the config)")
    p.add_argument("--steps", type=int, help="total optimizer steps (overrides the config)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (overrides the config)")
    p.add_argument("--threads", type=int, help="torch CPU threads (overrides the config)")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/train_state.pt if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from vla_bench.config import ConfigError, read_yaml, validate_kwargs

    try:
        data = read_yaml(args.config)
        if not isinstance(data, dict):
            raise ConfigError(str(args.config), "", "a training config must be a mapping")
        for key in ("output", "steps", "device", "threads"):
            if getattr(args, key) is not None:
                data[key] = getattr(args, key)
        from policies.training.loop import TrainConfig, train

        cfg = TrainConfig(**validate_kwargs(TrainConfig, data, str(args.config), ""))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train(cfg, resume=args.resume, progress=not args.no_progress)
    return 0
