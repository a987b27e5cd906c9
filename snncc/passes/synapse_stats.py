"""What the quantizer needs to know about one float synapse (Linear or conv) into a neuron.

A neuron on Loihi sums the inputs of all its synapses, each with its own weight exponent
and sign mode, under one per-neuron scale ``S`` (float membrane units -> v units).  This
module describes a synapse by per-neuron quantities (largest and summed |weight| of each
neuron's row; for a conv, of its output channel's kernel), scales its weights by ``S`` and
emits the fixed-point node (``FxDense`` for a Linear, ``FxConv`` for a conv).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..targets.loihi import fixedpoint as fx
from ..ir import Affine, Conv2d, FxConv, FxDense
from ..ir.nodes import Shape


_ROW_STATS: dict = {}


@dataclass
class Synapse:
    """A float synapse into a neuron of ``shape``, from spike node ``source``."""

    node: Union[Affine, Conv2d]
    source: str
    shape: Shape                 # the neuron's
    source_shape: Shape
    recurrent: bool = False

    @property
    def is_conv(self) -> bool:
        return isinstance(self.node, Conv2d)

    @property
    def weight(self) -> np.ndarray:
        return np.asarray(self.node.weight, dtype=np.float64)

    def mode(self, split_sign: bool) -> str:
        """Weight grid: Lava's sign mode for a Dense (split into two when mixed and
        ``split_sign``); a Lava Conv applies no sign mode, so a conv takes the 8-bit
        magnitude + sign grid unless ``split_sign`` is off (then the mixed, even grid)."""
        mode = fx.sign_mode(self.weight)
        return fx.SIGN_SPLIT if mode == fx.SIGN_MIXED and split_sign else mode

    def exp_range(self, configured: tuple[int, int]) -> tuple[int, int]:
        """Lava's Conv ignores weight_exp, so snncc bakes it into the kernel: exponent >= 0."""
        lo, hi = configured
        return (max(lo, 0), max(hi, 0)) if self.is_conv else (lo, hi)

    def _per_neuron(self, per_row: np.ndarray) -> np.ndarray:
        """A per-output-row value (Linear row / conv output channel) for every neuron."""
        if not self.is_conv:
            return per_row
        hw = int(np.prod(self.shape[1:]))
        return np.repeat(per_row, hw)

    def _row_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """(max |w|, sum |w|) per output row, memoised per weight array (shared by residual
        synapses)."""
        key = id(self.node.weight)
        if key not in _ROW_STATS or _ROW_STATS[key][0] is not self.node.weight:
            w = np.abs(np.asarray(self.node.weight)).reshape(self.node.weight.shape[0], -1)
            stats = (w.max(axis=1) if w.shape[1] else np.zeros(w.shape[0]),
                     w.sum(axis=1, dtype=np.float64))
            _ROW_STATS.clear()          # one neuron's synapses at a time
            _ROW_STATS[key] = (self.node.weight, stats)
        return _ROW_STATS[key][1]

    def row_max(self) -> np.ndarray:
        return self._per_neuron(self._row_stats()[0].astype(np.float64))

    def row_sum(self) -> np.ndarray:
        """Sum of |w| reaching each neuron when all inputs spike (a conv's full kernel: an
        interior position, the worst case)."""
        return self._per_neuron(self._row_stats()[1])

    def bias_full(self) -> Optional[np.ndarray]:
        """The synapse's bias per neuron (flat, (C, H, W) order), or None."""
        b = self.node.bias
        if b is None:
            return None
        b = np.asarray(b, dtype=np.float64)
        if self.is_conv and b.ndim == 1:
            return np.repeat(b, int(np.prod(self.shape[1:])))
        return b.reshape(-1)

    def row_scale(self, scale: np.ndarray) -> np.ndarray:
        """``scale`` (per neuron) shaped to multiply the weight array row-wise."""
        if not self.is_conv:
            return scale[:, None]
        per_channel = scale.reshape(self.shape[0], -1)[:, 0]
        return per_channel[:, None, None, None]

    def emit(self, name: str, w_q: np.ndarray, exp: int, mode: str, bias=None, bias_exp: int = 0,
             bias_start: int = 0) -> Union[FxDense, FxConv]:
        if self.is_conv:
            n = self.node
            return FxConv(name, weight=w_q, weight_exp=exp, stride=n.stride, padding=n.padding,
                          groups=n.groups, in_shape=self.source_shape, bias=bias,
                          bias_exp=bias_exp, bias_start=bias_start)
        return FxDense(name, weight=w_q, weight_exp=exp, split_sign=mode == fx.SIGN_SPLIT,
                       bias=bias, bias_exp=bias_exp, bias_start=bias_start)


def channel_min(scale: np.ndarray, shape: Shape) -> np.ndarray:
    """Each neuron's scale lowered to its channel's minimum: a conv kernel is shared by
    every position of its output channel, so their scale must be one value."""
    per = scale.reshape(shape[0], -1)
    return np.repeat(per.min(axis=1), per.shape[1])
