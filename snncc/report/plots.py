"""The report's plots, drawn from report.json alone and returned as PNG bytes.

Figures are built with matplotlib's object API on an Agg canvas (no pyplot, no global
backend switch), so drawing a report never touches the caller's matplotlib state.
"""
from __future__ import annotations

import io

import numpy as np


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def agreement_bars(report: dict) -> bytes:
    """Spike agreement per layer; with calibration, the default rule's beside it."""
    layers = report["layers"]
    names = [l["name"] for l in layers]
    ours = np.array([l["spike_agreement"] for l in layers])
    fig = _figure(max(4.0, 1.2 * len(names) + 2), 3.2)
    ax = fig.add_subplot()
    x = np.arange(len(names))
    cal = report.get("calibration")
    shown = list(ours)
    if cal:
        default = {c["name"]: c["agreement_default"] for c in cal["layers"]}
        shown += list(default.values())
        ax.bar(x - 0.2, [default.get(n, np.nan) for n in names], 0.4, label="default rule (calib. data)",
               color="#bbbbbb")
        ax.bar(x + 0.2, ours, 0.4, label="this network", color="#1f77b4")
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.bar(x, ours, 0.6, color="#1f77b4")
    lowest = float(np.nanmin(shown)) if shown else 1.0
    ax.set_ylim(max(0.0, min(lowest, 0.9) - 0.02), 1.002)
    ax.set_xticks(x, names)
    ax.set_xlabel("layer")
    ax.set_ylabel("spike agreement")
    ax.set_title("float vs quantized spike agreement per layer")
    for xi, v in zip(x, ours):
        ax.annotate(f"{v:.2%}", (xi + (0.2 if cal else 0.0), v), ha="center", va="bottom", fontsize=8)
    return _png(fig)


def rate_scatter(report: dict) -> bytes:
    """Per-neuron firing rate, float vs quantized, one colour per layer."""
    fig = _figure(4.6, 4.2)
    ax = fig.add_subplot()
    top = 0.0
    for l in report["layers"]:
        f, q = np.asarray(l["rates_float"]), np.asarray(l["rates_quant"])
        ax.scatter(f, q, s=8, alpha=0.7, label=l["name"])
        top = max(top, float(f.max(initial=0)), float(q.max(initial=0)))
    top = top * 1.05 or 1.0
    ax.plot([0, top], [0, top], color="black", lw=0.8, ls="--")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("rate, float model (spikes/step)")
    ax.set_ylabel("rate, quantized (spikes/step)")
    ax.set_title("firing rate per neuron")
    ax.legend(title="layer", fontsize=8)
    return _png(fig)


def raster_diff(report: dict) -> bytes:
    """Spike raster of one sample: spikes in both runs, float only, quantized only."""
    raster = report["raster"]
    layers = raster["layers"]
    fig = _figure(7.0, 1.0 + 2.0 * max(len(layers), 1))
    axes = fig.subplots(max(len(layers), 1), 1, squeeze=False)[:, 0]
    steps = report["steps"]
    for ax, (name, r) in zip(axes, layers.items()):
        f = {tuple(p) for p in r["float"]}
        q = {tuple(p) for p in r["quant"]}
        for points, colour, label in ((f & q, "black", "both"), (f - q, "#1f77b4", "float only"),
                                      (q - f, "#d62728", "quantized only")):
            pts = np.array(sorted(points)).reshape(-1, 2)
            ax.scatter(pts[:, 0], pts[:, 1], s=10 if colour == "black" else 22, c=colour,
                       marker="|" if colour == "black" else "o", label=f"{label} ({len(pts)})")
        ax.set_xlim(-0.5, steps - 0.5)
        ax.set_ylim(-0.5, max(r["neurons"], 1) - 0.5)
        ax.set_ylabel(f"{name}\nneuron")
        ax.legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("time step (float model's time base)")
    axes[0].set_title(f"spike raster, sample {raster['sample']} "
                      f"({raster['mismatches']} mismatching spikes)")
    return _png(fig)


def synops_bars(report: dict) -> bytes:
    """Effective SynOps per sample and layer, float vs quantized (the energy proxy)."""
    layers = [l for l in report["layers"] if l["synops_per_sample"] is not None]
    names = [l["name"] for l in layers]
    x = np.arange(len(names))
    fig = _figure(max(4.0, 1.2 * len(names) + 2), 3.0)
    ax = fig.add_subplot()
    ax.bar(x - 0.2, [l["synops_per_sample"]["float"] for l in layers], 0.4, label="float")
    ax.bar(x + 0.2, [l["synops_per_sample"]["quant"] for l in layers], 0.4, label="quantized")
    ax.set_xticks(x, names)
    ax.set_xlabel("layer")
    ax.set_ylabel("effective SynOps / sample")
    ax.set_title("effective SynOps per layer")
    ax.legend(fontsize=8)
    return _png(fig)


PLOTS = {"agreement": agreement_bars, "rates": rate_scatter, "raster": raster_diff,
         "synops": synops_bars}
