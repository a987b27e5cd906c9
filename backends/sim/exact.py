"""Exact integer matrix products on float BLAS, with the bound that makes them exact.

A Dense sums ``x @ W`` over integers.  Floating point adds integers exactly while every
partial sum (and every operand) is an integer below the format's ``2**p`` (p = 24 for
float32, 53 for float64): then no operation rounds, in any summation order, blocking or
FMA use.  With ``|x| <= X`` and ``C = max_j sum_i |W[i, j]|`` every partial sum of output
``j`` is at most ``X * C``, so

* ``X * C < 2**24`` (and ``X, max|W| <= 256``): float32 is exact.  The 256 cap keeps the
  operands exact even where a GPU rounds float32 matmul inputs to TF32 (11 significant
  bits) or bfloat16 (8) under a reduced matmul precision setting;
* ``X * C < 2**53``: float64 is exact (no reduced-precision mode exists for it);
* otherwise ``x`` is cut into limbs of ``L`` bits with ``2**L * C < 2**53``; each limb
  product is exact in float64 and the limbs are recombined in int64 (modulo ``2**64``,
  which is what an int64 matmul gives).

A power-of-two ``scale`` folded into ``W`` changes no significand, only exponents: the
products and partial sums are the integers above times ``scale``, exact under the same
bounds (this is how a Dense's weight exponent costs no extra pass).

Spikes have ``X = 1`` and Lava's 8-bit weights ``|W| <= 256``, so float32 is exact up to a
fan-in of 65535, and float64 far beyond any network.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .xp import Array, Ops

F32_LIMIT = 2 ** 24
F64_LIMIT = 2 ** 53
LOW_PRECISION_OPERAND = 256     # exact in bfloat16 and TF32


def floor_shift(ops: Ops, acc: Array, exp: int) -> Array:
    """``acc << exp`` or ``acc >> -exp`` (arithmetic: rounds toward minus infinity), int64."""
    if exp > 0:
        return acc << exp
    return acc >> (-exp) if exp < 0 else acc


def exact_dtype(ops: Ops, bound: int) -> Any:
    """The narrowest of float32, float64, int64 that holds every integer up to ``bound``."""
    if bound < F32_LIMIT:
        return ops.float32
    return ops.float64 if bound < F64_LIMIT else ops.int64


class ExactMatmul:
    """``x @ (W * 2**exp)`` for an integer matrix ``W`` (K, N), exact for any integer ``x``."""

    def __init__(self, ops: Ops, weight: np.ndarray, exp: int = 0) -> None:
        w = np.asarray(weight, dtype=np.int64)
        self.ops, self.weight, self.exp = ops, w, int(exp)
        self.col_abs_sum = int(np.abs(w).sum(axis=0).max()) if w.size else 0
        self.w_max = int(np.abs(w).max()) if w.size else 0
        self._cache: dict[Any, Array] = {}

    def _w(self, dtype: Any, scaled: bool) -> Array:
        key = (dtype, scaled)
        if key not in self._cache:
            w = self.weight * 2.0 ** self.exp if scaled else self.weight
            self._cache[key] = self.ops.asarray(w, dtype=dtype)
        return self._cache[key]

    def path(self, x_bound: int) -> str:
        """Which arithmetic is exact for inputs with ``|x| <= x_bound``."""
        bound = x_bound * self.col_abs_sum
        if bound < F32_LIMIT and max(x_bound, self.w_max) <= LOW_PRECISION_OPERAND:
            return "float32"
        return "float64" if bound < F64_LIMIT else "limbs"

    def scaled_weight(self, x_bound: int) -> Array:
        """``W * 2**exp`` in the float dtype that is exact for ``|x| <= x_bound`` (not on the
        limb path): for loops that sum weight rows instead of calling a matmul."""
        dtype = self.ops.float32 if self.path(x_bound) == "float32" else self.ops.float64
        key = ("rows", dtype)
        if key not in self._cache:       # C order: each input's weights are one contiguous row
            self._cache[key] = np.ascontiguousarray(self.ops.to_numpy(self._w(dtype, True)))
        return self._cache[key]

    def __call__(self, x: Array, x_bound: int, out: Optional[Array] = None) -> tuple[Array, bool]:
        """``(y, scaled)``: on the float paths ``y = x @ W * 2**exp`` exactly (float32 or
        float64; fractional for exp < 0) and ``scaled`` is True; on the limb path ``y`` is
        the int64 ``x @ W`` and the caller applies the exponent.  ``x_bound`` bounds ``|x|``.
        ``out``, if its dtype is the one the exact path computes in, receives ``y``.
        """
        ops = self.ops
        path = self.path(x_bound)
        if path != "limbs":
            dtype = ops.float32 if path == "float32" else ops.float64
            target = out if out is not None and out.dtype == dtype else None
            return ops.matmul(ops.astype(x, dtype), self._w(dtype, True), target), True
        return self._limbs(ops.astype(x, ops.int64), x_bound), False

    def _limbs(self, x: Array, x_bound: int) -> Array:
        ops = self.ops
        bits = 52 - max(self.col_abs_sum, 1).bit_length()   # 2**bits * C < 2**52
        if bits < 1:
            raise ValueError("weight matrix too large for exact limb products")
        n_limbs = -(-(int(x_bound).bit_length() + 1) // bits)
        w = self._w(ops.float64, False)
        total = None
        for k in range(n_limbs):
            limb = x >> (k * bits)
            if k < n_limbs - 1:
                limb = limb & ((1 << bits) - 1)       # low limbs: [0, 2**bits)
            part = ops.astype(ops.matmul(ops.astype(limb, ops.float64), w), ops.int64)
            part = part << (k * bits)
            total = part if total is None else total + part
        return total
