"""LIF and CUBA-LIF with per-neuron learnable decays and thresholds.

Both are written exactly in Loihi's discrete form, so their hardware mapping is exact up to
quantization: decay, integrate, fire on ``v > threshold`` (strict), then reset.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..ir.nodes import CubaLIF as CubaLIFNode
from ..ir.nodes import LIF as LIFNode
from .base import StatefulNeuron, numpy_param
from .multispike import spike_count
from .surrogate import spike

MIN_THRESHOLD = 1e-3


class LIF(StatefulNeuron):
    """Leaky integrate-and-fire: ``v = beta*v + x``; spike ``v > threshold``; reset.

    ``beta`` (voltage decay factor, clamped to [0, 1]) and ``threshold`` are per neuron and
    learnable. ``reset="zero"`` sets v to 0 after a spike (Loihi's LIF), ``"subtract"``
    subtracts the threshold (needs snncc's generalised neuron on Loihi).
    ``max_spikes`` (subtract reset only): above 1 the neuron emits a spike *count* per step,
    one per threshold v passes, as Xylo's hidden neurons (31); see :mod:`.multispike`.
    Mapping: exact (zero reset), generalised (subtract reset).
    """

    state_names = ("v",)
    max_spikes: int = 1          # class default: models saved before the option still load

    def __init__(self, shape: int | Sequence[int], beta: float | torch.Tensor = 0.9,
                 threshold: float | torch.Tensor = 1.0, reset: str = "zero",
                 learn_beta: bool = True, learn_threshold: bool = True, slope: float = 5.0,
                 max_spikes: int = 1):
        super().__init__(shape, reset)
        if int(max_spikes) != max_spikes or max_spikes < 1 or (max_spikes > 1
                                                                and reset != "subtract"):
            raise ValueError(f"max_spikes must be a whole number >= 1, and above 1 needs "
                             f"reset='subtract'; got {max_spikes!r} with reset={reset!r}")
        self.beta = self._per_neuron(beta, learn_beta)
        self.threshold = self._per_neuron(threshold, learn_threshold)
        self.slope = slope
        self.max_spikes = int(max_spikes)

    def effective_beta(self) -> torch.Tensor:
        return self.beta.clamp(0.0, 1.0)

    def effective_threshold(self) -> torch.Tensor:
        return self.threshold.clamp_min(MIN_THRESHOLD)

    def _fire(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        thr = self.effective_threshold()
        if self.max_spikes > 1:
            s = spike_count(v, thr, self.max_spikes, self.slope)
            return s, v - s * thr
        s = spike(v - thr, self.slope)
        v = v - s * thr if self.reset_mode == "subtract" else v * (1.0 - s)
        return s, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.effective_beta() * self._state("v", x) + x
        s, self.v = self._fire(v)
        return s

    def to_ir(self, name: str) -> LIFNode:
        return LIFNode(name, shape=self.shape, reset=self.reset_mode,
                       beta=numpy_param(self.effective_beta()),
                       threshold=numpy_param(self.effective_threshold()),
                       bias=np.zeros(self.shape, dtype=np.float32), max_spikes=self.max_spikes)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", max_spikes={self.max_spikes}"
                                       if self.max_spikes > 1 else "")


class CubaLIF(LIF):
    """Current-based LIF: ``i = alpha*i + x``; ``v = beta*v + i``; spike; reset v.

    ``alpha`` (current decay) and ``beta`` per neuron, both clamped to [0, 1]. Mapping:
    exact (zero reset); an input bias is carried into the current exactly by an always-on
    synapse.
    """

    state_names = ("i", "v")

    def __init__(self, shape: int | Sequence[int], alpha: float | torch.Tensor = 0.5,
                 beta: float | torch.Tensor = 0.9, threshold: float | torch.Tensor = 1.0,
                 reset: str = "zero", learn_alpha: bool = True, learn_beta: bool = True,
                 learn_threshold: bool = True, slope: float = 5.0, max_spikes: int = 1):
        super().__init__(shape, beta, threshold, reset, learn_beta, learn_threshold, slope,
                         max_spikes)
        self.alpha = self._per_neuron(alpha, learn_alpha)

    def effective_alpha(self) -> torch.Tensor:
        return self.alpha.clamp(0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.i = self.effective_alpha() * self._state("i", x) + x
        v = self.effective_beta() * self._state("v", x) + self.i
        s, self.v = self._fire(v)
        return s

    def to_ir(self, name: str) -> CubaLIFNode:
        return CubaLIFNode(name, shape=self.shape, reset=self.reset_mode,
                           alpha=numpy_param(self.effective_alpha()),
                           beta=numpy_param(self.effective_beta()),
                           threshold=numpy_param(self.effective_threshold()),
                           bias=np.zeros(self.shape, dtype=np.float32),
                           max_spikes=self.max_spikes)
