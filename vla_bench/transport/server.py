"""Websocket policy server: metadata handshake, per-connection sessions, batched inference.

Every ``act`` request from every connection goes into one queue; a batcher takes up to ``max_batch``
requests, whatever arrived within ``batch_timeout_ms`` of the first, or one request from every session
that has reset (a connection has at most one in flight, so none can follow), and runs one
``act_batch`` in a worker thread so the event loop keeps receiving. Policy calls run on a single
thread, so policies need not be thread-safe. A bad frame gets an error reply (a code and a message,
see :mod:`vla_bench.transport.errors`) and the connection stays open.

Hostile or broken clients must not stall the others, so: a frame over ``max_frame_bytes`` is refused
from its header by the websocket layer (close code 1009), never read whole; decoding is bounded
(:func:`codec.unpackb`) and frames over ``INLINE_DECODE_BYTES`` are decoded on a small thread pool,
off the event loop; the frames being answered hold at most ``max_inflight_bytes`` across all
connections (the rest wait, unread, since each connection buffers at most one more frame); and one
request's policy failure answers only that request (:func:`batching.act_each`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hmac
import itertools
import logging
import threading
import time
from http import HTTPStatus
from typing import Any

from vla_bench.transport.batching import BatchPolicy, act_each
from vla_bench.transport.codec import (
    PROTOCOL_VERSION, CodecError, decode_action_spec, decode_episode, decode_observation, packb, transportable,
    unpackb,
)
from vla_bench.transport.errors import (
    BAD_REQUEST, INTERNAL, POLICY_ERROR, RequestError, classify, error_reply, policy_error,
)

log = logging.getLogger(__name__)
# Decoding work is bounded by codec.MAX_OBJECTS (a few ms at most) plus copying the bytes, so a small
# frame is decoded on the event loop: a thread hop would cost more, and under GIL contention far more.
INLINE_DECODE_BYTES = 256 << 10


def parse_request(frame: Any) -> tuple[str, Any]:
    """``("reset", (episode, spec))`` or ``("act", observation)``: all the checks a frame gets before
    the policy sees it, in one function so a large frame's run moves to a decode thread whole."""
    if not isinstance(frame, bytes):
        raise CodecError("frames must be binary msgpack, got text")
    msg = unpackb(frame)
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind == "reset":
        return kind, (decode_episode(msg.get("episode")), decode_action_spec(msg.get("action_spec")))
    if kind == "act":
        return kind, decode_observation(msg.get("obs"))
    raise CodecError(f"unknown message type {kind!r}; expected 'reset' or 'act'")


class _InFlight:
    """Bytes of the frames being answered, across all connections; a frame waits until it fits."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used, self.peak = limit, 0, 0
        self._changed = asyncio.Condition()

    async def acquire(self, n: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + n <= self.limit)
            self.used += n
            self.peak = max(self.peak, self.used)

    async def release(self, n: int) -> None:
        async with self._changed:
            self.used -= n
            self._changed.notify_all()


class PolicyServer:
    """Serves one :class:`BatchPolicy` to many connections; ``stats`` counts requests and batch sizes.

    ``token``: when set, a client must send ``Authorization: Bearer TOKEN`` in its opening handshake or
    is refused with HTTP 401. ``debug``: error replies also carry the server's traceback.
    ``max_inflight_bytes`` (default 4 x ``max_frame_bytes``) caps the frames being answered at once.
    """

    def __init__(self, policy: BatchPolicy, host: str = "127.0.0.1", port: int = 0, max_batch: int = 16,
                 batch_timeout_ms: float = 5.0, max_frame_bytes: int = 64 << 20, *,
                 max_inflight_bytes: int | None = None, token: str | None = None,
                 debug: bool = False) -> None:
        max_inflight_bytes = max_inflight_bytes or 4 * max_frame_bytes
        if (max_batch < 1 or batch_timeout_ms < 0 or max_frame_bytes < 1024
                or max_inflight_bytes < max_frame_bytes):
            raise ValueError("max_batch >= 1, batch_timeout_ms >= 0, max_frame_bytes >= 1024 and "
                             "max_inflight_bytes >= max_frame_bytes are required")
        self.policy, self.host, self.port = policy, host, port
        self.max_batch, self.batch_timeout_s, self.max_frame_bytes = max_batch, batch_timeout_ms / 1000, max_frame_bytes
        self.max_inflight_bytes, self.token, self.debug = max_inflight_bytes, token or None, debug
        self.stats: dict[str, Any] = {"connections": 0, "requests": 0, "batches": 0, "errors": 0,
                                      "unauthorized": 0, "batch_sizes": collections.Counter()}
        self._waiting: set[asyncio.Future[Any]] = set()
        # sessions that have had a reset, so they may act; each has at most one request in flight
        self._reset: set[str] = set()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="policy")
        self._decoders = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="decode")
        self._inflight: _InFlight | None = None
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
        self._decoders.shutdown(wait=False, cancel_futures=True)

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._queue, self._stop = asyncio.Queue(), asyncio.Event()
        self._inflight = _InFlight(self.max_inflight_bytes)
        # max_size refuses a larger frame from its header; max_queue=1 stops reading a connection that
        # already has a frame waiting (clients have one request in flight), so TCP pushes back
        async with serve(self._handle, self.host, self.port, compression=None, max_size=self.max_frame_bytes,
                         max_queue=1, process_request=self._http) as server:
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

    def _http(self, connection: Any, request: Any) -> Any:
        if request.path == "/healthz":
            return connection.respond(HTTPStatus.OK, "OK\n")
        if self.token is not None:
            sent = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(sent, f"Bearer {self.token}".encode()):
                self.stats["unauthorized"] += 1
                log.warning("refused a connection from %s: missing or wrong token", connection.remote_address)
                return connection.respond(HTTPStatus.UNAUTHORIZED, "unauthorized: missing or wrong token\n")
        return None

    # -- connections -------------------------------------------------------------------------
    async def _handle(self, ws: Any) -> None:
        session = f"s{next(self._sessions)}"
        self.stats["connections"] += 1
        try:
            await ws.send(self._pack({
                "type": "metadata", "protocol": PROTOCOL_VERSION, "policy": self.policy.name,
                "metadata": transportable(dict(self.policy.metadata())), "max_batch": self.max_batch,
                "max_frame_bytes": self.max_frame_bytes,
            }))
            async for frame in ws:
                size = len(frame)
                assert self._inflight is not None
                await self._inflight.acquire(size)
                try:
                    reply = await self._reply(session, frame)
                    del frame  # the bytes may go before the reply is sent
                    await ws.send(self._pack(reply))
                finally:
                    await self._inflight.release(size)
        except Exception as exc:  # noqa: BLE001 - a broken connection must not stop the server
            log.debug("session %s ended: %r", session, exc)
        finally:
            self._reset.discard(session)
            try:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._pool, self.policy.close_session, session)
            except Exception:  # noqa: BLE001 - logged; the server goes on
                log.exception("close_session(%s) failed", session)

    def _pack(self, reply: dict[str, Any]) -> bytes:
        try:
            return packb(reply)
        except CodecError as exc:  # a reply the codec refuses is the server's bug: act_each made it float32
            self.stats["errors"] += 1
            log.error("cannot encode a reply: %s", exc, exc_info=exc)
            return packb(error_reply(INTERNAL, f"cannot encode the reply: {exc}", exc, self.debug))

    async def _reply(self, session: str, frame: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            if len(frame) <= INLINE_DECODE_BYTES:
                kind, payload = parse_request(frame)
            else:
                kind, payload = await loop.run_in_executor(self._decoders, parse_request, frame)
            del frame
            if kind == "reset":
                try:
                    await loop.run_in_executor(self._pool, self.policy.reset_session, session, *payload)
                except Exception as exc:  # noqa: BLE001
                    raise policy_error(exc) from exc
                self._reset.add(session)
                return {"type": "ok"}
            if session not in self._reset:
                raise RequestError(BAD_REQUEST, "act before reset: send a reset message at the start of every "
                                                "episode")
            fut: asyncio.Future[Any] = loop.create_future()
            assert self._queue is not None
            self._waiting.add(fut)
            try:
                await self._queue.put((session, payload, fut))
                actions, batch, infer_ms = await fut
            finally:
                self._waiting.discard(fut)
            return {"type": "actions", "actions": actions, "server_timing": {
                "total_ms": 1000 * (time.perf_counter() - t0), "infer_ms": infer_ms, "batch_size": batch}}
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error frame
            self.stats["errors"] += 1
            code, message, cause = classify(exc)
            if code in (POLICY_ERROR, INTERNAL):
                log.error("session %s: %s: %s", session, code, message, exc_info=cause)
            else:
                log.info("session %s: %s: %s", session, code, message)
            return error_reply(code, message, cause, self.debug)

    # -- batching ----------------------------------------------------------------------------
    async def _batcher(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.batch_timeout_s
            # stop waiting once every session that may act has a request queued: no more can come (a
            # connection that never reset, e.g. one sending garbage, does not hold the batch back)
            while len(batch) < min(self.max_batch, len(self._reset)):
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
            t0 = time.perf_counter()
            try:
                outs: list[Any] = [policy_error(o) if isinstance(o, BaseException) else o for o in
                                   await loop.run_in_executor(self._pool, act_each, self.policy,
                                                              [(s, o) for s, o, _ in batch])]
            except Exception as exc:  # noqa: BLE001 - not the policy: e.g. the pool shut down while stopping
                outs = [exc] * len(batch)
            infer_ms = 1000 * (time.perf_counter() - t0)
            for (_, _, fut), out in zip(batch, outs):
                if fut.done():
                    continue
                if isinstance(out, BaseException):
                    fut.set_exception(out)
                else:
                    fut.set_result((out, len(batch), infer_ms))
