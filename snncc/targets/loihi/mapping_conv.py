"""Loihi 2 costs of a convolution: weight reuse (Intel's conv encoding) or sparse synapses.

**Weight reuse** (``conv``, the default; what lava-dl's netx ``Conv`` gets from Intel's
compiler): a core stores the kernels of its tile's output channels once and applies them at
every output position it holds.  Memory: ``(C_in/groups) * kh * kw`` rows, each packing the
tile's output channels at ``weight_bits + conv_extra_bits`` bits into 64-bit words (fitted
to the PilotNet table, see :mod:`mapping_limits`).  A spike message carries its source
position, so the core needs few input axons: one per source and stride phase along the
tiled (W) axis (PilotNet: 2 for its stride-2 convs, 1 for stride 1 along W, as the table
shows), whatever the receptive field's size.

**Sparse** (``conv_encoding="sparse"``): every connection into the tile stored with its
target index, one input axon per source neuron of the receptive field.  Then a tile's row
band can read more than a core's fan-in, and the tiler makes tiles smaller.

The receptive field of output rows ``[h0, h1)`` is input rows
``[h0*s - p, (h1 - 1)*s - p + k)`` clipped to the input (the same along W).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...convmath import out_size
from ...ir import Graph
from ...ir.fixed_spatial import FxConv
from .mapping_limits import Loihi2Limits
from .mapping_synapses import (Box, SynapseModel, box_size, register_synapse_estimator,
                               weight_bits)


def _valid_taps(n_out: int, n_in: int, kernel: int, stride: int, pad: int) -> np.ndarray:
    """For each output index, how many kernel taps land inside the input (int64, (n_out,))."""
    start = np.arange(n_out) * stride - pad
    lo = np.maximum(start, 0)
    hi = np.minimum(start + kernel, n_in)
    return np.maximum(hi - lo, 0).astype(np.int64)


@dataclass
class ConvModel(SynapseModel):
    """A conv's synapses into a tile (``encoding`` ``conv`` or ``sparse``)."""

    encoding: str = "conv"
    c_in: int = 1
    groups: int = 1
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    c_out: int = 1
    bits: int = 8
    taps_h: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    taps_w: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def c_in_group(self) -> int:
        return self.c_in // self.groups

    def words(self, tile: Box, limits: Loihi2Limits) -> int:
        if self.encoding == "sparse":
            bits = self.connections(tile) * limits.sparse_synapse_bits
            return math.ceil(bits / limits.synapse_word_bits) + self.bias_words(tile, limits)
        (c0, c1), _, _ = tile
        kh, kw = self.kernel
        per_row = math.ceil((c1 - c0) * (self.bits + limits.conv_extra_bits)
                            / limits.synapse_word_bits)
        return self.c_in_group * kh * kw * per_row + self.bias_words(tile, limits)

    def axons(self, tile: Box, limits: Loihi2Limits) -> int:
        if self.encoding == "sparse":
            return box_size(self.reads(tile)) + int(self.bias_axon)
        return max(1, self.stride[1]) + int(self.bias_axon)

    def reads(self, tile: Box) -> Box:
        (c0, c1), (h0, h1), (w0, w1) = tile
        _, h_in, w_in = self.source_shape
        if self.groups == 1:
            ch = (0, self.c_in)
        else:
            og = self.c_out // self.groups
            ch = ((c0 // og) * self.c_in_group, ((c1 - 1) // og + 1) * self.c_in_group)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        rows = (max(0, h0 * sh - ph), min(h_in, (h1 - 1) * sh - ph + kh))
        cols = (max(0, w0 * sw - pw), min(w_in, (w1 - 1) * sw - pw + kw))
        return ch, rows, cols

    def connections(self, tile: Box) -> int:
        (c0, c1), (h0, h1), (w0, w1) = tile
        taps = int(self.taps_h[h0:h1].sum()) * int(self.taps_w[w0:w1].sum())
        return (c1 - c0) * (self.c_in_group * taps + int(self.bias_axon) * (h1 - h0) * (w1 - w0))


@register_synapse_estimator(FxConv.kind)
def conv_model(graph: Graph, node: FxConv, source: str, limits: Loihi2Limits,
               options: dict) -> ConvModel:
    c_out, _, kh, kw = (int(s) for s in node.weight.shape)
    c_in, h_in, w_in = (int(s) for s in node.in_shape)
    (sh, sw), (ph, pw) = node.stride, node.padding
    h_out, w_out = out_size(h_in, kh, sh, ph), out_size(w_in, kw, sw, pw)
    encoding = options.get("conv_encoding", "conv")
    return ConvModel(node.name, source, (c_in, h_in, w_in), encoding,
                     node.bias is not None and bool(np.any(node.bias)), c_in, node.groups,
                     (kh, kw), (sh, sw), (ph, pw), c_out,
                     weight_bits(np.asarray(node.weight, np.int64) << node.weight_exp),
                     _valid_taps(h_out, h_in, kh, sh, ph), _valid_taps(w_out, w_in, kw, sw, pw))
