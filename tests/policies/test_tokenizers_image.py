"""The tiny VQ-VAE image tokenizer: it learns, its codes have the promised shape, it never raises."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from policies.tokenizers import load_tokenizer  # noqa: E402
from policies.tokenizers.image import ImageTokenizer, ImageTokenizerConfig, to_png  # noqa: E402


def rectangles(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Frames of a flat background with one to three coloured rectangles."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for img in out:
        img[:] = rng.integers(0, 256, 3)
        for _ in range(rng.integers(1, 4)):
            y0, x0 = rng.integers(0, size - 4, 2)
            h, w = rng.integers(4, size // 2, 2)
            img[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256, 3)
    return out


@pytest.fixture(scope="module")
def fitted() -> tuple[ImageTokenizer, dict[str, float], np.ndarray]:
    frames = rectangles(512)
    tok = ImageTokenizer()
    threads = torch.get_num_threads()
    stats = tok.fit(frames, steps=100, batch_size=32, progress=False, threads=1)
    assert torch.get_num_threads() == threads  # restored
    return tok, stats, frames


def test_fit_lowers_reconstruction_error_and_uses_the_codebook(fitted) -> None:
    tok, stats, frames = fitted
    assert stats["mse"] < 0.85 * stats["initial_mse"], stats
    assert stats["usage"] > 0.5 and stats["perplexity"] > 32, stats
    recon = tok.reconstruct(frames[:64])
    assert recon.shape == (64, 32, 32, 3) and recon.dtype == np.uint8


def test_encode_shapes_and_resizing(fitted) -> None:
    tok, _, frames = fitted
    assert (tok.grid, tok.n_tokens, tok.vocab_size) == (4, 16, 256)
    codes = tok.encode(frames[:5])
    assert codes.shape == (5, 16) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < 256
    assert tok.encode(frames[0]).shape == (1, 16)
    big = frames[:3].repeat(4, axis=1).repeat(4, axis=2)  # 128 px, area-resized back to 32
    np.testing.assert_array_equal(tok.encode(big), codes[:3])
    assert tok.encode(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0, 16)


@pytest.mark.parametrize(
    "codes",
    [[], [3], [-5, 10**12], np.full((2, 16), 255), np.zeros((3, 4, 4)), np.arange(40).reshape(2, 20),
     np.array([[2**70, -(2**70)]], dtype=object), np.zeros((0, 16), np.int64)],
)
def test_decode_never_raises(fitted, codes) -> None:
    tok = fitted[0]
    out = tok.decode(codes)
    assert out.dtype == np.uint8 and out.shape[1:] == (32, 32, 3)


def test_save_load_identical_codes(fitted, tmp_path) -> None:
    tok, _, frames = fitted
    tok.save(tmp_path)
    back = load_tokenizer(tmp_path)
    assert isinstance(back, ImageTokenizer) and back.config == tok.config
    np.testing.assert_array_equal(back.encode(frames[:32]), tok.encode(frames[:32]))
    np.testing.assert_array_equal(back.decode(tok.encode(frames[:4])), tok.decode(tok.encode(frames[:4])))
    assert not any(p.suffix in {".pt", ".pkl", ".bin"} for p in tmp_path.iterdir())


def test_seeded_init_does_not_touch_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a, b = ImageTokenizer(), ImageTokenizer()
    assert torch.equal(torch.rand(1), expected)
    frames = rectangles(4, seed=1)
    np.testing.assert_array_equal(a.encode(frames), b.encode(frames))


def test_config_validation_and_other_sizes() -> None:
    with pytest.raises(ValueError):
        ImageTokenizerConfig(patch=6)
    with pytest.raises(ValueError):
        ImageTokenizerConfig(image_size=30, patch=8)
    tok = ImageTokenizer(ImageTokenizerConfig(image_size=64, patch=16, codebook_size=16))
    assert tok.encode(rectangles(2, 64)).shape == (2, 16)
    assert tok.decode([[99] * 16]).shape == (1, 64, 64, 3)


def test_to_png_writes_a_grid(fitted, tmp_path) -> None:
    from PIL import Image

    tok, _, frames = fitted
    path = to_png([frames[:6], tok.reconstruct(frames[:6])], tmp_path / "cmp.png")
    w, h = Image.open(path).size
    assert (w, h) == (6 * 66 + 2, 2 * 66 + 2)
    assert to_png(frames[:3], tmp_path / "row.png").exists()
