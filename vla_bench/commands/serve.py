"""vla-bench serve POLICY_CONFIG: serve a policy over websocket + msgpack on loopback, with batching."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Serve a policy to env workers over websocket + msgpack (batched)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="policy config YAML: {type, name, kwargs}")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--max-batch", type=int, default=16)
    p.add_argument("--batch-timeout-ms", type=float, default=5.0)


def run(args: argparse.Namespace) -> int:
    from vla_bench.config import ConfigError, load_policy_config
    from vla_bench.executor import make_policy
    from vla_bench.transport.batching import as_batch_policy
    from vla_bench.transport.server import PolicyServer

    try:
        cfg = load_policy_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    server = PolicyServer(as_batch_policy(lambda: make_policy(cfg)), args.host, args.port,
                          args.max_batch, args.batch_timeout_ms)
    port = server.start_in_thread()
    print(f"serving {cfg.display_name} on ws://{args.host}:{port} (healthz: http://{args.host}:{port}/healthz)",
          flush=True)
    try:
        server._thread.join()  # type: ignore[union-attr]
    except KeyboardInterrupt:
        server.stop()
    return 0
