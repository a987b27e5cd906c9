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
3. each layer's scale factor in :data:`SCALE_FACTORS` (above 1: the largest weights clip),
   then per neuron: each neuron takes the factor under which it agreed best;
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
        d.pop("base")           # the start settings: not part of the report
        d["scale_factor"] = {n: _geomean(f) for n, f in self.config.scale_factor.items()}
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


def _geomean(factor) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(factor, np.float64)))))


class _Search:
    """Greedy search state: the best compiled network so far, its config and score."""

    def __init__(self, float_graph, chip: str, cfg: QuantConfig, stimulus: np.ndarray,
                 flt: dict, out: str, task) -> None:
        from ...compiler import compile_graph
        self.compile = lambda c: compile_graph(float_graph, c, chip)
        self.stimulus, self.flt, self.out, self.task = stimulus, flt, out, task
        self.cfg, self.best = cfg, self.compile(cfg)
        self.key, self.agree, self.run = self.score(self.best)
        self.log: list[dict] = []
        self.tried: dict[str, int] = {}

    def score(self, compiled):
        """``(output agreement, mean over layers)``, per layer agreement, the run."""
        from ...report.runs import agreement, run_quantized
        run = run_quantized(compiled.fixed, self.stimulus)
        agree = agreement(self.flt, run.spikes)
        return (agree[self.out], float(np.mean(list(agree.values())))), agree, run

    def attempt(self, trial: QuantConfig, what: str, layer: Optional[str] = None):
        """Compile and score ``trial`` (a candidate for ``layer``, if any); keep it if it
        beats the best.  Returns its run (None if it does not compile or clips a threshold)."""
        self.task.advance()
        if layer is not None:
            self.tried[layer] = self.tried.get(layer, 0) + 1
        try:
            compiled = self.compile(trial)
        except SnnccError:
            return None
        if any(l.clipped.get("threshold", 0) for l in compiled.quant.layers):
            return None
        key, agree, run = self.score(compiled)
        if key > self.key:
            self.key, self.agree, self.run, self.best, self.cfg = key, agree, run, compiled, trial
            self.log.append({"step": what, "output_agreement": key[0], "mean_agreement": key[1]})
        return run

    def with_(self, **changes) -> QuantConfig:
        """The best config with ``changes`` merged into its dict fields (or replacing)."""
        merged = {k: ({**getattr(self.cfg, k), **v} if isinstance(v, dict) else v)
                  for k, v in changes.items()}
        return dataclasses.replace(self.cfg, **merged)

    def headroom(self) -> None:
        for h in HEADROOMS[1:]:
            self.attempt(self.with_(headroom=h), f"headroom {h:g}")

    def shifts(self) -> None:
        for matrix in sorted(_shifts(self.best.fixed)):
            base = _shifts(self.best.fixed)[matrix]
            for s in (base - 1, base + 1):
                if 0 <= s <= 8:
                    self.attempt(self.with_(weight_shift={matrix: s}), f"{matrix} shift {s}")

    def scales(self, name: str) -> None:
        """The layer's scale factor, one for the layer, then per neuron: each neuron takes
        the factor under which it agreed best (ties: the current one)."""
        hit = lambda run: np.mean(run.spikes[name] == self.flt[name], axis=(0, 1))
        current = np.broadcast_to(np.asarray(self.cfg.scale_factor.get(name, 1.0)),
                                  self.flt[name].shape[2:])
        table = [(current, hit(self.run))]
        for f in SCALE_FACTORS:
            run = self.attempt(self.with_(scale_factor={name: f}), f"{name} scale x{f:.3g}",
                               name)
            if run is not None:
                table.append((np.full(current.shape, f), hit(run)))
        factors, hits = np.stack([t[0] for t in table]), np.stack([t[1] for t in table])
        pick = factors[np.argmax(hits, axis=0), np.arange(hits.shape[1])]
        if len(table) > 1 and np.any(pick != current):
            self.attempt(self.with_(scale_factor={name: pick.tolist()}),
                         f"{name} scale per neuron", name)

    def bias_correction(self, names: list[str]) -> None:
        from .attribution import CAUSES, emulate
        drift: dict = {}
        emulate(self.best, self.stimulus, CAUSES, drift=drift)
        for name in names:
            corr = [int(c) for c in -np.round(drift[name])]
            if any(corr):
                self.attempt(self.with_(bias_correction={name: corr}), f"{name} bias correction",
                             name)


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
    from ...compiler import compile_model
    from ...reference import run_float
    from ...report.runs import neuron_names, output_layer, predictions
    if stimulus.ndim < 3 or stimulus.shape[0] < 1 or stimulus.shape[1] < 1:
        raise SnnccError(f"calibration data has shape {stimulus.shape} (time, samples, ...)",
                         "pass at least one sample with at least one time step")
    stimulus = stimulus[:, :max_samples]
    cfg = dataclasses.replace(base or QuantConfig(), chip=chip)
    default = compile_model(model, input_shape, dt, cfg, chip)
    names = neuron_names(default.fixed)
    out = output_layer(default.fixed)
    flt = run_float(model, stimulus, names)
    task = or_quiet(progress).task("calibrating", len(HEADROOMS) + 5 + len(names)
                                   * (len(SCALE_FACTORS) + 2))
    search = _Search(default.float_graph, chip, cfg, stimulus, flt, out, task)
    default_agree, default_run = search.agree, search.run
    search.headroom()
    search.shifts()
    for name in names:
        search.scales(name)
    search.bias_correction(names)

    best, best_cfg = search.best, search.cfg
    feed = lambda fixed, n: _shifts(fixed)[fixed.node(fixed.inputs_of(n)[0]).matrix]
    factor = lambda n: _geomean(best_cfg.scale_factor.get(n, 1.0))
    layers = [LayerCalibration(n, factor(n), factor(n), feed(default.fixed, n),
                               feed(best.fixed, n), default_agree[n], search.agree[n],
                               search.tried.get(n, 0))
              for n in names]
    pf = predictions(flt[out])
    pd_, pc = predictions(default_run.spikes[out]), predictions(search.run.spikes[out])
    cal = Calibration(best_cfg, layers, int(stimulus.shape[1]), int(stimulus.shape[0]),
                      default_agree[out], search.agree[out],
                      float(np.mean(pd_ == pf)), float(np.mean(pc == pf)),
                      extra={"headroom_default": cfg.headroom, "headroom": best_cfg.headroom,
                             "weight_shift_default": _shifts(default.fixed),
                             "weight_shift": _shifts(best.fixed),
                             "scale_factor_per_neuron": {
                                 n: f for n, f in best_cfg.scale_factor.items()
                                 if isinstance(f, list)},
                             "bias_correction": {n: {"neurons": int(np.count_nonzero(c)),
                                                     "min": int(min(c)), "max": int(max(c))}
                                                 for n, c in best_cfg.bias_correction.items()},
                             "accepted": search.log})
    if labels is not None:
        lab = np.asarray(labels)[:stimulus.shape[1]]
        cal.accuracy_default = float(np.mean(pd_ == lab))
        cal.accuracy_calibrated = float(np.mean(pc == lab))
    return best, cal
