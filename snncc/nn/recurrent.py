"""Recurrent neuron layers: a LIF / CUBA-LIF whose previous spikes come back through a Linear.

Per step: ``x' = x + W_rec s[t-1]``, then the neuron's own equations on ``x'``.  The
previous step's spikes are the module's state (``s``), so the one-step delay of the
feedback is explicit; the frontend turns the module into the neuron node, an ``Affine``
fed by it and a *recurrent* edge from that Affine back into the neuron (see
:mod:`snncc.ir.graph`), which Lava realises as a ``Dense`` from the neuron's ``s_out`` into
its own ``a_in`` (Dense delivers one step later: the same delay).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..ir.fragment import INPUT, Fragment, FragmentNode
from ..ir.nodes import Affine
from .base import numpy_param
from .lif import CubaLIF, LIF


class _Recurrent:
    """Mixin: owns ``self.recurrent`` (Linear n -> n, no bias) and the previous spikes ``s``."""

    recurrent: nn.Linear

    def _init_recurrent(self, n: int, weight: Optional[torch.Tensor]) -> None:
        self.recurrent = nn.Linear(n, n, bias=False)
        if weight is not None:
            with torch.no_grad():
                self.recurrent.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The neuron's own step on ``x + W_rec s[t-1]``; keeps ``s`` for the next step."""
        s = super().forward(x + self.recurrent(self._state("s", x)))
        self.s = s
        return s

    def to_ir(self, name: str) -> Fragment:
        """The neuron node, its feedback Affine, and the recurrent edge between them."""
        neuron = super().to_ir(name)
        rec = Affine(f"{name}.recurrent", weight=numpy_param(self.recurrent.weight))
        return Fragment([FragmentNode(neuron, [INPUT], [rec.name]),
                         FragmentNode(rec, [neuron.name])], output=neuron.name)


class RLIF(_Recurrent, LIF):
    """Recurrent LIF: ``v = beta*v + x + W_rec s[t-1]``; spike ``v > threshold``; reset.

    ``shape`` must be an int (the feedback is a Linear over the layer).  ``recurrent_weight``
    (n, n) initialises ``self.recurrent.weight``.
    """

    state_names = ("v", "s")

    def __init__(self, shape: int, beta=0.9, threshold=1.0, reset: str = "zero",
                 recurrent_weight: Optional[torch.Tensor] = None, **kwargs):
        super().__init__(shape, beta, threshold, reset, **kwargs)
        self._init_recurrent(int(shape), recurrent_weight)


class RCubaLIF(_Recurrent, CubaLIF):
    """Recurrent CUBA-LIF: ``i = alpha*i + x + W_rec s[t-1]``; ``v = beta*v + i``; spike; reset."""

    state_names = ("i", "v", "s")

    def __init__(self, shape: int, alpha=0.5, beta=0.9, threshold=1.0, reset: str = "zero",
                 recurrent_weight: Optional[torch.Tensor] = None, **kwargs):
        super().__init__(shape, alpha, beta, threshold, reset, **kwargs)
        self._init_recurrent(int(shape), recurrent_weight)
