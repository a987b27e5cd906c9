"""Place a fixed-point network on Loihi 2 neuro-cores and report what it uses.

A *layer* is one neuron node and the synapses that feed it: on Loihi a core stores the
incoming synapses of the neurons it holds.  A layer is split over ``k`` cores, each taking
``ceil(n/k)`` neurons with their synapses; ``k`` is the smallest count that respects the
per-core neuron and memory budgets, and every core of a layer receives all of the layer's
input axons (dense fan-in), which splitting cannot reduce.  Memory is an *estimate* of the
bytes snncc's parameters need (weights at their stored width, 24-bit u and v, per-neuron
parameters only where they differ across the layer), not Lava's own allocator.

Synaptic node kinds register an estimator (:func:`register_synapse_estimator`): how many
bytes of synapses each destination neuron needs and how many input axons feed the layer.
``fx_dense`` is registered here; convolutions register theirs next to their node.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...errors import SnnccError
from ...ir import FxDense, FxNeuron, Graph
from ...ir.nodes import Node


@dataclass(frozen=True)
class Loihi2Limits:
    """Published Loihi 2 figures (see ``SOURCES``) and the byte costs snncc assumes."""

    cores_per_chip: int = 128
    neurons_per_core: int = 8192
    memory_per_core: int = 128 * 1024          # bytes: synapses + neuron state, flexibly split
    fan_in_axons_per_core: int = 4096
    fan_out_axons_per_core: int = 4096
    neurons_per_chip: int = 1_000_000
    synapses_per_chip: int = 120_000_000
    # snncc's byte costs (estimate): 24-bit u and v per neuron; 8-bit weights
    state_bytes_per_neuron: int = 6
    weight_bytes: int = 1
    SOURCES: tuple[tuple[str, str], ...] = field(default=(
        ("cores_per_chip, neurons_per_chip, synapses_per_chip",
         "Intel Labs, 'Taking Neuromorphic Computing to the Next Level with Loihi 2', "
         "technology brief (2021): 128 neuro-cores, up to 1M neurons, 120M synapses per chip"),
        ("neurons_per_core",
         "derived from the brief: 1,048,576 neurons / 128 cores = 8,192, the per-core "
         "figure commonly quoted for Loihi 2"),
        ("memory_per_core",
         "Loihi 2 announcement coverage (2021): 128 KB of local SRAM per core, flexibly "
         "partitioned between synapses, neuron state and routing"),
        ("fan_in_axons_per_core, fan_out_axons_per_core",
         "Loihi 1 figures (Davies et al., IEEE Micro 38(1), 2018: 4096 in/out axons per "
         "core); Intel has not published Loihi 2's, so snncc keeps Loihi 1's as a floor"),
    ), compare=False)


LOIHI2 = Loihi2Limits()


@dataclass
class SynapseDemand:
    """What the synapses feeding a layer cost: bytes per destination neuron, input axons."""

    bytes_per_neuron: float
    fan_in_axons: int


SynapseEstimator = Callable[[Graph, Node, Loihi2Limits], SynapseDemand]
SYNAPSE_ESTIMATORS: dict[str, SynapseEstimator] = {}


def register_synapse_estimator(kind: str):
    """Register how a synaptic node kind (e.g. ``fx_conv``) costs memory and axons."""
    def wrap(fn: SynapseEstimator) -> SynapseEstimator:
        SYNAPSE_ESTIMATORS[kind] = fn
        return fn
    return wrap


@register_synapse_estimator(FxDense.kind)
def _dense(graph: Graph, node: FxDense, limits: Loihi2Limits) -> SynapseDemand:
    """Dense rows at the stored weight width (two matrices when split by sign), plus the
    bias axon's column; the inputs plus the always-on bias axon are the fan-in."""
    n_in = int(node.weight.shape[1])
    per_neuron = n_in * limits.weight_bytes * (2 if node.split_sign else 1)
    has_bias = node.bias is not None and bool(np.any(node.bias))
    return SynapseDemand(per_neuron + (limits.weight_bytes if has_bias else 0),
                         n_in + (1 if has_bias else 0))


# per-neuron parameters and their width in bytes: stored per neuron only when they differ
_PARAM_BYTES = {"du": 2, "dv": 2, "vth": 3, "bias_mant": 2, "bias_exp": 1, "reset_mult": 2,
                "reset_sub": 3}


def neuron_bytes(node: FxNeuron, limits: Loihi2Limits) -> float:
    """State plus the per-neuron parameters that are not shared across the layer."""
    varying = sum(b for f, b in _PARAM_BYTES.items()
                  if getattr(node, f, None) is not None
                  and np.unique(np.asarray(getattr(node, f))).size > 1)
    return limits.state_bytes_per_neuron + varying


@dataclass
class CoreEstimate:
    cores: int
    neurons_per_core: int
    bytes_per_core: int
    fan_in: int
    fan_out: int = 0


@dataclass
class LayerPlacement:
    """One neuron layer on its cores, and its utilisation of each budget (0..1)."""

    name: str
    neurons: int
    synapse_bytes: int
    state_bytes: int
    estimate: CoreEstimate
    first_core: int
    utilisation: dict[str, float]


@dataclass
class Placement:
    layers: list[LayerPlacement]
    limits: Loihi2Limits

    @property
    def cores(self) -> int:
        return sum(l.estimate.cores for l in self.layers)

    def rows(self) -> list[dict]:
        return [{"layer": l.name, "neurons": l.neurons, "cores": l.estimate.cores,
                 "core range": f"{l.first_core}-{l.first_core + l.estimate.cores - 1}",
                 **{k: round(v, 4) for k, v in l.utilisation.items()}} for l in self.layers]


def _over(name: str, what: str, need: float, limit: float, fix: str) -> SnnccError:
    return SnnccError(f"layer {name!r} does not fit Loihi 2: {what} {need:,.0f} exceeds the "
                      f"limit of {limit:,.0f} by {need - limit:,.0f} ({need / limit:.2f}x)", fix)


def _layer(graph: Graph, node: FxNeuron, limits: Loihi2Limits) -> tuple[int, float, int, int]:
    """(neurons, synapse bytes per neuron, fan-in axons, state bytes per neuron)."""
    syn_bytes, fan_in = 0.0, 0
    for src in graph.inputs_of(node.name):
        feeder = graph.node(src)
        estimator = SYNAPSE_ESTIMATORS.get(feeder.kind)
        if estimator is None:
            raise SnnccError(f"no Loihi 2 resource estimator for {feeder.kind!r} (feeding "
                             f"{node.name!r})", "register one with "
                             "snncc.mapping.register_synapse_estimator")
        demand = estimator(graph, feeder, limits)
        syn_bytes += demand.bytes_per_neuron
        fan_in += demand.fan_in_axons
    return int(np.prod(node.shape)), syn_bytes, fan_in, int(neuron_bytes(node, limits))


def map_loihi2(graph: Graph, limits: Loihi2Limits = LOIHI2) -> Placement:
    """Assign every neuron layer of a fixed-point graph to Loihi 2 cores of one chip.

    Raises :class:`SnnccError` naming the layer, the limit and the excess when a layer
    cannot be placed (fan-in, one neuron's memory) or the network needs more cores than a
    chip has.
    """
    layers: list[LayerPlacement] = []
    next_core = 0
    neurons = [n for n in graph.nodes() if isinstance(n, FxNeuron)]
    for node in neurons:
        n, syn_per_neuron, fan_in, state = _layer(graph, node, limits)
        if fan_in > limits.fan_in_axons_per_core:
            raise _over(node.name, "fan-in (input axons per core)", fan_in,
                        limits.fan_in_axons_per_core,
                        "reduce the layer's input size (each core receives every input axon)")
        per_neuron = syn_per_neuron + state
        if per_neuron > limits.memory_per_core:
            raise _over(node.name, "memory of one neuron and its synapses (bytes)", per_neuron,
                        limits.memory_per_core, "reduce the layer's fan-in")
        fit = min(limits.neurons_per_core, int(limits.memory_per_core // per_neuron))
        cores = math.ceil(n / fit)
        per_core = math.ceil(n / cores)
        est = CoreEstimate(cores, per_core, int(math.ceil(per_core * per_neuron)), fan_in)
        util = {"neuron_util": n / (cores * limits.neurons_per_core),
                "memory_util": n * per_neuron / (cores * limits.memory_per_core),
                "fan_in_util": fan_in / limits.fan_in_axons_per_core}
        layers.append(LayerPlacement(node.name, n, int(round(n * syn_per_neuron)), n * state,
                                     est, next_core, util))
        next_core += cores
        if next_core > limits.cores_per_chip:
            raise _over(node.name, "cores used up to this layer", next_core,
                        limits.cores_per_chip, "shrink the network or split it over chips")
    _fan_out(graph, layers, limits)
    return Placement(layers, limits)


def _fan_out(graph: Graph, layers: list[LayerPlacement], limits: Loihi2Limits) -> None:
    """A neuron sends one axon to every core of every layer its spikes feed."""
    by_name = {l.name: l for l in layers}
    for layer in layers:
        targets = set()
        for syn in graph.consumers_of(layer.name):
            targets.update(c for c in graph.consumers_of(syn) if c in by_name)
        dest_cores = sum(by_name[t].estimate.cores for t in targets)
        layer.estimate.fan_out = layer.estimate.neurons_per_core * dest_cores
        layer.utilisation["fan_out_util"] = layer.estimate.fan_out / limits.fan_out_axons_per_core
        if layer.estimate.fan_out > limits.fan_out_axons_per_core:
            raise _over(layer.name, "fan-out (output axons per core)", layer.estimate.fan_out,
                        limits.fan_out_axons_per_core,
                        "spread the layer over more cores or shrink the layers it feeds")


from . import mapping_conv  # noqa: E402,F401  (registers the conv and delay-line estimators)
from . import mapping_netx  # noqa: E402,F401  (DelayDense, input neurons)
