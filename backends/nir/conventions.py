"""How snncc's discrete neuron maps to NIR's continuous-time nodes (forward Euler at ``dt``).

snncc's canonical neuron per step: ``i = alpha*i + x``; ``v = beta*v + i + bias``.
NIR: ``tau_syn di/dt = -i + w_in*x``; ``tau_mem dv/dt = (v_leak - v) + r*i``.  Euler at
``dt`` with the updated current feeding the voltage (snnTorch's ``Synaptic`` order) gives

    alpha = 1 - dt/tau_syn      input gain of i:  dt*w_in/tau_syn
    beta  = 1 - dt/tau_mem      input gain of v:  dt*r/tau_mem      bias = dt*v_leak/tau_mem

so snncc exports ``tau = dt/(1-decay)``, ``r = tau_mem/dt``, ``w_in = tau_syn/dt`` (unit
gains, convention 1 of ../shared/notes/nir-and-peers.md) and, on import, folds any other
gain into the preceding weights.  All conversions run in float64; float32 parameters come
back bit for bit.
"""
from __future__ import annotations

import numpy as np

FORMAT = "snncc.nir"
VERSION = 1
INTEGRATOR = "forward-euler; current updated first, voltage integrates the updated current"
SPIKE = "v > v_threshold (strict)"
DELAY = "recurrent edges deliver one time step later"

RESET_DOC = {
    "zero": "v = v_reset (0) at the spike step",
    "subtract": "v -= v_threshold at the spike step (NIR's v_reset does not express this)",
    "custom": "v = reset_mult*v - reset_sub (node metadata)",
}


def tau_from_decay(decay: np.ndarray, dt: float) -> np.ndarray:
    """``tau = dt/(1-decay)``; decay 1 has no finite time constant (caller rejects it)."""
    return dt / (1.0 - np.asarray(decay, dtype=np.float64))


def decay_from_tau(tau: np.ndarray, dt: float) -> np.ndarray:
    return 1.0 - dt / np.asarray(tau, dtype=np.float64)


def is_unit(gain: np.ndarray, tol: float = 1e-9) -> bool:
    """True when a gain is 1 up to float64 round-off of our own conversions."""
    return bool(np.all(np.abs(np.asarray(gain, dtype=np.float64) - 1.0) <= tol))
