"""2-D convolution arithmetic in numpy: forward, adjoint, and exact composition of two convs.

Everything here works on PyTorch's layout: activations ``(batch, C, H, W)``, kernels
``(C_out, C_in / groups, kh, kw)``, cross-correlation (no kernel flip), zero padding.  Pure
numpy, so the simulator in the Python 3.10 Lava env imports it.

Composition is what lets the compiler map pooling exactly: a pool is a depthwise conv with a
constant kernel, and two linear maps in a row (pool then conv, conv then pool, conv then
batch-norm) are one conv.  :func:`compose` checks the conditions under which the composed
conv reads no input the original pair did not read (see its docstring).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

Pair = tuple[int, int]


def pair(value) -> Pair:
    """(v, v) from an int, (a, b) from a pair."""
    if np.isscalar(value):
        return int(value), int(value)
    a, b = value
    return int(a), int(b)


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a conv along one axis (PyTorch's floor rule, dilation 1)."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass
class ConvSpec:
    """A bias-free 2-D conv: ``weight`` (C_out, C_in/groups, kh, kw), stride, padding, groups."""

    weight: np.ndarray
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    groups: int = 1

    @property
    def kernel(self) -> Pair:
        return int(self.weight.shape[2]), int(self.weight.shape[3])

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    def in_channels(self) -> int:
        return int(self.weight.shape[1]) * self.groups

    @property
    def depthwise(self) -> bool:
        """One input channel per output channel, channel c to channel c (pools, batch-norm)."""
        return self.weight.shape[1] == 1 and self.groups == self.weight.shape[0]

    def out_hw(self, hw: Pair) -> Pair:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        return out_size(hw[0], kh, sh, ph), out_size(hw[1], kw, sw, pw)


def depthwise(channels: int, kernel: Pair, value: float | np.ndarray, stride: Pair = (1, 1),
              padding: Pair = (0, 0)) -> ConvSpec:
    """A depthwise conv whose kernel is ``value`` everywhere (per channel if an array)."""
    v = np.broadcast_to(np.asarray(value, dtype=np.float64).reshape(-1, 1, 1, 1),
                        (channels, 1) + tuple(kernel))
    return ConvSpec(np.array(v), pair(stride), pair(padding), channels)


def dense_weight(spec: ConvSpec) -> np.ndarray:
    """The kernel with groups expanded to a full (C_out, C_in, kh, kw) channel mixing."""
    w, g = spec.weight, spec.groups
    if g == 1:
        return w
    co, cg = w.shape[:2]
    og = co // g
    full = np.zeros((co, cg * g) + w.shape[2:], dtype=w.dtype)
    for k in range(g):
        full[k * og:(k + 1) * og, k * cg:(k + 1) * cg] = w[k * og:(k + 1) * og]
    return full


def _patches(xp: np.ndarray, dy: int, dx: int, out_hw: Pair, stride: Pair) -> np.ndarray:
    (ho, wo), (sh, sw) = out_hw, stride
    return xp[:, :, dy:dy + sh * (ho - 1) + 1:sh, dx:dx + sw * (wo - 1) + 1:sw]


def conv2d(x: np.ndarray, spec: ConvSpec, dtype=np.float64) -> np.ndarray:
    """``x`` (B, C_in, H, W) -> (B, C_out, Ho, Wo) in ``dtype``, one matmul per kernel tap.

    With integer ``x`` and weights and float64 this is exact while every partial sum stays
    below 2**53 (Lava's 8-bit weights on spikes: any realistic fan-in).
    """
    b, ci, h, w_ = x.shape
    (kh, kw), (ph, pw), g = spec.kernel, spec.padding, spec.groups
    ho, wo = spec.out_hw((h, w_))
    co, cg = spec.weight.shape[:2]
    if ci != cg * g:
        raise ValueError(f"conv expects {cg * g} input channels, got {ci}")
    xp = np.zeros((b, ci, h + 2 * ph, w_ + 2 * pw), dtype=dtype)
    xp[:, :, ph:ph + h, pw:pw + w_] = x
    wt = np.asarray(spec.weight, dtype=dtype)
    out = np.zeros((b, co, ho, wo), dtype=dtype)
    if spec.depthwise and ci == co:
        for dy in range(kh):
            for dx in range(kw):
                out += _patches(xp, dy, dx, (ho, wo), spec.stride) * wt[None, :, 0, dy, dx, None, None]
        return out
    og = co // g
    for dy in range(kh):
        for dx in range(kw):
            p = _patches(xp, dy, dx, (ho, wo), spec.stride)
            if g == 1:
                out += np.einsum("bchw,oc->bohw", p, wt[:, :, dy, dx], optimize=True)
            else:
                pg = p.reshape(b, g, cg, ho, wo)
                wg = wt[:, :, dy, dx].reshape(g, og, cg)
                out += np.einsum("bgchw,goc->bgohw", pg, wg, optimize=True).reshape(b, co, ho, wo)
    return out


def conv2d_transpose_rows(rows: np.ndarray, spec: ConvSpec, in_hw: Pair) -> np.ndarray:
    """Adjoint of :func:`conv2d` applied to each row: ``rows`` (O, C_out, Ho, Wo) -> (O, C_in, H, W).

    Row ``o`` of the result is the weight vector of ``rows[o] . conv(x)`` as a function of x:
    how a Linear layer after a conv (or pool) becomes one Linear on the conv's input.
    """
    o_, co, ho, wo = rows.shape
    (kh, kw), (sh, sw), (ph, pw), g = spec.kernel, spec.stride, spec.padding, spec.groups
    h, w_ = in_hw
    ci = spec.in_channels()
    cg, og = spec.weight.shape[1], co // g
    dtype = np.result_type(rows.dtype, spec.weight.dtype)
    acc = np.zeros((o_, ci, h + 2 * ph, w_ + 2 * pw), dtype=dtype)
    for dy in range(kh):
        for dx in range(kw):
            sl = (slice(None), slice(None), slice(dy, dy + sh * (ho - 1) + 1, sh),
                  slice(dx, dx + sw * (wo - 1) + 1, sw))
            wk = spec.weight[:, :, dy, dx]
            if spec.depthwise and ci == co:
                acc[sl] += rows * wk[None, :, 0, None, None]
            elif g == 1:
                acc[sl] += np.einsum("omhw,mc->ochw", rows, wk, optimize=True)
            else:
                rg = rows.reshape(o_, g, og, ho, wo)
                acc[sl] += np.einsum("ogmhw,gmc->ogchw", rg, wk.reshape(g, og, cg),
                                     optimize=True).reshape(o_, ci, ho, wo)
    return acc[:, :, ph:ph + h, pw:pw + w_]


class CompositionError(ValueError):
    """Two convs whose composition would read inputs the pair never reads (padding)."""


def compose(first: ConvSpec, second: ConvSpec, in_hw: Pair) -> ConvSpec:
    """One conv equal to ``second(first(x))`` for inputs of spatial size ``in_hw``.

    Composed: stride ``s1*s2``, padding ``s1*p2 + p1``, kernel ``s1*(k2-1) + k1`` with
    ``K[o, i, s1*d2 + d1] = sum_m W2[o, m, d2] W1[m, i, d1]``.  This is exact except where
    ``second`` reads its own zero padding: there the pair sees 0, but the composed conv
    would see the input under ``first``'s footprint.  So when ``p2 > 0`` it requires, per
    axis, ``k1 <= s1 + p1`` (the padded row before the first output reads only padding) and
    ``s1 * out1 - p1 >= size`` (the padded row after the last output reads only padding);
    e.g. a 2x2 pool before a padded conv needs an even input size.  With ``p2 == 0`` any
    pair composes.
    """
    mid_hw = first.out_hw(in_hw)
    for axis in range(2):
        k1, s1, p1 = first.kernel[axis], first.stride[axis], first.padding[axis]
        if second.padding[axis] > 0 and (k1 > s1 + p1 or s1 * mid_hw[axis] - p1 < in_hw[axis]):
            raise CompositionError(
                f"a {first.kernel} kernel with stride {first.stride} and padding "
                f"{first.padding} on a {tuple(in_hw)} input followed by a padded conv does not "
                "compose exactly (the second conv's zero padding would cover real inputs)")
    (s1h, s1w), (k2h, k2w) = first.stride, second.kernel
    k1h, k1w = first.kernel
    kh, kw = s1h * (k2h - 1) + k1h, s1w * (k2w - 1) + k1w
    stride = (s1h * second.stride[0], s1w * second.stride[1])
    padding = (s1h * second.padding[0] + first.padding[0], s1w * second.padding[1] + first.padding[1])
    w1, w2 = np.asarray(first.weight, np.float64), np.asarray(second.weight, np.float64)
    co, cm = second.out_channels, first.out_channels
    if first.depthwise:
        g = second.groups
        cg2 = w2.shape[1]
        mid = (np.arange(co)[:, None] // (co // g)) * cg2 + np.arange(cg2)[None, :]
        w1sel = w1[mid, 0]                                   # (co, cg2, k1h, k1w)
        w = np.zeros((co, cg2, kh, kw))
        for d2h in range(k2h):
            for d2w in range(k2w):
                w[:, :, s1h * d2h:s1h * d2h + k1h, s1w * d2w:s1w * d2w + k1w] += \
                    w2[:, :, d2h, d2w, None, None] * w1sel
        return ConvSpec(w, stride, padding, g)
    if second.depthwise:
        w = np.zeros((co, w1.shape[1], kh, kw))
        for d2h in range(k2h):
            for d2w in range(k2w):
                w[:, :, s1h * d2h:s1h * d2h + k1h, s1w * d2w:s1w * d2w + k1w] += \
                    w2[:, 0, d2h, d2w, None, None, None] * w1
        return ConvSpec(w, stride, padding, first.groups)
    d1, d2 = dense_weight(ConvSpec(w1, groups=first.groups)), dense_weight(ConvSpec(w2, groups=second.groups))
    assert d2.shape[1] == cm
    w = np.zeros((co, d1.shape[1], kh, kw))
    for d2h in range(k2h):
        for d2w in range(k2w):
            w[:, :, s1h * d2h:s1h * d2h + k1h, s1w * d2w:s1w * d2w + k1w] += \
                np.einsum("om,mihw->oihw", d2[:, :, d2h, d2w], d1, optimize=True)
    return ConvSpec(w, stride, padding, 1)


def bias_through(spec: ConvSpec, bias_map: np.ndarray) -> np.ndarray:
    """``spec`` applied to a constant-in-time bias map (C, H, W) -> (C_out, Ho, Wo)."""
    return conv2d(np.asarray(bias_map, np.float64)[None], spec)[0]


def full_bias(bias: Optional[np.ndarray], shape: tuple[int, ...]) -> Optional[np.ndarray]:
    """A per-channel (C,) or full (C, H, W) bias as a full float64 array of ``shape``."""
    if bias is None:
        return None
    b = np.asarray(bias, dtype=np.float64)
    if b.shape == tuple(shape):
        return b
    return np.broadcast_to(b.reshape((-1,) + (1,) * (len(shape) - 1)), shape).copy()


def compact_bias(bias_map: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """(C,) when a (C, H, W) bias is constant over each channel, else the map itself."""
    if bias_map is None:
        return None
    flat = bias_map.reshape(bias_map.shape[0], -1)
    if np.all(flat == flat[:, :1]):
        return flat[:, 0].copy()
    return bias_map
