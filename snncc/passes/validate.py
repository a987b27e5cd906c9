"""Reject float graphs whose parameters cannot mean anything on hardware, before any work."""
from __future__ import annotations

import numpy as np

from ..errors import SnnccError
from ..ir import Graph
from ..ir.nodes import CubaLIF, LIF, NeuronNode

# (field, low, high) for the decay factors every canonical form shares
_RANGES = {"alpha": (0.0, 1.0), "beta": (0.0, 1.0)}


def validate_float(graph: Graph) -> None:
    """Raise SnnccError naming the node and parameter for NaN/inf or out-of-range values."""
    for node in graph.nodes():
        for field, arr in node.arrays().items():
            if not np.all(np.isfinite(arr)):
                bad = int(np.sum(~np.isfinite(arr)))
                raise SnnccError(f"layer {node.name!r}: {bad} non-finite value(s) in {field}",
                                 "retrain or fix the model; NaN/inf parameters cannot be compiled")
        if isinstance(node, NeuronNode):
            for field, (lo, hi) in _RANGES.items():
                arr = getattr(node, field, None)
                if arr is not None and (np.min(arr) < lo or np.max(arr) > hi):
                    raise SnnccError(f"layer {node.name!r}: {field} in [{np.min(arr):.4g}, "
                                     f"{np.max(arr):.4g}] is outside [{lo}, {hi}]",
                                     f"clamp {field} to [{lo}, {hi}] (decay factors)")
            if isinstance(node, (LIF, CubaLIF)) and np.min(node.threshold) <= 0:
                raise SnnccError(f"layer {node.name!r}: threshold must be > 0 "
                                 f"(min {np.min(node.threshold):.4g})",
                                 "use positive thresholds")
