"""Data-driven choice of the Xylo quantizer's knob: the threshold headroom.

``headroom`` trades threshold resolution (thresholds up to ``32767 / headroom`` units) against
room for the membrane above threshold before it saturates.  :func:`choose_headroom` runs the
float model and each candidate's integer network on calibration data and keeps the headroom
with the best output spike agreement (ties: the first, i.e. the default 4).
``snncc compile --calibrate`` does not use it yet (it is Loihi's); call it from Python.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

import numpy as np

from .quantize import QuantConfig


def choose_headroom(model, stimulus: np.ndarray, chip: str = "xylo-audio2",
                    candidates: Sequence[float] = (4.0, 2.0, 8.0, 16.0),
                    base: Optional[QuantConfig] = None) -> tuple[QuantConfig, dict[float, float]]:
    """Best ``QuantConfig`` for ``model`` on ``stimulus`` (T, B, ...) spike counts, and the
    output spike agreement of every candidate headroom."""
    from ...compiler import compile_model
    from ...reference import run_float
    from ...report.runs import neuron_names, output_layer, run_quantized
    scores: dict[float, float] = {}
    best, flt = None, None
    for h in candidates:
        cfg = replace(base or QuantConfig(), chip=chip, headroom=float(h))
        compiled = compile_model(model, config=cfg, target=chip)
        out = output_layer(compiled.fixed)
        if flt is None:
            flt = run_float(model, stimulus, neuron_names(compiled.fixed), stimulus.shape[1])
        q = run_quantized(compiled.fixed, stimulus).spikes[out]
        scores[float(h)] = float(np.mean(flt[out] == q))
        if best is None or scores[float(h)] > scores[best.headroom]:
            best = cfg
    return best, scores
