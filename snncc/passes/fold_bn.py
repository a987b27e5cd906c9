"""Fold inference batch-norm into the Conv2d/Linear before it, exactly, before quantization.

``bn(conv(x) + b) = conv'(x) + b'`` with ``W' = W * scale`` (per output channel) and
``b' = b * scale + shift``: the same function, computed in float64 and kept in float64 so
the folded graph's float simulation matches the unfolded one to float64 round-off.  A
batch-norm that does not directly follow a single-consumer Conv2d/Linear stays a node; the
synapse composition then treats it as a 1x1 depthwise conv with bias (still exact).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ir import Affine, BatchNorm, Conv2d, Graph
from .rewrite import rebuild


def fold_batchnorm(graph: Graph) -> Graph:
    """A graph without the batch-norms that can be folded into their producer."""
    new_nodes, drop = {}, {}
    for node in graph.of_type(BatchNorm):
        (src,) = graph.inputs_of(node.name)
        prev = new_nodes.get(src, graph.node(src))
        if not isinstance(prev, (Affine, Conv2d)) or graph.consumers_of(src) != [node.name] \
                or graph.recurrent_inputs_of(node.name):
            continue
        scale = np.asarray(node.scale, np.float64)
        shift = np.asarray(node.shift, np.float64)
        w = np.asarray(prev.weight, np.float64)
        w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
        if prev.bias is None:
            b = shift
        else:
            pb = np.asarray(prev.bias, np.float64)
            b = pb * scale.reshape((-1,) + (1,) * (pb.ndim - 1)) + \
                shift.reshape((-1,) + (1,) * (pb.ndim - 1))
        new_nodes[src] = replace(prev, weight=w, bias=b)
        drop[node.name] = src
    if not drop:
        return graph
    return rebuild(graph, replace=new_nodes, drop=drop)
