"""Quantize a lowered float graph to Xylo's integer neuron (``XyDense`` + ``XyNeuron``).

The canonical float neuron (:class:`~snncc.ir.CubaLIF`, per step ``i = alpha i + x``;
``v = beta v + i + bias``; spike where ``v > threshold``; subtractive reset) against Xylo's
(:mod:`.fixedpoint`): the current takes this step's input *before* it decays, so Xylo's
``I_t = a (I_{t-1} + W s_t)`` with ``a = 1 - 2**-dash_syn``; the float current is matched by
weights ``W = x / a``, exactly when ``alpha`` is a dash value.  In general the weights carry
the gain ``g = (1 - a) / (a (1 - alpha))`` that keeps the current's DC gain (``1 / a`` when
``a == alpha``).  Decays: ``dash = round(-log2(1 - decay))`` (4 bits), i.e. ``beta`` ->
``1 - 2**-dash_mem``.

One scale ``S`` per neuron (float membrane units -> integer units) ties weights, threshold
and bias: ``W_q << shift == S g W``, ``bias_q == S bias``.  Xylo fires on ``v >= T``, the
float model on ``v > threshold``: with ``T = floor(S threshold) + 1`` an integer ``v`` fires
exactly when ``v > S threshold``; the reset then subtracts ``T`` (at most one unit more than
``S threshold``, reported as the threshold's error).  The three weight matrices (input,
recurrent, readout) have one bit shift each, chosen so that the most constrained neuron's
weights use their 8 bits while thresholds stay below ``32767 / headroom``.

What Xylo cannot express is refused by name (custom resets, membrane floors, delayed
resets, per-step input gains, growing membranes, skip connections across layers, recurrent
edges across layers); what it only approximates is quantized and named in the layer's
warnings, its error measured by ``snncc verify``: a memoryless current (Xylo's shortest
current decay is ``dash_syn = 1``), decays between two dash values, a zero reset (Xylo
subtracts), a Linear bias into a decaying current, biases of deeper layers (they act from
step 0), and the neuron's leak of at least one unit per step (``sign(x)`` rule).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import fixedpoint as xf
from ...errors import SnnccError
from ...ir import Affine, CubaLIF, Graph, Input, Output
from ...ir.nodes import RESET_SUBTRACT, RESET_ZERO
from ...ir.xylo import POP_HIDDEN, POP_INPUT, POP_OUTPUT, XyDense, XyNeuron
from ...passes.compose import compose_synapses
from ..loihi.quantize import LayerQuant, ParamError, _error
from ..loihi.quantize import QuantReport as _QuantReport

SHIFT_RANGE = (0, 8)       # 8: the largest shift at which int16(w << shift) never wraps


@dataclass
class QuantConfig:
    """Knobs of the Xylo quantizer.

    ``chip``: sub-target (``xylo-audio2``, ``xylo-imu``, ``xylo-audio3``); ``headroom``: how
    far v may exceed the threshold before it saturates (thresholds <= 32767 / headroom);
    ``scale_factor``: per layer multiplier of the scale (calibration).
    """

    chip: str = "xylo-audio2"
    headroom: float = 4.0
    scale_factor: dict[str, float] = field(default_factory=dict)


@dataclass
class QuantReport(_QuantReport):
    """Loihi's report layout, plus the Xylo mapping class of every layer."""

    classes: dict = field(default_factory=dict)     # layer -> (mapping class, note)

    def remap(self, mapping: list) -> list:
        """The lowering's mapping table with Xylo's classes (exact / approximate)."""
        from dataclasses import replace
        return [replace(m, mapping=self.classes[m.name][0], note="") if m.name in self.classes
                else m for m in mapping]


def _dash(decay: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Nearest bit-shift decay: ``round(-log2(1 - decay))`` in [minimum, 15]."""
    leak = np.clip(1.0 - np.asarray(decay, np.float64), 2.0 ** -xf.DASH_MAX, None)
    return np.clip(np.round(-np.log2(leak)), minimum, xf.DASH_MAX).astype(np.int64)


def dash_decay(dash: np.ndarray) -> np.ndarray:
    """The decay factor a dash stands for: ``1 - 2**-dash`` (float64)."""
    return 1.0 - 2.0 ** -np.asarray(dash, np.float64)


@dataclass
class _Layer:
    neuron: CubaLIF
    ff: list[tuple[Affine, str]]       # (synapse, source) feed-forward
    rec: list[tuple[Affine, str]]      # (synapse, source) recurrent
    depth: int = 0
    output: bool = False


def _refuse_neuron(n: CubaLIF) -> None:
    """Name what Xylo's neuron cannot express at all."""
    bad = []
    if n.reset not in (RESET_SUBTRACT, RESET_ZERO):
        bad.append(f"a custom reset ({n.reset!r})")
    if n.reset_delayed:
        bad.append("a reset delayed to the next step")
    if n.floor is not None:
        bad.append(f"a membrane floor ({n.floor})")
    if n.input_gain is not None:
        bad.append("a per-step input gain")
    if np.any(np.asarray(n.beta) > 1) or np.any(np.asarray(n.beta) < 0):
        bad.append("a voltage decay factor outside [0, 1]")
    if np.any(np.asarray(n.alpha) > 1) or np.any(np.asarray(n.alpha) < 0):
        bad.append("a current decay factor outside [0, 1]")
    if np.any(np.asarray(n.threshold) <= 0):
        bad.append("a threshold <= 0")
    if bad:
        raise SnnccError(f"layer {n.name!r}: Xylo's neuron cannot express {', '.join(bad)}",
                         "compile this model for Loihi (--target loihi), or retrain it with "
                         "Xylo's LIF: subtractive reset, no floor, decays in [0, 1], "
                         "threshold > 0")


def _layers(graph: Graph) -> list[_Layer]:
    """The network as Xylo layers; refuses what the input -> hidden -> readout structure
    cannot hold."""
    if len(graph.input_names) != 1 or len(graph.output_names) != 1:
        raise SnnccError("Xylo networks have one input and one output",
                         "compile a model with one input tensor and one output layer")
    layers: dict[str, _Layer] = {}
    src_depth = {graph.input_names[0]: -1}
    for node in graph.nodes():
        if isinstance(node, (Input, Output)) or isinstance(node, Affine):
            continue
        if not isinstance(node, CubaLIF):
            raise SnnccError(f"node {node.name!r} ({node.kind}) has no Xylo counterpart",
                             "Xylo runs Linear layers into LIF neurons: flatten convolutions "
                             "and pools into Linear layers, or compile for Loihi")
        _refuse_neuron(node)
        syns = []
        for rec, feeders in ((False, graph.inputs_of(node.name)),
                             (True, graph.recurrent_inputs_of(node.name))):
            for s in feeders:
                syn = graph.node(s)
                if not isinstance(syn, Affine):
                    raise SnnccError(f"layer {node.name!r} is fed by {s!r} ({syn.kind}), "
                                     "which Xylo cannot express",
                                     "Xylo synapses are dense weight matrices: use Linear layers")
                syns.append((rec, syn, graph.inputs_of(s)[0]))
        ff = [(syn, src) for rec, syn, src in syns if not rec]
        rec = [(syn, src) for r, syn, src in syns if r]
        depths = {src_depth[src] + 1 for _, src in ff if src in src_depth}
        if len(depths) != 1 or len(ff) != len([1 for _, s in ff if s in src_depth]):
            raise SnnccError(f"layer {node.name!r} is fed from layers at different depths "
                             f"({', '.join(s for _, s in ff)}): a skip connection",
                             "Xylo delivers every hidden spike one step later and input spikes "
                             "at once, so only layer-to-next-layer connections keep their timing")
        layer = _Layer(node, ff, rec, depth=depths.pop())
        if layer.depth > 0 and any(src == graph.input_names[0] for _, src in ff):
            raise SnnccError(f"layer {node.name!r} reads the input and a hidden layer",
                             "feed the input only into the first layer")
        layers[node.name] = layer
        src_depth[node.name] = layer.depth
    for layer in layers.values():
        for syn, src in layer.rec:
            if src not in layers or layers[src].depth != layer.depth:
                raise SnnccError(f"recurrent synapse {syn.name!r} from {src!r} into "
                                 f"{layer.neuron.name!r} crosses layers",
                                 "Xylo's recurrent matrix delays every hidden spike by one "
                                 "step; feedback keeps its timing only within one layer")
    out_name = graph.inputs_of(graph.output_names[0])[0]
    if out_name not in layers:
        raise SnnccError(f"the output {out_name!r} is not a neuron layer",
                         "end the model with a spiking layer (Xylo's readout neurons)")
    out = layers[out_name]
    out.output = True
    if out.depth == 0:
        raise SnnccError(f"the output layer {out_name!r} reads the input directly",
                         "Xylo's readout neurons read only hidden neurons: add a hidden layer")
    if out.rec:
        raise SnnccError(f"the output layer {out_name!r} is recurrent",
                         "Xylo's readout neurons have no recurrent synapses")
    for layer in layers.values():
        if any(src == out_name for _, src in layer.ff + layer.rec):
            raise SnnccError(f"layer {layer.neuron.name!r} reads the output layer {out_name!r}",
                             "Xylo's readout spikes leave the chip: feed hidden layers only "
                             "from hidden layers")
    return list(layers.values())


def _matrix(layer: _Layer, src: str, input_name: str) -> str:
    if src == input_name:
        return POP_INPUT
    return POP_OUTPUT if layer.output else POP_HIDDEN


def quantize(graph: Graph, cfg: Optional[QuantConfig] = None) -> tuple[Graph, QuantReport]:
    """Quantize a lowered graph for Xylo; returns ``(fixed graph, QuantReport)``.

    Raises :class:`SnnccError` naming what Xylo cannot express; design-rule limits are
    checked by :func:`snncc.targets.xylo.mapping.check_design_rules` on the result.
    """
    from .mapping import check_design_rules
    cfg = cfg or QuantConfig()
    if cfg.chip not in xf.CHIPS:
        raise SnnccError(f"unknown Xylo sub-target {cfg.chip!r}",
                         f"choose one of: {', '.join(xf.CHIPS)}")
    graph = compose_synapses(graph)
    layers = _layers(graph)
    input_name = graph.input_names[0]
    t_cap = xf.STATE_MAX / max(cfg.headroom, 1.0)
    prep = {l.neuron.name: _prepare(l) for l in layers}
    # one shift per matrix: the most constrained neuron's weights use their full 8 bits
    shifts = {}
    for matrix in (POP_INPUT, POP_HIDDEN, POP_OUTPUT):
        need = []
        for l in layers:
            p = prep[l.neuron.name]
            for syn, src in l.ff + l.rec:
                if _matrix(l, src, input_name) != matrix:
                    continue
                rmax = np.max(np.abs(p.weights[syn.name]), axis=1)
                cap = t_cap / p.threshold * cfg.scale_factor.get(l.neuron.name, 1.0)
                live = rmax > 0
                if np.any(live):
                    need.append(np.min(cap[live] * rmax[live]) / xf.WEIGHT_MAX)
        shift = int(np.floor(np.log2(min(need)))) if need else 0
        shifts[matrix] = int(np.clip(shift, *SHIFT_RANGE))
    out = Graph(dict(graph.meta, quantized=True, target=cfg.chip))
    report = QuantReport([])
    out.add(graph.node(input_name))
    deferred = []
    for l in layers:
        syns, neuron, lq = _quantize_layer(l, prep[l.neuron.name], shifts, input_name, t_cap, cfg)
        for (syn, src), xs in zip(l.ff, syns):
            out.add(xs, [src])
        out.add(neuron, [xs.name for xs in syns[:len(l.ff)]])
        deferred += [(xs, src, l.neuron.name) for (_, src), xs in zip(l.rec, syns[len(l.ff):])]
        report.layers.append(lq)
    report.classes = {lq.name: ("approximate" if any(w for w in lq.warnings
                                                     if not w.startswith("hidden neurons"))
                                else "exact", "; ".join(lq.warnings[:1]))
                      for lq in report.layers}
    for xs, src, name in deferred:
        out.add(xs, [src])
        out.add_recurrent(xs.name, name)
    out.add(graph.node(graph.output_names[0]), graph.inputs_of(graph.output_names[0]))
    check_design_rules(out, xf.CHIPS[cfg.chip])
    return out, report


@dataclass
class _Prepared:
    """A layer's float parameters in Xylo's form, before the scale."""

    dash_syn: np.ndarray
    dash_mem: np.ndarray
    gain: np.ndarray                  # per neuron, into every incoming weight
    weights: dict[str, np.ndarray]    # synapse name -> gain * W (out, in), float64
    threshold: np.ndarray
    bias: np.ndarray                  # membrane bias equivalent, float64
    warnings: list[str]


def _prepare(l: _Layer) -> _Prepared:
    n = l.neuron
    flat = lambda a: np.broadcast_to(np.asarray(a, np.float64).reshape(-1), (int(np.prod(n.shape)),))
    alpha, beta, thr = flat(n.alpha), flat(n.beta), flat(n.threshold)
    warnings = []
    dash_syn = _dash(alpha, minimum=1)
    dash_mem = _dash(beta)
    a_x = dash_decay(dash_syn)
    if np.any(alpha < 0.25):
        warnings.append("memoryless (or short) synaptic current: Xylo's shortest current "
                        "decay is dash_syn = 1 (alpha = 0.5); approximated with the same DC gain")
    elif np.any(np.abs(a_x - alpha) > 1e-9):
        warnings.append("current decay between two dash values (nearest dash_syn used)")
    if np.any(np.abs(dash_decay(dash_mem) - beta) > 1e-9):
        warnings.append("voltage decay between two dash values (nearest dash_mem used)")
    if np.any(beta >= 1.0):
        warnings.append("no leak (beta = 1): Xylo decays v by at least one unit per step "
                        "(dash_mem = 15)")
    if n.reset == RESET_ZERO:
        warnings.append("reset to zero: Xylo resets by subtracting the threshold")
    if not l.output:
        warnings.append("hidden neurons emit up to 31 spikes in a step where v reaches 2+ "
                        "thresholds (the float neuron emits 1)")
    gain = np.where(alpha < 1.0, (1.0 - a_x) / (a_x * np.maximum(1.0 - alpha, 1e-12)), 1.0 / a_x)
    weights = {syn.name: np.asarray(syn.weight, np.float64) * gain[:, None]
               for syn, _ in l.ff + l.rec}
    bias = flat(n.bias).copy()
    syn_bias = sum((np.asarray(syn.bias, np.float64).reshape(-1) for syn, _ in l.ff
                    if syn.bias is not None), np.zeros_like(bias))
    if np.any(syn_bias != 0):
        if np.any(alpha[syn_bias != 0] > 0):
            warnings.append("Linear bias into a decaying current: applied as the membrane bias "
                            "bias / (1 - alpha) (exact at steady state)")
        bias = bias + syn_bias / np.maximum(1.0 - alpha, 1e-12)
    if l.depth > 0 and np.any(bias != 0):
        warnings.append(f"bias acts from step 0, {l.depth} step(s) before this layer's data "
                        "arrives (Xylo timing)")
    return _Prepared(dash_syn, dash_mem, gain, weights, thr, bias, warnings)


def _quantize_layer(l: _Layer, p: _Prepared, shifts: dict[str, int], input_name: str,
                    t_cap: float, cfg: QuantConfig):
    n = l.neuron
    unit = {}
    scale = t_cap / p.threshold
    for syn, src in l.ff + l.rec:
        sh = shifts[_matrix(l, src, input_name)]
        rmax = np.max(np.abs(p.weights[syn.name]), axis=1)
        unit[syn.name] = 2.0 ** sh
        scale = np.minimum(scale, np.where(rmax > 0, xf.WEIGHT_MAX * 2.0 ** sh
                                           / np.maximum(rmax, 1e-300), np.inf))
    scale = scale * cfg.scale_factor.get(n.name, 1.0)
    warnings = list(p.warnings)
    syns, errors, clipped = [], [], {"weight": 0}
    for syn, src in l.ff + l.rec:
        target = p.weights[syn.name] * scale[:, None] / unit[syn.name]
        w_q = np.clip(np.round(target), xf.WEIGHT_MIN, xf.WEIGHT_MAX).astype(np.int64)
        clipped["weight"] += int(np.count_nonzero(np.abs(target) > xf.WEIGHT_MAX + 0.5))
        label = "weight" if len(l.ff + l.rec) == 1 else f"weight:{syn.name}"
        errors.append(_error(label, syn.weight,
                             w_q * unit[syn.name] / (scale[:, None] * p.gain[:, None])))
        syns.append(XyDense(syn.name, weight=w_q, shift=int(np.log2(unit[syn.name])),
                            matrix=_matrix(l, src, input_name)))
    exact_t = p.threshold * scale
    thr_q = np.clip(np.floor(exact_t) + 1, 1, xf.STATE_MAX).astype(np.int64)
    clipped["threshold"] = int(np.count_nonzero(exact_t >= xf.STATE_MAX))
    bias_q = np.clip(np.round(p.bias * scale), xf.STATE_MIN, xf.STATE_MAX).astype(np.int64)
    clipped["bias"] = int(np.count_nonzero(np.abs(p.bias * scale) > xf.STATE_MAX + 0.5))
    if np.any(thr_q < 16):
        warnings.append("thresholds below 16 units: coarse (weights are large against them)")
    flat = lambda a: np.broadcast_to(np.asarray(a, np.float64).reshape(-1), p.threshold.shape)
    errors += [
        _error("threshold", p.threshold, thr_q / scale),
        _error("beta", flat(n.beta), dash_decay(p.dash_mem)),
        _error("alpha", flat(n.alpha), dash_decay(p.dash_syn)),
        _error("bias", p.bias, bias_q / scale),
    ]
    neuron = XyNeuron(n.name, shape=tuple(n.shape), threshold=thr_q, bias=bias_q,
                      dash_mem=p.dash_mem, dash_syn=p.dash_syn, output=l.output)
    sh = sorted({s.shift for s in syns})
    lq = LayerQuant(n.name, float(np.min(scale)), float(np.max(scale)), sh[0] if sh else 0,
                    "int8", errors, list(dict.fromkeys(warnings)), clipped)
    return syns, neuron, lq
