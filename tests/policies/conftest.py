"""A tiny checkpoint built in a second (random backbone and VQ; text words and norm stats fitted on
synthetic data) and tiny decoders, so the learned-policy path is tested without training."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

TINY_SEQUENCE = {"text_len": 8, "state_dim": 4, "image_tokens": 4, "future_tokens": 4, "chunk": 2, "action_dim": 4}


def make_tiny_checkpoint(directory) -> Any:
    """A checkpoint in the layout ``vla-bench train`` writes, with Meta-World's 4-dim state and action."""
    import torch

    from envs.metaworld_suites import INSTRUCTIONS
    from policies import checkpoint
    from policies.backbone import Backbone, BackboneConfig
    from policies.tokenizers.image import ImageTokenizer, ImageTokenizerConfig
    from policies.tokenizers.text import WordTextTokenizer
    from policies.vocab import Vocab
    from vla_bench.types import NormStats

    rng = np.random.default_rng(0)
    text = WordTextTokenizer.fit(INSTRUCTIONS.values())
    image = ImageTokenizer(ImageTokenizerConfig(image_size=16, patch=8, codebook_size=16, code_dim=8, hidden=16))
    # not fitted: the VQ only has to decode codes to pictures here, and fitting pulls in torch's optimizer stack
    vocab = Vocab(text=text.vocab_size, state=16, image=image.vocab_size, action=16)
    backbone = BackboneConfig(vocab=vocab, d_model=32, n_layers=1, n_heads=2, max_len=64, image_size=16,
                              image_grid=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Backbone(backbone)
        for param in model.parameters():  # far from the 0.02 init, so outputs depend on the observation
            if param.dim() > 1:
                torch.nn.init.normal_(param, std=0.3)
    actions = rng.uniform(-1, 1, (256, 4))
    states = rng.normal(0, 0.3, (256, 4))
    cfg = checkpoint.CheckpointConfig(
        backbone=backbone.to_dict(),
        sequence=dict(TINY_SEQUENCE),
        preprocess={"cameras": ["primary"], "image_size": 16, "future_image_size": 16,
                    "future_offset": TINY_SEQUENCE["chunk"]},
        action_bins=16, state_bins=16, gripper_index=3, text_tokenizer="text_words",
    )
    norm = {"action": NormStats.from_data(actions), "state": NormStats.from_data(states)}
    return checkpoint.save(directory, model, cfg, norm, {"text": text, "image": image})


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    pytest.importorskip("torch")
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


def _tiny_decoders() -> None:
    """``tiny``: one forward, argmax (or a sample at ``temperature``); ``tiny_joint`` also predicts the future image."""
    from pydantic import Field

    from policies.decoders.base import Decoder, DecoderConfig, sample
    from vla_bench.registries import decoders

    class TinyConfig(DecoderConfig):
        temperature: float = Field(0.0, ge=0.0)

    class Tiny(Decoder):
        name: ClassVar[str] = "tiny"
        Config = TinyConfig

        def run(self, req):
            logits = self.region_logits(req, req.region.ids)
            out = req.region.ids.clone()
            info = {}
            for modality in ("image", "action"):
                pos = req.region.positions(modality)
                if pos.numel():
                    local = sample(self.restrict(logits, req.vocab, modality)[:, pos], self.config.temperature,
                                   req.generator)
                    out[:, pos] = req.vocab.to_global(modality, local)
            if self.region == "image+action":
                info["future_image"] = req.vocab.to_local("image", out[:, req.region.positions("image")])
            return out, info

    class TinyJoint(Tiny):
        name: ClassVar[str] = "tiny_joint"
        region: ClassVar[str] = "image+action"

    for cls in (Tiny, TinyJoint):
        if cls.name not in decoders:
            decoders.add(cls.name, cls, origin="tests/policies/conftest.py")


@pytest.fixture(scope="session")
def tiny_decoders():
    pytest.importorskip("torch")
    _tiny_decoders()
    return ("tiny", "tiny_joint")
