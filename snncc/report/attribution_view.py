"""The attribution section of report.json shown to people: a console table and an HTML section.

Both read the JSON section alone (:mod:`snncc.report.attribution` makes it), so a report
written earlier renders the same way.
"""
from __future__ import annotations

import html
from typing import Optional

SHORT = {"weights": "w", "biases": "b", "thresholds": "thr", "decays": "decay", "reset": "reset",
         "input_gains": "gain", "rounding": "round", "saturation": "sat"}


def _gain(cell: Optional[dict]) -> str:
    if cell is None:
        return "-"
    return "exact" if cell["exact"] else f"{cell['gain']:+.2%}"


def rows(section: dict) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): per layer, the agreement gained with each class in float, then the
    isolated and cumulative output agreement; a last row for every layer at once."""
    classes = section["classes"]
    headers = ["layer"] + [SHORT.get(c, c) for c in classes] + ["isolated", "cumulative"]
    out = []
    for layer in section["layers"]:
        out.append([layer["name"]] + [_gain(layer["classes"][c]) for c in classes]
                   + [f"{layer['isolated']['output_agreement']:.2%}",
                      f"{layer['cumulative']['output_agreement']:.2%}"])
    every = {c["class"]: c for c in section["by_class"]}
    out.append(["all layers"] + [_gain(every.get(c)) for c in classes] + ["", ""])
    return headers, out


def first_divergence_text(section: dict) -> str:
    fd = section["first_divergence"]
    if fd is None:
        return "no spike differs on these samples"
    which = ", ".join(fd["classes"]) or "no single set of this layer's classes"
    return (f"first divergence: step {fd['step']}, layer {fd['layer']}, sample {fd['sample']}, "
            f"neuron {fd['neuron']} (float {'spikes' if fd['spike_float'] else 'silent'}, "
            f"v = {fd['v_float']:.4f} thr; quantized v = {fd['v_quant']:.4f} thr); "
            f"made right by float {which}")


def print_attribution(console, section: dict) -> None:
    """Print the section with rich (``console``: a ``rich.console.Console``)."""
    from rich.table import Table
    headers, body = rows(section)
    table = Table(title=f"error attribution: output agreement gained with one class in float "
                        f"({section['samples']} samples; quantized {section['quantized']:.2%}, "
                        f"float {section['float']:.2%})")
    for h in headers:
        table.add_column(h)
    for r in body:
        table.add_row(*r)
    console.print(table)
    console.print(first_divergence_text(section))
    console.print(f"cause: {section['cause']['text']}")


def _bars(section: dict) -> bytes:
    """Output agreement gained per class, one bar group per layer (plus all layers)."""
    import numpy as np
    from .plots import _figure, _png
    classes = section["classes"]
    groups = [(l["name"], l["classes"]) for l in section["layers"]]
    groups.append(("all layers", {c["class"]: c for c in section["by_class"]}))
    fig = _figure(max(5.0, 0.9 * len(groups) * len(classes) / 3 + 2), 3.2)
    ax = fig.add_subplot()
    width = 0.8 / len(classes)
    for k, cls in enumerate(classes):
        vals = [100 * (g.get(cls) or {}).get("gain", np.nan) for _, g in groups]
        ax.bar(np.arange(len(groups)) + (k - len(classes) / 2 + 0.5) * width, vals, width,
               label=cls)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(np.arange(len(groups)), [g for g, _ in groups])
    ax.set_ylabel("output agreement gained (points)")
    ax.set_title("agreement back with one parameter class in float")
    ax.legend(fontsize=7, ncol=4)
    return _png(fig)


def render_html(section: Optional[dict]) -> str:
    """The HTML section (empty string when attribution was not requested)."""
    if not section:
        return ""
    import base64
    e = lambda v: html.escape(str(v), quote=True)  # noqa: E731
    headers, body = rows(section)
    table = ("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers)
             + "</tr></thead><tbody>" + "".join(
                 "<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in body)
             + "</tbody></table>")
    png = base64.b64encode(_bars(section)).decode("ascii")
    return (f"<h2 id='attribution'>Error attribution</h2><p>{e(section['samples'])} samples; "
            f"output agreement quantized {section['quantized']:.2%}, with every class in float "
            f"{section['float']:.2%}. Each cell: agreement gained when that class of that layer "
            "is put back to float (<i>exact</i>: its integers equal the float values). "
            "<i>isolated</i>: only that layer quantized; <i>cumulative</i>: it and every layer "
            f"before it.</p>{table}<p>{e(first_divergence_text(section))}</p>"
            f"<p><b>cause:</b> {e(section['cause']['text'])}</p>"
            f'<figure class="plot" id="plot-attribution"><img alt="attribution" '
            f'src="data:image/png;base64,{png}"><figcaption>output agreement gained per '
            "class and layer</figcaption></figure>")
