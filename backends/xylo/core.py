"""snncc's Xylo simulator: the v2 core's integer rules (:mod:`snncc.targets.xylo.fixedpoint`)
stepped over time, vectorised over samples and neurons with numpy.

Per step, as xylosim ``XyloLayer::evolve``: input counts (capped at 15) into the hidden
currents, then last step's hidden counts (capped at 31) into the hidden currents (recurrent
matrix) and the readout currents (readout matrix), then every hidden neuron, then every
readout neuron evolves.  Each spike is one saturating add in source order; where no partial
sum can leave the 16-bit range (checked per neuron from the positive and negative parts of
its input) the sum is one float64 matmul (exact below 2**53), elsewhere the adds run in
source order for just those neurons.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from snncc.errors import SnnccError
from snncc.ir import Graph
from snncc.ir.xylo import POP_OUTPUT
from snncc.targets.xylo import fixedpoint as xf
from snncc.targets.xylo.mapping import XyloConfig, to_config

from ..sim.stepper import SimResult


def input_counts(graph: Graph, stimulus: np.ndarray) -> np.ndarray:
    """``stimulus`` (T, B, *input_shape) as int64 spike counts (T, B, n_in).

    Raises :class:`SnnccError` unless it holds whole numbers in [0, 255] (Xylo's input
    channels take spike counts; counts above 15 are capped by the chip)."""
    from ..sim.vectorized import check_stimulus
    flat = check_stimulus(graph, np.asarray(stimulus), None)
    if flat.size and (np.any(flat < 0) or np.any(flat > 255) or np.any(flat != np.round(flat))):
        raise SnnccError("Xylo inputs are spike counts per channel and step (whole numbers "
                         f"0..255, capped at {xf.MAX_INPUT_SPIKES} by the chip); got values in "
                         f"[{flat.min():g}, {flat.max():g}]",
                         "encode the data as spikes (e.g. rate coding) before running on Xylo")
    return flat.astype(np.int64)


def _accumulate(state: np.ndarray, src: np.ndarray, w: np.ndarray, w_pos: np.ndarray,
                w_neg: np.ndarray) -> np.ndarray:
    """``state`` (B, n) after every source spike in ``src`` (B, m) added through ``w`` (m, n)
    one saturating add at a time, in source order."""
    s = src.astype(np.float64)
    pos = (s @ w_pos).astype(np.int64)
    neg = (s @ w_neg).astype(np.int64)
    out = state + pos + neg
    risky = (state + pos > xf.STATE_MAX) | (state + neg < xf.STATE_MIN)
    if np.any(risky):
        b, j = np.nonzero(risky)
        x = state[b, j]
        for p in np.nonzero(np.any(src[b] != 0, axis=0) & np.any(w[:, j] != 0, axis=1))[0]:
            x = xf.sat16(x + src[b, p] * w[p, j])
        out[b, j] = x
    return out


def run_config(cfg: XyloConfig, counts: np.ndarray, record_states: bool = False) -> dict:
    """Run ``cfg`` on input counts (T, B, n_in); returns arrays (T, B, n) keyed
    ``spikes``/``i_syn``/``v_mem`` and ``spikes_out``/``i_syn_out``/``v_mem_out``."""
    steps, batch, _ = counts.shape
    if np.any(cfg.threshold <= 0) or np.any(cfg.threshold_out <= 0):
        raise SnnccError("a Xylo threshold is <= 0", "thresholds must be positive")
    w_in = xf.shifted_weight(cfg.weights_in, cfg.weight_shift_in)
    w_rec = xf.shifted_weight(cfg.weights_rec, cfg.weight_shift_rec)
    w_out = xf.shifted_weight(cfg.weights_out, cfg.weight_shift_out)
    w_hid = np.concatenate([w_in, w_rec])
    parts = [(w_hid, np.maximum(w_hid, 0).astype(np.float64), np.minimum(w_hid, 0).astype(np.float64)),
             (w_out, np.maximum(w_out, 0).astype(np.float64), np.minimum(w_out, 0).astype(np.float64))]
    nh, no = cfg.n_hidden, cfg.n_out
    i_h, v_h, s_h = (np.zeros((batch, nh), np.int64) for _ in range(3))
    i_o, v_o = (np.zeros((batch, no), np.int64) for _ in range(2))
    rec = {k: np.zeros((steps, batch, n), dt) for k, n, dt in
           (("spikes", nh, np.uint8), ("spikes_out", no, np.uint8))}
    if record_states:
        rec.update({k: np.zeros((steps, batch, n), np.int16) for k, n in
                    (("i_syn", nh), ("v_mem", nh), ("i_syn_out", no), ("v_mem_out", no))})
    for t in range(steps):
        src = np.concatenate([np.minimum(counts[t], xf.MAX_INPUT_SPIKES), s_h], axis=1)
        i_h = _accumulate(i_h, src, *parts[0])
        i_o = _accumulate(i_o, s_h, *parts[1])
        i_h, v_h, s_h = xf.evolve(i_h, v_h, cfg.threshold, cfg.bias, cfg.dash_mem,
                                  cfg.dash_syn, xf.MAX_HIDDEN_SPIKES)
        i_o, v_o, s_o = xf.evolve(i_o, v_o, cfg.threshold_out, cfg.bias_out, cfg.dash_mem_out,
                                  cfg.dash_syn_out, xf.MAX_OUTPUT_SPIKES)
        rec["spikes"][t], rec["spikes_out"][t] = s_h, s_o
        if record_states:
            rec["i_syn"][t], rec["v_mem"][t] = i_h, v_h
            rec["i_syn_out"][t], rec["v_mem_out"][t] = i_o, v_o
    return rec


def split_layers(graph: Graph, cfg: XyloConfig, counts: np.ndarray, rec: dict,
                 record_states: bool) -> SimResult:
    """The flat chip recordings as a :class:`SimResult` per layer of ``graph``."""
    res = SimResult(spikes={graph.input_names[0]: counts.astype(np.int16)})
    for name, pop, a, b in cfg.layers:
        sfx = "_out" if pop == POP_OUTPUT else ""
        res.spikes[name] = rec["spikes" + sfx][:, :, a:b].astype(np.int16)   # counts
        if record_states:
            res.u[name] = rec["i_syn" + sfx][:, :, a:b]
            res.v[name] = rec["v_mem" + sfx][:, :, a:b]
    for out in graph.output_names:
        res.outputs[out] = res.spikes[graph.inputs_of(out)[0]]
    return res


def simulate_xylo(graph: Graph, stimulus: np.ndarray, record_states: bool = False,
                  input_name: Optional[str] = None, **_) -> SimResult:
    """Run a fixed Xylo graph on ``stimulus`` (T, B, *input_shape) spike counts."""
    cfg = to_config(graph)
    counts = input_counts(graph, stimulus)
    return split_layers(graph, cfg, counts, run_config(cfg, counts, record_states), record_states)
