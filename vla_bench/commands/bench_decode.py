"""Arguments of ``vla-bench bench decode``; the measuring code is policies.bench_decode (imported in run)."""

from __future__ import annotations

import argparse


def add_decode_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="checkpoint directory (default: checkpoints/mt10 if present, else a random backbone)")
    p.add_argument("--random-backbone", action="store_true",
                   help="a randomly initialised backbone of realistic size instead of a checkpoint")
    p.add_argument("--repeats", type=int, default=5, help="timed chunks per cell")
    p.add_argument("--warmup", type=int, default=1, help="untimed chunks per cell")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16], help="batch sizes (default 1 16)")
    p.add_argument("--execute-steps", type=int, default=None,
                   help="actions executed per chunk (default: the whole chunk)")
    p.add_argument("--decoders", nargs="+", default=None, metavar="NAME", help="default: every registered decoder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--policy-configs", nargs="+", metavar="YAML", default=None,
                   help="take each decoder's settings from these vla policy configs (e.g. configs/policies/vla_*.yaml) "
                        "so the bench times what an evaluation runs; default: each decoder's own defaults")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON")


def run_decode_bench(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from policies.bench_decode import DecodeBench, format_decode_bench, run_decode_bench as run, write_json

    for name in ("repeats", "threads", "execute_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            print(f"--{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    if args.random_backbone and args.checkpoint:
        print("--random-backbone and --checkpoint exclude each other", file=sys.stderr)
        return 2
    try:
        overrides = _decoder_kwargs(args.policy_configs or [])
    except ValueError as exc:
        print(f"bench decode: {exc}", file=sys.stderr)
        return 2
    b = DecodeBench(decoder_kwargs=overrides, checkpoint=args.checkpoint, random_backbone=args.random_backbone, repeats=args.repeats, warmup=max(0, args.warmup),
                    threads=args.threads, batches=tuple(args.batches), execute_steps=args.execute_steps,
                    decoders=tuple(args.decoders) if args.decoders else None, seed=args.seed)
    try:
        result = run(b)
    except (ValueError, FileNotFoundError) as exc:
        print(f"bench decode: {exc}", file=sys.stderr)
        return 2
    print(format_decode_bench(result))
    if args.json:
        write_json(result, Path(args.json))
        print(f"wrote {args.json}")
    return 0


def _decoder_kwargs(paths: list[str]) -> dict[str, dict]:
    """Decoder name -> decoder_kwargs, read from vla policy configs."""
    from vla_bench.config import ConfigError, load_policy_config

    out: dict[str, dict] = {}
    for path in paths:
        try:
            cfg = load_policy_config(path)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if cfg.type != "vla" or "decoder" not in cfg.kwargs:
            raise ValueError(f"{path}: not a vla policy config (type {cfg.type!r})")
        kwargs = dict(cfg.kwargs.get("decoder_kwargs") or {})
        kwargs.pop("use_cache", None)  # the bench times both cache settings
        out[cfg.kwargs["decoder"]] = kwargs
    return out
