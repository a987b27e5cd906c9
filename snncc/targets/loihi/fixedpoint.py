"""Loihi fixed-point arithmetic, exactly as lava-nc 0.10.0's ``fixed_pt`` models compute it.

Sources: ``lava/proc/lif/models.py`` (AbstractPyLifModelFixed, PyLifModelBitAcc),
``lava/proc/dense/models.py`` (PyDenseModelBitAcc), ``lava/utils/weightutils.py``.
These are the only place the bit-level rules live; the simulator, the quantizer and
the Lava backend all call them.  Pure numpy so it imports in the Lava (Python 3.10) env.
"""
from __future__ import annotations

import numpy as np

STATE_BITS = 24                      # u and v are 24-bit signed
MAX_UV = 2 ** (STATE_BITS - 1)       # 2**23
V_MAX = MAX_UV - 1                   # v saturates to [-(2**23 - 1), 2**23 - 1]
DECAY_SHIFT = 12                     # decays are 12-bit fractions of 4096
DECAY_UNITY = 2 ** DECAY_SHIFT
DU_OFFSET = 1                        # ds_offset: effective current decay is du + 1
DV_OFFSET = 0                        # dm_offset
ACT_SHIFT = 6                        # synaptic input is MSB-aligned by 6 bits
VTH_SHIFT = 6                        # so is the threshold
VTH_MAX = 2 ** 17 - 1                # vth is 17-bit unsigned
BIAS_MANT_MIN, BIAS_MANT_MAX = -(2 ** 12), 2 ** 12 - 1   # 13-bit signed mantissa
BIAS_EXP_MIN, BIAS_EXP_MAX = 0, 7                        # 3-bit exponent
WEIGHT_BITS = 8

SIGN_EXCITATORY, SIGN_INHIBITORY, SIGN_MIXED = "excitatory", "inhibitory", "mixed"


def decay_rtz(x: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """``x * (4096 - decay) / 4096`` rounded toward zero, in int64 as Lava does it."""
    prod = x.astype(np.int64) * (DECAY_UNITY - np.asarray(decay, dtype=np.int64))
    return (np.sign(prod) * (np.abs(prod) >> DECAY_SHIFT)).astype(np.int64)


def scale_rtz(x: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """``x * mult / 4096`` rounded toward zero (the generalised neuron's multiplicative reset)."""
    prod = x.astype(np.int64) * np.asarray(mult, dtype=np.int64)
    return (np.sign(prod) * (np.abs(prod) >> DECAY_SHIFT)).astype(np.int64)


def wrap_current(u: np.ndarray) -> np.ndarray:
    """Lava's lopsided 24-bit wrap of ``u``: values > 2**23 lose 2**24, values <= -2**23 gain it."""
    wrapped = np.where(u > MAX_UV, u - 2 * MAX_UV, u)
    return np.where(wrapped <= -MAX_UV, u + 2 * MAX_UV, wrapped)


def wrap_signed(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap to ``bits`` (Lava's ``signed_clamp``: the Conv output, 24 bits)."""
    base = 1 << bits
    return (np.asarray(x, dtype=np.int64) + base // 2) % base - base // 2


def saturate_voltage(v: np.ndarray) -> np.ndarray:
    """Clip ``v`` to the symmetric 24-bit range Lava uses."""
    return np.clip(v, -V_MAX, V_MAX)


def effective_bias(bias_mant: np.ndarray, bias_exp: np.ndarray) -> np.ndarray:
    """``bias_mant << bias_exp`` (arithmetic right shift for a negative exponent)."""
    mant = np.asarray(bias_mant, dtype=np.int64)
    exp = np.asarray(bias_exp, dtype=np.int64)
    return np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0))


def shift_activation(acc: np.ndarray, weight_exp: int) -> np.ndarray:
    """Dense output: the summed input shifted by the weight exponent (floor for a right shift)."""
    acc = acc.astype(np.int64)
    return acc << weight_exp if weight_exp > 0 else acc >> (-weight_exp)


def split_by_sign(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The excitatory and inhibitory parts of a split-sign matrix."""
    return np.maximum(weights, 0), np.minimum(weights, 0)


def sign_mode(weights: np.ndarray) -> str:
    """The sign mode Lava infers from a whole weight matrix at run time."""
    if weights.size == 0 or np.min(weights) >= 0:
        return SIGN_EXCITATORY
    if np.max(weights) <= 0:
        return SIGN_INHIBITORY
    return SIGN_MIXED


def lava_effective_weights(weights: np.ndarray, num_weight_bits: int = WEIGHT_BITS) -> np.ndarray:
    """The weights Lava's fixed_pt Dense actually uses: clip to 8 bits, then truncate LSBs.

    In mixed mode one extra LSB is dropped, so weights become even and round toward
    minus infinity (39 -> 38, -3 -> -4).
    """
    w = np.asarray(weights).astype(np.int64)
    mode = sign_mode(w)
    if mode == SIGN_INHIBITORY:
        w = -w
    lo = -(2 ** WEIGHT_BITS) if mode == SIGN_MIXED else 0
    w = np.clip(w, lo, 2 ** WEIGHT_BITS - 1)
    drop = WEIGHT_BITS - num_weight_bits + (1 if mode == SIGN_MIXED else 0)
    w = (w >> drop) << drop
    return -w if mode == SIGN_INHIBITORY else w


SIGN_SPLIT = "split"          # snncc: positive and negative parts in two Dense processes


def weight_range(mode: str) -> tuple[int, int, int]:
    """(min, max, step) of representable 8-bit weights for a sign mode."""
    if mode == SIGN_SPLIT:
        return -255, 255, 1
    if mode == SIGN_MIXED:
        return -256, 254, 2
    if mode == SIGN_INHIBITORY:
        return -255, 0, 1
    return 0, 255, 1


def split_bias(bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mantissa/exponent pair for each bias value (in v units), smallest exponent that fits.

    Values beyond ``4095 << 7`` are clipped to the largest representable bias; the
    quantizer reports that as an error so it never happens silently.
    """
    b = np.asarray(bias, dtype=np.float64)
    exp = np.full(b.shape, BIAS_EXP_MAX, dtype=np.int64)
    for e in range(BIAS_EXP_MAX, BIAS_EXP_MIN - 1, -1):
        mant = np.round(b / 2.0 ** e)
        exp = np.where((mant >= BIAS_MANT_MIN) & (mant <= BIAS_MANT_MAX), e, exp)
    mant = np.clip(np.round(b / 2.0 ** exp), BIAS_MANT_MIN, BIAS_MANT_MAX).astype(np.int64)
    return mant, exp
