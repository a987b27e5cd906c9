"""Max pooling of spikes as an OR neuron: exact, one synapse deeper.

The max of 0/1 spikes over a window is 1 exactly when their sum is at least 1, so a max
pool of a spike tensor is a neuron layer with a memoryless current and no membrane memory
(alpha = beta = 0), threshold 1/2 and a zero reset, fed by a sum-pool synapse (a depthwise
conv of ones).  It keeps the pool's name, so its spikes are the pool's output.  On Loihi it
is a real layer (one more step of synaptic depth, which the timing pass accounts for);
in float time it fires in the same step as its input, as the pool does.
"""
from __future__ import annotations

import numpy as np

from ..errors import SnnccError
from ..ir import Conv2d, CubaLIF, Graph, Input, MaxPool2d
from ..ir.nodes import NeuronNode
from .rewrite import rebuild

OR_THRESHOLD = 0.5


def lower_maxpool(graph: Graph) -> Graph:
    """Every MaxPool2d of spikes replaced by a sum-pool synapse and an OR neuron."""
    pools = graph.of_type(MaxPool2d)
    if not pools:
        return graph
    shapes = graph.shapes()
    replace, insert = {}, {}
    for pool in pools:
        (src,) = graph.inputs_of(pool.name)
        if not isinstance(graph.node(src), (Input, NeuronNode)):
            raise SnnccError(f"max pooling {pool.name!r} of {src!r} ({graph.node(src).kind}): "
                             "the max of currents is not linear and has no synapse form",
                             "max-pool spikes (after a neuron layer), or use average pooling")
        c = shapes[src][0]
        spec = pool.window(c)
        insert[(src, pool.name)] = Conv2d(f"{pool.name}.window", weight=spec.weight,
                                          stride=spec.stride, padding=spec.padding, groups=c)
        shape = shapes[pool.name]
        zeros = np.zeros(shape, np.float32)
        replace[pool.name] = CubaLIF(pool.name, shape=shape, alpha=zeros, beta=zeros.copy(),
                                     threshold=np.full(shape, OR_THRESHOLD, np.float32),
                                     bias=zeros.copy())
    return rebuild(graph, replace=replace, insert=insert)
