"""The masked-token decoders: jd3p, masked_diffusion, hierarchical, one_step.

A tiny random backbone checks the contract (no mask left, tokens in their modality's range, markers
kept, determinism, cache exactness, NFE); a planted fake model whose logits favour a known sequence
checks that each algorithm recovers it and that its particular rules (eoa fill, re-masking, action
order) do what the docs say.
"""

from __future__ import annotations

from typing import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from torch import nn

from policies.backbone import Backbone, BackboneConfig, BackboneOutput, KVCache
from policies.decoders.base import DecodeRequest
from policies.decoders.hierarchical import Hierarchical
from policies.decoders.jd3p import JD3P
from policies.decoders.masked_diffusion import MaskedDiffusion
from policies.decoders.one_step import OneStep
from policies.sequence import SequenceSpec, prefix, region
from policies.vocab import Vocab

V = Vocab(text=8, state=8, image=16, action=12)
SPEC = SequenceSpec(V, text_len=4, state_dim=3, image_tokens=16, future_tokens=6, chunk=3, action_dim=2)
MASK, EOA = V.special("mask"), V.special("eoa")
DECODERS = [JD3P, MaskedDiffusion, Hierarchical, OneStep]
SMALL = {JD3P: {"steps": 4}, MaskedDiffusion: {"steps": 4}, Hierarchical: {}, OneStep: {}}


def nfe_expected(cls: type, cfg: dict, cache: bool) -> int:
    n = {JD3P: cfg.get("steps", 12), MaskedDiffusion: cfg.get("steps", 12),
         Hierarchical: SPEC.chunk * cfg.get("steps_per_action", 2), OneStep: 1}[cls]
    return n + int(cache)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared CPU: extra threads only contend (10x slower with 2 threads here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_MODELS: dict[int, Backbone] = {}


def backbone(offset: int) -> Backbone:
    """A random-init backbone with a sharpened head, so logits are far from ties."""
    if offset not in _MODELS:
        torch.manual_seed(offset)
        m = Backbone(BackboneConfig(V, d_model=32, n_layers=2, n_heads=2, max_len=64, pred_offset=offset,
                                    image_size=16, image_grid=4)).eval()
        with torch.no_grad():
            m.head.weight.mul_(50.0)
        _MODELS[offset] = m
    return _MODELS[offset]


def request(model: nn.Module, cls: type, batch: int, seed: int = 0, data_seed: int = 0) -> DecodeRequest:
    g = torch.Generator().manual_seed(data_seed)
    text = [torch.randint(0, V.text, (1 + i % 3,), generator=g).tolist() for i in range(batch)]
    state = torch.randint(0, V.state, (batch, SPEC.state_dim), generator=g)
    images = torch.rand(batch, 1, 3, 16, 16, generator=g)
    return DecodeRequest(model, V, prefix(SPEC, text, state), region(SPEC, cls.region, batch), images,
                         torch.Generator().manual_seed(seed), action_dim=SPEC.action_dim)


def check_contract(req: DecodeRequest, tokens: torch.Tensor) -> None:
    assert tokens.shape == req.region.ids.shape
    assert not bool((tokens == MASK).any())
    gen = req.region.generated()
    assert torch.equal(tokens[:, ~gen], req.region.ids[:, ~gen]), "markers changed"
    for modality in ("image", "action"):
        pos = req.region.positions(modality)
        if pos.numel():
            r = V.range(modality)
            vals = tokens[:, pos]
            assert bool(((vals >= r.start) & (vals < r.stop)).all()), f"{modality} token out of range"


# -- the contract on a real (tiny) backbone --------------------------------------------------------
@settings(max_examples=16, deadline=None)
@given(cls=st.sampled_from(DECODERS), batch=st.sampled_from([1, 3]), seed=st.integers(0, 2**16),
       offset=st.sampled_from([0, 1]), cache=st.booleans())
def test_contract_and_nfe(cls, batch, seed, offset, cache):
    cfg = {**SMALL[cls], "use_cache": cache}
    req = request(backbone(offset), cls, batch, seed)
    res = cls(**cfg).decode(req)
    check_contract(req, res.tokens)
    assert res.nfe == nfe_expected(cls, cfg, cache)


@pytest.mark.parametrize("cls", DECODERS)
def test_default_nfe(cls):
    dec = cls()
    req = request(backbone(1), cls, 2)
    assert dec.decode(req).nfe == nfe_expected(cls, {}, dec.config.use_cache)
    assert OneStep().decode(request(backbone(1), OneStep, 2)).nfe == 1


@pytest.mark.parametrize("cls", DECODERS)
@pytest.mark.parametrize("offset", [0, 1])
def test_same_seed_same_tokens_and_cache_is_exact(cls, offset):
    model = backbone(offset)
    cfg = {**SMALL[cls], "layout": "hybrid"}
    if cls is OneStep:
        cfg["sample"] = True
    runs = {(cache, rep): cls(**cfg, use_cache=cache).decode(request(model, cls, 3, seed=7)).tokens
            for cache in (False, True) for rep in range(2)}
    assert torch.equal(runs[(False, 0)], runs[(False, 1)])
    assert torch.equal(runs[(False, 0)], runs[(True, 0)])
    other = cls(**cfg, use_cache=False).decode(request(model, cls, 3, seed=8)).tokens
    if cls is not Hierarchical:  # hierarchical is greedy by default: seeds change nothing
        assert not torch.equal(runs[(False, 0)], other)


@pytest.mark.parametrize("cls", DECODERS)
def test_bidirectional_layout_without_cache(cls):
    req = request(backbone(0), cls, 2)
    check_contract(req, cls(**SMALL[cls], layout="bidirectional", use_cache=False).decode(req).tokens)
    with pytest.raises(ValidationError, match="layout"):
        cls(layout="bidirectional", use_cache=True)


# -- a planted model ---------------------------------------------------------------------------------
class Planted(nn.Module):
    """Same forward signature as Backbone; logits favour ``plan(call)``'s target at every position.

    ``plan(call) -> (target [B, T], strength [B, T])`` over absolute positions (prefix + region).
    """

    def __init__(self, plan: Callable[[int], tuple[torch.Tensor, torch.Tensor]], pred_offset: int = 0):
        super().__init__()
        self.plan, self.pred_offset, self.calls, self.inputs = plan, pred_offset, 0, []

    def forward(self, ids, segment, causal, layout, cache=None, images=None, pad=None, use_cache=False):
        p = 0 if cache is None else cache.length
        b, n = ids.shape
        target, strength = self.plan(self.calls)
        self.calls += 1
        self.inputs.append((p, ids.clone()))
        logits = torch.zeros(b, n, V.size)
        for i in range(n):
            j = p + i + self.pred_offset
            if j < target.shape[1]:
                logits[torch.arange(b), i, target[:, j]] = strength[:, j]
        new = None
        if use_cache:
            seg = segment if cache is None else torch.cat([cache.segment, segment], 1)
            cau = causal if cache is None else torch.cat([cache.causal, causal], 1)
            pd = pad if cache is None else torch.cat([cache.pad, pad], 1)
            new = KVCache([], [], seg, cau, pd)
        return BackboneOutput(logits, new)


def planted_target(req: DecodeRequest, seed: int = 0) -> torch.Tensor:
    """A valid region: markers from the template, random in-range tokens elsewhere."""
    g = torch.Generator().manual_seed(seed)
    t = req.region.ids.clone()
    for modality in ("image", "action"):
        pos = req.region.positions(modality)
        r = V.range(modality)
        t[:, pos] = torch.randint(r.start, r.stop, (t.shape[0], len(pos)), generator=g)
    return t


def plant(req: DecodeRequest, region_target: torch.Tensor, strength: float | torch.Tensor = 20.0,
          offset: int = 0) -> Planted:
    full = torch.cat([req.prefix.ids, region_target], 1)
    s = torch.as_tensor(strength, dtype=torch.float32).expand(full.shape).clone()
    model = Planted(lambda call: (full, s), offset)
    req.model = model
    return model


@pytest.mark.parametrize("cls", DECODERS)
@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("cache", [False, True])
def test_planted_target_is_recovered(cls, offset, cache):
    req = request(None, cls, 3, seed=5)
    target = planted_target(req, seed=offset)
    plant(req, target, offset=offset)
    cfg = {**SMALL[cls], "use_cache": cache}
    res = cls(**cfg).decode(req)
    assert torch.equal(res.tokens, target)
    assert res.nfe == nfe_expected(cls, cfg, cache)


def test_jd3p_future_image_and_counts():
    req = request(None, JD3P, 2)
    target = planted_target(req)
    plant(req, target)
    res = JD3P(steps=5).decode(req)
    img = req.region.positions("image")
    assert torch.equal(res.info["future_image"], target[:, img] - V.range("image").start)
    assert res.info["generated_tokens"] == SPEC.future_tokens + SPEC.action_tokens
    assert res.info["action_lengths"].tolist() == [SPEC.action_tokens] * 2


@pytest.mark.parametrize("per_modality", [True, False])
@pytest.mark.parametrize("compounding", [True, False])
def test_jd3p_commits_follow_schedule_and_action_delay(per_modality, compounding):
    req = request(None, JD3P, 2)
    model = plant(req, planted_target(req))
    steps = 6
    JD3P(steps=steps, per_modality=per_modality, compounding=compounding, action_delay=0.5,
         use_cache=False).decode(req)
    act = req.prefix.length + req.region.positions("action")
    img = req.prefix.length + req.region.positions("image")
    prev = None
    for k, (_, ids) in enumerate(model.inputs):
        masked_img = (ids[:, img] == MASK).sum(1)
        masked_act = (ids[:, act] == MASK).sum(1)
        if k / steps < 0.5:  # inputs of steps 1..3 follow commits of steps 0..2 (ratio < 0.5)
            assert bool((masked_act == SPEC.action_tokens).all()), "actions revealed during the delay"
        if prev is not None:  # known positions are never re-masked and each step commits something
            assert bool(((ids == MASK) <= (prev == MASK)).all())
            assert bool(((ids == MASK).sum(1) < (prev == MASK).sum(1)).all())
        prev = ids
        assert bool((masked_img + masked_act > 0).all())


def test_jd3p_eoa_fill_rule():
    req = request(None, JD3P, 2)
    target = planted_target(req)
    act = req.region.positions("action")
    target[0, act[2]] = EOA  # row 0 ends its action after two tokens; row 1 has no eoa
    model = plant(req, target)
    res = JD3P(steps=6, allow_eoa=True, use_cache=False).decode(req)
    out = res.tokens
    assert out[0, act[:2]].tolist() == target[0, act[:2]].tolist()
    assert out[0, act[2:]].tolist() == [EOA] * (len(act) - 2)
    assert torch.equal(out[1], target[1])
    assert res.info["action_lengths"].tolist() == [2, len(act)]
    # a committed eoa fills every later action position at once, in the inputs of later steps too
    for _, ids in model.inputs[1:]:
        a = ids[:, req.prefix.length + act]
        tail = (a == EOA).long().cumsum(1) > 0
        assert bool((a[tail] == EOA).all())
    # without allow_eoa the action space excludes eoa: the planted eoa can never be produced
    out = JD3P(steps=6).decode(req).tokens
    assert not bool((out[:, act] == EOA).any())
    check_contract(req, out)


def test_masked_diffusion_remasks_a_token_whose_confidence_collapses():
    req = request(None, MaskedDiffusion, 1)
    act = req.prefix.length + req.region.positions("action")
    first = torch.cat([req.prefix.ids, planted_target(req, seed=1)], 1)
    later = torch.cat([req.prefix.ids, planted_target(req, seed=2)], 1)
    j0 = act[0]
    a0 = V.range("action").start + 3
    first[0, j0], later[0, j0] = a0, a0 + 1
    s_first = torch.zeros(first.shape)
    s_first[0, j0] = 30.0  # round 1: only j0 is confident (everything else is uniform)
    s_later = torch.full(first.shape, 30.0)  # from round 2 on, j0 confidently wants another token

    def plan(call):
        return (first, s_first) if call == 0 else (later, s_later)

    def run(**cfg):
        model = Planted(plan)
        req.model = model
        return MaskedDiffusion(steps=4, use_cache=False, **cfg).decode(req), model

    res, model = run()
    _, after_round1 = model.inputs[1]
    assert int(after_round1[0, j0]) == a0, "round 1 reveals the one confident token"
    assert int(res.tokens[0, j0 - req.prefix.length]) == a0 + 1
    assert int(res.info["remasked"][0]) >= 1
    rest = req.region.positions("action")[1:]
    assert torch.equal(res.tokens[0, rest], later[0, req.prefix.length + rest])
    res, _ = run(remask=False)
    assert int(res.tokens[0, j0 - req.prefix.length]) == a0 and int(res.info["remasked"][0]) == 0
    # each check alone is enough: the residual drop (eta = 0) and the threshold (delta = 1)
    res, _ = run(remask_eta_min=0.0, remask_eta_max=0.0, remask_delta=0.3)
    assert int(res.tokens[0, j0 - req.prefix.length]) == a0 + 1
    res, _ = run(remask_eta_min=0.2, remask_eta_max=0.5, remask_delta=1.0)
    assert int(res.tokens[0, j0 - req.prefix.length]) == a0 + 1
    res, _ = run(remask_eta_min=0.0, remask_eta_max=0.0, remask_delta=1.0)
    assert int(res.tokens[0, j0 - req.prefix.length]) == a0


@pytest.mark.parametrize("score", ["max_confidence", "confidence_gap"])
def test_masked_diffusion_reveals_on_the_cosine_schedule(score):
    req = request(None, MaskedDiffusion, 2)
    model = plant(req, planted_target(req))
    MaskedDiffusion(steps=4, score=score, use_cache=False).decode(req)
    act = req.prefix.length + req.region.positions("action")
    masked = [int((ids[0, act] == MASK).sum()) for _, ids in model.inputs]
    assert masked == [6, 5, 4, 2]  # floor(6 cos(pi/2 t/4)) for t = 0..3


def test_hierarchical_decodes_the_most_confident_action_first():
    req = request(None, Hierarchical, 2)
    target = planted_target(req)
    act = req.prefix.length + req.region.positions("action")
    strength = torch.full((2, req.prefix.length + req.region.length), 20.0)
    # row 0: actions ranked 1, 2, 0; row 1: 2, 0, 1 (two tokens per action)
    for row, per_action in enumerate([(2.0, 6.0, 4.0), (4.0, 2.0, 6.0)]):
        for a, s in enumerate(per_action):
            strength[row, act[2 * a: 2 * a + 2]] = s
    full = torch.cat([req.prefix.ids, target], 1)
    model = Planted(lambda call: (full, strength))
    req.model = model
    res = Hierarchical(use_cache=False).decode(req)
    assert torch.equal(res.tokens, target)
    assert res.info["order"].tolist() == [[1, 2, 0], [2, 0, 1]]
    # one token per pass (2 tokens over 2 passes), one action at a time
    assert [int((ids[0, act] == MASK).sum()) for _, ids in model.inputs] == [6, 5, 4, 3, 2, 1]
    assert res.nfe == SPEC.chunk * 2


def test_hierarchical_needs_action_dim():
    req = request(backbone(0), Hierarchical, 1)
    req.action_dim = 0
    with pytest.raises(ValueError, match="action_dim"):
        Hierarchical().decode(req)
    req.action_dim = 4
    with pytest.raises(ValueError, match="action_dim=4"):
        Hierarchical().decode(req)


def test_one_step_sampling_and_argmax():
    req = request(backbone(1), OneStep, 3)
    a = OneStep().decode(req).tokens
    b = OneStep().decode(request(backbone(1), OneStep, 3, seed=99)).tokens
    assert torch.equal(a, b), "argmax ignores the generator"
    s1 = OneStep(sample=True).decode(request(backbone(1), OneStep, 3, seed=1)).tokens
    s2 = OneStep(sample=True).decode(request(backbone(1), OneStep, 3, seed=1)).tokens
    assert torch.equal(s1, s2)


@pytest.mark.parametrize("cls, bad, key", [
    (JD3P, {"steps": 0}, "steps"),
    (JD3P, {"choice_temperature": -1.0}, "choice_temperature"),
    (JD3P, {"action_delay": 1.0}, "action_delay"),
    (JD3P, {"stepz": 3}, "stepz"),
    (MaskedDiffusion, {"remask_eta_min": 1.5}, "remask_eta_min"),
    (MaskedDiffusion, {"remask_eta_min": 0.5, "remask_eta_max": 0.2}, "remask_eta_min"),
    (MaskedDiffusion, {"score": "entropy"}, "score"),
    (MaskedDiffusion, {"temperature": -0.1}, "temperature"),
    (Hierarchical, {"steps_per_action": 0}, "steps_per_action"),
    (Hierarchical, {"action_score": "max"}, "action_score"),
    (OneStep, {"temperature": -1}, "temperature"),
    (OneStep, {"layout": "sideways"}, "layout"),
])
def test_config_validation_names_the_key(cls, bad, key):
    with pytest.raises(ValidationError, match=key):
        cls(**bad)


def test_registered_by_name():
    from vla_bench.registries import decoders

    for cls in DECODERS:
        got = decoders.get(cls.name)
        assert got is cls and issubclass(got.Config, got.Config.__mro__[1])
