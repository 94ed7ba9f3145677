"""vla-bench list KIND: what is registered (envs, suites, policies, decoders, perturbations, backends, ...)."""

from __future__ import annotations

import argparse

HELP = "List what is registered: envs, suites, policies, decoders, perturbations, backends, rollouts, ..."
KINDS = ("envs", "suites", "policies", "decoders", "perturbations", "backends", "rollouts", "report_layouts",
         "doctors")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=KINDS)


def _suites() -> list[str]:
    from vla_bench.registries import suites

    lines = []
    for name in suites.names():
        try:
            s = suites.get(name)
            lines.append(f"{name:<18} env={s.env:<14} rollout={s.rollout:<7} tasks={len(s.tasks):<3} "
                         f"episodes/task={s.episodes_per_task:<4} {s.description}")
        except Exception as exc:  # noqa: BLE001 - a broken plugin is listed, not fatal
            lines.append(f"{name:<18} (cannot load: {exc})")
    return lines


def _perturbations() -> list[str]:
    try:
        from vla_bench.ood import describe
    except ImportError:
        describe = None
    if describe is None:
        from vla_bench.registries import perturbations

        return [f"{n:<32} {perturbations.target(n)}" for n in perturbations.names()]
    lines, kind = [], None
    for row in describe():
        if row[0] != kind:
            kind = row[0]
            lines.append(f"[{kind}]")
        lines.append(f"  {row[1]:<30} {row[2]}")
    return lines


def run(args: argparse.Namespace) -> int:
    from vla_bench import registries

    special = {"suites": _suites, "perturbations": _perturbations}
    if args.kind in special:
        lines = special[args.kind]()
    else:
        reg = registries.ALL[args.kind]
        lines = [f"{n:<20} {reg.target(n):<48} {reg.origin(n)}" for n in reg.names()]
    print("\n".join(lines) if lines else f"no {args.kind} registered")
    return 0
