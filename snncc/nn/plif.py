"""PLIF: the parametric LIF neuron of Fang et al. (ICCV 2021), one learnable time constant per layer.

Sources read
------------
* Fang, Yu, Chen, Masquelier, Huang, Tian, "Incorporating Learnable Membrane Time Constant to
  Enhance Learning of Spiking Neural Networks", ICCV 2021 (arXiv 2007.05785): one membrane time
  constant per layer, shared by its neurons, learned through ``1/tau = sigmoid(w)``.
* SpikingJelly's reference implementation, ``ParametricLIFNode``
  (``spikingjelly/activation_based/neuron/plif.py``, formerly ``neuron.py``) and its step function
  ``functional.plif_step``: ``w = -log(init_tau - 1)`` (so ``sigmoid(w) = 1/init_tau``), and per
  step, with ``r = sigmoid(w)``::

      decay_input=True :  H[t] = V[t-1] + r * (X[t] - (V[t-1] - V_reset))
      decay_input=False:  H[t] = V[t-1] - r * (V[t-1] - V_reset) + X[t]
      S[t] = Heaviside(H[t] - V_th)
      hard reset (v_reset is a number):  V[t] = H[t] * (1 - S[t]) + V_reset * S[t]
      soft reset (v_reset=None)       :  V[t] = H[t] - V_th * S[t]

  ``V_th`` (``v_threshold``, default 1.0) is a fixed hyper-parameter, not learned; V starts at
  ``V_reset`` (0 for soft reset).

Differences from SpikingJelly, on purpose
-----------------------------------------
* **Firing is strict** (``H > V_th``) here, as on Loihi; SpikingJelly's ``heaviside`` fires on
  ``H >= V_th``.  The two differ only when ``H`` lands exactly on the threshold; a model trained
  with SpikingJelly would need its threshold nudged up by one LSB to be bit-identical.  This
  module uses ``>``, so its own mapping to Loihi is exact.
* ``v_reset`` must be 0.0 (hard reset) or None (soft reset).  A non-zero reset voltage also makes
  the initial state ``V_reset`` instead of 0, which Loihi's zero-initialised membrane cannot start
  from (it would need one extra pre-charging step).
* The surrogate gradient is snncc's fast sigmoid (:func:`snncc.nn.surrogate.spike`), not
  SpikingJelly's default ``Sigmoid`` surrogate; the forward pass is unaffected.

Mapping to Loihi (``PLIFNode.lower``)
-------------------------------------
With ``v_reset = 0`` the membrane update is linear: ``H = (1 - r) V + r X`` (``decay_input``) or
``H = (1 - r) V + X``.  The canonical CUBA-LIF therefore has a memoryless current (``alpha = 0``),
``beta = 1 - r`` (``dv = 4096 r``), threshold ``V_th`` and, with ``decay_input``, an input scale
``r`` folded into the preceding Linear layer's rows and bias:

* hard reset, ``decay_input=True``  -> exact after folding;
* hard reset, ``decay_input=False`` -> exact (Loihi's stock LIF);
* soft reset -> generalised (subtractive reset: snncc's generalised neuron, not stock LIF).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..ir.nodes import (EXACT, EXACT_AFTER_FOLDING, GENERALISED, RESET_SUBTRACT, RESET_ZERO,
                        CubaLIF, Lowered, NeuronNode)
from .base import StatefulNeuron, numpy_param
from .surrogate import spike


def per_neuron_array(value, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 numpy array of ``shape`` from a scalar or an array of that many elements."""
    arr = np.asarray(value, dtype=np.float32)
    return (np.full(shape, arr.reshape(()), dtype=np.float32) if arr.size == 1
            else arr.reshape(shape).astype(np.float32).copy())


class PLIF(StatefulNeuron):
    """Parametric LIF (Fang et al. 2021): ``1/tau = sigmoid(w)``, one learnable ``w`` per layer.

    Per step (``r = sigmoid(w)``): ``h = v + r*(x - v)`` (``decay_input=True``) or
    ``h = v - r*v + x``; spike where ``h > v_threshold`` (strict); then ``v = h*(1-s)``
    (``v_reset=0.0``, hard) or ``v = h - v_threshold*s`` (``v_reset=None``, soft).
    See the module docstring for the sources and the Loihi mapping.
    """

    state_names = ("v",)

    def __init__(self, shape: int | Sequence[int], init_tau: float = 2.0, decay_input: bool = True,
                 v_threshold: float = 1.0, v_reset: Optional[float] = 0.0,
                 learn_tau: bool = True, detach_reset: bool = False, slope: float = 5.0):
        if not init_tau > 1.0:
            raise ValueError(f"init_tau must be > 1 (sigmoid(w) = 1/tau), got {init_tau}")
        if v_reset not in (0.0, None):
            raise ValueError("v_reset must be 0.0 (hard reset) or None (soft reset); a non-zero "
                             f"reset voltage is not supported, got {v_reset!r}")
        if not v_threshold > 0:
            raise ValueError(f"v_threshold must be > 0, got {v_threshold}")
        super().__init__(shape, RESET_ZERO if v_reset is not None else RESET_SUBTRACT)
        self.decay_input = bool(decay_input)
        self.v_threshold = float(v_threshold)
        self.v_reset = v_reset
        self.detach_reset = detach_reset
        self.slope = slope
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0), dtype=torch.float32),
                              requires_grad=learn_tau)

    def reciprocal_tau(self) -> torch.Tensor:
        return self.w.sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self._state("v", x)
        r = self.reciprocal_tau()
        h = v + (x - v) * r if self.decay_input else v - v * r + x
        s = spike(h - self.v_threshold, self.slope)
        s_reset = s.detach() if self.detach_reset else s
        if self.v_reset is None:
            self.v = h - self.v_threshold * s_reset
        else:
            self.v = h * (1.0 - s_reset)
        return s

    def to_ir(self, name: str) -> "PLIFNode":
        return PLIFNode(name, shape=self.shape, reset=self.reset_mode,
                        inv_tau=per_neuron_array(numpy_param(self.reciprocal_tau()), self.shape),
                        threshold=per_neuron_array(self.v_threshold, self.shape),
                        decay_input=self.decay_input)

    def extra_repr(self) -> str:
        with torch.no_grad():
            tau = 1.0 / float(self.reciprocal_tau())
        return (f"shape={self.shape}, tau={tau:.4g}, decay_input={self.decay_input}, "
                f"v_threshold={self.v_threshold}, v_reset={self.v_reset}")


@dataclass
class PLIFNode(NeuronNode):
    """Float IR of :class:`PLIF`: ``inv_tau`` (= sigmoid(w)) and ``threshold`` per neuron."""

    kind: ClassVar[str] = "plif"
    inv_tau: np.ndarray = field(default_factory=lambda: np.zeros(0))
    threshold: np.ndarray = field(default_factory=lambda: np.zeros(0))
    decay_input: bool = True

    def lower(self) -> Lowered:
        r = np.asarray(self.inv_tau, dtype=np.float32)
        canon = CubaLIF(self.name, shape=self.shape, reset=self.reset,
                        alpha=np.zeros_like(r), beta=(np.float32(1.0) - r).astype(np.float32),
                        threshold=np.asarray(self.threshold, np.float32),
                        bias=np.zeros_like(r))
        if self.reset == RESET_SUBTRACT:
            mapping = GENERALISED
            why = "soft reset (v -= V_th) needs the generalised neuron"
        elif self.decay_input:
            mapping = EXACT_AFTER_FOLDING
            why = "1/tau folded into the incoming weights and bias"
        else:
            mapping = EXACT
            why = "Loihi's stock LIF"
        tau = 1.0 / float(np.mean(r)) if r.size else float("nan")
        note = (f"PLIF tau={tau:.4g} -> beta=1-1/tau, alpha=0; {why}; fires on v > V_th "
                "(SpikingJelly fires on >=)")
        return Lowered(canon, r.copy() if self.decay_input else None, mapping, note)
