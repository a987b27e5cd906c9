"""Rich display in Jupyter: ``_repr_html_`` of compiled networks and verify reports.

Plain HTML tables (no scripts, no external assets), escaped, so a notebook shows what the CLI
prints instead of a bare object repr.
"""
from __future__ import annotations

import html
from typing import Iterable, Sequence


def table(header: Sequence[str], rows: Iterable[Sequence[object]], caption: str = "") -> str:
    """An HTML table of ``rows`` (any values, shown with ``str``), escaped."""
    cap = f"<caption style='text-align:left'><b>{html.escape(caption)}</b></caption>" if caption else ""
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(c))}</td>"
                                    for c in row) + "</tr>" for row in rows)
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def compiled_html(compiled) -> str:
    """Layers of a :class:`snncc.compiler.Compiled`: mapping class, weight exponent and the
    worst relative quantization error of each parameter."""
    quant = {l.name: l for l in compiled.quant.layers}
    rows = []
    for m in compiled.mapping:
        q = quant.get(m.name)
        errors = "" if q is None else ", ".join(f"{e.name} {e.max_rel:.2%}" for e in q.errors)
        rows.append((m.name, m.source_kind, m.mapping, "" if q is None else q.weight_exp, errors,
                     m.note))
    nodes = len(compiled.fixed)
    return table(("layer", "neuron", "mapping", "w exp", "max relative error", "notes"), rows,
                 f"snncc compiled network for {compiled.target}: {nodes} fixed-point nodes")


def report_html(report: dict) -> str:
    """Summary and per-layer agreement of a verify report (report.json's content)."""
    s = report["summary"]
    rows = [(l["name"], l["depth"], l["neurons"], f"{l['spike_agreement']:.4%}",
             f"{l['rate_float']:.4f}", f"{l['rate_quant']:.4f}") for l in report["layers"]]
    lines = [f"output spike agreement {s['output_agreement']:.4%}",
             f"prediction agreement {s['prediction_agreement']:.4%}"]
    if s.get("accuracy_float") is not None:
        lines.append(f"accuracy float {s['accuracy_float']:.4%}, quantized {s['accuracy_quant']:.4%}")
    return (table(("layer", "depth", "neurons", "spike agreement", "rate float", "rate quant"), rows,
                  f"float vs {report['backend']} ({report['samples']} samples x "
                  f"{report['steps']} steps)")
            + "<p>" + "<br>".join(html.escape(x) for x in lines) + "</p>")
