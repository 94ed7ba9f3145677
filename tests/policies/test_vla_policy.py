"""The learned policy on a tiny checkpoint: every registered decoder, batching, pairing, errors, and a
real Meta-World episode through the runner."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from vla_bench import registries  # noqa: E402
from vla_bench.config import ConfigError, parse_run_config, validate_policy  # noqa: E402
from vla_bench.types import ActionDim, ActionSpec, EpisodeSpec, Observation  # noqa: E402

SPEC = ActionSpec(tuple(ActionDim(n, -1.0, 1.0) for n in ("x", "y", "z")) + (ActionDim("g", -1.0, 1.0, "gripper"),),
                  gripper_index=3)
IN_TREE = ("jd3p", "masked_diffusion", "hierarchical", "one_step", "autoregressive", "jacobi")


def obs(i: int = 0, size: int = 32, camera: str = "primary") -> Observation:
    rng = np.random.default_rng(i)
    return Observation({camera: rng.integers(0, 256, (size, size, 3), dtype=np.uint8)},
                       rng.normal(0, 0.3, 4).astype(np.float32), ["reach the goal", "open the drawer",
                                                                   "push the puck to the goal"][i % 3])


def importable(name: str) -> bool:
    try:
        registries.decoders.get(name)
        return True
    except (KeyError, ImportError):
        return False


def decoder_names() -> list[str]:
    """Every decoder registered now (in-tree ones may still be in progress: skipped until importable)."""
    return sorted(set(registries.decoders.names()) | set(IN_TREE) | {"tiny", "tiny_joint"})


def greedy(name: str) -> dict[str, float]:
    """Decoder kwargs that make a decoder deterministic: every temperature knob at 0."""
    return {k: 0.0 for k in registries.decoders.get(name).Config.model_fields if "temperature" in k}


@pytest.fixture
def make(tiny_checkpoint, tiny_decoders):
    from policies.vla import VLAPolicy

    def build(decoder: str = "tiny", **kwargs):
        if not importable(decoder):
            pytest.skip(f"decoder {decoder!r} is not registered/importable yet")
        return VLAPolicy(checkpoint=str(tiny_checkpoint), decoder=decoder, **kwargs)

    return build


def test_loads_and_describes_itself(make, tiny_checkpoint):
    from policies.checkpoint import digest

    p = make("tiny", execute_steps=1)
    meta = p.metadata()
    assert meta["checkpoint_digest"] == digest(tiny_checkpoint) and meta["decoder"] == "tiny"
    assert meta["decoder_config"] == {"use_cache": True, "seed": 0, "temperature": 0.0}
    assert meta["mean_nfe"] is None
    p.reset(EpisodeSpec("mt10", "reach-v3", 0), SPEC)
    p.act(obs())
    meta = p.metadata()
    assert meta["decode_calls"] == 1 and meta["mean_nfe"] == 2 and meta["mean_decode_ms"] > 0


@pytest.mark.parametrize("decoder", decoder_names())
def test_every_decoder_returns_a_chunk_in_range(make, decoder):
    p = make(decoder)
    p.reset(EpisodeSpec("mt10", "reach-v3", 0), SPEC)
    for i in range(2):
        a = p.act(obs(i))
        assert a.shape == (2, 4) and a.dtype == np.float32
        assert np.all(a >= -1.0) and np.all(a <= 1.0) and np.all(np.isin(a[:, 3], [-1.0, 1.0]))
    assert p.metadata()["mean_nfe"] >= 1
    short = make(decoder, execute_steps=1)
    short.reset(EpisodeSpec("mt10", "reach-v3", 0), SPEC)
    assert short.act(obs()).shape == (1, 4)


@pytest.mark.parametrize("decoder", decoder_names())
def test_act_batch_equals_act_row_by_row_when_deterministic(make, decoder):
    p = make(decoder, decoder_kwargs=greedy(decoder) if importable(decoder) else {})
    episodes = [EpisodeSpec("mt10", "reach-v3", i) for i in range(3)]
    single = []
    for i, ep in enumerate(episodes):
        p.reset(ep, SPEC)
        single.append(p.act(obs(i)))
    for i, ep in enumerate(episodes):
        p.reset_session(f"s{i}", ep, SPEC)
    batch = p.act_batch([(f"s{i}", obs(i)) for i in range(3)])
    for a, b in zip(single, batch):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert len({a.tobytes() for a in single}) > 1, "rows should differ, or the comparison proves nothing"


def test_served_through_the_batch_adapter_as_one_instance(make):
    from vla_bench.transport.batching import as_batch_policy

    built = []
    server_side = as_batch_policy(lambda: built.append(make("tiny")) or built[-1])
    assert server_side is built[0] and len(built) == 1
    server_side.reset_session("a", EpisodeSpec("mt10", "reach-v3", 0), SPEC)
    assert server_side.act_batch([("a", obs())])[0].shape == (2, 4)
    server_side.close_session("a")
    with pytest.raises(RuntimeError, match="act before reset"):
        server_side.act_batch([("a", obs())])


def test_same_episode_identity_same_noise(make):
    p = make("tiny", decoder_kwargs={"temperature": 1.0})

    def rollout(ep):
        p.reset(ep, SPEC)
        return np.concatenate([p.act(obs(i)) for i in range(4)])

    ep = EpisodeSpec("mt10", "reach-v3", 3, seed=1)
    first = rollout(ep)
    assert np.array_equal(first, rollout(ep))
    assert np.array_equal(first, rollout(EpisodeSpec("mt10", "reach-v3", 3, "vision.blur@2", seed=1)))
    assert not np.array_equal(first, rollout(EpisodeSpec("mt10", "reach-v3", 3, seed=2)))


@pytest.mark.parametrize(
    ("kwargs", "key", "fragment"),
    [
        ({"decoder_kwargs": {"temperatur": 1.0}}, "kwargs.decoder_kwargs.temperatur", "did you mean 'temperature'"),
        ({"decoder_kwargs": {"temperature": -1}}, "kwargs.decoder_kwargs.temperature", "greater than or equal"),
        ({"decoder": "tinny"}, "kwargs.decoder", "did you mean 'tiny'"),
        ({"execute_step": 2}, "kwargs.execute_step", "did you mean 'execute_steps'"),
        ({"execute_steps": 0}, "kwargs.execute_steps", "greater than 0"),
    ],
)
def test_config_errors_name_the_bad_key(tiny_checkpoint, tiny_decoders, kwargs, key, fragment):
    entry = {"type": "vla", "kwargs": {"checkpoint": str(tiny_checkpoint), "decoder": "tiny", **kwargs}}
    with pytest.raises(ConfigError) as info:
        validate_policy(entry, "p.yaml", "")
    assert info.value.key == key and fragment in str(info.value), str(info.value)


def test_valid_config_is_normalized_with_the_decoders_defaults(tiny_checkpoint, tiny_decoders):
    entry = {"type": "vla", "kwargs": {"checkpoint": str(tiny_checkpoint), "decoder": "tiny"}}
    cfg = validate_policy(entry, "p.yaml", "")
    assert cfg.kwargs["decoder_kwargs"] == {"use_cache": True, "seed": 0, "temperature": 0.0}


def test_clear_errors_for_camera_action_spec_state_and_path(make, tmp_path):
    p = make("tiny")
    with pytest.raises(ValueError, match=r"predicts 4-dim actions but the env's action spec has 3"):
        p.reset(EpisodeSpec("x", "t", 0), ActionSpec(SPEC.dims[:3]))
    p.reset(EpisodeSpec("mt10", "reach-v3", 0), SPEC)
    with pytest.raises(KeyError, match=r"no camera 'primary' \(has \['wrist'\]\).*trained on cameras \['primary'\]"):
        p.act(obs(camera="wrist"))
    bad_state = Observation({"primary": np.zeros((8, 8, 3), np.uint8)}, np.zeros(39, np.float32), "x")
    with pytest.raises(ValueError, match=r"state has shape \(39,\).*expects \(4,\)"):
        p.act(bad_state)
    with pytest.raises(ValueError, match="exceeds the checkpoint's chunk of 2"):
        make("tiny", execute_steps=3)
    from policies.vla import VLAPolicy

    from policies.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="not a vla_bench checkpoint directory"):
        VLAPolicy(checkpoint=str(tmp_path / "nope"), decoder="tiny")


def test_predicted_future_images_are_saved_beside_the_current_frame(make, tmp_path):
    from PIL import Image

    p = make("tiny_joint", future_images_dir=str(tmp_path / "future"))
    p.reset(EpisodeSpec("mt10", "reach-v3", 0), SPEC)
    for i in range(2):
        p.act(obs(i, size=48))
    pngs = sorted((tmp_path / "future" / "vla-tiny_joint").rglob("*.png"))
    assert [f.name for f in pngs] == ["step_0000.png", "step_0001.png"]
    w, h = Image.open(pngs[0]).size
    assert w > 1.9 * h  # two tiles side by side
    assert "mt10_reach-v3_0_none_0" in str(pngs[0])
    silent = make("tiny", future_images_dir=str(tmp_path / "none"))  # predicts no image: writes nothing
    silent.reset(EpisodeSpec("mt10", "reach-v3", 0), SPEC)
    silent.act(obs())
    assert not (tmp_path / "none").exists()


@pytest.mark.sim
def test_real_metaworld_episode_through_the_runner(tiny_checkpoint, tiny_decoders, tmp_path):
    """The run config path users take: a vla entry, the runner, a real simulator, records on disk."""
    pytest.importorskip("metaworld")
    from vla_bench import records
    from vla_bench.runner import run

    decoders = ["tiny"] + [d for d in ("jd3p", "autoregressive") if importable(d)][:1]
    cfg = parse_run_config({
        "name": "vla-e2e",
        "suites": [{"suite": "mt10", "tasks": ["reach-v3"], "episodes_per_task": 1, "max_steps": 12,
                    "env": {"cameras": {"primary": "corner"}, "image_size": [32, 32], "fast_render": True}}],
        "policies": [{"type": "vla", "name": f"vla-{d}", "kwargs": {"checkpoint": str(tiny_checkpoint),
                                                                    "decoder": d, "threads": 1}}
                     for d in decoders],
    }, "test")
    summary = run(cfg, tmp_path / "run", progress=False)
    assert len(summary.results) == len(decoders)
    for r in summary.results:
        assert r.status.value in ("timeout", "success", "failure"), r.error
        assert r.steps == 12 or r.status.value != "timeout"
    manifest = records.read_manifest(tmp_path / "run")
    assert set(manifest["checkpoints"]) == {f"vla-{d}.checkpoint" for d in decoders}


@pytest.mark.parametrize("damage", ["truncate_weights", "garbage_config", "drop_norm", "garbage_tokenizer",
                                    "wrong_shapes"])
def test_a_damaged_checkpoint_is_one_error_naming_the_file(tiny_checkpoint, tiny_decoders, tmp_path, damage):
    import json
    import shutil

    from policies.checkpoint import CheckpointError
    from policies.vla import VLAPolicy

    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    weights = ckpt / "model.safetensors"
    target = {
        "truncate_weights": weights, "garbage_config": ckpt / "config.json", "drop_norm": ckpt / "norm_stats.json",
        "garbage_tokenizer": ckpt / "tokenizers" / "text", "wrong_shapes": weights,
    }[damage]
    if damage == "truncate_weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "garbage_config":
        (ckpt / "config.json").write_text("{not json")
    elif damage == "drop_norm":
        (ckpt / "norm_stats.json").unlink()
    elif damage == "garbage_tokenizer":
        for f in (ckpt / "tokenizers" / "text").iterdir():
            f.write_bytes(b"\xff\xfe garbage")
    else:
        cfg = json.loads((ckpt / "config.json").read_text())
        cfg["backbone"]["d_model"] = cfg["backbone"]["d_model"] * 2
        (ckpt / "config.json").write_text(json.dumps(cfg))
        target = weights
    with pytest.raises(CheckpointError) as err:
        VLAPolicy(checkpoint=str(ckpt), decoder="tiny")
    msg = str(err.value)
    assert str(target) in msg and "\n" not in msg and "Traceback" not in msg
