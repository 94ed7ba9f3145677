"""Decoders: inference strategies over the shared backbone, one module each, looked up by name.

``vla_bench.registries.decoders`` maps names to classes; third-party decoders register through the
``vla_bench.decoders`` entry-point group or ``decoders.add(name, cls)``.
"""
