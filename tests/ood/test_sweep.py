import json

import pytest
import yaml

from vla_bench.cli import main
from vla_bench.config import ConfigError
from vla_bench.ood.sweep import load_sweep

SWEEP = {
    "name": "sw",
    "suites": [{"suite": "scripted", "episodes_per_task": 3}],
    "policies": ["scripted_expert"],
    "sweep": {"perturbations": ["dynamics.latency", "language.paraphrase"], "severities": [2, 5]},
}


def test_sweep_runs_every_cell_on_the_same_identities_and_resumes(tmp_path, capsys):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    assert main(["sweep", str(cfg), "--output", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "dynamics.latency" in printed and "worst case" in printed
    lines = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(lines) == 5 * 9  # clean + 2 perturbations x 2 severities, 9 identities each
    ids = {}
    for d in lines:
        s = d["spec"]
        ids.setdefault(s["perturbation"], set()).add((s["task"], s["init_id"], s["seed"]))
    assert len({frozenset(v) for v in ids.values()}) == 1  # every cell ran the same identities
    assert main(["sweep", str(cfg), "--output", str(out), "--resume", "--no-progress"]) == 0
    assert (out / "episodes.jsonl").read_text().count("\n") == 45


@pytest.mark.parametrize(("mutate", "key"), [
    (lambda d: d["sweep"].update(perturbations=["vision.blurr"]), "sweep.perturbations[0]"),
    (lambda d: d["sweep"].update(severities=[7]), "sweep.severities[0]"),
    (lambda d: d.pop("sweep"), "sweep"),
])
def test_sweep_config_errors(tmp_path, mutate, key):
    data = json.loads(json.dumps(SWEEP))
    mutate(data)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert info.value.key == key


def test_shipped_sweep_configs_validate():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[2] / "configs" / "sweeps").glob("*.yaml")):
        load_sweep(path)
