"""Decoder speed on one checkpoint: forward passes, latency, throughput, KV cache on/off, batch 1 vs 16.

Every registered decoder runs on the same backbone and the same seeded inputs (a prefix of text,
state and camera images built by :mod:`policies.sequence`). Per (decoder, batch, cache) cell it
reports, over ``repeats`` timed chunks after ``warmup`` untimed ones (the conventions of UD-VLA, CEED-VLA and Fast-dLLM):

- NFE: backbone forward passes per chunk;
- p50 / p95 latency per chunk (ms), wall time of ``Decoder.decode`` (prefill included);
- action tokens/s = batch x action tokens / p50, and all generated tokens/s (future-image codes
  too, for the image+action decoders);
- executed actions/s = batch x ``execute_steps`` / p50 (the control rate one robot sees is this
  divided by the batch).

The ratios named as targets are printed with PASS/MISS. On a shared CPU the absolute numbers are
noise; the ratios within one run are what to read.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from policies import sequence
from policies.backbone import Backbone, BackboneConfig
from policies.decoders.base import DecodeRequest
from policies.vocab import Vocab

SHIPPED_CHECKPOINT = Path("checkpoints/mt10")


@dataclass(frozen=True)
class RandomLayout:
    """The randomly initialised backbone used when no checkpoint is given (realistic sizes)."""

    d_model: int = 192
    n_layers: int = 4
    n_heads: int = 6
    text_len: int = 12
    state_dim: int = 4
    image_size: int = 64
    image_grid: int = 4
    future_tokens: int = 16
    chunk: int = 4
    action_dim: int = 4
    text_vocab: int = 64
    state_vocab: int = 256
    image_vocab: int = 256
    action_vocab: int = 256


@dataclass
class DecodeBench:
    checkpoint: str | None = None  # None: the shipped checkpoint if present, else a random backbone
    random_backbone: bool = False  # the random backbone of ``layout`` even when a checkpoint is shipped
    repeats: int = 5
    warmup: int = 1
    threads: int | None = None
    batches: tuple[int, ...] = (1, 16)
    execute_steps: int | None = None  # None: the whole chunk
    decoders: tuple[str, ...] | None = None  # None: every registered decoder
    seed: int = 0
    layout: RandomLayout = field(default_factory=RandomLayout)
    decoder_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)  # decoder name -> config overrides


# decoders the target ratios name; reported as missing when they are not registered
TARGET_DECODERS = ("autoregressive", "one_step", "masked_diffusion", "jd3p")


@dataclass
class Setup:
    model: Any
    spec: sequence.SequenceSpec
    source: str


def random_setup(layout: RandomLayout, seed: int = 0) -> Setup:
    vocab = Vocab(text=layout.text_vocab, state=layout.state_vocab, image=layout.image_vocab,
                  action=layout.action_vocab)
    cfg = BackboneConfig(vocab, d_model=layout.d_model, n_layers=layout.n_layers, n_heads=layout.n_heads,
                         image_size=layout.image_size, image_grid=layout.image_grid)
    torch.manual_seed(seed)
    model = Backbone(cfg).eval()
    spec = sequence.SequenceSpec(vocab, text_len=layout.text_len, state_dim=layout.state_dim,
                                 image_tokens=cfg.image_tokens, future_tokens=layout.future_tokens,
                                 chunk=layout.chunk, action_dim=layout.action_dim)
    src = (f"random backbone (no checkpoint): d_model {layout.d_model}, {layout.n_layers} layers, "
           f"{layout.n_heads} heads, text {layout.text_len}, state {layout.state_dim}, image {cfg.image_tokens} "
           f"placeholders at {layout.image_size}px, future {layout.future_tokens} codes, chunk {layout.chunk} x "
           f"action_dim {layout.action_dim}")
    return Setup(model, spec, src)


def checkpoint_setup(directory: Path) -> Setup:
    from policies.checkpoint import load_config, load_model

    model = load_model(directory)
    cfg = load_config(directory)
    names = {f.name for f in dataclasses.fields(sequence.SequenceSpec)} - {"vocab"}
    sizes = {k: v for k, v in cfg.sequence.items() if k in names}
    sizes.setdefault("image_tokens", model.config.image_tokens)
    spec = sequence.SequenceSpec(model.config.vocab, **sizes)
    return Setup(model, spec, f"checkpoint {directory}")


def make_setup(b: DecodeBench) -> Setup:
    if b.random_backbone:
        return random_setup(b.layout, b.seed)
    if b.checkpoint:
        return checkpoint_setup(Path(b.checkpoint))
    if (SHIPPED_CHECKPOINT / "config.json").is_file():
        return checkpoint_setup(SHIPPED_CHECKPOINT)
    return random_setup(b.layout, b.seed)


def make_inputs(setup: Setup, batch: int, seed: int) -> tuple[sequence.Part, torch.Tensor]:
    """Seeded random instruction, state and camera images of the checkpoint's layout."""
    spec, cfg = setup.spec, setup.model.config
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, spec.text_len + 1, (batch,), generator=g).tolist()
    text = [torch.randint(0, spec.vocab.text, (n,), generator=g).tolist() for n in lengths]
    state = torch.randint(0, spec.vocab.state, (batch, spec.state_dim), generator=g)
    images = torch.rand(batch, cfg.n_cameras, 3, cfg.image_size, cfg.image_size, generator=g)
    return sequence.prefix(spec, text, state), images


def available_decoders(names: tuple[str, ...] | None) -> tuple[dict[str, type], dict[str, str]]:
    """Registered decoder classes that import, and the missing ones with the reason."""
    from vla_bench.registries import decoders

    wanted = list(names) if names else decoders.names()
    found: dict[str, type] = {}
    missing: dict[str, str] = {}
    for name in wanted:
        if name not in decoders:
            missing[name] = "not registered"
            continue
        try:
            found[name] = decoders.get(name)
        except ImportError as exc:
            missing[name] = f"cannot be imported ({exc.__cause__ or exc})"
    if not names:
        for name in TARGET_DECODERS:
            if name not in found and name not in missing:
                missing[name] = "not registered"
    return found, missing


def _request(setup: Setup, cls: type, prefix: sequence.Part, images: torch.Tensor, seed: int) -> DecodeRequest:
    region = sequence.region(setup.spec, cls.region, prefix.ids.shape[0])
    return DecodeRequest(setup.model, setup.spec.vocab, prefix, region, images,
                         torch.Generator().manual_seed(seed), action_dim=setup.spec.action_dim)


def measure_cell(setup: Setup, cls: type, batch: int, use_cache: bool, b: DecodeBench) -> dict[str, Any]:
    row: dict[str, Any] = {"decoder": cls.name, "batch": batch, "cache": use_cache,
                           "default_cache": bool(cls.Config().use_cache),
                           "config": dict(b.decoder_kwargs.get(cls.name, {}))}
    if use_cache and cls.layout == "bidirectional":
        row["note"] = "n/a: bidirectional layout has no exact prefix cache"
        return row
    try:
        kwargs = {k: v for k, v in b.decoder_kwargs.get(cls.name, {}).items() if k != "use_cache"}
        decoder = cls(**kwargs, use_cache=use_cache)
    except Exception as exc:  # noqa: BLE001 - a decoder that rejects the knob is reported, not fatal
        row["note"] = f"error: {type(exc).__name__}: {exc}"
        return row
    prefix, images = make_inputs(setup, batch, b.seed)
    times: list[float] = []
    res = None
    try:
        for i in range(b.warmup + b.repeats):
            req = _request(setup, cls, prefix, images, b.seed)
            t0 = time.perf_counter()
            res = decoder.decode(req)
            dt = time.perf_counter() - t0
            if i >= b.warmup:
                times.append(dt)
    except Exception as exc:  # noqa: BLE001
        row["note"] = f"error: {type(exc).__name__}: {exc}"
        return row
    assert res is not None
    spec = setup.spec
    n_gen = int(sum(1 for m in req.region.modality if m))
    p50 = float(np.percentile(times, 50))
    execute = b.execute_steps or spec.chunk
    row.update({
        "nfe": res.nfe,
        "p50_ms": 1000 * p50,
        "p95_ms": 1000 * float(np.percentile(times, 95)),
        "action_tokens_per_s": batch * spec.action_tokens / p50,
        "generated_tokens_per_s": batch * n_gen / p50,
        "executed_actions_per_s": batch * execute / p50,
        "repeats": len(times),
    })
    return row


def _cell(rows: list[dict[str, Any]], name: str, batch: int, cache: bool | None) -> dict[str, Any] | None:
    """The measured row of one cell; ``cache`` None = the decoder's default cache setting."""
    for r in rows:
        want = r["default_cache"] if cache is None else cache
        if r["decoder"] == name and r["batch"] == batch and r["cache"] == want and "p50_ms" in r:
            return r
    return None


def ratios(rows: list[dict[str, Any]], batches: tuple[int, ...]) -> list[dict[str, Any]]:
    """The target ratios (None when a cell is missing): latency ratios at batch 1, default cache."""
    lo, hi = min(batches), max(batches)
    out: list[dict[str, Any]] = []

    def add(label: str, num: dict | None, den: dict | None, key: str, target: float, invert: bool) -> None:
        value = None
        if num is not None and den is not None:
            value = (den[key] / num[key]) if invert else (num[key] / den[key])
        out.append({"name": label, "value": value, "target": target,
                    "status": "n/a" if value is None else "PASS" if value >= target else "MISS"})

    ar = _cell(rows, "autoregressive", lo, None)
    add(f"one_step vs autoregressive, latency per chunk (batch {lo})", _cell(rows, "one_step", lo, None), ar,
        "p50_ms", 10.0, True)
    add(f"masked_diffusion vs autoregressive, latency per chunk (batch {lo})",
        _cell(rows, "masked_diffusion", lo, None), ar, "p50_ms", 3.0, True)
    add(f"jd3p KV cache on vs off, latency per chunk (batch {lo})", _cell(rows, "jd3p", lo, True),
        _cell(rows, "jd3p", lo, False), "p50_ms", 1.5, True)
    if hi != lo:
        for name in sorted({r["decoder"] for r in rows}):
            add(f"{name}: batch {hi} vs batch {lo} throughput", _cell(rows, name, hi, None), _cell(rows, name, lo, None),
                "action_tokens_per_s", 6.0, False)
    return out


def run_decode_bench(b: DecodeBench, progress: Any = None) -> dict[str, Any]:
    if b.threads:
        torch.set_num_threads(b.threads)
    setup = make_setup(b)
    if b.execute_steps is not None and not 1 <= b.execute_steps <= setup.spec.chunk:
        raise ValueError(f"execute_steps {b.execute_steps} must be between 1 and the chunk ({setup.spec.chunk})")
    found, missing = available_decoders(b.decoders)
    rows: list[dict[str, Any]] = []
    for name, cls in found.items():
        for batch in b.batches:
            for use_cache in (True, False):
                row = measure_cell(setup, cls, batch, use_cache, b)
                rows.append(row)
                if progress:
                    progress(row)
    return {
        "setup": setup.source,
        "spec": {k: v for k, v in dataclasses.asdict(setup.spec).items() if k != "vocab"},
        "vocab": setup.spec.vocab.to_dict(),
        "pred_offset": int(setup.model.pred_offset),
        "threads": torch.get_num_threads(),
        "repeats": b.repeats,
        "warmup": b.warmup,
        "execute_steps": b.execute_steps or setup.spec.chunk,
        "rows": rows,
        "missing": missing,
        "ratios": ratios(rows, tuple(b.batches)),
    }


def format_decode_bench(result: dict[str, Any]) -> str:
    spec = result["spec"]
    lines = [
        f"decode benchmark: {result['setup']}",
        f"action tokens per chunk {spec['chunk'] * spec['action_dim']}, executed actions per chunk "
        f"{result['execute_steps']}, {result['repeats']} timed chunks after {result['warmup']} warm-up, "
        f"{result['threads']} thread(s), pred_offset {result['pred_offset']}",
        "",
        f"{'decoder':<18}{'batch':>6}{'cache':>7}{'NFE':>6}{'p50 ms':>10}{'p95 ms':>10}"
        f"{'act tok/s':>11}{'gen tok/s':>11}{'actions/s':>11}",
    ]
    for r in result["rows"]:
        cache = ("on" if r["cache"] else "off") + ("*" if r["cache"] == r["default_cache"] else " ")
        head = f"{r['decoder']:<18}{r['batch']:>6}{cache:>7}"
        if "p50_ms" not in r:
            lines.append(f"{head}   {r.get('note', '')}")
            continue
        lines.append(f"{head}{r['nfe']:>6}{r['p50_ms']:>10.2f}{r['p95_ms']:>10.2f}"
                     f"{r['action_tokens_per_s']:>11.0f}{r['generated_tokens_per_s']:>11.0f}"
                     f"{r['executed_actions_per_s']:>11.1f}")
    lines.append("(* = the decoder's default cache setting; actions/s is batch x executed actions per chunk / p50; "
                 "per-robot control rate = actions/s / batch)")
    configs = {r["decoder"]: r["config"] for r in result["rows"] if r.get("config")}
    if configs:
        lines.append("decoder settings: " + "; ".join(f"{k} {v}" for k, v in sorted(configs.items())))
    if result["missing"]:
        lines.append("missing decoders: " + "; ".join(f"{k} ({v})" for k, v in result["missing"].items()))
    lines.append("")
    lines.append("targets (from this run):")
    for t in result["ratios"]:
        value = "   n/a" if t["value"] is None else f"{t['value']:>6.2f}x"
        lines.append(f"  {t['name']:<68}{value}   target >= {t['target']:g}x: {t['status']}")
    return "\n".join(lines)


def write_json(result: dict[str, Any], path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2) + "\n")
