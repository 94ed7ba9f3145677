"""msgpack with numpy arrays as an extension type: dtype string, shape, raw bytes. No pickle.

Only plain numeric and bool dtypes are accepted; decoding checks dtype, shape and byte length, and
anything malformed raises :class:`CodecError` (never another exception).
"""

from __future__ import annotations

from typing import Any, Mapping

import msgpack
import numpy as np

from vla_bench.types import ActionSpec, EpisodeSpec, Observation

NDARRAY_EXT = 1
ALLOWED_KINDS = frozenset("biufc")


class CodecError(ValueError):
    """A frame that cannot be encoded or decoded."""


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in ALLOWED_KINDS or obj.dtype.fields is not None:
            raise CodecError(f"arrays of dtype {obj.dtype} cannot be sent (numeric and bool only)")
        # tobytes() is C-ordered for any layout; ascontiguousarray would turn 0-d arrays into 1-d
        return msgpack.ExtType(NDARRAY_EXT, msgpack.packb([obj.dtype.str, list(obj.shape), obj.tobytes()]))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    raise CodecError(f"cannot encode object of type {type(obj).__name__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code != NDARRAY_EXT:
        raise CodecError(f"unknown extension type {code}")
    try:
        dtype_str, shape, buf = msgpack.unpackb(data)
        dtype = np.dtype(dtype_str)
    except Exception as exc:  # noqa: BLE001 - any malformed payload is a codec error
        raise CodecError(f"malformed array payload: {exc}") from None
    if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise CodecError(f"arrays of dtype {dtype} are not accepted")
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise CodecError(f"malformed array shape {shape!r}")
    if not isinstance(buf, bytes) or len(buf) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise CodecError("array byte length does not match its dtype and shape")
    return np.frombuffer(buf, dtype=dtype).reshape(tuple(shape)).copy()


def packb(obj: Any) -> bytes:
    try:
        return msgpack.packb(obj, default=_default, use_bin_type=True, strict_types=True)
    except CodecError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot encode: {exc}") from None


def unpackb(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    except CodecError:
        raise
    except Exception as exc:  # noqa: BLE001 - msgpack raises many types on garbage
        raise CodecError(f"malformed msgpack frame: {exc}") from None


def _encodable(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, bytes, np.generic)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in ALLOWED_KINDS and value.dtype.fields is None
    if isinstance(value, (list, tuple)):
        return all(_encodable(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _encodable(v) for k, v in value.items())
    return False


def encode_observation(obs: Observation) -> dict[str, Any]:
    """Observation as a plain map; info entries that cannot travel are left out."""
    return {
        "images": dict(obs.images),
        "state": obs.state,
        "instruction": obs.instruction,
        "info": {k: v for k, v in obs.info.items() if _encodable(v)},
    }


def decode_observation(d: Any) -> Observation:
    try:
        images = {str(k): np.asarray(v) for k, v in d["images"].items()}
        obs = Observation(images=images, state=np.asarray(d["state"]), instruction=d["instruction"],
                          info=dict(d.get("info") or {}))
    except (KeyError, TypeError, AttributeError) as exc:
        raise CodecError(f"malformed observation: missing or wrong field {exc}") from None
    try:
        obs.validate()
    except ValueError as exc:
        raise CodecError(f"malformed observation: {exc}") from None
    return obs


def decode_episode(d: Any) -> EpisodeSpec:
    try:
        return EpisodeSpec.from_dict(d)
    except TypeError as exc:
        raise CodecError(f"malformed episode: {exc}") from None


def decode_action_spec(d: Any) -> ActionSpec:
    try:
        return ActionSpec.from_dict(d)
    except (TypeError, KeyError) as exc:
        raise CodecError(f"malformed action_spec: {exc}") from None
