"""The uniform contract between benchmarks, policies and the runner.

Everything that crosses a process or network boundary is a plain frozen dataclass that converts to
and from JSON-friendly dicts, so records written today can be read by tomorrow's report.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Mapping

import numpy as np
from numpy.typing import NDArray

GRIPPER_CONVENTION = "+1 open, -1 close"


@dataclass(frozen=True)
class Observation:
    """What a policy sees at one step.

    images: camera name -> HxWx3 uint8, upright (row 0 is the top of the picture).
    state: float32 proprioception, shape (state_dim,).
    instruction: the natural-language task, possibly perturbed.
    info: benchmark extras (privileged state for scripted experts, task name, ...).
    """

    images: Mapping[str, NDArray[np.uint8]]
    state: NDArray[np.float32]
    instruction: str
    info: Mapping[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError if the observation breaks the contract."""
        for name, img in self.images.items():
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise ValueError(f"image {name!r} must be HxWx3 uint8, got {img.dtype} {img.shape}")
        if self.state.dtype != np.float32 or self.state.ndim != 1:
            raise ValueError(f"state must be 1-D float32, got {self.state.dtype} {self.state.shape}")
        if not isinstance(self.instruction, str):
            raise ValueError("instruction must be a str")


@dataclass(frozen=True)
class ActionDim:
    """One dimension of an action vector: what it means, its range and its frame."""

    name: str
    low: float
    high: float
    frame: Literal["world", "base", "ee", "joint", "gripper"] = "world"
    unit: str = ""


@dataclass(frozen=True)
class ActionSpec:
    """Describes a float32 action vector; the gripper convention is stated once: +1 open, -1 close."""

    dims: tuple[ActionDim, ...]
    control: str = "delta_ee"
    gripper_index: int | None = None
    gripper_convention: str = GRIPPER_CONVENTION

    @property
    def dim(self) -> int:
        return len(self.dims)

    @property
    def low(self) -> NDArray[np.float32]:
        return np.array([d.low for d in self.dims], dtype=np.float32)

    @property
    def high(self) -> NDArray[np.float32]:
        return np.array([d.high for d in self.dims], dtype=np.float32)

    def clip(self, action: NDArray[np.floating]) -> NDArray[np.float32]:
        return np.clip(np.asarray(action, dtype=np.float32), self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ActionSpec:
        return cls(**{**d, "dims": tuple(ActionDim(**x) for x in d["dims"])})


@dataclass(frozen=True)
class NormStats:
    """Per-dimension quantile statistics used to map actions to [-1, 1] (OpenVLA's BOUNDS_Q99)."""

    q01: tuple[float, ...]
    q99: tuple[float, ...]
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @classmethod
    def from_data(cls, x: NDArray[np.floating]) -> NormStats:
        x = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
        return cls(
            q01=tuple(np.quantile(x, 0.01, axis=0).tolist()),
            q99=tuple(np.quantile(x, 0.99, axis=0).tolist()),
            mean=tuple(x.mean(0).tolist()),
            std=tuple(x.std(0).tolist()),
        )

    def normalize(self, x: NDArray[np.floating]) -> NDArray[np.float32]:
        lo, hi = np.asarray(self.q01), np.asarray(self.q99)
        span = np.where(hi - lo > 1e-8, hi - lo, 1.0)
        return np.clip(2.0 * (np.asarray(x) - lo) / span - 1.0, -1.0, 1.0).astype(np.float32)

    def unnormalize(self, y: NDArray[np.floating]) -> NDArray[np.float32]:
        lo, hi = np.asarray(self.q01), np.asarray(self.q99)
        return (0.5 * (np.asarray(y) + 1.0) * (hi - lo) + lo).astype(np.float32)


@dataclass(frozen=True, order=True)
class EpisodeSpec:
    """The identity of an episode. Every policy in a comparison runs the same identities."""

    suite: str
    task: str
    init_id: int
    perturbation: str = "none"
    seed: int = 0

    @property
    def key(self) -> str:
        """A stable string key, used for de-duplication and pairing across runs."""
        return f"{self.suite}/{self.task}/{self.init_id}/{self.perturbation}/{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EpisodeSpec:
        return cls(**d)


class EpisodeStatus(str, enum.Enum):
    """SUCCESS, FAILURE and TIMEOUT count toward success rates; ERROR never does."""

    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    ERROR = "error"

    @property
    def counted(self) -> bool:
        return self is not EpisodeStatus.ERROR


@dataclass(frozen=True)
class SubtaskResult:
    """One link of a chained episode: which subtask, whether it succeeded, and the steps it took."""

    name: str
    success: bool
    steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "success": self.success, "steps": self.steps}

    @classmethod
    def from_any(cls, d: Any, index: int = 0) -> SubtaskResult:
        """From a record; a bare bool (records written before subtasks had names) gets a positional name."""
        if isinstance(d, Mapping):
            return cls(str(d["name"]), bool(d["success"]), int(d.get("steps", 0)))
        return cls(f"subtask-{index + 1}", bool(d))


@dataclass(frozen=True)
class EpisodeResult:
    """One line of episodes.jsonl: the outcome of one attempt at one episode identity.

    ``subtasks`` is filled by chained episodes (CALVIN-style), in order, up to the first failure;
    ``extra`` holds mode-specific facts (operator labels, measured control rate, ...).
    """

    spec: EpisodeSpec
    policy: str
    status: EpisodeStatus
    steps: int
    subtasks: tuple[SubtaskResult, ...] = ()
    timing: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None
    attempt: int = 0
    video: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status is EpisodeStatus.SUCCESS

    @property
    def chain_length(self) -> int:
        """Subtasks completed in a row from the start of the chain."""
        n = 0
        for s in self.subtasks:
            if not s.success:
                break
            n += 1
        return n

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "spec": self.spec.to_dict(),
            "policy": self.policy,
            "status": self.status.value,
            "steps": self.steps,
            "subtasks": [s.to_dict() for s in self.subtasks],
            "timing": dict(self.timing),
            "error": self.error,
            "attempt": self.attempt,
            "video": self.video,
        }
        if self.subtasks:
            d["chain_length"] = self.chain_length
        if self.extra:
            d["extra"] = dict(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EpisodeResult:
        return cls(
            spec=EpisodeSpec.from_dict(d["spec"]),
            policy=d["policy"],
            status=EpisodeStatus(d["status"]),
            steps=int(d["steps"]),
            subtasks=tuple(SubtaskResult.from_any(x, i) for i, x in enumerate(d.get("subtasks", ()))),
            timing=dict(d.get("timing", {})),
            error=d.get("error"),
            attempt=int(d.get("attempt", 0)),
            video=d.get("video"),
            extra=dict(d.get("extra", {})),
        )


def stable_hash(obj: Any) -> str:
    """sha256 of the canonical JSON form of a JSON-compatible object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
