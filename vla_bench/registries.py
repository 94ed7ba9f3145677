"""The project's registries and their in-tree entries (lazy import paths; nothing is imported here).

Third-party packages add entries through the entry-point groups ``vla_bench.envs``,
``vla_bench.policies``, ``vla_bench.decoders``, ``vla_bench.perturbations`` and ``vla_bench.suites``.
"""

from __future__ import annotations

from typing import Any

from vla_bench.registry import Registry

envs: Registry[Any] = Registry("env")
policies: Registry[Any] = Registry("policy", "vla_bench.policies")
decoders: Registry[Any] = Registry("decoder")
perturbations: Registry[Any] = Registry("perturbation")
suites: Registry[Any] = Registry("suite")

IN_TREE: dict[Registry[Any], dict[str, str]] = {
    envs: {
        "metaworld": "envs.metaworld:MetaWorldEnv",
        "scripted": "envs.scripted:ScriptedEnv",
        "libero": "envs.libero:LiberoEnv",
    },
    suites: {
        "mt10": "envs.metaworld_suites:MT10",
        "mt50": "envs.metaworld_suites:MT50",
        "scripted": "envs.scripted:SCRIPTED",
        # LIBERO: <suite> is the OpenVLA protocol, <suite>.<preset> the others (envs/libero_presets.py)
        **{
            (s if p == "openvla" else f"{s}.{p}"): f"envs.libero_presets:{s.upper()}"
            + ("" if p == "openvla" else f"_{p.upper()}")
            for s in ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")
            for p in ("openvla", "oft", "openpi", "lerobot")
        },
    },
    policies: {
        "oracle": "policies.reference:OraclePolicy",
        "random": "policies.reference:RandomPolicy",
        "zero": "policies.reference:ZeroPolicy",
        "remote": "vla_bench.transport.client:RemotePolicy",
        "scripted_expert": "envs.scripted:ScriptedExpert",
        "vla": "policies.vla:VLAPolicy",
    },
    decoders: {
        "autoregressive": "policies.decoders.autoregressive:Autoregressive",
        "jacobi": "policies.decoders.jacobi:Jacobi",
        "jd3p": "policies.decoders.jd3p:JD3P",
        "masked_diffusion": "policies.decoders.masked_diffusion:MaskedDiffusion",
        "hierarchical": "policies.decoders.hierarchical:Hierarchical",
        "one_step": "policies.decoders.one_step:OneStep",
    },
    perturbations: {
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
    },
}

for _registry, _entries in IN_TREE.items():
    for _name, _target in _entries.items():
        _registry.add(_name, _target)

ALL = {"envs": envs, "suites": suites, "policies": policies, "decoders": decoders, "perturbations": perturbations}
