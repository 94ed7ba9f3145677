"""The learned policy: one checkpoint (backbone + tokenizers + norm stats) driven by any registered decoder.

Everything is loaded once at construction; ``act`` runs observation -> tokens -> ``decoder.decode`` ->
action bins -> float chunk. The same object serves the in-process runner (``reset(episode, spec)`` and
``act``) and the policy server (``reset_session(session, episode, spec)``, ``act_batch``,
``close_session``), so a batch of sessions is one decode call.

Randomness is paired across policies and runs: each session owns a ``torch.Generator`` seeded from
the episode identity (``episode_rng(episode, "vla-decoder")``). Every act draws one seed per session from
it and the decode generator is seeded from those draws, so a single session's noise depends only on its
episode and step; in a batch of several sessions it also depends on which sessions share the batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from policies import checkpoint as ckpt_io
from policies import sequence as seq
from policies.decoders.base import DecodeRequest
from policies.preprocess import camera_tensor
from vla_bench.policy import episode_rng
from vla_bench.registry import did_you_mean
from vla_bench.types import ActionSpec, EpisodeSpec, Observation

_LOCAL = "_local"  # the session used by the in-process ``reset``/``act`` pair


def _decoder_class(name: str) -> Any:
    from vla_bench import registries

    return registries.decoders.get(name)


class VLAConfig(BaseModel):
    """What a policy YAML sets; ``decoder_kwargs`` is validated by the decoder's own ``Config``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    checkpoint: str = Field(description="checkpoint directory (policies/checkpoint.py layout)")
    decoder: str = Field(description="a registered decoder (vla-bench list decoders)")
    decoder_kwargs: dict[str, Any] = Field(default_factory=dict, validate_default=True)
    execute_steps: int | None = Field(None, gt=0, description="actions returned per chunk; default: the whole chunk")
    device: str = "cpu"
    threads: int | None = Field(None, gt=0, description="torch.set_num_threads at load")
    future_images_dir: str | None = Field(None, description="save predicted future images here as PNGs")

    @field_validator("decoder")
    @classmethod
    def _registered(cls, v: str) -> str:
        try:
            _decoder_class(v)
        except (KeyError, ImportError) as exc:  # the message has suggestions and the known names
            raise ValueError(str(exc)) from None
        return v

    @field_validator("decoder_kwargs")
    @classmethod
    def _decoder_kwargs(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        name = info.data.get("decoder")
        if name is None:  # the decoder name itself failed; that error is reported
            return v
        model = _decoder_class(name).Config
        try:
            return model(**v).model_dump()
        except ValidationError as exc:
            details: list[InitErrorDetails] = []
            for err in exc.errors():
                msg = err["msg"]
                if err["type"] == "extra_forbidden":
                    hint = did_you_mean(str(err["loc"][-1]), model.model_fields)
                    msg = f"unknown key for decoder {name!r}{hint} (allowed: {', '.join(sorted(model.model_fields))})"
                details.append({"type": PydanticCustomError("decoder_kwargs", msg), "loc": tuple(err["loc"]),
                                "input": err.get("input")})
            raise ValidationError.from_exception_data(model.__name__, details) from None


@dataclasses.dataclass
class _Session:
    episode: EpisodeSpec
    action_spec: ActionSpec
    generator: torch.Generator
    steps: int = 0


class VLAPolicy:
    """Backbone + tokenizers + a decoder, loaded from one checkpoint directory."""

    Config = VLAConfig

    def __init__(self, **kwargs: Any) -> None:
        from policies.backbone import BackboneConfig
        from policies.tokenizers import load_tokenizer
        from policies.tokenizers.bins import ActionTokenizer
        from policies.tokenizers.state import StateTokenizer

        self.config = self.Config(**kwargs)
        cfg = self.config
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        self.path = Path(cfg.checkpoint)
        self.ckpt = ckpt_io.load_config(self.path)  # a CheckpointError naming the file, for every load below
        self.device = torch.device(cfg.device)
        backbone = BackboneConfig.from_dict(self.ckpt.backbone)
        self.vocab = backbone.vocab
        self.spec = seq.SequenceSpec(vocab=self.vocab, **self.ckpt.sequence)
        self.model = ckpt_io.load_model(self.path, cfg.device)
        norm = ckpt_io.load_norm(self.path)
        missing = {"action", "state"} - set(norm)
        if missing:
            raise ValueError(f"{self.path / ckpt_io.NORM} lacks statistics for {sorted(missing)}")
        self.actions = ActionTokenizer(norm["action"], self.ckpt.action_bins, binarize_gripper=self.ckpt.gripper_index)
        self.states = StateTokenizer(norm["state"], self.ckpt.state_bins)
        with ckpt_io.reading(self.path / "tokenizers" / "text"):
            self.text = load_tokenizer(self.path / "tokenizers" / "text")
        self.cameras = list(self.ckpt.preprocess["cameras"])
        self.image_size = int(self.ckpt.preprocess["image_size"])
        self._check_sizes()
        decoder = cfg.decoder
        self.decoder = _decoder_class(decoder)(**cfg.decoder_kwargs)
        self.decoder_name = decoder
        self.name = f"vla-{decoder}"
        if self.decoder.region not in seq.REGIONS:
            raise ValueError(f"decoder {decoder!r} has region {self.decoder.region!r}; known: {seq.REGIONS}")
        if self.decoder.region == "image+action" and self.spec.future_tokens < 1:
            raise ValueError(f"decoder {decoder!r} predicts a future image but checkpoint {self.path} has no "
                             "future-image tokens (sequence.future_tokens = 0)")
        self.execute_steps = cfg.execute_steps or self.spec.chunk
        if self.execute_steps > self.spec.chunk:
            raise ValueError(f"execute_steps {self.execute_steps} exceeds the checkpoint's chunk of {self.spec.chunk}")
        self.images = None
        if cfg.future_images_dir is not None and self.decoder.region == "image+action":
            with ckpt_io.reading(self.path / "tokenizers" / "image"):
                self.images = load_tokenizer(self.path / "tokenizers" / "image")
        self.digest = ckpt_io.digest(self.path)
        self._sessions: dict[str, _Session] = {}
        self._decodes = self._nfe = self._invalid = 0
        self._decode_s = 0.0

    def _check_sizes(self) -> None:
        checks = [("action_bins", self.ckpt.action_bins, "action"), ("state_bins", self.ckpt.state_bins, "state"),
                  ("text tokenizer vocabulary", self.text.vocab_size, "text")]
        for what, n, modality in checks:
            if n > len(self.vocab.range(modality)):
                raise ValueError(f"checkpoint {self.path}: {what} {n} exceeds the backbone's {modality} "
                                 f"vocabulary of {len(self.vocab.range(modality))}")
        if self.actions.dim != self.spec.action_dim or self.states.dim != self.spec.state_dim:
            raise ValueError(f"checkpoint {self.path}: norm stats have {self.actions.dim} action / {self.states.dim} "
                             f"state dims, the sequence {self.spec.action_dim} / {self.spec.state_dim}")

    # -- episodes ----------------------------------------------------------------------------
    def reset(self, episode: EpisodeSpec, action_spec: ActionSpec) -> None:
        """Start an episode of the in-process ``reset``/``act`` pair (the Policy protocol)."""
        self.reset_session(_LOCAL, episode, action_spec)

    def reset_session(self, session: str, episode: EpisodeSpec, action_spec: ActionSpec) -> None:
        """Start an episode of one server session (the BatchPolicy protocol)."""
        self._check_action_spec(action_spec)
        seed = int(episode_rng(episode, "vla-decoder").integers(0, 2**62))
        gen = torch.Generator().manual_seed(seed)
        self._sessions[str(session)] = _Session(episode, action_spec, gen)

    def _check_action_spec(self, spec: ActionSpec) -> None:
        if spec.dim != self.spec.action_dim:
            names = ", ".join(d.name for d in spec.dims)
            raise ValueError(f"checkpoint {self.path} predicts {self.spec.action_dim}-dim actions but the env's "
                             f"action spec has {spec.dim} ({names}); use a checkpoint trained on this benchmark")
        g = self.ckpt.gripper_index
        if g is not None and spec.gripper_index is not None and g % spec.dim != spec.gripper_index % spec.dim:
            raise ValueError(f"checkpoint {self.path} has the gripper at action index {g}, the env at "
                             f"{spec.gripper_index}")

    def close_session(self, session: str) -> None:
        self._sessions.pop(str(session), None)

    # -- acting ------------------------------------------------------------------------------
    def act(self, obs: Observation) -> np.ndarray:
        return self.act_batch([(_LOCAL, obs)])[0]

    def act_batch(self, items: list[tuple[str, Observation]]) -> list[np.ndarray]:
        """One decode over every item; row ``i`` is the chunk ``[execute_steps, action_dim]`` for item ``i``."""
        if not items:
            return []
        sessions = []
        for session, _ in items:
            if str(session) not in self._sessions:
                raise RuntimeError(f"act before reset for session {session!r}: reset at the start of every episode")
            sessions.append(self._sessions[str(session)])
        obs = [o for _, o in items]
        req = self._request(obs, sessions)
        t0 = time.perf_counter()
        result = self.decoder.decode(req)
        self._decode_s += time.perf_counter() - t0
        self._decodes += 1
        self._nfe += int(result.nfe)
        pos = req.region.positions("action").to(result.tokens.device)
        ids = result.tokens[:, pos]
        r = self.vocab.range("action")
        self._invalid += int(((ids < r.start) | (ids >= r.start + self.actions.n_bins)).sum())
        local = self.vocab.to_local("action", ids).reshape(len(items), self.spec.chunk, self.spec.action_dim)
        chunks = self.actions.decode(local.cpu().numpy())
        if self.images is not None and "future_image" in result.info:
            self._save_future(obs, sessions, result.info["future_image"])
        out = []
        for s, chunk in zip(sessions, chunks):
            s.steps += 1
            out.append(s.action_spec.clip(chunk)[: self.execute_steps].astype(np.float32))
        return out

    def _request(self, obs: list[Observation], sessions: list[_Session]) -> DecodeRequest:
        states = []
        for o in obs:
            st = np.asarray(o.state, dtype=np.float32)
            if st.shape != (self.spec.state_dim,):
                raise ValueError(f"observation state has shape {st.shape}; checkpoint {self.path} expects "
                                 f"({self.spec.state_dim},)")
            states.append(st)
        images = camera_tensor([o.images for o in obs], self.cameras, self.image_size).to(self.device)
        state_ids = torch.as_tensor(self.states.encode(np.stack(states)), device=self.device)
        text_ids = [self.text.encode(o.instruction) for o in obs]
        prefix = seq.prefix(self.spec, text_ids, state_ids)
        region = seq.region(self.spec, self.decoder.region, len(obs), device=self.device)
        draws = [int(torch.randint(0, 2**62, (1,), generator=s.generator)) for s in sessions]
        seed = int(hashlib.sha256(repr(draws).encode()).hexdigest()[:15], 16)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        return DecodeRequest(model=self.model, vocab=self.vocab, prefix=prefix, region=region, images=images,
                             generator=gen, action_dim=self.spec.action_dim)

    def _save_future(self, obs: list[Observation], sessions: list[_Session], codes: Any) -> None:
        """Current frame and predicted future frame side by side, one PNG per step and episode."""
        from PIL import Image

        from policies.tokenizers.image import to_png

        arr = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
        predicted = self.images.decode(arr)
        root = Path(self.config.future_images_dir) / self.name
        for o, s, pred in zip(obs, sessions, predicted):
            cur = np.asarray(o.images[self.cameras[0]])
            pred = np.asarray(Image.fromarray(pred).resize((cur.shape[1], cur.shape[0]), Image.NEAREST))
            ep = re.sub(r"[^\w.@-]+", "_", s.episode.key)
            to_png(np.stack([cur, pred]), root / ep / f"step_{s.steps:04d}.png")

    def metadata(self) -> dict[str, Any]:
        return {
            "checkpoint": str(self.path),
            "checkpoint_digest": self.digest,
            "decoder": self.decoder_name,
            "decoder_config": self.decoder.config.model_dump(mode="json"),
            "execute_steps": self.execute_steps,
            "chunk": self.spec.chunk,
            "decode_calls": self._decodes,
            "mean_nfe": self._nfe / self._decodes if self._decodes else None,
            "mean_decode_ms": 1000 * self._decode_s / self._decodes if self._decodes else None,
            "invalid_action_tokens": self._invalid,
        }
