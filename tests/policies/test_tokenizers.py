"""Property tests for the numpy tokenizers: bins, state, FAST, text, and the registry."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from policies.tokenizers import TOKENIZERS, get_tokenizer_class, load_tokenizer
from policies.tokenizers.bins import ActionTokenizer, BinTokenizer
from policies.tokenizers.fast import FASTTokenizer, dct_matrix
from policies.tokenizers.state import StateTokenizer
from policies.tokenizers.text import ByteTextTokenizer, WordTextTokenizer
from vla_bench.types import NormStats

FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e6, max_value=1e6)
INTS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
EPS = 1e-6


# -- bins --------------------------------------------------------------------------------------
@given(n_bins=st.integers(2, 4096), x=hnp.arrays(np.float64, st.integers(0, 50), elements=FLOATS))
def test_bins_round_trip_within_half_a_bin(n_bins: int, x: np.ndarray) -> None:
    tok = BinTokenizer(n_bins)
    ids = tok.encode(x)
    assert ids.dtype == np.int64 and ids.shape == x.shape
    assert ids.size == 0 or (ids.min() >= 0 and ids.max() < n_bins)
    err = np.abs(tok.decode(ids) - np.clip(x, -1, 1))
    assert err.size == 0 or err.max() <= tok.bin_width / 2 + EPS


@given(
    n_bins=st.integers(1, 4096),
    lo=st.floats(-100, 100),
    width=st.floats(1e-2, 100),
    x=hnp.arrays(np.float64, 20, elements=FLOATS),
)
def test_bins_on_any_range(n_bins: int, lo: float, width: float, x: np.ndarray) -> None:
    tok = BinTokenizer(n_bins, lo, lo + width)
    err = np.abs(tok.decode(tok.encode(x)) - np.clip(x, lo, lo + width))
    assert err.max() <= tok.bin_width / 2 + 1e-5 * max(1.0, abs(lo) + width)


@given(n_bins=st.integers(1, 4096), ids=hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, min_side=0), elements=INTS))
def test_bins_decode_never_raises(n_bins: int, ids: np.ndarray) -> None:
    out = BinTokenizer(n_bins).decode(ids)
    assert out.shape == ids.shape and out.dtype == np.float32
    assert np.all(np.abs(out) <= 1.0)


def test_bins_decode_odd_inputs() -> None:
    tok = BinTokenizer(2048)
    assert tok.decode([]).shape == (0,)
    np.testing.assert_allclose(tok.decode(np.array([2**80, -(2**80)], dtype=object)), [1 - 1 / 2048, -1 + 1 / 2048])
    assert tok.decode(np.array([np.nan, 5.0])).shape == (2,)
    assert tok.encode(np.array([np.nan, np.inf, -np.inf])).tolist() == [1024, 2047, 0]


@given(n_bins=st.integers(2, 4096), x=hnp.arrays(np.float64, 30, elements=FLOATS))
def test_bins_encode_is_monotonic(n_bins: int, x: np.ndarray) -> None:
    xs = np.sort(x)
    assert np.all(np.diff(BinTokenizer(n_bins).encode(xs)) >= 0)


def test_bins_defaults_and_mmact_size() -> None:
    assert BinTokenizer().vocab_size == 256
    tok = BinTokenizer(2048)
    assert tok.bin_width == pytest.approx(2 / 2048)
    assert tok.encode(np.array([-1.0, 1.0])).tolist() == [0, 2047]
    assert len(np.unique(tok.centers)) == 2048


@st.composite
def norm_and_values(draw: st.DrawFn) -> tuple[NormStats, np.ndarray, np.ndarray]:
    d = draw(st.integers(1, 8))
    lo = np.array(draw(st.lists(st.floats(-10, 10), min_size=d, max_size=d)))
    span = np.array(draw(st.lists(st.floats(1e-2, 20), min_size=d, max_size=d)))
    u = draw(hnp.arrays(np.float64, (draw(st.integers(1, 5)), d), elements=st.floats(0, 1)))
    return NormStats(q01=tuple(lo), q99=tuple(lo + span)), lo + u * span, span


@given(data=norm_and_values(), n_bins=st.sampled_from([2, 16, 256, 2048]))
def test_action_tokenizer_round_trip(data: tuple[NormStats, np.ndarray, np.ndarray], n_bins: int) -> None:
    norm, x, span = data
    for tok in (ActionTokenizer(norm, n_bins), StateTokenizer(norm, n_bins)):
        ids = tok.encode(x)
        assert ids.shape == x.shape and ids.min() >= 0 and ids.max() < n_bins
        err = np.abs(tok.decode(ids) - x)
        bound = tok.bin_width / 2 * span / 2
        assert np.all(err <= bound + 1e-5 * (1 + np.abs(x)))
        np.testing.assert_allclose(tok.max_error, bound, rtol=1e-5)


def test_action_tokenizer_gripper_snaps_by_sign() -> None:
    norm = NormStats(q01=(-0.5, -1.0), q99=(0.5, 1.0))
    tok = ActionTokenizer(norm, 256, binarize_gripper=1)
    out = tok.decode(tok.encode(np.array([[0.1, 0.3], [0.1, -0.02], [0.0, 0.9]])))
    assert out[:, 1].tolist() == [1.0, -1.0, 1.0]
    assert abs(out[0, 0] - 0.1) <= tok.max_error[0] + 1e-6
    assert tok.decode(np.array([[10**9, -(10**9)]])).shape == (1, 2)


def test_bin_tokenizers_save_load(tmp_path) -> None:
    norm = NormStats.from_data(np.random.default_rng(0).normal(size=(100, 4)))
    x = np.random.default_rng(1).normal(size=(10, 4))
    for i, tok in enumerate([BinTokenizer(2048, -2, 3), ActionTokenizer(norm, 512, -1), StateTokenizer(norm)]):
        tok.save(tmp_path / str(i))
        back = load_tokenizer(tmp_path / str(i))
        assert type(back) is type(tok)
        np.testing.assert_array_equal(back.encode(x), tok.encode(x))
        np.testing.assert_array_equal(back.decode(tok.encode(x)), tok.decode(tok.encode(x)))


# -- FAST --------------------------------------------------------------------------------------
def smooth_chunks(rng: np.random.Generator, n: int, horizon: int, dim: int) -> np.ndarray:
    """Sums of up to three low-frequency cosines per dimension, kept inside [-1, 1]."""
    t = np.linspace(0.0, 1.0, horizon)[None, :, None]
    out = np.zeros((n, horizon, dim))
    for f in range(3):
        amp = rng.uniform(-0.3, 0.3, (n, 1, dim))
        out += amp * np.cos(np.pi * (f + rng.uniform(0, 1, (n, 1, dim))) * t + rng.uniform(0, 2 * np.pi, (n, 1, dim)))
    return np.clip(out, -1.0, 1.0)


@pytest.fixture(scope="module")
def fast_tokenizers() -> dict[tuple[int, int], FASTTokenizer]:
    """One fitted tokenizer per (H, D) used below; fitting is the slow part, so it is shared."""
    rng = np.random.default_rng(0)
    return {(h, d): FASTTokenizer().fit(smooth_chunks(rng, 300, h, d)) for h in (4, 10, 16) for d in (1, 3, 7)}


def test_dct_matrix_is_orthonormal() -> None:
    for n in (1, 4, 10, 16, 50):
        c = dct_matrix(n)
        np.testing.assert_allclose(c @ c.T, np.eye(n), atol=1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from([(h, d) for h in (4, 10, 16) for d in (1, 3, 7)]), seed=st.integers(0, 2**32 - 1))
def test_fast_round_trip_on_smooth_chunks(fast_tokenizers, key: tuple[int, int], seed: int) -> None:
    tok = fast_tokenizers[key]
    x = smooth_chunks(np.random.default_rng(seed), 1, *key)[0]
    ids = tok.encode(x)
    assert all(0 <= i < tok.vocab_size for i in ids)
    y = tok.decode(ids)
    assert y.shape == key and y.dtype == np.float32
    # Rounding each coefficient costs <= 0.5/scale; the orthonormal inverse DCT sums H of them.
    assert np.abs(y - x).max() <= tok.max_error() + 1e-6
    assert np.sqrt(np.mean((y - x) ** 2)) <= 0.5 / tok.scale + 1e-6


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from([(4, 1), (10, 7), (16, 3)]),
    ids=st.lists(st.one_of(INTS, st.integers(-5, 2000)), max_size=400),
    override=st.none() | st.tuples(st.integers(1, 20), st.integers(1, 8)),
)
def test_fast_decode_never_raises(fast_tokenizers, key, ids, override) -> None:
    tok = fast_tokenizers[key]
    h, d = override or key
    out = tok.decode(ids, *(override or ()))
    assert out.shape == (h, d) and out.dtype == np.float32 and np.all(np.isfinite(out))


def test_fast_batch_save_load_and_compression(fast_tokenizers, tmp_path) -> None:
    tok = fast_tokenizers[(10, 7)]
    x = smooth_chunks(np.random.default_rng(7), 64, 10, 7)
    ids = tok.encode_batch(x)
    assert ids == [tok.encode(c) for c in x]
    np.testing.assert_allclose(tok.decode_batch(ids), np.stack([tok.decode(s) for s in ids]))
    assert tok.decode_batch([]).shape == (0, 10, 7)
    assert np.mean([len(s) for s in ids]) < 10 * 7 / 2  # smooth chunks compress well
    tok.save(tmp_path)
    back = load_tokenizer(tmp_path)
    assert isinstance(back, FASTTokenizer) and back.vocab_size == tok.vocab_size
    assert back.encode_batch(x) == ids
    np.testing.assert_array_equal(back.decode_batch(ids), tok.decode_batch(ids))


def test_fast_clips_out_of_range_and_requires_fit() -> None:
    with pytest.raises(RuntimeError):
        FASTTokenizer().encode(np.zeros((4, 2)))
    tok = FASTTokenizer(scale=10, vocab_size=256).fit(smooth_chunks(np.random.default_rng(0), 50, 8, 2))
    assert tok.min_token is not None and tok.min_token <= -np.ceil(np.sqrt(8) * 10)
    y = tok.decode(tok.encode(np.full((8, 2), 50.0)))  # far outside [-1, 1]: saturates, no failure
    assert y.shape == (8, 2) and np.all(np.isfinite(y))
    with pytest.raises(ValueError, match="vocab_size"):
        FASTTokenizer(scale=100, vocab_size=64).fit(smooth_chunks(np.random.default_rng(0), 10, 8, 2))


# -- text --------------------------------------------------------------------------------------
@given(text=st.text())
def test_byte_text_round_trip(text: str) -> None:
    tok = ByteTextTokenizer()
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text


@given(ids=st.lists(st.one_of(INTS, st.integers(0, 255))))
def test_text_decode_never_raises(ids: list[int]) -> None:
    assert isinstance(ByteTextTokenizer().decode(ids), str)
    words = WordTextTokenizer.fit(["pick up the red block", "open the drawer"])
    assert isinstance(words.decode(ids), str)


@given(text=st.text())
def test_word_text_unseen_words_are_unk(text: str) -> None:
    tok = WordTextTokenizer().fit(["Pick up the red block.", "open the drawer"])
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    known = set(tok.words[1:])
    assert [i == tok.unk_id for i in ids] == [w not in known for w in tok.split(text)]


def test_word_text_basics(tmp_path) -> None:
    tok = WordTextTokenizer.fit(["Pick up the red block.", "open the drawer"])
    assert tok.decode(tok.encode("Open the DRAWER")) == "open the drawer"
    assert tok.decode(tok.encode("grab the crimson block")) == "[UNK] the [UNK] block"
    tok.save(tmp_path / "w")
    assert load_tokenizer(tmp_path / "w").encode("pick the block .") == tok.encode("pick the block .")
    ByteTextTokenizer().save(tmp_path / "b")
    assert load_tokenizer(tmp_path / "b").encode("hi") == [104, 105]


# -- registry ----------------------------------------------------------------------------------
def test_registry_names_resolve_lazily() -> None:
    assert {"bins", "fast", "image_vq", "text_bytes", "text_words", "state_bins"} <= set(TOKENIZERS)
    for name, target in TOKENIZERS.items():
        if name != "image_vq":  # torch: covered by the image tests
            assert get_tokenizer_class(name).type_name == name, target
    with pytest.raises(KeyError):
        get_tokenizer_class("nope")


def test_import_does_not_load_torch() -> None:
    code = "import policies.tokenizers, sys; assert 'torch' not in sys.modules and 'tokenizers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
