"""vla-bench plan: size a paired comparison before running it; fixed-n and sequential designs side by side.

    vla-bench plan --rates 0.80 0.70                  # one planned comparison
    vla-bench plan --scenarios --simulate 20000       # the reference scenarios, checked by simulation
"""

from __future__ import annotations

import argparse

HELP = "Plan a paired comparison: fixed-n exact McNemar vs the planned sequential design (n, power, alpha)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rates", nargs=2, type=float, metavar=("P_A", "P_B"),
                   help="success rates of the two policies at the smallest difference worth detecting")
    p.add_argument("--scenarios", action="store_true", help="the five reference scenarios instead of --rates")
    p.add_argument("--alpha", type=float, nargs="+", default=[0.05], help="two-sided type-I error(s)")
    p.add_argument("--power", type=float, default=0.8)
    p.add_argument("--simulate", type=int, default=0, metavar="RUNS",
                   help="also simulate RUNS runs per scenario and check type-I error, power and savings")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import sys

    from vla_bench.stats.design import Rates, fixed_n, plan_sprt, planned_rates
    from vla_bench.stats.simulate import SCENARIOS, format_table, table

    if not args.scenarios and not args.rates:
        print("error: give --rates P_A P_B or --scenarios", file=sys.stderr)
        return 2
    scenarios = SCENARIOS if args.scenarios else (tuple(args.rates),)
    try:
        for s in scenarios:
            planned_rates(*s)
    except ValueError as exc:
        print(f"error: --rates: {exc}", file=sys.stderr)
        return 2
    ok = True
    for alpha in args.alpha:
        if args.simulate:
            text = format_table(table(alpha, args.power, args.simulate, scenarios, args.seed), alpha, args.power,
                                args.simulate)
            ok &= "FAIL" not in text
            print(text + "\n")
            continue
        print(f"two-sided alpha {alpha}, power {args.power} (exact figures)")
        print(f"{'rates':<12}{'design':<12}{'max n':>7}{'E[n|H0]':>9}{'E[n|H1]':>9}{'power':>7}{'alpha':>8}")
        for p_a, p_b in scenarios:
            rates, f, d = Rates(p_a, p_b), fixed_n(p_a, p_b, alpha, args.power), plan_sprt(p_a, p_b, alpha, args.power)
            h1, h0 = d.operating(rates), d.operating(rates.null)
            print(f"{p_a:.2f} v {p_b:.2f} {'fixed-n':<12}{f.n:>7d}{f.n:>9d}{f.n:>9d}{f.power:>7.3f}{f.alpha:>8.4f}")
            print(f"{'':<12} {'sequential':<12}{d.max_pairs(rates):>7d}{h0.mean_pairs:>9.0f}{h1.mean_pairs:>9.0f}"
                  f"{h1.reject_a:>7.3f}{h0.reject_a + h0.reject_b:>8.4f}")
        print("\nmax n of the sequential design: pairs within which it ends in 99% of runs; it stops at the first "
              "pair that crosses a boundary.\nRun it with: vla-bench eval CONFIG --stop-when-decided --plan-rates "
              "P_A P_B (the first two policies of the config).\n")
    return 0 if ok else 1
