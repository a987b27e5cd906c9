"""Neurons with a periodic reset of their state (Lava's ``LIFReset``; lava-dl netx's
``Network(reset_interval=...)``): one sample every ``reset_interval`` steps, the state
cleared in between, so a stream of samples runs without a host resetting the chip.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..ir.reset import CubaLIFReset as CubaLIFResetNode
from .base import numpy_param
from .lif import CubaLIF


class CubaLIFReset(CubaLIF):
    """:class:`snncc.nn.CubaLIF` whose current and voltage are set to 0 at the start of every
    step ``t`` (counted from the last ``reset``) with ``t % reset_interval == reset_offset %
    reset_interval``, before that step's input is integrated (``PyLifResetModelBitAcc`` in
    ``lava/proc/lif/models.py``).  ``alpha=0`` gives a LIF with a memoryless current.

    Mapping: Lava's ``LIFReset`` (exact up to quantization), its offset moved by the layer's
    synaptic depth on Loihi (a layer k synapses deep sees its sample k steps later).
    """

    state_names = ("i", "v", "t")

    def __init__(self, shape: int | Sequence[int], reset_interval: int, reset_offset: int = 0,
                 alpha: float | torch.Tensor = 0.0, beta: float | torch.Tensor = 0.9,
                 threshold: float | torch.Tensor = 1.0, **kwargs) -> None:
        if int(reset_interval) < 1:
            raise ValueError(f"reset_interval must be >= 1, got {reset_interval}")
        super().__init__(shape, alpha, beta, threshold, **kwargs)
        self.reset_interval, self.reset_offset = int(reset_interval), int(reset_offset)
        if self.reset_mode != "zero":
            raise ValueError("a periodic reset is defined for the zero reset (Lava's LIFReset)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.t or 0
        if t % self.reset_interval == self.reset_offset % self.reset_interval:
            self.i, self.v = torch.zeros_like(x), torch.zeros_like(x)
        self.t = t + 1
        return super().forward(x)

    def to_ir(self, name: str) -> CubaLIFResetNode:
        return CubaLIFResetNode(name, shape=self.shape, reset=self.reset_mode,
                                alpha=numpy_param(self.effective_alpha()),
                                beta=numpy_param(self.effective_beta()),
                                threshold=numpy_param(self.effective_threshold()),
                                bias=np.zeros(self.shape, dtype=np.float32),
                                reset_interval=self.reset_interval,
                                reset_offset=self.reset_offset)
