"""The README's "Registering a new decoder", step by step: the example plugin outside the package, its
registration, and a real Meta-World episode with it through the runner."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_importing_the_example_registers_it():
    from vla_bench.registries import decoders

    sys.path.insert(0, str(EXAMPLES))
    try:
        import margin_decoder
    finally:
        sys.path.remove(str(EXAMPLES))
    assert decoders.get("margin") is margin_decoder.MarginDecoder
    assert "margin" in decoders.names()


@pytest.mark.sim
def test_margin_decoder_runs_a_metaworld_episode_from_the_example_config(tiny_checkpoint, tmp_path):
    """examples/margin.yaml as shipped, with the tiny checkpoint and a 12-step budget."""
    pytest.importorskip("metaworld")
    from vla_bench.config import parse_run_config
    from vla_bench.runner import run

    data = yaml.safe_load((EXAMPLES / "margin.yaml").read_text())
    data["suites"][0].update(tasks=["reach-v3"], episodes_per_task=1, max_steps=12,
                             env={**data["suites"][0]["env"], "image_size": [32, 32]})
    data["policies"][0]["kwargs"]["checkpoint"] = str(tiny_checkpoint)
    data["workers"] = 1
    cfg = parse_run_config(data, "examples/margin.yaml", base=EXAMPLES)  # imports the plugin first
    assert cfg.plugins == (str(EXAMPLES / "margin_decoder.py"),)
    assert cfg.policies[0].kwargs["decoder_kwargs"] == {"use_cache": True, "seed": 0, "steps": 4, "temperature": 0.0}
    summary = run(cfg, tmp_path / "run", progress=False)
    (result,) = summary.results
    assert result.policy == "vla-margin" and result.status.value in ("timeout", "success"), result.error
    assert result.steps == 12 or result.status.value == "success"


def test_margin_commits_every_position_in_steps_forward_passes(tiny_checkpoint):
    import numpy as np

    from policies.vla import VLAPolicy
    from vla_bench.types import ActionDim, ActionSpec, EpisodeSpec, Observation

    test_importing_the_example_registers_it()
    spec = ActionSpec(tuple(ActionDim(n, -1, 1) for n in "xyzg"), gripper_index=3)
    for steps, nfe in ((1, 2), (3, 4), (12, 9)):  # + the prefill; at most one pass per token (8 here)
        p = VLAPolicy(checkpoint=str(tiny_checkpoint), decoder="margin", decoder_kwargs={"steps": steps})
        p.reset(EpisodeSpec("mt10", "reach-v3", 0), spec)
        a = p.act(Observation({"primary": np.zeros((16, 16, 3), np.uint8)}, np.zeros(4, np.float32), "reach"))
        assert a.shape == (2, 4) and p.metadata()["mean_nfe"] == nfe
