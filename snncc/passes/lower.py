"""Lower every neuron to the canonical CUBA-LIF form and fold what can be folded.

* neuron-specific input scales (e.g. a spatial decay) are multiplied into the rows of the
  preceding ``Affine``;
* a neuron's own voltage bias, when its current is memoryless (alpha == 0, so current and
  voltage inputs are the same thing), moves into the preceding ``Affine`` bias: the
  quantizer sends Affine biases over an always-on axon that starts in step with the data
  (see ``FxDense``), which a neuron bias on Loihi cannot do.  Not when the neuron has a
  per-step ``input_gain``: that gain scales the synapses but not the neuron's own bias, so
  the bias stays in the neuron (the generalised neuron starts it in step with the data).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import SnnccError
from ..ir import Affine, CubaLIF, Graph
from ..ir.nodes import NeuronNode


@dataclass
class LayerMapping:
    """How one neuron layer maps to hardware: exact / exact after folding / generalised / approximate."""

    name: str
    source_kind: str
    mapping: str
    note: str = ""


def _feeding_affine(graph: Graph, name: str) -> Affine:
    srcs = graph.inputs_of(name)
    if len(srcs) != 1 or not isinstance(graph.node(srcs[0]), Affine):
        raise SnnccError(f"neuron layer {name!r} is fed by {srcs}, not by one Linear layer",
                         "put a Linear layer directly before every neuron layer")
    if len(graph.consumers_of(srcs[0])) != 1:
        raise SnnccError(f"Linear layer {srcs[0]!r} feeds several layers; its fold is ambiguous",
                         "give each neuron layer its own Linear layer")
    return graph.node(srcs[0])


def lower_neurons(graph: Graph) -> tuple[Graph, list[LayerMapping]]:
    """Return a graph whose neurons are all canonical :class:`CubaLIF` nodes, and the mapping table."""
    out = graph.copy()
    table: list[LayerMapping] = []
    for node in list(out.nodes()):
        if not isinstance(node, NeuronNode):
            continue
        lowered = node.lower()
        neuron: CubaLIF = lowered.neuron
        affine = _feeding_affine(out, node.name)
        weight, bias = affine.weight, affine.bias
        if lowered.input_scale is not None:
            scale = np.asarray(lowered.input_scale, dtype=np.float32).reshape(-1)
            weight = weight * scale[:, None]
            bias = None if bias is None else bias * scale
        if (np.all(neuron.alpha == 0) and np.any(neuron.bias != 0)
                and neuron.input_gain is None):
            bias = neuron.bias.reshape(-1) if bias is None else bias + neuron.bias.reshape(-1)
            neuron = replace(neuron, bias=np.zeros_like(neuron.bias))
        out.replace(replace(affine, weight=weight.astype(np.float32), bias=bias))
        out.replace(neuron)
        table.append(LayerMapping(node.name, node.kind, lowered.mapping, lowered.note))
    return out, table
