"""Benchmark adapters: one module per benchmark, each a gymnasium.Env speaking the uniform contract.

``CATALOGUE`` is what this package registers (declared in pyproject.toml as the ``vla_bench.catalogues``
entry point ``envs``): lazy import paths only, so reading it imports no simulator.
"""

LIBERO_SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")
LIBERO_PRESETS = ("openvla", "oft", "openpi", "lerobot")

CATALOGUE: dict[str, dict[str, str]] = {
    "envs": {
        "metaworld": "envs.metaworld:MetaWorldEnv",
        "scripted": "envs.scripted:ScriptedEnv",
        "scripted_chain": "envs.scripted_chain:ScriptedChainEnv",
        "libero": "envs.libero:LiberoEnv",
    },
    "suites": {
        "mt10": "envs.metaworld_suites:MT10",
        "mt50": "envs.metaworld_suites:MT50",
        "scripted": "envs.scripted:SCRIPTED",
        "scripted_chain": "envs.scripted_chain:SCRIPTED_CHAIN",
        # LIBERO: <suite> is the OpenVLA protocol, <suite>.<preset> the others (envs/libero_presets.py)
        **{
            (s if p == "openvla" else f"{s}.{p}"): f"envs.libero_presets:{s.upper()}"
            + ("" if p == "openvla" else f"_{p.upper()}")
            for s in LIBERO_SUITES
            for p in LIBERO_PRESETS
        },
    },
    "policies": {
        "scripted_expert": "envs.scripted:ScriptedExpert",
    },
    "doctors": {
        "libero": "envs.libero_doctor:LiberoDoctor",
    },
}
