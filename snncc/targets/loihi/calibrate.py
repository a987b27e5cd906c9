"""Calibration: choose per-layer weight scales (and exponents) from data, not only from max-abs.

The default rule gives each neuron's largest weight the full 8 bits.  One outlier weight
then sets the step for the whole row, and the bulk of small weights rounds to a few levels
(or to zero).  Calibration searches, layer by layer in graph order, a *clip ratio* ``c``:
weights are clipped at ``max/c`` and the bulk gets ``c`` times finer steps.  Each ratio is
tried two ways where the hardware allows a free weight exponent (Loihi: -8..7):

* scale factor ``c`` alone: the neuron scale ``S`` grows ``c``-fold (finer membrane, less
  headroom);
* scale factor ``c`` with the weight exponent lowered by ``round(log2 c)``: ``S`` stays
  about where it was, only the weight grid moves.

Each candidate is quantized and simulated bit-accurately on the calibration data; the one
whose layer agrees best with the float model's spikes wins (ties: the downstream layers'
agreement, then the ratio nearest 1, i.e. the default).  Candidates that clip a threshold
or whose worst-case current could wrap the 24-bit ``u`` are never taken.  Because the
default is a candidate, every layer's calibrated agreement on the calibration data is at
least the default's.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from . import fixedpoint as fx
from ...compiler import Compiled
from ...errors import SnnccError
from ...ir import FxDense, FxNeuron, Graph
from ...passes import lower_neurons, validate_float
from .quantize import QuantConfig, quantize
from .recipes import RECIPES, choose_recipe
from ...progress import Progress, or_quiet
from ...report.runs import agreement, output_layer, predictions, run_quantized

# clip ratios 2**(k/2) for k = -2 .. 12: from half the bits (more headroom) to 64x finer
DEFAULT_RATIOS: tuple[float, ...] = tuple(2.0 ** (k / 2) for k in range(-2, 13))
MAX_CALIBRATION_SAMPLES = 1024


@dataclass
class LayerCalibration:
    """The choice for one layer and its spike agreement on the calibration data."""

    name: str
    clip_ratio: float
    scale_factor: float
    weight_exp_default: int
    weight_exp: int
    agreement_default: float
    agreement_calibrated: float
    candidates: int


@dataclass
class Calibration:
    """Calibrated quantizer settings and the measured gain over the default rule."""

    config: QuantConfig
    layers: list[LayerCalibration]
    samples: int
    steps: int
    output_agreement_default: float
    output_agreement_calibrated: float
    prediction_agreement_default: float
    prediction_agreement_calibrated: float
    accuracy_default: Optional[float] = None
    accuracy_calibrated: Optional[float] = None
    extra: dict = field(default_factory=dict)
    base: Optional[QuantConfig] = None      # the settings calibration started from

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("base")
        cfg = d.pop("config")
        d["scale_factor"] = cfg["scale_factor"]
        d["weight_exp"] = cfg["weight_exp"]
        return d


def worst_case_current(fixed: Graph) -> dict[str, float]:
    """Per neuron layer: the largest |u| any input could drive, as a fraction of the 24-bit wrap.

    Every input spiking at every step with the current's slowest decay: ``drive / leak``
    (the quantizer's own bound, recomputed from the integer network).  Above 1, u may wrap.
    """
    out = {}
    for node in fixed.of_type(FxNeuron):
        dense = fixed.node(fixed.inputs_of(node.name)[0])
        if not isinstance(dense, FxDense):
            continue
        parts = fx.split_by_sign(dense.weight) if dense.split_sign else (dense.weight,)
        drive = sum(np.abs(fx.lava_effective_weights(p)).sum(axis=1).astype(np.float64)
                    * 2.0 ** (dense.weight_exp + fx.ACT_SHIFT) for p in parts)
        if dense.bias is not None:
            drive = drive + np.abs(dense.bias) * 2.0 ** (dense.bias_exp + fx.ACT_SHIFT)
        leak = np.maximum(node.du.astype(np.float64) + fx.DU_OFFSET, 1.0) / fx.DECAY_UNITY
        out[node.name] = float(np.max(drive / leak)) / fx.MAX_UV if drive.size else 0.0
    return out


def _acceptable(fixed: Graph, report, layer: str) -> bool:
    q = next(l for l in report.layers if l.name == layer)
    return q.clipped.get("threshold", 0) == 0 and worst_case_current(fixed).get(layer, 0.0) < 1.0


def _candidates(cfg: QuantConfig, default_exp: int, ratios: Sequence[float]) -> list[tuple[float, Optional[int]]]:
    """(scale factor, weight exponent override or None) pairs, the default (1, None) first."""
    out: list[tuple[float, Optional[int]]] = [(1.0, None)]
    free_exp = cfg.weight_exp_range[0] < cfg.weight_exp_range[1]
    for c in ratios:
        if not math.isclose(c, 1.0):
            out.append((c, None))
        shift = round(math.log2(c))
        exp = default_exp - shift
        if free_exp and shift != 0 and cfg.weight_exp_range[0] <= exp <= cfg.weight_exp_range[1]:
            out.append((c, exp))
    return out


def calibrate(model, stimulus: np.ndarray, labels: Optional[np.ndarray] = None,
              input_shape: Optional[Sequence[int]] = None, dt: float = 1e-3,
              base: Optional[QuantConfig] = None, ratios: Sequence[float] = DEFAULT_RATIOS,
              max_samples: int = MAX_CALIBRATION_SAMPLES,
              progress: Optional[Progress] = None, objective: str = "agreement",
              recipes: bool = True) -> tuple[Compiled, Calibration]:
    """Choose the quantizer's settings on ``stimulus`` (T, B, ...) and compile with the best.

    First a recipe (:mod:`snncc.targets.loihi.recipes`: drift-minimising per-neuron scales,
    bias correction, precise biases, extended weights, decay/threshold matching) scored by
    ``objective`` ("agreement", "counts" or "spike_time"), then the per-layer clip ratios.
    Returns the calibrated :class:`Compiled` and a :class:`Calibration` with the agreement
    of the default rule and of the calibrated network on the calibration data.
    """
    from ...frontend import trace
    from ...reference import run_float
    if stimulus.ndim < 3 or stimulus.shape[0] < 1 or stimulus.shape[1] < 1:
        raise SnnccError(f"calibration data has shape {stimulus.shape} (time, samples, ...)",
                         "pass at least one sample with at least one time step")
    stimulus = stimulus[:, :max_samples]
    base = base or QuantConfig()
    from ...modelfile import NirFile
    graph = model.graph(dt) if isinstance(model, NirFile) else trace(model, input_shape, dt)
    validate_float(graph)
    lowered, mapping = lower_neurons(graph)
    cfg = dataclasses.replace(base, scale_factor=dict(base.scale_factor),
                              weight_exp=dict(base.weight_exp))
    default_fixed, default_report = quantize(lowered, cfg)
    layers = [l.name for l in default_report.layers]
    flt = run_float(model, stimulus, layers)
    default_run = run_quantized(default_fixed, stimulus)
    default_agree = agreement(flt, default_run.spikes)
    default_exp = {l.name: l.weight_exp for l in default_report.layers}

    per_layer = {name: _candidates(cfg, default_exp[name], ratios) for name in layers}
    task = or_quiet(progress).task("calibrating", sum(len(c) for c in per_layer.values())
                                   + (RECIPES if recipes else 0))
    recipe_log: list[dict] = []
    if recipes:
        cfg, recipe_log = choose_recipe(lowered, cfg, flt, stimulus, output_layer(default_fixed),
                                        objective, task.advance)
        cfg = dataclasses.replace(cfg, scale_factor=dict(cfg.scale_factor),
                                  weight_exp=dict(cfg.weight_exp))
        default_exp = {l.name: l.weight_exp for l in quantize(lowered, cfg)[1].layers}
        per_layer = {name: _candidates(cfg, default_exp[name], ratios) for name in layers}
    chosen: dict[str, LayerCalibration] = {}
    for i, name in enumerate(layers):
        downstream = layers[i + 1:]
        best_key, best = None, None
        for factor, exp in per_layer[name]:
            trial = dataclasses.replace(cfg, scale_factor={**cfg.scale_factor, name: factor},
                                        weight_exp={**cfg.weight_exp, **({name: exp} if exp is not None else {})})
            task.advance()
            if exp is None:
                trial.weight_exp.pop(name, None)
            fixed, report = quantize(lowered, trial)
            if not _acceptable(fixed, report, name) and (factor, exp) != (1.0, None):
                continue
            agree = agreement(flt, run_quantized(fixed, stimulus).spikes)
            down = float(np.mean([agree[d] for d in downstream])) if downstream else 0.0
            key = (agree[name], down, -abs(math.log2(factor)), exp is None)
            if best_key is None or key > best_key:
                best_key, best = key, (factor, exp, trial, agree[name])
        factor, exp, cfg, agree_l = best
        chosen[name] = LayerCalibration(name, factor, factor, default_exp[name],
                                        default_exp[name] if exp is None else exp,
                                        default_agree[name], agree_l, len(per_layer[name]))

    fixed, report = quantize(lowered, cfg)
    calibrated_run = run_quantized(fixed, stimulus)
    final_agree = agreement(flt, calibrated_run.spikes)
    for name, lc in chosen.items():
        lc.agreement_calibrated = final_agree[name]
        lc.weight_exp = next(l.weight_exp for l in report.layers if l.name == name)
    out = output_layer(fixed)
    pf = predictions(flt[out])
    pd_, pc = predictions(default_run.spikes[out]), predictions(calibrated_run.spikes[out])
    cal = Calibration(cfg, list(chosen.values()), int(stimulus.shape[1]), int(stimulus.shape[0]),
                      default_agree[out], final_agree[out],
                      float(np.mean(pd_ == pf)), float(np.mean(pc == pf)))
    if labels is not None:
        lab = np.asarray(labels)[:stimulus.shape[1]]
        cal.accuracy_default = float(np.mean(pd_ == lab))
        cal.accuracy_calibrated = float(np.mean(pc == lab))
    cal.base = base
    cal.extra["objective"] = objective
    cal.extra["recipes"] = recipe_log
    return Compiled(graph, lowered, fixed, mapping, report), cal


def gain_on(model, compiled: Compiled, cal: Calibration, stimulus: np.ndarray,
            labels: Optional[np.ndarray] = None) -> dict:
    """Default rule vs calibrated network on other data (e.g. the verification set)."""
    default_cfg = cal.base if cal.base is not None else dataclasses.replace(
        cal.config, scale_factor={}, weight_exp={})
    default_fixed, _ = quantize(compiled.lowered, default_cfg)
    return compare_default(model, default_fixed, compiled.fixed, stimulus, labels)


def compare_default(model, default_fixed: Graph, calibrated_fixed: Graph, stimulus: np.ndarray,
                    labels: Optional[np.ndarray] = None) -> dict:
    """Output and prediction agreement (and accuracy) of two fixed graphs of ``model`` on
    ``stimulus``: ``*_default`` and ``*_calibrated`` keys (any target)."""
    from ...reference import run_float
    out = output_layer(calibrated_fixed)
    flt = run_float(model, stimulus, [out])[out]
    res = {}
    for key, fixed in (("default", default_fixed), ("calibrated", calibrated_fixed)):
        q = run_quantized(fixed, stimulus).spikes[out]
        res[f"output_agreement_{key}"] = float(np.mean(q == flt))
        res[f"prediction_agreement_{key}"] = float(np.mean(predictions(q) == predictions(flt)))
        res[f"accuracy_{key}"] = (None if labels is None
                                  else float(np.mean(predictions(q) == np.asarray(labels))))
    return res
