"""The policy contract the runner talks to, in-process or over the transport."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from vla_bench.types import ActionSpec, EpisodeSpec, Observation


@runtime_checkable
class Policy(Protocol):
    """A policy maps an observation to an action chunk of shape (horizon, action_dim), float32.

    ``reset`` is called at the start of every episode (and every CALVIN subtask) with the episode
    identity, so stochastic policies can seed their noise from it and stay paired across runs.
    """

    name: str

    def reset(self, episode: EpisodeSpec, action_spec: ActionSpec) -> None: ...

    def act(self, obs: Observation) -> NDArray[np.float32]: ...

    def metadata(self) -> Mapping[str, Any]: ...


def episode_rng(episode: EpisodeSpec, salt: str = "") -> np.random.Generator:
    """A generator derived from the episode identity only (never from global state).

    The perturbation is left out on purpose: a policy's noise on a perturbed episode is the same as on
    its clean twin (common random numbers), so clean-vs-perturbed differences measure the
    perturbation, not the noise. Perturbations draw their own streams through ``salt``.
    """
    from vla_bench.types import stable_hash

    ident = {k: v for k, v in episode.to_dict().items() if k != "perturbation"}
    digest = stable_hash({"episode": ident, "salt": salt})
    return np.random.default_rng(int(digest[:16], 16))
