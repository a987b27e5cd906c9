"""Fan-in splitting: a dense layer with more input axons than a core has, over several cores.

Every core of a dense layer receives every input axon, so no tiling of its neurons brings
its fan-in under ``input_axons_per_core``.  Such a layer is mapped in two stages:

* a **partial-sum** stage ``<layer>.fan_in``: each dense input is cut into groups of at most
  ``input_axons_per_core`` axons; a core holds some of the layer's neurons for one group
  and sends their partial input current every step as a graded spike (Loihi 2's graded
  spikes carry up to 32 bits; Intel's Loihi 2 brief);
* the layer itself, whose neurons add the ``G`` partial sums they receive (one sparse
  synapse and one input axon per partial sum).

The sum is the same integer as one Dense (no rounding between the stages while it stays in
24 bits), but it arrives **one step later**: snncc's Lava backend does not emit this
mapping, it is the resource estimate of what the layer needs.  The layer row says so
(``fan_in_groups``).  snncc's avg-pool-into-Linear composition is the usual cause (the
readout reads every position of every residual source, twice when split by sign).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .mapping_limits import Loihi2Limits
from .mapping_synapses import Box, DenseModel, SynapseModel

PARTIAL_KIND = "fan_in_split"


@dataclass
class PartialModel(SynapseModel):
    """One dense input's share of the partial-sum stage: groups ``[g0, g1)`` of the stage's
    group axis (H), ``per_group`` input axons each."""

    inner: DenseModel = None
    g0: int = 0
    g1: int = 1
    per_group: int = 0

    def _groups(self, tile: Box) -> int:
        (h0, h1) = tile[1]
        return max(0, min(h1, self.g1) - max(h0, self.g0))

    def words(self, tile, limits):
        row = math.ceil((tile[0][1] - tile[0][0]) * limits.dense_synapse_bits
                        / limits.synapse_word_bits)
        return self._groups(tile) * self.per_group * row

    def axons(self, tile, limits):
        return self._groups(tile) * self.per_group

    def connections(self, tile):
        return self._groups(tile) * self.per_group * (tile[0][1] - tile[0][0])

    def read_fraction(self, tile) -> float:
        return self._groups(tile) / (self.g1 - self.g0)


@dataclass
class GradedSumModel(SynapseModel):
    """The layer's input from its partial-sum stage: ``groups`` graded spikes per neuron."""

    encoding: str = "graded"
    groups: int = 1

    def words(self, tile, limits):
        n = tile[0][1] - tile[0][0]
        return math.ceil(n * self.groups * limits.sparse_synapse_bits / limits.synapse_word_bits)

    def axons(self, tile, limits):
        return (tile[0][1] - tile[0][0]) * self.groups

    def reads(self, tile):
        return (tile[0], (0, self.groups), (0, 1))

    def connections(self, tile):
        return (tile[0][1] - tile[0][0]) * self.groups


def needs_split(spec, limits: Loihi2Limits) -> bool:
    """A flat layer whose dense inputs alone exceed a core's input axons."""
    one = ((0, 1), (0, 1), (0, 1))
    fixed = sum(m.axons(one, limits) for m in spec.synapses if isinstance(m, DenseModel))
    return not spec.spatial and fixed > limits.input_axons_per_core


def split_fan_in(spec, limits: Loihi2Limits):
    """(partial-sum stage spec, the layer's spec reading it) for a layer of
    :func:`needs_split` (see the module docstring)."""
    from .mapping_tiling import LayerSpec
    limit = limits.input_axons_per_core
    n = spec.neurons
    partial_models, others, g = [], [], 0
    one = ((0, 1), (0, 1), (0, 1))
    for m in spec.synapses:
        if not isinstance(m, DenseModel):
            others.append(m)
            continue
        axons = m.axons(one, limits)
        groups = math.ceil(axons / limit)
        partial_models.append(PartialModel(m.name, m.source, m.source_shape, "dense",
                                           False, m, g, g + groups, math.ceil(axons / groups)))
        g += groups
    partial = LayerSpec(f"{spec.name}.fan_in", PARTIAL_KIND, (n, g, 1), limits.lif_slots,
                        partial_models)
    graded = GradedSumModel("", partial.name, partial.shape, groups=g)
    final = LayerSpec(spec.name, spec.kind, spec.shape, spec.slots, others + [graded],
                      spec.phases, fan_in_groups=g)
    return partial, final
