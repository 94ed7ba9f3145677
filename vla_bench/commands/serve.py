"""vla-bench serve POLICY_CONFIG: serve a policy over websocket + msgpack on loopback, with batching.

The policy is built once before the port is bound, so a broken checkpoint is one clear line and exit
code 2 at startup, not an error on every client's first request.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

HELP = "Serve a policy to env workers over websocket + msgpack (batched)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="policy config YAML: {type, name, kwargs}")
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address (default loopback only; any other prints a warning, see --token)")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--max-batch", type=int, default=16, help="most requests answered by one forward pass")
    p.add_argument("--batch-timeout-ms", type=float, default=5.0,
                   help="how long the first request of a batch waits for others")
    p.add_argument("--max-frame-bytes", type=int, default=64 << 20,
                   help="larger frames are refused (connection closed with code 1009)")
    p.add_argument("--max-inflight-bytes", type=int, default=None,
                   help="frames answered at once, all connections together (default 4x --max-frame-bytes)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_PY",
                   help="import a plugin (module name or .py file) that registers policies; repeatable")
    p.add_argument("--token", default=None,
                   help="shared token clients must send (default $VLA_BENCH_TOKEN, which unlike this option "
                        "is not shown by ps; none: no check)")
    p.add_argument("--debug", action="store_true",
                   help="send server tracebacks to clients in error replies (they always go to the log)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe_load_error(exc: BaseException) -> str:
    """One line: loaders name the file they failed on (policies.checkpoint.CheckpointError, OSError)."""
    text = (str(exc).splitlines() or [""])[0]
    path = getattr(exc, "filename", None)
    if path is not None and str(path) not in text:
        text += f" ({path})"
    return f"{type(exc).__name__}: {text}"


def run(args: argparse.Namespace) -> int:
    from vla_bench.config import ConfigError, load_policy_config
    from vla_bench.executor import make_policy
    from vla_bench.plugins import load_plugin, resolve
    from vla_bench.transport.batching import as_batch_policy
    from vla_bench.transport.server import PolicyServer

    # policy errors (with tracebacks) are logged at ERROR; each refused request at INFO under --debug
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.debug:
        logging.getLogger("vla_bench").setLevel(logging.INFO)
    try:
        for entry in args.plugin:
            load_plugin(resolve(entry, Path.cwd()))
        cfg = load_policy_config(args.config)
    except ImportError as exc:
        print(f"plugin error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    try:
        first: list[Any] = [make_policy(cfg)]  # eagerly: a broken checkpoint fails here, before binding
    except Exception as exc:  # noqa: BLE001 - any loader error becomes one line
        print(f"cannot load policy {cfg.display_name}: {_describe_load_error(exc)}", file=sys.stderr)
        return 2

    def factory() -> Any:  # plain policies get one instance per connection (episode state is not shared)
        return first.pop() if first else make_policy(cfg)

    # Everything built so far (modules, the policy, its weights' wrappers) lives as long as the process:
    # out of the collector's sight, a full collection (which a client's burst of garbage triggers) no
    # longer walks it and pauses every connection for tens of ms.
    gc.freeze()

    token = args.token if args.token is not None else os.environ.get("VLA_BENCH_TOKEN")
    if not _is_loopback(args.host):
        risk = "" if token else " and no --token is set, so anyone who reaches the port can use the policy"
        print(f"warning: serving on {args.host}, reachable from other machines; frames are not encrypted{risk}",
              file=sys.stderr, flush=True)
    try:
        server = PolicyServer(as_batch_policy(factory), args.host, args.port, args.max_batch,
                              args.batch_timeout_ms, args.max_frame_bytes,
                              max_inflight_bytes=args.max_inflight_bytes, token=token, debug=args.debug)
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
