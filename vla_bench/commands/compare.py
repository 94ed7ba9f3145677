"""vla-bench compare RUN_A RUN_B: a paired comparison on the episode identities both runs share."""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

HELP = "Paired comparison of two policies on shared episode identities (exact McNemar, paired CI)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--policy-a", help="policy in RUN_A (default: its only or first policy)")
    p.add_argument("--policy-b", help="policy in RUN_B (default: its only policy, or the second of a shared run)")
    p.add_argument("--skip-bad-lines", action="store_true", help="skip unreadable record lines (counted)")


def _pick(results: list, name: str | None, fallback: int) -> str:
    names = sorted({r.policy for r in results})
    if name:
        if name not in names:
            print(f"error: no policy {name!r}; the run has {', '.join(names)}", file=sys.stderr)
            raise SystemExit(2)
        return name
    return names[min(fallback, len(names) - 1)]


def run(args: argparse.Namespace) -> int:
    from vla_bench.commands.report import load_runs
    from vla_bench.stats.bootstrap import paired_bootstrap_diff
    from vla_bench.stats.significance import PairedCounts, mcnemar_exact

    loaded = load_runs([[args.run_a], [args.run_b]], args.skip_bad_lines)
    if loaded is None:
        return 2
    _, (ra, rb) = loaded
    same = args.run_a.resolve() == args.run_b.resolve()
    pa = _pick(ra, args.policy_a, 0)
    pb = _pick(rb, args.policy_b, 1 if same else 0)
    a = {r.spec.key: r for r in ra if r.policy == pa and r.status.counted}
    b = {r.spec.key: r for r in rb if r.policy == pb and r.status.counted}
    keys = sorted(set(a) & set(b))
    if not keys:
        print(f"error: {pa} and {pb} share no counted episode identities", file=sys.stderr)
        return 2
    by_task: dict[str, list[str]] = defaultdict(list)
    for k in keys:
        by_task[a[k].spec.task].append(k)
    c = PairedCounts.from_outcomes([a[k].success for k in keys], [b[k].success for k in keys])
    diff = paired_bootstrap_diff({t: [a[k].success for k in ks] for t, ks in by_task.items()},
                                 {t: [b[k].success for k in ks] for t, ks in by_task.items()}, seed=0)
    print(f"A = {pa} ({args.run_a})\nB = {pb} ({args.run_b})")
    print(f"shared identities: {c.n} (A only: {len(a) - c.n}, B only: {len(b) - c.n} left out)")
    print(f"both succeed {c.both}, only A {c.only_a}, only B {c.only_b}, neither {c.neither}")
    print(f"success A {100 * (c.both + c.only_a) / c.n:.1f}%  B {100 * (c.both + c.only_b) / c.n:.1f}%")
    print(f"A - B (mean over tasks): {100 * diff[0]:+.1f} pp, 95% paired bootstrap [{100 * diff[1]:+.1f}, "
          f"{100 * diff[2]:+.1f}]")
    print(f"exact McNemar p = {mcnemar_exact(c.only_a, c.only_b):.4g}")
    print(f"\n{'task':<32}{'n':>5}{'A %':>8}{'B %':>8}{'onlyA':>7}{'onlyB':>7}{'p':>10}")
    for t, ks in sorted(by_task.items()):
        tc = PairedCounts.from_outcomes([a[k].success for k in ks], [b[k].success for k in ks])
        print(f"{t:<32}{tc.n:>5}{100 * (tc.both + tc.only_a) / tc.n:>8.1f}{100 * (tc.both + tc.only_b) / tc.n:>8.1f}"
              f"{tc.only_a:>7}{tc.only_b:>7}{mcnemar_exact(tc.only_a, tc.only_b):>10.4g}")
    return 0
