"""Calibration for Xylo: choose the quantizer's knobs on data (``--calibrate data.npz``).

The default rule (:mod:`.quantize`) fixes three things from the weights alone: the threshold
headroom (thresholds up to ``32767 / 4`` units), one bit shift per matrix (the most
constrained neuron's weights use 8 bits) and each neuron's scale.  Which of them loses the
least agreement depends on the data: a finer membrane (more units per threshold) shrinks the
decays' rounding drift but leaves less room above threshold and fewer weight bits.  The
search, greedy and in this order, keeps a candidate only if it raises the agreement with the
float model on the calibration data (key: output layer, then the mean over layers), so the
result is never worse than the default there:

1. ``headroom`` in :data:`HEADROOMS`;
2. each matrix's bit shift one lower and one higher;
3. each layer's scale factor in :data:`SCALE_FACTORS` (above 1: the largest weights clip);
4. each layer's bias correction: minus the mean drift per step that rounding the decays
   down adds to v, measured per neuron on the data (:func:`.attribution.emulate`), rounded
   to integers (bias correction as in Nagel et al., "Data-Free Quantization Through Weight
   Equalization and Bias Correction", ICCV 2019, with the error measured on data).

Candidates that clip a threshold are skipped.  Every candidate is compiled and run on
snncc's Xylo simulator (bit-exact with xylosim).  The result reads like the Loihi
calibration (``report.json``'s ``calibration`` section); Xylo's own knobs are in ``extra``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ...errors import SnnccError
from ...ir.xylo import XyDense
from ...progress import Progress, or_quiet
from ..loihi.calibrate import Calibration as _LoihiCalibration
from ..loihi.calibrate import LayerCalibration
from .quantize import QuantConfig

HEADROOMS: tuple[float, ...] = (4.0, 2.0, 8.0, 1.5, 16.0)
SCALE_FACTORS: tuple[float, ...] = tuple(2.0 ** (k / 2) for k in (-2, -1, 1, 2, 3))
MAX_CALIBRATION_SAMPLES = 1024


@dataclass
class Calibration(_LoihiCalibration):
    """Calibrated Xylo quantizer settings and the gain over the default rule: the Loihi
    calibration's layout (:class:`snncc.targets.loihi.calibrate.Calibration`; per layer
    ``clip_ratio`` = ``scale_factor`` and ``weight_exp`` = the bit shift of the matrix that
    feeds the layer), Xylo's own knobs in ``extra``."""

    def to_dict(self) -> dict:
        """``report.json``'s calibration section (``extra``: headroom, weight shifts per
        matrix, bias corrections, every accepted step of the search)."""
        d = dataclasses.asdict(self)
        d.pop("config")
        d["scale_factor"] = dict(self.config.scale_factor)
        d["weight_exp"] = {l.name: l.weight_exp for l in self.layers}
        return d

    def gain_on(self, model, compiled, stimulus: np.ndarray,
                labels: Optional[np.ndarray] = None) -> dict:
        """Default rule vs calibrated network on other data (e.g. the verification set)."""
        from ...compiler import compile_graph
        from ..loihi.calibrate import compare_default
        default = compile_graph(compiled.float_graph, QuantConfig(chip=self.config.chip),
                                compiled.target).fixed
        return compare_default(model, default, compiled.fixed, stimulus, labels)

def _shifts(fixed) -> dict[str, int]:
    return {d.matrix: d.shift for d in fixed.of_type(XyDense)}


def calibrate(model, stimulus: np.ndarray, labels: Optional[np.ndarray] = None,
              input_shape: Optional[Sequence[int]] = None, dt: Optional[float] = 1e-3,
              base: Optional[QuantConfig] = None, chip: str = "xylo-audio2",
              max_samples: int = MAX_CALIBRATION_SAMPLES,
              progress: Optional[Progress] = None):
    """Search the Xylo quantizer's knobs on ``stimulus`` (T, B, n_in) spike counts and
    compile ``model`` with the best found; returns ``(Compiled, Calibration)``.

    Raises :class:`SnnccError` for calibration data without a sample or a step, and
    whatever compiling ``model`` for ``chip`` raises.
    """
    from ...compiler import compile_graph, compile_model
    from ...reference import run_float
    from ...report.runs import agreement, neuron_names, output_layer, predictions, run_quantized
    from .attribution import CAUSES, emulate
    if stimulus.ndim < 3 or stimulus.shape[0] < 1 or stimulus.shape[1] < 1:
        raise SnnccError(f"calibration data has shape {stimulus.shape} (time, samples, ...)",
                         "pass at least one sample with at least one time step")
    stimulus = stimulus[:, :max_samples]
    cfg = dataclasses.replace(base or QuantConfig(), chip=chip)
    default = compile_model(model, input_shape, dt, cfg, chip)
    names = neuron_names(default.fixed)
    out = output_layer(default.fixed)
    flt = run_float(model, stimulus, names)

    def score(compiled):
        run = run_quantized(compiled.fixed, stimulus)
        agree = agreement(flt, run.spikes)
        return (agree[out], float(np.mean(list(agree.values())))), agree, run

    def feed_matrix(fixed, name):      # the matrix of the layer's feed-forward synapses
        return fixed.node(fixed.inputs_of(name)[0]).matrix

    best_key, default_agree, default_run = score(default)
    best, best_cfg = default, cfg
    log, counts = [], {n: 0 for n in names}
    task = or_quiet(progress).task("calibrating", len(HEADROOMS) - 1 + 6 + len(names)
                                   * (len(SCALE_FACTORS) + 1))

    def attempt(trial: QuantConfig, what: str, layer: Optional[str] = None) -> None:
        nonlocal best_key, best, best_cfg
        task.advance()
        if layer:
            counts[layer] += 1
        try:
            compiled = compile_graph(default.float_graph, trial, chip)
        except SnnccError:
            return
        if any(l.clipped.get("threshold", 0) for l in compiled.quant.layers):
            return
        key, _, _ = score(compiled)
        if key > best_key:
            best_key, best, best_cfg = key, compiled, trial
            log.append({"step": what, "output_agreement": key[0], "mean_agreement": key[1]})

    for h in HEADROOMS[1:]:
        attempt(dataclasses.replace(best_cfg, headroom=h), f"headroom {h:g}")
    for matrix in sorted(_shifts(best.fixed)):
        base_shift = _shifts(best.fixed)[matrix]
        for s in (base_shift - 1, base_shift + 1):
            if 0 <= s <= 8:
                attempt(dataclasses.replace(best_cfg, weight_shift={**best_cfg.weight_shift,
                                                                    matrix: s}),
                        f"{matrix} shift {s}")
    for name in names:
        for f in SCALE_FACTORS:
            attempt(dataclasses.replace(best_cfg, scale_factor={**best_cfg.scale_factor,
                                                                name: f}),
                    f"{name} scale x{f:.3g}", name)
    drift: dict = {}
    emulate(best, stimulus, CAUSES, drift=drift)
    for name in names:
        corr = [int(c) for c in -np.round(drift[name])]
        if any(corr):
            attempt(dataclasses.replace(best_cfg, bias_correction={**best_cfg.bias_correction,
                                                                   name: corr}),
                    f"{name} bias correction", name)
        else:
            task.advance()

    final_key, final_agree, final_run = score(best)
    layers = [LayerCalibration(n, best_cfg.scale_factor.get(n, 1.0),
                               best_cfg.scale_factor.get(n, 1.0),
                               _shifts(default.fixed)[feed_matrix(default.fixed, n)],
                               _shifts(best.fixed)[feed_matrix(best.fixed, n)],
                               default_agree[n], final_agree[n], counts[n]) for n in names]
    pf = predictions(flt[out])
    pd_, pc = predictions(default_run.spikes[out]), predictions(final_run.spikes[out])
    cal = Calibration(best_cfg, layers, int(stimulus.shape[1]), int(stimulus.shape[0]),
                      default_agree[out], final_agree[out],
                      float(np.mean(pd_ == pf)), float(np.mean(pc == pf)),
                      extra={"headroom_default": cfg.headroom, "headroom": best_cfg.headroom,
                             "weight_shift_default": _shifts(default.fixed),
                             "weight_shift": _shifts(best.fixed),
                             "bias_correction": {n: {"neurons": int(np.count_nonzero(c)),
                                                     "min": int(min(c)), "max": int(max(c))}
                                                 for n, c in best_cfg.bias_correction.items()},
                             "accepted": log})
    if labels is not None:
        lab = np.asarray(labels)[:stimulus.shape[1]]
        cal.accuracy_default = float(np.mean(pd_ == lab))
        cal.accuracy_calibrated = float(np.mean(pc == lab))
    return best, cal
