"""Autoregressive and Jacobi decoders on random-init backbones: cache equivalence, offsets, fixed points."""

from __future__ import annotations

import pytest
import torch

from policies import sequence
from policies.backbone import Backbone, BackboneConfig
from policies.decoders.autoregressive import Autoregressive
from policies.decoders.base import DecodeRequest
from policies.decoders.jacobi import Jacobi
from policies.vocab import Vocab

VOCAB = Vocab(text=16, state=8, image=8, action=32)


def make(seed: int, batch: int, pred_offset: int = 1, chunk: int = 3, action_dim: int = 2):
    torch.manual_seed(seed)
    cfg = BackboneConfig(VOCAB, d_model=32, n_layers=2, n_heads=2, pred_offset=pred_offset, image_size=16,
                         image_grid=2, max_len=128)
    model = Backbone(cfg).eval()
    # a larger head spreads the logits so greedy choices are not near-ties
    with torch.no_grad():
        model.head.weight.mul_(20.0)
    spec = sequence.SequenceSpec(VOCAB, text_len=4, state_dim=2, image_tokens=cfg.image_tokens, future_tokens=4,
                                 chunk=chunk, action_dim=action_dim)
    g = torch.Generator().manual_seed(seed)
    text = [torch.randint(0, VOCAB.text, (1 + i % 4,), generator=g).tolist() for i in range(batch)]
    state = torch.randint(0, VOCAB.state, (batch, spec.state_dim), generator=g)
    images = torch.rand(batch, 1, 3, 16, 16, generator=g)
    return model, spec, sequence.prefix(spec, text, state), images


def request(model, spec, prefix, images, seed=0, region="action"):
    b = prefix.ids.shape[0]
    return DecodeRequest(model, VOCAB, prefix, sequence.region(spec, region, b), images,
                         torch.Generator().manual_seed(seed))


def reference_greedy(model, spec, prefix, images):
    """Greedy AR by brute force: the full sequence every step, no cache, no decoder code."""
    b = prefix.ids.shape[0]
    region = sequence.region(spec, "action", b)
    ids = region.ids.clone()
    rng = VOCAB.range("action")
    for j in range(1, region.length - 1):
        full = sequence.concat(prefix, region.with_ids(ids))
        out = model(full.ids, full.segment, full.causal, "causal", images=images, pad=full.pad)
        pos = prefix.length + j - model.pred_offset
        ids[:, j] = out.logits[:, pos, rng.start:rng.stop].argmax(-1) + rng.start
    return ids


@pytest.mark.parametrize("offset", [1, 0])
@pytest.mark.parametrize("batch", [1, 3])
def test_autoregressive_matches_brute_force_with_and_without_cache(offset, batch):
    model, spec, prefix, images = make(1, batch, offset)
    want = reference_greedy(model, spec, prefix, images)
    for use_cache in (True, False):
        res = Autoregressive(use_cache=use_cache).decode(request(model, spec, prefix, images))
        assert torch.equal(res.tokens, want)
        assert res.nfe == spec.action_tokens
    r = res.tokens
    assert (r[:, 0] == VOCAB.special("soa")).all() and (r[:, -1] == VOCAB.special("eoa")).all()
    body = r[:, 1:-1]
    assert ((body >= VOCAB.range("action").start) & (body < VOCAB.range("action").stop)).all()


def test_autoregressive_sampling_is_seeded_and_in_range():
    model, spec, prefix, images = make(2, 2)
    a = Autoregressive(temperature=1.0).decode(request(model, spec, prefix, images, seed=5)).tokens
    b = Autoregressive(temperature=1.0).decode(request(model, spec, prefix, images, seed=5)).tokens
    c = Autoregressive(temperature=50.0).decode(request(model, spec, prefix, images, seed=6)).tokens
    assert torch.equal(a, b)
    rng = VOCAB.range("action")
    assert ((c[:, 1:-1] >= rng.start) & (c[:, 1:-1] < rng.stop)).all()
    greedy = Autoregressive().decode(request(model, spec, prefix, images)).tokens
    assert not torch.equal(c, greedy)  # hot sampling departs from greedy (p of a tie ~ 32^-12)


def test_autoregressive_cache_holds_only_committed_tokens():
    """pred_offset 0: the mask slot's key/value never stays in the cache."""
    model, spec, prefix, images = make(3, 2, pred_offset=0)
    lengths = []
    orig = model.forward

    def spy(ids, segment, causal, layout, cache=None, **kw):
        lengths.append((0 if cache is None else cache.length, ids.shape[1]))
        return orig(ids, segment, causal, layout, cache=cache, **kw)

    model.forward = spy
    Autoregressive().decode(request(model, spec, prefix, images))
    p = prefix.ids.shape[1]
    assert lengths[0] == (0, p + 2)  # prefix + soa + first slot (mask)
    assert lengths[1:] == [(p + j, 2) for j in range(1, spec.action_tokens)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("init", ["mask", "random"])
def test_jacobi_equals_greedy_autoregressive(seed, batch, init):
    model, spec, prefix, images = make(seed, batch, chunk=4, action_dim=2)
    ar = Autoregressive().decode(request(model, spec, prefix, images))
    jac = Jacobi(init=init).decode(request(model, spec, prefix, images, seed=seed))
    assert torch.equal(jac.tokens, ar.tokens)
    n = spec.action_tokens
    assert jac.info["converged"] == [True]
    assert 1 <= jac.info["iterations"][0] <= n
    assert len(jac.info["row_iterations"][0]) == batch
    assert max(jac.info["row_iterations"][0]) == jac.info["iterations"][0]
    assert jac.nfe == 1 + jac.info["iterations"][0]
    # the cache fed to every iteration is the prefix + soa: never grown by rejected guesses
    assert jac.info["cache_lengths"] == [prefix.length + 1] * jac.info["iterations"][0]


def test_jacobi_rows_converge_independently():
    seen = set()
    for seed in range(6):
        model, spec, prefix, images = make(seed, 3, chunk=4, action_dim=2)
        ar = Autoregressive().decode(request(model, spec, prefix, images)).tokens
        jac = Jacobi(init="random").decode(request(model, spec, prefix, images, seed=seed))
        assert torch.equal(jac.tokens, ar)
        seen.add(len(set(jac.info["row_iterations"][0])) > 1)
    assert True in seen  # at least one batch had rows converging at different iterations


@pytest.mark.parametrize("block_size", [1, 3, 8])
@pytest.mark.parametrize("use_cache", [True, False])
def test_jacobi_blocks_and_no_cache(block_size, use_cache):
    model, spec, prefix, images = make(4, 2, chunk=4, action_dim=2)
    ar = Autoregressive().decode(request(model, spec, prefix, images)).tokens
    jac = Jacobi(block_size=block_size, use_cache=use_cache, init="random").decode(
        request(model, spec, prefix, images, seed=1))
    assert torch.equal(jac.tokens, ar)
    n = spec.action_tokens
    assert len(jac.info["iterations"]) == -(-n // block_size)
    if use_cache:  # each block starts on the committed cache: prefix + soa + earlier blocks
        starts = [prefix.length + 1 + k * block_size for k in range(len(jac.info["iterations"]))]
        want = [s for s, it in zip(starts, jac.info["iterations"]) for _ in range(it)]
        assert jac.info["cache_lengths"] == want


def test_jacobi_max_iter_cap_still_returns_tokens():
    model, spec, prefix, images = make(5, 2, chunk=4, action_dim=2)
    jac = Jacobi(max_iter=2, init="random").decode(request(model, spec, prefix, images))
    assert jac.info["iterations"] == [2]
    assert jac.nfe == 3
    assert not (jac.tokens == VOCAB.special("mask")).any()


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("block_size", [None, 3])
def test_jacobi_aligned_head_equals_autoregressive(batch, block_size):
    model, spec, prefix, images = make(6, batch, pred_offset=0, chunk=3, action_dim=2)
    for use_cache in (True, False):
        ar = Autoregressive(use_cache=use_cache).decode(request(model, spec, prefix, images)).tokens
        jac = Jacobi(block_size=block_size, use_cache=use_cache).decode(request(model, spec, prefix, images))
        assert torch.equal(jac.tokens, ar)


def test_registered():
    from vla_bench.registries import decoders

    assert decoders.get("autoregressive") is Autoregressive
    assert decoders.get("jacobi") is Jacobi
