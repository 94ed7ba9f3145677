import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vla_bench.transport.codec import (
    CodecError, decode_action_spec, decode_episode, decode_observation, encode_action_spec, encode_episode,
    encode_observation, packb, unpackb,
)
from vla_bench.types import ActionDim, ActionSpec, EpisodeSpec, Observation

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
    with pytest.raises(CodecError, match=r"observation.images\['primary'\] must be HxWx3 uint8"):
        decode_observation({"images": {"primary": np.zeros((4, 4), np.uint8)}, "state": np.ones(3, np.float32),
                            "instruction": "x"})


payload_parts = st.tuples(
    st.sampled_from(["<f4", "|u1", "|b1", "<i8", "|O", "<U3", "|V4", "<M8[s]", "(2,)<f4", "x", ""]) | st.integers(-(2**63), 2**63 - 1),
    st.lists(st.integers(-3, 2**40) | st.booleans() | st.text(max_size=2), max_size=4) | st.integers(-(2**63), 2**63 - 1) | st.none(),
    st.binary(max_size=64) | st.text(max_size=4),
)


@given(payload_parts)
def test_arbitrary_array_payloads_decode_or_raise_codec_error(parts):
    import msgpack

    frame = msgpack.packb(msgpack.ExtType(1, msgpack.packb(list(parts), use_bin_type=True)))
    try:
        out = unpackb(frame)
    except CodecError:
        return
    assert out.dtype.kind in "biufc" and out.nbytes == len(parts[2])


garbage_tree = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=4) | hnp.arrays("float32", (2,))
    | hnp.arrays("uint8", (2, 2, 3)),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["images", "state", "instruction", "info", "suite", "task", "init_id", "dims", "x"]),
        children, max_size=5),
    max_leaves=12,
)


@given(garbage_tree)
def test_decoders_raise_only_codec_error_on_wrong_structures(tree):
    for decode in (decode_observation, decode_episode, decode_action_spec):
        try:
            decode(tree)
        except CodecError:
            pass


def test_nested_info_keeps_what_can_travel():
    info = {"a": {"b": object(), "c": [1, object(), np.float32(2.5)]}, "d": np.array(["s"], dtype=object),
            "e": np.arange(3), 7: "non-str key"}
    obs = Observation({}, np.ones(2, np.float32), "x", info)
    back = decode_observation(unpackb(packb(encode_observation(obs))))
    assert back.info.keys() == {"a", "e"}
    assert back.info["a"] == {"c": [1, 2.5]} and np.array_equal(back.info["e"], np.arange(3))


def test_episode_and_action_spec_round_trip_and_type_checks():
    episode = EpisodeSpec("mt10", "reach-v3", 3, "camera_shift", 7)
    spec = ActionSpec((ActionDim("x", -1, 1), ActionDim("g", -1, 1, "gripper")), gripper_index=1)
    assert decode_episode(unpackb(packb(encode_episode(episode)))) == episode
    assert decode_action_spec(unpackb(packb(encode_action_spec(spec)))) == spec
    with pytest.raises(CodecError, match="init_id must be int"):
        decode_episode({**episode.to_dict(), "init_id": "3"})
    with pytest.raises(CodecError, match="malformed episode"):
        decode_episode({"suite": "s"})
    with pytest.raises(CodecError, match="malformed action_spec"):
        decode_action_spec({"dims": [{"name": "x"}]})


def test_mapping_and_sequence_subclasses_travel_as_plain_containers():
    import collections
    import types

    obj = collections.OrderedDict(a=types.MappingProxyType({"b": (1, 2)}), c=np.float64(0.5))
    assert unpackb(packb(obj)) == {"a": {"b": [1, 2]}, "c": 0.5}
