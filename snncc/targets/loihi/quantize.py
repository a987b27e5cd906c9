"""Quantize a lowered float graph to Loihi fixed point (``FxDense`` + ``FxNeuron``).

One scale ``S`` per neuron (float membrane units -> integer v units) ties weights, threshold
and bias together so their ratios survive: on Loihi ``u = a << 6`` and ``a = W_q s << e``,
so ``S * W == W_q * 2**(e + 6)``, ``vth << 6 == S * threshold``, ``bias_mant << bias_exp
== S * bias``.  The default rule ("max-abs") gives the weights their full 8 bits and picks
the largest weight exponent ``e`` whose ``S`` keeps the membrane, threshold, bias and
current inside their bit widths; a per-layer ``scale_factor`` (calibration) multiplies it.

Decays: ``dv = round(4096 (1 - beta))``; ``du = round(4096 (1 - alpha)) - 1`` because
Lava decays the current by ``du + 1``.  Weights are rounded to the grid of the sign mode
Lava will infer (even values in mixed mode), so Lava's own clip/truncate changes nothing.

Generalised-neuron parameters (see ``FxNeuron``): a growing membrane (``1 < beta <= 2``)
becomes a negative ``dv``; a per-step input gain becomes a 12-bit table started at the
layer's synaptic depth, the neuron bias with it.  Their quantization errors are reported
with the others.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from . import fixedpoint as fx
from ...errors import SnnccError
from ...ir import Affine, Conv2d, CubaLIF, FxNeuron, Graph, Input, Output
from ...ir.nodes import RESET_CUSTOM, RESET_SUBTRACT
from ...passes.compose import compose_synapses
from ...passes.synapse_stats import Synapse
from ...passes.timing import DelayLines
from .scale import NETX_BIAS_EXP, bias_home, choose_scale
from .ptq import dc_gain, drift_correction, mean_gain, refine_scales
from .weights import (FINE_SUFFIX, quantize_bias, quantize_gain, quantize_weights,
                      wants_extended)

WEIGHT_EXP_RANGE = (-8, 7)
READOUT_SCALE = "readout_v_scale"     # graph meta: readout layer -> v units per membrane unit


@dataclass
class QuantConfig:
    """Knobs of the quantizer. ``headroom``: how far v may exceed the threshold before it saturates."""

    headroom: float = 4.0
    split_sign: bool = True     # mixed-sign layers as excitatory + inhibitory Dense: +1 bit
    # "neuron": every neuron's weight row gets its own scale (full 8 bits; per-neuron vth);
    # "layer": one scale per layer, so uniform float thresholds stay one vth (stock Lava LIF)
    scale: str = "neuron"
    weight_exp_range: tuple[int, int] = WEIGHT_EXP_RANGE
    # "axon": a layer's constant drive rides an always-on axon that starts in step with its
    # data (exact timing); "neuron": Loihi's neuron bias (mantissa << 6, netx's convention),
    # which acts from step 0 and so charges a layer at depth k for k steps before its data;
    # "auto": "axon", except for a generalised neuron with a memoryless current and no input
    # gain, whose neuron bias (13-bit mantissa per neuron, finer than the 8-bit axon column)
    # starts in step with the data (FxNeuron.bias_start); "precise": that neuron bias for every
    # memoryless-current layer (stock LIFs become generalised neurons: 13 bits, not 8)
    bias: str = "auto"
    scale_factor: dict[str, float] = field(default_factory=dict)   # per layer, from calibration
    # per layer weight exponent chosen by calibration (overrides the rule; clipped to the range)
    weight_exp: dict[str, int] = field(default_factory=dict)
    # sigma-delta networks: |activation| bound per layer (and the input), from calibration
    # data; without one, a worst case from the weights (see quantize_sdnn)
    act_bound: dict[str, float] = field(default_factory=dict)
    # "single": one 8-bit Dense per synapse; "extended": plus a fine Dense carrying the
    # rounding residual (up to 8 more bits, see weights.py); "auto": extended for neurons
    # whose reset keeps the membrane (subtract / no reset), which accumulate rounding error
    weight_precision: str = "auto"
    # data-aware PTQ (ptq.py): "drift" picks each neuron's scale in [S/2, S] for the least
    # expected membrane drift; bias_correction removes the weights' mean drift through the
    # bias; both use input_rates (per spike source, flat; from calibration data) or a prior
    scale_search: str = "none"
    bias_correction: bool = False
    input_rates: dict[str, list[float]] = field(default_factory=dict)
    drift_window: float = 16.0
    # decays chosen with the threshold: "current" scales each threshold (and reset, neuron
    # bias) so that the current's DC gain 1/(1 - alpha) is that of the float model despite
    # the 12-bit decay (ptq.dc_gain); "both" also the voltage's 1/(1 - beta); "none"
    match_dc_gain: str = "none"
    # keep every integer array's float twin in QuantReport.twins (error attribution, finetune)
    float_twins: bool = False


def netx_config() -> QuantConfig:
    """Quantize within what lava-dl's netx HDF5 loader expresses: one mixed-sign Dense per
    layer at weight exponent 0, one scale per layer, neuron biases with exponent 6."""
    return QuantConfig(split_sign=False, scale="layer", weight_exp_range=(0, 0), bias="neuron",
                       weight_precision="single")


@dataclass
class ParamError:
    """Quantization error of one parameter array: max and RMS absolute error, max relative."""

    name: str
    max_abs: float
    rms: float
    max_rel: float


@dataclass
class LayerQuant:
    name: str
    scale_min: float            # per-neuron scale S: float membrane units -> v units
    scale_max: float
    weight_exp: int
    sign_mode: str
    errors: list[ParamError]
    warnings: list[str]
    # values that hit their bit width's rail: weights, thresholds, biases (saturation counts)
    clipped: dict[str, int] = field(default_factory=dict)
    fine_synapses: int = 0      # synapses with a second, fine Dense (extended precision)
    # a non-spiking readout's per-neuron scale (v units per float membrane unit)
    v_scale: Optional[list[float]] = None


@dataclass
class QuantReport:
    """Per-layer quantization numbers; ``config``: the settings used; ``scales``: each neuron
    layer's per-neuron scale ``S`` (float64, flat); ``twins`` (only with
    ``QuantConfig.float_twins``): per fixed-point node, the real value every integer array
    rounds, in the same units (see :mod:`snncc.targets.loihi.partial`)."""

    layers: list[LayerQuant]
    config: Optional[QuantConfig] = None
    scales: dict[str, np.ndarray] = field(default_factory=dict)
    twins: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        return [{"layer": l.name, "param": e.name, "max_abs": e.max_abs, "rms": e.rms,
                 "max_rel": e.max_rel, "weight_exp": l.weight_exp}
                for l in self.layers for e in l.errors]


def _error(name: str, ref: np.ndarray, got: np.ndarray) -> ParamError:
    ref = np.asarray(ref, dtype=np.float64)
    diff = np.abs(np.asarray(got, dtype=np.float64) - ref)
    if diff.size == 0:
        return ParamError(name, 0.0, 0.0, 0.0)
    denom = np.max(np.abs(ref)) or 1.0
    return ParamError(name, float(diff.max()), float(np.sqrt(np.mean(diff ** 2))),
                      float(diff.max() / denom))


def quantize(graph: Graph, cfg: Optional[QuantConfig] = None) -> tuple[Graph, QuantReport]:
    """Quantize a lowered graph to fixed point.

    The graph is first composed into synapses (:func:`~snncc.passes.compose.compose_synapses`:
    a plain MLP of ``Affine`` -> ``CubaLIF`` pairs is already in that form).  Each neuron is
    quantized with all its synapses (``FxDense`` for a Linear, ``FxConv`` for a conv,
    recurrent ones included); sources of different synaptic depth are aligned by ``FxDelay``
    lines (:mod:`snncc.passes.timing`).
    """
    cfg = cfg or QuantConfig()
    graph = compose_synapses(graph)
    out = Graph(dict(graph.meta, quantized=True))
    report = QuantReport([], cfg)
    lines = DelayLines(out)          # synaptic depth: steps until input data reaches a node
    deferred = []                    # recurrent synapses, added once every source exists
    for node in graph.nodes():
        ins = graph.inputs_of(node.name)
        if isinstance(node, Input):
            out.add(node, ins)
            lines.set(node.name, 0, tuple(node.shape))
        elif isinstance(node, Output):
            out.add(node, ins)
        elif isinstance(node, (Affine, Conv2d)):
            continue    # emitted together with the neuron it feeds
        elif isinstance(node, CubaLIF):
            shape = tuple(node.shape)
            ff = [Synapse(graph.node(s), graph.inputs_of(s)[0], shape, lines.shape[graph.inputs_of(s)[0]])
                  for s in ins]
            rec = [(s, graph.inputs_of(s)[0]) for s in graph.recurrent_inputs_of(node.name)]
            rec = [Synapse(graph.node(s), src, shape, tuple(graph.node(src).shape), recurrent=True)
                   for s, src in rec]
            depth = lines.neuron_depth([syn.source for syn in ff])
            synapses, neuron, layer, twins = _quantize_layer(ff + rec, node, cfg, depth)
            if not neuron.spiking:     # v_float = v / scale (see FxNeuron)
                out.meta.setdefault(READOUT_SCALE, {})[node.name] = layer.v_scale
            report.scales[node.name] = twins.pop("scale")
            if cfg.float_twins:
                report.twins.update(twins)
            for syn, pair in zip(ff, synapses):
                for fx_syn in pair:
                    out.add(fx_syn, [lines.feed_forward(syn.source, depth)])
            out.add(neuron, [fx_syn.name for pair in synapses[:len(ff)] for fx_syn in pair])
            lines.set(node.name, depth, shape)
            deferred += [(syn, fx_syn, node.name, depth)
                         for syn, pair in zip(rec, synapses[len(ff):]) for fx_syn in pair]
            report.layers.append(layer)
        else:
            raise SnnccError(f"cannot quantize node {node.name!r} of kind {node.kind!r}",
                             "run lower_neurons first")
    for syn, fx_syn, name, depth in deferred:
        out.add(fx_syn, [lines.recurrent(syn.source, name, depth)])
        out.add_recurrent(fx_syn.name, name)
    return out, report


def _flat_neuron(neuron: CubaLIF) -> CubaLIF:
    """The neuron with its per-neuron arrays flattened ((C, H, W) order), shape kept."""
    if len(neuron.shape) <= 1:
        return neuron
    flat = lambda a: None if a is None else np.asarray(a).reshape(-1)
    gain = neuron.input_gain
    return replace(neuron, alpha=flat(neuron.alpha), beta=flat(neuron.beta),
                   threshold=flat(neuron.threshold), bias=flat(neuron.bias),
                   reset_mult=flat(neuron.reset_mult) if np.ndim(neuron.reset_mult) else neuron.reset_mult,
                   reset_sub=flat(neuron.reset_sub) if np.ndim(neuron.reset_sub) else neuron.reset_sub,
                   input_gain=None if gain is None else np.asarray(gain).reshape(len(gain), -1))


def _synaptic_bias(syns: list[Synapse]) -> Optional[np.ndarray]:
    """The constant drive of all feed-forward synapses together, per neuron (float64)."""
    parts = [b for syn in syns if not syn.recurrent for b in [syn.bias_full()] if b is not None]
    return None if not parts else sum(parts)


def _quantize_layer(syns: list[Synapse], neuron: CubaLIF, cfg: QuantConfig, depth: int):
    """A neuron and all its synapses (feed-forward first, then recurrent) in fixed point."""
    neuron = _flat_neuron(neuron)
    syn_bias = _synaptic_bias(syns)
    modes = [syn.mode(cfg.split_sign) for syn in syns]
    scale, exps, warnings = choose_scale(syns, modes, syn_bias, neuron, cfg)
    extended = wants_extended(neuron, cfg.weight_precision)
    home = bias_home(neuron, cfg)
    if cfg.scale_search not in ("none", "drift"):
        raise SnnccError(f"unknown scale search {cfg.scale_search!r}", "use 'none' or 'drift'")
    if cfg.scale_search == "drift":
        scale = refine_scales(syns, modes, exps, scale, syn_bias, home == "axon",
                              neuron.bias.astype(np.float64).reshape(-1),
                              neuron.threshold.astype(np.float64), cfg.input_rates,
                              cfg.drift_window, extended, shared=cfg.scale == "layer")
    twins: dict = {"scale": scale}
    quantized, weight_errors, n_clipped = [], [], 0
    done: dict = {}     # residual synapses often share one weight array (see compose_path)
    for syn, mode, exp in zip(syns, modes, exps):
        label = "weight" if len(syns) == 1 else f"weight:{syn.node.name}"
        key = (id(syn.node.weight), syn.is_conv, mode, exp)
        if key not in done:
            sw = quantize_weights(syn, mode, exp, scale, extended, cfg.split_sign,
                                  cfg.weight_exp_range, cfg.float_twins)
            done[key] = (sw, _error(label, syn.weight,
                                    sw.effective(2.0 ** (exp + 6)) / syn.row_scale(scale)))
        sw, err = done[key]
        n_clipped += sw.clipped
        quantized.append(sw)
        weight_errors.append(replace(err, name=label))
        twins[syn.node.name] = {"weight": sw.twin}
        if sw.fine is not None:
            twins[syn.node.name + FINE_SUFFIX] = {"weight": np.zeros(sw.fine.shape)}
    readout = not neuron.spiking
    if readout:     # never fires: no threshold, no reset (the flag, not vth, says so)
        neuron = replace(neuron, threshold=np.full_like(neuron.threshold, fx.VTH_MAX * 64.0)
                         / scale, reset=RESET_CUSTOM,
                         reset_mult=np.zeros_like(neuron.threshold),
                         reset_sub=np.zeros_like(neuron.threshold))
    clipped = {"weight": n_clipped,
               "threshold": int(np.sum(neuron.threshold * scale / 64.0 > fx.VTH_MAX + 0.5))}
    syn_exp = 0
    neuron_bias = neuron.bias.astype(np.float64).reshape(-1)
    model_syn_bias = np.zeros(scale.shape) if syn_bias is None else syn_bias
    if cfg.bias_correction:          # the quantized weights' mean drift, taken off the bias
        corr = drift_correction(syns, quantized, scale, cfg.input_rates)
        syn_bias = model_syn_bias + corr
    model_bias = neuron_bias + (model_syn_bias if home == "neuron" else 0.0)
    bias_q = None
    if syn_bias is not None and np.any(syn_bias != 0):
        if home == "axon":
            bias_q, syn_exp = quantize_bias(syn_bias, scale)
        elif np.any(neuron.alpha != 0) or neuron.input_gain is not None:
            raise SnnccError(f"layer {neuron.name!r}: a Linear bias into a CUBA current or "
                             "through a per-step input gain cannot become a neuron bias",
                             "quantize with bias='axon'")
        else:
            neuron_bias = neuron_bias + syn_bias.astype(np.float64)
    if np.any(neuron.beta > 2.0):
        raise SnnccError(f"layer {neuron.name!r}: voltage decay factor {float(np.max(neuron.beta)):.6g}"
                         " > 2; the generalised neuron grows v by at most 2x per step",
                         "retrain with a smaller membrane growth (decay factor <= 2)")
    dv = np.clip(np.round(fx.DECAY_UNITY * (1.0 - neuron.beta.astype(np.float64))),
                 -fx.DECAY_UNITY, 4095)
    du = np.clip(np.round(fx.DECAY_UNITY * (1.0 - neuron.alpha.astype(np.float64))) - 1, -1, 4095)
    # decays and threshold together: the threshold side absorbs the decays' DC-gain error
    g_thr, g_bias = dc_gain(neuron, du, dv, cfg.match_dc_gain, cfg.drift_window)
    # "precise" bias of a CUBA layer: the 8-bit axon's rounding residual, as the current
    # gathers it on average over the window, goes on as a 13-bit neuron bias in step with
    # the data
    carry = cfg.bias == "precise" and bias_q is not None and neuron.input_gain is None
    if carry:
        residual = (syn_bias * scale / 2.0 ** fx.ACT_SHIFT
                    - fx.shift_activation(bias_q, syn_exp))          # activation units
        keep = 1.0 - (du + fx.DU_OFFSET) / fx.DECAY_UNITY     # the current's decay factor
        neuron_bias = neuron_bias + (residual * 2.0 ** fx.ACT_SHIFT / scale
                                     * mean_gain(keep, cfg.drift_window))
    thr_scale = scale / g_thr
    vth = np.clip(np.round(neuron.threshold * thr_scale / 64.0), 0, fx.VTH_MAX).astype(np.int64)
    if np.any(neuron.threshold * scale / 64.0 > fx.VTH_MAX):
        warnings.append("threshold clipped to 17 bits")
    if cfg.bias == "neuron":
        exact = neuron_bias * scale / g_bias / 2.0 ** NETX_BIAS_EXP
        bias_mant = np.clip(np.round(exact), fx.BIAS_MANT_MIN, fx.BIAS_MANT_MAX).astype(np.int64)
        bias_exp = np.full(bias_mant.shape, NETX_BIAS_EXP, dtype=np.int64)
        if np.any(np.abs(exact) > fx.BIAS_MANT_MAX + 0.5):
            warnings.append("bias clipped to 13-bit mantissa")
        if depth > 1 and np.any(bias_mant):
            warnings.append(f"neuron bias acts from step 0, {depth - 1} step(s) before this "
                            "layer's data arrives (Loihi timing)")
    else:
        bias_mant, bias_exp = fx.split_bias(neuron_bias * scale / g_bias)
    clipped["bias"] = int(np.sum(np.abs(fx.effective_bias(bias_mant, bias_exp) / scale
                                        - neuron_bias / g_bias) > 2.0 ** bias_exp / scale))
    if neuron.floor not in (None, 0, 0.0):
        raise SnnccError(f"layer {neuron.name!r}: a membrane floor of {neuron.floor} is not "
                         "supported (only 0, the ReLU floor)", "use floor=0 or None")
    floor = None if neuron.floor is None else 0

    mult, sub = neuron.reset_terms()
    reset_mult = np.clip(np.round(np.asarray(mult, np.float64) * fx.DECAY_UNITY), 0,
                         fx.DECAY_UNITY).astype(np.int64)
    # subtracting exactly the threshold stays exact in integers: use vth itself
    reset_sub = (vth << fx.VTH_SHIFT if neuron.reset == RESET_SUBTRACT
                 else np.round(np.asarray(sub, np.float64) * thr_scale).astype(np.int64))
    gain, gain_float = quantize_gain(neuron)
    errors_gain = [] if gain is None else [_error("input_gain", gain_float,
                                                  gain / fx.DECAY_UNITY)]
    start = depth if gain is not None or carry or (cfg.bias in ("auto", "precise") and
                                                   home == "neuron") else 0
    synapses = []       # per float synapse: its Fx node(s), coarse then fine
    for j, (syn, sw) in enumerate(zip(syns, quantized)):
        axon = dict(bias=bias_q, bias_exp=syn_exp) if j == 0 else {}
        pair = [syn.emit(syn.node.name, sw.coarse, sw.exp, sw.mode, bias_start=depth - 1, **axon)]
        if sw.fine is not None:
            pair.append(syn.emit(syn.node.name + FINE_SUFFIX, sw.fine, sw.fine_exp, sw.fine_mode,
                                 bias_start=depth - 1))
        synapses.append(pair)
    fxn = FxNeuron(neuron.name, shape=tuple(neuron.shape), du=du.astype(np.int64),
                   dv=dv.astype(np.int64), vth=vth, bias_mant=bias_mant, bias_exp=bias_exp,
                   reset_mult=reset_mult, reset_sub=reset_sub,
                   reset_delayed=neuron.reset_delayed, floor=floor, input_gain=gain,
                   gain_start=start, bias_start=start, spiking=not readout)
    errors = weight_errors + [
        _error("threshold", neuron.threshold, vth * 64.0 / scale),
        _error("beta", neuron.beta, 1.0 - dv / fx.DECAY_UNITY),
        _error("alpha", neuron.alpha, (fx.DECAY_UNITY - du - 1) / fx.DECAY_UNITY),
        _error("bias", model_bias, fx.effective_bias(bias_mant, bias_exp) / scale),
    ]
    if bias_q is not None:
        errors.append(_error("synaptic_bias", model_syn_bias,
                             bias_q * 2.0 ** (syn_exp + fx.ACT_SHIFT) / scale))
    if neuron.reset == RESET_CUSTOM and not readout:
        errors.append(_error("reset_mult", mult, reset_mult / fx.DECAY_UNITY))
        errors.append(_error("reset_sub", sub, reset_sub / scale))
    errors += errors_gain
    fine_bits = [sw.exp - sw.fine_exp for sw in quantized if sw.fine is not None]
    if fine_bits:
        warnings.append(f"extended weight precision: a second, fine Dense per synapse (8 + "
                        f"{max(fine_bits)} bits), because this neuron's reset keeps the membrane, "
                        "which accumulates rounding error")
    if not fxn.is_stock_lif:
        warnings.append("needs snncc's generalised neuron (Lava's stock LIF cannot express "
                        "this reset, floor, growth, input gain or late bias)")
    mode = modes[0] if len(set(modes)) == 1 else "+".join(dict.fromkeys(modes))
    if cfg.float_twins:
        if bias_q is not None:
            twins[syns[0].node.name]["bias"] = model_syn_bias * scale / 2.0 ** fx.ACT_SHIFT
        twins[neuron.name] = _neuron_twin(neuron, scale, model_bias, mult, sub, depth)
        twins[neuron.name].update(
            vth=twins[neuron.name]["vth"] / g_thr, reset_sub=twins[neuron.name]["reset_sub"] / g_thr,
            bias=twins[neuron.name]["bias"] / g_bias, dc_threshold=g_thr, dc_bias=g_bias)
    return synapses, fxn, LayerQuant(neuron.name, float(np.min(scale)), float(np.max(scale)),
                                     exps[0], mode, errors, warnings, clipped,
                                     len(fine_bits),
                                     [float(v) for v in np.broadcast_to(
                                         scale, neuron.threshold.shape)] if readout else None), twins


def _neuron_twin(neuron: CubaLIF, scale: np.ndarray, bias: np.ndarray, mult, sub,
                 depth: int) -> dict[str, np.ndarray]:
    """The real values the FxNeuron's integers round, in its units (float64, flat): the float
    model's neuron in v units.  Its bias acts in step with the data (from ``depth`` on)."""
    f64 = lambda a: np.broadcast_to(np.asarray(a, np.float64), scale.shape).copy()  # noqa: E731
    twin = {"du": fx.DECAY_UNITY * (1.0 - f64(neuron.alpha)) - fx.DU_OFFSET,
            "dv": fx.DECAY_UNITY * (1.0 - f64(neuron.beta)), "vth": f64(neuron.threshold) * scale
            / 2.0 ** fx.VTH_SHIFT, "bias": f64(bias) * scale, "bias_start": np.array(depth),
            "reset_mult": f64(mult) * fx.DECAY_UNITY, "reset_sub": f64(sub) * scale}
    if neuron.input_gain is not None:
        twin["input_gain"] = np.asarray(neuron.input_gain, np.float64) * fx.DECAY_UNITY
    return twin
