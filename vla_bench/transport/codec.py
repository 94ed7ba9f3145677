"""msgpack with numpy arrays as an extension type: dtype string, shape, raw bytes. No pickle.

Only plain numeric and bool dtypes are accepted; decoding checks dtype, shape and byte length, and
anything malformed raises :class:`CodecError` (never another exception). Decoding is bounded: a frame
may hold at most ``MAX_OBJECTS`` array/map elements and ``MAX_ARRAYS`` numpy arrays, because a few
megabytes of msgpack (one byte per empty list) would otherwise expand into millions of Python objects,
hundreds of MiB and seconds of a thread holding the interpreter lock.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import msgpack
import numpy as np

from vla_bench.types import ActionSpec, EpisodeSpec, Observation

PROTOCOL_VERSION = 1  # sent by the server in its metadata frame; a client refuses any other at connect
NDARRAY_EXT = 1
ALLOWED_KINDS = frozenset("biufc")
MAX_OBJECTS = 1 << 14  # elements of all msgpack arrays and maps in one frame (an observation holds ~20)
MAX_ARRAYS = 256  # numpy arrays in one frame (an observation holds a few)


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
    if isinstance(obj, (tuple, list)):  # tuples and list subclasses (strict_types sends them here)
        return list(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    raise CodecError(f"cannot encode object of type {type(obj).__name__}")


class _Budget:
    """Counts what one frame decodes into and stops the decoder once it exceeds the bounds.

    msgpack calls the hooks as each container completes, so an oversized frame is refused after at
    most ``MAX_OBJECTS`` elements, never after building all of them.
    """

    def __init__(self, objects: int = MAX_OBJECTS, arrays: int = MAX_ARRAYS) -> None:
        self.objects, self.arrays, self.limits = objects, arrays, (objects, arrays)

    def _take(self, n: int) -> None:
        self.objects -= n
        if self.objects < 0:
            raise CodecError(f"frame holds more than {self.limits[0]} array and map elements")

    def list_hook(self, items: list[Any]) -> list[Any]:
        self._take(len(items) + 1)
        return items

    def object_hook(self, d: dict[Any, Any]) -> dict[Any, Any]:
        self._take(2 * len(d) + 1)
        return d

    def ext_hook(self, code: int, data: bytes) -> Any:
        self.arrays -= 1
        if self.arrays < 0:
            raise CodecError(f"frame holds more than {self.limits[1]} arrays")
        return _ext_hook(code, data)


def _no_map(d: Any) -> Any:
    raise CodecError("malformed array payload: unexpected map")


def _ext_hook(code: int, data: bytes) -> Any:
    if code != NDARRAY_EXT:
        raise CodecError(f"unknown extension type {code}")
    try:
        # [dtype, shape (<= 32 ints), bytes]: a payload nesting anything more is refused early
        dtype_str, shape, buf = msgpack.unpackb(
            data, raw=False, list_hook=_Budget(objects=40, arrays=0).list_hook, object_hook=_no_map,
            max_array_len=33, max_map_len=0, max_str_len=64, max_ext_len=0, max_bin_len=len(data))
        if not isinstance(dtype_str, str):
            raise TypeError(f"dtype must be a string, got {type(dtype_str).__name__}")
        dtype = np.dtype(dtype_str)
    except Exception as exc:  # noqa: BLE001 - any malformed payload is a codec error
        raise CodecError(f"malformed array payload: {exc}") from None
    if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise CodecError(f"arrays of dtype {dtype} are not accepted (numeric and bool only)")
    if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape) or len(shape) > 32:
        raise CodecError(f"malformed array shape {shape!r}")
    # math.prod on Python ints cannot overflow, unlike np.prod on int64
    if not isinstance(buf, bytes) or len(buf) != dtype.itemsize * math.prod(shape):
        raise CodecError(f"array byte length does not match dtype {dtype} and shape {tuple(shape)}")
    return np.frombuffer(buf, dtype=dtype).reshape(tuple(shape)).copy()


def packb(obj: Any) -> bytes:
    try:
        return msgpack.packb(obj, default=_default, use_bin_type=True, strict_types=True)
    except CodecError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot encode: {exc}") from None


def unpackb(data: bytes, max_objects: int = MAX_OBJECTS) -> Any:
    """Decode one frame within the bounds above (see :class:`_Budget`)."""
    budget, n = _Budget(max_objects), len(data)
    try:
        return msgpack.unpackb(data, ext_hook=budget.ext_hook, list_hook=budget.list_hook,
                               object_hook=budget.object_hook, raw=False, strict_map_key=False,
                               max_array_len=max_objects, max_map_len=max_objects, max_str_len=n,
                               max_bin_len=n, max_ext_len=n)
    except CodecError:
        raise
    except Exception as exc:  # noqa: BLE001 - msgpack raises many types on garbage
        raise CodecError(f"malformed msgpack frame: {exc}") from None


class _Drop:
    """Marks a value that cannot travel."""


_DROP = _Drop()


def transportable(value: Any) -> Any:
    """``value`` with everything that cannot travel left out (recursively), or ``_DROP``."""
    if value is None or isinstance(value, (bool, int, float, str, bytes, np.generic)):
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
            return _DROP
        if isinstance(value, np.generic) and value.dtype.kind not in ALLOWED_KINDS | {"U", "S"}:
            return _DROP
        return value
    if isinstance(value, np.ndarray):
        ok = value.dtype.kind in ALLOWED_KINDS and value.dtype.fields is None
        return value if ok else _DROP
    if isinstance(value, (list, tuple)):
        return [v for v in (transportable(x) for x in value) if v is not _DROP]
    if isinstance(value, Mapping):
        kept = {k: transportable(v) for k, v in value.items() if isinstance(k, str)}
        return {k: v for k, v in kept.items() if v is not _DROP}
    return _DROP


def encode_observation(obs: Observation) -> dict[str, Any]:
    """Observation as a plain map; info entries (and nested parts) that cannot travel are left out."""
    return {
        "images": dict(obs.images),
        "state": obs.state,
        "instruction": obs.instruction,
        "info": transportable(dict(obs.info)),
    }


def encode_episode(episode: EpisodeSpec) -> dict[str, Any]:
    return episode.to_dict()


def encode_action_spec(spec: ActionSpec) -> dict[str, Any]:
    return spec.to_dict()


def _check_finite(name: str, a: np.ndarray) -> None:
    """NaN or inf would reach the policy as an ordinary number; name the field instead."""
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        raise CodecError(f"{name} contains {'NaN' if np.isnan(a).any() else 'inf'}")


def decode_observation(d: Any) -> Observation:
    """An :class:`Observation`, or a :class:`CodecError` naming the field (``observation.state ...``)."""
    if not isinstance(d, Mapping):
        raise CodecError(f"observation must be a mapping, got {type(d).__name__}")
    for key in ("images", "state", "instruction"):
        if key not in d:
            raise CodecError(f"observation.{key} is missing")
    images, state, info = d["images"], d["state"], d.get("info")
    if not isinstance(images, Mapping):
        raise CodecError(f"observation.images must be a mapping, got {type(images).__name__}")
    for name, img in images.items():
        field = f"observation.images[{name!r}]"
        if not isinstance(img, np.ndarray):
            raise CodecError(f"{field} must be an array, got {type(img).__name__}")
        _check_finite(field, img)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise CodecError(f"{field} must be HxWx3 uint8, got {img.dtype} {img.shape}")
    if not isinstance(state, np.ndarray):
        raise CodecError(f"observation.state must be an array, got {type(state).__name__}")
    _check_finite("observation.state", state)
    if state.dtype != np.float32 or state.ndim != 1:
        raise CodecError(f"observation.state must be 1-D float32, got {state.dtype} {state.shape}")
    if not isinstance(d["instruction"], str):
        raise CodecError(f"observation.instruction must be a string, got {type(d['instruction']).__name__}")
    if info is not None and not isinstance(info, Mapping):
        raise CodecError(f"observation.info must be a mapping, got {type(info).__name__}")
    return Observation(images={str(k): v for k, v in images.items()}, state=state,
                       instruction=d["instruction"], info=dict(info or {}))


_EPISODE_TYPES = {"suite": str, "task": str, "init_id": int, "perturbation": str, "seed": int}


def decode_episode(d: Any) -> EpisodeSpec:
    if not isinstance(d, Mapping):
        raise CodecError(f"malformed episode: expected a map, got {type(d).__name__}")
    for key, value in d.items():
        want = _EPISODE_TYPES.get(key)
        if want is not None and (not isinstance(value, want) or isinstance(value, bool)):
            raise CodecError(f"malformed episode: {key} must be {want.__name__}, got {type(value).__name__}")
    try:
        return EpisodeSpec.from_dict(d)
    except TypeError as exc:
        raise CodecError(f"malformed episode: {exc}") from None


def decode_action_spec(d: Any) -> ActionSpec:
    if not isinstance(d, Mapping) or not isinstance(d.get("dims"), list):
        raise CodecError("malformed action_spec: expected a map with a list of dims")
    if not all(isinstance(x, Mapping) for x in d["dims"]):
        raise CodecError("malformed action_spec: every dim must be a map")
    try:
        return ActionSpec.from_dict(d)
    except (TypeError, KeyError, ValueError) as exc:
        raise CodecError(f"malformed action_spec: {exc}") from None
