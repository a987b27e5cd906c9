"""Lava's fixed_pt ``Dense`` on whole time series: one exact matmul for all steps.

A Dense's output at step ``t`` is what it computed from its input at ``t - 1`` (zero at
step 0), so a layer's synapses for all ``T`` steps are one ``((T-1)*B, K) @ (K, N)``
product.  Split-sign matrices are two Lava Dense processes, each clipped/truncated by its
own inferred sign mode and each shifted by ``weight_exp`` on its own.  With ``weight_exp
>= 0`` the shifts are exact, so the two parts add into one matrix; with a negative
exponent each part's sum is floored on its own, so they share one product with their
columns side by side.  The exponent is folded into the weights (see ``exact.py``).  The bias
axon adds ``bias << bias_exp`` from step ``bias_start + 1`` on.  The output holds exact
integers in the narrowest of float32 / float64 / int64 that its bound allows.

On numpy with numba (``jit.py``), a product with binary spikes below a measured spike
density runs event-driven instead of as a matmul (``events_jit.py``), on the same scaled
weights and so under the same exactness bound.
"""
from __future__ import annotations

from concurrent.futures import Executor
from typing import Optional

import numpy as np

from snncc.targets.loihi import fixedpoint as fx
from snncc.ir import FxDense

from . import events_jit, jit
from .exact import ExactMatmul, exact_dtype, floor_shift
from .registry import register_kernel
from .xp import Array, Ops


class Delayed:
    """Stepping interface of a node whose output arrives later (Dense, Conv, delay line).

    For cycles stepped in time: :meth:`emit` is this step's output, :meth:`accumulate`
    absorbs this step's input (the stepper's two phases).  Subclasses define ``step``
    (the output that ``x_t`` produces one step later) and ``n_out``.
    """

    n_out: int

    def start(self, batch: int) -> None:
        self.buffer = self.ops.zeros((batch, self.n_out), self.ops.int64)

    def emit(self) -> Array:
        return self.buffer

    def accumulate(self, x_t: Array, t: int, x_bound: int) -> None:
        self.buffer = self.step(x_t, t, x_bound)


class SynapseKernel(Delayed):
    """What a Dense and a Conv share: a synapse computed for all steps at once, delivered one
    step later, plus the bias axon (a Lava Dense column) from ``bias_start + 1`` on.

    Subclasses set ``ops``, ``node``, ``n_out``, call :meth:`_init_bias` and define
    ``synapse(x (M, K), x_bound, out=None) -> (M, n_out)`` and ``out_bound``.

    Time windows: an output depends on the previous ``lag`` input steps only, so a window
    of a long run needs the last ``lag`` input steps of the window before (``prev``).
    """

    lag = 1

    def _init_bias(self, node) -> None:
        self.bias_np = None
        if node.bias is not None:   # the bias axon is a Lava Dense column
            column = fx.lava_effective_weights(np.asarray(node.bias).reshape(-1, 1))
            self.bias_np = fx.shift_activation(column.reshape(-1), node.bias_exp)
        self._bias: dict = {}

    def _bias_bound(self) -> int:
        return 0 if self.bias_np is None else int(np.abs(self.bias_np).max(initial=0))

    def _bias_as(self, dtype) -> Array:
        if dtype not in self._bias:
            self._bias[dtype] = self.ops.asarray(self.bias_np, dtype=dtype)
        return self._bias[dtype]

    # the plan's worker threads (numpy on a multi-core CPU; set by ``Plan``): a Conv cuts a
    # window's rows into one part a thread, each computed apart (the compiled loops release
    # the GIL; the rows are independent, so the results do not change)
    pool: Optional[Executor] = None
    threads: int = 1
    MIN_PART_ROWS = 256

    def _parts(self, rows: int, block: int) -> list[slice]:
        """Row blocks of at most ``block`` rows, cut finer to give every thread a part."""
        if self.pool is not None and self.threads > 1 and rows >= 2 * self.MIN_PART_ROWS:
            block = min(block, max(self.MIN_PART_ROWS, -(-rows // self.threads)))
        return [slice(m0, min(m0 + block, rows)) for m0 in range(0, rows, max(block, 1))]

    def _fill_parts(self, flat: Array, x_bound: int, target: Array, block: int,
                    bias: bool) -> None:
        """:meth:`_fill_one` on each of :meth:`_parts`, on the pool's threads when there is
        one."""
        parts = self._parts(int(flat.shape[0]), block)
        if len(parts) == 1 or self.pool is None or self.threads <= 1:
            for sl in parts:
                self._fill_one(flat[sl], x_bound, target[sl], bias)
            return
        for future in [self.pool.submit(self._fill_one, flat[sl], x_bound, target[sl], bias)
                       for sl in parts]:
            future.result()

    def _fill_one(self, flat: Array, x_bound: int, target: Array, bias: bool) -> None:
        """The synapse of ``flat`` into ``target``, plus the bias axon when ``bias`` (while
        the rows are in the cache)."""
        y = self.synapse(flat, x_bound, target)
        if y is not target:
            target[...] = y
        if bias:
            target += self._bias_as(target.dtype)

    def _fill(self, flat: Array, x_bound: int, target: Array, bias: bool = False) -> None:
        """Write the synapse of ``flat`` (M, K) into ``target`` (M, n_out), plus the bias
        axon on every row when ``bias``: one product (a matmul threads by itself; the event
        loop on threads was measured slower than on one on the bench MLPs, whose layers are
        small: ``bench/run_all.py``)."""
        self._fill_parts(flat, x_bound, target, 1 << 62, bias)

    def run(self, x: Array, x_bound: int, t0: int = 0, prev: Optional[Array] = None
            ) -> tuple[Array, int]:
        """Output (T, B, n_out) for steps ``t0 ..`` from inputs x (T, B, K), and its bound.

        ``prev``: the inputs of the ``lag`` steps before ``t0`` ((lag, B, K); None at the
        start of the run, when the first output is zero).  ``x_bound`` bounds both.
        """
        ops = self.ops
        steps, batch = int(x.shape[0]), int(x.shape[1])
        bound = self.out_bound(x_bound)
        out = ops.empty((steps, batch, self.n_out), exact_dtype(ops, bound))
        if not steps:
            return out, bound
        if prev is None:
            out[0] = 0
        else:
            self._fill(prev[-1].reshape(batch, int(x.shape[2])), x_bound, out[0])
        start = max(self.node.bias_start + 1, 1) - t0        # the first row with the bias
        fold = self.bias_np is not None and start <= 1          # rows 1.. all have it
        if steps > 1:
            flat = x[:steps - 1].reshape((steps - 1) * batch, int(x.shape[2]))
            self._fill(flat, x_bound, out[1:].reshape((steps - 1) * batch, self.n_out), fold)
        end = 1 if fold else steps                              # rows left to add it to
        if self.bias_np is not None and max(start, 0) < end:
            out[max(start, 0):end] += self._bias_as(out.dtype)
        return out, bound

    def step(self, x_t: Array, t: int, x_bound: int) -> Array:
        """The int64 buffer filled at step ``t`` (delivered at ``t + 1``) from x_t (B, ...)."""
        ops = self.ops
        flat = x_t.reshape(int(x_t.shape[0]), int(np.prod(tuple(x_t.shape[1:]))))
        out = ops.astype(self.synapse(flat, x_bound), ops.int64)
        if self.bias_np is not None and t >= self.node.bias_start:
            out = out + self._bias_as(ops.int64)
        return out


@register_kernel(FxDense)
class DenseKernel(SynapseKernel):
    """One FxDense prepared on the array backend."""

    def __init__(self, ops: Ops, node: FxDense) -> None:
        self.ops, self.node = ops, node
        parts = fx.split_by_sign(node.weight) if node.split_sign else (node.weight,)
        effective = [fx.lava_effective_weights(p).T for p in parts]       # (K, N) each
        self.n_out, self.exp = int(node.weight.shape[0]), int(node.weight_exp)
        if self.exp >= 0 or len(effective) == 1:
            effective = [sum(effective)]                 # exact shifts: the parts just add
        self.n_parts = len(effective)
        self.matmul = ExactMatmul(ops, np.concatenate(effective, axis=1), self.exp)
        # max over outputs of sum over inputs and parts of |W|: bounds |sum_parts x @ W_p|
        self.col_sum = int(sum(np.abs(e).sum(axis=0) for e in effective).max(initial=0))
        self._init_bias(node)
        self.events = ops.name == "numpy" and jit.available()

    def out_bound(self, x_bound: int) -> int:
        """A bound on ``|output|`` for inputs bounded by ``x_bound``."""
        total = x_bound * self.col_sum
        shifted = total << self.exp if self.exp >= 0 else (total >> -self.exp) + self.n_parts
        return shifted + self._bias_bound()

    def synapse(self, x: Array, x_bound: int, out: Optional[Array] = None) -> Array:
        """``sum_parts shift(x @ W_part)`` for x (M, K): exact integers (float or int64).

        With one part the product may land in ``out`` (then that is what is returned).
        """
        ops, n = self.ops, self.n_out
        y, scaled = None, True
        if self.events and self.matmul.path(x_bound) != "limbs" and \
                events_jit.prefer_events(x, events_jit.DENSE_EVENT_DENSITY):
            w = self.matmul.scaled_weight(x_bound)
            y = out if out is not None and self.n_parts == 1 and out.dtype == w.dtype \
                and out.flags.c_contiguous else np.empty((int(x.shape[0]), int(w.shape[1])), w.dtype)
            events_jit.spike_matmul(np.ascontiguousarray(x).view(np.uint8), w, y)
        else:
            y, scaled = self.matmul(x, x_bound, out if self.n_parts == 1 else None)
        if not scaled:                                   # int64 limb product: shift it
            parts = [y[:, p * n:(p + 1) * n] for p in range(self.n_parts)]
            out = floor_shift(ops, parts[0], self.exp)
            for part in parts[1:]:
                out = out + floor_shift(ops, part, self.exp)
            return out
        if self.exp < 0:
            ops.floor_(y)                                # y = x @ W / 2**k: floor each part
        return y if self.n_parts == 1 else y[:, :n] + y[:, n:]
