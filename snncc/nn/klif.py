"""KLIF: the k-based LIF of Jiang & Zhang (2023), a learnable gain k before a ReLU, firing and reset.

Sources read
------------
* C. Jiang, Y. Zhang, "KLIF: An optimized spiking neuron unit for tuning surrogate gradient
  slope and membrane potential", arXiv 2302.09238 (2023).  No official code was found.
* SpikingJelly's public port, ``KLIFNode`` (``spikingjelly/activation_based/neuron/lif_variants.py``,
  formerly ``neuron.py``): one scalar ``k`` per layer, initialised to 1.0; ``tau`` (default 2.0)
  and ``v_threshold`` (1.0) are fixed hyper-parameters; surrogate ``Sigmoid(alpha=4)``.  Per
  step (this module computes the same expressions in the same operation order)::

      decay_input=True :  H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau
      decay_input=False:  H[t] = V[t-1] - (V[t-1] - V_reset) / tau + X[t]
      F[t] = ReLU(k * H[t])
      S[t] = Heaviside(F[t] - V_th)
      scale_reset=False:  V[t] = F[t] (1 - S[t]) + V_reset S[t]      (hard)
                          V[t] = F[t] - V_th S[t]                     (soft, v_reset=None)
      scale_reset=True :  V[t] = F[t]/k (1 - S[t]) + V_reset S[t]    (hard)
                          V[t] = (F[t] - V_th S[t]) / k               (soft)

Differences from SpikingJelly, on purpose
-----------------------------------------
* Firing is strict (``F > V_th``), as on Loihi; SpikingJelly fires on ``F >= V_th``.
* ``v_reset`` must be 0.0 (hard) or None (soft): a non-zero reset voltage sits inside the ReLU
  (``ReLU(k (H - ...))``) and cannot be shifted out of it.
* The surrogate is selectable (:data:`snncc.nn.surrogate.SURROGATES`); the default is
  SpikingJelly's ``Sigmoid`` (``alpha = 4``), applied to ``F - V_th`` so that k scales the
  slope and width of the surrogate seen by H, which is the paper's point.

Exact lowering (``KLIFNode.lower``), worked out
-----------------------------------------------
Carry the fired-on quantity ``c = F`` as the canonical membrane.  With ``V_reset = 0`` and
``q = 1 - 1/tau``, ``g = 1/tau`` (``decay_input``) or 1:

* ``scale_reset=False``: the carried state is ``V = c`` after the reset, so
  ``c[t] = ReLU(k q c_reset[t-1] + k g X[t])``;
* ``scale_reset=True``: the carried state is ``c_reset / k``, so
  ``c[t] = ReLU(q c_reset[t-1] + k g X[t])``;

where ``c_reset`` is ``c (1 - S)`` (hard) or ``c - V_th S`` (soft).  This is a CUBA-LIF with a
memoryless current, voltage decay ``beta = k q`` (or ``q``), input scale ``k g`` folded into the
preceding Linear layer, threshold ``V_th`` (in H: ``H > V_th / k``, k divides the threshold), a
zero or subtractive reset, and a membrane **floor at 0** from the ReLU (the canonical neuron
floors ``beta v + x`` before firing, exactly where KLIF applies its ReLU).  Stock Loihi LIF has
no floor, so the class is **generalised**.  ``beta = k (1 - 1/tau) > 1`` (k > 2 at
tau = 2) makes the membrane grow between steps; Loihi's LIF decay cannot, the generalised
neuron can (``dv < 0``, growth up to 2x per step).  A larger growth or a negative k raises
:class:`snncc.errors.SnnccError` naming the layer and the value.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import SnnccError
from ..ir.nodes import (GENERALISED, RESET_SUBTRACT, RESET_ZERO, CubaLIF, Lowered, NeuronNode)
from .base import StatefulNeuron
from .plif import per_neuron_array
from .surrogate import check_surrogate, spike


class KLIF(StatefulNeuron):
    """KLIF (SpikingJelly ``KLIFNode`` semantics, strict firing): ``F = ReLU(k*H)`` fires and resets.

    ``k`` is one learnable scalar per layer (init 1.0); ``tau`` and ``v_threshold`` are fixed.
    See the module docstring for the equations, sources and the exact Loihi lowering.
    """

    state_names = ("v",)

    def __init__(self, shape: int | Sequence[int], tau: float = 2.0, decay_input: bool = True,
                 v_threshold: float = 1.0, v_reset: Optional[float] = 0.0,
                 scale_reset: bool = False, init_k: float = 1.0, learn_k: bool = True,
                 detach_reset: bool = False, surrogate: str = "sigmoid",
                 slope: Optional[float] = None):
        if not tau > 1.0:
            raise ValueError(f"tau must be > 1, got {tau}")
        if v_reset not in (0.0, None):
            raise ValueError("v_reset must be 0.0 (hard reset) or None (soft reset); a non-zero "
                             f"reset voltage is not supported, got {v_reset!r}")
        if not v_threshold > 0:
            raise ValueError(f"v_threshold must be > 0, got {v_threshold}")
        super().__init__(shape, RESET_ZERO if v_reset is not None else RESET_SUBTRACT)
        self.tau = float(tau)
        self.decay_input = bool(decay_input)
        self.v_threshold = float(v_threshold)
        self.v_reset = v_reset
        self.scale_reset = bool(scale_reset)
        self.detach_reset = detach_reset
        self.surrogate = check_surrogate(surrogate)
        self.slope = slope
        self.k = nn.Parameter(torch.tensor(float(init_k), dtype=torch.float32),
                              requires_grad=learn_k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self._state("v", x)
        h = v + (x - v) / self.tau if self.decay_input else v - v / self.tau + x
        f = torch.relu(self.k * h)
        s = spike(f - self.v_threshold, self.slope, self.surrogate)
        s_reset = s.detach() if self.detach_reset else s
        # SpikingJelly's KLIFNode.neuronal_reset: scale first, then the soft or hard reset
        v, thr = (f / self.k, self.v_threshold / self.k) if self.scale_reset else (f, self.v_threshold)
        self.v = v - s_reset * thr if self.v_reset is None else (1.0 - s_reset) * v + s_reset * 0.0
        return s

    def to_ir(self, name: str) -> "KLIFNode":
        return KLIFNode(name, shape=self.shape, reset=self.reset_mode,
                        k=per_neuron_array(float(self.k.detach()), self.shape),
                        threshold=per_neuron_array(self.v_threshold, self.shape),
                        tau=self.tau, decay_input=self.decay_input, scale_reset=self.scale_reset)

    def extra_repr(self) -> str:
        return (f"shape={self.shape}, tau={self.tau}, decay_input={self.decay_input}, "
                f"v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
                f"scale_reset={self.scale_reset}, surrogate={self.surrogate!r}")


@dataclass
class KLIFNode(NeuronNode):
    """Float IR of :class:`KLIF`: ``k`` and ``threshold`` per neuron, ``tau`` and the flags."""

    kind: ClassVar[str] = "klif"
    k: np.ndarray = field(default_factory=lambda: np.zeros(0))
    threshold: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tau: float = 2.0
    decay_input: bool = True
    scale_reset: bool = False

    def lower(self) -> Lowered:
        k = np.asarray(self.k, dtype=np.float32)
        q = np.float32(1.0) - np.float32(1.0) / np.float32(self.tau)
        if k.size and k.min() < 0:
            raise SnnccError(f"layer {self.name!r} (KLIF): k = {float(k.min()):.6g} < 0; "
                             "ReLU(k*H) with a negative k has no Loihi equivalent",
                             "retrain with k kept positive")
        beta = (np.ones_like(k) * q if self.scale_reset else k * q).astype(np.float32)
        if beta.size and beta.max() > 2.0:
            raise SnnccError(f"layer {self.name!r} (KLIF): effective decay k*(1-1/tau) = "
                             f"{float(k.max()):.6g}*{float(q):.6g} = {float(beta.max()):.6g} > 2; "
                             "the membrane grows more than 2x per step, beyond the generalised "
                             "neuron", f"retrain with k <= {2.0 / float(q):.6g}, or use "
                             "scale_reset=True")
        scale = (k / np.float32(self.tau) if self.decay_input else k.copy()).astype(np.float32)
        canon = CubaLIF(self.name, shape=self.shape, reset=self.reset,
                        alpha=np.zeros_like(k), beta=beta,
                        threshold=np.asarray(self.threshold, np.float32),
                        bias=np.zeros_like(k), floor=0.0)
        kk = float(np.mean(k)) if k.size else float("nan")
        note = (f"KLIF k={kk:.4g}, tau={self.tau:.4g}: beta={float(np.mean(beta)):.4g} "
                f"({'(1-1/tau)' if self.scale_reset else 'k(1-1/tau)'}), input scale "
                f"{'k/tau' if self.decay_input else 'k'} folded into the weights, threshold V_th "
                "on F=ReLU(kH) (H > V_th/k), ReLU -> membrane floor 0 (not in stock LIF)"
                + ("; beta > 1: growing membrane (dv < 0)" if beta.size and beta.max() > 1 else "")
                + "; fires on v > V_th (SpikingJelly: >=)")
        return Lowered(canon, scale, GENERALISED, note)
