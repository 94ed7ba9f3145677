"""Error codes of the policy server, and how an exception becomes an error reply.

A reply says whose fault a failure is (``code``) and what happened (``message``); the traceback stays in
the server's log unless the server runs with ``debug``, because a traceback shows a client the server's
paths, library versions and code.
"""

from __future__ import annotations

import traceback
from typing import Any

from vla_bench.transport.codec import CodecError

BAD_REQUEST = "bad_request"  # the client's frame: malformed, mistyped, NaN, act before reset, ...
POLICY_ERROR = "policy_error"  # the policy raised or returned something that is not a chunk
TOO_LARGE = "too_large"  # a frame over max_frame_bytes (the client refuses to send it)
UNAUTHORIZED = "unauthorized"  # missing or wrong token (HTTP 401 in the opening handshake)
UNAVAILABLE = "unavailable"  # the server is stopping
INTERNAL = "internal"  # a bug in the server itself
CODES = (BAD_REQUEST, POLICY_ERROR, TOO_LARGE, UNAUTHORIZED, UNAVAILABLE, INTERNAL)


class RequestError(Exception):
    """A request the server refuses or could not answer; raised ``from`` the exception behind it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def policy_error(exc: BaseException) -> RequestError:
    """Wrap an exception the policy raised (its traceback stays on ``__cause__`` for the log)."""
    err = RequestError(POLICY_ERROR, f"{type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def classify(exc: BaseException) -> tuple[str, str, BaseException]:
    """``(code, message, exception whose traceback explains it)`` for any exception of a request."""
    if isinstance(exc, RequestError):
        return exc.code, exc.message, exc.__cause__ or exc
    if isinstance(exc, CodecError):
        return BAD_REQUEST, str(exc), exc
    if isinstance(exc, ConnectionAbortedError):
        return UNAVAILABLE, str(exc), exc
    return INTERNAL, f"internal server error ({type(exc).__name__}); see the server log", exc


def error_reply(code: str, message: str, cause: BaseException | None, debug: bool) -> dict[str, Any]:
    reply: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if debug and cause is not None:
        reply["traceback"] = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    return reply
