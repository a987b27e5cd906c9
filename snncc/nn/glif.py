"""GLIF: the gated LIF of Yao, Li, Mo & Cheng (NeurIPS 2022), channel-wise version.

Sources read
------------
* X. Yao, F. Li, Z. Mo, J. Cheng, "GLIF: A Unified Gated Leaky Integrate-and-Fire Neuron for
  Spiking Neural Networks", NeurIPS 2022.
* The official code, github.com/Ikarosy/Gated-LIF (mirrored as CAS-CLab/Gated-LIF), ``layers.py``,
  class ``LIFSpike_CW`` (the channel-wise GLIF the paper's results use) and ``train.py`` (initial
  values).  Every parameter is stored as a logit and passed through a sigmoid; per channel ``c``:
  gates ``alpha, beta, gamma``; ``tau, Vth, leak, reVth``; per time step *and* channel
  ``conduct[t, c]``.  ``extended_state_update`` computes, with ``x[t]`` the synaptic input::

      I[t] = x[t] * (1 - beta * (1 - conduct[t]))
      u[t] = (1 - alpha (1 - tau)) * u[t-1] * (1 - gamma o[t-1]) - (1 - alpha) leak
             + I[t] - (1 - gamma) reVth o[t-1]
      o[t] = SpikeAct(u[t] - Vth)          # SpikeAct fires on  > 0  (torch.gt): strict

  ``u[-1] = 0`` and ``o[-1] = 0`` (the code reads ``out[max(step-1, 0)]``, still all zeros at step
  0).  Gates: soft mode (``--soft-mode``, the paper's setting) uses ``sigmoid(logit)``; hard mode
  binarises them, ``sigmoid(logit) > 0.5`` (i.e. ``logit > 0``) with a straight-through gradient
  (``ArchAct``), or ``logit.gt(0)`` detached with ``static_gate``.  Initial values (``train.py``):
  gates ``[0.6, 0.8, 0.6]`` mapped to ``logit((g - 0.5) * 0.5 + 0.5)``; ``tau = 0.25``,
  ``Vth = 0.5``, ``leak = Vth / (2 T)`` (``linear_decay``), ``conduct = 0.5``, ``reVth = Vth``.

This module keeps those equations and initial values, one time step per ``forward`` (the step
index lives in the module and picks ``conduct[t]``; steps beyond ``T`` keep using
``conduct[T-1]``).  The surrogate gradient is snncc's fast sigmoid
(:func:`snncc.nn.surrogate.spike`) rather than the code's rectangle ``|u - Vth| < 0.5``; the
forward pass is identical.  Parameters are per channel, the channel being the first feature
axis (for the flat layers snncc compiles, every neuron is its own channel).

Lowering (``GLIFNode.lower``), worked out
-----------------------------------------
With ``D = 1 - alpha (1 - tau)`` the update is, term by term, the canonical CUBA-LIF with a
memoryless current and a *delayed custom reset* (``v = mult * v - sub`` applied at step t+1 to
neurons that fired at t):

* decay ``beta = D``;
* bias ``-(1 - alpha) leak`` (a negative voltage bias; with the memoryless current,
  ``lower_neurons`` may carry it on the layer's bias axon instead, which is the same thing);
* delayed reset ``mult = 1 - gamma``, ``sub = (1 - gamma) reVth``: the sim applies it after the
  decay, ``v = mult * (D u) - sub``, which equals the paper's ``D u (1 - gamma) - (1-gamma) reVth``
  (equal in exact arithmetic, the order of the two products differs in float);
* threshold ``Vth``, strict firing (as the code);
* input gain ``g[t] = 1 - beta (1 - conduct[t])`` folded into the incoming weights and bias.

A static neuron has one input gain, but ``g`` depends on the time step.  If ``g[t]`` is the same
for every t (hard ``beta = 0``, or ``conduct`` tied over time: ``tie_conduct=True``, an snncc
option that is not in the paper) the fold is exact; otherwise the
mean over t is folded and the layer is reported **approximate** with the measured spread
``max_t g - min_t g`` (an exact mapping would need a per-step gain table, or per-step scaled
weights shifted by the layer's synaptic depth, since each Loihi Dense adds one step of delay).

Mapping class: approximate if ``g`` varies over t; else generalised if the reset needs snncc's
generalised neuron (any ``gamma < 1``); else (hard ``gamma = 1`` everywhere) the delayed zero
reset equals an immediate zero reset (``0 * D v = 0``, in float and in fixed point), so the layer
is Loihi's stock LIF with a bias: exact after folding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..ir.nodes import (APPROXIMATE, EXACT_AFTER_FOLDING, GENERALISED, RESET_CUSTOM, RESET_ZERO,
                        CubaLIF, Lowered, NeuronNode)
from .base import StatefulNeuron, numpy_param
from .surrogate import spike

GATE_MODES = ("soft", "hard")


def _logit(p: float) -> float:
    if not 0.0 < p < 1.0:
        raise ValueError(f"{p} is outside (0, 1), the range of sigmoid")
    return -math.log(1.0 / p - 1.0)


class GLIF(StatefulNeuron):
    """Gated LIF, channel-wise (``LIFSpike_CW``).  ``T``: number of time steps (``conduct`` is (T, C)).

    ``gates="soft"``: gates are ``sigmoid(logit)`` (the paper); ``"hard"``: gates are
    ``logit > 0`` in the forward pass with a straight-through gradient through the sigmoid.
    ``tie_conduct=True`` (not in the paper) learns one ``conduct`` per channel shared by all
    time steps (shape (1, C)), which keeps the input gain static and the lowering exact.
    """

    state_names = ("u", "o", "t")

    def __init__(self, shape: int | Sequence[int], T: int, gates: str = "soft",
                 gate_init: Sequence[float] = (0.6, 0.8, 0.6), tau: float = 0.25,
                 vth: float = 0.5, leak: Optional[float] = None, conduct: float = 0.5,
                 revth: Optional[float] = None, tie_conduct: bool = False, learn: bool = True,
                 slope: float = 5.0):
        if gates not in GATE_MODES:
            raise ValueError(f"gates must be one of {GATE_MODES}, got {gates!r}")
        if int(T) < 1:
            raise ValueError(f"T must be >= 1, got {T}")
        super().__init__(shape, RESET_CUSTOM)
        self.T = int(T)
        self.gates = gates
        self.tie_conduct = bool(tie_conduct)
        self.slope = slope
        c = self.shape[0]
        leak = vth / (2 * self.T) if leak is None else leak
        revth = vth if revth is None else revth

        def param(value: float, *dims: int) -> nn.Parameter:
            return nn.Parameter(torch.full(dims, value, dtype=torch.float32), requires_grad=learn)

        # the official code maps an initial gate g to logit((g - 0.5) * 0.5 + 0.5)
        ga, gb, gg = (_logit((g - 0.5) * 0.5 + 0.5) for g in gate_init)
        self.alpha_logit, self.beta_logit, self.gamma_logit = param(ga, c), param(gb, c), param(gg, c)
        self.tau_logit = param(_logit(tau), c)
        self.vth_logit = param(_logit(vth), c)
        self.leak_logit = param(_logit(leak), c)
        self.revth_logit = param(_logit(revth), c)
        self.conduct_logit = param(_logit(conduct), 1 if self.tie_conduct else self.T, c)

    # parameters as the equations use them -----------------------------------------------------
    def _gate(self, logit: torch.Tensor) -> torch.Tensor:
        soft = logit.sigmoid()
        if self.gates == "soft":
            return soft
        hard = (logit > 0).to(soft.dtype)
        return hard + (soft - soft.detach())      # value exactly 0/1, gradient of the sigmoid

    def gate_values(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(alpha, beta, gamma) per channel, soft or binarised."""
        return (self._gate(self.alpha_logit), self._gate(self.beta_logit),
                self._gate(self.gamma_logit))

    def _bc(self, p: torch.Tensor) -> torch.Tensor:
        """Per-channel (C,) -> broadcastable over (batch, C, *rest)."""
        return p.view(p.shape[0], *([1] * (len(self.shape) - 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, o = self._state("u", x), self._state("o", x)
        t = 0 if self.t is None else int(self.t)
        al, be, ga = (self._bc(g) for g in self.gate_values())
        tau, vth = self._bc(self.tau_logit.sigmoid()), self._bc(self.vth_logit.sigmoid())
        leak, revth = self._bc(self.leak_logit.sigmoid()), self._bc(self.revth_logit.sigmoid())
        conduct = self._bc(self.conduct_logit[min(t, self.conduct_logit.shape[0] - 1)].sigmoid())
        i = x * (1 - be * (1 - conduct))
        u = ((1 - al * (1 - tau)) * u * (1 - ga * o) - (1 - al) * leak) + i - (1 - ga) * revth * o
        s = spike(u - vth, self.slope)
        self.u, self.o, self.t = u, s, t + 1
        return s

    # IR --------------------------------------------------------------------------------------
    def _expand(self, p: torch.Tensor) -> np.ndarray:
        """(C,) or (T, C) per channel -> (*shape) or (T, *shape) per neuron, float32 numpy."""
        arr = numpy_param(p)
        arr = arr.reshape(arr.shape + (1,) * (len(self.shape) - 1))
        return np.ascontiguousarray(np.broadcast_to(arr, arr.shape[:-len(self.shape)] + self.shape))

    def to_ir(self, name: str) -> "GLIFNode":
        al, be, ga = self.gate_values()
        return GLIFNode(name, shape=self.shape, reset=RESET_CUSTOM, gates=self.gates,
                        gate_alpha=self._expand(al), gate_beta=self._expand(be),
                        gate_gamma=self._expand(ga),
                        tau=self._expand(self.tau_logit.sigmoid()),
                        vth=self._expand(self.vth_logit.sigmoid()),
                        leak=self._expand(self.leak_logit.sigmoid()),
                        revth=self._expand(self.revth_logit.sigmoid()),
                        conduct=self._expand(self.conduct_logit.sigmoid()))

    def extra_repr(self) -> str:
        return (f"shape={self.shape}, T={self.T}, gates={self.gates!r}"
                + (", tie_conduct=True" if self.tie_conduct else ""))


@dataclass
class GLIFNode(NeuronNode):
    """Float IR of :class:`GLIF`: gate values and sigmoided parameters per neuron; ``conduct`` is (T, *shape)."""

    kind: ClassVar[str] = "glif"
    gates: str = "soft"
    gate_alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gate_beta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gate_gamma: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tau: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vth: np.ndarray = field(default_factory=lambda: np.zeros(0))
    leak: np.ndarray = field(default_factory=lambda: np.zeros(0))
    revth: np.ndarray = field(default_factory=lambda: np.zeros(0))
    conduct: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def input_gain(self) -> np.ndarray:
        """g[t] = 1 - beta (1 - conduct[t]), shape (T, *shape)."""
        one = np.float32(1.0)
        return (one - self.gate_beta[None] * (one - self.conduct)).astype(np.float32)

    def lower(self) -> Lowered:
        one = np.float32(1.0)
        al, ga = self.gate_alpha.astype(np.float32), self.gate_gamma.astype(np.float32)
        decay = (one - al * (one - self.tau)).astype(np.float32)
        bias = (-(one - al) * self.leak).astype(np.float32)
        gain = self.input_gain()
        spread = gain.max(axis=0) - gain.min(axis=0)
        constant = not np.any(spread > 0)
        scale = gain[0].copy() if constant else gain.mean(axis=0, dtype=np.float64).astype(np.float32)
        mult = (one - ga).astype(np.float32)
        sub = (mult * self.revth).astype(np.float32)
        zero_reset = not np.any(mult)           # gamma == 1 everywhere (hard gates)
        canon = CubaLIF(self.name, shape=self.shape,
                        reset=RESET_ZERO if zero_reset else RESET_CUSTOM,
                        alpha=np.zeros_like(decay), beta=decay,
                        threshold=self.vth.astype(np.float32), bias=bias,
                        reset_mult=None if zero_reset else mult,
                        reset_sub=None if zero_reset else sub,
                        reset_delayed=not zero_reset)
        parts = [f"GLIF ({self.gates} gates): decay 1-alpha(1-tau), bias -(1-alpha)leak"]
        if zero_reset:
            parts.append("gamma=1: delayed zero reset == immediate zero reset (stock LIF)")
        else:
            parts.append("delayed custom reset v = (1-gamma) v - (1-gamma) reVth")
        if constant:
            parts.append("input gain 1-beta(1-conduct[t]) constant over t, folded into weights")
            mapping = EXACT_AFTER_FOLDING if zero_reset else GENERALISED
        else:
            parts.append(f"input gain 1-beta(1-conduct[t]) varies over t (spread up to "
                         f"{float(spread.max()):.4g}, mean {float(spread.mean()):.4g}); its mean "
                         "over t is folded into the weights: a static neuron has no per-step gain")
            mapping = APPROXIMATE
        return Lowered(canon, scale, mapping, "; ".join(parts))
