"""vla_bench: evaluate Vision-Language-Action policies under faithful benchmark protocols.

Importing this package has no side effects: it does not import torch, simulators or plugins.
"""

__version__ = "0.1.0"
