"""Strict YAML configs for runs, suites and policies, validated before anything runs.

Every error names the file, the key and what is allowed. Env and policy kwargs are checked against
the ``Config`` pydantic model that each registered env and policy class carries, so a typo in a
nested key is caught at load time, not after an hour of rollouts.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vla_bench import registries
from vla_bench.registry import RegistryError, did_you_mean


class ConfigError(ValueError):
    """A config problem, located by file and key."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source, self.key = source, key
        super().__init__(f"{source}: {key}: {message}" if key else f"{source}: {message}")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyConfig(StrictModel):
    """A policy: its registry ``type``, display ``name`` and constructor ``kwargs``."""

    type: str
    name: str = ""
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.name or self.type


MAX_EPISODES_PER_TASK = 10_000  # larger plans are a typo, not an evaluation (docs/runs.md)


class SuiteRunConfig(StrictModel):
    """A registered suite and the overrides a run applies to it."""

    suite: str
    tasks: tuple[str, ...] | None = None
    episodes_per_task: int | None = Field(default=None, gt=0, le=MAX_EPISODES_PER_TASK)
    init_ids: tuple[int, ...] | None = None
    max_steps: int | None = Field(default=None, gt=0)
    execute_steps: int | None = Field(default=None, gt=0)
    env: dict[str, Any] = Field(default_factory=dict)
    python: str | None = None
    perturbation: str = "none"

    @field_validator("init_ids")
    @classmethod
    def _nonneg(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if v is not None and any(i < 0 for i in v):
            raise ValueError("init_ids must be >= 0")
        return v


class ServerConfig(StrictModel):
    """Where the run serves its policies under ``transport: websocket`` (policy i on ``port + i``; port 0
    picks free ports). Loopback by default: a policy server has no authentication of its own."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)


class RayConfig(StrictModel):
    """Where ``backend: ray`` runs (docs/cluster.md). ``address``: a Ray cluster (``HOST:6379``, ``auto``);
    None starts a local Ray for this run (or joins ``RAY_ADDRESS`` when that is set). Each env actor
    reserves ``num_cpus_per_env`` Ray CPUs. Neither changes what an episode is (not in the config hash)."""

    address: str | None = None
    num_cpus_per_env: float = Field(default=1.0, gt=0)


class RunConfig(StrictModel):
    """What ``vla-bench eval`` runs: suites x policies, with seeds and workers."""

    name: str = "run"
    suites: tuple[SuiteRunConfig, ...] = Field(min_length=1)
    policies: tuple[PolicyConfig, ...] = Field(min_length=1)
    seed: int = Field(default=0, ge=0)
    seeds_per_episode: int = Field(default=1, gt=0, le=1000)
    workers: int = Field(default=1, gt=0)
    output: str = "results/runs/{name}"
    max_attempts: int = Field(default=2, gt=0)
    episode_timeout_s: float = Field(default=1800.0, gt=0)  # a worker silent this long is killed (ERROR)
    transport: Literal["inprocess", "websocket"] = "inprocess"
    backend: str | None = None  # a registered backend; None: in-process for 1 worker, else a worker pool
    policy_server: ServerConfig = Field(default_factory=ServerConfig)
    ray: RayConfig = Field(default_factory=RayConfig)  # used by backend: ray only
    plugins: tuple[str, ...] = ()  # modules or .py files imported first; they register decoders, envs, ...


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _raise_validation(source: str, exc: ValidationError, prefix: str = "") -> None:
    err = exc.errors()[0]
    key = _format_loc(tuple(err["loc"]))
    key = f"{prefix}.{key}" if prefix and key else (prefix or key)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        model = exc.title
        msg = f"unknown key (allowed: {', '.join(_allowed_keys(model))})" if _allowed_keys(model) else "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    raise ConfigError(source, key, msg) from None


_MODELS: dict[str, type[BaseModel]] = {
    "RunConfig": RunConfig,
    "ServerConfig": ServerConfig,
    "RayConfig": RayConfig,
    "SuiteRunConfig": SuiteRunConfig,
    "PolicyConfig": PolicyConfig,
}


def _allowed_keys(title: str) -> list[str]:
    model = _MODELS.get(title)
    return sorted(model.model_fields) if model else []


def read_yaml(path: Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise ConfigError(str(path), "", "file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "", f"not valid YAML: {exc}") from None


def _policy_entry(entry: Any, source: str, base: Path, key: str) -> dict[str, Any]:
    """A policy entry is a registry name, a path to a policy YAML, or an inline mapping."""
    if isinstance(entry, str):
        candidate = (base / entry) if not Path(entry).is_absolute() else Path(entry)
        if entry.endswith((".yaml", ".yml")):
            data = read_yaml(candidate)
            if not isinstance(data, dict):
                raise ConfigError(str(candidate), "", "a policy config must be a mapping")
            return data
        return {"type": entry}
    if isinstance(entry, dict):
        return entry
    raise ConfigError(source, key, f"expected a policy name, a .yaml path or a mapping, got {type(entry).__name__}")


def _check_registered(registry: Any, name: str, source: str, key: str) -> Any:
    try:
        return registry.get(name)
    except (RegistryError, ImportError) as exc:
        raise ConfigError(source, key, str(exc)) from None


def validate_kwargs(model: type[BaseModel], kwargs: Mapping[str, Any], source: str, key: str) -> dict[str, Any]:
    """Validate kwargs against ``model`` (e.g. a registered class's ``Config``) and return them normalized."""
    try:
        return model(**kwargs).model_dump()
    except ValidationError as exc:
        err = exc.errors()[0]
        sub = _format_loc(tuple(err["loc"]))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            hint = did_you_mean(str(err["loc"][-1]), model.model_fields)
            msg = f"unknown key{hint} (allowed: {', '.join(sorted(model.model_fields))})"
        raise ConfigError(source, f"{key}.{sub}" if sub else key, msg) from None


def _validate_init_kwargs(cls: Any, kwargs: Mapping[str, Any], source: str, key: str) -> dict[str, Any]:
    """A registered class's constructor kwargs, checked against its ``Config`` when it declares one."""
    model = getattr(cls, "Config", None)
    return dict(kwargs) if model is None else validate_kwargs(model, kwargs, source, key)


def load_policy_config(path: Path | str) -> PolicyConfig:
    source = str(path)
    data = read_yaml(Path(path))
    if not isinstance(data, dict):
        raise ConfigError(source, "", "a policy config must be a mapping")
    return validate_policy(data, source, "")


def validate_policy(data: Mapping[str, Any], source: str, key: str) -> PolicyConfig:
    try:
        cfg = PolicyConfig(**data)
    except ValidationError as exc:
        _raise_validation(source, exc, key)
    cls = _check_registered(registries.policies, cfg.type, source, f"{key}.type" if key else "type")
    kwargs = _validate_init_kwargs(cls, cfg.kwargs, source, f"{key}.kwargs" if key else "kwargs")
    return cfg.model_copy(update={"kwargs": kwargs})


def validate_suite(cfg: SuiteRunConfig, source: str, key: str) -> SuiteRunConfig:
    spec = _check_registered(registries.suites, cfg.suite, source, f"{key}.suite")
    for i, t in enumerate(cfg.tasks or ()):
        if t not in spec.task_names:
            hint = did_you_mean(t, spec.task_names)
            raise ConfigError(source, f"{key}.tasks[{i}]", f"unknown task {t!r} in suite {spec.name!r}{hint}")
    if cfg.python is not None and shutil.which(cfg.python) is None:
        raise ConfigError(source, f"{key}.python", f"no interpreter at {cfg.python!r} (a path to a venv's python, "
                          "or a command on PATH)")
    env_cls = _check_registered(registries.envs, spec.env, source, f"{key}.suite")
    _check_mode(spec, env_cls, source, f"{key}.suite")
    env_kwargs = _validate_init_kwargs(env_cls, {**spec.env_kwargs, **cfg.env}, source, f"{key}.env")
    return cfg.model_copy(update={"env": env_kwargs})


def _check_mode(spec: Any, env_cls: Any, source: str, key: str) -> None:
    """The suite's rollout mode and report layout exist, and its env implements what the mode needs."""
    mode = _check_registered(registries.rollouts, spec.rollout, source, key)
    _check_registered(registries.report_layouts, spec.report_layout, source, key)
    needs = getattr(mode, "requires", None)
    if needs is not None and not issubclass(env_cls, needs):
        raise ConfigError(source, key, f"suite {spec.name!r} runs {spec.rollout!r} episodes, but env {spec.env!r} "
                          f"({env_cls.__name__}) does not implement {needs.__name__}")


def _load_plugins(entries: tuple[str, ...], source: str, base: Path) -> tuple[str, ...]:
    """Import the run's plugins before anything is looked up in a registry; ``.py`` paths become absolute."""
    from vla_bench.plugins import load_plugin, resolve

    out = []
    for i, entry in enumerate(entries):
        target = resolve(entry, base)
        try:
            load_plugin(target)
        except Exception as exc:  # noqa: BLE001 - any import failure is a config error at this key
            msg = f"cannot import {entry!r}: {type(exc).__name__}: {exc}"
            raise ConfigError(source, f"plugins[{i}]", msg) from None
        out.append(target)
    return tuple(out)


def parse_run_config(data: Any, source: str, base: Path | None = None) -> RunConfig:
    """Validate a run config mapping completely (schema, registry names, env and policy kwargs)."""
    if not isinstance(data, dict):
        raise ConfigError(source, "", "a run config must be a mapping")
    base = base or Path.cwd()
    data = dict(data)
    policies = data.get("policies")
    if isinstance(policies, list):
        data["policies"] = [_policy_entry(p, source, base, f"policies[{i}]") for i, p in enumerate(policies)]
    try:
        cfg = RunConfig(**data)
    except ValidationError as exc:
        _raise_validation(source, exc)
    cfg = cfg.model_copy(update={"plugins": _load_plugins(cfg.plugins, source, base)})
    suites = tuple(validate_suite(s, source, f"suites[{i}]") for i, s in enumerate(cfg.suites))
    policies_v = tuple(validate_policy(p.model_dump(), source, f"policies[{i}]") for i, p in enumerate(cfg.policies))
    names = [p.display_name for p in policies_v]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(source, "policies", f"policy names must be unique, repeated: {sorted(dup)}; set 'name'")
    _check_backend(cfg, source)
    return cfg.model_copy(update={"suites": suites, "policies": policies_v})


def _check_backend(cfg: RunConfig, source: str) -> None:
    if cfg.backend is None:
        return
    _check_registered(registries.backends, cfg.backend, source, "backend")
    if cfg.backend == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ConfigError(source, "backend", "'ray' needs Ray installed in this interpreter: "
                              "pip install 'vla-bench[ray]'")
    if cfg.backend == "inprocess":
        if cfg.workers != 1:
            raise ConfigError(source, "backend", f"'inprocess' runs one episode at a time; workers is {cfg.workers} "
                              "(use backend: pool, or workers: 1)")
        foreign = [i for i, s in enumerate(cfg.suites) if s.python is not None]
        if foreign:
            raise ConfigError(source, f"suites[{foreign[0]}].python", "a suite under another interpreter needs "
                              "worker processes; use backend: pool")


def load_run_config(path: Path | str) -> RunConfig:
    """Load and fully validate a run config file."""
    path = Path(path)
    return parse_run_config(read_yaml(path), str(path), base=path.parent)
