"""Dynamics perturbations: noisy actions, delayed actions, and a perturbed robot start pose."""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from vla_bench.ood.base import Perturbation, PerturbationWrapper


class _ActionWrapper(PerturbationWrapper, gym.ActionWrapper):
    """Changes every executed action; per-episode state (step count, latency queue) restarts at reset,
    which also passes the perturbation's reset options (the start-pose offset) to the adapter."""

    pert: DynamicsPerturbation

    def __init__(self, env: gym.Env, pert: DynamicsPerturbation) -> None:
        super().__init__(env, pert)
        self.t = 0
        self.queue: deque[np.ndarray] = deque()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self.t = 0
        self.queue.clear()
        return super().reset(seed=seed, options={**(options or {}), **self.pert.reset_options()})

    def action(self, action: Any) -> np.ndarray:
        a = self.pert.act(np.asarray(action, dtype=np.float32), self)
        self.t += 1
        return a


class DynamicsPerturbation(Perturbation):
    kind = "dynamics"

    def act(self, action: np.ndarray, w: _ActionWrapper) -> np.ndarray:
        return action

    def reset_options(self) -> dict[str, Any]:
        return {}

    def wrap(self, env: gym.Env) -> PerturbationWrapper:
        return _ActionWrapper(env, self)


class ActionNoise(DynamicsPerturbation):
    name, unit, source = "action_noise", "sigma (action units, range [-1, 1])", "dynamics robustness"
    levels: ClassVar = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
    description = "add Gaussian noise to every executed action (clipped to the action range)"

    def act(self, action, w):
        if not self.severity:
            return action
        noisy = action + self.step_rng(w.t).normal(0, self.param, action.shape)
        spec = w.action_spec
        return np.clip(noisy, spec.low, spec.high).astype(np.float32)


class Latency(DynamicsPerturbation):
    name, unit, source = "latency", "frames of delay", "inference latency"
    levels: ClassVar = (0, 1, 2, 3, 4, 6)
    description = "execute each action k steps late (no-ops first)"

    def act(self, action, w):
        if not self.param:
            return action
        w.queue.append(action)
        if len(w.queue) <= self.param:
            return w.noop_action()
        return w.queue.popleft()


class InitNoise(DynamicsPerturbation):
    name, unit, source = "init_noise", "sigma, metres (hand start x, y, z)", "robot initial-state noise (LIBERO-Plus)"
    levels: ClassVar = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05)
    description = "start the robot's hand away from its home position"
    reset_option = "hand_offset"

    def reset_options(self):
        return {"hand_offset": self.rng.normal(0, self.param, 3).tolist()} if self.severity else {}
