"""Sum pooling, which PyTorch lacks: the sum over each window (average pooling times its size).

On spikes a sum pool is what Loihi computes with a constant conv kernel; snncc compiles it
(and ``nn.AvgPool2d``) exactly by composing it into the next layer's synapses.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..convmath import pair


class SumPool2d(nn.Module):
    """``y[c, i, j] = sum`` of ``x[c]`` over the window at (i, j); zero padding."""

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride if stride is not None else kernel_size)
        self.padding = pair(padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                            count_include_pad=True, divisor_override=1)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
