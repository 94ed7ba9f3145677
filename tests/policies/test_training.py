"""`vla-bench train` on real Meta-World demonstrations made here: checkpoints, resume, bad configs."""

import json

import numpy as np
import pytest
import yaml

pytest.importorskip("metaworld")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    from vla_bench.collect import CollectConfig, collect

    out = tmp_path_factory.mktemp("demos")
    collect(CollectConfig("mt10", out, tasks=("reach-v3", "drawer-close-v3"), init_ids=(30,), max_steps=40,
                          keep_failures=True, env_kwargs={"image_size": (32, 32), "fast_render": True}),
            log=lambda _: None)
    return out


def _config(tmp_path, demos, name, **over):
    cfg = {"data": [str(demos)], "output": str(tmp_path / name), "image_size": 16, "image_grid": 2,
           "future_image_size": 16, "vq_patch": 8, "vq_codebook": 16, "vq_steps": 3, "vq_frames": 64,
           "chunk": 2, "text_len": 6, "action_bins": 16, "state_bins": 16,
           "model": {"d_model": 32, "n_layers": 1, "n_heads": 2}, "steps": 4, "batch_size": 6,
           "checkpoint_every": 2, "log_every": 1, "threads": 1} | over
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.sim
def test_train_writes_a_loadable_checkpoint(tmp_path, demos):
    from policies import checkpoint as ckpt
    from vla_bench.cli import main

    assert main(["train", str(_config(tmp_path, demos, "a")), "--no-progress"]) == 0
    out = tmp_path / "a"
    cfg = ckpt.load_config(out)
    assert cfg.sequence == {"text_len": 6, "state_dim": 4, "image_tokens": 4, "future_tokens": 4, "chunk": 2,
                            "action_dim": 4}
    assert cfg.preprocess["cameras"] == ["primary"] and cfg.gripper_index == 3
    model = ckpt.load_model(out)
    assert model.config.vocab.action == 16 and model.pred_offset == 1
    assert set(ckpt.load_norm(out)) == {"action", "state"}
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) for r in log)
    assert {"joint_loss", "action_masked_loss", "causal_loss", "joint_image_acc"} <= set(log[-1])
    assert (out / "tokenizers" / "text" / "tokenizer.json").is_file()
    assert (out / "tokenizers" / "image" / "tokenizer.json").is_file()


@pytest.mark.sim
def test_resume_continues_exactly(tmp_path, demos):
    from safetensors.torch import load_file

    from vla_bench.cli import main

    straight = _config(tmp_path, demos, "straight")
    assert main(["train", str(straight), "--no-progress"]) == 0
    split = _config(tmp_path, demos, "split")
    assert main(["train", str(split), "--steps", "2", "--no-progress"]) == 0
    assert main(["train", str(split), "--resume", "--no-progress"]) == 0
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "split" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_training_config_names_the_key(tmp_path, capsys):
    from vla_bench.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"data": ["x"], "output": "y", "stpes": 3}))
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "stpes" in err and "steps" in err
    path.write_text(yaml.safe_dump({"data": ["x"], "output": "y", "objectives": {"diffusion": 1.0}}))
    assert main(["train", str(path)]) == 2
    assert "unknown objectives ['diffusion']" in capsys.readouterr().err


def test_missing_demonstrations_are_named(tmp_path):
    from policies.training.data import demo_files

    with pytest.raises(FileNotFoundError, match="vla-bench collect"):
        demo_files([tmp_path / "nowhere"])
    with pytest.raises(FileNotFoundError, match="no .hdf5"):
        demo_files([tmp_path])
