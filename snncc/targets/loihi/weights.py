"""A synapse's weights on Loihi's 8-bit grid, optionally with a second, finer synapse.

The coarse weights are ``round(w S / 2**(e+6))`` on the grid of the sign mode Lava will
infer (``fixedpoint.weight_range``), exactly as before.  With extended precision the
rounding residual ``r = w S / 2**(e+6) - coarse`` (at most half a step) is carried by a
second synapse from the same source into the same neurons, at exponent ``e_f = max(e - 8,
0)``: its weights are ``round(r 2**(e - e_f))``, so the pair resolves ``2**(e - e_f)``
times finer (up to 8 more bits).  Both exponents are ``>= 0``, so neither Dense floors its
output (no rounding bias) and a conv can bake them into its kernel as Lava's Conv needs.
Where ``e <= 0`` the fine part would add nothing below one activation unit: none is made.

Why: a neuron whose reset keeps the membrane (subtract reset, no reset) integrates every
input it ever got, so the weights' rounding error accumulates over the whole sample instead
of being wiped at each spike; measured on a trained snnTorch Leaky MLP, 8-bit weights alone
lose 1.3 points of output agreement, 4 more bits bring back all but 0.2 (error attribution,
``docs/fidelity.md``).  The cost is a second Dense (synaptic memory and SynOps) per synapse.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import fixedpoint as fx
from ...errors import SnnccError
from ...passes.synapse_stats import Synapse

FINE_BITS = 8
FINE_SUFFIX = ".fine"          # name of the fine synapse: the coarse one's + this
PRECISIONS = ("single", "extended", "auto")


@dataclass
class SynapseWeights:
    """Integer weights of one float synapse: the coarse part and an optional fine part."""

    coarse: np.ndarray
    exp: int
    mode: str
    clipped: int
    fine: Optional[np.ndarray] = None
    fine_exp: int = 0
    fine_mode: str = fx.SIGN_SPLIT
    twin: Optional[np.ndarray] = None        # the real coarse weight, w S / 2**(e+6)

    def effective(self, unit: float) -> np.ndarray:
        """The weights the pair applies, in float membrane units times S (``unit = 2**(e+6)``)."""
        w = self.coarse * unit
        if self.fine is not None:
            w = w + self.fine * 2.0 ** (self.fine_exp + fx.ACT_SHIFT)
        return w


def to_grid(x: np.ndarray, mode: str) -> np.ndarray:
    """Round to the nearest representable 8-bit weight of ``mode`` (clipped)."""
    lo, hi, step = fx.weight_range(mode)
    return np.clip(np.round(x / step) * step, lo, hi).astype(np.int64)


def wants_extended(neuron, precision: str) -> bool:
    """Whether a layer gets fine synapses: ``"auto"`` gives them to neurons whose reset
    keeps (part of) the membrane, which accumulate rounding error over the whole sample."""
    if precision not in PRECISIONS:
        raise SnnccError(f"unknown weight precision {precision!r}", "use " + ", ".join(PRECISIONS))
    if precision == "single":
        return False
    if precision == "extended":
        return True
    mult, _ = neuron.reset_terms()
    return bool(np.any(np.asarray(mult) > 0))


def quantize_weights(syn: Synapse, mode: str, exp: int, scale: np.ndarray, extended: bool,
                     split_sign: bool, exp_range: tuple[int, int],
                     keep_twin: bool = False) -> SynapseWeights:
    """Coarse (and, if ``extended`` and the exponent allows, fine) integer weights of ``syn``
    for per-neuron scales ``scale`` (float64, flat) at weight exponent ``exp``."""
    unit = 2.0 ** (exp + fx.ACT_SHIFT)
    target = syn.weight * syn.row_scale(scale) / unit
    coarse = to_grid(target, mode)
    lo, hi, step = fx.weight_range(mode)
    clipped = int(np.count_nonzero((target > hi + step / 2) | (target < lo - step / 2)))
    out = SynapseWeights(coarse, exp, mode, clipped, twin=target if keep_twin else None)
    fine_exp = max(exp - FINE_BITS, 0, syn.exp_range(exp_range)[0])
    if extended and fine_exp < exp:
        residual = (target - coarse) * 2.0 ** (exp - fine_exp)
        fmode = fx.SIGN_SPLIT if split_sign else fx.sign_mode(residual)
        fine = to_grid(residual, fmode)
        if np.any(fine):
            out.fine, out.fine_exp, out.fine_mode = fine, fine_exp, fmode
    return out


def quantize_bias(bias: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, int]:
    """Bias axon weights and exponent: 8 bits on the bias' own sign-mode grid, exponent >= 0."""
    target = bias.astype(np.float64) * scale / 2.0 ** fx.ACT_SHIFT     # in activation units
    mode = fx.sign_mode(target)
    lo, hi, _ = fx.weight_range(mode)
    peak = float(np.max(np.abs(target))) if target.size else 0.0
    exp = max(0, int(np.ceil(np.log2(peak / max(abs(lo), abs(hi))))) if peak > 0 else 0)
    return to_grid(target / 2.0 ** exp, mode), exp


def quantize_gain(neuron) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """The per-step input gain as a (T, n) table of 12-bit fractions (4096 = 1), and the
    float gains it rounds ((T, n) float64); (None, None) without a gain."""
    if neuron.input_gain is None:
        return None, None
    g = np.asarray(neuron.input_gain, dtype=np.float64)
    g = g.reshape(g.shape[0], -1)
    if np.any(g < 0) or np.any(g > 1):
        raise SnnccError(f"layer {neuron.name!r}: per-step input gain in [{g.min():.4g}, "
                         f"{g.max():.4g}] is outside [0, 1]",
                         "fold the largest gain into the preceding weights first")
    table = np.round(g * fx.DECAY_UNITY).astype(np.int64)
    return table, g
