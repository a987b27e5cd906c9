"""What ``snncc inspect`` and report.json show of a network on Loihi 2: one JSON-ready dict.

:func:`resources` maps the fixed-point graph (:func:`~.mapping.map_loihi2`), estimates its
time and energy (:func:`~.energy.estimate`) and returns the ``resources`` section of
report.json (``snncc/report/schema.json``, version 2): the limits and coefficients with their
sources, per layer and per core use of every budget, chips, traffic, and time and energy per
step and per inference, with where the firing rates came from.  A network that cannot be
mapped gives ``fits: false`` and the reason, never an exception.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Optional

import numpy as np

from ...errors import SnnccError
from ...ir import Graph
from ...ir.fixed_spatial import FxDelay
from .energy import DEFAULT_RATE, LOIHI2_COSTS, Activity, Loihi2Costs, costs_dict, estimate
from .mapping import LOIHI2, Loihi2Limits, core_rows, layer_rows, map_loihi2

TARGET = "loihi2"


def activity_from_rates(fixed: Graph, rates: dict[str, float], source: str,
                        default: float = DEFAULT_RATE) -> Activity:
    """An :class:`Activity` from measured per-layer rates; a delay line's relay neurons
    repeat their source's spikes, so they get its rate."""
    rates = dict(rates)
    for node in fixed.nodes():
        if isinstance(node, FxDelay):
            src = fixed.inputs_of(node.name)[0]
            if src in rates:
                rates[node.name] = rates[src]
    return Activity(rates, default, source)


def measured_activity(fixed: Graph, x: np.ndarray, backend: str = "fast") -> Activity:
    """Firing rates of every layer and input from running ``fixed`` on ``x`` (T, B, ...)."""
    from ...backends import get_runner
    spikes = get_runner(backend)(fixed, x).spikes
    rates = {name: float(np.mean(s)) for name, s in spikes.items()}
    for name in fixed.input_names:
        rates[name] = float(np.mean(np.asarray(x) != 0))
    t, b = x.shape[:2]
    return activity_from_rates(fixed, rates, f"measured: {b} sample(s) x {t} steps")


def _limits(limits: Loihi2Limits) -> dict:
    d = asdict(limits)
    d.pop("SOURCES", None)
    d["mesh"] = list(d["mesh"])
    return d


def _notes(placement, activity: Activity) -> list[str]:
    notes = []
    for lp in placement.layers:
        g = lp.tiling.spec.fan_in_groups
        if g:
            notes.append(
                f"{lp.name}: its dense inputs exceed a core's {placement.limits.input_axons_per_core:,}"
                f" input axons, so it is estimated with a partial-sum stage ({lp.name}.fan_in, "
                f"{placement.layer(lp.name + '.fan_in').cores:,} cores, {g} groups, one step "
                "later); snncc's Lava backend does not emit this mapping")
    return notes


def resources(fixed: Graph, *, activity: Optional[Activity] = None, steps: int = 1,
              system: Optional[str] = None, conv_encoding: str = "conv",
              limits: Loihi2Limits = LOIHI2, costs: Loihi2Costs = LOIHI2_COSTS) -> dict:
    """The ``resources`` section (see the module docstring) of ``fixed`` on Loihi 2.

    ``activity``: firing rates (None: :data:`~.energy.DEFAULT_RATE` assumed); ``steps``:
    time steps per inference; ``system``: a Loihi 2 system name to refuse what exceeds it.
    Raises :class:`SnnccError` only for bad options (an unknown system or encoding).
    """
    from .mapping import ENCODINGS, get_system
    if system is not None:
        get_system(system)
    if conv_encoding not in ENCODINGS:
        raise SnnccError(f"unknown conv encoding {conv_encoding!r}",
                         "use one of: " + ", ".join(ENCODINGS))
    activity = activity or Activity()
    base = {"target": TARGET, "system": system, "conv_encoding": conv_encoding,
            "limits": _limits(limits), "limit_sources": dict(limits.SOURCES),
            "coefficients": costs_dict(costs)["coefficients"],
            "coefficient_sources": dict(costs.SOURCES),
            "activity": activity.source}
    try:
        placement = map_loihi2(fixed, limits, system=system, conv_encoding=conv_encoding)
    except SnnccError as exc:
        return {**base, "fits": False, "error": exc.cause, "fix": exc.fix, "chips": None,
                "cores": None, "layers": [], "cores_detail": [], "performance": None,
                "notes": []}
    est = estimate(placement, activity, max(1, int(steps)), costs)
    cores = core_rows(placement)
    for row, t, e, s in zip(cores, est.core_time_s, est.core_energy_j, est.core_synops):
        row.update(time_s=float(t), dynamic_energy_j=float(e), synops=float(s))
    return {**base, "fits": True, "error": None, "fix": None, "chips": placement.chips,
            "cores": placement.cores, "layers": layer_rows(placement), "cores_detail": cores,
            "performance": est.to_dict(), "notes": _notes(placement, activity)}


def summary_lines(res: dict) -> list[str]:
    """A few lines for a terminal: cores, chips, time and energy, and the notes."""
    if not res["fits"]:
        return [f"Loihi 2: does not fit: {res['error']}"]
    p = res["performance"]
    util = {k: max((c[f"{k}_util"] for c in res["cores_detail"]), default=0.0)
            for k in ("slots", "words", "axons_in", "axons_out")}
    lines = [f"Loihi 2: {res['cores']:,} cores on {res['chips']} chip(s)"
             + (f" of {res['system']}" if res["system"] else "")
             + "; busiest core uses " + ", ".join(f"{k} {v:.0%}" for k, v in util.items()),
             f"per step {p['step_time_s'] * 1e6:,.1f} us ({p['bound']}-bound), "
             f"{p['energy_per_step_j'] * 1e6:,.2f} uJ; per inference of "
             f"{p['steps_per_inference']} step(s): {p['inferences_per_s']:,.1f} /s, "
             f"{p['energy_per_inference_j'] * 1e3:,.4g} mJ "
             f"({p['synops_per_step']:,.0f} synops, "
             f"{p['inter_chip_messages_per_step']:,.0f} inter-chip messages per step)",
             f"activity: {res['activity']}" + (" (measured rates: --data)"
                                                if res["activity"].startswith("assumed") else "")]
    return lines + [f"note: {n}" for n in res["notes"]]


def layer_table(res: dict) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of the per-layer table, formatted for printing."""
    headers = ["layer", "neurons", "cores", "chip(s)", "tile", "encoding", "neurons/core",
               "syn words", "axons in", "axons out", "max util"]
    rows = []
    for r in res["layers"]:
        util = max(r[k] for k in ("slots_util", "words_util", "axons_in_util", "axons_out_util"))
        chips = r["chips"][0] if r["chips"][0] == r["chips"][1] else f"{r['chips'][0]}-{r['chips'][1]}"
        rows.append([r["layer"], f"{r['neurons']:,}", f"{r['cores']:,}", str(chips),
                     "x".join(map(str, r["tile"])), r["encoding"], f"{r['neurons_per_core']:,}",
                     f"{r['synapse_words']:,}", f"{r['axons_in']:,}", f"{r['axons_out']:,}",
                     f"{util:.0%}"])
    return headers, rows


def core_table(res: dict) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of the per-core table, formatted for printing."""
    headers = ["core", "chip", "row,col", "layer", "neurons", "syn words", "axons in",
               "axons out", "synops/step", "time/step (us)"]
    rows = [[str(c["core"]), str(c["chip"]), f"{c['position'][0]},{c['position'][1]}",
             c["layer"], f"{c['neurons']:,}", f"{c['words']:,}", f"{c['axons_in']:,}",
             f"{c['axons_out']:,}", f"{c['synops']:,.0f}", f"{c['time_s'] * 1e6:.2f}"]
            for c in res["cores_detail"]]
    return headers, rows

