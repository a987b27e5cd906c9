"""Lower every neuron to the canonical CUBA-LIF form and fold what can be folded.

* neuron-specific input scales (e.g. a spatial decay) are multiplied into the rows of the
  preceding ``Affine``;
* a neuron's own voltage bias, when its current is memoryless (alpha == 0, so current and
  voltage inputs are the same thing), moves into the preceding ``Affine`` bias: the
  quantizer sends Affine biases over an always-on axon that starts in step with the data
  (see ``FxDense``), which a neuron bias on Loihi cannot do.  Not when the neuron has a
  per-step ``input_gain``: that gain scales the synapses but not the neuron's own bias, so
  the bias stays in the neuron (the generalised neuron starts it in step with the data).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from ..convmath import compact_bias, full_bias
from ..errors import SnnccError
from ..ir import Affine, Conv2d, CubaLIF, Graph, Scale
from ..ir.nodes import EXACT, NeuronNode, Node
from .fold_bn import fold_batchnorm
from .maxpool import lower_maxpool
from .rewrite import rebuild


@dataclass
class LayerMapping:
    """How one neuron layer maps to hardware: exact / exact after folding / generalised / approximate."""

    name: str
    source_kind: str
    mapping: str
    note: str = ""


def _foldable(graph: Graph, feeder: str, neuron: str) -> bool:
    """A Linear/Conv2d whose only consumer is ``neuron``: folds into it change nothing else."""
    return isinstance(graph.node(feeder), (Affine, Conv2d)) and graph.consumers_of(feeder) == [neuron]


def _channel_uniform(values: np.ndarray, shape: tuple[int, ...]) -> Optional[np.ndarray]:
    """Per-channel values when ``values`` (full ``shape``) is constant over each channel."""
    per = np.asarray(values).reshape(shape[0], -1)
    return per[:, 0].copy() if np.all(per == per[:, :1]) else None


def _scale_feeder(node, scale: np.ndarray, shape: tuple[int, ...]):
    """``node`` (Affine/Conv2d) with its output multiplied by ``scale`` (per neuron), or None
    when a conv cannot take it (a scale that varies within a channel)."""
    if isinstance(node, Affine):
        return replace(node, weight=node.weight * scale[:, None],
                       bias=None if node.bias is None else node.bias * scale)
    per = _channel_uniform(scale, shape)
    if per is None:
        return None
    bias = node.bias
    if bias is not None:
        bias = bias * (per if bias.ndim == 1 else scale.reshape(bias.shape))
    return replace(node, weight=node.weight * per[:, None, None, None], bias=bias)


def _add_bias(node, bias: np.ndarray, shape: tuple[int, ...]):
    """``node`` (Affine/Conv2d) with ``bias`` (per neuron, full shape) added to its output."""
    if isinstance(node, Affine):
        flat = bias.reshape(-1)
        return replace(node, bias=flat if node.bias is None else node.bias + flat)
    full = bias.reshape(shape) + (0.0 if node.bias is None else full_bias(node.bias, shape))
    return replace(node, bias=compact_bias(np.asarray(full)))


def lower_neurons(graph: Graph) -> tuple[Graph, list[LayerMapping]]:
    """Return a graph whose neurons are all canonical :class:`CubaLIF` nodes, and the mapping table.

    Batch-norm is folded first (:func:`~snncc.passes.fold_bn.fold_batchnorm`) and max pools
    of spikes become OR neurons (:func:`~snncc.passes.maxpool.lower_maxpool`).  A neuron's
    input scale goes into every Linear/Conv2d that feeds only it (feed-forward and
    recurrent); where the feeder is shared or is not a synapse (a residual add, a pool) an
    explicit ``Scale`` node carries it.  The bias fold needs a single-consumer feeder too;
    otherwise the bias stays in the neuron (synapse composition moves it later).
    """
    graph = lower_maxpool(fold_batchnorm(graph))
    out = graph.copy()
    shapes = graph.shapes()
    table: list[LayerMapping] = []
    inserts: dict[tuple[str, str], Node] = {}
    for node in list(out.nodes()):
        if not isinstance(node, NeuronNode):
            continue
        if getattr(node, "graded", False):     # sigma-delta: quantized as it is (quantize_sdnn)
            table.append(LayerMapping(node.name, node.kind, EXACT, "sigma-delta (graded spikes)"))
            continue
        lowered = node.lower()
        neuron: CubaLIF = lowered.neuron
        shape = tuple(shapes[node.name])
        ff, rec = out.inputs_of(node.name), out.recurrent_inputs_of(node.name)
        if lowered.input_scale is not None:
            scale = np.asarray(lowered.input_scale)      # float32, or float64 (.double())
            scale = scale.astype(np.result_type(scale.dtype, np.float32)).reshape(-1)
            for feeder in ff + rec:
                folded = (_scale_feeder(out.node(feeder), scale, shape)
                          if _foldable(out, feeder, node.name) else None)
                if folded is not None:
                    out.replace(folded)
                elif feeder in rec:
                    raise SnnccError(f"neuron layer {node.name!r} scales its input, but its "
                                     f"recurrent input {feeder!r} is not its own Linear layer",
                                     "feed the recurrence through a Linear used only by it")
                else:
                    inserts[(feeder, node.name)] = Scale(f"{node.name}.input_scale:{feeder}",
                                                         factor=scale.reshape(shape))
        if (np.all(neuron.alpha == 0) and np.any(neuron.bias != 0)
                and neuron.input_gain is None and ff and _foldable(out, ff[0], node.name)
                and (ff[0], node.name) not in inserts):
            out.replace(_add_bias(out.node(ff[0]), np.asarray(neuron.bias), shape))
            neuron = replace(neuron, bias=np.zeros_like(neuron.bias))
        for feeder in ff + rec:     # the traced Linear layers stay float32, as before
            f = out.node(feeder)
            if isinstance(f, Affine) and f.weight.dtype == np.float32 and feeder in ff:
                out.replace(replace(f, weight=f.weight.astype(np.float32)))
        out.replace(neuron)
        table.append(LayerMapping(node.name, node.kind, lowered.mapping, lowered.note))
    if inserts:
        out = rebuild(out, insert=inserts)
    return out, table
