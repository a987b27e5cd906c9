"""Xylo's integer arithmetic (xylosim 0.1.3, v2 core), numpy only, vectorised over arrays.

Source: xylosim ``src/v2/cpp/XyloIAFNeuron.{h,cpp}`` and ``XyloLayer.cpp``:

* weights int8; per spike a synapse adds ``int16(w << shift)`` (C++ int -> int16_t: wraps,
  ``127 << 9 == -512``) to the current with ``safe_add`` = saturation to [-32768, 32767];
  a source's spike count is capped (15 for input channels, 31 for hidden neurons) and each
  spike is one saturating add, in source order;
* ``decay(x, dash) = x >> dash`` (arithmetic), but a non-zero x whose shifted value is 0
  decays by ``sign(x)`` (a state never stalls);
* per step, after this step's input: ``I -= decay(I, dash_syn)``;
  ``dv = int16(-decay(v, dash_mem))``; ``dv = sat(dv + I)``; ``dv = sat(dv + bias)``;
  ``v = sat(v + dv)``; then while ``v >= threshold`` and fewer than ``max`` spikes: one more
  spike and ``v -= threshold`` (31 spikes at most for hidden neurons, 1 for readout ones).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STATE_MIN, STATE_MAX = -32768, 32767          # BITS_STATE = 16
WEIGHT_MIN, WEIGHT_MAX = -128, 127            # BITS_WEIGHT = 8
MAX_INPUT_SPIKES = 15                         # MAX_NUM_INP_SPIKES
MAX_HIDDEN_SPIKES = 31                        # MAX_NUM_SPIKES
MAX_OUTPUT_SPIKES = 1                         # MAX_NUM_OUT_SPIKES
DASH_MAX = 15                                 # dash registers are 4 bits on the chip
SHIFT_MAX = 15                                # weight bit shifts (4-bit registers)


@dataclass(frozen=True)
class Chip:
    """One Xylo sub-target: its design rules (Rockpool 3.1.0 ``syns*/xylo_mapper.py``)."""

    name: str
    title: str
    part: str
    inputs: int
    hidden: int
    outputs: int
    synapses: int       # synaptic currents per hidden neuron


CHIPS = {
    "xylo-audio2": Chip("xylo-audio2", "Xylo Audio 2", "SYNS61201", 16, 1000, 8, 2),
    "xylo-imu": Chip("xylo-imu", "Xylo IMU", "SYNS63300", 16, 496, 16, 1),
    "xylo-audio3": Chip("xylo-audio3", "Xylo Audio 3", "SYNS65302", 16, 992, 16, 2),
}
CHIPS["xylo"] = CHIPS["xylo-audio2"]


def wrap16(x: np.ndarray) -> np.ndarray:
    """C++ conversion of an int to ``int16_t`` (two's complement wrap), as int64."""
    return ((np.asarray(x, np.int64) + 32768) & 0xFFFF) - 32768


def sat16(x: np.ndarray) -> np.ndarray:
    """``safe_add``'s saturation to the 16-bit state range, as int64."""
    return np.clip(x, STATE_MIN, STATE_MAX)


def shifted_weight(w: np.ndarray, shift: int) -> np.ndarray:
    """What one spike adds: ``int16(w << shift)`` (int64 array)."""
    return wrap16(np.asarray(w, np.int64) << int(shift))


def decay(x: np.ndarray, dash: np.ndarray) -> np.ndarray:
    """xylosim ``decay``: ``x >> dash``, or ``sign(x)`` where that is 0 and x is not."""
    d = np.right_shift(x, dash)
    return np.where((d == 0) & (x != 0), np.sign(x), d)


def evolve(i_syn: np.ndarray, v: np.ndarray, threshold: np.ndarray, bias: np.ndarray,
           dash_mem: np.ndarray, dash_syn: np.ndarray, max_spikes: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ``XyloIAFNeuron::evolve`` of every neuron (one synapse each, no alias spikes).

    ``i_syn``, ``v``: int64 (..., n) states holding this step's input already; the per-neuron
    arrays broadcast against them.  Returns ``(i_syn, v, spike counts)``, counts int64.
    ``threshold`` must be > 0 (the quantizer guarantees it).
    """
    i_syn = i_syn - decay(i_syn, dash_syn)
    dv = wrap16(-decay(v, dash_mem))
    dv = sat16(dv + i_syn)
    dv = sat16(dv + bias)
    v = sat16(v + dv)
    count = np.where(v >= threshold, np.minimum(v // threshold, max_spikes), 0)
    return i_syn, v - count * threshold, count
