"""vla-bench eval CONFIG: run suites x policies under the protocol and print the success table.

Exit codes: 0 done; 2 nothing ran (a config, preflight, output or record problem: one line says which);
3 the run finished but some episodes stayed ERROR after their retries (the count is printed).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

HELP = "Evaluate policies on benchmark suites (resumable) and print per-task success with intervals."
EXIT_ERRORS = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="run config YAML (e.g. configs/quickstart.yaml)")
    p.add_argument("--episodes-per-task", type=int, help="override episodes per task for every suite")
    p.add_argument("--workers", type=int, help="env worker processes (default: from config)")
    p.add_argument("--output", type=Path, help="run directory (default results/runs/<name>/<timestamp>)")
    p.add_argument("--resume", action="store_true", help="complete an interrupted run in --output (or the latest)")
    p.add_argument("--seed", type=int, help="base seed of the episode identities")
    p.add_argument("--policies", nargs="+", metavar="NAME",
                   help="run only these policies, by the name tables show (e.g. vla-jd3p)")
    p.add_argument("--tasks", nargs="+", metavar="TASK", help="run only these tasks (of whichever suites have them)")
    p.add_argument("--transport", choices=["inprocess", "websocket"], help="how workers reach the policy")
    p.add_argument("--backend", help="where episodes run: a registered backend (inprocess, pool, ray, ...; "
                   "default: in-process for one worker, a worker pool otherwise)")
    p.add_argument("--address", help="with --backend ray: the Ray cluster to run on (HOST:6379, or auto for the "
                   "one `ray start` began here; default: a local Ray for this run; docs/cluster.md)")
    p.add_argument("--stop-when-decided", action="store_true",
                   help="stop once the paired comparison of the first two policies is decided")
    p.add_argument("--sequential", choices=["planned", "anytime"], default="planned",
                   help="with --stop-when-decided: the planned SPRT (efficacy and futility; needs --plan-rates) "
                   "or the anytime-valid mixture test (default: planned)")
    p.add_argument("--plan-rates", nargs=2, type=float, metavar=("P_A", "P_B"),
                   help="planned success rates of the first two policies at the smallest difference worth "
                   "detecting (see vla-bench plan)")
    p.add_argument("--alpha", type=float, default=0.05, help="two-sided type-I error of the sequential test")
    p.add_argument("--power", type=float, default=0.8, help="power of the planned sequential test")
    p.add_argument("--skip-bad-lines", action="store_true",
                   help="with --resume: skip unreadable lines of episodes.jsonl (counted) instead of refusing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def apply_overrides(data: Any, args: argparse.Namespace) -> Any:
    """Command-line overrides applied to the raw config before validation."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for key in ("workers", "seed", "transport", "backend"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    data = with_address(data, args)
    if isinstance(data.get("suites"), list) and args.episodes_per_task is not None:
        suites = []
        for s in data["suites"]:
            s = dict(s) if isinstance(s, dict) else s
            if isinstance(s, dict):
                s["episodes_per_task"] = args.episodes_per_task
                s.pop("init_ids", None)
            suites.append(s)
        data["suites"] = suites
    return data


def with_address(data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``--address`` goes into the config's ``ray`` section; it means something only to ``backend: ray``."""
    if getattr(args, "address", None) is None:
        return data
    from vla_bench.config import ConfigError

    if data.get("backend") != "ray":
        raise ConfigError(str(args.config), "--address", "a Ray cluster address needs --backend ray "
                          "(or backend: ray in the config)")
    section = data.get("ray")
    return {**data, "ray": {**(section if isinstance(section, dict) else {}), "address": args.address}}


def select(cfg: Any, policies: list[str] | None, tasks: list[str] | None, source: str) -> Any:
    """The config narrowed to the named policies (by display name) and tasks; unknown names are errors."""
    from vla_bench.config import ConfigError
    from vla_bench.plan import resolve_suite

    if policies:
        names = [p.display_name for p in cfg.policies]
        unknown = [n for n in policies if n not in names]
        if unknown:
            raise ConfigError(source, "--policies", f"no policy named {unknown[0]!r}; this config has: "
                              f"{', '.join(names)}")
        cfg = cfg.model_copy(update={"policies": tuple(p for p in cfg.policies if p.display_name in policies)})
    if tasks:
        suites, known = [], []
        for entry in cfg.suites:
            have = [t for t in resolve_suite(entry).task_names if entry.tasks is None or t in entry.tasks]
            known += have
            mine = [t for t in tasks if t in have]
            if mine:
                suites.append(entry.model_copy(update={"tasks": tuple(mine)}))
        unknown = [t for t in tasks if t not in known]
        if unknown:
            listed = ", ".join(dict.fromkeys(known))
            raise ConfigError(source, "--tasks", f"no task named {unknown[0]!r}; the suites have: {listed}")
        cfg = cfg.model_copy(update={"suites": tuple(suites)})
    return cfg


def output_dir(cfg_name: str, template: str, args: argparse.Namespace) -> Path:
    if args.output is not None:
        return args.output
    root = Path(template.format(name=cfg_name))
    if args.resume:
        runs = sorted(p for p in root.glob("*") if (p / "run.json").exists()) if root.exists() else []
        if not runs:
            print(f"error: --resume: no earlier run under {root}; pass --output", file=sys.stderr)
            raise SystemExit(2)
        return runs[-1]
    return root / datetime.now().strftime("%Y%m%d-%H%M%S")


def execute(cfg: Any, out: Path, args: argparse.Namespace, **kw: Any) -> Any:
    """Run, turning every reason it cannot start into one line on stderr and exit code 2 (None)."""
    from vla_bench.backends import BackendError
    from vla_bench.preflight import PreflightError
    from vla_bench.records import RecordError
    from vla_bench.runner import RunDirError
    from vla_bench.runner import run as run_config

    try:
        return run_config(cfg, out, resume=args.resume, progress=not args.no_progress,
                          skip_bad_lines=getattr(args, "skip_bad_lines", False), **kw)
    except PreflightError as exc:
        print(f"error: {args.config}: {exc}", file=sys.stderr)
    except RecordError as exc:
        print(f"error: {exc} (--skip-bad-lines skips such lines)", file=sys.stderr)
    except (RunDirError, BackendError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return None


def error_exit(summary: Any) -> int:
    """0, or 3 when episodes stayed ERROR after their retries (said on stderr, every-attempt case first)."""
    from vla_bench.types import EpisodeStatus

    errs = [r for r in summary.results if r.status is EpisodeStatus.ERROR]
    if not errs:
        return 0
    if len(errs) == len(summary.results):
        print(f"every episode of this run ended in ERROR ({len(errs)}); nothing was measured. First error:",
              file=sys.stderr)
    else:
        print(f"{len(errs)} of {len(summary.results)} episode(s) ended in ERROR after retries (not counted in "
              "success rates); first error:", file=sys.stderr)
    print(errs[0].error, file=sys.stderr)
    return EXIT_ERRORS


def run(args: argparse.Namespace) -> int:
    from vla_bench.config import ConfigError, parse_run_config, read_yaml

    try:
        data = apply_overrides(read_yaml(args.config), args)
        cfg = parse_run_config(data, str(args.config), base=args.config.parent)
        cfg = select(cfg, args.policies, args.tasks, str(args.config))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    out = output_dir(cfg.name, cfg.output, args)
    stop_rule = None
    if args.stop_when_decided:
        from vla_bench.stats.sequential import stop_rule_for_run

        try:
            rates = tuple(args.plan_rates) if args.plan_rates else None
            stop_rule = stop_rule_for_run(cfg, args.sequential, rates, args.alpha, args.power)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    summary = execute(cfg, out, args, stop_rule=stop_rule)
    if summary is None:
        return 2
    if summary.results and all(r.status.value == "error" for r in summary.results):
        error_exit(summary)  # said first, before a table of nothing
    from vla_bench.report import render_success_table

    print(render_success_table(summary.results))
    print(f"\nrun directory: {summary.out_dir}  ({summary.planned} planned, {summary.skipped} already done, "
          f"{summary.executed} attempts now, {summary.errors} errors)")
    if stop_rule is not None and stop_rule.test.decided:
        print(f"stopped early ({args.sequential} design, alpha {args.alpha}): {stop_rule.describe()}; "
              "--resume without --stop-when-decided runs the rest")
    if summary.results and all(r.status.value == "error" for r in summary.results):
        return EXIT_ERRORS
    return error_exit(summary)
