"""Reference time-stepping simulator of a fixed-point graph, batched over samples.

It reproduces lava-nc 0.10.0's ``fixed_pt`` process models bit for bit, including the
one-step delay of every ``Dense``: at step ``t`` a Dense delivers what it accumulated at
``t-1``.  Each step therefore runs in two phases, mirroring Lava's LoihiProtocol:

1. every spike source (inputs, neurons) computes its step-``t`` output from the Dense
   buffers filled at ``t-1``;
2. every Dense accumulates its sources' step-``t`` spikes into its buffer.

This ordering needs no topological care for recurrent loops: feedback is delayed by the
Dense buffer exactly as in Lava.  Node kinds map to executor classes in :data:`EXECUTORS`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from snncc.targets.loihi import fixedpoint as fx
from snncc.errors import SnnccError
from snncc.convmath import ConvSpec, conv2d
from snncc.ir import FxConv, FxDelay, FxDense, FxNeuron, Graph, Input, Node, Output

EXECUTORS: dict[str, type["Executor"]] = {}
CONV_BITS = 24          # Lava's Conv wraps its output to 24 bits (utils.signed_clamp)


def executor(kind: str):
    """Register an executor class for a node kind."""
    def wrap(cls):
        EXECUTORS[kind] = cls
        return cls
    return wrap


class Executor:
    """State and per-step behaviour of one node over a batch."""

    has_state = False
    delayed = False         # synapses and delay lines: accumulate step t, emit it later
    spiking = False         # its output is recorded in SimResult.spikes (inputs, neurons)
    records_states = False  # it has u and v to record (neurons)
    out_dtype = bool        # graded neurons: integer payloads

    def __init__(self, node: Node, batch: int) -> None:
        self.node = node
        self.batch = batch

    def emit(self, t: int, inputs: list[np.ndarray]) -> np.ndarray:
        """Phase 1: the node's step-t output."""
        raise NotImplementedError

    def accumulate(self, t: int, inputs: list[np.ndarray]) -> None:
        """Phase 2: absorb step t's inputs (only delayed nodes do anything)."""


@executor(Input.kind)
class InputExec(Executor):
    spiking = True

    def __init__(self, node, batch, stimulus: np.ndarray):
        super().__init__(node, batch)
        self.stimulus = stimulus
        if stimulus.size and not np.all((stimulus == 0) | (stimulus == 1)):
            self.out_dtype = np.int32           # graded input (netx input neurons, SDNN)

    def emit(self, t, inputs):
        return self.stimulus[t]


@executor(Output.kind)
class OutputExec(Executor):
    def emit(self, t, inputs):
        return inputs[0]


@executor(FxDense.kind)
class DenseExec(Executor):
    """Lava ``Dense`` (fixed_pt): ``a = (W @ s) << weight_exp``, sent one step later.

    A synaptic ``bias`` is a second Dense (own exponent) from an input that spikes at every
    step from ``bias_start`` on.
    """

    delayed = True

    def __init__(self, node: FxDense, batch):
        super().__init__(node, batch)
        # float64 BLAS is exact here: |sum| <= 256 * fan_in << 2**53.
        # Lava clips/truncates each Dense's matrix by the sign mode it infers at run time;
        # the quantizer's grids make that a no-op, but any FxDense runs as Lava would run it.
        parts = fx.split_by_sign(node.weight) if node.split_sign else (node.weight,)
        self.parts_t = [np.ascontiguousarray(fx.lava_effective_weights(p).T, dtype=np.float64)
                        for p in parts]
        # the bias axon is a Dense too: Lava clips/truncates its one-column matrix the same way
        self.bias = None if node.bias is None else fx.lava_effective_weights(
            np.asarray(node.bias).reshape(-1, 1)).reshape(-1)
        self.buffer = np.zeros((batch, node.weight.shape[0]), dtype=np.int64)

    def emit(self, t, inputs):
        return self.buffer

    def accumulate(self, t, inputs):
        s = inputs[0].reshape(self.batch, -1).astype(np.float64)
        self.buffer = sum(fx.shift_activation((s @ w).astype(np.int64), self.node.weight_exp)
                          for w in self.parts_t)
        if self.bias is not None and t >= self.node.bias_start:
            self.buffer = self.buffer + fx.shift_activation(self.bias, self.node.bias_exp)


@executor(FxConv.kind)
class ConvExec(Executor):
    """Lava ``Conv`` (PyConvModelFixed): ``a = wrap24(conv(s, weight << weight_exp))``, sent
    one step later; no sign modes or weight clipping.  Bias axon as on ``DenseExec``."""

    delayed = True

    def __init__(self, node: FxConv, batch):
        super().__init__(node, batch)
        w = np.asarray(node.weight, dtype=np.int64) << node.weight_exp     # baked, as in Lava
        self.spec = ConvSpec(w.astype(np.float64), node.stride, node.padding, node.groups)
        self.in_shape = tuple(node.in_shape)
        # the bias axon is a Dense too: Lava clips/truncates its one-column matrix the same way
        self.bias = None if node.bias is None else fx.lava_effective_weights(
            np.asarray(node.bias).reshape(-1, 1)).reshape(-1)
        self.buffer = np.zeros((batch, int(np.prod(node.out_shape))), dtype=np.int64)

    def emit(self, t, inputs):
        return self.buffer

    def accumulate(self, t, inputs):
        s = inputs[0].reshape((self.batch,) + self.in_shape).astype(np.float64)
        # float64 sums of integers below 2**53 are exact, as Lava's scipy conv in float64
        a = np.rint(conv2d(s, self.spec)).astype(np.int64).reshape(self.batch, -1)
        self.buffer = fx.wrap_signed(a, CONV_BITS)
        if self.bias is not None and t >= self.node.bias_start:
            self.buffer = self.buffer + fx.shift_activation(self.bias, self.node.bias_exp)


@executor(FxDelay.kind)
class DelayExec(Executor):
    """A delay line: emits at step t the spikes its input emitted at t - delay (zeros before)."""

    delayed = True

    def __init__(self, node: FxDelay, batch):
        super().__init__(node, batch)
        zeros = np.zeros((batch, int(np.prod(node.shape))), dtype=bool)
        self.queue = [zeros] * node.delay

    def emit(self, t, inputs):
        return self.queue[0]

    def accumulate(self, t, inputs):
        self.queue = self.queue[1:] + [np.asarray(inputs[0], dtype=bool).reshape(self.batch, -1)]


@executor(FxNeuron.kind)
class NeuronExec(Executor):
    """Lava ``LIF`` (PyLifModelBitAcc) generalised: per-neuron parameters, reset, floor."""

    has_state = True
    spiking = True
    records_states = True

    def __init__(self, node: FxNeuron, batch):
        super().__init__(node, batch)
        n = int(np.prod(node.shape))
        self.du = node.du.astype(np.int64) + fx.DU_OFFSET
        self.dv = node.dv.astype(np.int64) + fx.DV_OFFSET
        self.vth = node.vth.astype(np.int64) << fx.VTH_SHIFT
        self.bias = fx.effective_bias(node.bias_mant, node.bias_exp)
        self.mult = node.reset_mult.astype(np.int64)
        self.sub = node.reset_sub.astype(np.int64)
        self.gain = None if node.input_gain is None else np.asarray(node.input_gain, np.int64)
        self.u = np.zeros((batch, n), dtype=np.int64)
        self.v = np.zeros((batch, n), dtype=np.int64)
        self.spiked = np.zeros((batch, n), dtype=bool)

    def _reset(self, v: np.ndarray, spikes: np.ndarray) -> np.ndarray:
        return np.where(spikes, fx.scale_rtz(v, self.mult) - self.sub, v)

    def emit(self, t, inputs):
        a_in = sum(inputs) if inputs else 0
        syn = np.asarray(a_in, dtype=np.int64) << fx.ACT_SHIFT
        if self.gain is not None:       # per-step input gain (generalised neuron)
            syn = fx.scale_rtz(syn, self.gain[int(np.clip(t - self.node.gain_start, 0,
                                                          len(self.gain) - 1))])
        self.u = fx.wrap_current(fx.decay_rtz(self.u, self.du) + syn)
        v = fx.decay_rtz(self.v, self.dv)
        if self.node.reset_delayed:
            v = self._reset(v, self.spiked)
        bias = self.bias if t >= self.node.bias_start else 0
        v = fx.saturate_voltage(v + self.u + bias)
        if self.node.floor is not None:
            v = np.maximum(v, self.node.floor)
        spikes = v > self.vth
        self.v = v if self.node.reset_delayed else self._reset(v, spikes)
        self.spiked = spikes
        return spikes


@dataclass
class SimResult:
    """Spikes (bool, (T, B, n)) of every spiking node; u/v (int, (T, B, n)) if recorded."""

    spikes: dict[str, np.ndarray]
    u: dict[str, np.ndarray] = field(default_factory=dict)
    v: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


def simulate(graph: Graph, stimulus: np.ndarray, record_states: bool = False,
             input_name: Optional[str] = None) -> SimResult:
    """Run ``graph`` on ``stimulus`` of shape (T, B, *input_shape) (binary spikes)."""
    stimulus = np.asarray(stimulus)
    if stimulus.ndim < 2:
        raise SnnccError(f"stimulus must be (time, batch, *input_shape), got shape {stimulus.shape}",
                         "pass spikes with a time and a batch axis")
    steps, batch = stimulus.shape[:2]
    inputs = graph.input_names
    input_name = input_name or inputs[0]
    want = tuple(graph.node(input_name).shape)
    if tuple(stimulus.shape[2:]) != want and int(np.prod(stimulus.shape[2:])) != int(np.prod(want)):
        raise SnnccError(f"input shape {tuple(stimulus.shape[2:])} does not match the network's "
                         f"input {want}", "pass data shaped (samples, time, *input_shape)")
    flat = stimulus.reshape(steps, batch, -1).astype(np.int64)

    order = graph.order()
    execs: dict[str, Executor] = {}
    for name in order:
        node = graph.node(name)
        cls = EXECUTORS.get(node.kind)
        if cls is None:
            raise SnnccError(f"the simulator cannot run node {name!r} of kind {node.kind!r}",
                             "quantize the graph first (snncc compile) so it holds fixed-point nodes")
        execs[name] = cls(node, batch, flat) if cls is InputExec else cls(node, batch)

    spiking = [n for n in order if execs[n].spiking]
    res = SimResult(spikes={n: np.zeros((steps, batch, flat.shape[2] if isinstance(execs[n], InputExec)
                                          else execs[n].v.shape[1]), dtype=execs[n].out_dtype)
                            for n in spiking})
    neurons = [n for n in order if execs[n].records_states]
    if record_states:
        for n in neurons:
            res.u[n] = np.zeros((steps, batch, execs[n].u.shape[1]), dtype=np.int32)
            res.v[n] = np.zeros_like(res.u[n])
    feeds = {n: graph.inputs_of(n) + graph.recurrent_inputs_of(n) for n in order}
    outputs = graph.output_names
    for n in outputs:
        res.outputs[n] = None  # filled below
    out_steps = {n: [] for n in outputs}

    for t in range(steps):
        values: dict[str, np.ndarray] = {}
        for name in order:          # phase 1: emit
            ex = execs[name]
            ins = [values[s] if s in values else execs[s].emit(t, []) for s in feeds[name]]
            values[name] = ex.emit(t, ins)
        for name in order:          # phase 2: delayed nodes accumulate step-t inputs
            if execs[name].delayed:
                execs[name].accumulate(t, [values[s] for s in feeds[name]])
        for n in spiking:
            res.spikes[n][t] = values[n]
        for n in outputs:
            out_steps[n].append(values[n])
        if record_states:
            for n in neurons:
                res.u[n][t] = execs[n].u
                res.v[n][t] = execs[n].v
    for n in outputs:
        res.outputs[n] = np.stack(out_steps[n]).astype(execs[graph.inputs_of(n)[0]].out_dtype)
    return res
