import pytest
import yaml

from vla_bench.config import ConfigError, load_policy_config, load_run_config


def write(tmp_path, data, name="run.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


BASE = {"name": "x", "suites": [{"suite": "scripted", "episodes_per_task": 2}], "policies": ["scripted_expert"]}


def test_valid_config_loads_and_normalizes(tmp_path):
    cfg = load_run_config(write(tmp_path, BASE))
    assert cfg.suites[0].suite == "scripted"
    assert cfg.policies[0].type == "scripted_expert" and cfg.policies[0].kwargs == {"gain": 5.0}
    assert cfg.suites[0].env["image_size"] == (32, 32)


@pytest.mark.parametrize(
    ("mutate", "key", "fragment"),
    [
        (lambda d: d.update(bogus=1), "bogus", "unknown key (allowed:"),
        (lambda d: d["suites"][0].update(episodes_per_taks=3), "suites[0].episodes_per_taks", "unknown key"),
        (lambda d: d["suites"][0].update(episodes_per_task=0), "suites[0].episodes_per_task", "greater than 0"),
        (lambda d: d["suites"][0].update(episodes_per_task="many"), "suites[0].episodes_per_task", "integer"),
        (lambda d: d["suites"][0].update(suite="mt11"), "suites[0].suite", "did you mean 'mt10'"),
        (lambda d: d["suites"][0].update(tasks=["reach-lefd"]), "suites[0].tasks[0]", "did you mean 'reach-left'"),
        (lambda d: d["suites"][0].update(env={"image_sise": [8, 8]}), "suites[0].env.image_sise",
         "did you mean 'image_size'"),
        (lambda d: d.update(policies=["oracel"]), "policies[0].type", "did you mean 'oracle'"),
        (lambda d: d.update(policies=[{"type": "scripted_expert", "kwargs": {"gain": -1}}]),
         "policies[0].kwargs.gain", "greater than 0"),
        (lambda d: d.update(policies=["scripted_expert", "scripted_expert"]), "policies", "unique"),
        (lambda d: d.update(workers=0), "workers", "greater than 0"),
        (lambda d: d.pop("suites"), "suites", "required key is missing"),
    ],
)
def test_errors_name_file_key_and_allowed(tmp_path, mutate, key, fragment):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    assert info.value.source == str(path)
    assert info.value.key == key
    assert fragment in str(info.value)


def test_policy_file_reference_is_resolved_relative_to_config(tmp_path):
    (tmp_path / "policies").mkdir()
    write(tmp_path, {"type": "scripted_expert", "name": "fast", "kwargs": {"gain": 9}}, "policies/fast.yaml")
    cfg = load_run_config(write(tmp_path, {**BASE, "policies": ["policies/fast.yaml"]}))
    assert cfg.policies[0].display_name == "fast" and cfg.policies[0].kwargs["gain"] == 9


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("suites: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_run_config(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_run_config(tmp_path / "nope.yaml")


def test_policy_config_file(tmp_path):
    p = write(tmp_path, {"type": "scripted_expert", "kwargs": {"gainz": 1}}, "p.yaml")
    with pytest.raises(ConfigError, match=r"kwargs.gainz: unknown key; did you mean 'gain'"):
        load_policy_config(p)


def test_shipped_configs_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    for path in sorted(root.glob("*.yaml")):
        load_run_config(path)
