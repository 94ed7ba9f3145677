"""``vla-bench train``: fit tokenizers and the shared backbone on demonstrations, resumably.

One step draws a batch and splits it between the objectives by their weights (see objectives.py), so
the checkpoint serves causal, masked and joint image+action decoders alike. A checkpoint (weights,
configs, norm stats, tokenizers) is written every ``checkpoint_every`` steps with the optimizer and RNG
state beside it; ``resume`` continues from there with the same tokenizers and data order.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vla_bench.types import NormStats


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    d_model: int = Field(192, ge=16)
    n_layers: int = Field(4, ge=1)
    n_heads: int = Field(6, ge=1)
    mlp_ratio: float = Field(4.0, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    pred_offset: Literal[0, 1] = 1


class TrainConfig(BaseModel):
    """Every knob of a training run; a YAML file under configs/training/ fills it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    data: tuple[str, ...]
    output: str
    cameras: tuple[str, ...] = ("primary",)
    image_size: int = Field(64, ge=8)
    future_image_size: int = Field(32, ge=8)
    image_grid: int = Field(4, ge=1)
    chunk: int = Field(4, ge=1)
    text_len: int = Field(12, ge=1)
    text_tokenizer: Literal["text_words", "text_bytes"] = "text_words"
    action_bins: int = Field(256, ge=2)
    state_bins: int = Field(256, ge=2)
    gripper_index: int | None = 3
    vq_codebook: int = Field(256, ge=2)
    vq_patch: int = Field(8, ge=1)
    vq_steps: int = Field(1500, ge=1)
    vq_frames: int = Field(20000, ge=16)
    model: ModelConfig = ModelConfig()
    objectives: dict[str, float] = Field(default_factory=lambda: {"joint": 1.0, "action_masked": 1.0, "causal": 1.0})
    omega: float = Field(0.5, ge=0)
    min_mask_ratio: float = Field(0.0, ge=0, le=1)
    steps: int = Field(3000, ge=1)
    batch_size: int = Field(96, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup: int = Field(100, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    augment_shift: int = Field(4, ge=0)
    seed: int = 0
    device: str = "cpu"
    threads: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(250, ge=1)
    log_every: int = Field(25, ge=1)

    @field_validator("objectives")
    @classmethod
    def _known_objectives(cls, v: dict[str, float]) -> dict[str, float]:
        from policies.training.objectives import OBJECTIVES

        bad = sorted(set(v) - set(OBJECTIVES))
        if bad:
            raise ValueError(f"unknown objectives {bad}; known: {sorted(OBJECTIVES)}")
        if not v or any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("objective weights must be >= 0 with a positive sum")
        return v


def _split(batch_size: int, weights: dict[str, float]) -> list[tuple[str, int]]:
    """Rows per objective, proportional to the weights, summing to ``batch_size``."""
    names = [n for n, w in weights.items() if w > 0]
    total = sum(weights[n] for n in names)
    counts = [max(1, int(round(batch_size * weights[n] / total))) for n in names]
    counts[-1] = max(1, batch_size - sum(counts[:-1]))
    return list(zip(names, counts))


def _lr(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    import torch
    from tqdm import tqdm

    from policies import checkpoint as ckpt
    from policies.backbone import Backbone, BackboneConfig
    from policies.sequence import SequenceSpec
    from policies.tokenizers import load_tokenizer
    from policies.tokenizers.bins import ActionTokenizer
    from policies.tokenizers.image import ImageTokenizer, ImageTokenizerConfig
    from policies.tokenizers.state import StateTokenizer
    from policies.tokenizers.text import ByteTextTokenizer, WordTextTokenizer
    from policies.training.data import build_samples, load_demos, shift_augment
    from policies.training.objectives import OBJECTIVES, Batch
    from policies.vocab import Vocab

    out = Path(cfg.output)
    state_path = out / ckpt.TRAIN_STATE
    resuming = resume and state_path.is_file()
    if resume and not resuming:
        print(f"no {state_path} to resume from; starting fresh")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.time()

    demos = load_demos(cfg.data, cfg.cameras)
    instructions = sorted({d.instruction for d in demos})
    all_actions = np.concatenate([d.actions for d in demos])
    all_state = np.concatenate([d.state for d in demos])
    norm = {"action": NormStats.from_data(all_actions), "state": NormStats.from_data(all_state)}
    if resuming:
        text_tok = load_tokenizer(out / "tokenizers" / "text")
        vq = load_tokenizer(out / "tokenizers" / "image")
        norm = ckpt.load_norm(out)
    else:
        text_tok = WordTextTokenizer.fit(instructions) if cfg.text_tokenizer == "text_words" else ByteTextTokenizer()
        vq = ImageTokenizer(ImageTokenizerConfig(image_size=cfg.future_image_size, patch=cfg.vq_patch,
                                                 codebook_size=cfg.vq_codebook, seed=cfg.seed))
    samples = build_samples(demos, cfg.cameras, cfg.image_size, cfg.chunk, cfg.chunk, text_tok.encode)
    del demos
    rng = np.random.default_rng(cfg.seed)
    if not resuming:
        pick = rng.choice(len(samples), size=min(cfg.vq_frames, len(samples)), replace=False)
        vq_stats = vq.fit(samples.future[np.sort(pick)], steps=cfg.vq_steps, progress=progress)
        print(f"image tokenizer: {json.dumps({k: round(float(v), 4) for k, v in vq_stats.items() if np.isscalar(v)})}")
    future_codes = torch.as_tensor(np.concatenate(
        [vq.encode(samples.future[i:i + 4096]) for i in range(0, len(samples), 4096)]))
    action_tok = ActionTokenizer(norm["action"], cfg.action_bins, binarize_gripper=cfg.gripper_index)
    state_tok = StateTokenizer(norm["state"], cfg.state_bins)
    action_dim = samples.chunks.shape[-1]
    action_ids = torch.as_tensor(action_tok.encode(samples.chunks).reshape(len(samples), -1))
    state_ids = torch.as_tensor(state_tok.encode(samples.state))
    print(f"{len(samples)} frames from {len(set(samples.task))} tasks, {len(instructions)} instructions; "
          f"prepared in {time.time() - t0:.0f} s")

    vocab = Vocab(text=text_tok.vocab_size, state=cfg.state_bins, image=vq.vocab_size, action=cfg.action_bins)
    spec = SequenceSpec(vocab, cfg.text_len, state_ids.shape[1], len(cfg.cameras) * cfg.image_grid**2,
                        vq.n_tokens, cfg.chunk, action_dim)
    bcfg = BackboneConfig(vocab=vocab, image_size=cfg.image_size, n_cameras=len(cfg.cameras),
                          image_grid=cfg.image_grid, max_len=spec.prefix_len + vq.n_tokens + spec.action_tokens + 8,
                          **cfg.model.model_dump())
    model = Backbone(bcfg).to(cfg.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(cfg.seed)
    step = 0
    if resuming:
        state = torch.load(state_path, weights_only=True)
        model.load_state_dict(ckpt.load_model(out).state_dict())
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        rng = np.random.default_rng()
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        step = int(state["step"])
        print(f"resuming at step {step}")

    ck_config = ckpt.CheckpointConfig(
        backbone=bcfg.to_dict(),
        sequence={"text_len": spec.text_len, "state_dim": spec.state_dim, "image_tokens": spec.image_tokens,
                  "future_tokens": spec.future_tokens, "chunk": spec.chunk, "action_dim": spec.action_dim},
        preprocess={"cameras": list(cfg.cameras), "image_size": cfg.image_size,
                    "future_image_size": cfg.future_image_size, "future_offset": cfg.chunk},
        action_bins=cfg.action_bins, state_bins=cfg.state_bins, gripper_index=cfg.gripper_index,
        text_tokenizer=cfg.text_tokenizer, train=cfg.model_dump(mode="json"),
    )

    def save(at: int) -> None:
        ckpt.save(out, model, ck_config, norm, {"text": text_tok, "image": vq})
        torch.save({"step": at, "optimizer": opt.state_dict(), "generator": gen.get_state(),
                    "numpy_rng": json.dumps(rng.bit_generator.state)}, state_path)

    split = _split(cfg.batch_size, cfg.objectives)
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "train_log.jsonl").open("a")
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, desc="train", dynamic_ncols=True)
    model.train()
    while step < cfg.steps:
        idx = torch.as_tensor(rng.integers(0, len(samples), cfg.batch_size))
        images = shift_augment(samples.images[idx], cfg.augment_shift, gen).to(cfg.device)
        batch = Batch([samples.text[i] for i in idx.tolist()], state_ids[idx].to(cfg.device), images,
                      action_ids[idx].to(cfg.device), future_codes[idx].to(cfg.device))
        for group in opt.param_groups:
            group["lr"] = _lr(step, cfg)
        loss, stats, start = 0.0, {}, 0
        for name, n in split:
            part = batch.rows(slice(start, start + n))
            start += n
            l, s = OBJECTIVES[name](model, spec, part, gen, omega=cfg.omega, min_ratio=cfg.min_mask_ratio)
            loss = loss + cfg.objectives[name] * l
            stats.update({f"{name}_loss": float(l.detach())} | {f"{name}_{k}": v for k, v in s.items()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            rec = {"step": step, "loss": round(float(loss.detach()), 4), "lr": _lr(step - 1, cfg),
                   "elapsed_s": round(time.time() - t0, 1)} | {k: round(v, 4) for k, v in stats.items()}
            bar.set_postfix(loss=rec["loss"])
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save(step)
    bar.close()
    log.close()
    print(f"checkpoint written to {out} after {step} steps ({time.time() - t0:.0f} s)")
    return out
