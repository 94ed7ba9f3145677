"""RemotePolicy: the Policy contract over a websocket, for env workers in any interpreter.

It needs only numpy, msgpack, websockets and pydantic. It connects on first use, retrying until
``connect_timeout_s`` so workers may start before the server; a reply slower than ``recv_timeout_s``
raises instead of leaving the episode waiting forever (and becomes an ERROR episode upstream). A
server started with a token needs the same token here (``token``, default ``$VLA_BENCH_TOKEN``).
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vla_bench.transport.codec import (
    PROTOCOL_VERSION, CodecError, encode_action_spec, encode_episode, encode_observation, packb, unpackb,
)
from vla_bench.transport.errors import TOO_LARGE, UNAUTHORIZED
from vla_bench.types import ActionSpec, EpisodeSpec, Observation


class RemoteError(RuntimeError):
    """The server answered with an error frame: its ``code`` (see docs/transport.md), message and, from a
    server started with ``--debug``, its traceback."""

    def __init__(self, message: str, remote_traceback: str = "", code: str = "") -> None:
        text = f"{message} [{code}]" if code else message
        super().__init__(text + (f"\n--- server traceback ---\n{remote_traceback}" if remote_traceback else ""))
        self.message, self.code, self.remote_traceback = message, code, remote_traceback


class RemotePolicy:
    """A policy served by ``vla-bench serve`` (or the runner's websocket transport).

    One connection is one server-side session. After a timeout or a dropped connection the socket is
    discarded (a late reply would otherwise answer the next request) and the next call reconnects.
    """

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        host: str = "127.0.0.1"
        port: int = Field(ge=1, le=65535)
        name: str | None = None
        connect_timeout_s: float = Field(default=30.0, gt=0)
        recv_timeout_s: float = Field(default=120.0, gt=0)
        # None: $VLA_BENCH_TOKEN, read when connecting (so validated configs and run manifests never
        # hold it); a token written here is recorded with the config, so prefer the environment
        token: str | None = Field(default=None, repr=False)

    def __init__(self, **kwargs: Any) -> None:
        self.config = self.Config(**kwargs)
        self.name = self.config.name or "remote"
        self._ws: Any = None
        self.server_metadata: dict[str, Any] = {}
        self.last_server_timing: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.config.port}"

    def connect(self) -> None:
        from websockets.exceptions import InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        token = self.config.token or os.environ.get("VLA_BENCH_TOKEN") or None
        headers = {"Authorization": f"Bearer {token}"} if token else None
        deadline = time.monotonic() + self.config.connect_timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                # entered as a context manager: the connection's lifetime is ours (closed in close())
                self._ws = connect(self.url, compression=None, max_size=None, additional_headers=headers,
                                   open_timeout=max(0.1, min(5.0, deadline - time.monotonic()))).__enter__()
                break
            except InvalidStatus as exc:
                if exc.response.status_code == 401:  # retrying cannot help
                    which = "wrong" if token else "missing"
                    raise RemoteError(f"policy server at {self.url} refused the connection: {which} token "
                                      "(set VLA_BENCH_TOKEN or token:)", code=UNAUTHORIZED) from None
                last = exc
                time.sleep(0.1)
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                last = exc
                time.sleep(0.1)
        if self._ws is None:
            raise ConnectionError(f"no policy server at {self.url} after {self.config.connect_timeout_s:g} s: {last}")
        meta = self._recv()
        if meta.get("type") != "metadata":
            self.close()
            raise RemoteError(f"expected a metadata frame from {self.url}, got {meta.get('type')!r}")
        if meta.get("protocol") != PROTOCOL_VERSION:
            self.close()
            raise RemoteError(f"policy server at {self.url} speaks protocol {meta.get('protocol')!r}, "
                              f"this client speaks {PROTOCOL_VERSION}")
        self.server_metadata = meta
        if self.config.name is None:
            self.name = str(meta.get("policy", "remote"))

    def _recv(self) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        try:
            frame = self._ws.recv(timeout=self.config.recv_timeout_s)
        except TimeoutError:
            self.close()
            raise TimeoutError(f"policy server at {self.url} did not answer within "
                               f"{self.config.recv_timeout_s} s") from None
        except ConnectionClosed as exc:
            self.close()
            raise ConnectionError(f"policy server at {self.url} closed the connection: {exc}") from None
        try:
            msg = unpackb(frame, max_objects=1 << 20)  # a server's metadata may be larger than a request
        except CodecError as exc:
            raise RemoteError(f"malformed reply from {self.url}: {exc}") from None
        if not isinstance(msg, dict):
            raise RemoteError(f"malformed reply from {self.url}: expected a map")
        if msg.get("type") == "error":
            raise RemoteError(str(msg.get("message")), str(msg.get("traceback", "")),
                              str(msg.get("code", "")))
        return msg

    def _call(self, msg: Mapping[str, Any]) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        if self._ws is None:
            self.connect()
        frame = packb(dict(msg))
        limit = self.server_metadata.get("max_frame_bytes")
        if isinstance(limit, int) and len(frame) > limit:  # the server would close the connection (1009)
            raise RemoteError(f"request of {len(frame)} bytes exceeds the limit of {limit} of the policy "
                              f"server at {self.url}", code=TOO_LARGE)
        try:
            self._ws.send(frame)
        except ConnectionClosed as exc:
            self.close()
            raise ConnectionError(f"policy server at {self.url} closed the connection: {exc}") from None
        return self._recv()

    def reset(self, episode: EpisodeSpec, action_spec: ActionSpec) -> None:
        self._call({"type": "reset", "episode": encode_episode(episode),
                    "action_spec": encode_action_spec(action_spec)})

    def act(self, obs: Observation) -> np.ndarray:
        reply = self._call({"type": "act", "obs": encode_observation(obs)})
        self.last_server_timing = reply.get("server_timing", {})
        actions = reply.get("actions")
        if not isinstance(actions, np.ndarray):
            raise RemoteError(f"reply from {self.url} holds no action array")
        return actions.astype(np.float32, copy=False)

    def metadata(self) -> dict[str, Any]:
        return dict(self.server_metadata.get("metadata", {}))

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.__exit__(None, None, None)
