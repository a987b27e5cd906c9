"""Quantizing what Lava runs with its own processes beside Dense and LIF: per-synapse delays
(``DelayAffine`` -> Lava's ``DelayDense``) and periodic resets (``CubaLIFReset`` -> Lava's
``LIFReset``).  The regular quantizer (:mod:`.quantize`) sees a delayed Linear as a Linear and
a resetting neuron as a CUBA-LIF (their arithmetic is the same); this pass then gives the
synapse its delays and the neuron its reset:

* a ``DelayDense`` is one matrix in one sign mode (no split-sign pair), so graphs with
  delays are quantized with ``split_sign=False``;
* the float reset at step ``t_f`` (``t_f % I == o``) happens on Loihi at ``t_f + k`` for a
  layer ``k`` synapses deep; Lava's ``LIFReset`` resets when ``(t + 1) % I == offset % I``
  (time steps from 1), so ``offset = o + 1 + k`` (netx's rule too).
"""
from __future__ import annotations

from dataclasses import asdict, replace
import numpy as np

from ...errors import SnnccError
from ...ir import Affine, DelayAffine, FxDelayDense, FxLIFReset, FxNeuron, Graph, SpikeDelay
from ...ir.reset import CubaLIFReset


def needs_extras(lowered: Graph) -> bool:
    return any(isinstance(n, (DelayAffine, SpikeDelay, CubaLIFReset)) for n in lowered.nodes())


def quantize_extras(lowered: Graph, cfg) -> tuple[Graph, object]:
    """Quantize ``lowered`` (with delayed synapses and/or periodic resets) for Loihi."""
    from ...passes.compose import compose_synapses
    from ...verify import synaptic_depth
    from .quantize import QuantConfig, quantize
    cfg = cfg or QuantConfig()
    composed = compose_synapses(lowered)
    delays = {n.name: n for n in composed.nodes() if isinstance(n, DelayAffine)}
    if delays:
        cfg = replace(cfg, split_sign=False)
        composed = composed.copy()
        for name, node in delays.items():    # the same arithmetic as a Linear, but delayed
            composed.replace(Affine(name, weight=node.weight, bias=node.bias))
    fixed, report = quantize(composed, cfg)
    for name, node in delays.items():
        syn = fixed.node(name)
        if syn.bias is not None or syn.split_sign:
            raise SnnccError(f"{name!r}: a delayed synapse with a bias axon or split signs",
                             "give the bias to the neuron; delayed synapses are one matrix")
        fixed.replace(FxDelayDense(name, weight=syn.weight, delay=np.asarray(node.delay, np.int64),
                                   weight_exp=int(syn.weight_exp)))
    depth = synaptic_depth(fixed)
    for node in lowered.nodes():
        if isinstance(node, CubaLIFReset):
            fxn: FxNeuron = fixed.node(node.name)
            fields = {k: v for k, v in asdict(fxn).items() if k != "name"}
            fixed.replace(FxLIFReset(node.name, reset_interval=int(node.reset_interval),
                                     reset_offset=int(node.reset_offset) + 1 + depth[node.name],
                                     **fields))
    return fixed, report


__all__ = ["needs_extras", "quantize_extras"]
