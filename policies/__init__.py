"""Policies: reference policies, tokenizers, the shared backbone, decoders and training.

``CATALOGUE`` is what this package registers (declared in pyproject.toml as the ``vla_bench.catalogues``
entry point ``policies``): lazy import paths only, so reading it imports no torch.
"""

CATALOGUE: dict[str, dict[str, str]] = {
    "policies": {
        "oracle": "policies.reference:OraclePolicy",
        "random": "policies.reference:RandomPolicy",
        "zero": "policies.reference:ZeroPolicy",
        "vla": "policies.vla:VLAPolicy",
    },
    "decoders": {
        "autoregressive": "policies.decoders.autoregressive:Autoregressive",
        "jacobi": "policies.decoders.jacobi:Jacobi",
        "jd3p": "policies.decoders.jd3p:JD3P",
        "masked_diffusion": "policies.decoders.masked_diffusion:MaskedDiffusion",
        "hierarchical": "policies.decoders.hierarchical:Hierarchical",
        "one_step": "policies.decoders.one_step:OneStep",
    },
}
