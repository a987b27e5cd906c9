"""Reject float graphs whose parameters cannot mean anything on hardware, before any work."""
from __future__ import annotations

import numpy as np

from ..errors import SnnccError
from ..ir import Graph
from ..ir.nodes import RESET_MODES, RESET_SUBTRACT, Affine, CubaLIF, LIF, NeuronNode

# (field, low, high) for the decay factors every canonical form shares
_RANGES = {"alpha": (0.0, 1.0), "beta": (0.0, 1.0)}
_PER_NEURON = ("alpha", "beta", "threshold", "bias")    # one value per neuron, or one per layer


def validate_float(graph: Graph) -> None:
    """Raise SnnccError naming the node and parameter for NaN/inf or out-of-range values."""
    for node in graph.nodes():
        for field, arr in node.arrays().items():
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                raise SnnccError(f"layer {node.name!r}: {field} holds {arr.dtype} values, not numbers",
                                 "rebuild the model; the file may be corrupt or hand-edited")
            if not np.all(np.isfinite(arr)):
                bad = int(np.sum(~np.isfinite(arr)))
                raise SnnccError(f"layer {node.name!r}: {bad} non-finite value(s) in {field}",
                                 "retrain or fix the model; NaN/inf parameters cannot be compiled")
        if isinstance(node, Affine):
            w, b = node.weight, node.bias
            if w.ndim != 2 or (b is not None and b.shape != (w.shape[0],)):
                raise SnnccError(f"layer {node.name!r}: weight shape {list(w.shape)} and bias "
                                 f"shape {None if b is None else list(b.shape)} do not fit",
                                 "weight must be (out, in) and bias (out,); rebuild the model")
        if isinstance(node, NeuronNode):
            if not isinstance(node.reset, str) or node.reset not in RESET_MODES:
                raise SnnccError(f"layer {node.name!r}: reset mode {node.reset!r:.40} is not one "
                                 f"of {', '.join(RESET_MODES)}", "rebuild the model; the file "
                                 "may be corrupt or hand-edited")
            n = int(np.prod(node.shape))
            for field in _PER_NEURON:
                arr = getattr(node, field, None)
                if isinstance(arr, np.ndarray) and arr.size != 1 \
                        and arr.shape not in (tuple(node.shape), (n,)):
                    raise SnnccError(f"layer {node.name!r}: {field} has shape {list(arr.shape)} "
                                     f"for a layer of shape {list(node.shape)}",
                                     "give one value per neuron (the layer's shape) or one for "
                                     "the layer")
            for field, (lo, hi) in _RANGES.items():
                arr = getattr(node, field, None)
                if arr is not None and (np.min(arr) < lo or np.max(arr) > hi):
                    raise SnnccError(f"layer {node.name!r}: {field} in [{np.min(arr):.4g}, "
                                     f"{np.max(arr):.4g}] is outside [{lo}, {hi}]",
                                     f"clamp {field} to [{lo}, {hi}] (decay factors)")
            if isinstance(node, (LIF, CubaLIF)):
                _check_max_spikes(node)
            if isinstance(node, (LIF, CubaLIF)) and np.min(node.threshold) <= 0:
                raise SnnccError(f"layer {node.name!r}: threshold must be > 0 "
                                 f"(min {np.min(node.threshold):.4g})",
                                 "use positive thresholds")


def _check_max_spikes(node) -> None:
    """``max_spikes``: a whole number >= 1; above 1 only with an immediate subtractive reset
    (each spike subtracts one threshold, as Xylo's neuron does)."""
    m = node.max_spikes
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise SnnccError(f"layer {node.name!r}: max_spikes {m!r:.40} is not a whole number >= 1",
                         "give the most spikes a neuron emits per step (1: one spike)")
    if m > 1 and (node.reset != RESET_SUBTRACT or getattr(node, "reset_delayed", False)):
        raise SnnccError(f"layer {node.name!r}: max_spikes {m} needs the subtractive reset at "
                         "the spike step (each spike subtracts one threshold)",
                         "use reset='subtract', or max_spikes=1")
