"""vla-bench doctor: is this machine's simulator stack the one the results were computed with?

Each benchmark brings its own doctor (``vla_bench.registries.doctors``, e.g. ``envs/libero_doctor.py``);
this command adds each doctor's options and runs every registered doctor, or those named with
``--env``. Exit code: the worst of theirs (0 fine, 1 drift or problems, 2 bad arguments).
"""

from __future__ import annotations

import argparse

HELP = "Check simulator versions, assets and golden settled states; say exactly what drifted."


def _doctors() -> dict[str, object]:
    from vla_bench.registries import doctors

    return {name: doctors.get(name)() for name in doctors.names()}


def add_arguments(p: argparse.ArgumentParser) -> None:
    found = _doctors()
    p.add_argument("--env", nargs="+", choices=sorted(found), help="run only these doctors (default: all)")
    for name, doctor in found.items():
        doctor.add_arguments(p.add_argument_group(f"{name} ({doctor.title})"))  # type: ignore[attr-defined]
    p.set_defaults(_doctors=found)


def run(args: argparse.Namespace) -> int:
    found = args._doctors
    chosen = args.env or sorted(found)
    if not chosen:
        print("no doctors registered")
        return 0
    return max(int(found[name].run(args) or 0) for name in chosen)
