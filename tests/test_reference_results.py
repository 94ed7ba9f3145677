"""The committed reference run matches what is shipped: the quickstart config and the checkpoint."""

import json
from pathlib import Path

from vla_bench.config import load_run_config
from vla_bench.manifest import checkpoint_hashes, config_hash

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "results" / "reference" / "quickstart"


def test_reference_run_comes_from_the_shipped_config_and_checkpoint(monkeypatch):
    monkeypatch.chdir(ROOT)  # policy configs name the checkpoint relative to the repository root
    manifest = json.loads((REFERENCE / "run.json").read_text())
    cfg = load_run_config(ROOT / "configs" / "quickstart.yaml")
    assert manifest["config_hash"] == config_hash(cfg), "configs/quickstart.yaml changed since the reference run"
    assert manifest["checkpoints"] == checkpoint_hashes(cfg), "checkpoints/ changed since the reference run"
    assert not str(manifest["git_sha"]).endswith("-dirty"), "the reference run must come from a clean commit"
    lines = (REFERENCE / "episodes.jsonl").read_text().splitlines()
    assert len({(json.loads(x)["policy"], json.dumps(json.loads(x)["spec"])) for x in lines}) == \
        manifest["planned_episodes"]
