"""Lava's fixed_pt ``Conv`` and snncc's delay lines on whole time series.

A Conv, like a Dense, answers step ``t - 1``'s input at step ``t``, so all ``T - 1`` input
steps of all samples are one batch of images: one im2col matrix (channel-last windows) and
one exact matmul (``exact.py``; no FFT or Winograd, whose intermediate fractions would
round).  As in
``PyConvModelFixed`` (and the stepper) the kernel has its exponent baked in (``w << exp``),
the sum wraps to 24 bits (two's complement) and the bias axon is added after the wrap.
A delay line emits at ``t`` its input's spikes of ``t - delay``: a shifted copy.

On numpy with numba (``jit.py``), binary spikes below a measured density skip im2col: each
spike adds its kernel weights to the outputs it reaches (``events_jit.spike_conv``), exact
under the same bound as the matmul.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from snncc.convmath import dense_weight
from snncc.ir import FxConv, FxDelay

from . import conv_lut, events_jit, jit
from .dense import Delayed, SynapseKernel
from .exact import ExactMatmul
from .registry import register_kernel
from .xp import Array, Ops

CONV_BITS = 24          # Lava's Conv wraps its output to 24 bits (utils.signed_clamp)
IM2COL_ELEMENTS = 1 << 22   # patches per block of images (16 MiB in float32)
HALF = 1 << (CONV_BITS - 1)
# the path of binary inputs: None chooses per call from the measured density (see
# ``ConvKernel._binary_path``); "events", "lut" or "matmul" force one (tests, benchmarks)
CONV_PATH: Optional[str] = None


@register_kernel(FxConv)
class ConvKernel(SynapseKernel):
    """One FxConv prepared on the array backend (input and output flattened C, H, W)."""

    def __init__(self, ops: Ops, node: FxConv) -> None:
        self.ops, self.node = ops, node
        spec = node.spec()
        weight = np.asarray(dense_weight(spec), dtype=np.int64)
        self.exp = int(node.weight_exp)           # baked into the kernel, as Lava does
        self.c_in, self.h, self.w = (int(s) for s in node.in_shape)
        self.c_out, self.ho, self.wo = (int(s) for s in node.out_shape)
        self.kernel, self.stride, self.padding = spec.kernel, spec.stride, spec.padding
        self.n_out = self.c_out * self.ho * self.wo
        # im2col columns in (c_in, dy, dx) order match weight.reshape(C_out, C_in * kh * kw)
        self.matmul = ExactMatmul(ops, weight.reshape(self.c_out, -1).T, self.exp)
        self._init_bias(node)
        self.groups = int(spec.groups)
        self.events = ops.name == "numpy" and jit.available()
        self._event_w: dict = {}
        self._lut: dict = {}
        window = (self.c_in // self.groups,) + tuple(self.kernel)
        self._layout = conv_lut.layout(self.c_in, self.groups, self.kernel[1], self.w,
                                       self.padding[1])
        self._lut_fits = conv_lut.table_bytes(*window, self._layout, self.c_out,
                                              groups=self.groups) <= conv_lut.MAX_TABLE_BYTES
        self._block = conv_lut.block_width(self.c_out // self.groups)
        self._lut_ops = self.ho * self.wo * self.groups * \
            conv_lut.chunking(*window, self._layout)[0]
        self._tables = events_jit.conv_tables(
            events_jit.taps(self.h, self.w, self.kernel, self.stride, self.padding,
                            (self.ho, self.wo)),
            self.c_in, self.h * self.w, self.c_out, self.groups)

    def _events_weight(self, dtype) -> np.ndarray:
        """(kh * kw, C_in, C_out / groups) scaled weights for the event loop, flat."""
        if dtype not in self._event_w:
            w = np.asarray(self.node.weight, dtype=np.float64) * 2.0 ** self.exp
            g, (kh, kw) = self.groups, self.kernel
            cog, cig = self.c_out // g, self.c_in // g
            # [dy, dx, g * cig + c, j] = weight[g * cog + j, c, dy, dx]
            w = w.reshape(g, cog, cig, kh, kw).transpose(3, 4, 0, 2, 1)
            self._event_w[dtype] = np.ascontiguousarray(w.reshape(-1), dtype=dtype)
        return self._event_w[dtype]

    def _binary_path(self, x: Array, x_bound: int) -> Optional[str]:
        """"events", "lut" or None (im2col + matmul) for inputs x (M, C_in*H*W).

        Binary spikes on numpy with numba (not on the limb path) take the cheaper of the
        event loop (a weight-row add per spike and tap: measured density times the tap
        entries) and the pattern tables (``conv_lut.py``: ``ceil(K / 8)`` row adds per
        output position and group, if its tables fit in L2); the event loop only below
        its measured density limit, else the tables, else the matmul.
        """
        if not (self.events and self.matmul.path(x_bound) != "limbs"
                and x.dtype == np.bool_ and x.size > 0):
            return None
        if CONV_PATH is not None:
            return None if CONV_PATH == "matmul" else CONV_PATH
        d = events_jit.density(x)
        if self._lut_fits and self._lut_ops <= d * len(self._tables[1]):
            return "lut"
        if d < events_jit.conv_event_density(self.c_out):
            return "events"
        return "lut" if self._lut_fits else None

    def _lut_conv(self, x: Array, y: np.ndarray) -> None:
        """The conv sums of spikes x into y (M, C_out*Ho*Wo) by the pattern tables."""
        if y.dtype not in self._lut:
            self._lut[y.dtype] = conv_lut.tables(
                np.asarray(self.node.weight), self.exp, (self.c_in, self.h, self.w),
                (self.ho, self.wo), self.stride, self.padding, self.groups, y.dtype,
                self._layout, self._block)
        lut, gather, n_chunks, bits = self._lut[y.dtype]
        x8, cog = np.ascontiguousarray(x).view(np.uint8), self.c_out // self.groups
        kw = self.kernel[1]
        per = bits // kw if self._layout == "rows" else 0
        x64 = x8.view(np.uint64) if x8.shape[1] % 8 == 0 else np.zeros((0, 0), np.uint64)
        conv_lut.lut_conv_blocks(conv_lut.MODES[self._layout], cog, bits, kw, per)(
            x8, x64, lut, gather, y, self.groups, n_chunks, self.ho * self.wo,
            self.h * self.w, self.w, self.padding[1], self.wo, self.stride[1])

    def _events(self, x: Array, x_bound: int, out: Optional[Array], path: str) -> Array:
        """The unwrapped conv sums of spikes x (M, C_in*H*W) as (M, C_out*Ho*Wo), by the
        event loop or the tables (``path``), in the float dtype the matmul would use (in
        ``out`` where it fits)."""
        w = self._events_weight(np.float32 if self.matmul.path(x_bound) == "float32"
                                else np.float64)
        m = int(x.shape[0])
        y = out if out is not None and out.dtype == w.dtype and out.flags.c_contiguous \
            else np.empty((m, self.n_out), w.dtype)
        if path == "lut":
            self._lut_conv(x, y)
            return y
        events_jit.spike_conv(self.c_out // self.groups)(
            np.ascontiguousarray(x).view(np.uint8), w, y, *self._tables, self.c_out,
            self.ho * self.wo)
        return y

    def _sums(self, x: Array, x_bound: int) -> tuple[Array, bool]:
        """``(y, scaled)``: channel-last sums (M * Ho * Wo, C_out): im2col and one matmul."""
        ops = self.ops
        path = self.matmul.path(x_bound)
        dtype = {"float32": ops.float32, "float64": ops.float64}.get(path, ops.int64)
        return self.matmul(self._im2col(x, dtype), x_bound)

    def _sum_bound(self, x_bound: int) -> int:
        return (x_bound * self.matmul.col_abs_sum) << self.exp

    def out_bound(self, x_bound: int) -> int:
        """A bound on ``|output|``: the wrap caps the sum at 2**23 unless it cannot reach it."""
        return min(self._sum_bound(x_bound), HALF) + self._bias_bound()

    def _im2col(self, x: Array, dtype) -> Array:
        """(M, C*H*W) -> (M * Ho * Wo, C * kh * kw) patches, zero padded, in ``dtype``.

        One copy into a padded channel-last buffer, then one copy of its window view.
        """
        ops, m = self.ops, int(x.shape[0])
        (ph, pw) = self.padding
        padded = ops.zeros((m, self.h + 2 * ph, self.w + 2 * pw, self.c_in), dtype)
        padded[:, ph:ph + self.h, pw:pw + self.w] = ops.permute(
            x.reshape(m, self.c_in, self.h, self.w), (0, 2, 3, 1))
        cols = ops.windows(padded, self.kernel, self.stride)          # (M, Ho, Wo, C, kh, kw)
        return cols.reshape(m * self.ho * self.wo, self.c_in * self.kernel[0] * self.kernel[1])

    def synapse(self, x: Array, x_bound: int, out: Optional[Array] = None) -> Array:
        """The wrapped conv sums of inputs x (M, C_in * H * W), as (M, C_out * Ho * Wo);
        written into ``out`` (same shape) when given."""
        ops, m = self.ops, int(x.shape[0])
        path = self._binary_path(x, x_bound)
        if path is not None:
            y = self._wrap(self._events(x, x_bound, out, path), x_bound)
        else:
            y, scaled = self._sums(x, x_bound)
            if not scaled:
                y = y << self.exp                             # limb path: int64, unscaled
            y = self._wrap(y, x_bound)
            y = ops.permute(y.reshape(m, self.ho, self.wo, self.c_out), (0, 3, 1, 2))
        if out is None:
            return y.reshape(m, self.n_out)
        if y is not out:
            out.reshape(m, self.c_out, self.ho, self.wo)[...] = \
                y.reshape(m, self.c_out, self.ho, self.wo)
        return out

    def _wrap(self, y: Array, x_bound: int) -> Array:
        """Lava's two's-complement wrap of the sums to 24 bits (elementwise; a no-op when
        the sums cannot reach it)."""
        ops = self.ops
        if self._sum_bound(x_bound) < HALF:
            return y
        if y.dtype == ops.int64:
            return ((y + HALF) & (2 * HALF - 1)) - HALF
        y = ops.astype(y, ops.float64)
        return y - float(2 * HALF) * ops.floor(y * (1.0 / (2 * HALF)) + 0.5)

    def _fill(self, flat: Array, x_bound: int, target: Array, bias: bool = False) -> None:
        """Blocks of images, so the im2col buffer stays bounded; one or more a thread."""
        block = max(1, IM2COL_ELEMENTS // (self.ho * self.wo * int(self.matmul.weight.shape[0])))
        self._fill_parts(flat, x_bound, target, block, bias)


@register_kernel(FxDelay)
class DelayKernel(Delayed):
    """One FxDelay: the input's spikes (as 0/1) ``delay`` steps later, zeros before."""

    def __init__(self, ops: Ops, node: FxDelay) -> None:
        self.ops, self.node = ops, node
        self.delay = int(node.delay)
        self.n_out = int(np.prod(node.shape))

    @property
    def lag(self) -> int:
        return self.delay

    def out_bound(self, x_bound: int) -> int:
        return 1

    def run(self, x: Array, x_bound: int, t0: int = 0, prev: Optional[Array] = None
            ) -> tuple[Array, int]:
        """Steps ``t0 ..`` from inputs x (T, B, ...); ``prev``: the ``delay`` input steps
        before ``t0`` (None at the start: zeros)."""
        ops = self.ops
        steps, batch = int(x.shape[0]), int(x.shape[1])
        out = ops.zeros((steps, batch, self.n_out), ops.bool_)
        head = min(self.delay, steps)
        if prev is not None and head:
            out[:head] = prev[:head].reshape(head, batch, self.n_out) != 0
        if steps > self.delay:
            out[self.delay:] = x[:steps - self.delay].reshape(steps - self.delay, batch,
                                                              self.n_out) != 0
        return out, 1

    def start(self, batch: int) -> None:
        zeros = self.ops.zeros((batch, self.n_out), self.ops.bool_)
        self.queue = [zeros] * self.delay

    def emit(self) -> Array:
        return self.queue[0]

    def accumulate(self, x_t: Array, t: int, x_bound: int) -> None:
        self.queue = self.queue[1:] + [x_t.reshape(int(x_t.shape[0]), self.n_out) != 0]
