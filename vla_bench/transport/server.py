"""Websocket policy server: metadata handshake, per-connection sessions, batched inference.

Every ``act`` request from every connection goes into one queue; a batcher takes up to ``max_batch``
requests, whatever arrived within ``batch_timeout_ms`` of the first, or one request from every open
connection (a connection has at most one in flight, so none can follow), and runs one ``act_batch`` in a
worker thread so the event loop keeps receiving. Policy calls run on a single thread, so policies need
not be thread-safe. A bad frame gets an error reply and the connection stays open; only frames far
beyond ``max_frame_bytes`` (4x) close that one connection with code 1009 (message too big).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import threading
import time
import traceback
from http import HTTPStatus
from typing import Any

import numpy as np

from vla_bench.transport.batching import BatchPolicy
from vla_bench.transport.codec import (
    PROTOCOL_VERSION, CodecError, decode_action_spec, decode_episode, decode_observation, packb, transportable,
    unpackb,
)


class PolicyServer:
    """Serves one :class:`BatchPolicy` to many connections; ``stats`` counts requests and batch sizes."""

    def __init__(self, policy: BatchPolicy, host: str = "127.0.0.1", port: int = 0, max_batch: int = 16,
                 batch_timeout_ms: float = 5.0, max_frame_bytes: int = 64 << 20) -> None:
        if max_batch < 1 or batch_timeout_ms < 0 or max_frame_bytes < 1024:
            raise ValueError("max_batch >= 1, batch_timeout_ms >= 0 and max_frame_bytes >= 1024 are required")
        self.policy, self.host, self.port = policy, host, port
        self.max_batch, self.batch_timeout_s, self.max_frame_bytes = max_batch, batch_timeout_ms / 1000, max_frame_bytes
        self.stats: dict[str, Any] = {"connections": 0, "requests": 0, "batches": 0, "errors": 0,
                                      "batch_sizes": collections.Counter()}
        self._waiting: set[asyncio.Future[Any]] = set()
        self._open = 0  # open connections; each has at most one request in flight
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="policy")
        self._sessions = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[str, Any, asyncio.Future[Any]]] | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start_in_thread(self) -> int:
        """Serve in a daemon thread; returns the bound port once the server accepts connections."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True, name="policy-server")
        self._thread.start()
        self._ready.wait(30)
        if self._startup_error is not None:
            raise RuntimeError(f"policy server failed to start: {self._startup_error}")
        return self.port

    def serve_forever(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - surfaced to start_in_thread
            self._startup_error = exc
            self._ready.set()
            if self._thread is None:
                raise

    def join(self, timeout: float | None = None) -> None:
        """Wait until a server started with :meth:`start_in_thread` has stopped."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # the loop closed between the check and the call
                pass
        self.join(10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._queue, self._stop = asyncio.Queue(), asyncio.Event()
        async with serve(self._handle, self.host, self.port, compression=None,
                         max_size=4 * self.max_frame_bytes, process_request=self._http) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            batcher = asyncio.create_task(self._batcher())
            self._ready.set()
            await self._stop.wait()
            batcher.cancel()
            # requests still waiting for the policy get an error reply, so their handlers (and the
            # server's close, which waits for handlers) finish
            for fut in list(self._waiting):
                if not fut.done():
                    fut.set_exception(ConnectionAbortedError("the policy server is stopping"))

    @staticmethod
    def _http(connection: Any, request: Any) -> Any:
        if request.path == "/healthz":
            return connection.respond(HTTPStatus.OK, "OK\n")
        return None

    # -- connections -------------------------------------------------------------------------
    async def _handle(self, ws: Any) -> None:
        session = f"s{next(self._sessions)}"
        self.stats["connections"] += 1
        self._open += 1
        try:
            await ws.send(self._pack({
                "type": "metadata", "protocol": PROTOCOL_VERSION, "policy": self.policy.name,
                "metadata": transportable(dict(self.policy.metadata())), "max_batch": self.max_batch,
                "max_frame_bytes": self.max_frame_bytes,
            }))
            async for frame in ws:
                await ws.send(self._pack(await self._reply(session, frame)))
        except Exception:  # noqa: BLE001 - a broken connection must not stop the server
            pass
        finally:
            self._open -= 1
            await asyncio.get_running_loop().run_in_executor(self._pool, self.policy.close_session, session)

    def _pack(self, reply: dict[str, Any]) -> bytes:
        try:
            return packb(reply)
        except CodecError as exc:  # e.g. a policy that returned an object array
            self.stats["errors"] += 1
            return packb({"type": "error", "message": f"cannot encode the reply: {exc}",
                          "traceback": traceback.format_exc(limit=10)})

    async def _reply(self, session: str, frame: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            if not isinstance(frame, bytes):
                raise CodecError("frames must be binary msgpack, got text")
            if len(frame) > self.max_frame_bytes:
                raise CodecError(f"frame of {len(frame)} bytes exceeds the limit of {self.max_frame_bytes}")
            msg = unpackb(frame)
            kind = msg.get("type") if isinstance(msg, dict) else None
            if kind == "reset":
                episode, spec = decode_episode(msg.get("episode")), decode_action_spec(msg.get("action_spec"))
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._pool, self.policy.reset_session, session, episode, spec)
                return {"type": "ok"}
            if kind == "act":
                obs = decode_observation(msg.get("obs"))
                fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                assert self._queue is not None
                self._waiting.add(fut)
                try:
                    await self._queue.put((session, obs, fut))
                    actions, batch, infer_ms = await fut
                finally:
                    self._waiting.discard(fut)
                return {"type": "actions", "actions": actions, "server_timing": {
                    "total_ms": 1000 * (time.perf_counter() - t0), "infer_ms": infer_ms, "batch_size": batch}}
            raise CodecError(f"unknown message type {kind!r}; expected 'reset' or 'act'")
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error frame
            self.stats["errors"] += 1
            return {"type": "error", "message": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(limit=10)}

    # -- batching ----------------------------------------------------------------------------
    async def _batcher(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.batch_timeout_s
            # stop waiting once every open connection has a request queued: no more can come
            while len(batch) < min(self.max_batch, self._open):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            self.stats["requests"] += len(batch)
            self.stats["batches"] += 1
            self.stats["batch_sizes"][len(batch)] += 1
            try:
                t0 = time.perf_counter()
                outs = await loop.run_in_executor(
                    self._pool, self.policy.act_batch, [(s, o) for s, o, _ in batch])
                if len(outs) != len(batch):
                    raise RuntimeError(f"act_batch returned {len(outs)} chunks for {len(batch)} requests")
                infer_ms = 1000 * (time.perf_counter() - t0)
                for (_, _, fut), out in zip(batch, outs):
                    if not fut.done():
                        fut.set_result((np.asarray(out, dtype=np.float32), len(batch), infer_ms))
            except Exception as exc:  # noqa: BLE001 - reported to every waiting client
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
