import json

import numpy as np
import pytest

pytest.importorskip("metaworld")
h5py = pytest.importorskip("h5py")


@pytest.mark.sim
def test_collect_writes_robomimic_hdf5(tmp_path):
    from vla_bench.cli import main

    out = tmp_path / "demos"
    assert main(["collect", "--suite", "mt10", "--tasks", "reach-v3", "--init-ids", "40", "43",
                 "--output", str(out), "--image-size", "24", "32", "--fast-render"]) == 0
    with h5py.File(out / "reach-v3.hdf5") as f:
        assert f.attrs["instruction"] == "reach the goal position" and f.attrs["total"] == 2
        assert json.loads(f.attrs["action_spec"])["gripper_convention"] == "+1 open, -1 close"
        demos = sorted(f["data"])
        assert demos == ["demo_0", "demo_1"]
        d = f["data/demo_1"]
        t = d.attrs["num_samples"]
        assert d.attrs["init_id"] == 43 and d.attrs["success"]
        assert d.attrs["instruction"] == f.attrs["instruction"] and f["data/demo_0"].attrs["init_id"] == 40
        assert json.loads(f.attrs["env_kwargs"])["image_size"] == [24, 32]
        assert d["obs/primary_rgb"].shape == (t, 24, 32, 3) and d["obs/primary_rgb"].dtype == np.uint8
        assert d["obs/state"].shape == (t, 4) and d["actions"].shape == (t, 4)
        assert d["dones"][-1] == 1 and d["dones"][:-1].sum() == 0
        assert np.abs(d["actions"][:]).max() <= 1.0
    stats = json.loads((out / "norm_stats.json").read_text())["mt10"]
    assert len(stats["action"]["q01"]) == 4 and all(lo <= hi for lo, hi in zip(stats["action"]["q01"],
                                                                           stats["action"]["q99"]))
    assert json.loads((out / "manifest.json").read_text())["demos_per_task"] == {"reach-v3": 2}


@pytest.mark.sim
def test_collect_rejects_bad_input(tmp_path):
    from vla_bench.collect import CollectConfig, collect
    from vla_bench.config import ConfigError

    with pytest.raises(ValueError, match="not in suite"):
        collect(CollectConfig("mt10", tmp_path, tasks=("drawer-opne-v3",)))
    with pytest.raises(ConfigError, match="image_sise"):
        collect(CollectConfig("mt10", tmp_path, env_kwargs={"image_sise": (8, 8)}))
