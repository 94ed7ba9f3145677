"""Loopback transport figures: round-trip latency and throughput with 1 vs N concurrent clients.

``python -m vla_bench.transport.bench`` serves a policy that answers a zero chunk (so only the
transport is measured) and prints p50/p90 latency for a 2-camera observation and requests/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from typing import Any, Mapping

import numpy as np

from vla_bench.transport.batching import as_batch_policy
from vla_bench.transport.client import RemotePolicy
from vla_bench.transport.server import PolicyServer
from vla_bench.types import ActionDim, ActionSpec, EpisodeSpec, Observation

SPEC = ActionSpec(tuple(ActionDim(f"a{i}", -1, 1) for i in range(7)))


class ZeroChunk:
    name = "zero_chunk"

    def reset(self, episode: EpisodeSpec, action_spec: ActionSpec) -> None:
        self.dim = action_spec.dim

    def act(self, obs: Observation) -> np.ndarray:
        return np.zeros((1, self.dim), np.float32)

    def metadata(self) -> Mapping[str, Any]:
        return {}


def observation(size: int, cameras: int) -> Observation:
    rng = np.random.default_rng(0)
    images = {f"cam{i}": rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for i in range(cameras)}
    return Observation(images, np.zeros(8, np.float32), "open the drawer")


def _client(port: int, obs: Observation, n: int, lat: list[float], i: int, span: list[float]) -> None:
    p = RemotePolicy(port=port)
    p.reset(EpisodeSpec("bench", "t", i), SPEC)
    p.act(obs)  # warm-up
    span.append(time.time())
    for _ in range(n):
        t0 = time.perf_counter()
        p.act(obs)
        lat.append(time.perf_counter() - t0)
    span.append(time.time())
    p.close()


def _client_process(port: int, size: int, cameras: int, n: int, i: int, out: Any) -> None:
    lat: list[float] = []
    span: list[float] = []
    _client(port, observation(size, cameras), n, lat, i, span)
    out.put((lat, span))


def measure(clients: int, requests: int, size: int, cameras: int, processes: bool,
            max_batch: int = 16) -> dict[str, float]:
    """Clients as threads of this process, or (``processes``) as separate processes like env workers."""
    server = PolicyServer(as_batch_policy(ZeroChunk), max_batch=max_batch)
    port = server.start_in_thread()
    lat: list[float] = []
    span: list[float] = []  # wall-clock start and end of every client's timed requests
    if processes:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_client_process, args=(port, size, cameras, requests, i, queue))
                 for i in range(clients)]
        [p.start() for p in procs]
        for _ in procs:
            got_lat, got_span = queue.get()
            lat.extend(got_lat)
            span.extend(got_span)
        [p.join() for p in procs]
    else:
        obs = observation(size, cameras)
        threads = [threading.Thread(target=_client, args=(port, obs, requests, lat, i, span))
                   for i in range(clients)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    wall = max(span) - min(span)
    sizes = server.stats["batch_sizes"]
    server.stop()
    ms = np.array(lat) * 1000
    return {"clients": clients, "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "req_per_s": len(lat) / wall,
            "mean_batch": sum(k * v for k, v in sizes.items()) / max(1, sum(sizes.values()))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--requests", type=int, default=300, help="per client")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--processes", action="store_true", help="clients in separate processes")
    args = ap.parse_args(argv)
    print(f"observation: {args.cameras}x{args.size}x{args.size}x3 uint8 + 8 float32 state; clients as "
          f"{'processes' if args.processes else 'threads'}")
    for c in args.clients:
        r = measure(c, args.requests, args.size, args.cameras, args.processes)
        print(f"{c:>2} client(s): p50 {r['p50_ms']:.2f} ms  p90 {r['p90_ms']:.2f} ms  "
              f"{r['req_per_s']:.0f} req/s  mean batch {r['mean_batch']:.1f}", flush=True)


if __name__ == "__main__":
    main()
