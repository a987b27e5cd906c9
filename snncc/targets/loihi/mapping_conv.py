"""Loihi 2 resource estimators for convolutions and delay lines (see ``loihi2``).

A convolution stores each kernel once per core and reuses it at every output position
(Loihi 2's convolutional synapse encoding), so its synapse memory per destination neuron is
the kernel of its output channel spread over that channel's positions.  Its fan-in per core
is the input a core actually reads: cores take whole output rows, and a band of rows reads
``(rows - 1)*stride + kh`` input rows of every input channel.  Both are estimates, like the
dense figures.  A delay line is one relay neuron and one identity synapse per neuron
(``backends/lava/codegen.py``), charged to the layer it feeds.
"""
from __future__ import annotations

import math

from ...ir import Graph
from ...ir.fixed_spatial import FxConv, FxDelay
from .mapping import Loihi2Limits, SynapseDemand, register_synapse_estimator


@register_synapse_estimator(FxConv.kind)
def conv_demand(graph: Graph, node: FxConv, limits: Loihi2Limits) -> SynapseDemand:
    c_out, c_in_g, kh, kw = (int(s) for s in node.weight.shape)
    _, h_out, w_out = node.out_shape
    c_in, h_in, w_in = (int(s) for s in node.in_shape)
    kernel_bytes = c_in_g * kh * kw * limits.weight_bytes
    per_neuron = kernel_bytes / (h_out * w_out)
    has_bias = node.bias is not None
    rows = max(1, min(h_out, limits.neurons_per_core // max(1, c_out * w_out)))
    in_rows = min(h_in + 2 * node.padding[0], (rows - 1) * node.stride[0] + kh)
    fan_in = c_in * in_rows * w_in + (1 if has_bias else 0)
    return SynapseDemand(per_neuron + (limits.weight_bytes if has_bias else 0), fan_in)


@register_synapse_estimator(FxDelay.kind)
def delay_demand(graph: Graph, node: FxDelay, limits: Loihi2Limits) -> SynapseDemand:
    # one-to-one: a core receives only its own neurons' inputs, so the layer's split (not
    # its size) bounds the fan-in; the dense model above cannot express that, hence the cap
    n = math.prod(int(s) for s in node.shape)
    return SynapseDemand(limits.weight_bytes + limits.state_bytes_per_neuron,
                         min(n, limits.fan_in_axons_per_core))
