"""vla-bench serve POLICY_CONFIG: serve a policy over websocket + msgpack on loopback, with batching."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

HELP = "Serve a policy to env workers over websocket + msgpack (batched)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="policy config YAML: {type, name, kwargs}")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--max-batch", type=int, default=16, help="most requests answered by one forward pass")
    p.add_argument("--batch-timeout-ms", type=float, default=5.0,
                   help="how long the first request of a batch waits for others")


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
    try:
        # a factory: plain policies get one instance per connection (episode state is not shared)
        server = PolicyServer(as_batch_policy(lambda: make_policy(cfg)), args.host, args.port,
                              args.max_batch, args.batch_timeout_ms)
        port = server.start_in_thread()
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        print(f"cannot serve {cfg.display_name}: {exc}", file=sys.stderr)
        return 1
    print(f"serving {cfg.display_name} on ws://{args.host}:{port} (healthz: http://{args.host}:{port}/healthz)",
          flush=True)

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        server.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0
