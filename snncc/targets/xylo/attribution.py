"""Where float-vs-Xylo agreement is lost: each cause of difference switched on alone, and off
alone, per layer.

:func:`emulate` runs a compiled Xylo network with every difference between the float neuron
(:class:`snncc.ir.CubaLIF`) and Xylo's integer neuron (:mod:`.fixedpoint`) behind its own
switch (:data:`CAUSES`).  With every switch off it computes the float model (in membrane
units ``S`` per neuron, float64); with every switch on it is bit for bit snncc's ``xylo``
runner (the tests check both).  :func:`attribute` compares each mix with the float model
on data: ``alone[c]`` is the agreement with only ``c`` switched on (what ``c`` costs by
itself), ``without[c]`` the agreement with everything but ``c`` (what fixing ``c`` would
bring back).  The causes:

``decay values``    alpha, beta on 4-bit dash values ``1 - 2**-dash`` (weights carry the
                    current's DC gain, :mod:`.quantize`)
``decay rounding``  the decay's decrement rounded down to an integer (``x >> dash``; a
                    non-zero state decays by at least one unit)
``weights``         8-bit weights times ``2**shift`` per matrix
``thresholds``      the integer threshold ``T = floor(S*threshold) + 1``: fire on
                    ``v >= T``, subtract ``T``
``biases``          one membrane bias per neuron, rounded to an integer (a Linear bias
                    into a decaying current becomes ``bias / (1 - alpha)`` on v)
``spike rule``      Xylo's firing: subtractive reset, up to 31 spikes per step on hidden
                    neurons and 1 on readout neurons (the float neuron: its own reset and
                    ``max_spikes``)
``bias timing``     a bias acts from step 0, also on layers whose data arrives later
``saturation``      16-bit saturating states and input counts capped at 15
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

import numpy as np

from . import fixedpoint as xf
from ...ir.nodes import RESET_ZERO
from ...ir.xylo import POP_INPUT, XyNeuron
from .quantize import _layers, _prepare, dash_decay, xylo_synapses

CAUSES = ("decay values", "decay rounding", "weights", "thresholds", "biases", "spike rule",
          "bias timing", "saturation")


@dataclass
class _Layer:
    name: str
    output: bool
    depth: int
    syns: list            # (XyDense, float weight (out, in) in units, source, recurrent)
    alpha: np.ndarray
    beta: np.ndarray
    dash_syn: np.ndarray
    dash_mem: np.ndarray
    gain: np.ndarray
    thr: np.ndarray       # S * threshold (float units)
    thr_q: np.ndarray
    bias: np.ndarray      # S * the neuron's own bias (on v)
    syn_bias: np.ndarray  # S * the Linear biases (into the current)
    bias_q: np.ndarray    # both, as Xylo's membrane bias
    zero_reset: bool
    max_spikes: int


def _layers_of(compiled) -> list[_Layer]:
    lowered = xylo_synapses(compiled.lowered, xf.CHIPS[compiled.fixed.meta["target"]])
    fixed, scales = compiled.fixed, compiled.quant.scales
    out = []
    for l in _layers(lowered):
        n, p, s = l.neuron, _prepare(l), scales[l.neuron.name]
        xn: XyNeuron = fixed.node(n.name)
        flat = lambda a: np.broadcast_to(np.asarray(a, np.float64).reshape(-1), s.shape)
        syns = [(fixed.node(syn.name), s[:, None] * np.asarray(syn.weight, np.float64), src, rec)
                for rec, group in ((False, l.ff), (True, l.rec)) for syn, src in group]
        syn_bias = sum((np.asarray(syn.bias, np.float64).reshape(-1) for syn, _ in l.ff
                        if syn.bias is not None), np.zeros_like(s))
        out.append(_Layer(n.name, l.output, l.depth, syns, flat(n.alpha), flat(n.beta),
                          p.dash_syn, p.dash_mem, p.gain, p.threshold * s,
                          np.asarray(xn.threshold, np.float64), flat(n.bias) * s,
                          syn_bias * s, np.asarray(xn.bias, np.float64),
                          n.reset == RESET_ZERO, int(n.max_spikes)))
    return out


def _down(x: np.ndarray, leak: np.ndarray) -> np.ndarray:
    """The decrement ``x * leak`` rounded down, at least ``sign(x)`` (xylosim's rule when
    ``leak = 2**-dash``)."""
    d = np.floor(x * leak)
    return np.where((d == 0) & (x != 0), np.sign(x), d)


def emulate(compiled, stimulus: np.ndarray, on: Iterable[str] = CAUSES,
            drift: Optional[dict] = None) -> dict[str, np.ndarray]:
    """Run ``compiled`` (a Xylo :class:`~snncc.compiler.Compiled`) on ``stimulus`` (T, B, n_in)
    spike counts with the causes in ``on`` as Xylo computes them and the rest as the float
    model does.  Returns spike counts (T, B, n) per layer on the float model's time base.

    ``drift``: a dict that receives, per layer, the mean upward drift per step that the
    rounded decays add to v (float64 (n,), integer units): ``e_v + e_I / (1 - a)``, the mean
    decrement each decay lost to rounding (v's own, and the current's carried into v by its
    DC gain), averaged over steps and samples.  A bias of minus that cancels it on average.
    """
    on = set(on)
    bad = on - set(CAUSES)
    if bad:
        raise ValueError(f"unknown causes {sorted(bad)}; choose from {CAUSES}")
    layers = _layers_of(compiled)
    x = np.asarray(stimulus, np.float64).reshape(stimulus.shape[0], stimulus.shape[1], -1)
    pad = max(l.depth for l in layers) + 1
    x = np.concatenate([x, np.zeros((pad,) + x.shape[1:])])
    if "saturation" in on:
        x = np.minimum(x, xf.MAX_INPUT_SPIKES)
    steps, batch = x.shape[:2]
    shape = lambda l: (batch, l.thr.shape[0])
    i_st = {l.name: np.zeros(shape(l)) for l in layers}
    v_st = {l.name: np.zeros(shape(l)) for l in layers}
    prev = {l.name: np.zeros(shape(l)) for l in layers}
    rec = {l.name: np.zeros((steps,) + shape(l)) for l in layers}
    dashed, rounding = "decay values" in on, "decay rounding" in on
    sat = (lambda a: xf.sat16(a)) if "saturation" in on else (lambda a: a)
    for t in range(steps):
        now = {}
        for l in layers:
            a_syn = dash_decay(l.dash_syn) if dashed else l.alpha
            b_mem = dash_decay(l.dash_mem) if dashed else l.beta
            srcs, ws = [], []
            for xs, w_float, src, _ in l.syns:
                srcs.append(x[t] if xs.matrix == POP_INPUT else prev[src])
                if "weights" in on:      # w_q << shift stands for S * g * W
                    w = xf.shifted_weight(xs.weight, xs.shift).astype(np.float64)
                    ws.append(w if dashed else w / l.gain[:, None])
                else:
                    ws.append(w_float * (l.gain[:, None] if dashed else 1.0))
            src_all, w_all = np.concatenate(srcs, axis=1), np.concatenate(ws, axis=1).T
            i = i_st[l.name]
            if dashed and {"weights", "saturation"} <= on:   # integers: one saturating add
                i = xf.accumulate(i.astype(np.int64), src_all.astype(np.int64),   # per spike
                                w_all.astype(np.int64), np.maximum(w_all, 0),
                                np.minimum(w_all, 0)).astype(np.float64)
                drive = 0.0
            else:
                drive = sat(src_all @ w_all)
            live = "bias timing" in on or t >= l.depth      # the layer's data has arrived
            if "biases" not in on and live:      # the Linear bias, into the current
                drive = drive + l.syn_bias * (l.gain if dashed else 1.0)
            if dashed:      # Xylo: this step's input, then the decay
                i = sat(i + drive)
            lost_i = i * (1 - a_syn) - _down(i, 1 - a_syn) if rounding else 0.0
            if dashed:
                i = i - (_down(i, 1 - a_syn) if rounding else i * (1 - a_syn))
            else:           # float: the decay, then this step's input
                i = (i - _down(i, 1 - a_syn) if rounding else a_syn * i) + drive
            v = v_st[l.name]
            bias = (l.bias_q if "biases" in on else l.bias) if live else 0.0
            dv = -(_down(v, 1 - b_mem) if rounding else v * (1 - b_mem))
            if drift is not None and rounding:
                lost = (v * (1 - b_mem) + dv) + lost_i / np.maximum(1 - a_syn, 2.0 ** -15)
                drift[l.name] = drift.get(l.name, 0.0) + lost.sum(axis=0) / (steps * batch)
            dv = xf.wrap16(dv).astype(np.float64) if "saturation" in on else dv
            v = sat(v + sat(sat(dv + i) + bias))
            xylo_fire = "spike rule" in on
            thr = l.thr_q if "thresholds" in on else l.thr
            most = (xf.MAX_OUTPUT_SPIKES if l.output else xf.MAX_HIDDEN_SPIKES) if xylo_fire \
                else l.max_spikes
            if "thresholds" in on:      # v >= T, k-th spike at v >= k T
                count = np.clip(np.floor(v / thr), 0, most)
            else:                       # v > S thr, k-th spike at v > k S thr
                count = np.clip(np.ceil(v / thr) - 1, 0, most)
            if l.zero_reset and not xylo_fire:
                v = np.where(count > 0, 0.0, v)
            else:
                v = v - count * thr
            i_st[l.name], v_st[l.name], now[l.name] = i, v, count
            rec[l.name][t] = count
        prev = now
    t_in = stimulus.shape[0]
    return {l.name: rec[l.name][l.depth:l.depth + t_in] for l in layers}


@dataclass
class Attribution:
    """Agreement with the float model per layer (fraction of equal spike counts).

    ``xylo``: every cause on (the compiled network); ``exact``: every cause off (the
    emulator's float model: 1.0 up to float rounding); ``alone[c]``: only ``c`` on;
    ``without[c]``: every cause but ``c``."""

    layers: list[str]
    xylo: dict[str, float]
    exact: dict[str, float]
    alone: dict[str, dict[str, float]] = field(default_factory=dict)
    without: dict[str, dict[str, float]] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """One row per cause: ``{"cause", "alone": {layer: ...}, "without": {layer: ...}}``,
        largest loss (alone, output layer) first."""
        out = self.layers[-1]
        return sorted(({"cause": c, "alone": self.alone[c], "without": self.without[c]}
                       for c in self.alone), key=lambda r: r["alone"][out])


def attribute(model, compiled, stimulus: np.ndarray, causes: Iterable[str] = CAUSES,
              float_spikes: Optional[dict[str, np.ndarray]] = None) -> Attribution:
    """Attribute the float-vs-Xylo disagreement of ``compiled`` (compiled from ``model``) on
    ``stimulus`` (T, B, n_in) spike counts to each of ``causes``; see :class:`Attribution`.
    ``float_spikes``: the float model's spikes per layer, if already run."""
    from ...reference import run_float
    names = [n.name for n in compiled.fixed.of_type(XyNeuron)]
    flt = float_spikes or run_float(model, stimulus, names)
    agree = lambda sp: {n: float(np.mean(sp[n] == flt[n])) for n in names}
    result = Attribution(names, agree(emulate(compiled, stimulus)), agree(emulate(compiled,
                                                                               stimulus, ())))
    for c in causes:
        result.alone[c] = agree(emulate(compiled, stimulus, (c,)))
        result.without[c] = agree(emulate(compiled, stimulus, set(CAUSES) - {c}))
    return result
