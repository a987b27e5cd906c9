"""Lava's fixed_pt ``Dense`` on whole time series: one exact matmul for all steps.

A Dense's output at step ``t`` is what it computed from its input at ``t - 1`` (zero at
step 0), so a layer's synapses for all ``T`` steps are one ``((T-1)*B, K) @ (K, N)``
product.  Split-sign matrices are two Lava Dense processes (each clipped/truncated by its
own inferred sign mode, each shifted by ``weight_exp`` on its own); they share one product
with their columns side by side.  The bias axon adds ``bias << bias_exp`` from step
``bias_start + 1`` on.  The output is float64 holding integers when its bound is below
``2**53`` (shifts by ``2**e`` and floors are exact there), else int64.
"""
from __future__ import annotations

import numpy as np

from snncc import fixedpoint as fx
from snncc.ir import FxDense

from .exact import F64_LIMIT, ExactMatmul, floor_shift
from .xp import Array, Ops


class DenseKernel:
    """One FxDense prepared on the array backend."""

    def __init__(self, ops: Ops, node: FxDense) -> None:
        self.ops = ops
        self.node = node
        parts = fx.split_by_sign(node.weight) if node.split_sign else (node.weight,)
        effective = [fx.lava_effective_weights(p).T for p in parts]       # (K, N) each
        self.n_out = int(node.weight.shape[0])
        self.n_parts = len(effective)
        self.matmul = ExactMatmul(ops, np.concatenate(effective, axis=1))
        # max over outputs of sum over inputs and parts of |W|: bounds |sum_parts x @ W_p|
        self.col_sum = int(sum(np.abs(e).sum(axis=0) for e in effective).max(initial=0))
        self.bias_np = None
        if node.bias is not None:
            self.bias_np = fx.shift_activation(np.asarray(node.bias, dtype=np.int64).reshape(-1),
                                               node.bias_exp)
        self._bias: dict = {}

    def out_bound(self, x_bound: int) -> int:
        """A bound on ``|output|`` for inputs bounded by ``x_bound``."""
        total, exp = x_bound * self.col_sum, self.node.weight_exp
        shifted = total << exp if exp >= 0 else (total >> -exp) + self.n_parts
        return shifted + (int(np.abs(self.bias_np).max(initial=0)) if self.bias_np is not None else 0)

    def _bias_as(self, dtype) -> Array:
        if dtype not in self._bias:
            self._bias[dtype] = self.ops.asarray(self.bias_np, dtype=dtype)
        return self._bias[dtype]

    def synapse(self, x: Array, x_bound: int, dtype) -> Array:
        """``sum_parts shift(x @ W_part)`` for x (M, K) as ``dtype`` (float64 or int64).

        For float64 the result may come back as float32 where that holds it exactly.
        """
        ops, n, exp = self.ops, self.n_out, self.node.weight_exp
        y = self.matmul(x, x_bound)
        as_float = dtype == ops.float64
        if as_float and self.n_parts == 1 and not exp:
            return y            # float32/float64 holding the exact integers
        if not as_float:
            y = ops.astype(y, ops.int64)
        out = None
        for p in range(self.n_parts):
            part = y[:, p * n:(p + 1) * n] if self.n_parts > 1 else y
            if as_float:
                part = ops.astype(part, ops.float64)
                if exp:
                    part = part * (2.0 ** exp)
                    if exp < 0:
                        ops.floor_(part)
            else:
                part = floor_shift(ops, part, exp)
            out = part if out is None else out + part
        return out

    def run(self, x: Array, x_bound: int) -> tuple[Array, int]:
        """Output for all steps (T, B, N) from inputs x (T, B, K), and its bound."""
        ops = self.ops
        steps, batch = int(x.shape[0]), int(x.shape[1])
        bound = self.out_bound(x_bound)
        dtype = ops.float64 if bound < F64_LIMIT else ops.int64
        out = ops.empty((steps, batch, self.n_out), dtype)
        out[0] = 0
        if steps > 1:
            flat = x[:steps - 1].reshape((steps - 1) * batch, -1)
            out[1:] = self.synapse(flat, x_bound, dtype).reshape(steps - 1, batch, self.n_out)
        start = max(self.node.bias_start + 1, 1)
        if self.bias_np is not None and start < steps:
            out[start:] += self._bias_as(dtype)
        return out, bound

    def step(self, x_t: Array, t: int, x_bound: int) -> Array:
        """The int64 buffer a Dense fills at step ``t`` (delivered at ``t + 1``) from x_t (B, K)."""
        out = self.synapse(x_t.reshape(x_t.shape[0], -1), x_bound, self.ops.int64)
        if self.bias_np is not None and t >= self.node.bias_start:
            out = out + self._bias_as(self.ops.int64)
        return out
