"""Loihi 2 resource estimate of Lava's ``DelayDense`` (netx delays, ``snncc.nn.DelayedLinear``):
a dense matrix whose every synapse also stores its delay (Loihi 2: 6 bits, delays 0..62), so
each weight takes ``dense_synapse_bits + 6`` bits of synapse memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...ir import FxDelayDense, Graph
from .mapping_limits import Loihi2Limits
from .mapping_synapses import DenseModel, box_size, register_synapse_estimator, source_shape

DELAY_BITS = 6


@dataclass
class DelayDenseModel(DenseModel):
    """A :class:`DenseModel` whose synapses carry a delay each."""

    def words(self, tile, limits):
        bits = limits.dense_synapse_bits + DELAY_BITS
        return self.n_in * math.ceil(box_size(tile) * bits / limits.synapse_word_bits)


@register_synapse_estimator(FxDelayDense.kind)
def _delay_dense(graph: Graph, node: FxDelayDense, source: str, limits: Loihi2Limits,
                 options: dict) -> DelayDenseModel:
    return DelayDenseModel(node.name, source, source_shape(graph, source), "dense", False,
                           int(node.weight.shape[1]))
