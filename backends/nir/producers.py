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
  (soft reset is refused by the exporter); fires on ``v >= v_threshold``.  Its exporter is
  ``nirtorch.torch_to_nir``, whose node names are torch.fx's (``_0``, ``input_1``).
* **Norse 1.1.0** (``norse/torch/utils/export_nir.py``): the physical ODE, ``r = 1``, no
  ``w_in`` (1: each input jumps the current by its value), ``dt = 1e-3``; writes
  ``tau = dt/tau_inv``, i.e. ``dt`` times the true time constant (fixed on Norse's GitHub
  head), so its taus are shorter than a step; reset to ``v_reset``.

* **Rockpool 3.1.0** (``rockpool/nn/modules/torch/nir.py``, ``lif_torch.py``,
  ``lif_neuron_torch.py``, ``exp_syn_torch.py``): exponential Euler at the module's ``dt``
  (default ``1e-3``): ``r = tau*exp(-dt/tau)/dt`` for ``LIFTorch`` (CubaLIF, ``w_in`` 1),
  ``LIFNeuronTorch`` (LIF) and ``ExpSynTorch`` (LI); per step ``isyn = b*(isyn + x)``,
  ``v = a*v + isyn + bias``, spikes ``floor(v/thr)`` where ``v >= thr`` (up to
  ``max_spikes_per_dt``, 65536 unless set; NIR does not record it), ``v -= spikes*thr`` at
  once.  The exporter writes ``v_leak = 0`` whatever the bias and leaves a ``LIFTorch``'s
  ``w_rec`` out.  Node names are nirtorch's ``<index>_<ModuleClass>``.

* **Sinabs 3.1.3** (``sinabs/nir.py``, ``layers/lif.py``, ``activation/*.py``): no dt, time
  constants counted in steps (dt = 1); ``IAF`` -> ``IF`` (``r = 1``: ``v += x``), ``LIF`` ->
  ``LIF`` (``r = 1``; ``v = a*v + (1-a)*x`` with ``a = exp(-1/tau)`` under its default
  ``norm_input=True``), ``ExpLeak`` -> ``LI`` (``v = a*v + x``); spikes on ``v >= thr``,
  ``floor(v/thr)`` of them (``MultiSpike``, the default) or one (``SingleSpike``); the
  subtractive reset at the spike step.  The exporter writes neither ``norm_input``,
  ``min_v_mem``, ``tau_syn`` nor the spike function.  IF-only graphs look like Norse's
  (``--producer sinabs`` says which).

Files that match none read every node by its own ``r`` (:func:`.conventions.detect`).
"""
from __future__ import annotations

import re
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
    ``tau_times_dt``: its taus are ``dt`` times the true ones (Norse 1.1.0); ``spike_ge``: it
    fires on ``v >= threshold`` (snncc: ``>``, so the threshold is lowered by one float32
    ulp); ``multi_spike``: its neurons may emit several spikes in one step, a number the file
    does not record (``--max-spikes-per-dt`` says it), ``max_spikes`` by default;
    ``dt_note``: what its default dt means."""

    name: str
    conventions: dict = field(default_factory=dict)
    dt: Optional[float] = None
    reset: Optional[str] = None
    subtract_delayed: bool = False
    tau_times_dt: bool = False
    spike_ge: bool = False
    multi_spike: bool = False
    max_spikes: int = 1
    dt_note: str = ""
    caveat: str = ""


SNNCC = Producer("snncc", {k: "euler" for k in NEURONS})
SNNTORCH = Producer(
    "snnTorch", {k: "euler" for k in NEURONS}, dt=1e-4, subtract_delayed=True,
    caveat="snnTorch writes v_reset = 0 for both of its resets; its default is subtract "
           "(--reset subtract)")
SPIKINGJELLY = Producer("SpikingJelly", {k: "euler" for k in NEURONS}, dt=1e-4, spike_ge=True)
EULER_1E4 = Producer(
    "snnTorch or SpikingJelly", {k: "euler" for k in NEURONS}, dt=1e-4, subtract_delayed=True,
    caveat="snnTorch writes v_reset = 0 for both of its resets; its default is subtract "
           "(--reset subtract); SpikingJelly exports hard resets only")
NORSE = Producer("Norse", {k: "unit-pulse" for k in NEURONS}, dt=1e-3)
NORSE_11 = Producer("Norse 1.1.0", {k: "unit-pulse" for k in NEURONS}, dt=1e-3,
                    tau_times_dt=True,
                    caveat="Norse 1.1.0 writes tau = dt/tau_inv (dt times the true time "
                           "constant); snncc divides its taus by dt")
ROCKPOOL = Producer("Rockpool", {**{k: "exp-euler" for k in NEURONS}, "LI": "exp-syn"},
                    dt=1e-3, reset="subtract",
                    spike_ge=True, multi_spike=True, max_spikes=2 ** 16,
                    caveat="Rockpool's exporter writes v_leak = 0 whatever a LIFTorch's bias, "
                           "and leaves out its recurrent weights (has_rec=True)")
SINABS = Producer("Sinabs", {"IF": "unit-pulse", "LIF": "zoh", "LI": "exp-pulse",
                             "CubaLIF": "zoh", "CubaLI": "zoh", "I": "unit-pulse"},
                  dt=1.0, reset="subtract", spike_ge=True, multi_spike=True,
                  max_spikes=2 ** 16,       # MultiSpike has no cap: floor(v/thr) spikes
                  dt_note="its time constants count steps",
                  caveat="Sinabs records neither norm_input (LIF read with its default True: "
                         "v = a*v + (1-a)*x; --convention exp-pulse for False), min_v_mem nor "
                         "tau_syn")
PRODUCERS = (SNNCC, SNNTORCH, SPIKINGJELLY, NORSE, NORSE_11, ROCKPOOL, SINABS)
BY_NAME = {p.name.lower(): p for p in PRODUCERS}
# what --producer accepts: the name in lower case, spaces as dashes ("norse-1.1.0")
BY_KEY = {p.name.lower().replace(" ", "-"): p for p in PRODUCERS}
# nirtorch.torch_to_nir (SpikingJelly's exporter) names nodes as torch.fx does: "_0" for the
# Sequential child "0", "input_1" for the forward argument "input"; snnTorch writes "0", "input"
FX_NAME = re.compile(r"^(_\d+|input_\d+)$")
# nirtorch.extract_nir_graph (Rockpool's to_nir) names a module's nodes <index>_<class>
ROCKPOOL_NAME = re.compile(r"^\d+_(LIFTorch|LIFNeuronTorch|ExpSynTorch|LinearTorch|"
                           r"LIFBitshiftTorch|aLIFTorch)$")


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


def _exp_euler_dt(r: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """The ``dt`` solving ``r = tau*exp(-dt/tau)/dt`` (Rockpool's r), per neuron: with
    ``u = dt/tau``, ``u + ln u = -ln r`` (one root for r > 0; Newton from a bracketing start)."""
    r, tau = np.broadcast_arrays(np.asarray(r, np.float64), np.asarray(tau, np.float64))
    target = -np.log(r)
    u = np.where(r > 1, 1.0 / r, np.exp(-np.maximum(target, 0)) + 1.0)
    for _ in range(60):
        u = np.maximum(u - (u + np.log(u) - target) / (1.0 + 1.0 / u), u * 1e-3)
    return u * tau


def exp_euler_dts(nir_graph) -> list[float]:
    """The dt each leaky neuron's ``r`` implies under the exp-Euler convention (Rockpool's
    ``r = tau*exp(-dt/tau)/dt``); nodes with r = 1 or no tau imply nothing."""
    out = []
    for _, kind, n in _neurons(nir_graph):
        r, tau = _f(n, "r"), _f(n, "tau") if kind in ("LIF", "LI") else _f(n, "tau_mem")
        if r is None or tau is None or np.allclose(r, 1.0, rtol=1e-6) or np.any(r <= 0) \
                or np.any(tau <= 0) or not np.all(np.isfinite(r)) or not np.all(np.isfinite(tau)):
            continue
        dts = _exp_euler_dt(r, tau)
        out += [float(np.min(dts)), float(np.max(dts))]
    return out


def _round(dt: Optional[float]) -> bool:
    """A step a user sets (1e-3, 5e-4, 2.5e-4): three significant digits at most."""
    return dt is not None and float(f"{dt:.3g}") == dt


def implied_dt(nir_graph, producer: Optional[Producer]) -> Optional[float]:
    """The step the gains of the file imply under its producer's convention (Euler unless
    the producer is exp-Euler), or None."""
    if producer is not None and "exp-euler" in producer.conventions.values():
        return consistent(exp_euler_dts(nir_graph))
    return consistent(euler_dts(nir_graph))


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


def by_key(key: str) -> Producer:
    """The producer ``--producer`` names (:data:`BY_KEY`); raises :class:`SnnccError`."""
    from ...errors import SnnccError
    found = BY_KEY.get(str(key).strip().lower())
    if found is None:
        raise SnnccError(f"unknown NIR producer {key!r}", f"use one of {', '.join(BY_KEY)}")
    return found


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
        if any(FX_NAME.match(n) for n in names):
            return SPIKINGJELLY, ("r = tau/dt at dt = 1e-4 and torch.fx node names "
                                  "(nirtorch.torch_to_nir, SpikingJelly's exporter)")
        return EULER_1E4, "r = tau/dt at dt = 1e-4"
    exp_dt = consistent(exp_euler_dts(nir_graph))
    if exp_dt is not None:
        if any(ROCKPOOL_NAME.match(n) for n in names):
            return ROCKPOOL, (f"r = tau*exp(-dt/tau)/dt at dt = {exp_dt:g} and Rockpool's "
                              "module names")
        if _round(exp_dt) and not _round(dt):
            return ROCKPOOL, f"r = tau*exp(-dt/tau)/dt at dt = {exp_dt:g}"
    if _all_r_one(nir_graph):
        taus = _taus(nir_graph)
        if taus and max(float(np.max(t)) for t in taus) < 1e-4:
            return NORSE_11, "r = 1 and taus shorter than any step (Norse 1.1.0's tau*dt)"
        if taus and min(float(np.min(t)) for t in taus) >= 1.0:
            return SINABS, "r = 1 and taus of a step or more (Sinabs counts them in steps)"
    return None, ""
