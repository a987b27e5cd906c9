"""DA-LIF: the dual adaptive LIF of Zhang, Yu, Zhang & Wang (2025): learnable spatial and temporal decays.

Sources read
------------
* T. Zhang, K. Yu, J. Zhang, H. Wang, "DA-LIF: Dual Adaptive Leaky Integrate-and-Fire Model for
  Deep Spiking Neural Networks", arXiv 2502.10422 (ICASSP 2025).  Only the abstract and
  published summaries of the method could be read (the full text was not reachable from here).
  They give the membrane update, in the paper's notation (``t`` time step, ``n`` layer)::

      V[t,n] = beta[n] * H[t-1,n] + alpha[n] * X[t,n]     # alpha: spatial decay, beta: temporal
      S[t,n] = Heaviside(V[t,n] - V_th)
      H[t,n] = V[t,n] * (1 - S[t,n])                        # hard reset of the LIF it extends

  with ``alpha`` and ``beta`` *independently learnable*, "derived from two time constants"
  ``tau_a`` and ``tau_b``, "per-layer adaptation" (the superscript is the layer) and an ablation
  reported in favour of "the tanh activation".
* No official code was found; the "DA-LIF" repositories on GitHub implement a different neuron
  (two cascaded decays, a current and a voltage) and were deliberately not used.

Choices made here (check them against the paper's full text when it is available)
----------------------------------------------------------------------------------
* ``granularity="layer"`` (default, the paper's ``alpha^n, beta^n``): one learnable pair per
  layer; ``"neuron"``: one pair per neuron (per channel for the flat layers snncc compiles).
* ``alpha = squash(a)``, ``beta = squash(b)`` with learnable logits ``a``, ``b``:
  ``squash="sigmoid"`` (default) keeps both in (0, 1); ``"tanh"`` allows negative values.  The
  summaries do not say whether the ablation's "tanh" is this squashing or the surrogate; both
  are selectable.  Initial values ``alpha = 1/tau_a``, ``beta = 1 - 1/tau_b``: with
  ``tau_a == tau_b`` the neuron starts as SpikingJelly's LIF with ``decay_input``.
* ``v_threshold`` (default 1.0) is fixed; firing is strict (``V > V_th``), as on Loihi; hard
  reset to 0; V starts at 0.  Surrogate: SpikingJelly's ``Sigmoid(alpha=4)`` by default (the
  paper's choice could not be read).

Mapping to Loihi (``DALIFNode.lower``): exact after folding
-----------------------------------------------------------
``beta`` is the voltage decay (``dv = 4096 (1 - beta)``), the current is memoryless, and the
spatial ``alpha`` is a per-neuron input scale folded into the rows (and bias) of the preceding
Linear layer: Loihi's stock LIF.  A negative ``beta`` (possible only with ``squash="tanh"``) has
no Loihi decay: lowering raises :class:`snncc.errors.SnnccError` naming the layer and value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Optional, Sequence

import numpy as np
import torch

from ..errors import SnnccError
from ..ir.nodes import EXACT_AFTER_FOLDING, RESET_ZERO, CubaLIF, Lowered, NeuronNode
from .base import StatefulNeuron, numpy_param
from .plif import per_neuron_array
from .surrogate import check_surrogate, spike

SQUASHES = ("sigmoid", "tanh")
GRANULARITIES = ("layer", "neuron")


def _inverse_squash(value: float, squash: str) -> float:
    if squash == "sigmoid":
        if not 0.0 < value < 1.0:
            raise ValueError(f"initial decay {value} is outside (0, 1), the range of sigmoid")
        return math.log(value / (1.0 - value))
    if not -1.0 < value < 1.0:
        raise ValueError(f"initial decay {value} is outside (-1, 1), the range of tanh")
    return math.atanh(value)


class DALIF(StatefulNeuron):
    """Dual adaptive LIF: ``V = beta*H + alpha*X``; spike ``V > v_threshold``; ``H = V*(1-S)``.

    ``alpha`` (spatial) and ``beta`` (temporal) are learned as logits through ``squash``
    (sigmoid by default), one pair per layer (``granularity="layer"``, the paper) or per neuron.
    See the module docstring for sources, choices and the mapping.
    """

    state_names = ("v",)

    def __init__(self, shape: int | Sequence[int], tau_a: float = 2.0, tau_b: float = 2.0,
                 v_threshold: float = 1.0, squash: str = "sigmoid", granularity: str = "layer",
                 learn: bool = True, surrogate: str = "sigmoid", slope: Optional[float] = None):
        if squash not in SQUASHES:
            raise ValueError(f"squash must be one of {SQUASHES}, got {squash!r}")
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        if not v_threshold > 0:
            raise ValueError(f"v_threshold must be > 0, got {v_threshold}")
        super().__init__(shape, RESET_ZERO)
        self.squash = squash
        self.granularity = granularity
        self.v_threshold = float(v_threshold)
        self.surrogate = check_surrogate(surrogate)
        self.slope = slope
        a, b = _inverse_squash(1.0 / tau_a, squash), _inverse_squash(1.0 - 1.0 / tau_b, squash)
        self.alpha_logit, self.beta_logit = self._logit(a, learn), self._logit(b, learn)

    def _logit(self, value: float, learn: bool) -> torch.nn.Parameter:
        if self.granularity == "neuron":
            return self._per_neuron(value, learn)
        return torch.nn.Parameter(torch.tensor(value, dtype=torch.float32), requires_grad=learn)

    def _squash(self, t: torch.Tensor) -> torch.Tensor:
        return t.sigmoid() if self.squash == "sigmoid" else t.tanh()

    def spatial_decay(self) -> torch.Tensor:
        """alpha, the gain of the input X[t]."""
        return self._squash(self.alpha_logit)

    def temporal_decay(self) -> torch.Tensor:
        """beta, the decay of the membrane H[t-1]."""
        return self._squash(self.beta_logit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.temporal_decay() * self._state("v", x) + self.spatial_decay() * x
        s = spike(v - self.v_threshold, self.slope, self.surrogate)
        self.v = v * (1.0 - s)
        return s

    def to_ir(self, name: str) -> "DALIFNode":
        spatial = numpy_param(self.spatial_decay())
        return DALIFNode(name, shape=self.shape, reset=RESET_ZERO,
                         spatial=per_neuron_array(spatial, self.shape),
                         temporal=per_neuron_array(numpy_param(self.temporal_decay()), self.shape),
                         threshold=np.full(self.shape, self.v_threshold, dtype=spatial.dtype))

    def extra_repr(self) -> str:
        return (f"shape={self.shape}, v_threshold={self.v_threshold}, squash={self.squash!r}, "
                f"granularity={self.granularity!r}, surrogate={self.surrogate!r}")


@dataclass
class DALIFNode(NeuronNode):
    """Float IR of :class:`DALIF`: ``spatial`` (the paper's alpha), ``temporal`` (beta), ``threshold``."""

    kind: ClassVar[str] = "dalif"
    spatial: np.ndarray = field(default_factory=lambda: np.zeros(0))
    temporal: np.ndarray = field(default_factory=lambda: np.zeros(0))
    threshold: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def lower(self) -> Lowered:
        dtype = np.result_type(np.asarray(self.temporal).dtype, np.float32)  # float64 stays
        beta = np.asarray(self.temporal, dtype=dtype)
        if beta.size and (beta.min() < 0 or beta.max() > 1):
            bad = float(beta.min() if beta.min() < 0 else beta.max())
            raise SnnccError(f"layer {self.name!r} (DA-LIF): temporal decay beta = {bad:.6g} is "
                             "outside [0, 1]; Loihi's voltage decay cannot represent it",
                             "train with squash='sigmoid' (beta in (0, 1)) or clamp beta to [0, 1]")
        canon = CubaLIF(self.name, shape=self.shape, reset=RESET_ZERO,
                        alpha=np.zeros_like(beta), beta=beta.copy(),
                        threshold=np.asarray(self.threshold, dtype),
                        bias=np.zeros_like(beta))
        scale = np.asarray(self.spatial, dtype=dtype)
        note = (f"DA-LIF: beta -> voltage decay (range [{beta.min():.3g}, {beta.max():.3g}]), "
                f"spatial alpha (range [{scale.min():.3g}, {scale.max():.3g}]) folded into the "
                "incoming weights and bias; hard reset, fires on v > V_th")
        return Lowered(canon, scale.copy(), EXACT_AFTER_FOLDING, note)
