"""Scripted-expert demonstrations written as robomimic/LIBERO-style HDF5 (one file per task).

Layout, readable with h5py anywhere and by robomimic/LIBERO dataset loaders::

    <task>.hdf5
      attrs: suite, task, instruction, env_kwargs (JSON), action_spec (JSON), policy, total
      data/demo_<k>/
        attrs: init_id, seed, instruction, success, num_samples, status
        obs/<camera>_rgb   (T, H, W, 3) uint8, upright
        obs/state          (T, state_dim) float32
        actions            (T, action_dim) float32, project convention (+1 gripper open)
        dones              (T,) uint8, 1 on the last step
    norm_stats.json        q01/q99/mean/std of actions and state over the stored demos
    manifest.json          what was collected, with which package versions

Observation t is the one the expert acted on to produce action t.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vla_bench import registries
from vla_bench.config import validate_kwargs
from vla_bench.manifest import package_versions
from vla_bench.rollout import run_episode
from vla_bench.types import EpisodeSpec, NormStats, Observation


@dataclass(frozen=True)
class CollectConfig:
    suite: str
    output: Path
    tasks: tuple[str, ...] | None = None
    init_ids: tuple[int, ...] = tuple(range(10))
    env_kwargs: dict[str, Any] | None = None
    policy: str = "oracle"
    max_steps: int | None = None
    keep_failures: bool = False
    seed: int = 0


def collect(cfg: CollectConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Roll out the expert on every (task, init_id) and write the demonstrations; returns the manifest."""
    import h5py

    suite = registries.suites.get(cfg.suite)
    unknown = sorted(set(cfg.tasks or ()) - {t.name for t in suite.tasks})
    if unknown:
        raise ValueError(f"tasks {unknown} are not in suite {suite.name!r}")
    env_cls = registries.envs.get(suite.env)
    env_kwargs = validate_kwargs(env_cls.Config, {**suite.env_kwargs, **(cfg.env_kwargs or {})}, "collect", "env")
    env = env_cls(**env_kwargs)
    policy = registries.policies.get(cfg.policy)()
    cfg.output.mkdir(parents=True, exist_ok=True)
    tasks = [t for t in suite.tasks if cfg.tasks is None or t.name in cfg.tasks]
    all_actions, all_states, per_task = [], [], {}
    try:
        for task in tasks:
            path = cfg.output / f"{task.name}.hdf5"
            kept = 0
            with h5py.File(path, "w") as f:
                f.attrs.update(suite=suite.name, task=task.name, instruction=task.instruction, policy=cfg.policy,
                               env_kwargs=json.dumps(env_kwargs, sort_keys=True, default=list),
                               action_spec=json.dumps(env.action_spec.to_dict()))
                data = f.create_group("data")
                for init_id in cfg.init_ids:
                    frames: list[tuple[Observation, np.ndarray]] = []
                    spec = EpisodeSpec(suite.name, task.name, init_id, seed=cfg.seed)
                    result = run_episode(env, policy, spec, suite, max_steps=cfg.max_steps,
                                         on_step=lambda o, a, _i: frames.append((o, np.array(a))))
                    if result.error:
                        raise RuntimeError(f"expert episode {spec.key} crashed:\n{result.error}")
                    if not (result.success or cfg.keep_failures) or not frames:
                        continue
                    _write_demo(data.create_group(f"demo_{kept}"), frames, spec, result.status.value, task.instruction)
                    all_actions.append(np.stack([a for _, a in frames]))
                    all_states.append(np.stack([o.state for o, _ in frames]))
                    kept += 1
                f.attrs["total"] = kept
            per_task[task.name] = kept
            log(f"{task.name}: {kept}/{len(cfg.init_ids)} demonstrations -> {path}")
    finally:
        env.close()
    if not all_actions:
        raise RuntimeError("no successful demonstration was collected")
    stats = {"action": _stats(all_actions), "state": _stats(all_states)}
    (cfg.output / "norm_stats.json").write_text(json.dumps({suite.name: stats}, indent=2, sort_keys=True) + "\n")
    manifest = {"suite": suite.name, "policy": cfg.policy, "init_ids": list(cfg.init_ids), "seed": cfg.seed,
                "demos_per_task": per_task, "env_kwargs": env_kwargs, "format": "robomimic-hdf5",
                "packages": package_versions()}
    (cfg.output / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=list) + "\n")
    return manifest


def _stats(arrays: list[np.ndarray]) -> dict[str, Any]:
    s = NormStats.from_data(np.concatenate(arrays))
    return {"q01": s.q01, "q99": s.q99, "mean": s.mean, "std": s.std}


def _write_demo(g: Any, frames: list[tuple[Observation, np.ndarray]], spec: EpisodeSpec, status: str,
                instruction: str) -> None:
    g.attrs.update(init_id=spec.init_id, seed=spec.seed, instruction=instruction, status=status,
                   success=status == "success", num_samples=len(frames))
    obs = g.create_group("obs")
    for cam in frames[0][0].images:
        obs.create_dataset(f"{cam}_rgb", data=np.stack([o.images[cam] for o, _ in frames]),
                           compression="gzip", compression_opts=4, chunks=True)
    obs.create_dataset("state", data=np.stack([o.state for o, _ in frames]).astype(np.float32))
    g.create_dataset("actions", data=np.stack([a for _, a in frames]).astype(np.float32))
    dones = np.zeros(len(frames), np.uint8)
    dones[-1] = 1
    g.create_dataset("dones", data=dones)
