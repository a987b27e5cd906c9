"""Non-spiking readout layers: leaky integrators whose membrane is the output.

Use one as the last layer of a classifier and read the class off its membrane (e.g. the
largest mean ``v`` over time): the usual head of Norse (``LICell``) and SpikingJelly models.
On Loihi it becomes a neuron that never fires, whose ``v`` snncc reads out
(:mod:`snncc.ir.readout`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..ir.readout import LI as LINode
from ..ir.readout import CubaLI as CubaLINode
from .base import StatefulNeuron, numpy_param


class LI(StatefulNeuron):
    """Leaky integrator readout: ``v = beta*v + x``; returns ``v`` (batch, *shape).

    ``beta`` (per neuron, clamped to [0, 1]) is learnable.  ``beta = 0`` reads out the
    input itself at every step (a Linear layer's output as a readout).
    """

    state_names = ("v",)

    def __init__(self, shape: int | Sequence[int], beta: float | torch.Tensor = 0.9,
                 learn_beta: bool = True):
        super().__init__(shape, "zero")
        self.beta = self._per_neuron(beta, learn_beta)

    def effective_beta(self) -> torch.Tensor:
        return self.beta.clamp(0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.v = self.effective_beta() * self._state("v", x) + x
        return self.v

    def to_ir(self, name: str) -> LINode:
        return LINode(name, shape=self.shape, beta=numpy_param(self.effective_beta()),
                      bias=np.zeros(self.shape, dtype=np.float32))

    def extra_repr(self) -> str:
        return f"shape={self.shape}, readout"


class CubaLI(LI):
    """Current-based leaky integrator readout: ``i = alpha*i + x``; ``v = beta*v + i``;
    returns ``v``.  ``alpha`` and ``beta`` per neuron, clamped to [0, 1]."""

    state_names = ("i", "v")

    def __init__(self, shape: int | Sequence[int], alpha: float | torch.Tensor = 0.5,
                 beta: float | torch.Tensor = 0.9, learn_alpha: bool = True,
                 learn_beta: bool = True):
        super().__init__(shape, beta, learn_beta)
        self.alpha = self._per_neuron(alpha, learn_alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.i = self.alpha.clamp(0.0, 1.0) * self._state("i", x) + x
        self.v = self.effective_beta() * self._state("v", x) + self.i
        return self.v

    def to_ir(self, name: str) -> CubaLINode:
        return CubaLINode(name, shape=self.shape,
                          alpha=numpy_param(self.alpha.clamp(0.0, 1.0)),
                          beta=numpy_param(self.effective_beta()),
                          bias=np.zeros(self.shape, dtype=np.float32))
