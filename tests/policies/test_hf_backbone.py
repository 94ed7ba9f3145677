"""The transformers wrapper honours the backbone contract: layouts, cache, images, every decoder."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest
import torch

pytest.importorskip("transformers")

from policies import sequence  # noqa: E402
from policies.decoders.base import DecodeRequest  # noqa: E402
from policies.hf_backbone import HFBackbone, tiny_llama  # noqa: E402
from policies.vocab import Vocab  # noqa: E402

VOCAB = Vocab(text=16, state=8, image=8, action=32)


@pytest.fixture(scope="module")
def setup():
    model = tiny_llama(VOCAB, image_size=16, image_grid=2, seed=0, max_len=128)
    spec = sequence.SequenceSpec(VOCAB, text_len=4, state_dim=2, image_tokens=4, future_tokens=4, chunk=3,
                                 action_dim=2)
    g = torch.Generator().manual_seed(0)
    prefix = sequence.prefix(spec, [[1, 2], [3], [4, 5, 6]], torch.randint(0, 8, (3, 2), generator=g))
    images = torch.rand(3, 1, 3, 16, 16, generator=g)
    return model, spec, prefix, images


def test_builder_is_a_llama_with_our_vocab(setup):
    model = setup[0]
    assert isinstance(model, HFBackbone)
    assert model.lm.config.vocab_size == VOCAB.size and model.lm.config.hidden_size == 64
    assert model.lm.config.num_hidden_layers == 2 and model.lm.config.num_attention_heads == 4
    assert model.pred_offset == 1 and model.config.vocab == VOCAB


@pytest.mark.parametrize("layout", ["causal", "bidirectional", "hybrid"])
def test_runs_under_every_layout(setup, layout):
    model, spec, prefix, images = setup
    full = sequence.concat(prefix, sequence.region(spec, "image+action", 3))
    with torch.no_grad():
        out = model(full.ids, full.segment, full.causal, layout, images=images, pad=full.pad)
    assert out.logits.shape == (3, full.length, VOCAB.size)
    assert torch.isfinite(out.logits).all()


@pytest.mark.parametrize("layout", ["causal", "hybrid"])
def test_cache_matches_full_forward(setup, layout):
    model, spec, prefix, images = setup
    region = sequence.region(spec, "image+action", 3)
    body = torch.randint(VOCAB.range("action").start, VOCAB.range("action").stop, (3, region.length))
    region = region.with_ids(torch.where(region.ids == VOCAB.special("mask"), body, region.ids))
    full = sequence.concat(prefix, region)
    with torch.no_grad():
        want = model(full.ids, full.segment, full.causal, layout, images=images, pad=full.pad).logits
        pre = model(prefix.ids, prefix.segment, prefix.causal, layout, images=images, pad=prefix.pad, use_cache=True)
        assert pre.cache.length == prefix.length and len(pre.cache.keys) == 2
        torch.testing.assert_close(pre.logits, want[:, :prefix.length], atol=1e-4, rtol=0)
        # the region in two steps on top of the cache, then with a cropped and a repeated cache
        k = spec.future_tokens + 2  # a block boundary: under hybrid a block's keys need the whole block
        a = model(region.ids[:, :k], region.segment[:, :k], region.causal[:, :k], layout, cache=pre.cache,
                  pad=region.pad[:, :k], use_cache=True)
        b = model(region.ids[:, k:], region.segment[:, k:], region.causal[:, k:], layout, cache=a.cache,
                  pad=region.pad[:, k:], use_cache=True)
        assert b.cache.length == full.length
        torch.testing.assert_close(a.logits, want[:, prefix.length:prefix.length + k], atol=1e-4, rtol=0)
        torch.testing.assert_close(b.logits, want[:, prefix.length + k:], atol=1e-4, rtol=0)
        again = model(region.ids, region.segment, region.causal, layout, cache=b.cache.crop(prefix.length),
                      pad=region.pad)
        torch.testing.assert_close(again.logits, want[:, prefix.length:], atol=1e-4, rtol=0)
        rep = model(region.ids.repeat_interleave(2, 0), region.segment.repeat_interleave(2, 0),
                    region.causal.repeat_interleave(2, 0), layout, cache=pre.cache.repeat(2),
                    pad=region.pad.repeat_interleave(2, 0))
        torch.testing.assert_close(rep.logits, want[:, prefix.length:].repeat_interleave(2, 0), atol=1e-4, rtol=0)


def test_hybrid_is_bidirectional_inside_the_action_block(setup):
    model, spec, prefix, images = setup
    lo = VOCAB.range("action").start
    tokens = torch.arange(spec.action_tokens).repeat(3, 1) % VOCAB.action
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 7) % VOCAB.action  # the last action token only
    diffs = {}
    for layout in ("hybrid", "causal"):
        outs = []
        for t in (tokens, changed):
            full = sequence.concat(prefix, sequence.action_block(spec, 3, t))
            with torch.no_grad():
                outs.append(model(full.ids, full.segment, full.causal, layout, images=images, pad=full.pad).logits)
        first_action = prefix.length + 1
        diffs[layout] = (outs[0][:, first_action] - outs[1][:, first_action]).abs().max().item()
        assert torch.equal(outs[0][:, :prefix.length], outs[1][:, :prefix.length])  # prefix never sees it
    assert diffs["hybrid"] > 1e-5
    assert diffs["causal"] == 0.0
    assert lo > 0


def test_images_enter_through_the_encoder(setup):
    model, spec, prefix, images = setup
    with torch.no_grad():
        a = model(prefix.ids, prefix.segment, prefix.causal, "causal", images=images, pad=prefix.pad).logits
        b = model(prefix.ids, prefix.segment, prefix.causal, "causal", images=1 - images, pad=prefix.pad).logits
    assert not torch.allclose(a[:, -1], b[:, -1])
    with pytest.raises(ValueError, match="no images"):
        model(prefix.ids, prefix.segment, prefix.causal, "causal", pad=prefix.pad)
    with pytest.raises(ValueError, match="only exact"):
        pre = model(prefix.ids, prefix.segment, prefix.causal, "causal", images=images, pad=prefix.pad, use_cache=True)
        model(prefix.ids[:, :1], prefix.segment[:, :1], prefix.causal[:, :1], "bidirectional", cache=pre.cache)


def _decoder_classes():
    from vla_bench.registries import decoders

    out = []
    for name in decoders.names():
        target = decoders.target(name)
        module = target.partition(":")[0]
        try:
            exists = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            exists = False
        out.append(pytest.param(name, marks=pytest.mark.skip(reason=f"{module} not written yet"))
                   if not exists else name)
    return out


@pytest.mark.parametrize("name", _decoder_classes())
def test_every_registered_decoder_runs_on_it(setup, name):
    from vla_bench.registries import decoders

    model, spec, prefix, images = setup
    cls = decoders.get(name)
    dec = cls()
    region = sequence.region(spec, cls.region, 3)
    kw = {}
    if "action_dim" in {f.name for f in dataclasses.fields(DecodeRequest)}:
        kw["action_dim"] = spec.action_dim
    req = DecodeRequest(model, VOCAB, prefix, region, images, torch.Generator().manual_seed(0), **kw)
    res = dec.decode(req)
    assert res.tokens.shape == region.ids.shape
    assert res.nfe >= 1
    act = region.positions("action")
    rng = VOCAB.range("action")
    assert ((res.tokens[:, act] >= rng.start) & (res.tokens[:, act] < rng.stop)).all()


def test_jacobi_equals_autoregressive_on_llama(setup):
    from policies.decoders.autoregressive import Autoregressive
    from policies.decoders.jacobi import Jacobi

    model, spec, prefix, images = setup
    def req():
        return DecodeRequest(model, VOCAB, prefix, sequence.region(spec, "action", 3), images,
                             torch.Generator().manual_seed(0))
    ar = Autoregressive().decode(req())
    assert torch.equal(Autoregressive(use_cache=False).decode(req()).tokens, ar.tokens)
    assert torch.equal(Jacobi(init="random").decode(req()).tokens, ar.tokens)
