"""The ``vla-bench`` command line. Each subcommand lives in its own module under vla_bench.commands.

A command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``;
heavy imports happen inside ``run`` so ``vla-bench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "eval": "vla_bench.commands.eval",
    "list": "vla_bench.commands.list",
    "collect": "vla_bench.commands.collect",
    "serve": "vla_bench.commands.serve",
    "bench": "vla_bench.commands.bench",
    "report": "vla_bench.commands.report",
    "compare": "vla_bench.commands.compare",
    "sweep": "vla_bench.commands.sweep",
    "doctor": "vla_bench.commands.doctor",
    "train": "vla_bench.commands.train",
    "plan": "vla_bench.commands.plan",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vla-bench", description="Evaluate Vision-Language-Action policies on robot benchmarks."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # command not available in this installation
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
