"""Server-side policies that answer many sessions (env workers) in one forward pass.

A :class:`BatchPolicy` keeps per-session episode state and maps a batch of observations to a batch of
chunks. Neural policies implement it natively; :class:`PerSessionPolicies` adapts any plain policy
factory by keeping one instance per session and looping.

Requests from unrelated clients share a batch, so :func:`act_each` keeps their failures apart: one
client's bad observation must cost only that client its answer.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np

from vla_bench.types import ActionSpec, EpisodeSpec, Observation


@runtime_checkable
class BatchPolicy(Protocol):
    name: str

    def reset_session(self, session: str, episode: EpisodeSpec, action_spec: ActionSpec) -> None: ...

    def act_batch(self, items: list[tuple[str, Observation]]) -> list[np.ndarray]: ...

    def close_session(self, session: str) -> None: ...

    def metadata(self) -> Mapping[str, Any]: ...


class PerSessionPolicies:
    """One plain policy per session, built by ``factory``; a batch is answered item by item.

    The first instance (built to learn the name and metadata) serves one session at a time, so a
    single worker never builds a second copy; every other concurrent session gets its own.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory
        self._sessions: dict[str, Any] = {}
        self._probe = factory()
        self.name = str(getattr(self._probe, "name", type(self._probe).__name__))

    def reset_session(self, session: str, episode: EpisodeSpec, action_spec: ActionSpec) -> None:
        if session not in self._sessions:
            probe_taken = any(p is self._probe for p in self._sessions.values())
            self._sessions[session] = self.factory() if probe_taken else self._probe
        self._sessions[session].reset(episode, action_spec)

    def act_batch(self, items: list[tuple[str, Observation]]) -> list[np.ndarray]:
        out = self.act_each(items)
        for chunk in out:
            if isinstance(chunk, Exception):
                raise chunk
        return out  # type: ignore[return-value]

    def act_each(self, items: list[tuple[str, Observation]]) -> list[np.ndarray | Exception]:
        """Each item on its own: an exception is that item's result, and no policy acts twice."""
        out: list[np.ndarray | Exception] = []
        for session, obs in items:
            try:
                if session not in self._sessions:
                    raise RuntimeError("act before reset: send a reset message at the start of every episode")
                out.append(np.asarray(self._sessions[session].act(obs), dtype=np.float32))
            except Exception as exc:  # noqa: BLE001 - this item's answer
                out.append(exc)
        return out

    def close_session(self, session: str) -> None:
        policy = self._sessions.pop(session, None)
        if policy is not None and policy is not self._probe and hasattr(policy, "close"):
            policy.close()

    def metadata(self) -> Mapping[str, Any]:
        return dict(self._probe.metadata())


def act_each(policy: BatchPolicy, items: list[tuple[str, Observation]]) -> list[np.ndarray | Exception]:
    """One float32 chunk or one exception per item, so a failure answers only the item that caused it.

    :class:`PerSessionPolicies` isolates items itself. A native batch policy answers the batch in one
    call; when that call raises, each item is retried alone (one forward pass each) so the healthy ones
    still get their chunks. Such a policy should therefore check its inputs before changing any
    session's state. A wrong number of chunks is a policy bug and fails every item.
    """
    if isinstance(policy, PerSessionPolicies):
        return policy.act_each(items)
    try:
        outs = list(policy.act_batch(items))
    except Exception as exc:  # noqa: BLE001 - isolate below
        if len(items) == 1:
            return [exc]
        return [act_each(policy, [item])[0] for item in items]
    if len(outs) != len(items):
        err = RuntimeError(f"act_batch returned {len(outs)} chunks for {len(items)} requests")
        return [err] * len(items)
    return [_chunk(out) for out in outs]


def _chunk(out: Any) -> np.ndarray | Exception:
    try:
        return np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        return exc


def as_batch_policy(obj: Any) -> BatchPolicy:
    """A native batch policy as is; a factory of plain policies wrapped with one policy per session.

    A factory whose product implements ``act_batch`` is built once and used natively. A plain policy
    instance is refused: its episode state cannot be shared between sessions.
    """
    if hasattr(obj, "act_batch") and not isinstance(obj, type):
        return obj
    if hasattr(obj, "act") and not isinstance(obj, type):
        raise TypeError(f"pass a factory of {type(obj).__name__}, not an instance: each session needs its own")
    if not callable(obj):
        raise TypeError(f"{obj!r} is neither a batch policy nor a policy factory")
    adapter = PerSessionPolicies(obj)
    if hasattr(adapter._probe, "act_batch"):
        return adapter._probe  # the factory builds a native batch policy: one instance serves all
    return adapter
