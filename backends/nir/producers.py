"""Which tool wrote a NIR file, and what its numbers mean there.

NIR stores no ``dt``, integrator or reset flavour (nir 1.0.8), so each producer's exporter
encodes its own discretisation in ``r``, ``w_in`` and the taus.  Read from the exporters'
source (the versions installed with snncc's test extra):

* **snncc** (``format = "snncc.nir"`` in the graph metadata): everything is in the metadata.
* **snnTorch 1.0.0** (``snntorch/export_nir.py``): Euler at a hard-coded ``dt = 1e-4``:
  ``tau = dt/(1-beta)``, ``r = tau/dt``, ``w_in = tau_syn/dt``; writes ``v_reset = 0`` for
  both resets (its default is the *subtract* reset, applied one step late, after the decay);
  ``RLeaky``/``RSynaptic`` become ``<name>.lif`` + ``<name>.w_rec`` with a cycle.
* **SpikingJelly 2.0.0** (``activation_based/nir_exchange/to_nir.py``): Euler at ``dt``
  (default ``1e-4``): ``IF r = 1/dt``; ``LIF tau = tau*dt``, ``r = 1`` (``decay_input``) or
  ``tau``; ``CubaLIF r = tau_mem/dt``, ``w_in = tau_syn/dt``; hard reset to ``v_reset`` only
  (soft reset is refused by the exporter).
* **Norse 1.1.0** (``norse/torch/utils/export_nir.py``): the physical ODE, ``r = 1``, no
  ``w_in`` (1: each input jumps the current by its value), ``dt = 1e-3``; writes
  ``tau = dt/tau_inv``, i.e. ``dt`` times the true time constant (fixed on Norse's GitHub
  head), so its taus are shorter than a step; reset to ``v_reset``.

Files that match none read every node by its own ``r`` (:func:`.conventions.detect`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .neurons import scalar

NEURONS = ("LIF", "IF", "CubaLIF", "LI", "CubaLI", "I")


@dataclass(frozen=True)
class Producer:
    """A producer's conventions: ``conventions`` maps NIR node type -> r convention;
    ``dt``: its step when the file cannot tell; ``reset``: the flavour its files mean
    (None: NIR's ``v_reset``); ``subtract_delayed``: its subtract reset acts one step late;
    ``tau_times_dt``: its taus are ``dt`` times the true ones (Norse 1.1.0)."""

    name: str
    conventions: dict = field(default_factory=dict)
    dt: Optional[float] = None
    reset: Optional[str] = None
    subtract_delayed: bool = False
    tau_times_dt: bool = False
    caveat: str = ""


SNNCC = Producer("snncc", {k: "euler" for k in NEURONS})
SNNTORCH = Producer(
    "snnTorch", {k: "euler" for k in NEURONS}, dt=1e-4, subtract_delayed=True,
    caveat="snnTorch writes v_reset = 0 for both of its resets; its default is subtract "
           "(--reset subtract)")
SPIKINGJELLY = Producer("SpikingJelly", {k: "euler" for k in NEURONS}, dt=1e-4)
EULER_1E4 = Producer(
    "snnTorch or SpikingJelly", {k: "euler" for k in NEURONS}, dt=1e-4, subtract_delayed=True,
    caveat="snnTorch writes v_reset = 0 for both of its resets; its default is subtract "
           "(--reset subtract); SpikingJelly exports hard resets only")
NORSE = Producer("Norse", {k: "unit-pulse" for k in NEURONS}, dt=1e-3)
NORSE_11 = Producer("Norse 1.1.0", {k: "unit-pulse" for k in NEURONS}, dt=1e-3,
                    tau_times_dt=True,
                    caveat="Norse 1.1.0 writes tau = dt/tau_inv (dt times the true time "
                           "constant); snncc divides its taus by dt")
BY_NAME = {p.name.lower(): p for p in (SNNCC, SNNTORCH, SPIKINGJELLY, NORSE, NORSE_11)}


def _neurons(nir_graph) -> list[tuple[str, str, object]]:
    return [(name, type(n).__name__, n) for name, n in nir_graph.nodes.items()
            if type(n).__name__ in NEURONS]


def _f(node, name) -> Optional[np.ndarray]:
    v = getattr(node, name, None)
    return None if v is None else np.asarray(v, dtype=np.float64)


def euler_dts(nir_graph) -> list[float]:
    """The dt each neuron's gains imply under the Euler convention (``r = tau/dt``,
    ``w_in = tau_syn/dt``, IF ``r = 1/dt``); gains of exactly 1 imply nothing."""
    out = []
    for _, kind, n in _neurons(nir_graph):
        r = _f(n, "r")
        pairs = []
        if kind == "IF":
            pairs.append((np.ones_like(r), r))
        elif kind in ("LIF", "LI"):
            pairs.append((_f(n, "tau"), r))
        elif kind in ("CubaLIF", "CubaLI"):
            pairs += [(_f(n, "tau_mem"), r), (_f(n, "tau_syn"), _f(n, "w_in"))]
        for tau, gain in pairs:
            if tau is None or gain is None or np.allclose(gain, 1.0, rtol=1e-6):
                continue
            implied = np.broadcast_to(tau, np.broadcast_shapes(np.shape(tau), np.shape(gain))) \
                / np.where(gain == 0, np.nan, gain)
            if np.all(np.isfinite(implied)) and np.all(implied > 0):
                out += [float(np.min(implied)), float(np.max(implied))]
    return out


def consistent(values: list[float], rtol: float = 1e-3) -> Optional[float]:
    """The common value of ``values`` up to ``rtol`` (rounded to 6 significant digits)."""
    if not values:
        return None
    lo, hi = min(values), max(values)
    if hi > lo * (1 + rtol):
        return None
    return float(f"{np.median(values):.6g}")


def _all_r_one(nir_graph) -> bool:
    ns = _neurons(nir_graph)
    return bool(ns) and all(np.allclose(_f(n, "r"), 1.0) for _, _, n in ns if _f(n, "r") is not None)


def _taus(nir_graph) -> list[np.ndarray]:
    return [t for _, _, n in _neurons(nir_graph)
            for t in (_f(n, "tau"), _f(n, "tau_mem"), _f(n, "tau_syn")) if t is not None]


def detect(nir_graph, meta: dict) -> tuple[Optional[Producer], str]:
    """(producer, evidence) of a NIR graph from its metadata and structure."""
    if scalar(meta.get("format")) == "snncc.nir":
        return SNNCC, "snncc metadata"
    named = str(scalar(meta.get("producer", meta.get("source", "")))).lower()
    if named in BY_NAME:
        return BY_NAME[named], "'producer' metadata"
    names = list(nir_graph.nodes)
    kinds = {k for _, k, _ in _neurons(nir_graph)}
    dt = consistent(euler_dts(nir_graph))
    if dt is not None and abs(dt - 1e-4) <= 1e-9:
        if any(n.endswith(".w_rec") for n in names):
            return SNNTORCH, "r = tau/dt at dt = 1e-4 and snnTorch's recurrent node names"
        if "IF" in kinds:
            return SPIKINGJELLY, "IF with r = 1/dt at dt = 1e-4"
        return EULER_1E4, "r = tau/dt at dt = 1e-4"
    if _all_r_one(nir_graph):
        taus = _taus(nir_graph)
        if taus and max(float(np.max(t)) for t in taus) < 1e-4:
            return NORSE_11, "r = 1 and taus shorter than any step (Norse 1.1.0's tau*dt)"
    return None, ""
