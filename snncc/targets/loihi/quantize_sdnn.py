"""Quantize a sigma-delta network (``snncc.nn.Delta/SigmaDelta/Sigma``) into Lava's fixed-point
``Delta``/``SigmaDelta``/``Sigma`` processes with graded spikes.

Units.  The data (integer frames) enter unchanged: Lava's ``Delta`` shifts its input by
``E = spike_exp + state_exp`` (12 with netx's defaults), so the input layer's activations are
the float ones times ``K = 2**E``.  Every neuron sends ``delta >> state_exp``: a graded spike
is the float one times ``M = K / 2**state_exp``.  Each sigma-delta layer ``l`` keeps its
activations in units ``K_l = 2**(E + f_l)`` (``f_l`` fraction bits: the most, up to 8, that
keep its threshold within Lava's 24-bit ``vth << E``, its bias within 16 bits, and its
activations within 24 bits; activations are bounded by calibration data (``snncc compile
--calibrate``: the largest activation seen, with a margin), else by the worst case the
weights' row sums allow for inputs of magnitude <= 255, 8-bit frames, which is safe but
coarse), so with Lava's uncorrected fixed-point SigmaDelta (``sigma += a_in``; ``vth``
and ``bias`` scaled by ``2**E`` when the process is built):

* weights ``W_q = round(W * K_l / (M_src * 2**e))`` on Lava's 8-bit grid for the sign mode,
  with the weight exponent ``e`` that fits them (a Conv bakes ``e >= 0`` into its kernel);
* ``vth = round(threshold * K_l / 2**E)``, ``bias = round(bias * K_l / 2**E)``.

What remains is the rounding of weights, thresholds and biases (reported per layer) and of
each graded spike to the ``1/M`` grid (Lava floors ``delta >> state_exp``), which ``snncc
verify`` measures on data.  Spikes of the same layer in float and fixed point are one step
apart per synapse (Lava's Dense/Conv latency), as for spiking networks.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...errors import SnnccError
from ...ir import Affine, Conv2d, FxDelta, FxSigma, FxSigmaDelta, Graph, Input, Output
from ...ir.nodes import NeuronNode
from ...ir.sigma_delta import DeltaEncoder, SigmaDecoder, SigmaDeltaNeuron, SPIKE_EXP, STATE_EXP
from ...passes.compose import compose_synapses
from ...passes.synapse_stats import Synapse
from . import fixedpoint as fx
from .quantize import WEIGHT_EXP_RANGE, LayerQuant, ParamError, QuantConfig, QuantReport, _error
from .weights import to_grid as _to_grid

E = SPIKE_EXP + STATE_EXP
MAX_FRACTION_BITS = 8
INPUT_BOUND = 255.0                # assumed |input| (8-bit frames) for the activation bounds
VTH_LIMIT = 2 ** (23 - E) - 1      # vth << E must stay within Lava's 24-bit state
BIAS_LIMIT = 2 ** 15 - 1           # SigmaDelta's bias Var: 16-bit


def is_sdnn(graph: Graph) -> bool:
    """Whether ``graph`` holds float sigma-delta neurons (quantized here, not as LIF)."""
    return any(getattr(n, "graded", False) and isinstance(n, NeuronNode) for n in graph.nodes())


def _fraction_bits(node, act_bound: float) -> int:
    """Fraction bits f of a layer's units ``K = 2**(E + f)``: the most (at most 8) that keep the
    threshold and bias in range and the activations (bounded by ``act_bound``; the per-step
    input, a change of them, by twice that) inside Lava's 24-bit state and Conv output.
    May be negative for large activations (coarser thresholds, reported as their error)."""
    peak_thr = float(np.max(np.abs(getattr(node, "threshold", 0.0)), initial=0.0))
    peak_bias = float(np.max(np.abs(getattr(node, "bias", 0.0)), initial=0.0))
    f = MAX_FRACTION_BITS
    while f > -E and (peak_thr * 2 ** f > VTH_LIMIT or peak_bias * 2 ** f > BIAS_LIMIT
                      or 2 * act_bound * 2.0 ** (E + f) >= 2 ** 23):
        f -= 1
    return f


def _weights(syn: Synapse, gain: float, cfg: QuantConfig):
    """(W_q, exponent, sign mode, error) for ``W * gain`` on Lava's grid."""
    target = syn.weight * gain
    mode = syn.mode(cfg.split_sign)
    lo, hi, _ = fx.weight_range(mode)
    peak = float(np.max(np.abs(target), initial=0.0))
    exp_lo, exp_hi = syn.exp_range(cfg.weight_exp_range)
    exp = int(np.ceil(np.log2(peak / max(abs(lo), abs(hi))))) if peak > 0 else exp_lo
    exp = int(np.clip(exp, exp_lo, exp_hi))
    w_q = _to_grid(target / 2.0 ** exp, mode)
    return w_q, exp, mode, _error("weight", syn.weight, w_q * 2.0 ** exp / gain)


def quantize_sdnn(graph: Graph, cfg: Optional[QuantConfig] = None) -> tuple[Graph, QuantReport]:
    """Quantize a lowered sigma-delta graph (see the module docstring for the units)."""
    cfg = cfg or QuantConfig()
    graph = compose_synapses(graph)
    out = Graph(dict(graph.meta, quantized=True, graded_input=True))
    report = QuantReport([])
    msg: dict[str, float] = {}            # graded-spike scale of every spiking node
    bound: dict[str, float] = {}          # a bound on |activation| (float units)
    for node in graph.nodes():
        ins = graph.inputs_of(node.name)
        if isinstance(node, Input):
            out.add(node)
            msg[node.name] = 1.0
            bound[node.name] = cfg.act_bound.get(node.name, INPUT_BOUND)
        elif isinstance(node, Output):
            out.add(node, ins)
        elif isinstance(node, (Affine, Conv2d)):
            if graph.recurrent_inputs_of(node.name):
                raise SnnccError(f"{node.name!r}: recurrent sigma-delta synapses",
                                 "use feed-forward sigma-delta layers")
            continue
        elif isinstance(node, DeltaEncoder):
            if ins != graph.input_names[:1] or len(ins) != 1:
                raise SnnccError(f"{node.name!r}: a Delta encoder reads the network input "
                                 "directly", "put snncc.nn.Delta first, on the input")
            vth = np.round(np.asarray(node.threshold, np.float64) * msg[ins[0]])
            out.add(FxDelta(node.name, shape=tuple(node.shape), vth=vth.astype(np.int64).reshape(-1),
                            cum_error=node.cum_error), ins)
            msg[node.name] = msg[ins[0]] * 2.0 ** E / 2 ** STATE_EXP
            bound[node.name] = bound[ins[0]]
            report.layers.append(LayerQuant(
                node.name, 2.0 ** E, 2.0 ** E, 0, "-",
                [ParamError(k, 0.0, 0.0, 0.0) for k in ("weight", "beta", "alpha")]
                + [_error("threshold", node.threshold, vth / msg[ins[0]])], []))
        elif isinstance(node, (SigmaDeltaNeuron, SigmaDecoder)):
            out_node, layer = _layer(graph, out, node, ins, msg, bound, cfg)
            report.layers.append(layer)
            msg[node.name] = out_node
        elif isinstance(node, NeuronNode):
            raise SnnccError(f"layer {node.name!r} ({node.kind}) in a sigma-delta network",
                             "snncc compiles networks of sigma-delta layers or of spiking "
                             "layers, not both yet")
        else:
            raise SnnccError(f"cannot quantize node {node.name!r} of kind {node.kind!r}",
                             "run lower_neurons first")
    return out, report


def _layer(graph: Graph, out: Graph, node, ins: list[str], msg: dict, bound: dict,
           cfg: QuantConfig):
    """Emit one SigmaDelta/Sigma layer with its synapse; returns (its spike scale, report)."""
    if len(ins) != 1:
        raise SnnccError(f"layer {node.name!r}: {len(ins)} synapses into a sigma-delta layer",
                         "feed each sigma-delta layer from one Linear/Conv2d")
    src = graph.inputs_of(ins[0])[0]
    shape = tuple(node.shape)
    syn = Synapse(graph.node(ins[0]), src, shape, tuple(graph.node(src).shape))
    if syn.node.bias is not None and np.any(syn.node.bias):
        raise SnnccError(f"layer {ins[0]!r}: a synapse bias before a sigma-delta layer would "
                         "be integrated at every step", "drop the Linear/Conv2d bias and give "
                         "it to snncc.nn.SigmaDelta(bias=...)")
    # sigma telescopes to W @ (source activation): bounded by the row sums of |W|
    rows = float(np.max(syn.row_sum(), initial=0.0))
    bound[node.name] = cfg.act_bound.get(node.name, rows * bound[src] + float(
        np.max(np.abs(getattr(node, "bias", 0.0)), initial=0.0)))
    f = _fraction_bits(node, bound[node.name])
    k = 2.0 ** (E + f)
    w_q, exp, mode, w_err = _weights(syn, k / msg[src], cfg)
    fx_syn = syn.emit(f"{ins[0]}", w_q, exp, mode)
    out.add(fx_syn, [src])
    errors = [w_err, ParamError("beta", 0.0, 0.0, 0.0), ParamError("alpha", 0.0, 0.0, 0.0)]
    warnings = []
    if isinstance(node, SigmaDecoder):
        out.add(FxSigma(node.name, shape=shape), [fx_syn.name])
        errors.append(ParamError("threshold", 0.0, 0.0, 0.0))
    else:
        thr = np.asarray(node.threshold, np.float64).reshape(-1)
        bias = np.broadcast_to(np.asarray(node.bias, np.float64).reshape(-1),
                               (int(np.prod(shape)),))
        vth = np.clip(np.round(thr * 2.0 ** f), 0, VTH_LIMIT).astype(np.int64)
        b = np.clip(np.round(bias * 2.0 ** f), -BIAS_LIMIT, BIAS_LIMIT).astype(np.int64)
        if np.any(np.abs(bias * 2.0 ** f) > BIAS_LIMIT):
            warnings.append("bias clipped to 16 bits")
        out.add(FxSigmaDelta(node.name, shape=shape, vth=vth, bias=b, act_mode=node.act_mode,
                             cum_error=node.cum_error), [fx_syn.name])
        errors += [_error("threshold", thr, vth / 2.0 ** f), _error("bias", bias, b / 2.0 ** f)]
    layer = LayerQuant(node.name, k, k, exp, mode, errors, warnings)
    return k / 2 ** STATE_EXP, layer


__all__ = ["is_sdnn", "quantize_sdnn", "WEIGHT_EXP_RANGE"]
