"""Non-spiking readouts: leaky integrators whose membrane is the layer's output.

The usual classifier head of Norse (``LICell``) and of many SpikingJelly / snnTorch models is
not a spiking layer but a leaky integrator read out by its membrane (the class is the
neuron with the largest ``v``, e.g. its mean or maximum over time).  These nodes lower to the
canonical :class:`~snncc.ir.nodes.CubaLIF` with ``spiking=False``: no threshold test and no
reset, so on Loihi a neuron that never fires and whose ``v`` is read out.

* :class:`LI`: ``v = beta*v + x + bias`` (memoryless current);
* :class:`CubaLI`: ``i = alpha*i + x``; ``v = beta*v + i + bias``.

Arrays are per neuron (the layer's shape), float32 or float64.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .nodes import EXACT, CubaLIF, Lowered, NeuronNode


@dataclass
class CubaLI(NeuronNode):
    """Current-based leaky integrator readout (no spikes): ``i = alpha*i + x``;
    ``v = beta*v + i + bias``; the output is ``v``."""

    kind: ClassVar[str] = "cuba_li"
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))
    beta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def lower(self) -> Lowered:
        beta = np.asarray(self.beta)
        canon = CubaLIF(self.name, shape=tuple(self.shape), alpha=self.alpha, beta=beta,
                        threshold=np.ones(beta.shape, beta.dtype), bias=self.bias,
                        spiking=False)
        return Lowered(canon, None, EXACT, "non-spiking readout: v is the output")

    def describe(self) -> str:
        return f"{super().describe()}; readout (no spikes)"


@dataclass
class LI(CubaLI):
    """Leaky integrator readout with a memoryless current: ``v = beta*v + x + bias``."""

    kind: ClassVar[str] = "li"

    def __post_init__(self) -> None:
        if np.size(self.alpha) == 0:
            self.alpha = np.zeros_like(np.asarray(self.beta))
