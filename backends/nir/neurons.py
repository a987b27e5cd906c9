"""NIR neuron nodes -> snncc's canonical neuron, read as the file's producer means them.

NIR's neurons are continuous-time ODEs (nir 1.0.8, ``nir/ir/neuron.py``)::

    LIF      tau dv/dt = (v_leak - v) + r*I                     spike v > v_threshold
    IF           dv/dt = r*I
    CubaLIF  tau_syn di/dt = -i + w_in*I;  tau_mem dv/dt = (v_leak - v) + r*i

Each becomes one :class:`~snncc.ir.CubaLIF` step at ``dt`` under a convention of
:mod:`.conventions` (chosen per node by :class:`ImportContext`) plus the input gain that the
importer folds into the preceding weights.  The leak term is ``(1 - beta) * v_leak`` per step
in every convention (``dt/tau * v_leak`` under Euler).  The reset flavour NIR does not store
comes from the caller (``reset``), the file's snncc metadata, or NIR's ``v_reset``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ...errors import SnnccError
from ...ir import CubaLIF
from ...ir.nodes import RESET_CUSTOM, RESET_MODES, RESET_SUBTRACT, RESET_ZERO
from . import conventions as conv
from . import spiking

RESET_CHOICES = ("zero", "subtract", "subtract-delayed")


def scalar(v: Any) -> Any:
    """Metadata values come back as numpy scalars/bytes from HDF5, as Python values in memory."""
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v.item()
    if isinstance(v, np.generic):
        return v.item()
    return v


def arr(node, name: str) -> np.ndarray:
    return np.asarray(getattr(node, name), dtype=np.float64)


def _dtype(meta: dict) -> np.dtype:
    return np.dtype(scalar(meta.get("dtype", "float32")))


@dataclass
class ImportContext:
    """What every node importer needs, and the record of what it assumed.

    ``dt``: seconds per step; ``convention``: forced r convention or None (detect per node);
    ``reset``: forced reset flavour (:data:`RESET_CHOICES`) or None; ``producer``: the
    :class:`~.producers.Producer` the file was recognised as (or None).  ``chosen`` maps
    node -> convention used; ``notes`` and ``warnings`` are printed by the CLI.
    """

    dt: float
    convention: Optional[str] = None
    reset: Optional[str] = None
    producer: Any = None
    chosen: dict = field(default_factory=dict)
    resets: dict = field(default_factory=dict)
    spike_rules: dict = field(default_factory=dict)
    max_spikes: int = 1                      # spikes per step of the spiking neurons
    max_spikes_forced: bool = False          # --max-spikes-per-dt (beats snncc's metadata)
    max_spikes_used: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def _default(self, kind: str) -> Optional[str]:
        if self.producer is None:
            return None
        return self.producer.conventions.get(kind)

    def pick(self, name: str, kind: str, r, tau_mem) -> conv.Convention:
        """The convention of a leaky node: forced, the producer's, else detected from r."""
        choice = self.convention or self._default(kind)
        if choice is None:
            found = conv.detect(r, tau_mem, self.dt)
            # several match only when tau == dt; none: a general gain, read the Euler way
            choice = "euler" if not found or "euler" in found else found[0]
        self.chosen[name] = choice
        return conv.CONVENTIONS[choice]

    def pick_if(self, name: str, r: np.ndarray, kind: str = "IF") -> str:
        """IF and I (no leak): "euler" reads r as dt*r per step, "unit-pulse" as r per step."""
        choice = self.convention or self._default(kind)
        if choice is None:
            if np.allclose(r * self.dt, 1.0, rtol=1e-4):
                choice = "euler"
            else:
                choice = "unit-pulse"
                if not np.allclose(r, 1.0, rtol=1e-4):
                    self.warnings.append(
                        f"{kind} node {name!r}: r = {float(np.mean(r)):g} is neither 1 (one unit "
                        f"per input per step) nor 1/dt = {1 / self.dt:g} (Euler at dt); read "
                        f"as r per step (it fits Euler at dt = {1 / float(np.mean(r)):g})",
                        )
        choice = conv.IF_READING[choice]       # no leak: exponential decay is no decay
        self.chosen[name] = choice
        return choice


def _reset_fields(name: str, nir_node, meta: dict, ctx: ImportContext, kind: str) -> dict:
    """Reset fields of the canonical neuron: the caller's --reset, snncc's metadata, the
    producer's own reading, or NIR's v_reset (zero reset to v_reset)."""
    dtype = _dtype(meta)
    shape = np.shape(nir_node.v_threshold)
    v_reset = getattr(nir_node, "v_reset", None)
    v_reset = np.zeros(shape) if v_reset is None else np.asarray(v_reset, np.float64)
    choice = ctx.reset
    if choice is None and "reset" in meta:                       # snncc's own files
        mode = scalar(meta["reset"])
        if mode not in RESET_MODES:
            raise SnnccError(f"NIR node {name!r}: unknown reset mode {mode!r} in its metadata",
                             f"use one of {', '.join(RESET_MODES)}")
        out: dict = {"reset": mode, "reset_delayed": bool(scalar(meta.get("reset_delayed", False)))}
        if "floor" in meta:
            out["floor"] = float(scalar(meta["floor"]))
        if mode == RESET_CUSTOM:
            out["reset_mult"] = np.asarray(meta["reset_mult"], np.float64).astype(dtype)
            out["reset_sub"] = np.asarray(meta["reset_sub"], np.float64).astype(dtype)
        elif mode == RESET_ZERO and np.any(v_reset != 0):
            out.update(reset=RESET_CUSTOM, reset_mult=np.zeros(shape, dtype),
                       reset_sub=np.broadcast_to(-v_reset, shape).astype(dtype))
        ctx.resets[name] = mode + (" (delayed)" if out["reset_delayed"] else "")
        return out
    if choice is None and ctx.producer is not None:
        choice = ctx.producer.reset
    choice = choice or "zero"
    delayed = choice == "subtract-delayed" or (
        choice == "subtract" and ctx.producer is not None and ctx.producer.subtract_delayed)
    if choice == "zero":
        ctx.resets[name] = "zero" if not np.any(v_reset != 0) else "to v_reset"
        if np.any(v_reset != 0):
            return {"reset": RESET_CUSTOM, "reset_mult": np.zeros(shape, dtype),
                    "reset_sub": np.broadcast_to(-v_reset, shape).astype(dtype)}
        return {"reset": RESET_ZERO}
    ctx.resets[name] = "subtract" + (" (delayed, after the decay)" if delayed else "")
    return {"reset": RESET_SUBTRACT, "reset_delayed": delayed}


def _check_decays(name: str, ctx: ImportContext, **decays: np.ndarray) -> None:
    for label, decay in decays.items():
        if np.any(decay < 0) or np.any(decay > 1):
            hint = (" (Norse 1.1.0 writes tau = dt/tau_mem_inv, 1000x too small at dt = 1 ms: "
                    "multiply its taus by 1/dt)" if ctx.chosen.get(name) == "unit-pulse" else "")
            raise SnnccError(f"NIR node {name!r}: {label} < dt gives a decay outside [0, 1] "
                             f"at dt = {ctx.dt:g}{hint}", "check the time step (--dt) of this file")


def _check_taus(name: str, **taus) -> None:
    """Time constants are positive seconds (+inf: no leak); a zero, negative or NaN one has
    no decay to read, whatever the time step."""
    for label, tau in taus.items():
        if tau is not None and np.any(~(np.asarray(tau, dtype=float) > 0)):
            bad = int(np.count_nonzero(~(np.asarray(tau, dtype=float) > 0)))
            raise SnnccError(f"NIR node {name!r}: {label} holds {bad} zero, negative or NaN "
                             "value(s): NIR time constants are in seconds, > 0", "re-export the file from the model that "
                             "was trained, or fix the time constants it holds")


def lif_like(name, nir_node, ctx: ImportContext, kind: str, *, tau_mem, r, v_leak,
             tau_syn=None, w_in=None):
    """Canonical neuron + the input gain to fold into the preceding weights.  Nodes without
    ``v_threshold`` (LI, CubaLI, I) become non-spiking readouts (``spiking=False``)."""
    meta = dict(nir_node.metadata or {})
    dtype = _dtype(meta)
    readout = getattr(nir_node, "v_threshold", None) is None
    thr = np.ones(np.shape(r)) if readout else arr(nir_node, "v_threshold")
    shape = np.broadcast_shapes(np.shape(thr), np.shape(r),
                                *[np.shape(a) for a in (tau_mem, v_leak, tau_syn, w_in)
                                  if a is not None])
    thr = np.broadcast_to(thr, shape)
    _check_taus(name, **{k: getattr(nir_node, k) for k in ("tau", "tau_mem", "tau_syn")
                         if getattr(nir_node, k, None) is not None})
    if tau_mem is None:                          # IF: no leak
        c = conv.CONVENTIONS["euler"]
        choice = ctx.pick_if(name, r, kind)
        beta, bias = np.ones(shape), np.zeros(shape)
        gain_v = r * ctx.dt if choice == "euler" else r
    else:
        c = ctx.pick(name, kind, r, tau_mem)
        beta, gain_v = c.decay(tau_mem, ctx.dt), c.v_gain(r, tau_mem, ctx.dt)
        bias = (1.0 - beta) * v_leak
    if tau_syn is None:
        alpha, gain_i = np.zeros(shape), np.ones(shape)
    else:
        alpha, gain_i = c.decay(tau_syn, ctx.dt), c.i_gain(w_in, tau_syn, ctx.dt)
    _check_decays(name, ctx, tau_mem=beta, tau_syn=alpha)
    b = lambda a: np.broadcast_to(a, shape).astype(dtype)
    threshold = b(thr)
    if readout:
        ctx.resets[name] = "none (a non-spiking readout)"
        return (CubaLIF(name, shape=tuple(int(s) for s in shape), alpha=b(alpha), beta=b(beta),
                        threshold=threshold, bias=b(bias), spiking=False),
                _snap_unit(np.broadcast_to(gain_i * gain_v, shape), nir_node))
    if ctx.producer is not None and ctx.producer.spike_ge:
        # v >= thr  <=>  v > thr' (one ulp lower) in the layer's float dtype (as the
        # SpikingJelly frontend does); a subtract reset then removes thr', one ulp less
        threshold = np.nextafter(threshold, dtype.type(-np.inf)).astype(dtype)
        ctx.spike_rules[name] = ">="
    reset = _reset_fields(name, nir_node, meta, ctx, kind)
    max_spikes = ctx.max_spikes
    if "max_spikes" in meta and not ctx.max_spikes_forced:          # snncc's own files
        max_spikes = int(scalar(meta["max_spikes"]))
    spiking.check_reset(name, max_spikes, reset["reset"], reset.get("reset_delayed", False))
    if max_spikes > 1:
        ctx.max_spikes_used[name] = max_spikes
    neuron = CubaLIF(name, shape=tuple(int(s) for s in shape), alpha=b(alpha), beta=b(beta),
                     threshold=threshold, bias=b(bias), max_spikes=max_spikes, **reset)
    return neuron, _snap_unit(np.broadcast_to(gain_i * gain_v, shape), nir_node)


def _snap_unit(gain: np.ndarray, nir_node) -> np.ndarray:
    """Gains within a few ulps of 1 *of the file's precision* are the unit gain the producer
    meant: its ``r = tau*exp(-dt/tau)/dt`` (or ``tau/dt``) was rounded to float32, so the
    gain snncc recomputes is 1 only to ~1e-7, and folding that into the weights would move
    a membrane that lands exactly on the threshold (Rockpool, SpikingJelly fire on ``>=``)."""
    eps = max(np.finfo(np.asarray(getattr(nir_node, f)).dtype).eps
              if np.issubdtype(np.asarray(getattr(nir_node, f)).dtype, np.floating) else 0.0
              for f in ("r", "w_in", "tau", "tau_mem", "tau_syn")
              if getattr(nir_node, f, None) is not None)
    return np.where(np.abs(gain - 1.0) <= 16 * max(eps, 1e-16), 1.0, gain)


def _leaky(kind: str):
    """LIF / LI: ``tau dv/dt = (v_leak - v) + r*I`` (LI: no threshold)."""
    def read(name, n, ctx):
        return lif_like(name, n, ctx, kind, tau_mem=arr(n, "tau"), r=arr(n, "r"),
                        v_leak=arr(n, "v_leak"))
    return read


def _integrator(kind: str):
    """IF / I: ``dv/dt = r*I`` (I: no threshold), read per step by :meth:`ImportContext.pick_if`."""
    def read(name, n, ctx):
        return lif_like(name, n, ctx, kind, tau_mem=None, r=arr(n, "r"), v_leak=None)
    return read


def _cuba(kind: str):
    """CubaLIF / CubaLI: ``tau_syn di/dt = -i + w_in*I``; ``tau_mem dv/dt = (v_leak - v) + r*i``."""
    def read(name, n, ctx):
        w_in = getattr(n, "w_in", None)
        return lif_like(name, n, ctx, kind, tau_mem=arr(n, "tau_mem"), r=arr(n, "r"),
                        v_leak=arr(n, "v_leak"), tau_syn=arr(n, "tau_syn"),
                        w_in=np.ones(np.shape(n.tau_syn)) if w_in is None else arr(n, "w_in"))
    return read


import_lif, import_li = _leaky("LIF"), _leaky("LI")
import_if, import_i = _integrator("IF"), _integrator("I")
import_cuba, import_cuba_li = _cuba("CubaLIF"), _cuba("CubaLI")


def import_threshold(name, n, ctx):
    """``z = H(x - threshold)`` (strict), memoryless: a neuron with no decay and no current
    memory, ``v = x`` each step, the same strict spike test.  Exact."""
    thr = arr(n, "threshold")
    z = np.zeros(np.shape(thr))
    meta = dict(n.metadata or {})
    dtype = _dtype(meta)
    ctx.chosen[name] = "memoryless"
    ctx.resets[name] = "none needed (no memory)"
    return CubaLIF(name, shape=tuple(int(s) for s in np.shape(thr)), alpha=z.astype(dtype),
                   beta=z.astype(dtype), threshold=thr.astype(dtype), bias=z.astype(dtype),
                   reset=RESET_ZERO), None




NEURON_IMPORTERS = {"LIF": import_lif, "IF": import_if, "CubaLIF": import_cuba,
                    "Threshold": import_threshold,
                    "LI": import_li, "CubaLI": import_cuba_li, "I": import_i}
