"""Loihi 2 resource estimators for what netx networks bring (see ``mapping.py``): delayed
dense synapses (``DelayDense``: the weights plus a 6-bit delay per synapse, counted as one
more byte) and input neurons fed directly by the input (netx's input layer: one axon per
neuron, no synapse memory; like a delay line, a core receives only its own neurons' inputs).
"""
from __future__ import annotations

import math

from ...ir import FxDelayDense, Graph, Input
from .mapping import Loihi2Limits, SynapseDemand, register_synapse_estimator


@register_synapse_estimator(FxDelayDense.kind)
def delay_dense_demand(graph: Graph, node: FxDelayDense, limits: Loihi2Limits) -> SynapseDemand:
    n_in = int(node.weight.shape[1])
    return SynapseDemand(n_in * (limits.weight_bytes + 1), n_in)


@register_synapse_estimator(Input.kind)
def input_neuron_demand(graph: Graph, node: Input, limits: Loihi2Limits) -> SynapseDemand:
    n = math.prod(int(s) for s in node.shape)
    return SynapseDemand(0.0, min(n, limits.fan_in_axons_per_core))
