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

from dataclasses import dataclass
from typing import Callable

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


# -- the three conventions for r (and w_in) found in real files -------------------------
# (../shared/notes/nir-and-peers.md).  Each says how a NIR neuron becomes one discrete step
# at dt: the decay of v and i, and the gains on their inputs (folded into the weights).

@dataclass(frozen=True)
class Convention:
    """One discretisation: ``decay(tau, dt)``, v's input gain ``v_gain(r, tau_mem, dt)``,
    i's input gain ``i_gain(w_in, tau_syn, dt)`` and the ``r`` that means a unit gain."""

    name: str
    doc: str
    decay: Callable
    v_gain: Callable
    i_gain: Callable
    unit_r: Callable


def _euler_decay(tau, dt):
    return 1.0 - dt / np.asarray(tau, dtype=np.float64)


def _exp_decay(tau, dt):
    return np.exp(-dt / np.asarray(tau, dtype=np.float64))


CONVENTIONS: dict[str, Convention] = {c.name: c for c in (
    Convention("euler", "forward Euler at dt, r = tau/dt and w_in = tau_syn/dt are unit gains "
               "(snnTorch, SpikingJelly, Lava's converter, snncc)",
               _euler_decay, lambda r, tau, dt: dt * r / tau, lambda w, tau, dt: dt * w / tau,
               lambda tau, dt: tau / dt),
    Convention("unit-pulse", "physical ODE with r = 1, each input adds w_in*x to the current "
               "in one step (Norse, Sinabs, Nengo)",
               _euler_decay, lambda r, tau, dt: dt * r / tau, lambda w, tau, dt: w + 0.0 * tau,
               lambda tau, dt: np.ones_like(tau)),
    Convention("exp-euler", "exponential decay exp(-dt/tau) with r = tau*exp(-dt/tau)/dt as "
               "the unit gain; the current decays after its input (Rockpool)",
               _exp_decay, lambda r, tau, dt: dt * r / (tau * np.exp(-dt / tau)),
               lambda w, tau, dt: w * np.exp(-dt / tau),
               lambda tau, dt: tau * np.exp(-dt / tau) / dt),
    Convention("exp-syn", "exponential decay exp(-dt/tau) with the input added before the "
               "decay, so r = tau*exp(-dt/tau)/dt gives it the gain exp(-dt/tau) (Rockpool "
               "ExpSynTorch: isyn = b*(isyn + x))",
               _exp_decay, lambda r, tau, dt: dt * r / tau,
               lambda w, tau, dt: w * np.exp(-dt / tau),
               lambda tau, dt: tau * np.exp(-dt / tau) / dt),
    Convention("zoh", "exact integration of the ODE over one step with the input held (zero-"
               "order hold): decay exp(-dt/tau), input gain r*(1 - exp(-dt/tau)) (Sinabs LIF, "
               "norm_input=True)",
               _exp_decay, lambda r, tau, dt: r * -np.expm1(-dt / np.asarray(tau, np.float64)),
               lambda w, tau, dt: w * -np.expm1(-dt / np.asarray(tau, np.float64)),
               lambda tau, dt: np.ones_like(tau)),
    Convention("exp-pulse", "exponential decay exp(-dt/tau), each input adds r*x (w_in*x) in "
               "its step (Sinabs ExpLeak and IAF, norm_input=False)",
               _exp_decay, lambda r, tau, dt: r + 0.0 * tau, lambda w, tau, dt: w + 0.0 * tau,
               lambda tau, dt: np.ones_like(tau)),
)}
# IF nodes have no leak: what each convention means for them ("euler": dt*r per step)
IF_READING = {"euler": "euler", "exp-euler": "euler", "zoh": "euler", "exp-syn": "euler",
              "unit-pulse": "unit-pulse", "exp-pulse": "unit-pulse"}


DETECTABLE = ("euler", "unit-pulse", "exp-euler")    # r = 1 reads as unit-pulse unless told


def detect(r: np.ndarray, tau_mem: np.ndarray, dt: float, rtol: float = 1e-4) -> list[str]:
    """Names of the conventions whose unit ``r`` this node's ``r`` is (possibly several)."""
    r = np.asarray(r, dtype=np.float64)
    return [c.name for c in CONVENTIONS.values() if c.name in DETECTABLE
            if np.allclose(r, c.unit_r(np.asarray(tau_mem, np.float64), dt), rtol=rtol, atol=0)]
