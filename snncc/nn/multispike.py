"""Multi-spike firing: a neuron that passes k thresholds in one step emits k spikes at once.

SynSense Xylo's hidden neurons work this way (xylosim ``XyloIAFNeuron::evolve``: while
``v >= threshold`` and fewer than 31 spikes, one more spike and ``v -= threshold``), as do
Rockpool's ``LIFTorch(max_spikes_per_dt=...)`` neurons that Rockpool trains for Xylo.  A
float neuron with ``max_spikes > 1`` (``snncc.nn.LIF`` / ``CubaLIF``, subtractive reset)
emits the count ``c = #{k <= max_spikes : v > k*threshold}`` and subtracts ``c*threshold``,
so a model trained this way computes what Xylo computes, up to quantization.

The gradient is a periodic surrogate, as Rockpool's ``PeriodicExponential``: the named
surrogate (:mod:`.surrogate`) of the distance from ``v`` to the nearest threshold multiple
``j*threshold``, ``j`` in ``1..max_spikes`` (through ``v`` and, times ``-j``, through the
threshold).
"""
from __future__ import annotations

from typing import Optional

import torch

from .surrogate import SURROGATES, check_surrogate


class _Count(torch.autograd.Function):
    """Forward: the precomputed count.  Backward: the surrogate derivative at ``x``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, count: torch.Tensor, name: str, k: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.name, ctx.k = name, k
        return count

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * SURROGATES[ctx.name][0](x, ctx.k), None, None, None


def spike_count(v: torch.Tensor, threshold: torch.Tensor, max_spikes: int,
                slope: Optional[float] = None, surrogate: str = "fast_sigmoid") -> torch.Tensor:
    """Spike counts ``#{k in 1..max_spikes : v > k*threshold}`` (float tensor of v's shape).

    ``threshold`` (> 0) broadcasts against ``v``.  The same rule as the float reference
    (:func:`snncc.passes.float_sim.spike_count`): ``floor(v / threshold)`` corrected by one
    comparison each way against ``k*threshold``.  Gradient: the surrogate of
    ``v - j*threshold`` for the nearest multiple ``j`` (see the module docstring).
    """
    derivative, default = SURROGATES[check_surrogate(surrogate)]
    with torch.no_grad():
        thr = threshold.expand_as(v)
        c = torch.clamp(torch.floor(v / thr), 0, max_spikes)
        c = (c + ((c < max_spikes) & (v > (c + 1) * thr)).to(v.dtype)
             - ((c > 0) & (v <= c * thr)).to(v.dtype))
        j = torch.clamp(torch.round(v / thr), 1, max_spikes)
    x = v - j * threshold
    return _Count.apply(x, c, surrogate, float(default if slope is None else slope))
