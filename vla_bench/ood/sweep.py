"""Sweep configs: a run config plus a ``sweep:`` section, expanded into one suite entry per
perturbation x severity (and the clean one), all on the same episode identities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vla_bench.config import ConfigError, RunConfig, parse_run_config, read_yaml
from vla_bench.registry import did_you_mean


class SweepSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    perturbations: tuple[str, ...] = Field(min_length=1)
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    include_clean: bool = True


def expand(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The run config mapping a sweep stands for (validated again by the caller)."""
    from vla_bench.registries import perturbations

    data = dict(data)
    raw = data.pop("sweep", None)
    if raw is None:
        raise ConfigError(source, "sweep", "a sweep config needs a 'sweep:' section")
    try:
        sweep = SweepSection(**raw)
    except (ValidationError, TypeError) as exc:
        raise ConfigError(source, "sweep", str(exc).splitlines()[0] if isinstance(exc, TypeError) else
                          f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
    for i, name in enumerate(sweep.perturbations):
        if name not in perturbations:
            hint = did_you_mean(name, perturbations.names())
            raise ConfigError(source, f"sweep.perturbations[{i}]", f"unknown perturbation {name!r}{hint}")
    for i, s in enumerate(sweep.severities):
        if not 0 <= s <= 5:
            raise ConfigError(source, f"sweep.severities[{i}]", f"severity must be 0..5, got {s}")
    suites = []
    for entry in data.get("suites", []):
        if not isinstance(entry, dict):
            raise ConfigError(source, "suites", "each suite entry must be a mapping")
        if sweep.include_clean:
            suites.append({**entry, "perturbation": "none"})
        for name in sweep.perturbations:
            for s in sweep.severities:
                suites.append({**entry, "perturbation": f"{name}@{s}"})
    data["suites"] = suites
    return data


def load_sweep(path: Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", "a sweep config must be a mapping")
    data = expand({**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}, str(path))
    return parse_run_config(data, str(path), base=Path(path).parent)
