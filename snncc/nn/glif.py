"""GLIF: the gated LIF of Yao, Li, Mo & Cheng (NeurIPS 2022), channel-wise version.

Sources read
------------
* X. Yao, F. Li, Z. Mo, J. Cheng, "GLIF: A Unified Gated Leaky Integrate-and-Fire Neuron for
  Spiking Neural Networks", NeurIPS 2022.
* The official code, github.com/Ikarosy/Gated-LIF: ``layers.py`` class ``LIFSpike_CW`` (the
  channel-wise GLIF behind the paper's results), ``train.py`` and ``utils.py`` (initial values,
  the README's training commands).  Every parameter is stored as a logit and passed through a
  sigmoid; per channel ``c``: gates ``alpha, beta, gamma``; ``tau, Vth, leak, reVth``; per time
  step *and* channel ``conduct[t, c]``.  ``extended_state_update`` computes, with ``x[t]`` the
  synaptic input::

      I[t] = x[t] * (1 - beta * (1 - conduct[t]))
      u[t] = ((1 - alpha (1 - tau)) * u[t-1] * (1 - gamma o[t-1]) - (1 - alpha) leak)
             + I[t] - (1 - gamma) reVth o[t-1]
      o[t] = SpikeAct(u[t] - Vth)          # torch.gt(., 0): strict; gradient 1 where |.| < 0.5

  ``u[-1] = 0`` and ``o[-1] = 0`` (the code reads ``out[max(step-1, 0)]``, still zeros at step 0).
  Gates: soft mode (``--soft-mode``, used by every command in the README) is ``sigmoid(logit)``;
  hard mode is ``ArchAct(sigmoid(logit))`` = ``sigmoid(logit) > 0.5`` with a straight-through
  gradient.  Initial values: the README trains with ``--randomgate`` (gate logits uniform in
  [-0.1, 0.1], ``utils.randomize_gate``), otherwise ``--gate 0.6 0.8 0.6`` mapped to
  ``logit((g - 0.5) * 0.5 + 0.5)``; ``tau = 0.25``, ``Vth = 0.5``, ``conduct = 0.5``,
  ``reVth = Vth`` and ``leak = Vth / (2 * steps)`` with the module constant ``steps = 4``
  (0.0625 whatever ``--t`` is; a commented line suggests ``Vth / (2 T)``, SpikingJelly's
  ``GatedLIFNode`` port uses that).

This module keeps those equations, initial values (``gate_init="random"`` by default) and the
rectangle surrogate, one time step per ``forward``: the step index lives in the module and picks
``conduct[t]``; steps beyond ``T`` keep using ``conduct[T-1]`` (the official code runs exactly
``T`` steps).  Parameters are per channel, the channel being the first feature axis (for the
flat layers snncc compiles, every neuron is its own channel).

Lowering (``GLIFNode.lower``), worked out
-----------------------------------------
With ``D = 1 - alpha (1 - tau)`` and ``o[t-1]`` in {0, 1} the update is, term by term, the
canonical CUBA-LIF with a memoryless current and a *delayed custom reset*
(``v = mult * v - sub`` applied at step t+1, right after the decay, to neurons that fired at t):

* decay ``beta = D``; threshold ``Vth``, strict firing;
* bias ``-(1 - alpha) leak`` (a negative voltage bias);
* delayed reset ``mult = 1 - gamma``, ``sub = (1 - gamma) reVth``;
* input gain ``g[t] = 1 - beta (1 - conduct[t])``.

The gain is the one term a static LIF does not have.  If ``g`` is the same at every step (hard
``beta = 0``, or ``tie_conduct=True``, an snncc option that is not in the paper) it is folded
into the incoming weights and bias; otherwise the canonical neuron carries the table
``g[t]`` (``input_gain``) and the generalised fixed-point neuron applies row ``t`` to the
synaptic input of step ``t`` (offset by the layer's synaptic depth on Loihi), and starts the
leak bias in step with the data.  Nothing is approximated.

Mapping class: **exact after folding** when the gain is constant and ``gamma = 1`` everywhere
(hard gates: the delayed zero reset equals an immediate one, ``0 * D v = 0``, so the layer is
Loihi's stock LIF with the leak on the bias axon); otherwise **generalised** (a custom delayed
reset for ``gamma < 1`` and/or the per-step gain table).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..ir.nodes import (EXACT_AFTER_FOLDING, GENERALISED, RESET_CUSTOM, RESET_ZERO, CubaLIF,
                        Lowered, NeuronNode)
from .base import StatefulNeuron, numpy_param
from .surrogate import check_surrogate, spike

GATE_MODES = ("soft", "hard")
RANDOM_GATE_BOUND = 0.1          # utils.randomize_gate: uniform(-0.5 * 0.2, 0.5 * 0.2)
OFFICIAL_LEAK_STEPS = 4          # layers.py: linear_decay = Vth / (steps * 2), steps = 4


def _logit(p: float) -> float:
    if not 0.0 < p < 1.0:
        raise ValueError(f"{p} is outside (0, 1), the range of sigmoid")
    return -math.log(1.0 / p - 1.0)


class GLIF(StatefulNeuron):
    """Gated LIF, channel-wise (``LIFSpike_CW``).  ``T``: number of time steps (``conduct`` is (T, C)).

    ``gates="soft"``: gates are ``sigmoid(logit)`` (the paper); ``"hard"``: gates are
    ``sigmoid(logit) > 0.5`` in the forward pass with a straight-through gradient.
    ``gate_init``: ``"random"`` (logits uniform in [-0.1, 0.1], the README's ``--randomgate``)
    or three initial gate values mapped as the official code does.  ``leak`` defaults to the
    official ``Vth / 8``.  ``tie_conduct=True`` (not in the paper) learns one ``conduct`` per
    channel shared by all time steps (shape (1, C)), so the input gain is static.
    """

    state_names = ("u", "o", "t")

    def __init__(self, shape: int | Sequence[int], T: int, gates: str = "soft",
                 gate_init: Union[str, Sequence[float]] = "random", tau: float = 0.25,
                 vth: float = 0.5, leak: Optional[float] = None, conduct: float = 0.5,
                 revth: Optional[float] = None, tie_conduct: bool = False, learn: bool = True,
                 surrogate: str = "rectangle", slope: Optional[float] = None):
        if gates not in GATE_MODES:
            raise ValueError(f"gates must be one of {GATE_MODES}, got {gates!r}")
        if int(T) < 1:
            raise ValueError(f"T must be >= 1, got {T}")
        if isinstance(gate_init, str) and gate_init != "random":
            raise ValueError(f"gate_init must be 'random' or three gate values, got {gate_init!r}")
        super().__init__(shape, RESET_CUSTOM)
        self.T = int(T)
        self.gates = gates
        self.tie_conduct = bool(tie_conduct)
        self.surrogate = check_surrogate(surrogate)
        self.slope = slope
        c = self.shape[0]
        leak = vth / (2 * OFFICIAL_LEAK_STEPS) if leak is None else leak
        revth = vth if revth is None else revth

        def param(value: float, *dims: int) -> nn.Parameter:
            return nn.Parameter(torch.full(dims, value, dtype=torch.float32), requires_grad=learn)

        if isinstance(gate_init, str):
            gates_init = [torch.empty(c).uniform_(-RANDOM_GATE_BOUND, RANDOM_GATE_BOUND)
                          for _ in range(3)]
        else:   # the official code maps an initial gate g to logit((g - 0.5) * 0.5 + 0.5)
            gates_init = [torch.full((c,), _logit((g - 0.5) * 0.5 + 0.5)) for g in gate_init]
        self.alpha_logit, self.beta_logit, self.gamma_logit = (
            nn.Parameter(g.float(), requires_grad=learn) for g in gates_init)
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
        hard = (soft > 0.5).to(soft.dtype)       # ArchAct: forward gt(0.5), backward identity
        return hard + (soft - soft.detach())

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
        s = spike(u - vth, self.slope, self.surrogate)
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
        return (f"shape={self.shape}, T={self.T}, gates={self.gates!r}, "
                f"surrogate={self.surrogate!r}" + (", tie_conduct=True" if self.tie_conduct else ""))


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
        """g[t] = 1 - beta (1 - conduct[t]), shape (T, *shape), as the module computes it
        (in the parameters' dtype: float32, or float64 for a .double() module)."""
        f = self._float()
        one = f(1.0)
        return (one - self.gate_beta[None] * (one - self.conduct)).astype(f)

    def _float(self) -> type:
        return np.result_type(np.asarray(self.gate_beta).dtype, np.float32).type

    def lower(self) -> Lowered:
        f = self._float()
        one = f(1.0)
        al, ga = self.gate_alpha.astype(f), self.gate_gamma.astype(f)
        decay = (one - al * (one - self.tau)).astype(f)
        bias = (-(one - al) * self.leak).astype(f)
        gain = self.input_gain()
        constant = bool(np.all(gain == gain[:1]))
        mult = (one - ga).astype(f)
        sub = (mult * self.revth).astype(f)
        zero_reset = not np.any(mult)           # gamma == 1 everywhere (hard gates)
        canon = CubaLIF(self.name, shape=self.shape,
                        reset=RESET_ZERO if zero_reset else RESET_CUSTOM,
                        alpha=np.zeros_like(decay), beta=decay,
                        threshold=self.vth.astype(f), bias=bias,
                        reset_mult=None if zero_reset else mult,
                        reset_sub=None if zero_reset else sub,
                        reset_delayed=not zero_reset,
                        input_gain=None if constant else gain)
        parts = [f"GLIF ({self.gates} gates): decay 1-alpha(1-tau), bias -(1-alpha)leak"]
        parts.append("gamma=1: delayed zero reset == immediate zero reset (stock LIF)" if zero_reset
                     else "delayed custom reset v = (1-gamma) v - (1-gamma) reVth")
        if constant:
            parts.append("input gain 1-beta(1-conduct) constant over t: folded into the weights")
        else:
            spread = float((gain.max(axis=0) - gain.min(axis=0)).max())
            parts.append(f"input gain 1-beta(1-conduct[t]) varies over t (spread up to "
                         f"{spread:.4g}): per-step gain table in the generalised neuron")
        mapping = EXACT_AFTER_FOLDING if zero_reset and constant else GENERALISED
        return Lowered(canon, gain[0].copy() if constant else None, mapping, "; ".join(parts))
