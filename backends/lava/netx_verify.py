"""``snncc verify`` of a lava-dl netx file: snncc against the producer's own model, value by value.

A netx file is already fixed point: there is no float model to measure a quantization error
against, and snncc reads the integers as they are.  What can go wrong is *reading*: a
misunderstood field, layout or exponent.  So verify runs the very file through lava-dl
0.6.0's ``netx.hdf5.Network`` under Lava's bit-accurate ``fixed_pt`` models (the reference,
:mod:`snncc.backends.lava.netx_harness`) and through one of snncc's runners (``--backend``:
``sim``, the default, ``fast`` or ``torch``; ``lava`` means ``sim`` here, compared with
Lava), on the first ``--check-samples`` samples, and counts every differing spike (graded
payloads for sigma-delta layers), u and v (sigma and act for sigma-delta layers) of every
block, per time step.  The report (``format`` ``snncc.netx-verify-report``, version 1) has the
same ``bit_exact`` section as ``snncc.verify-report``.
"""
from __future__ import annotations

import html
from dataclasses import asdict
from typing import Optional

import numpy as np

FORMAT, VERSION = "snncc.netx-verify-report", 1
REFERENCE = "lava-dl 0.6.0 netx.hdf5.Network on the file, Lava 0.10.0 fixed_pt"


def compare(graph, ours, raw: dict) -> list:
    """:class:`snncc.verify.BitExactLayer` per block: snncc's result vs the Lava record."""
    from snncc.backends.sim import SimResult
    from snncc.verify import compare_runs
    blocks = graph.meta["netx"]["blocks"]
    lava = SimResult({n: raw[f"{n}/s"] for n in blocks}, {n: raw[f"{n}/u"] for n in blocks},
                     {n: raw[f"{n}/v"] for n in blocks})
    return compare_runs(ours, lava, blocks)


def verify_netx(model, x: np.ndarray, backend: str = "sim", check_samples: int = 16,
                inputs: Optional[dict] = None, timeout: Optional[float] = None) -> dict:
    """The netx verify report for stimulus ``x`` (T, B, ...) (see the module docstring)."""
    from snncc.backends import get_runner
    from snncc.report.build import _version

    from . import run_netx_file
    graph = model.graph()
    runner = "sim" if backend == "lava" else backend
    subset = np.asarray(x)[:, :max(int(check_samples), 1)]
    ours = get_runner(runner)(graph, subset, record_states=True)
    raw = run_netx_file(model.path, subset, True, timeout, asdict(model.options))
    layers = compare(graph, ours, raw)
    total = sum(l.spike_mismatches + l.u_mismatches + l.v_mismatches for l in layers)
    samples, steps = int(subset.shape[1]), int(subset.shape[0])
    summary_layers = []
    for name in graph.meta["netx"]["blocks"]:
        node = graph.node(name)
        s_ours = np.asarray(ours.spikes[name]).astype(np.int64)
        s_ref = raw[f"{name}/s"].astype(np.int64)
        summary_layers.append({
            "name": name, "kind": node.kind, "neurons": int(np.prod(node.shape)),
            "spikes_per_sample": {"snncc": float(np.count_nonzero(s_ours)) / samples,
                                  "reference": float(np.count_nonzero(s_ref)) / samples}})
    return {
        "format": FORMAT, "version": VERSION, "snncc_version": _version(), "target": "loihi",
        "backend": runner, "reference": REFERENCE,
        "inputs": {"model": None, "data": None, **(inputs or {})},
        "netx_options": asdict(model.options), "notes": list(graph.meta["netx"]["notes"]),
        "samples": samples, "steps": steps, "layers": summary_layers,
        "summary": {"mismatches": int(total), "bit_exact": total == 0},
        "bit_exact": {"backend": "lava-dl netx", "samples": samples,
                      "layers": [asdict(l) for l in layers]},
    }


def render_netx_html(report: dict) -> str:
    """A self-contained HTML page of a netx verify report (the bit-exact table)."""
    rows = "".join(
        f"<tr><td>{html.escape(l['name'])}</td><td>{l['spike_mismatches']}</td>"
        f"<td>{l['u_mismatches']}</td><td>{l['v_mismatches']}</td></tr>"
        for l in report["bit_exact"]["layers"])
    s = report["summary"]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>snncc netx verify</title>"
            f"</head><body><h1>{html.escape(str(report['inputs'].get('model')))}</h1>"
            f"<p>snncc {html.escape(report['backend'])} vs {html.escape(report['reference'])}: "
            f"{report['samples']} samples x {report['steps']} steps, "
            f"<b>{'bit-exact' if s['bit_exact'] else str(s['mismatches']) + ' mismatching values'}"
            f"</b></p><table border='1'><tr><th>layer</th><th>spike</th><th>u</th><th>v</th></tr>"
            f"{rows}</table></body></html>")


def verify_netx_file(model, data, target: str, backend: str, json_out, html_out, calibrate,
                     check_samples: int):
    """``snncc verify`` of a netx file: (report, files written, the compile result)."""
    from snncc import api
    from snncc.loaders import load_data
    from snncc.report.write import write_artifacts
    compiled_result = api.compile(model, target=target, calibrate=calibrate)
    graph = compiled_result.compiled.fixed
    x, _ = load_data(data, tuple(graph.node(graph.input_names[0]).shape),
                     graded=bool(graph.meta.get("graded_input")))
    report = verify_netx(model, x, backend, check_samples,
                         inputs={"model": str(model.path), "data": str(data)})
    written = write_artifacts(report, json_out, html_out, render_html=render_netx_html)
    return report, written, compiled_result
