"""Run-config plugins: imported before validation (so their names validate), once per process, and in
every env worker; a plugin that cannot be imported is a config error at its key."""

from __future__ import annotations

import uuid

import pytest
import yaml

from vla_bench.config import ConfigError, load_run_config
from vla_bench.manifest import config_hash
from vla_bench.runner import run

PLUGIN = '''
from policies.reference import ZeroPolicy
from vla_bench.registries import policies


class {name}(ZeroPolicy):
    name = "{name}"


policies.add("{name}", {name})
'''


def plugin(tmp_path, body=None):
    """A plugin file in ``tmp_path/plugins`` registering a policy under a fresh name (registries are global)."""
    name = f"plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / "plugins").mkdir(exist_ok=True)
    path = tmp_path / "plugins" / f"{name}.py"
    path.write_text(body if body is not None else PLUGIN.format(name=name))
    return name, path


def write(tmp_path, **data):
    base = {"name": "p", "suites": [{"suite": "scripted", "episodes_per_task": 2, "tasks": ["reach-up"]}]}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**base, **data}))
    return path


def test_a_plugin_file_registers_a_name_the_config_then_uses(tmp_path):
    name, path = plugin(tmp_path)
    cfg = load_run_config(write(tmp_path, plugins=[f"plugins/{path.name}"], policies=[name]))
    assert cfg.plugins == (str(path.resolve()),) and cfg.policies[0].type == name
    again = load_run_config(write(tmp_path, plugins=[str(path)], policies=[name]))  # a second import: no-op
    assert again.plugins == cfg.plugins


def test_without_the_plugin_the_name_is_unknown(tmp_path):
    name, _ = plugin(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_run_config(write(tmp_path, policies=[name]))
    assert info.value.key == "policies[0].type"


@pytest.mark.parametrize(
    ("entry", "body", "fragment"),
    [
        ("plugins/missing.py", None, "does not exist"),
        ("no_such_module_xyz", None, "ModuleNotFoundError"),
        (None, "raise RuntimeError('broken plugin')", "RuntimeError: broken plugin"),
    ],
)
def test_a_broken_plugin_is_a_config_error_at_its_key(tmp_path, entry, body, fragment):
    if entry is None:
        _, path = plugin(tmp_path, body)
        entry = f"plugins/{path.name}"
    with pytest.raises(ConfigError) as info:
        load_run_config(write(tmp_path, plugins=["os", entry], policies=["zero"]))
    assert info.value.key == "plugins[1]" and fragment in str(info.value)


def test_config_hash_is_unchanged_for_runs_without_plugins(tmp_path):
    from vla_bench.types import stable_hash

    cfg = load_run_config(write(tmp_path, policies=["zero"]))
    d = cfg.model_dump(mode="json")
    for k in ("workers", "output", "plugins", "backend", "policy_server", "ray"):
        d.pop(k)
    assert config_hash(cfg) == stable_hash(d)


def test_env_workers_import_the_plugins_too(tmp_path):
    name, _ = plugin(tmp_path)
    cfg = load_run_config(write(tmp_path, plugins=[f"plugins/{name}.py"], policies=[name], workers=2))
    summary = run(cfg, tmp_path / "out", progress=False)
    assert sorted(p.name for p in (tmp_path / "out" / "logs").iterdir()) == ["worker-0.log", "worker-1.log"]
    assert len(summary.results) == 2 and all(r.status.value == "timeout" for r in summary.results), \
        [r.error for r in summary.results]
