"""Lava's ``DelayDense`` (per-synapse delays) and ``LIFReset`` (periodic reset) in the reference
stepper and the vectorized runners.  Semantics and sources: :mod:`snncc.ir.delays`,
:mod:`snncc.ir.reset`.

DelayDense: the synapses of each delay ``k`` form one masked matrix; its product with the
input of step ``t`` is shifted by ``weight_exp`` on its own (Lava shifts each delay slot's
sum) and delivered at ``t + 1 + k``.  LIFReset: the stock LIF whose state is cleared at the
start of the reset steps; between two resets it is an ordinary LIF started from zero, so the
vectorized runner runs the LIF kernel on each segment.
"""
from __future__ import annotations

import numpy as np

from snncc.errors import SnnccError
from snncc.ir import FxDelayDense, FxLIFReset, FxNeuron
from snncc.targets.loihi import fixedpoint as fx

from .dense import Delayed
from .exact import ExactMatmul, exact_dtype
from .neuron import NeuronKernel
from .registry import register_kernel
from .stepper import Executor, NeuronExec, executor


def delay_parts(node: FxDelayDense) -> list[tuple[int, np.ndarray]]:
    """``[(k, W_k)]``: the weights Lava's fixed_pt DelayDense uses, one masked matrix per delay.

    Lava clips/truncates the whole matrix by the sign mode it infers from it (as a Dense).
    """
    w = fx.lava_effective_weights(np.asarray(node.weight, dtype=np.int64))
    d = np.asarray(node.delay, dtype=np.int64)
    return [(int(k), np.where(d == k, w, 0)) for k in np.unique(d)]


@executor(FxDelayDense.kind)
class DelayDenseExec(Executor):
    """``a[t] = sum_k shift(W_k @ s[t - 1 - k], weight_exp)`` (a queue of future buffers)."""

    delayed = True

    def __init__(self, node: FxDelayDense, batch):
        super().__init__(node, batch)
        self.parts = [(k, np.ascontiguousarray(w.T, dtype=np.float64)) for k, w in delay_parts(node)]
        n = int(node.weight.shape[0])
        self.queue = [np.zeros((batch, n), np.int64) for _ in range(node.max_delay + 1)]

    def emit(self, t, inputs):
        return self.queue[0]

    def accumulate(self, t, inputs):
        s = np.asarray(inputs[0]).reshape(self.batch, -1).astype(np.float64)
        self.queue = self.queue[1:] + [np.zeros_like(self.queue[0])]
        for k, w in self.parts:       # float64 is exact: |sum| << 2**53 for Lava's inputs
            self.queue[k] = self.queue[k] + fx.shift_activation(np.rint(s @ w).astype(np.int64),
                                                                 self.node.weight_exp)


def _stock(node: FxNeuron) -> None:
    if not FxNeuron.is_stock_lif.fget(node):
        raise SnnccError(f"{node.name!r}: a periodic reset (Lava's LIFReset) is only defined for "
                         "the stock LIF dynamics", "drop the reset interval, or the generalised "
                         "neuron features (delayed/multiplicative reset, floor, input gain)")


@executor(FxLIFReset.kind)
class LIFResetExec(NeuronExec):
    """Lava ``LIFReset`` (PyLifResetModelBitAcc): u = v = 0 at the reset steps, then LIF."""

    def __init__(self, node: FxLIFReset, batch):
        _stock(node)
        super().__init__(node, batch)

    def emit(self, t, inputs):
        if self.node.resets_at(t):
            self.u = np.zeros_like(self.u)
            self.v = np.zeros_like(self.v)
        return super().emit(t, inputs)


@register_kernel(FxDelayDense)
class DelayDenseKernel(Delayed):
    """One FxDelayDense for the vectorized runners: one exact matmul per delay value."""

    def __init__(self, ops, node: FxDelayDense) -> None:
        self.ops, self.node = ops, node
        self.exp = int(node.weight_exp)
        self.n_out = int(node.weight.shape[0])
        parts = delay_parts(node)
        self.parts = [(k, ExactMatmul(ops, w.T, self.exp)) for k, w in parts]
        self.col_sums = [int(np.abs(w).sum(axis=1).max(initial=0)) for _, w in parts]

    def out_bound(self, x_bound: int) -> int:
        total = 0
        for s in self.col_sums:
            b = x_bound * s
            total += (b << self.exp) if self.exp >= 0 else (b >> -self.exp) + 1
        return total

    def _part(self, matmul: ExactMatmul, flat, x_bound: int):
        """``shift(flat @ W_k)`` for one delay, int64 (exact)."""
        ops = self.ops
        y, scaled = matmul(flat, x_bound)
        if scaled:
            if self.exp < 0:
                y = ops.floor(y)
            return ops.astype(y, ops.int64)
        return y << self.exp if self.exp >= 0 else y >> -self.exp

    def run(self, x, x_bound: int):
        ops = self.ops
        steps, batch = int(x.shape[0]), int(x.shape[1])
        out = ops.zeros((steps, batch, self.n_out), ops.int64)
        for k, matmul in self.parts:
            m = steps - 1 - k
            if m <= 0:
                continue
            flat = x[:m].reshape(m * batch, int(x.shape[2]))
            out[1 + k:] += self._part(matmul, flat, x_bound).reshape(m, batch, self.n_out)
        bound = self.out_bound(x_bound)
        return ops.astype(out, exact_dtype(ops, bound)), bound

    def start(self, batch: int) -> None:
        self.queue = [self.ops.zeros((batch, self.n_out), self.ops.int64)
                      for _ in range(self.node.max_delay + 1)]

    def emit(self):
        return self.queue[0]

    def accumulate(self, x_t, t: int, x_bound: int) -> None:
        flat = x_t.reshape(int(x_t.shape[0]), int(np.prod(tuple(x_t.shape[1:]))))
        self.queue = self.queue[1:] + [self.ops.zeros(tuple(self.queue[0].shape), self.ops.int64)]
        for k, matmul in self.parts:
            self.queue[k] = self.queue[k] + self._part(matmul, flat, x_bound)


@register_kernel(FxLIFReset)
class LIFResetKernel(NeuronKernel):
    """LIFReset for the vectorized runners: the LIF kernel on each segment between resets."""

    def __init__(self, ops, node: FxLIFReset) -> None:
        _stock(node)
        super().__init__(ops, node)

    def run(self, a_in, a_bound: int, record: bool = False, rows: int = 0, pool=None,
            t0: int = 0, state=None, total_steps=None):
        """The LIF kernel on each piece of the window between resets (state cleared at each)."""
        ops = self.ops
        steps, batch = int(a_in.shape[0]), int(a_in.shape[1])
        state = state or self.new_state(batch)
        cuts = sorted({0, steps} | {t - t0 for t in range(t0, t0 + steps)
                                    if self.node.resets_at(t)})
        pieces = []
        for a, b in zip(cuts[:-1], cuts[1:]):
            if self.node.resets_at(t0 + a):
                state.u = ops.zeros((batch, self.n), ops.int64)
                state.v = ops.zeros((batch, self.n), ops.int64)
                state.fired = ops.zeros((batch, self.n), ops.bool_)
            pieces.append(super().run(a_in[a:b], a_bound, record, rows, pool, t0=t0 + a,
                                      state=state, total_steps=total_steps))
        return tuple(ops.concat([p[i] for p in pieces], 0) if pieces[0][i] is not None else None
                     for i in range(3))

    def step(self, a_t, t: int):
        if self.node.resets_at(t):
            ops = self.ops
            if self.float_mode:
                for name in ("u", "v", "fired"):
                    arr = getattr(self.state, name)
                    arr *= 0
            self.u = ops.zeros(tuple(self.u.shape), ops.int64)
            self.v = ops.zeros(tuple(self.v.shape), ops.int64)
            self.fired = ops.zeros(tuple(self.fired.shape), ops.bool_)
            self.fired_t = ops.zeros(tuple(self.fired.shape), ops.bool_)
        return super().step(a_t, t)
