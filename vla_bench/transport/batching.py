"""Server-side policies that answer many sessions (env workers) in one forward pass.

A :class:`BatchPolicy` keeps per-session episode state and maps a batch of observations to a batch of
chunks. Neural policies implement it natively; :class:`PerSessionPolicies` adapts any plain policy
factory by keeping one instance per session and looping.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np

from vla_bench.types import ActionSpec, EpisodeSpec, Observation


@runtime_checkable
class BatchPolicy(Protocol):
    name: str

    def reset(self, session: str, episode: EpisodeSpec, action_spec: ActionSpec) -> None: ...

    def act_batch(self, items: list[tuple[str, Observation]]) -> list[np.ndarray]: ...

    def close_session(self, session: str) -> None: ...

    def metadata(self) -> Mapping[str, Any]: ...


class PerSessionPolicies:
    """One plain policy per session, built by ``factory``; a batch is answered item by item."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory
        self._sessions: dict[str, Any] = {}
        self._probe = factory()
        self.name = getattr(self._probe, "name", type(self._probe).__name__)

    def reset(self, session: str, episode: EpisodeSpec, action_spec: ActionSpec) -> None:
        if session not in self._sessions:
            self._sessions[session] = self._probe if not self._sessions and self._probe is not None else self.factory()
            self._probe = None
        self._sessions[session].reset(episode, action_spec)

    def act_batch(self, items: list[tuple[str, Observation]]) -> list[np.ndarray]:
        out = []
        for session, obs in items:
            if session not in self._sessions:
                raise RuntimeError("act before reset: send a reset message at the start of every episode")
            out.append(np.asarray(self._sessions[session].act(obs), dtype=np.float32))
        return out

    def close_session(self, session: str) -> None:
        self._sessions.pop(session, None)

    def metadata(self) -> Mapping[str, Any]:
        any_policy = next(iter(self._sessions.values()), None) or self._probe
        return dict(any_policy.metadata()) if any_policy is not None else {}


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
    probe = adapter._probe
    if probe is not None and hasattr(probe, "act_batch"):
        return probe
    return adapter
