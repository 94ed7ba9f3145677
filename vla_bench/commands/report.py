"""vla-bench report RUN_DIR...: tables with intervals and significance, computed from run directories."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = "Report success tables (md, latex, csv, json, html) from one or more run directories."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", type=Path, help="run directories (shards and resumed runs merge)")
    p.add_argument("--format", choices=["md", "latex", "csv", "json", "html"], default="md")
    p.add_argument("--output", type=Path, help="write here instead of stdout")
    p.add_argument("--ci", choices=["wilson", "clopper-pearson"], default="wilson")
    p.add_argument("--skip-bad-lines", action="store_true",
                   help="skip unreadable lines of episodes.jsonl (counted on stderr) instead of refusing")


def load_runs(groups: list[list[Path]], skip_bad: bool) -> tuple[dict[str, Any], list[list[Any]]] | None:
    """Manifests and merged results of each group of run directories; None after one line on stderr
    when a directory cannot be read or a group holds no episodes."""
    from vla_bench.records import RecordError, load_results, read_manifest

    bad: list[str] = []
    try:
        manifests = {str(d): read_manifest(d) for g in groups for d in g}
        results = [load_results(g, skip_bad, bad) for g in groups]
    except (FileNotFoundError, RecordError) as exc:
        hint = " (--skip-bad-lines skips such lines)" if isinstance(exc, RecordError) and exc.line else ""
        print(f"error: {exc}{hint}", file=sys.stderr)
        return None
    if bad:
        print(f"skipped {len(bad)} unreadable line(s); first: {bad[0]}", file=sys.stderr)
    empty = next((g for g, r in zip(groups, results) if not r), None)
    if empty is not None:
        print(f"error: {', '.join(map(str, empty))} hold(s) no episodes", file=sys.stderr)
        return None
    return manifests, results


def run(args: argparse.Namespace) -> int:
    from vla_bench.report.model import build_tables, layouts_from_manifests
    from vla_bench.report.render import FORMATS

    loaded = load_runs([list(args.runs)], args.skip_bad_lines)
    if loaded is None:
        return 2
    manifests, (results,) = loaded
    tables = build_tables(results, args.ci, layouts_from_manifests(manifests.values()))
    if args.format == "html":
        from vla_bench.report.html import render_html

        text = render_html(tables, results, manifests)
    else:
        text = FORMATS[args.format](tables)
    if args.output:
        try:
            args.output.write_text(text)
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0
