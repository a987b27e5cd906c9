"""Partially quantized simulation: the Loihi network with chosen parameter classes back in float.

Error attribution asks "how much agreement comes back if this layer's thresholds (or decays,
or the 24-bit wrap...) were exact?".  That needs a simulator that runs *any mix* of float and
quantized parameters and is exact at both ends.  This one steps the fixed-point graph
(``FxDense``/``FxConv``/``FxDelay``/``FxNeuron``, Loihi timing: one step per synapse) in
float64 torch.  Every integer array has a **float twin** (``QuantConfig(float_twins=True)``,
kept in ``QuantReport.twins``): the real value the quantizer rounded, in the same units (v
units for the neuron, weight LSBs for synapses), i.e. the float model scaled by the per-neuron
scale ``S``.  Each layer (one ``FxNeuron`` and the synapses feeding it, recurrent ones
included) takes, per parameter class in :data:`CLASSES`, either its integers or its twins:

============  ==============================================================================
class         quantized                              float
============  ==============================================================================
weights       8-bit weights, ``floor`` of the        twin weights ``w S / 2**(e+6)``, the
              exponent's right shift (Lava Dense)    exponent as an exact factor
biases        8-bit bias axon, 13-bit neuron bias,   ``b S`` (v units), acting in step with
              its start step                         the layer's data (from its depth on)
thresholds    ``vth << 6``                           ``threshold * S``
decays        12-bit ``du``, ``dv``                  ``4096 (1 - alpha) - 1``, ``4096 (1 - beta)``
reset         12-bit ``reset_mult``, int ``sub``     ``mult * 4096``, ``sub * S``
input_gains   12-bit per-step gain table             ``g * 4096``
rounding      products with a 12-bit factor          exact products
              (decays, reset, gain) truncated
              toward zero, as Lava does
saturation    ``u`` wraps at 24 bits, ``v``           no wrap, no saturation
              saturates, a conv's output wraps
============  ==============================================================================

With every class quantized the run equals the bit-accurate simulator bit for bit (float64
holds every integer exactly: ``|values| < 2**40`` as in :mod:`snncc.backends.sim.neuron`);
with every class float it is the lowered float model (scaled by ``S``, so spikes are those of
the float model up to float64 round-off at exact threshold ties).  The network's timing
(synaptic delays, delay lines, ``gain_start``) is the same in both.

The stepping itself (:func:`simulate_params`) takes already resolved tensors and an
:class:`Arith` (how to round, saturate and spike), so fine-tuning reuses it with
straight-through rounding and a surrogate spike gradient.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Union

import numpy as np
import torch

from . import fixedpoint as fx
from ...errors import SnnccError
from ...ir import FxConv, FxDelay, FxDense, FxNeuron, Graph, Input, Output

CLASSES = ("weights", "biases", "thresholds", "decays", "reset", "input_gains", "rounding",
           "saturation")
F64 = torch.float64
CONV_BITS = 24


class Arith:
    """Exact rounding, saturation and spiking (float64 tensors holding integers or reals)."""

    def trunc(self, x: torch.Tensor) -> torch.Tensor:
        return torch.trunc(x)

    def floor(self, x: torch.Tensor) -> torch.Tensor:
        return torch.floor(x)

    def wrap_current(self, u: torch.Tensor) -> torch.Tensor:
        """Lava's lopsided 24-bit wrap of u (:func:`fixedpoint.wrap_current`)."""
        wrapped = torch.where(u > fx.MAX_UV, u - 2 * fx.MAX_UV, u)
        return torch.where(wrapped <= -fx.MAX_UV, u + 2 * fx.MAX_UV, wrapped)

    def wrap_signed(self, x: torch.Tensor, bits: int) -> torch.Tensor:
        half = float(1 << (bits - 1))
        return torch.remainder(x + half, 2 * half) - half

    def saturate(self, v: torch.Tensor) -> torch.Tensor:
        return torch.clamp(v, -fx.V_MAX, fx.V_MAX)

    def spike(self, v: torch.Tensor, vth: torch.Tensor) -> torch.Tensor:
        """1.0 where ``v > vth`` (strict, as Lava), else 0.0."""
        return (v > vth).to(v.dtype)


@dataclass
class SynapseParams:
    """A resolved synapse: ``parts`` are weight tensors (out, in) or conv kernels whose
    shifted outputs add; ``scale = 2**exp``; ``floor``: floor each part's shifted sum."""

    parts: list[torch.Tensor]
    scale: float
    floor: bool
    conv: Optional[FxConv] = None
    wrap: bool = False
    bias: Optional[torch.Tensor] = None
    bias_start: int = 0


@dataclass
class NeuronParams:
    """A resolved neuron: decay factors ``fu``, ``fv`` (4096 = keep), threshold and reset in
    v units, per-step gains (4096 = 1); ``rounding``/``saturation``: Lava's arithmetic on."""

    fu: torch.Tensor
    fv: torch.Tensor
    vth: torch.Tensor
    bias: torch.Tensor
    bias_start: int
    mult: torch.Tensor
    sub: torch.Tensor
    gain: Optional[torch.Tensor]
    gain_start: int
    floor: Optional[float]
    delayed: bool
    rounding: bool = True
    saturation: bool = True


Params = Mapping[str, Union[SynapseParams, NeuronParams]]


def layer_of(fixed: Graph) -> dict[str, str]:
    """Which neuron layer each synapse belongs to (the neuron it feeds); neurons to themselves."""
    owner = {}
    for node in fixed.of_type(FxNeuron):
        owner[node.name] = node.name
        for src in fixed.inputs_of(node.name) + fixed.recurrent_inputs_of(node.name):
            if isinstance(fixed.node(src), (FxDense, FxConv)):
                owner[src] = node.name
    return owner


def _t(a, dtype=F64) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype)


def _synapse(node: Union[FxDense, FxConv], twin: dict, floats: set[str]) -> SynapseParams:
    exp = int(node.weight_exp)
    if "weights" in floats:
        parts, do_floor = [_t(twin["weight"])], False
    elif isinstance(node, FxConv):
        parts, do_floor = [_t(node.weight)], False
    else:
        split = fx.split_by_sign(node.weight) if node.split_sign else (node.weight,)
        parts, do_floor = [_t(fx.lava_effective_weights(p)) for p in split], exp < 0
    bias = None
    if node.bias is not None:
        bias = (_t(twin["bias"]) if "biases" in floats else
                _t(fx.shift_activation(fx.lava_effective_weights(
                    np.asarray(node.bias).reshape(-1, 1)).reshape(-1), node.bias_exp)))
    is_conv = isinstance(node, FxConv)
    return SynapseParams(parts, 2.0 ** exp, do_floor, node if is_conv else None,
                         is_conv and "saturation" not in floats, bias, int(node.bias_start))


def _neuron(node: FxNeuron, twin: dict, floats: set[str]) -> NeuronParams:
    pick = lambda cls, key, q: _t(twin[key]).reshape(-1) if cls in floats else _t(q).reshape(-1)  # noqa: E731
    du = pick("decays", "du", node.du)
    dv = pick("decays", "dv", node.dv)
    one = float(fx.DECAY_UNITY)
    bias_float = "biases" in floats
    bias = _t(twin["bias"]) if bias_float else _t(fx.effective_bias(node.bias_mant, node.bias_exp))
    gain = None
    if node.input_gain is not None:
        g = twin["input_gain"] if "input_gains" in floats else node.input_gain
        gain = _t(g).reshape(np.shape(node.input_gain)[0], -1)
    vth = pick("thresholds", "vth", node.vth) * 2.0 ** fx.VTH_SHIFT
    sub = pick("reset", "reset_sub", node.reset_sub)
    bias = bias.reshape(-1)
    if "decays" in floats and "dc_threshold" in twin:
        # exact decays need no DC-gain matching: undo it on the threshold side (ptq.dc_gain)
        vth, sub = vth * _t(twin["dc_threshold"]), sub * _t(twin["dc_threshold"])
        bias = bias * _t(twin["dc_bias"])
    return NeuronParams(
        fu=one - (du + fx.DU_OFFSET), fv=one - (dv + fx.DV_OFFSET), vth=vth, bias=bias,
        bias_start=int(twin["bias_start"]) if bias_float else int(node.bias_start),
        mult=pick("reset", "reset_mult", node.reset_mult), sub=sub,
        gain=gain, gain_start=int(node.gain_start),
        floor=None if node.floor is None else float(node.floor), delayed=bool(node.reset_delayed),
        rounding="rounding" not in floats, saturation="saturation" not in floats)


def resolve(fixed: Graph, twins: Mapping[str, dict], floats: Mapping[str, Iterable[str]]) -> dict:
    """Tensors for every synapse and neuron; ``floats[layer]``: the classes of that layer run
    in float (missing layers: all quantized).  Raises :class:`SnnccError` for node kinds this
    simulator does not know, or a float class without twins."""
    owner = layer_of(fixed)
    out: dict = {}
    for node in fixed.nodes():
        if isinstance(node, (Input, Output, FxDelay)):
            continue
        if not isinstance(node, (FxDense, FxConv, FxNeuron)):
            raise SnnccError(f"the partially quantized simulator cannot run node {node.name!r} "
                             f"of kind {node.kind!r}", "attribution covers Dense, Conv, delay and "
                             "LIF-family layers; verify without --attribution")
        fl = set(floats.get(owner.get(node.name, ""), ()))
        unknown = fl - set(CLASSES)
        if unknown:
            raise SnnccError(f"unknown parameter class(es) {sorted(unknown)}",
                             f"choose from {', '.join(CLASSES)}")
        if fl and node.name not in twins:
            raise SnnccError(f"no float twin of {node.name!r}",
                             "quantize with QuantConfig(float_twins=True)")
        twin = twins.get(node.name, {})
        out[node.name] = (_neuron(node, twin, fl) if isinstance(node, FxNeuron)
                          else _synapse(node, twin, fl))
    return out


def _activation(p: SynapseParams, s: torch.Tensor, t: int, ar: Arith) -> torch.Tensor:
    """What a synapse sends for its sources' step-t spikes ``s`` (B, *source shape)."""
    batch = s.shape[0]
    total = None
    for w in p.parts:
        if p.conv is not None:
            x = s.reshape((batch,) + tuple(p.conv.in_shape))
            acc = torch.nn.functional.conv2d(x, w * p.scale, stride=p.conv.stride,
                                             padding=p.conv.padding, groups=p.conv.groups)
            acc = acc.reshape(batch, -1)
            if p.wrap:
                acc = ar.wrap_signed(acc, CONV_BITS)
        else:
            acc = s.reshape(batch, -1) @ w.T * p.scale
            if p.floor:
                acc = ar.floor(acc)
        total = acc if total is None else total + acc
    if p.bias is not None and t >= p.bias_start:
        total = total + p.bias
    return total


class _NeuronState:
    def __init__(self, p: NeuronParams, batch: int, n: int, ref: torch.Tensor) -> None:
        self.u = ref.new_zeros((batch, n))
        self.v = ref.new_zeros((batch, n))
        self.fired = ref.new_zeros((batch, n))


def _product(x: torch.Tensor, factor: torch.Tensor, p: NeuronParams, ar: Arith) -> torch.Tensor:
    """``x * factor / 4096``, truncated toward zero when Lava's rounding is on."""
    y = x * factor / fx.DECAY_UNITY
    return ar.trunc(y) if p.rounding else y


def _neuron_step(p: NeuronParams, st: _NeuronState, a_in, t: int, ar: Arith) -> torch.Tensor:
    """One step of the generalised Lava LIF (see ``backends/sim/stepper.NeuronExec``)."""
    syn = a_in * float(1 << fx.ACT_SHIFT)
    if p.gain is not None:
        row = int(np.clip(t - p.gain_start, 0, p.gain.shape[0] - 1))
        syn = _product(syn, p.gain[row], p, ar)
    u = _product(st.u, p.fu, p, ar) + syn
    st.u = ar.wrap_current(u) if p.saturation else u
    v = _product(st.v, p.fv, p, ar)
    reset = lambda v, fired: v + fired * (_product(v, p.mult, p, ar) - p.sub - v)  # noqa: E731
    if p.delayed:
        v = reset(v, st.fired)
    v = v + st.u
    if t >= p.bias_start:
        v = v + p.bias
    if p.saturation:
        v = ar.saturate(v)
    if p.floor is not None:
        v = torch.clamp(v, min=p.floor)
    fired = ar.spike(v, p.vth)
    st.v_test = v                   # the membrane the spike test saw (before the reset)
    st.v = v if p.delayed else reset(v, fired)
    st.fired = fired
    return fired


def simulate_params(fixed: Graph, params: Params, stimulus: torch.Tensor,
                    arith: Optional[Arith] = None, record: bool = False
                    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Step ``fixed`` with resolved ``params`` on ``stimulus`` (T, B, ...) float64, Loihi timing.

    Returns each neuron layer's spikes (T, B, n) as float64 0/1 tensors (differentiable when
    ``arith`` is) and, with ``record``, the membrane each spike test saw (T, B, n; v units,
    before the reset; else ``{}``).  Two phases per step as in
    :mod:`snncc.backends.sim.stepper`: sources emit from the buffers filled at ``t - 1``, then
    synapses and delay lines take step ``t``.
    """
    ar = arith or Arith()
    steps, batch = int(stimulus.shape[0]), int(stimulus.shape[1])
    flat = stimulus.reshape(steps, batch, -1)
    order = fixed.order()
    feeds = {n: fixed.inputs_of(n) + fixed.recurrent_inputs_of(n) for n in order}
    shapes = fixed.shapes()
    size = {n: int(np.prod(shapes[n])) for n in order}
    buffers = {n: flat.new_zeros((batch, size[n])) for n in order
               if isinstance(fixed.node(n), (FxDense, FxConv))}
    queues = {n: [flat.new_zeros((batch, size[n]))] * fixed.node(n).delay
              for n in order if isinstance(fixed.node(n), FxDelay)}
    states = {n: _NeuronState(params[n], batch, size[n], flat)
              for n in order if isinstance(fixed.node(n), FxNeuron)}
    out = {n: [] for n in states}
    seen = {n: [] for n in states} if record else {}
    for t in range(steps):
        values: dict[str, torch.Tensor] = {}
        for name in order:           # phase 1: emit
            node = fixed.node(name)
            if isinstance(node, Input):
                values[name] = flat[t]
            elif name in buffers:
                values[name] = buffers[name]
            elif name in queues:
                values[name] = queues[name][0]
            elif name in states:
                a_in = sum(values[s] if s in values else buffers[s] for s in feeds[name])
                values[name] = _neuron_step(params[name], states[name], a_in, t, ar)
                out[name].append(values[name])
                if record:
                    seen[name].append(states[name].v_test)
        for name in order:           # phase 2: synapses and delay lines take step t
            if name in buffers:
                buffers[name] = _activation(params[name], values[feeds[name][0]], t, ar)
            elif name in queues:
                queues[name] = queues[name][1:] + [values[feeds[name][0]].reshape(batch, -1)]
    return ({n: torch.stack(v) for n, v in out.items()},
            {n: torch.stack(v) for n, v in seen.items()})


def run_partial(fixed: Graph, twins: Mapping[str, dict], floats: Mapping[str, Iterable[str]],
                stimulus: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Spikes (bool, (T, B, n)) per neuron layer on the float model's time base (each layer's
    record cut to ``[depth, depth + T)``, as :func:`snncc.report.runs.run_quantized`)."""
    from ...verify import synaptic_depth
    params = resolve(fixed, twins, floats)
    depth = synaptic_depth(fixed)
    names = [n.name for n in fixed.of_type(FxNeuron)]
    steps = stimulus.shape[0]
    pad = max(depth[n] for n in names)
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in names}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)     # per-step tensors are small: threads cost more than they give
    try:
        return _run_chunks(fixed, params, stimulus, depth, names, pad, steps, batch_size, chunks)
    finally:
        torch.set_num_threads(threads)


def _run_chunks(fixed, params, stimulus, depth, names, pad, steps, batch_size, chunks):
    with torch.no_grad():
        for start in range(0, stimulus.shape[1], batch_size):
            x = np.asarray(stimulus[:, start:start + batch_size], np.float64)
            x = np.concatenate([x, np.zeros((pad,) + x.shape[1:])])
            spikes, _ = simulate_params(fixed, params, torch.from_numpy(x))
            for n in names:
                chunks[n].append(spikes[n][depth[n]:depth[n] + steps].numpy() > 0.5)
    return {n: np.concatenate(c, axis=1) for n, c in chunks.items()}
