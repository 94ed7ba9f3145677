import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vla_bench.transport.codec import CodecError, decode_observation, encode_observation, packb, unpackb
from vla_bench.types import Observation

DTYPES = st.sampled_from(["bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "float16", "float32",
                          "float64", "complex64", ">f4", "<i8"])


@given(hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))
def test_array_round_trip(a):
    b = unpackb(packb(a))
    assert b.dtype == a.dtype and b.shape == a.shape
    assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


@given(hnp.arrays("float32", (6, 8)))
def test_non_contiguous_views_round_trip(a):
    view = a[::2, ::-3]
    assert np.array_equal(unpackb(packb(view)), view, equal_nan=True)


nested = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text()
    | st.binary() | hnp.arrays("int32", (2, 3)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


def _eq(a, b):
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_eq(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
    return a == b


@given(nested)
def test_nested_round_trip(obj):
    assert _eq(obj, unpackb(packb(obj)))


@given(st.binary(max_size=200))
def test_garbage_only_raises_codec_error(data):
    try:
        unpackb(data)
    except CodecError:
        pass


def test_object_arrays_and_pickle_are_refused():
    with pytest.raises(CodecError, match="dtype object"):
        packb(np.array([object()], dtype=object))
    with pytest.raises(CodecError, match="cannot encode"):
        packb({"x": object()})


def test_tampered_array_payload_is_rejected():
    import msgpack

    bad = msgpack.packb(msgpack.ExtType(1, msgpack.packb(["<f4", [3], b"\x00" * 8])))
    with pytest.raises(CodecError, match="byte length"):
        unpackb(bad)
    bad = msgpack.packb(msgpack.ExtType(1, msgpack.packb(["|O", [1], b"\x00" * 8])))
    with pytest.raises(CodecError):
        unpackb(bad)


def test_observation_round_trip_drops_only_untransportable_info():
    obs = Observation({"primary": np.zeros((4, 4, 3), np.uint8)}, np.ones(3, np.float32), "open the drawer",
                      {"metaworld_obs": np.arange(39.0), "task": "drawer-open-v3", "handle": object()})
    back = decode_observation(unpackb(packb(encode_observation(obs))))
    assert back.instruction == obs.instruction and np.array_equal(back.state, obs.state)
    assert np.array_equal(back.info["metaworld_obs"], obs.info["metaworld_obs"])
    assert "handle" not in back.info
    with pytest.raises(CodecError, match="malformed observation"):
        decode_observation({"images": {"primary": np.zeros((4, 4), np.uint8)}, "state": np.ones(3, np.float32),
                            "instruction": "x"})
