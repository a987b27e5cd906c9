"""Heaviside spike with a surrogate gradient, so neuron thresholds and decays train by BPTT.

The forward pass is always ``x > 0`` (strict, as Loihi fires on ``v > vth``); only the
backward pass differs.  Surrogates live in :data:`SURROGATES` (name -> derivative and default
sharpness) so each neuron can train with the one its paper uses:

* ``fast_sigmoid`` (snncc's LIF): ``1 / (k|x| + 1)^2``, ``k = 5``;
* ``sigmoid`` (SpikingJelly's default ``surrogate.Sigmoid``, used by PLIF and KLIF):
  ``k sig(kx) (1 - sig(kx))``, ``k = 4``;
* ``atan`` (SpikingJelly's ``surrogate.ATan``): ``(k/2) / (1 + (pi k x / 2)^2)``, ``k = 2``;
* ``rectangle`` (GLIF's ``SpikeAct_extended``: gradient 1 where ``|x| < 0.5``):
  ``k`` where ``|x| < 1/(2k)``, ``k = 1``.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch

Derivative = Callable[[torch.Tensor, float], torch.Tensor]


def _fast_sigmoid(x: torch.Tensor, k: float) -> torch.Tensor:
    return 1.0 / (k * x.abs() + 1.0) ** 2


def _sigmoid(x: torch.Tensor, k: float) -> torch.Tensor:
    sg = torch.sigmoid(k * x)
    return k * sg * (1.0 - sg)


def _atan(x: torch.Tensor, k: float) -> torch.Tensor:
    return (k / 2.0) / (1.0 + (math.pi / 2.0 * k * x) ** 2)


def _rectangle(x: torch.Tensor, k: float) -> torch.Tensor:
    return (x.abs() < 0.5 / k).to(x.dtype) * k


# name -> (derivative of the smoothed step, default sharpness k)
SURROGATES: dict[str, tuple[Derivative, float]] = {
    "fast_sigmoid": (_fast_sigmoid, 5.0),
    "sigmoid": (_sigmoid, 4.0),
    "atan": (_atan, 2.0),
    "rectangle": (_rectangle, 1.0),
}


def check_surrogate(name: str) -> str:
    """``name`` if it is a registered surrogate, else ValueError listing the choices."""
    if name not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; choose one of {sorted(SURROGATES)}")
    return name


class _Spike(torch.autograd.Function):
    """Forward: ``x > 0``.  Backward: the named surrogate derivative."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, name: str, k: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.name, ctx.k = name, k
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * SURROGATES[ctx.name][0](x, ctx.k), None, None


def spike(x: torch.Tensor, slope: Optional[float] = None,
          surrogate: str = "fast_sigmoid") -> torch.Tensor:
    """Spike where ``x > 0``; gradient of ``surrogate`` with sharpness ``slope`` (its default
    if None)."""
    derivative, default = SURROGATES[check_surrogate(surrogate)]
    return _Spike.apply(x, surrogate, float(default if slope is None else slope))
