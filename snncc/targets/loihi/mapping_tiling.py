"""Split every layer of a fixed-point graph into core-sized tiles (the partitioner).

A *layer* is a neuron population: an :class:`~snncc.ir.FxNeuron`, or the relay neurons of
an :class:`~snncc.ir.FxDelay` line (a Lava identity synapse into a relay LIF).  Its tiles
are boxes of its ``(C, H, W)`` neurons, one per core, chosen the way Intel's compiler chose
them for PilotNet (lava-dl ``pilotnet_snn/benchmark.ipynb``):

* **spatial layers** (``H*W > 1``): the tile is a power-of-two number of columns (W) with
  every row and channel, halved while any core resource is over its limit; once one column
  is too much, rows are halved, then channels.  The neuron check uses the nominal
  power-of-two tile (the table's conv5, 20 columns of 2x64, got two 16-column tiles:
  32 columns would be exactly 4,096 neurons).  A conv kernel that overflows synapse memory
  halves channels first (its memory does not shrink with the spatial size);
* **flat layers** (``(n,)``): ``k`` equal slices, ``k`` multiplied by the worst over-use
  ratio until everything fits (the log's ``Final max_ratio=6``: 2560->100 dense, 100
  neurons -> 6 -> 12 cores of at most 9).

A tile that cannot be split further and still does not fit raises :class:`SnnccError`
naming the layer, the resource, what it needs and the limit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...errors import SnnccError
from ...ir import FxNeuron, Graph, Input
from ...ir.fixed_spatial import FxDelay
from .mapping_limits import Loihi2Limits
from .mapping_synapses import (Box, SynapseModel, box_size, identity, shape3, source_shape,
                               synapse_model)

LAYER_KINDS = (FxNeuron, FxDelay)
# per-neuron parameters whose variation across a layer costs neuron memory (bias is stored
# with the state: netx's per-channel conv biases fit the table's tiles)
_PARAMS = (("du",), ("dv",), ("vth",), ("reset_mult", "reset_sub"))

RESOURCES = {"slots": "neuron memory (slots)", "words": "synapse memory (words)",
             "axons_in": "fan-in (input axons per core)",
             "axons_out": "fan-out (output axons per core)"}


def slots_per_neuron(node, limits: Loihi2Limits) -> int:
    """Neuron-memory slots of one neuron: u and v, plus one per parameter that varies."""
    if not isinstance(node, FxNeuron):
        return limits.lif_slots                    # a delay line's relay LIF
    varying = sum(any(np.unique(np.asarray(getattr(node, f))).size > 1 for f in group
                      if getattr(node, f, None) is not None) for group in _PARAMS)
    extra = int(node.input_gain is not None)
    return limits.lif_slots + limits.param_slots * (varying + extra)


@dataclass
class LayerSpec:
    """A layer before tiling: shape (C, H, W), slots per neuron, its synaptic inputs."""

    name: str
    kind: str
    shape: tuple[int, int, int]
    slots: int
    synapses: list[SynapseModel]
    phases: int = 1              # stride phases along W of its conv inputs (output axons)
    fan_in_groups: int = 0       # > 0: fed by a partial-sum stage (``mapping_fanin``)

    @property
    def neurons(self) -> int:
        return math.prod(self.shape)

    @property
    def spatial(self) -> bool:
        return self.shape[1] * self.shape[2] > 1


@dataclass
class CoreTile:
    """One core's share of a layer and what it uses of each resource."""

    layer: str
    box: Box
    neurons: int
    slots: int
    words: int
    axons_in: int
    axons_out: int
    connections: dict[str, int] = field(default_factory=dict)   # source -> synapses

    def usage(self) -> dict[str, int]:
        return {"slots": self.slots, "words": self.words, "axons_in": self.axons_in,
                "axons_out": self.axons_out}


@dataclass
class LayerTiling:
    """A tiled layer: nominal tile (tc, th, tw), grid of tiles, one :class:`CoreTile` each."""

    spec: LayerSpec
    tile: tuple[int, int, int]
    grid: tuple[list[tuple[int, int]], ...]
    cores: list[CoreTile]

    @property
    def name(self) -> str:
        return self.spec.name


def layer_specs(graph: Graph, limits: Loihi2Limits, options: dict) -> list[LayerSpec]:
    """Every neuron population of ``graph`` in order, with its synaptic inputs."""
    specs = []
    for node in graph.nodes():
        if not isinstance(node, LAYER_KINDS):
            continue
        models = []
        for pred in graph.inputs_of(node.name) + graph.recurrent_inputs_of(node.name):
            pnode = graph.node(pred)
            if isinstance(pnode, LAYER_KINDS + (Input,)):
                models.append(identity(pred, source_shape(graph, pred)))
                continue
            sources = graph.inputs_of(pred) + graph.recurrent_inputs_of(pred)
            models.append(synapse_model(graph, pnode, sources[0], node.name, limits, options))
        phases = max([m.stride[1] for m in models if m.encoding == "conv"], default=1)
        specs.append(LayerSpec(node.name, node.kind, shape3(node.shape),
                               slots_per_neuron(node, limits), models, phases))
    return specs


def consumers(specs: list[LayerSpec]) -> dict[str, list[SynapseModel]]:
    """Source name -> the synapse models that read it (in any layer)."""
    out: dict[str, list[SynapseModel]] = {}
    for spec in specs:
        for m in spec.synapses:
            out.setdefault(m.source, []).append(m)
    return out


def _grid(shape, tile) -> tuple[list[tuple[int, int]], ...]:
    return tuple([(i, min(i + t, n)) for i in range(0, n, t)] for n, t in zip(shape, tile))


def _core(spec: LayerSpec, box: Box, readers: list[SynapseModel],
          limits: Loihi2Limits) -> CoreTile:
    n = box_size(box)
    positions = (box[1][1] - box[1][0]) * (box[2][1] - box[2][0])
    out = sum(positions * spec.phases if m.encoding == "conv" else n for m in readers)
    conns: dict[str, int] = {}
    for m in spec.synapses:
        conns[m.source] = conns.get(m.source, 0) + m.connections(box)
    return CoreTile(spec.name, box, n, n * spec.slots,
                    sum(m.words(box, limits) for m in spec.synapses),
                    sum(m.axons(box, limits) for m in spec.synapses), out, conns)


def _limit(resource: str, limits: Loihi2Limits) -> int:
    return {"slots": limits.neuron_slots_per_core, "words": limits.synapse_words_per_core,
            "axons_in": limits.input_axons_per_core,
            "axons_out": limits.output_axons_per_core}[resource]


def over_use(usage: dict[str, int], limits: Loihi2Limits) -> dict[str, float]:
    """Resource -> need / limit for every resource over its limit (the neuron memory is over
    when full, as Intel's compiler treats it; see ``Loihi2Limits.neuron_fill_strict``)."""
    out = {}
    for res, need in usage.items():
        ratio = need / _limit(res, limits)
        strict = res == "slots" and limits.neuron_fill_strict
        if ratio > 1 or (strict and ratio >= 1):
            out[res] = ratio
    return out


def refuse(layer: str, resource: str, need: float, limit: float, fix: str) -> SnnccError:
    what = RESOURCES.get(resource, resource)
    return SnnccError(f"layer {layer!r} does not fit Loihi 2: {what} {need:,.0f} exceeds the "
                      f"limit of {limit:,.0f} by {need - limit:,.0f} ({need / limit:.2f}x)", fix)


def _worst(cores: list[CoreTile], nominal_slots: int, limits: Loihi2Limits):
    usage = {r: max(getattr(c, r) for c in cores) for r in ("words", "axons_in", "axons_out")}
    usage["slots"] = nominal_slots
    return usage, over_use(usage, limits)


_FIX = {"slots": "use neurons with fewer per-neuron parameters",
        "words": "reduce the layer's fan-in or weight precision",
        "axons_in": "reduce the layer's input size (every core of a dense layer receives "
                    "every input axon)",
        "axons_out": "reduce the number of layers this layer feeds"}


def tile_spatial(spec: LayerSpec, readers, limits: Loihi2Limits) -> LayerTiling:
    c, h, w = spec.shape
    nominal = [c, h, 1 << max(0, (w - 1).bit_length())]
    conv_words = any(m.encoding == "conv" for m in spec.synapses)
    while True:
        tile = (min(nominal[0], c), min(nominal[1], h), min(nominal[2], w))
        cores = [_core(spec, box, readers, limits)
                 for box in _boxes(_grid(spec.shape, tile))]
        usage, over = _worst(cores, math.prod(nominal) * spec.slots, limits)
        if not over:
            return LayerTiling(spec, tile, _grid(spec.shape, tile), cores)
        res = max(over, key=over.get)
        order = (0, 2, 1) if res == "words" and conv_words else (2, 1, 0)
        axis = next((a for a in order if nominal[a] > 1), None)
        if axis is None:
            raise refuse(spec.name, res, usage[res], _limit(res, limits), _FIX[res])
        full = spec.shape[axis]
        nominal[axis] = nominal[axis] // 2 if nominal[axis] < full or full & (full - 1) == 0 \
            else 1 << (full - 1).bit_length() - 1


def tile_flat(spec: LayerSpec, readers, limits: Loihi2Limits) -> LayerTiling:
    n, k = spec.neurons, 1
    while True:
        size = math.ceil(n / k)
        tile = (size, 1, 1)
        cores = [_core(spec, box, readers, limits) for box in _boxes(_grid(spec.shape, tile))]
        usage, over = _worst(cores, size * spec.slots, limits)
        if not over:
            return LayerTiling(spec, tile, _grid(spec.shape, tile), cores)
        res = max(over, key=over.get)
        if size == 1 or "axons_in" in over and all(
                m.axons(((0, 1), (0, 1), (0, 1)), limits) == m.axons(cores[0].box, limits)
                for m in spec.synapses):
            res = "axons_in" if "axons_in" in over else res
            raise refuse(spec.name, res, usage[res], _limit(res, limits), _FIX[res])
        strict = res == "slots" and limits.neuron_fill_strict
        ratio = over[res]
        k = min(n, k * max(2, math.floor(ratio) + 1 if strict else math.ceil(ratio)))


def _boxes(grid) -> list[Box]:
    return [(cc, hh, ww) for cc in grid[0] for hh in grid[1] for ww in grid[2]]


def tile_layers(graph: Graph, limits: Loihi2Limits, options: dict) -> list[LayerTiling]:
    """Tile every layer of ``graph`` (see the module docstring)."""
    from .mapping_fanin import needs_split, split_fan_in
    specs = []
    for spec in layer_specs(graph, limits, options):
        specs.extend(split_fan_in(spec, limits) if needs_split(spec, limits) else [spec])
    readers = consumers(specs)
    return [(tile_spatial if s.spatial else tile_flat)(s, readers.get(s.name, []), limits)
            for s in specs]
