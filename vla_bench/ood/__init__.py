"""OOD perturbations (language, vision, scene, dynamics) and sweeps over them.

``perturbed(env, episode)`` is the one entry point the runner uses: it yields the env wrapped with the
episode's perturbation ("none" yields the env itself) and undoes simulator changes afterwards.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from vla_bench.ood.base import parse
from vla_bench.types import EpisodeSpec


def make(perturbation: str, episode: EpisodeSpec) -> Any:
    """The perturbation object for 'kind.name@severity' and this episode."""
    from vla_bench.registries import perturbations

    name, severity = parse(perturbation)
    return perturbations.get(name)(severity, episode)


@contextlib.contextmanager
def perturbed(env: Any, episode: EpisodeSpec) -> Iterator[Any]:
    if episode.perturbation == "none":
        yield env
        return
    wrapped = make(episode.perturbation, episode).wrap(env)
    try:
        yield wrapped
    finally:
        wrapped.restore()


def describe() -> list[tuple[str, str, str, str]]:
    """(kind, name, description, severity table) for every registered perturbation, grouped by kind."""
    from vla_bench.registries import perturbations

    rows = []
    for name in perturbations.names():
        cls = perturbations.get(name)
        levels = ", ".join(f"{i}: {v}" for i, v in enumerate(cls.levels))
        rows.append((cls.kind, name, f"{cls.description} [{cls.unit}; {levels}]", cls.source))
    return sorted(rows)
