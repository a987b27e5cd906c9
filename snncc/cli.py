"""``snncc`` command line: compile, verify, run, export-nir, inspect, finetune.

Every user error is an :class:`SnnccError`, printed as one line (cause, then fix) with exit
code 2; outputs are written atomically, so a failed run leaves nothing behind.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import SnnccError

app = typer.Typer(pretty_exceptions_enable=False, rich_markup_mode="markdown",
                  help="snncc: compile spiking neural networks to Loihi fixed point, Lava, NIR "
                       "and SynSense Xylo.")
# Piped output (CI logs, `make demo | tee`) would otherwise be cut to 80 columns and
# truncate the layer tables; $COLUMNS still wins.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 132)
err_console = Console(stderr=True)

TrustOpt = typer.Option(False, "--trust", help="unpickle arbitrary classes (only for files you trust)")
ShapeOpt = typer.Option(None, "--input-shape", help="input shape without batch, e.g. 64")
DtOpt = typer.Option(None, "--dt", help="time step in seconds: recorded in NIR exports "
                     "(default 1e-3); for a .nir model, how to read it (default: the "
                     "file's metadata, the step its gains imply, or its producer's)")
TARGET_HELP = ("chip: loihi (Intel Loihi 2), xylo-audio2 | xylo-imu | xylo-audio3 (SynSense "
               "Xylo; xylo = xylo-audio2), see docs/xylo.md")
ConventionOpt = typer.Option(None, "--convention", help=".nir models: how r, w_in and the taus "
                             "of every neuron are read: euler (snnTorch, SpikingJelly, snncc), "
                             "unit-pulse (Norse, Sinabs), exp-euler (Rockpool); default: the "
                             "producer's, else detected per node from r")
ResetOpt = typer.Option(None, "--reset", help=".nir models: the reset NIR does not record: "
                        "zero (to v_reset), subtract (the producer's: snnTorch's acts one step "
                        "late), subtract-delayed; default: the file's metadata or v_reset")
CalibrateOpt = typer.Option(None, "--calibrate", help=".npz of calibration data (x, optional y): "
                            "search per-layer weight scales and exponents on it instead of max-abs")


def _version(value: bool) -> None:
    if value:
        from . import __version__
        console.print(f"snncc {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _app(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print snncc's version and exit.")) -> None:
    """snncc: compile spiking neural networks to Loihi fixed point, Lava and NIR."""


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
    _print_warnings(result.warnings)
    if result.calibration is not None:
        _print_calibration(result.calibration)


def _print_calibration(cal) -> None:
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


def _mapping_table(compiled) -> Table:
    quant = {l.name: l for l in compiled.quant.layers}
    table = Table(title="layers")
    for col in ("layer", "neuron", "mapping", "w exp", "sign", "weight err", "thr err",
                "decay err", "other err", "notes"):
        table.add_column(col)
    for m in compiled.mapping:
        q = quant[m.name]
        err = {e.name: e.max_rel for e in q.errors}
        # several synapses (recurrent, residual): "weight:<synapse>" each, the worst one shown
        err.setdefault("weight", max((v for k, v in err.items() if k.startswith("weight")),
                                     default=0.0))
        # biases, generalised-neuron resets and input gains: the worst one, named
        other = max(((v, k) for k, v in err.items()
                     if k not in ("weight", "threshold", "beta", "alpha")
                and not k.startswith("weight:")), default=None)
        table.add_row(m.name, m.source_kind, m.mapping, str(q.weight_exp), q.sign_mode,
                      f"{err['weight']:.2%}", f"{err['threshold']:.2%}",
                      f"{max(err['beta'], err['alpha']):.2%}",
                      "-" if other is None else f"{other[0]:.2%} {other[1]}",
                      "; ".join(q.warnings + [m.note]).strip("; "))
    return table


@app.command("compile")
def compile_cmd(model: Path = typer.Argument(..., help="model.pt saved with torch.save(model)"),
                target: str = typer.Option("loihi", "--target", help=TARGET_HELP),
                out: Path = typer.Option(Path("build"), "-o", "--out", help="output directory"),
                trust: bool = TrustOpt, input_shape: Optional[List[int]] = ShapeOpt,
                dt: float = DtOpt,
                lava_neuron: str = typer.Option("auto", "--lava-neuron",
                                                help="auto | fx | lif-arrays (see docs)"),
                netx: bool = typer.Option(False, "--netx",
                                          help="quantize within lava-dl netx's format and also "
                                               "write network.net (fails if netx cannot express it)"),
                calibrate: Optional[Path] = CalibrateOpt,
                convention: Optional[str] = ConventionOpt,
                reset: Optional[str] = ResetOpt) -> None:
    """Trace, lower and quantize a model; write the fixed-point network and its Lava module to OUT.

    ``network.net`` (lava-dl netx HDF5) is written too whenever netx can express the
    compiled network; ``--netx`` quantizes with the netx preset so that it can.
    """
    from . import api
    from .progress import live
    with live() as progress:
        result = api.compile(model, target=target, out=out, trust=trust, input_shape=input_shape,
                             dt=dt, netx=netx, calibrate=calibrate, lava_neuron=lava_neuron,
                             progress=progress, convention=convention, reset=reset)
    _print_compile(result)
    console.print(result.compiled.fixed.summary())
    console.print(_mapping_table(result.compiled))
    console.print(f"wrote {out}/ ({', '.join(result.files)})")
    for note in result.notes:
        console.print(note, soft_wrap=True, highlight=False, markup=False)


@app.command()
def verify(model: Path = typer.Argument(..., help="model.pt saved with torch.save(model)"),
           data: Path = typer.Option(..., "--data", help=".npz with x (samples, time, ...) and optional y"),
           target: str = typer.Option("loihi", "--target", help=TARGET_HELP),
           backend: str = typer.Option("sim", "--backend", help="sim: the target's bit-accurate "
                                       "simulator (loihi: sim, xylo: xylo); lava (Loihi) or "
                                       "xylosim (Xylo): the vendor's model, checked value by "
                                       "value against it"),
           json_out: Optional[Path] = typer.Option(None, "--json", help="write report.json (schema: "
                                                   "snncc/report/schema.json)"),
           html_out: Optional[Path] = typer.Option(None, "--html", help="write a self-contained report.html "
                                                   "with plots"),
           calibrate: Optional[Path] = CalibrateOpt,
           check_samples: int = typer.Option(16, "--check-samples",
                                             help="samples run on the other backend for the bit-exact check"),
           attribution: bool = typer.Option(False, "--attribution", help="attribute the error: "
                                            "put each parameter class of each layer back to "
                                            "float and measure the agreement that returns"),
           attribution_samples: int = typer.Option(256, "--attribution-samples", min=1,
                                                   help="samples the attribution runs on"),
           trust: bool = TrustOpt, input_shape: Optional[List[int]] = ShapeOpt,
           dt: float = DtOpt, convention: Optional[str] = ConventionOpt,
           reset: Optional[str] = ResetOpt) -> None:
    """Compare the float model with the quantized network, layer by layer."""
    from . import api
    from .progress import live
    with live() as progress:
        result = api.verify(model, data, target=target, backend=backend, json_out=json_out,
                            html_out=html_out, calibrate=calibrate, check_samples=check_samples,
                            trust=trust, input_shape=input_shape, dt=dt, progress=progress,
                            convention=convention, reset=reset,
                            attribution=attribution_samples if attribution else 0)
    _print_compile(result.compile)
    _print_report(result.report)
    _print_warnings(result.warnings)
    for path in result.written:
        console.print(f"wrote {path}")


@app.command()
def finetune(model: Path = typer.Argument(..., help="model.pt saved with torch.save(model)"),
             data: Path = typer.Option(..., "--data", help=".npz with x (samples, time, ...) "
                                       "and y (labels)"),
             out: Path = typer.Option(..., "-o", "--out", help="tuned model to write (.pt)"),
             epochs: int = typer.Option(5, "--epochs", min=1),
             lr: float = typer.Option(1e-3, "--lr", help="learning rate"),
             optimizer: str = typer.Option("adam", "--optimizer",
                                           help="adam | adamw | sgd | rmsprop (torch.optim)"),
             batch_size: int = typer.Option(64, "--batch-size", min=1),
             val_fraction: float = typer.Option(0.15, "--val-fraction",
                                                help="training samples held out to pick the "
                                                     "best epoch (0: keep the last)"),
             calibrate: Optional[Path] = typer.Option(None, "--calibrate",
                                                      help="calibration data (default: 256 "
                                                           "training samples)"),
             no_calibrate: bool = typer.Option(False, "--no-calibrate",
                                               help="tune through the default quantization"),
             resume: bool = typer.Option(False, "--resume", help="continue from the checkpoint"),
             checkpoint: Optional[Path] = typer.Option(None, "--checkpoint",
                                                       help="checkpoint file (default "
                                                            "<out>.ckpt, removed when done)"),
             trust: bool = TrustOpt, input_shape: Optional[List[int]] = ShapeOpt,
             dt: float = DtOpt) -> None:
    """Fine-tune through Loihi's exact arithmetic: the forward pass is the compiled
    network's own integers; the result compiles to exactly that network."""
    from . import api
    from .progress import live
    with live() as progress:
        result = api.finetune(model, data, out=out, epochs=epochs, lr=lr, optimizer=optimizer,
                              batch_size=batch_size, val_fraction=val_fraction,
                              calibrate=False if no_calibrate else (calibrate or True),
                              resume=resume, checkpoint=checkpoint,
                              trust=trust, input_shape=input_shape, dt=dt, progress=progress)
    h = result.history
    table = Table(title="fine-tuning through the exact arithmetic (quantized accuracy)")
    for col in ("epoch", "loss", "train accuracy", "held-out accuracy"):
        table.add_column(col)
    val = h.val_accuracy + [None] * (len(h.loss) + 1 - len(h.val_accuracy))
    table.add_row("0", "-", "-", "-" if val[0] is None else f"{val[0]:.2%}")
    for i, (loss, acc) in enumerate(zip(h.loss, h.accuracy), 1):
        table.add_row(str(i), f"{loss:.4f}", f"{acc:.2%}",
                      "-" if val[i] is None else f"{val[i]:.2%}")
    console.print(table)
    console.print(f"kept epoch {h.best_epoch} (best held-out accuracy); wrote {result.out}")


def _print_report(report: dict) -> None:
    s = report["summary"]
    table = Table(title=f"float vs {report['backend']} ({report['samples']} samples x "
                        f"{report['steps']} steps)")
    for col in ("layer", "depth", "neurons", "spike agreement", "rate float", "rate quant",
                "membrane err (thr)", "v rail / w clip", "SynOps/sample f / q", "first divergence"):
        table.add_column(col)
    for l in report["layers"]:
        fd, mem, sat, syn = (l["first_divergence"], l["membrane_error"], l["saturation"],
                             l["synops_per_sample"])
        table.add_row(l["name"], str(l["depth"]), str(l["neurons"]), f"{l['spike_agreement']:.4%}",
                      f"{l['rate_float']:.4f}", f"{l['rate_quant']:.4f}",
                      "-" if mem is None else f"{mem['mean']:.4f}",
                      f"{sat['v_rail_hits']} / {sat['weights_clipped']}",
                      "-" if syn is None else f"{syn['float']:.0f} / {syn['quant']:.0f}",
                      "-" if fd is None else f"t={fd['step']} sample={fd['sample']} n={fd['neuron']}")
    console.print(table)
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


def _print_bit_exact(bit_exact: dict) -> None:
    table = Table(title=f"bit-exact check: sim vs {bit_exact['backend']} "
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


@app.command()
def run(build: Path = typer.Argument(..., help="directory written by snncc compile"),
        input: Path = typer.Option(..., "--input", help=".npz with x (samples, time, ...)"),
        backend: str = typer.Option("sim", "--backend", help="sim (the build's own "
                                    "simulator), fast, torch, lava (Loihi builds); xylo, "
                                    "xylosim (Xylo builds)"),
        out: Optional[Path] = typer.Option(None, "-o", "--out", help="write spikes to this .npz")) -> None:
    """Run a compiled network on spike input; print output spike counts."""
    from . import api
    result = api.run(build, input, backend=backend, out=out)
    counts = result.counts
    console.print(f"output spike counts per sample (first 10 of {counts.shape[0]}):")
    console.print(str(counts[:10]))
    if result.out:
        console.print(f"wrote {result.out}")


@app.command("export-nir")
def export_nir(model: Path = typer.Argument(..., help="model.pt saved with torch.save(model), "
                                            "or a .nir graph to normalise"),
               out: Path = typer.Option(Path("model.nir"), "-o", "--out"),
               trust: bool = TrustOpt, input_shape: Optional[List[int]] = ShapeOpt,
               dt: float = DtOpt, convention: Optional[str] = ConventionOpt,
               reset: Optional[str] = ResetOpt,
               quantized: bool = typer.Option(False, "--quantized", help="also write the "
                                              "target's integer program into the metadata "
                                              "(read back bit-exactly by snncc)"),
               target: str = typer.Option("loihi", "--target", help=TARGET_HELP)) -> None:
    """Export the float model as NIR (dt, reset mode and integrator in the metadata).

    Neurons are exported in their lowered form (folds applied), so every neuron snncc
    compiles exports as NIR's LIF / IF / CubaLIF with the same dynamics.  A .nir input is
    read as its producer means it and written back with snncc's explicit conventions.
    """
    from . import api
    from .modelfile import load_model, NirFile
    loaded = load_model(model, trust=trust) if model.suffix.lower() == ".nir" else model
    path = api.export_nir(loaded, out, trust=trust, input_shape=input_shape, dt=dt,
                          convention=convention, reset=reset, quantized=quantized, target=target)
    if isinstance(loaded, NirFile):
        _print_nir_import(loaded.graph(dt))
    console.print(f"wrote {path}")


@app.command()
def inspect(model: Path = typer.Argument(..., help="model.pt, or a .nir graph"),
            target: str = typer.Option("loihi", "--target", help=TARGET_HELP),
            trust: bool = TrustOpt, input_shape: Optional[List[int]] = ShapeOpt,
            dt: Optional[float] = DtOpt, convention: Optional[str] = ConventionOpt,
            reset: Optional[str] = ResetOpt,
            system: Optional[str] = typer.Option(
                None, "--system", help="check against a Loihi 2 system: oheo-gulch (1 chip), "
                "kapoho-point (8), hala-point (1152); default: as many chips as needed"),
            data: Optional[Path] = typer.Option(
                None, "--data", help=".npz of input spikes: measure the firing rates"),
            rate: Optional[float] = typer.Option(
                None, "--rate", help="assumed spikes per neuron per step (default 0.1)"),
            steps: Optional[int] = typer.Option(
                None, "--steps", help="time steps per inference (default: the data's, or 1)"),
            per_core: bool = typer.Option(False, "--per-core", help="also print every core")) -> None:
    """Print the traced graph (shapes, parameter counts), the neuron mapping class per
    layer, the quantization summary and the Loihi 2 resources: tiles, cores and chips per
    layer (and per core), time and energy per step and per inference."""
    from . import api
    info = api.inspect(model, target=target, trust=trust, input_shape=input_shape, dt=dt,
                       convention=convention, reset=reset, system=system, steps=steps,
                       rate=rate, data=data)
    _print_compile(info.compile)
    console.print(info.compile.compiled.float_graph.summary())
    params = info.parameters
    console.print(f"parameters: {sum(params.values()):,} ("
                  + ", ".join(f"{k} {v:,}" for k, v in params.items() if v) + ")",
                  highlight=False, soft_wrap=True)
    console.print(_mapping_table(info.compile.compiled))
    if hasattr(info.placement, "chip"):        # a Xylo sub-target
        _print_xylo_resources(info.placement)
        return
    res = info.resources
    if res is None:
        return
    from .targets.loihi.resources import core_table, layer_table, summary_lines
    if res["fits"]:
        tables = [("Loihi 2 resources per layer (estimate)", layer_table(res))]
        if per_core:
            tables.append(("Loihi 2 resources per core (estimate)", core_table(res)))
        for title, (headers, rows) in tables:
            table = Table(title=title)
            for col in headers:
                table.add_column(col)
            for row in rows:
                table.add_row(*row)
            console.print(table)
    for line in summary_lines(res):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


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


def main() -> None:
    """Console entry point: one clear line per user error, exit code 2."""
    try:
        app()
    except SnnccError as exc:
        err_console.print(f"[bold red]error:[/] {exc.cause}", highlight=False, markup=True,
                          soft_wrap=True)
        if exc.fix:
            err_console.print(f"  fix: {exc.fix}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
