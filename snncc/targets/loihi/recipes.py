"""Calibration recipes: which post-training quantization tools a network gets, chosen on data.

Each recipe is a set of quantizer settings aimed at one cause error attribution names
(``docs/fidelity.md``):

=====================  ====================================================  =================
recipe                 what it changes                                       aimed at
=====================  ====================================================  =================
``drift``              per-neuron scales chosen for the least expected       weights, biases,
                       membrane drift, with the measured input rates         thresholds
``drift+bc``           and the weights' mean drift taken off the bias        weights
``+precise-bias``      a memoryless layer's bias as a 13-bit neuron bias     biases
                       (not the 8-bit axon; stock LIFs become generalised);
                       a CUBA layer's axon residual as a neuron bias
``+extended``          every layer gets a fine Dense (up to 16-bit weights)  weights
``+dc-current/both``   thresholds matched to the quantized decays' gain      decays
=====================  ====================================================  =================

Every candidate is quantized and run bit-accurately on the calibration data and scored by
an objective (:data:`OBJECTIVES`); the best wins, ties (within ``1e-4``) go to the cheaper
network (fewer fine Dense, fewer generalised neurons), so a tool that brings nothing is not
paid for.  The default settings are a candidate, so the result is never worse on the
calibration data.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

from ...ir import FxNeuron, Graph
from .quantize import QuantConfig, quantize
from .weights import FINE_SUFFIX

TIE = 1e-4


def input_rates(float_spikes: dict[str, np.ndarray], stimulus: np.ndarray,
                input_name: str) -> dict[str, list[float]]:
    """Spike rate of every spike source (the input and each neuron layer), flat."""
    rates = {n: s.reshape(s.shape[0], s.shape[1], -1).mean(axis=(0, 1)).tolist()
             for n, s in float_spikes.items()}
    x = np.asarray(stimulus, np.float64)
    rates[input_name] = x.reshape(x.shape[0], x.shape[1], -1).mean(axis=(0, 1)).tolist()
    return rates


def _filtered(spikes: np.ndarray, tau: float) -> np.ndarray:
    """Spike trains (T, B, n) through an exponential kernel (van Rossum, 2001)."""
    out = np.zeros(spikes.shape, np.float64)
    acc = np.zeros(spikes.shape[1:], np.float64)
    keep = np.exp(-1.0 / tau)
    for t in range(spikes.shape[0]):
        acc = acc * keep + spikes[t]
        out[t] = acc
    return out


def score_agreement(flt: dict, quant: dict, out: str) -> float:
    """Output-spike agreement, then (1e-3 weight) the mean agreement of every layer."""
    layers = np.mean([np.mean(flt[n] == quant[n]) for n in quant])
    return float(np.mean(flt[out] == quant[out])) + 1e-3 * float(layers)


def score_counts(flt: dict, quant: dict, out: str) -> float:
    """Minus the mean |spike count difference| per output neuron and sample, per step."""
    d = quant[out].sum(axis=0).astype(np.float64) - flt[out].sum(axis=0)
    return -float(np.mean(np.abs(d))) / max(flt[out].shape[0], 1)


def score_spike_time(flt: dict, quant: dict, out: str) -> float:
    """Minus the van Rossum distance of the output spike trains (tau = T/8, at least 1 step)."""
    tau = max(flt[out].shape[0] / 8.0, 1.0)
    d = _filtered(quant[out].astype(np.float64), tau) - _filtered(flt[out].astype(np.float64), tau)
    return -float(np.mean(d ** 2))


OBJECTIVES: dict[str, Callable[[dict, dict, str], float]] = {
    "agreement": score_agreement, "counts": score_counts, "spike_time": score_spike_time}


def cost(fixed: Graph) -> tuple[int, int]:
    """(fine Dense, generalised neuron layers): what a recipe adds to the hardware."""
    fine = sum(1 for n in fixed.nodes() if n.name.endswith(FINE_SUFFIX))
    general = sum(1 for n in fixed.of_type(FxNeuron) if not n.is_stock_lif)
    return fine, general


def candidates(base: QuantConfig, rates: dict, window: float
               ) -> list[tuple[str, QuantConfig]]:
    """The recipes that apply to ``base`` (settings a format fixes, e.g. netx's, stay fixed)."""
    drift = dataclasses.replace(base, scale_search="drift", input_rates=rates,
                                drift_window=float(window))
    bc = dataclasses.replace(drift, bias_correction=True)
    out = [("default", base), ("drift", drift), ("drift+bc", bc)]
    if base.bias == "auto":
        out.append(("drift+bc+precise-bias", dataclasses.replace(bc, bias="precise")))
    if base.weight_precision == "auto":
        out.append(("drift+bc+extended", dataclasses.replace(bc, weight_precision="extended")))
        if base.bias == "auto":
            out.append(("drift+bc+precise-bias+extended",
                        dataclasses.replace(bc, bias="precise", weight_precision="extended")))
    return out


def choose_recipe(lowered: Graph, base: QuantConfig, flt: dict, stimulus: np.ndarray,
                  out: str, objective: str = "agreement",
                  advance: Optional[Callable[[], None]] = None) -> tuple[QuantConfig, list[dict]]:
    """The best recipe on the calibration data, and every candidate's score and cost."""
    from ...report.runs import run_quantized
    from ...errors import SnnccError
    if objective not in OBJECTIVES:
        raise SnnccError(f"unknown calibration objective {objective!r}",
                         "use " + ", ".join(OBJECTIVES))
    score = OBJECTIVES[objective]
    input_name = lowered.input_names[0]
    rates = input_rates(flt, stimulus, input_name)
    log: list[dict] = []
    best: Optional[tuple[float, tuple[int, int], QuantConfig]] = None

    def consider(name: str, cfg: QuantConfig) -> None:
        nonlocal best
        fixed, _ = quantize(lowered, cfg)
        s = score(flt, run_quantized(fixed, stimulus).spikes, out)
        c = cost(fixed)
        log.append({"recipe": name, "score": s, "fine_dense": c[0], "generalised": c[1],
                    "chosen": False})
        if advance:
            advance()
        if best is None or s > best[0] + TIE or (abs(s - best[0]) <= TIE and c < best[1]):
            best = (s, c, cfg)
            for entry in log:
                entry["chosen"] = entry is log[-1]

    for name, cfg in candidates(base, rates, stimulus.shape[0]):
        consider(name, cfg)
    if base.match_dc_gain == "none":      # decays with thresholds, on top of the best so far
        top = best[2]
        chosen = next(e["recipe"] for e in log if e.get("chosen"))
        for mode in ("current", "both"):
            consider(f"{chosen}+dc-{mode}", dataclasses.replace(top, match_dc_gain=mode))
    return best[2], log


RECIPES = 8    # candidates :func:`choose_recipe` evaluates at most (for progress bars)
