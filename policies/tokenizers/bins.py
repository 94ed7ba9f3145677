"""Uniform bins: the action tokenizer of OpenVLA (256 bins) and MM-ACT (2048 bins).

``[low, high]`` is cut into ``n_bins`` equal intervals and a token decodes to its interval's centre,
so the round-trip error is at most ``bin_width / 2``. (OpenVLA's digitize over 256 *edges* gives
only 255 usable values; MM-ACT rounds onto 2048 grid points including both ends. Equal intervals use
every id and have the smaller worst-case error of the two.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from policies.tokenizers._io import norm_from_dict, norm_to_dict, read_meta, write_meta
from vla_bench.types import NormStats


def _as_int_ids(ids: ArrayLike, n: int) -> NDArray[np.int64]:
    """Any integer-like array (also empty, float, or Python ints beyond int64) clipped into ``[0, n)``."""
    arr = np.asarray(ids)
    if arr.dtype.kind in "iub":
        return np.clip(arr, 0, n - 1).astype(np.int64)
    if arr.dtype.kind == "f":
        return np.clip(np.nan_to_num(arr, nan=0.0), 0, n - 1).astype(np.int64)

    def one(v: object) -> int:
        try:
            return min(max(int(v), 0), n - 1)  # type: ignore[call-overload]
        except (TypeError, ValueError, OverflowError):
            return 0

    return np.array([one(v) for v in arr.flat], dtype=np.int64).reshape(arr.shape)


class BinTokenizer:
    """Floats in ``[low, high]`` <-> ids in ``[0, n_bins)``; values outside are clipped first."""

    type_name = "bins"

    def __init__(self, n_bins: int = 256, low: float = -1.0, high: float = 1.0) -> None:
        if n_bins < 1:
            raise ValueError(f"n_bins must be >= 1, got {n_bins}")
        if not high > low:
            raise ValueError(f"need high > low, got [{low}, {high}]")
        self.n_bins, self.low, self.high = int(n_bins), float(low), float(high)

    @property
    def vocab_size(self) -> int:
        return self.n_bins

    @property
    def bin_width(self) -> float:
        return (self.high - self.low) / self.n_bins

    @property
    def centers(self) -> NDArray[np.float32]:
        return self.decode(np.arange(self.n_bins))

    def encode(self, x: ArrayLike) -> NDArray[np.int64]:
        """Same shape as ``x``. NaN goes to the middle bin and +-inf to the end bins, so it never fails."""
        x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.5 * (self.low + self.high))
        x = np.clip(x, self.low, self.high)
        idx = np.floor((x - self.low) / self.bin_width)
        return np.clip(idx, 0, self.n_bins - 1).astype(np.int64)

    def decode(self, ids: ArrayLike) -> NDArray[np.float32]:
        """Bin centres, same shape as ``ids``; out-of-range ids are clipped, never rejected."""
        idx = _as_int_ids(ids, self.n_bins)
        return (self.low + (idx + 0.5) * self.bin_width).astype(np.float32)

    def save(self, directory: Path) -> None:
        write_meta(directory, self.type_name, n_bins=self.n_bins, low=self.low, high=self.high)

    @classmethod
    def load(cls, directory: Path) -> BinTokenizer:
        m = read_meta(directory, cls.type_name)
        return cls(n_bins=m["n_bins"], low=m["low"], high=m["high"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_bins={self.n_bins}, low={self.low}, high={self.high})"


class _NormalizedBins:
    """Per-dimension q01/q99 normalisation to [-1, 1] followed by uniform bins (OpenVLA's BOUNDS_Q99)."""

    type_name = ""

    def __init__(self, norm: NormStats, n_bins: int = 256) -> None:
        if len(norm.q01) != len(norm.q99) or not norm.q01:
            raise ValueError("norm stats need q01 and q99 of equal, non-zero length")
        self.norm = norm
        self.bins = BinTokenizer(n_bins, -1.0, 1.0)

    @property
    def vocab_size(self) -> int:
        return self.bins.n_bins

    @property
    def n_bins(self) -> int:
        return self.bins.n_bins

    @property
    def dim(self) -> int:
        return len(self.norm.q01)

    @property
    def bin_width(self) -> float:
        """Width of one bin in normalised units ([-1, 1])."""
        return self.bins.bin_width

    @property
    def max_error(self) -> NDArray[np.float32]:
        """Worst-case round-trip error per dimension in raw units, for values inside [q01, q99]."""
        span = np.asarray(self.norm.q99) - np.asarray(self.norm.q01)
        return (0.5 * self.bin_width * span / 2.0).astype(np.float32)

    def encode(self, x: ArrayLike) -> NDArray[np.int64]:
        """(..., D) raw values -> (..., D) ids; values beyond q01/q99 saturate."""
        return self.bins.encode(self.norm.normalize(np.asarray(x, dtype=np.float64)))

    def decode(self, ids: ArrayLike) -> NDArray[np.float32]:
        """(..., D) ids -> (..., D) raw float32 values; never raises on integer input."""
        return self.norm.unnormalize(self.bins.decode(ids))

    def _fields(self) -> dict:
        return {"n_bins": self.n_bins, "norm": norm_to_dict(self.norm)}

    def save(self, directory: Path) -> None:
        write_meta(directory, self.type_name, **self._fields())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, n_bins={self.n_bins})"


class ActionTokenizer(_NormalizedBins):
    """Action vectors <-> bin ids; optionally snaps the gripper dimension to +1 (open) / -1 (close).

    Snapping follows OpenVLA's binarised gripper: a decoded gripper value is a command, and a half-open
    gripper is never what the demonstrations meant. The sign is taken on the raw (unnormalised) value,
    because the convention "+1 open, -1 close" is stated on raw actions; exactly 0 counts as open.
    """

    type_name = "actions"

    def __init__(self, norm: NormStats, n_bins: int = 256, binarize_gripper: int | None = None) -> None:
        super().__init__(norm, n_bins)
        if binarize_gripper is not None and not -self.dim <= binarize_gripper < self.dim:
            raise ValueError(f"gripper index {binarize_gripper} out of range for {self.dim} dims")
        self.binarize_gripper = binarize_gripper

    def decode(self, ids: ArrayLike) -> NDArray[np.float32]:
        out = super().decode(ids)
        if self.binarize_gripper is not None and out.ndim and out.shape[-1] == self.dim:
            g = out[..., self.binarize_gripper]
            out[..., self.binarize_gripper] = np.where(g >= 0, 1.0, -1.0)
        return out

    def _fields(self) -> dict:
        return {**super()._fields(), "binarize_gripper": self.binarize_gripper}

    @classmethod
    def load(cls, directory: Path) -> ActionTokenizer:
        m = read_meta(directory, cls.type_name)
        return cls(norm_from_dict(m["norm"]), n_bins=m["n_bins"], binarize_gripper=m["binarize_gripper"])
