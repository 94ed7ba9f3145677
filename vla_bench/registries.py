"""The project's registries. The core fills only its own entries here; benchmark adapters, models and
decoders come from catalogues (``envs/__init__.py``, ``policies/__init__.py``, declared as entry points in
pyproject.toml) and from third-party entry points, all discovered on first use.

Each extension point is one registry; adding a new kind of thing is one file plus one line in the
catalogue of the package it belongs to (docs/architecture.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from vla_bench.registry import Registry

if TYPE_CHECKING:
    from vla_bench.backends import Backend
    from vla_bench.env import BenchmarkEnv
    from vla_bench.ood.base import Perturbation
    from vla_bench.policy import Policy
    from vla_bench.report.model import Table
    from vla_bench.rollout.base import RolloutMode
    from vla_bench.suite import SuiteSpec
    from vla_bench.types import EpisodeResult

    Layout = Callable[[list[EpisodeResult], str], list[Table]]

envs: Registry[type[BenchmarkEnv]] = Registry("env")
suites: Registry[SuiteSpec] = Registry("suite")
policies: Registry[Callable[..., Policy]] = Registry("policy", "vla_bench.policies", builtin={
    "remote": "vla_bench.transport.client:RemotePolicy",
})
decoders: Registry[type[Any]] = Registry("decoder")  # policies.decoders.base.Decoder subclasses
doctors: Registry[Any] = Registry("doctor")  # modules with NAME, add_arguments(group), run(args) -> int
backends: Registry[type[Backend]] = Registry("backend", builtin={
    "inprocess": "vla_bench.backends:InProcessBackend",
    "pool": "vla_bench.backends:PoolBackend",
    "ray": "vla_bench.ray_backend:RayBackend",
})
rollouts: Registry[type[RolloutMode]] = Registry("rollout", builtin={
    "single": "vla_bench.rollout.single:Single",
    "chain": "vla_bench.rollout.chain:Chain",
    "paced": "vla_bench.rollout.paced:Paced",
})
report_layouts: Registry[Layout] = Registry("report_layout", builtin={
    "per_task": "vla_bench.report.model:per_task_tables",
    "libero": "vla_bench.report.model:libero_tables",
    "calvin_chain": "vla_bench.report.model:calvin_tables",
})
perturbations: Registry[type[Perturbation]] = Registry("perturbation", builtin={
    "language.synonym": "vla_bench.ood.language:Synonym",
    "language.paraphrase": "vla_bench.ood.language:Paraphrase",
    "language.distractor": "vla_bench.ood.language:Distractor",
    "language.casing_order": "vla_bench.ood.language:CasingOrder",
    "language.equivalent": "vla_bench.ood.language:Equivalent",
    "vision.brightness": "vla_bench.ood.vision:Brightness",
    "vision.contrast": "vla_bench.ood.vision:Contrast",
    "vision.saturation": "vla_bench.ood.vision:Saturation",
    "vision.hue": "vla_bench.ood.vision:Hue",
    "vision.gaussian_noise": "vla_bench.ood.vision:GaussianNoise",
    "vision.blur": "vla_bench.ood.vision:Blur",
    "vision.jpeg": "vla_bench.ood.vision:Jpeg",
    "vision.occlusion": "vla_bench.ood.vision:Occlusion",
    "scene.camera_shift": "vla_bench.ood.scene:CameraShift",
    "scene.lighting": "vla_bench.ood.scene:Lighting",
    "scene.table_color": "vla_bench.ood.scene:TableColor",
    "scene.object_position": "vla_bench.ood.scene:ObjectPosition",
    "dynamics.action_noise": "vla_bench.ood.dynamics:ActionNoise",
    "dynamics.latency": "vla_bench.ood.dynamics:Latency",
    "dynamics.init_noise": "vla_bench.ood.dynamics:InitNoise",
})

ALL: dict[str, Registry[Any]] = {
    "envs": envs, "suites": suites, "policies": policies, "decoders": decoders, "perturbations": perturbations,
    "backends": backends, "rollouts": rollouts, "report_layouts": report_layouts, "doctors": doctors,
}
