"""vla-bench sweep CONFIG: perturbation x severity x policy on the same episode identities (resumable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vla_bench.commands.eval import error_exit, execute, output_dir

HELP = "Run an OOD sweep (perturbation x severity x policy) and print degradation against clean."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="sweep config: a run config plus a 'sweep:' section")
    p.add_argument("--episodes-per-task", type=int)
    p.add_argument("--workers", type=int)
    p.add_argument("--backend", help="where episodes run: a registered backend (inprocess, pool, ray, ...)")
    p.add_argument("--address", help="with --backend ray: the Ray cluster to run on (HOST:6379; docs/cluster.md)")
    p.add_argument("--output", type=Path)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--skip-bad-lines", action="store_true", help="with --resume: skip unreadable record lines")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from vla_bench.config import ConfigError
    from vla_bench.ood.analysis import degradation
    from vla_bench.ood.sweep import load_sweep

    try:
        cfg = load_sweep(args.config, {"workers": args.workers, "backend": args.backend})
        if args.address is not None:
            if cfg.backend != "ray":
                raise ConfigError(str(args.config), "--address", "a Ray cluster address needs --backend ray "
                                  "(or backend: ray in the config)")
            cfg = cfg.model_copy(update={"ray": cfg.ray.model_copy(update={"address": args.address})})
        if args.episodes_per_task:
            cfg = cfg.model_copy(update={"suites": tuple(
                s.model_copy(update={"episodes_per_task": args.episodes_per_task}) for s in cfg.suites)})
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    out = output_dir(cfg.name, cfg.output, args)
    summary = execute(cfg, out, args)
    if summary is None:
        return 2
    print(f"{'policy':<16}{'perturbation':<26}{'sev':>4}{'n':>6}{'clean %':>9}{'pert %':>8}{'drop pp [95% CI]':>24}")
    for d in degradation(summary.results):
        print(f"{d.policy:<16}{d.perturbation:<26}{d.severity:>4}{d.n:>6}{100 * d.clean:>9.1f}{100 * d.perturbed:>8.1f}"
              f"{100 * d.drop:>+9.1f} [{100 * d.lo:+.1f}, {100 * d.hi:+.1f}]")
    print(f"\nrun directory: {summary.out_dir}; full report: vla-bench report {summary.out_dir} --format html")
    return error_exit(summary)
