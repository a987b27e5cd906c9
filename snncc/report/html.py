"""report.html: one self-contained file (inline CSS, plots as base64 PNG), made from report.json.

Nothing is loaded from elsewhere, so the page can be mailed, archived or opened offline;
every string from the report is HTML-escaped.
"""
from __future__ import annotations

import base64
import html
from typing import Iterable, Optional

from .attribution_view import render_html as render_attribution
from .plots import PLOTS
from .resources import resources_html

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 72em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.bad { color: #b00; font-weight: bold; } .plot { margin: 0.5em 0 1.5em; }
.plot img { max-width: 100%; border: 1px solid #eee; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _pct(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.2%}"


def _table(headers: Iterable[str], rows: Iterable[Iterable]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(name: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure class="plot" id="plot-{_e(name)}"><img alt="{_e(alt)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_e(alt)}</figcaption></figure>')


def _layer_rows(report: dict) -> list[list[str]]:
    rows = []
    for l in report["layers"]:
        fd, sat, mem = l["first_divergence"], l["saturation"], l["membrane_error"]
        errs = {p["name"]: p["max_rel"] for p in l["params"]}
        rows.append([
            _e(l["name"]), _e(l["mapping"] or "-"), str(l["neurons"]),
            _pct(l["spike_agreement"]), f"{l['rate_float']:.4f}", f"{l['rate_quant']:.4f}",
            "-" if mem is None else f"{mem['mean']:.4f} / {mem['max']:.3f}",
            ("<span class='bad'>" if sat["v_rail_hits"] or sat["weights_clipped"] else "<span>")
            + f"{sat['v_rail_hits']} / {sat['weights_clipped']} / {sat['thresholds_clipped']}</span>",
            "-" if fd is None else f"t={fd['step']} sample={fd['sample']} n={fd['neuron']}",
            _e(", ".join(f"{k} {v:.2%}" for k, v in errs.items())),
            "-" if l["synops_per_sample"] is None else
            f"{l['synops_per_sample']['float']:.1f} / {l['synops_per_sample']['quant']:.1f}",
            f"{l['spikes_per_sample']['float']:.1f} / {l['spikes_per_sample']['quant']:.1f}",
        ])
    return rows


def _calibration(cal: Optional[dict]) -> str:
    if not cal:
        return ""
    rows = [[_e(c["name"]), f"{c['clip_ratio']:.3g}", f"{c['weight_exp_default']} &rarr; {c['weight_exp']}",
             _pct(c["agreement_default"]), _pct(c["agreement_calibrated"]),
             f"{c['agreement_calibrated'] - c['agreement_default']:+.2%}"] for c in cal["layers"]]
    rows.append(["<b>output</b>", "", "", _pct(cal["output_agreement_default"]),
                 _pct(cal["output_agreement_calibrated"]),
                 f"{cal['output_agreement_calibrated'] - cal['output_agreement_default']:+.2%}"])
    if cal.get("accuracy_default") is not None:
        rows.append(["<b>accuracy</b>", "", "", _pct(cal["accuracy_default"]),
                     _pct(cal["accuracy_calibrated"]),
                     f"{cal['accuracy_calibrated'] - cal['accuracy_default']:+.2%}"])
    text = (f"<h2>Calibration</h2><p>Searched on {cal['samples']} samples x {cal['steps']} steps "
            "of calibration data; the default rule is max-abs scaling.</p>")
    text += _table(["layer", "clip ratio", "weight exp", "default", "calibrated", "gain"], rows)
    on = cal.get("extra", {}).get("verify_data")
    if on:
        text += "<p>On the verification data: " + _e(
            f"output agreement {_pct(on['output_agreement_default'])} (default) -> "
            f"{_pct(on['output_agreement_calibrated'])} (calibrated)"
            + (f"; accuracy {_pct(on['accuracy_default'])} -> {_pct(on['accuracy_calibrated'])}"
               if on.get("accuracy_default") is not None else "")) + "</p>"
    return text


def _bit_exact(bx: Optional[dict]) -> str:
    if not bx:
        return ""
    rows = [[_e(l["name"]), str(l["spike_mismatches"]), str(l["u_mismatches"]), str(l["v_mismatches"])]
            for l in bx["layers"]]
    return (f"<h2>Bit-exactness: simulator vs {_e(bx['backend'])}</h2><p>{bx['samples']} samples.</p>"
            + _table(["layer", "spike mismatches", "u mismatches", "v mismatches"], rows))


def render_html(report: dict) -> str:
    """The whole page as a string."""
    s = report["summary"]
    summary = _table(["", "value"], [
        ["samples x steps", f"{report['samples']} x {report['steps']}"],
        ["output spike agreement", _pct(s["output_agreement"])],
        ["prediction agreement", _pct(s["prediction_agreement"])],
        ["accuracy float / quantized", f"{_pct(s['accuracy_float'])} / {_pct(s['accuracy_quant'])}"],
        ["lowest layer spike agreement", _pct(s["min_spike_agreement"])],
        ["spikes / sample (float / quant)",
         f"{s['spikes_per_sample']['float']:.1f} / {s['spikes_per_sample']['quant']:.1f}"],
        ["effective SynOps / sample (float / quant / dense)",
         f"{s['synops_per_sample']['float']:.1f} / {s['synops_per_sample']['quant']:.1f} / "
         f"{s['synops_per_sample']['dense']:.0f}"],
    ])
    layers = _table(["layer", "mapping", "neurons", "spike agreement", "rate float", "rate quant",
                     "membrane err mean / max (thr)", "v rail / w clipped / thr clipped",
                     "first divergence", "param max rel err", "SynOps/sample f / q",
                     "spikes/sample f / q"], _layer_rows(report))
    captions = {"agreement": "Spike agreement per layer",
                "rates": "Firing rate per neuron: float (x) vs quantized (y)",
                "raster": "Spike raster diff of the sample with the most mismatches",
                "synops": "Effective synaptic operations per sample and layer"}
    plots = "".join(_img(k, fn(report), captions[k]) for k, fn in PLOTS.items())
    inputs = report["inputs"]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name=\"generator\" content=\"snncc\">"
        f"<title>snncc verification report</title><style>{CSS}</style></head><body>"
        f"<h1>snncc verification report</h1><p>target {_e(report['target'])}, backend "
        f"{_e(report['backend'])}, model {_e(inputs['model'] or '-')}, data {_e(inputs['data'] or '-')}"
        f", snncc {_e(report['snncc_version'])}</p>"
        f"<h2>Summary</h2>{summary}<h2>Layers</h2>{layers}"
        f"{_calibration(report.get('calibration'))}{_bit_exact(report.get('bit_exact'))}"
        f"{resources_html(report.get('resources'))}"
        f"{render_attribution(report.get('attribution'))}"
        f"<h2>Plots</h2>{plots}</body></html>")
