"""Simulator-level perturbations through MuJoCo: camera pose, lighting, table colour, object position.

The model edits reach the simulator only through :class:`SceneEditable`, which an adapter implements
(Meta-World does); wrapping any other env in one of them is a ``TypeError``. Every change is undone
when the episode ends (``restore``), because the runner reuses one env for many episodes. A distractor
object is not offered on Meta-World: its scenes are compiled models, and adding a body means
rebuilding the model, the renderer and the task's internal state; LIBERO's BDDL variants are the route
there.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from vla_bench.ood.base import Perturbation, PerturbationWrapper


@runtime_checkable
class SceneEditable(Protocol):
    """An adapter whose scene a perturbation may edit: after ``reset`` the wrapper edits ``scene_model()``
    in place and takes the first observation again with ``observe()``."""

    def scene_model(self) -> Any:
        """The MuJoCo model (``mujoco.MjModel``) of the current scene."""
        ...

    def observe(self) -> dict[str, Any]:
        """The observation of the current state, rendered again from the (edited) model."""
        ...


class _SceneWrapper(PerturbationWrapper):
    """Edits the scene's model after every reset and puts the old values back on ``restore``."""

    pert: ScenePerturbation

    def __init__(self, env: gym.Env, pert: ScenePerturbation) -> None:
        if pert.edits_model and not isinstance(env.unwrapped, SceneEditable):
            raise TypeError(f"perturbation {pert.kind}.{pert.name} edits the scene, but "
                            f"{type(env.unwrapped).__name__} does not implement SceneEditable "
                            "(scene_model(), observe()) from vla_bench.ood.scene")
        super().__init__(env, pert)
        self._saved: list[tuple[np.ndarray, Any, np.ndarray]] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self.restore()
        options = {**(options or {}), **self.pert.reset_options()}
        obs, info = self.env.reset(seed=seed, options=options)
        if self.pert.severity and self.pert.edits_model:
            scene: SceneEditable = self.unwrapped
            model = scene.scene_model()
            for field, index, value in self.pert.edits(model):
                arr = getattr(model, field)
                self._saved.append((arr, index, arr[index].copy()))
                arr[index] = value
            obs = scene.observe()
        return obs, info

    def restore(self) -> None:
        for arr, index, value in reversed(self._saved):
            arr[index] = value
        self._saved.clear()


class ScenePerturbation(Perturbation):
    kind = "scene"
    edits_model: ClassVar[bool] = True

    def edits(self, model: Any) -> list[tuple[str, Any, np.ndarray]]:
        """(model field, index, new value) triples, applied after reset and undone afterwards."""
        return []

    def reset_options(self) -> dict[str, Any]:
        return {}

    def wrap(self, env: gym.Env) -> PerturbationWrapper:
        return _SceneWrapper(env, self)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=n)
    return v / np.linalg.norm(v)


class CameraShift(ScenePerturbation):
    name, unit, source = "camera_shift", "metres, random direction", "VLA-Arena camera_offset (+-0.105 m), LIBERO-Plus"
    levels: ClassVar = (0.0, 0.01, 0.02, 0.04, 0.06, 0.08)
    description = "translate every fixed camera by the given distance"

    def edits(self, model):
        d = self.param * _unit(self.rng, 3)
        return [("cam_pos", i, model.cam_pos[i] + d) for i in range(model.ncam) if model.cam_mode[i] == 0]


class Lighting(ScenePerturbation):
    name, unit, source = "lighting", "diffuse scale change", "VLA-Arena light_adjustment, LIBERO-Plus light"
    levels: ClassVar = (0.0, 0.15, 0.3, 0.45, 0.6, 0.75)
    description = "dim or brighten every scene light (direction fixed per episode)"

    def edits(self, model):
        f = 1 + (1 if self.rng.random() < 0.5 else -1) * self.param
        out = [("light_diffuse", i, np.clip(model.light_diffuse[i] * f, 0, 1)) for i in range(model.nlight)]
        return out


class TableColor(ScenePerturbation):
    name, unit, source = "table_color", "blend toward a random colour", "LIBERO-Plus background/texture"
    levels: ClassVar = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    description = "tint the table and floor materials"

    def edits(self, model):
        colour = np.append(self.rng.uniform(0, 1, 3), 1.0)
        out = []
        for i in range(model.nmat):
            name = model.material(i).name
            if "table" in name or "floor" in name:
                out.append(("mat_rgba", i, (1 - self.param) * model.mat_rgba[i] + self.param * colour))
        return out


class ObjectPosition(ScenePerturbation):
    name, unit, source = "object_position", "sigma, metres (x and y)", "LIBERO-Plus object layout"
    levels: ClassVar = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05)
    description = "shift the task object's initial position by Gaussian noise"
    edits_model = False
    reset_option = "object_offset"

    def reset_options(self):
        return {"object_offset": self.rng.normal(0, self.param, 2).tolist()} if self.severity else {}
