"""What one synaptic input of a layer costs a core: memory by encoding, axons, connections.

A layer is one neuron population (a :class:`~snncc.ir.FxNeuron`, or the relay neurons of a
delay line) and the synapses that feed it; a core holds a *tile* of it, a box of its
``(C, H, W)`` neurons (1-D layers are ``(n, 1, 1)``).  Each synaptic input is a
:class:`SynapseModel` that says, for a tile:

* ``words``: synapse-memory words the core needs, by the Loihi 2 encoding it uses:
  ``dense`` (every weight of every input axon, ``dense_synapse_bits`` each), ``sparse``
  (one weight + target index per connection) or ``conv`` (weight reuse: the kernel of the
  tile's output channels once, whatever the tile's spatial size);
* ``axons``: input axons it needs (dense/sparse: one per source neuron read; conv: the
  spike message carries its position, a few axons per source);
* ``reads``: per axis, the interval of the source layer the tile reads (the receptive field);
* ``connections``: synapses into the tile (= synaptic operations per step when every
  source neuron spikes once).

Kinds register a builder with :func:`register_synapse_estimator`; ``fx_dense`` and
identities (delay-line relays, a layer fed directly by the host input) are here, ``fx_conv``
in ``mapping_conv.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ...ir import FxDense, Graph
from ...ir.nodes import Node
from .mapping_limits import Loihi2Limits

Interval = tuple[int, int]          # half-open [lo, hi)
Box = tuple[Interval, Interval, Interval]   # (C, H, W) of a tile


def shape3(shape) -> tuple[int, int, int]:
    """A layer shape as (C, H, W): (C, H, W) stays, (n,) -> (n, 1, 1), others flattened."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        return shape
    return (int(np.prod(shape)) if shape else 1, 1, 1)


def box_size(box: Box) -> int:
    return math.prod(hi - lo for lo, hi in box)


def weight_bits(weight: np.ndarray) -> int:
    """Bits one weight needs: magnitude after common trailing zeros, plus a sign bit when
    the signs are mixed (the precision search of lava-dl's ``netx.utils.optimize_weight_bits``)."""
    w = np.asarray(weight, dtype=np.int64)
    nz = np.abs(w[w != 0])
    if nz.size == 0:
        return 1
    shift = 0
    while shift < 16 and not np.any(nz & ((1 << (shift + 1)) - 1)):
        shift += 1
    mixed = bool(np.any(w > 0) and np.any(w < 0))
    return int(nz.max() >> shift).bit_length() + int(mixed)


@dataclass
class SynapseModel:
    """One synaptic input of a layer (see the module docstring); subclasses override."""

    name: str                     # the synapse node ("" for an identity)
    source: str                   # the node whose spikes it carries (a layer or an input)
    source_shape: tuple[int, int, int]
    encoding: str = "dense"
    bias_axon: bool = False       # an always-on axon adds one input axon and a dense column

    def words(self, tile: Box, limits: Loihi2Limits) -> int:
        raise NotImplementedError

    def axons(self, tile: Box, limits: Loihi2Limits) -> int:
        raise NotImplementedError

    def reads(self, tile: Box) -> Box:
        """The box of the source layer whose spikes the tile receives."""
        return tuple((0, n) for n in self.source_shape)

    def connections(self, tile: Box) -> int:
        raise NotImplementedError

    def read_fraction(self, tile: Box) -> float:
        """The share of the spikes in ``reads(tile)`` the tile actually receives (1 unless
        the inputs are split over cores, as in ``mapping_fanin``)."""
        return 1.0

    def bias_words(self, tile: Box, limits: Loihi2Limits) -> int:
        """The always-on bias axon's weights: one dense row over the tile's neurons."""
        if not self.bias_axon:
            return 0
        return math.ceil(box_size(tile) * limits.dense_synapse_bits / limits.synapse_word_bits)


@dataclass
class DenseModel(SynapseModel):
    """A full matrix: every core of the layer stores, for each of the ``n_in`` input axons,
    the weights to its own neurons (``dense_synapse_bits`` each, rows padded to a word)."""

    n_in: int = 0

    def words(self, tile, limits):
        row = math.ceil(box_size(tile) * limits.dense_synapse_bits / limits.synapse_word_bits)
        return self.n_in * row + self.bias_words(tile, limits)

    def axons(self, tile, limits):
        return self.n_in + int(self.bias_axon)

    def connections(self, tile):
        return (self.n_in + int(self.bias_axon)) * box_size(tile)


@dataclass
class IdentityModel(SynapseModel):
    """One-to-one (a delay line's relay, a layer fed directly by its source): one sparse
    synapse and one input axon per neuron of the tile."""

    encoding: str = "sparse"

    def words(self, tile, limits):
        return math.ceil(box_size(tile) * limits.sparse_synapse_bits / limits.synapse_word_bits)

    def axons(self, tile, limits):
        return box_size(tile)

    def reads(self, tile):
        return tile

    def connections(self, tile):
        return box_size(tile)


SynapseBuilder = Callable[[Graph, Node, str, Loihi2Limits, dict], SynapseModel]
SYNAPSE_ESTIMATORS: dict[str, SynapseBuilder] = {}


def register_synapse_estimator(kind: str):
    """Register how a synaptic node kind is costed: ``fn(graph, node, source, limits,
    options) -> SynapseModel`` (``options``: the mapping options, e.g. ``conv_encoding``)."""
    def wrap(fn: SynapseBuilder) -> SynapseBuilder:
        SYNAPSE_ESTIMATORS[kind] = fn
        return fn
    return wrap


def source_shape(graph: Graph, source: str) -> tuple[int, int, int]:
    node = graph.node(source)
    return shape3(getattr(node, "shape", ()) or ())


@register_synapse_estimator(FxDense.kind)
def _dense(graph: Graph, node: FxDense, source: str, limits: Loihi2Limits,
           options: dict) -> SynapseModel:
    """Two matrices when split by sign (an excitatory and an inhibitory Dense in Lava)."""
    n_in = int(node.weight.shape[1]) * (2 if node.split_sign else 1)
    has_bias = node.bias is not None and bool(np.any(node.bias))
    return DenseModel(node.name, source, source_shape(graph, source), "dense", has_bias, n_in)


def identity(source: str, shape: tuple[int, int, int]) -> SynapseModel:
    return IdentityModel("", source, shape)


def synapse_model(graph: Graph, syn: Optional[Node], source: str, layer: str,
                  limits: Loihi2Limits, options: dict) -> SynapseModel:
    """The model of ``syn`` (None: a direct one-to-one feed from ``source``)."""
    from ...errors import SnnccError
    if syn is None:
        return identity(source, source_shape(graph, source))
    builder = SYNAPSE_ESTIMATORS.get(syn.kind)
    if builder is None:
        raise SnnccError(f"no Loihi 2 resource estimator for {syn.kind!r} (feeding "
                         f"{layer!r})", "register one with snncc.targets.loihi.mapping."
                         "register_synapse_estimator")
    return builder(graph, syn, source, limits, options)
