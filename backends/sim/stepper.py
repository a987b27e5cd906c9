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
    """The stimulus: ``stimulus`` holds steps ``t0 ..`` (the current window)."""

    def __init__(self, node, batch, stimulus: Optional[np.ndarray]):
        super().__init__(node, batch)
        self.stimulus, self.t0 = stimulus, 0

    def emit(self, t, inputs):
        return self.stimulus[t - self.t0]


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
    steps, batch = stimulus.shape[:2] if stimulus.ndim >= 2 else (0, 0)
    res = SimResult(spikes={})
    for win in simulate_steps(graph, stimulus, record_states, input_name):
        for table, values in ((res.spikes, win.spikes), (res.outputs, win.outputs),
                              (res.u, win.u), (res.v, win.v)):
            for name, array in values.items():
                if name not in table:
                    table[name] = np.zeros((steps, batch) + array.shape[2:], array.dtype)
                table[name][win.t0:win.t0 + array.shape[0]] = array
    return res


def simulate_steps(graph: Graph, stimulus, record_states: bool = False,
                   input_name: Optional[str] = None, window: Optional[int] = None,
                   max_bytes: int = 64 * 2 ** 20):
    """The stepper's run, handed out ``window`` steps at a time (all samples at once).

    Yields :class:`snncc.backends.sim.vectorized.Window` objects in time order; memory is
    one window's, whatever T (``stimulus`` may be any array-like that slices).  The window
    defaults to what fits ``max_bytes`` of results.
    """
    from .vectorized import Window
    if getattr(stimulus, "ndim", 0) < 2:
        raise SnnccError(f"stimulus must be (time, batch, *input_shape), got shape "
                         f"{np.shape(stimulus)}", "pass spikes with a time and a batch axis")
    steps, batch = stimulus.shape[:2]
    inputs = graph.input_names
    input_name = input_name or inputs[0]
    want = tuple(graph.node(input_name).shape)
    if tuple(stimulus.shape[2:]) != want and int(np.prod(stimulus.shape[2:])) != int(np.prod(want)):
        raise SnnccError(f"input shape {tuple(stimulus.shape[2:])} does not match the network's "
                         f"input {want}", "pass data shaped (samples, time, *input_shape)")
    n_in = int(np.prod(stimulus.shape[2:]))
    order = graph.order()
    execs: dict[str, Executor] = {}
    for name in order:
        node = graph.node(name)
        cls = EXECUTORS.get(node.kind)
        if cls is None:
            raise SnnccError(f"the simulator cannot run node {name!r} of kind {node.kind!r}",
                             "quantize the graph first (snncc compile) so it holds fixed-point nodes")
        execs[name] = cls(node, batch, None) if cls is InputExec else cls(node, batch)
    sources = [ex for ex in execs.values() if isinstance(ex, InputExec)]   # all read x
    spiking = [n for n in order if isinstance(execs[n], (InputExec, NeuronExec))]
    if window is None:
        widths = sum(n_in if isinstance(execs[n], InputExec) else execs[n].v.shape[1]
                     for n in spiking)
        window = max(1, max_bytes // max(batch * widths * (9 if record_states else 1), 1))
    neurons = [n for n in order if isinstance(execs[n], NeuronExec)]
    feeds = {n: graph.inputs_of(n) + graph.recurrent_inputs_of(n) for n in order}
    outputs = graph.output_names
    for t0 in range(0, max(steps, 1), window):
        t1 = min(t0 + window, steps)
        part = np.asarray(stimulus[t0:t1]).reshape(t1 - t0, batch, n_in).astype(np.int64)
        for source in sources:
            source.stimulus, source.t0 = part, t0
        win = Window(t0, 0, {n: np.zeros((t1 - t0, batch, n_in if isinstance(
            execs[n], InputExec) else execs[n].v.shape[1]), dtype=bool) for n in spiking})
        if record_states:
            for n in neurons:
                win.u[n] = np.zeros((t1 - t0, batch, execs[n].u.shape[1]), dtype=np.int32)
                win.v[n] = np.zeros_like(win.u[n])
        out_steps = {n: [] for n in outputs}
        for t in range(t0, t1):
            values: dict[str, np.ndarray] = {}
            for name in order:          # phase 1: emit
                ex = execs[name]
                ins = [values[s] if s in values else execs[s].emit(t, []) for s in feeds[name]]
                values[name] = ex.emit(t, ins)
            for name in order:          # phase 2: delayed nodes accumulate step-t inputs
                if execs[name].delayed:
                    execs[name].accumulate(t, [values[s] for s in feeds[name]])
            for n in spiking:
                win.spikes[n][t - t0] = values[n]
            for n in outputs:
                out_steps[n].append(values[n])
            if record_states:
                for n in neurons:
                    win.u[n][t - t0] = execs[n].u
                    win.v[n][t - t0] = execs[n].v
        for n in outputs:
            win.outputs[n] = np.stack(out_steps[n]).astype(bool) if out_steps[n] else \
                np.zeros((0, batch) + np.shape(win.spikes[feeds[n][0]])[2:], bool)
        yield win
