"""What the ``snncc`` commands print: the consoles, and the tables and lines of each verb's
results (compile and calibration summaries, the mapping table, the verify report, the
bit-exact check, Loihi and Xylo resources, the ``error:``/``fix:`` lines).

Split out of :mod:`snncc.cli`, which re-exports every name here.
"""
from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.table import Table

from .errors import SnnccError

# Piped output (CI logs, `make demo | tee`) would otherwise be cut to 80 columns and
# truncate the layer tables; $COLUMNS still wins.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 132)
err_console = Console(stderr=True)


def _print_nir_import(graph) -> None:
    """One line: how a .nir model was read (producer, dt, convention, reset); then what was
    repaired or noted, and warnings on stderr."""
    from .backends.nir.summary import describe
    if "nir_import" not in graph.meta:
        return
    line, notes, warnings = describe(graph.meta["nir_import"])
    console.print(line, highlight=False, markup=False, soft_wrap=True)
    for note in graph.meta.get("nir_repairs", []) + notes:
        console.print(f"  note: {note}", highlight=False, markup=False, soft_wrap=True)
    _print_warnings(warnings)


def _print_warnings(warnings) -> None:
    for w in warnings:
        err_console.print(f"[bold yellow]warning:[/] {w}", highlight=False, soft_wrap=True)


def _print_compile(result) -> None:
    from .modelfile import NirFile
    if isinstance(result.model, NirFile):
        _print_nir_import(result.compiled.float_graph)
    meta = result.compiled.fixed.meta
    if meta.get("source") == "netx":
        netx = meta["netx"]
        console.print(f"read lava-dl netx file {netx['file']} as is ({len(netx['blocks'])} "
                      "blocks, no requantization)", highlight=False, markup=False)
        for note in netx["notes"]:
            console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    if result.compiled.self_check is not None:
        console.print(result.compiled.self_check.summary(), highlight=False, soft_wrap=True)
    _print_warnings(result.warnings)
    if result.calibration is not None:
        _print_calibration(result.calibration)
    for layer in getattr(result.compiled.quant, "layers", []):
        for w in getattr(layer, "warnings", []):
            if "overflow" in w:
                console.print(f"warning: layer {layer.name!r}: {w}", highlight=False,
                              markup=False, soft_wrap=True)


def _print_calibration(cal) -> None:
    if hasattr(cal, "lines"):            # sigma-delta: activation ranges
        for line in cal.lines():
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        return
    table = Table(title=f"calibration on {cal.samples} samples x {cal.steps} steps "
                        "(spike agreement, default rule -> calibrated)")
    for col in ("layer", "clip ratio", "weight exp", "default", "calibrated", "gain"):
        table.add_column(col)
    rows = [(l.name, f"{l.clip_ratio:.3g}", f"{l.weight_exp_default} -> {l.weight_exp}",
             l.agreement_default, l.agreement_calibrated) for l in cal.layers]
    rows.append(("output", "", "", cal.output_agreement_default, cal.output_agreement_calibrated))
    if cal.accuracy_default is not None:
        rows.append(("accuracy", "", "", cal.accuracy_default, cal.accuracy_calibrated))
    for name, ratio, exp, a, b in rows:
        table.add_row(name, ratio, exp, f"{a:.4%}", f"{b:.4%}", f"{b - a:+.4%}")
    console.print(table)
    x = cal.extra
    if "headroom" in x:     # Xylo's own knobs
        fixes = ", ".join(f"{n}: {c['neurons']} neurons {c['min']}..{c['max']}"
                          for n, c in x["bias_correction"].items()) or "none"
        console.print(f"Xylo: headroom {x['headroom_default']:g} -> {x['headroom']:g}; weight "
                      f"shifts {x['weight_shift_default']} -> {x['weight_shift']}; "
                      f"bias corrections: {fixes}", highlight=False)


def _mapping_table(compiled) -> Table:
    from .api import layer_rows
    table = Table(title="layers")
    for col in ("layer", "neuron", "mapping", "w exp", "sign", "weight err", "thr err",
                "decay err", "other err", "notes"):
        table.add_column(col)
    for r in layer_rows(compiled):
        other = r["other_err"]
        table.add_row(r["layer"], r["neuron"], r["mapping"], str(r["weight_exp"]), r["sign"],
                      f"{r['weight_err']:.2%}", f"{r['threshold_err']:.2%}",
                      f"{r['decay_err']:.2%}",
                      "-" if other is None else f"{other[1]:.2%} {other[0]}", r["notes"])
    return table


def _print_report(report: dict) -> None:
    s = report["summary"]
    table = Table(title=f"float vs {report['backend']} ({report['samples']} samples x "
                        f"{report['steps']} steps)")
    for col in ("layer", "depth", "neurons", "spike agreement", "rate float", "rate quant",
                "membrane err (thr)", "v rail / u wrap / w clip", "SynOps/sample f / q", "first divergence"):
        table.add_column(col)
    for l in report["layers"]:
        fd, mem, sat, syn = (l["first_divergence"], l["membrane_error"], l["saturation"],
                             l["synops_per_sample"])
        table.add_row(l["name"], str(l["depth"]), str(l["neurons"]), f"{l['spike_agreement']:.4%}",
                      f"{l['rate_float']:.4f}", f"{l['rate_quant']:.4f}",
                      "-" if mem is None else f"{mem['mean']:.4f}",
                      f"{sat['v_rail_hits']} / {sat.get('u_wraps', 0)} / {sat['weights_clipped']}",
                      "-" if syn is None else f"{syn['float']:.0f} / {syn['quant']:.0f}",
                      "-" if fd is None else f"t={fd['step']} sample={fd['sample']} n={fd['neuron']}")
    console.print(table)
    for l in report["layers"]:
        if l["saturation"].get("u_wraps"):
            console.print(f"warning: layer {l['name']!r}: the 24-bit current u wrapped "
                          f"{l['saturation']['u_wraps']} times (overflow: the quantized neuron "
                          "flips sign; see the compile warning)", highlight=False, markup=False,
                          soft_wrap=True)
    if report["bit_exact"]:
        _print_bit_exact(report["bit_exact"])
    console.print(f"output spike agreement: {s['output_agreement']:.4%}   "
                  f"prediction agreement: {s['prediction_agreement']:.4%}")
    if s["accuracy_float"] is not None:
        console.print(f"accuracy: float {s['accuracy_float']:.4%}   "
                      f"quantized {s['accuracy_quant']:.4%}")
    if report.get("attribution"):
        from .report.attribution_view import print_attribution
        print_attribution(console, report["attribution"])
    cal = report["calibration"]
    if cal and cal["extra"].get("verify_data"):
        on = cal["extra"]["verify_data"]
        console.print(f"calibration gain on this data: output agreement "
                      f"{on['output_agreement_default']:.4%} -> {on['output_agreement_calibrated']:.4%}"
                      + (f", accuracy {on['accuracy_default']:.4%} -> {on['accuracy_calibrated']:.4%}"
                         if on["accuracy_default"] is not None else ""))


def _print_rows(title: str, headers, rows) -> None:
    table = Table(title=title)
    for col in headers:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _print_bit_exact(bit_exact: dict, ours: str = "sim") -> None:
    table = Table(title=f"bit-exact check: {ours} vs {bit_exact['backend']} "
                        f"({bit_exact['samples']} samples, spikes + u + v)")
    for col in ("layer", "spike mismatches", "u mismatches", "v mismatches",
                "steps with mismatches", "first mismatch"):
        table.add_column(col)
    for l in bit_exact["layers"]:
        bad = [t for t, c in enumerate(l["mismatches_per_step"]) if c]
        fm = l["first_mismatch"]
        table.add_row(l["name"], str(l["spike_mismatches"]), str(l["u_mismatches"]),
                      str(l["v_mismatches"]),
                      ",".join(map(str, bad[:8])) + ("..." if len(bad) > 8 else "") or "-",
                      "-" if fm is None else f"{fm['what']} t={fm['step']} sample={fm['sample']} n={fm['neuron']}")
    console.print(table)
    total = sum(l["spike_mismatches"] + l["u_mismatches"] + l["v_mismatches"]
                for l in bit_exact["layers"])
    console.print(f"bit-exact: {'yes' if total == 0 else 'NO'} ({total} mismatching values)")


def _print_xylo_resources(res) -> None:
    table = Table(title=f"{res.chip.title} ({res.chip.part}) resources")
    for col in ("resource", "used", "available", "fraction"):
        table.add_column(col)
    for row in res.rows():
        table.add_row(row["resource"], str(row["used"]), str(row["available"]),
                      f"{row['fraction']:.2%}")
    console.print(table)
    console.print("non-zero weights: " + ", ".join(f"{k} {v:,}" for k, v in res.weights.items()),
                  highlight=False)


def _print_error(exc: SnnccError) -> None:
    from rich.markup import escape
    err_console.print(f"[bold red]error:[/] {escape(exc.cause)}", highlight=False, markup=True,
                      soft_wrap=True)
    if exc.fix:
        err_console.print(f"  fix: {exc.fix}", highlight=False, markup=False, soft_wrap=True)
