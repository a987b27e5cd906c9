"""PLIF: the parametric LIF neuron of Fang et al. (ICCV 2021), one learnable time constant per layer.

Sources read
------------
* Fang, Yu, Chen, Masquelier, Huang, Tian, "Incorporating Learnable Membrane Time Constant to
  Enhance Learning of Spiking Neural Networks", ICCV 2021 (arXiv 2007.05785): one membrane time
  constant per layer, shared by its neurons, learned through ``1/tau = sigmoid(w)``.
* SpikingJelly's reference implementation, ``ParametricLIFNode``
  (``spikingjelly/activation_based/neuron/plif.py``): ``w = -log(init_tau - 1)`` (so
  ``sigmoid(w) = 1/init_tau``, ``init_tau = 2``), ``v_threshold = 1`` and ``v_reset = 0`` fixed,
  surrogate ``surrogate.Sigmoid(alpha=4)``, and ``neuronal_charge`` with ``r = sigmoid(w)``::

      decay_input=True :  H = V + (X - (V - V_reset)) * r       (V + (X - V) * r if V_reset = 0)
      decay_input=False:  H = V - (V - V_reset) * r + X         (V * (1 - r) + X if V_reset = 0)
      S = Heaviside(H - V_th)
      hard reset (v_reset a number):  V = (1 - S) H + S V_reset
      soft reset (v_reset=None)     :  V = H - S V_th

  V starts at ``V_reset`` (0 for soft reset).  This module computes exactly these expressions,
  in the same operation order, so a SpikingJelly model's parameters give the same float32 values.

Differences from SpikingJelly, on purpose
-----------------------------------------
* **Firing is strict** (``H > V_th``), as on Loihi; SpikingJelly's ``heaviside`` fires on
  ``H >= V_th``.  The two differ only when ``H`` lands exactly on the threshold; a SpikingJelly
  model would need its threshold nudged up by one LSB to be bit-identical.
* The surrogate is selectable (:data:`snncc.nn.surrogate.SURROGATES`); the default is
  SpikingJelly's ``Sigmoid`` with ``alpha = 4``.

Mapping to Loihi (``PLIFNode.lower``)
-------------------------------------
Shift the state by the reset voltage, ``V' = V - V_reset`` (0 for soft reset): then
``H' = (1 - r) V' + r X`` (``decay_input``) or ``(1 - r) V' + X``, the neuron fires on
``H' > V_th - V_reset``, resets to ``V' = 0`` and starts at 0 -- a CUBA-LIF with a memoryless
current, ``beta = 1 - r`` (``dv = 4096 r``), threshold ``V_th - V_reset`` and, with
``decay_input``, an input scale ``r`` folded into the preceding Linear layer:

* hard reset, ``decay_input=False``: **exact** (Loihi's stock LIF; a non-zero ``V_reset``
  only moves the threshold);
* hard reset, ``decay_input=True``: **exact after folding** (``r`` into the incoming weights
  and bias);
* soft reset: **generalised** (``v -= V_th`` is not in Lava's LIF; snncc's generalised neuron).
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
from .surrogate import check_surrogate, spike


def per_neuron_array(value, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 numpy array of ``shape`` from a scalar or an array of that many elements."""
    arr = np.asarray(value, dtype=np.float32)
    return (np.full(shape, arr.reshape(()), dtype=np.float32) if arr.size == 1
            else arr.reshape(shape).astype(np.float32).copy())


class PLIF(StatefulNeuron):
    """Parametric LIF (Fang et al. 2021): ``1/tau = sigmoid(w)``, one learnable ``w`` per layer.

    Per step (``r = sigmoid(w)``): ``h = v + (x - (v - v_reset)) * r`` (``decay_input=True``)
    or ``h = v - (v - v_reset) * r + x``; spike where ``h > v_threshold`` (strict); then
    ``v = (1 - s) h + s v_reset`` (hard) or ``v = h - s v_threshold`` (``v_reset=None``, soft).
    See the module docstring for the sources and the Loihi mapping.
    """

    state_names = ("v",)

    def __init__(self, shape: int | Sequence[int], init_tau: float = 2.0, decay_input: bool = True,
                 v_threshold: float = 1.0, v_reset: Optional[float] = 0.0,
                 learn_tau: bool = True, detach_reset: bool = False,
                 surrogate: str = "sigmoid", slope: Optional[float] = None):
        if not init_tau > 1.0:
            raise ValueError(f"init_tau must be > 1 (sigmoid(w) = 1/tau), got {init_tau}")
        if v_reset is not None and not v_reset < v_threshold:
            raise ValueError(f"v_reset ({v_reset}) must be below v_threshold ({v_threshold})")
        if v_reset is None and not v_threshold > 0:
            raise ValueError(f"v_threshold must be > 0, got {v_threshold}")
        super().__init__(shape, RESET_ZERO if v_reset is not None else RESET_SUBTRACT)
        self.decay_input = bool(decay_input)
        self.v_threshold = float(v_threshold)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.detach_reset = detach_reset
        self.surrogate = check_surrogate(surrogate)
        self.slope = slope
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0), dtype=torch.float32),
                              requires_grad=learn_tau)

    def reciprocal_tau(self) -> torch.Tensor:
        return self.w.sigmoid()

    def _charge(self, v: torch.Tensor, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """SpikingJelly's ``ParametricLIFNode.neuronal_charge``, operation for operation."""
        if self.v_reset is None or self.v_reset == 0.0:
            return v + (x - v) * r if self.decay_input else v * (1.0 - r) + x
        if self.decay_input:
            return v + (x - (v - self.v_reset)) * r
        return v - (v - self.v_reset) * r + x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.v
        if v is None:
            v = torch.full_like(x, 0.0 if self.v_reset is None else self.v_reset)
        h = self._charge(v, x, self.reciprocal_tau())
        s = spike(h - self.v_threshold, self.slope, self.surrogate)
        s_reset = s.detach() if self.detach_reset else s
        if self.v_reset is None:
            self.v = h - s_reset * self.v_threshold
        else:
            self.v = (1.0 - s_reset) * h + s_reset * self.v_reset
        return s

    def to_ir(self, name: str) -> "PLIFNode":
        return PLIFNode(name, shape=self.shape, reset=self.reset_mode,
                        inv_tau=per_neuron_array(numpy_param(self.reciprocal_tau()), self.shape),
                        threshold=per_neuron_array(self.v_threshold, self.shape),
                        v_reset=0.0 if self.v_reset is None else self.v_reset,
                        decay_input=self.decay_input)

    def extra_repr(self) -> str:
        with torch.no_grad():
            tau = 1.0 / float(self.reciprocal_tau())
        return (f"shape={self.shape}, tau={tau:.4g}, decay_input={self.decay_input}, "
                f"v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
                f"surrogate={self.surrogate!r}")


@dataclass
class PLIFNode(NeuronNode):
    """Float IR of :class:`PLIF`: ``inv_tau`` (= sigmoid(w)) and ``threshold`` per neuron,
    the reset voltage (0 for soft reset) and ``decay_input``."""

    kind: ClassVar[str] = "plif"
    inv_tau: np.ndarray = field(default_factory=lambda: np.zeros(0))
    threshold: np.ndarray = field(default_factory=lambda: np.zeros(0))
    v_reset: float = 0.0
    decay_input: bool = True

    def lower(self) -> Lowered:
        r = np.asarray(self.inv_tau, dtype=np.float32)
        thr = (np.asarray(self.threshold, np.float32) - np.float32(self.v_reset)).astype(np.float32)
        canon = CubaLIF(self.name, shape=self.shape, reset=self.reset,
                        alpha=np.zeros_like(r), beta=(np.float32(1.0) - r).astype(np.float32),
                        threshold=thr, bias=np.zeros_like(r))
        if self.reset == RESET_SUBTRACT:
            mapping, why = GENERALISED, "soft reset (v -= V_th) needs the generalised neuron"
        elif self.decay_input:
            mapping, why = EXACT_AFTER_FOLDING, "1/tau folded into the incoming weights and bias"
        else:
            mapping, why = EXACT, "Loihi's stock LIF"
        if self.v_reset != 0.0:
            why += f"; V_reset = {self.v_reset:.4g} shifted into the threshold"
        tau = 1.0 / float(np.mean(r)) if r.size else float("nan")
        note = (f"PLIF tau={tau:.4g} -> beta=1-1/tau, alpha=0; {why}; fires on v > V_th "
                "(SpikingJelly fires on >=)")
        return Lowered(canon, r.copy() if self.decay_input else None, mapping, note)
