"""Graph passes: pure functions from graph to graph (plus a report)."""
from .lower import LayerMapping, lower_neurons
from .quantize import QuantConfig, QuantReport, netx_config, quantize
from .validate import validate_float

__all__ = ["LayerMapping", "lower_neurons", "QuantConfig", "QuantReport", "netx_config", "quantize",
           "validate_float"]
