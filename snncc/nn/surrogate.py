"""Heaviside spike with a surrogate gradient, so neuron thresholds and decays train by BPTT."""
from __future__ import annotations

import torch


class _FastSigmoidSpike(torch.autograd.Function):
    """Forward: ``x > 0`` (strict, as Loihi fires on ``v > vth``). Backward: fast-sigmoid slope."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad / (ctx.slope * x.abs() + 1.0) ** 2, None


def spike(x: torch.Tensor, slope: float = 5.0) -> torch.Tensor:
    """Spike where ``x > 0``; gradient ``1 / (slope*|x| + 1)**2``."""
    return _FastSigmoidSpike.apply(x, slope)
