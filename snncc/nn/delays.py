"""Linear synapses with per-synapse transmission delays (axonal or dendritic delays, as in
SLAYER's learned delays: Shrestha and Orchard, NeurIPS 2018; Lava's ``DelayDense``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..ir.delays import MAX_DELAY, DelayAffine


class DelayedLinear(nn.Module):
    """``y[t] = W_k @ x[t - k]`` summed over delays ``k``: each synapse ``(i, j)`` delivers its
    input ``delay[i, j]`` steps late (integer steps in ``[0, 62]``, Lava's DelayDense range).

    ``delay``: an int, a per-input vector (axonal delays), a per-output vector (dendritic) or
    an (out, in) matrix.  Stateful (a buffer of past inputs): call ``snncc.nn.reset(model)``
    before a new sample.  No bias (give it to the neuron).  Mapping: Lava's ``DelayDense``
    (one mixed-sign matrix), exact up to quantization.
    """

    snncc_stateful = True       # snncc.nn.reset(model) clears its history

    def __init__(self, in_features: int, out_features: int, delay=0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        d = np.asarray(delay, dtype=np.int64)
        if d.ndim == 1 and d.size == in_features:
            d = np.broadcast_to(d[None, :], (out_features, in_features))
        elif d.ndim == 1 and d.size == out_features:
            d = np.broadcast_to(d[:, None], (out_features, in_features))
        d = np.broadcast_to(d, (out_features, in_features)).copy()
        if d.min() < 0 or d.max() > MAX_DELAY:
            raise ValueError(f"delays must lie in [0, {MAX_DELAY}]")
        self.register_buffer("delay", torch.as_tensor(d))
        self.history: list = []

    def reset(self) -> None:
        self.history = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.history = ([x] + self.history)[:int(self.delay.max()) + 1]
        out = 0
        for k, past in enumerate(self.history):
            mask = (self.delay == k).to(self.weight.dtype)
            if bool(mask.any()):
                out = out + past @ (self.weight * mask).T
        return out if isinstance(out, torch.Tensor) else x @ (self.weight * 0).T

    def to_ir(self, name: str) -> DelayAffine:
        return DelayAffine(name, weight=self.weight.detach().numpy().astype(np.float32).copy(),
                           delay=self.delay.numpy().astype(np.int64).copy())
