"""LIBERO's doctor: is this machine's LIBERO stack the one the results were computed with?

Checks the installed versions against the pins, LIBERO's config file, every asset file (size and
sha256 against the shipped manifest), and golden settled states of a sample of episode identities
(envs/data/libero_golden). Prints exactly what differs; exit code 1 when anything does.

    vla-bench doctor                                    # versions, assets, 5 identities per suite
    vla-bench doctor --suite libero_spatial --sample 20
    vla-bench doctor --suite libero_spatial --init-ids 0-49 --all
    vla-bench doctor --install-assets                   # put LIBERO's assets in place (pip, cached)
    vla-bench doctor --write-golden --suite libero_goal --init-ids 0-9   # (re)compute golden states
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time

from envs import LIBERO_SUITES as SUITES


def add_arguments(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--suite", nargs="+", choices=SUITES, help="LIBERO suites to check (default: all "
                   "with golden files)")
    p.add_argument("--sample", type=int, default=5, help="identities checked per suite, drawn at random "
                   "(default 5; each costs a few seconds)")
    p.add_argument("--all", action="store_true", help="check every golden identity selected (no sampling)")
    p.add_argument("--init-ids", help="only these init ids, e.g. 0-9 or 0,3,7")
    p.add_argument("--tasks", nargs="+", metavar="TASK", help="only these task names")
    p.add_argument("--seed", type=int, default=0, help="seed of the random sample")
    p.add_argument("--no-states", action="store_true", help="skip the golden-state check (versions and assets only)")
    p.add_argument("--install-assets", action="store_true", help="download (cached), verify and link LIBERO's "
                   "asset tree from the package registry, and write LIBERO's config file")
    p.add_argument("--force", action="store_true", help="with --install-assets: re-extract even if complete")
    p.add_argument("--write-golden", action="store_true", help="compute and append missing golden states "
                   "(resumable) for --suite and --init-ids (default 0-49)")
    p.add_argument("--time-budget", type=float, help="with --write-golden: stop after this many seconds")


def _line(ok: bool | None, text: str) -> str:
    mark = {True: "ok   ", False: "FAIL ", None: "-    "}[ok]
    return f"  {mark}{text}"


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("libero") is None:
        print("LIBERO: not installed in this interpreter (pip install -e '.[libero]'); nothing to check")
        return 1 if (args.suite or args.install_assets or args.write_golden) else 0
    from envs import libero_assets
    from envs import libero_drift as drift

    if args.install_assets:
        try:
            libero_assets.install(force=args.force)
        except libero_assets.AssetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.write_golden:
        ids = drift.parse_ids(args.init_ids or "0-49")
        start = time.perf_counter()
        for s in args.suite or ["libero_spatial"]:
            left = None if args.time_budget is None else args.time_budget - (time.perf_counter() - start)
            if left is not None and left <= 0:
                break
            n = drift.write_golden(s, ids, args.tasks, time_budget_s=left)
            print(f"{s}: added {n}; {len(drift.read_golden(s)[1])} identities in {drift.golden_path(s)}")
        return 0

    failed = False
    print("LIBERO simulator stack")
    found = drift.versions()
    problems = drift.version_problems(found)
    for p in ("libero", "robosuite", "mujoco", "numpy"):
        want = drift.PINNED.get(p)
        ok = None if want is None else found[p] == want
        print(_line(ok, f"{p} {found[p]}" + (f" (pinned {want})" if want else "")))
    for msg in problems:
        if "known to change" in msg:
            print(_line(False, msg))
    failed |= bool(problems)

    print("LIBERO config and assets")
    try:
        print(_line(True, f"config {libero_assets.ensure_config()}"))
        root = libero_assets.check_assets(full=True)
        print(_line(True, f"assets {root}: {len(libero_assets.manifest()['files'])} files, sizes and sha256 match"))
    except libero_assets.AssetError as exc:
        print(_line(False, str(exc)))
        return 1  # no state check without assets

    if args.no_states:
        return int(failed)
    suites = args.suite or [s for s in SUITES if drift.golden_path(s).exists()]
    ids = drift.parse_ids(args.init_ids) if args.init_ids else None
    print("Golden settled states (reset + settle steps; qpos/qvel within "
          f"{drift.QPOS_TOL:g}/{drift.QVEL_TOL:g})")
    for s in suites:
        header, records = drift.read_golden(s)
        if not records:
            print(_line(False, f"{s}: no golden states in {drift.golden_path(s)}; compute them with "
                        f"vla-bench doctor --write-golden --suite {s}"))
            failed = True
            continue
        if header.get("versions") and header["versions"] != found:
            print(_line(None, f"{s}: golden states were computed with {header['versions']}"))
        try:
            rep = drift.check_suite_drift(s, ids, args.tasks, None if args.all else args.sample, args.seed)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if rep.checked == 0:
            print(_line(False, f"{s}: none of the selected identities has a golden state"))
            failed = True
            continue
        print(_line(rep.ok, f"{s}: {rep.checked} of {len(records)} identities checked, "
                    f"{rep.checked - len(rep.drifted) - len(rep.unstable)} match ({rep.exact} bit-exact), "
                    f"{len(rep.unstable)} unstable, {rep.seconds:.0f} s"))
        if rep.missing_golden:
            print(_line(None, f"{s}: {rep.missing_golden} selected identities have no golden state"))
        for d in rep.drifted:
            print(f"         DRIFT {d}")
        for d in rep.unstable:
            print(f"         UNSTABLE (differs between two resets on this stack; not counted as drift) {d}")
        failed |= not rep.ok
    print("result: " + ("DRIFT or problems found (see FAIL lines)" if failed else "no drift found"))
    return int(failed)


class LiberoDoctor:
    """Registered as the ``libero`` doctor (envs/__init__.py); ``vla-bench doctor`` runs it."""

    title = "LIBERO"
    add_arguments = staticmethod(add_arguments)
    run = staticmethod(run)
