"""Target-independent graph passes: pure functions from graph to graph (plus a report).

Quantization is per target: :mod:`snncc.targets.loihi.quantize`, and the other targets'
``quantize`` modules.
"""
from .lower import LayerMapping, lower_neurons
from .validate import validate_float

__all__ = ["LayerMapping", "lower_neurons", "validate_float"]
