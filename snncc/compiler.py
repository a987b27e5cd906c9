"""The compile pipeline as one function: trace -> validate -> lower -> quantize."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from .ir import Graph
from .passes import LayerMapping, QuantConfig, QuantReport, lower_neurons, quantize, validate_float


@dataclass
class Compiled:
    """Every stage's graph, kept so verification can compare them layer by layer."""

    float_graph: Graph     # as traced
    lowered: Graph         # canonical neurons, folds applied (still float)
    fixed: Graph           # Loihi fixed point
    mapping: list[LayerMapping]
    quant: QuantReport


def compile_graph(graph: Graph, config: Optional[QuantConfig] = None) -> Compiled:
    """Compile a float IR graph (from any frontend) to fixed point."""
    validate_float(graph)
    lowered, mapping = lower_neurons(graph)
    fixed, report = quantize(lowered, config)
    return Compiled(graph, lowered, fixed, mapping, report)


def compile_model(model, input_shape: Optional[Sequence[int]] = None,
                  dt: Optional[float] = 1e-3, config: Optional[QuantConfig] = None) -> Compiled:
    """Trace a single-step torch model (or read a ``.nir`` :class:`~snncc.loaders.NirFile`,
    whose ``dt`` comes from its metadata unless given) and compile it."""
    from .loaders import NirFile
    if isinstance(model, NirFile):
        return compile_graph(model.graph(dt), config)
    from .frontend import trace   # torch is imported only when a torch model is compiled
    return compile_graph(trace(model, input_shape, dt), config)
