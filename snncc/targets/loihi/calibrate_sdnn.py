"""Calibration of a sigma-delta network: the activation range of every layer, measured by
running the float model on data, sets each layer's fixed-point units (see
:mod:`snncc.targets.loihi.quantize_sdnn`: more fraction bits where the activations are
small, never more than Lava's 24-bit state holds).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
import numpy as np

MARGIN = 1.25          # headroom over the largest activation seen


@dataclass
class SdnnCalibration:
    """The activation bounds (float units) measured on ``samples`` x ``steps`` of data."""

    samples: int
    steps: int
    bounds: dict

    def to_dict(self) -> dict:
        return {"kind": "sigma-delta activation ranges", **asdict(self)}

    def lines(self) -> list[str]:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in self.bounds.items())
        return [f"sigma-delta calibration on {self.samples} samples x {self.steps} steps: "
                f"activation bounds (x{MARGIN} margin) {shown}"]


def calibrate_sdnn(model, compiled, x: np.ndarray, base=None):
    """(recompiled :class:`~snncc.compiler.Compiled`, :class:`SdnnCalibration`) for stimulus
    ``x`` (T, B, ...): the largest |activation| of each sigma-delta layer and of the input."""
    from ...compiler import compile_graph
    from ...ir.sigma_delta import FLOAT_GRADED
    from ...verify_sdnn import run_float_sdnn
    from .quantize import QuantConfig
    graph = compiled.lowered
    names = [n.name for n in graph.nodes() if isinstance(n, FLOAT_GRADED)]
    inp = graph.input_names[0]
    _, acts = run_float_sdnn(model, x, names, tuple(graph.node(inp).shape))
    bounds = {inp: float(np.max(np.abs(x), initial=0.0)) * MARGIN}
    bounds.update({n: float(np.max(np.abs(a), initial=0.0)) * MARGIN for n, a in acts.items()})
    bounds = {k: max(v, 1e-6) for k, v in bounds.items()}
    cfg = replace(base or QuantConfig(), act_bound=bounds)
    return (compile_graph(compiled.float_graph, cfg, compiled.target),
            SdnnCalibration(int(x.shape[1]), int(x.shape[0]), bounds))


__all__ = ["SdnnCalibration", "calibrate_sdnn"]
