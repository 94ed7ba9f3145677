"""vla-bench eval CONFIG: run suites x policies under the protocol and print the success table."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

HELP = "Evaluate policies on benchmark suites (resumable) and print per-task success with intervals."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="run config YAML (e.g. configs/quickstart.yaml)")
    p.add_argument("--episodes-per-task", type=int, help="override episodes per task for every suite")
    p.add_argument("--workers", type=int, help="env worker processes (default: from config)")
    p.add_argument("--output", type=Path, help="run directory (default results/runs/<name>/<timestamp>)")
    p.add_argument("--resume", action="store_true", help="complete an interrupted run in --output (or the latest)")
    p.add_argument("--seed", type=int, help="base seed of the episode identities")
    p.add_argument("--policies", nargs="+", metavar="NAME", help="run only these policies of the config")
    p.add_argument("--tasks", nargs="+", metavar="TASK", help="run only these tasks")
    p.add_argument("--transport", choices=["inprocess", "websocket"], help="how workers reach the policy")
    p.add_argument("--backend", help="where episodes run: a registered backend (inprocess, pool, ...; "
                   "default: in-process for one worker, a worker pool otherwise)")
    p.add_argument("--stop-when-decided", action="store_true",
                   help="stop once the paired comparison of the first two policies is decided")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def apply_overrides(data: Any, args: argparse.Namespace) -> Any:
    """Command-line overrides applied to the raw config before validation."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for key in ("workers", "seed", "transport", "backend"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if isinstance(data.get("suites"), list):
        suites = []
        for s in data["suites"]:
            s = dict(s) if isinstance(s, dict) else s
            if isinstance(s, dict) and args.episodes_per_task is not None:
                s["episodes_per_task"] = args.episodes_per_task
                s.pop("init_ids", None)
            if isinstance(s, dict) and args.tasks:
                s["tasks"] = list(args.tasks)
            suites.append(s)
        data["suites"] = suites
    return data


def output_dir(cfg_name: str, template: str, args: argparse.Namespace) -> Path:
    if args.output is not None:
        return args.output
    root = Path(template.format(name=cfg_name))
    if args.resume:
        runs = sorted(p for p in root.glob("*") if (p / "run.json").exists()) if root.exists() else []
        if not runs:
            raise SystemExit(f"--resume: no earlier run under {root}; pass --output")
        return runs[-1]
    return root / datetime.now().strftime("%Y%m%d-%H%M%S")


def run(args: argparse.Namespace) -> int:
    from vla_bench.config import ConfigError, parse_run_config, read_yaml
    from vla_bench.runner import RunDirError, print_errors
    from vla_bench.runner import run as run_config

    try:
        data = apply_overrides(read_yaml(args.config), args)
        if args.policies and isinstance(data, dict):
            wanted = set(args.policies)
            data["policies"] = [p for p in data.get("policies", [])
                                if (p if isinstance(p, str) else p.get("name") or p.get("type")) in wanted]
        cfg = parse_run_config(data, str(args.config), base=args.config.parent)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    out = output_dir(cfg.name, cfg.output, args)
    stop_rule = None
    if args.stop_when_decided:
        from vla_bench.stats.sequential import stop_rule_for_run

        stop_rule = stop_rule_for_run(cfg)
    try:
        summary = run_config(cfg, out, resume=args.resume, progress=not args.no_progress, stop_rule=stop_rule)
    except RunDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from vla_bench.report import render_success_table

    print(render_success_table(summary.results))
    print(f"\nrun directory: {summary.out_dir}  ({summary.planned} planned, {summary.skipped} already done, "
          f"{summary.executed} attempts now, {summary.errors} errors)")
    decided = getattr(getattr(stop_rule, "test", None), "decided", False)
    if decided:
        t = stop_rule.test  # type: ignore[union-attr]
        print(f"stopped early: {cfg.policies[0].display_name} vs {cfg.policies[1].display_name} decided "
              f"(alpha {t.alpha}, {t.favours_a} vs {t.favours_b} discordant pairs); --resume runs the rest")
    print_errors(summary)
    return 0
