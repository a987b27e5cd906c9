"""The report's ``resources`` section: Loihi 2 cores, chips, time and energy, and its HTML.

Built from the compiled network and the activity ``verify`` measured (each layer's quantized
firing rate, the stimulus' input rate), so the time and energy estimate is for the data the
report is about.  The section's layout is :func:`snncc.targets.loihi.resources.resources`
(report.json version 2, ``schema.json``); the HTML part is a summary table, the per-layer
table and a per-core utilisation plot (matplotlib, as ``plots.py``).
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:
    from ..compiler import Compiled

RESOURCE_KEYS = (("slots_util", "neuron memory"), ("words_util", "synapse memory"),
                 ("axons_in_util", "input axons"), ("axons_out_util", "output axons"))


def resources_section(compiled: "Compiled", analysis, stimulus: np.ndarray,
                      target: str = "loihi") -> Optional[dict]:
    """report.json's ``resources`` for ``compiled`` at the firing rates of ``analysis``
    (None for targets without a resource model)."""
    if target != "loihi":
        return None
    from ..targets.loihi.resources import activity_from_rates, resources
    fixed = compiled.fixed
    rates = {name: float(layer["rate_quant"]) for name, layer in analysis.layers.items()}
    x = np.asarray(stimulus)
    for name in fixed.input_names:
        rates[name] = float(np.mean(x != 0)) if x.size else 0.0
    activity = activity_from_rates(
        fixed, rates, f"measured by verify: {analysis.samples} sample(s) x {analysis.steps} "
                      "steps of the quantized network")
    return resources(fixed, activity=activity, steps=max(1, analysis.steps))


def core_utilisation_plot(res: dict) -> bytes:
    """Per-core use of each budget (fraction of its limit), with layer boundaries."""
    from .plots import _figure, _png
    cores = res["cores_detail"]
    fig = _figure(max(6.0, min(14.0, 2 + 0.05 * len(cores))), 3.4)
    ax = fig.add_subplot()
    x = np.arange(len(cores))
    for key, label in RESOURCE_KEYS:
        ax.step(x, [c[key] for c in cores], where="mid", label=label, lw=1.2)
    starts = [l["core_range"][0] for l in res["layers"]]
    for s in starts[1:]:
        ax.axvline(s - 0.5, color="#cccccc", lw=0.6, zorder=0)
    if len(res["layers"]) <= 24:
        for l in res["layers"]:
            lo, hi = l["core_range"]
            ax.annotate(l["layer"], ((lo + hi) / 2, 1.02), ha="center", va="bottom",
                        fontsize=6, rotation=90, annotation_clip=False)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xlim(-0.5, max(len(cores), 1) - 0.5)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("core (global index, layer order)")
    ax.set_ylabel("used / per-core limit")
    ax.set_title(f"Loihi 2: {res['cores']:,} cores on {res['chips']} chip(s), per-core utilisation",
                 pad=40 if len(res["layers"]) <= 24 else 6)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def resources_html(res: Optional[dict]) -> str:
    """The HTML section (empty string without a section)."""
    if not res:
        return ""
    from .html import _img, _table
    head = "<h2>Loihi 2 resources (estimate)</h2>"
    if not res["fits"]:
        return head + f"<p class='bad'>Does not fit: {_e(res['error'])}</p>"
    from ..targets.loihi.resources import layer_table
    p = res["performance"]
    summary = _table(["", "value"], [
        ["cores / chips", f"{res['cores']:,} / {res['chips']}"
         + (f" ({_e(res['system'])})" if res["system"] else "")],
        ["time per step", f"{p['step_time_s'] * 1e6:,.2f} &micro;s ({_e(p['bound'])}-bound; "
                          f"barrier {p['barrier_s'] * 1e6:.2f}, host I/O "
                          f"{p['host_io_s'] * 1e6:,.2f} &micro;s)"],
        ["inferences per second", f"{p['inferences_per_s']:,.1f} "
                                  f"({p['steps_per_inference']} steps each)"],
        ["energy per inference", f"{p['energy_per_inference_j'] * 1e3:,.4g} mJ (static "
                                 f"{p['static_energy_per_step_j'] * p['steps_per_inference'] * 1e3:,.4g} mJ)"],
        ["synops / messages / inter-chip messages per step",
         f"{p['synops_per_step']:,.0f} / {p['messages_per_step']:,.0f} / "
         f"{p['inter_chip_messages_per_step']:,.0f}"],
        ["activity", _e(res["activity"])],
    ])
    headers, rows = layer_table(res)
    layers = _table(headers, [[_e(c) for c in row] for row in rows])
    notes = "".join(f"<p>{_e(n)}</p>" for n in res["notes"])
    plot = _img("cores", core_utilisation_plot(res),
                "Per-core utilisation of neuron memory, synapse memory and axons")
    fitted = ", ".join(k for k, v in res["coefficient_sources"].items()
                       if v.startswith("fitted"))
    return (head + summary + notes + layers + plot
            + f"<p>Limits and coefficients with their sources are in report.json "
              f"(<code>resources.limit_sources</code>, <code>coefficient_sources</code>); "
              f"fitted to Intel's PilotNet measurement: {_e(fitted)}. "
              "See docs/loihi2-mapping.md.</p>")
