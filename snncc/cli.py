"""``snncc`` command line: compile, verify, run, export-nir, inspect, finetune.

Every user error is an :class:`SnnccError`, printed as one line (cause, then fix) with exit
code 2; outputs are written atomically, so a failed run leaves nothing behind.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer
from rich.table import Table

from .cli_print import (_mapping_table, _print_bit_exact, _print_calibration,  # noqa: F401
                        _print_compile, _print_error, _print_nir_import, _print_report,
                        _print_rows, _print_warnings, _print_xylo_resources, console,
                        err_console)
from .errors import SnnccError

app = typer.Typer(pretty_exceptions_enable=False, rich_markup_mode="markdown",
                  help="snncc: compile spiking neural networks to Loihi fixed point, Lava, NIR "
                       "and SynSense Xylo.\n\n"
                       "Start with `snncc compile model.pt -o build/`, then `snncc verify "
                       "model.pt --data test.npz`. A user error prints one `error:` line and "
                       "a `fix:` (exit code 2). Docs: docs/ in the repository (`make docs`).")

# help panels: what a first-time user needs stays under "Options"; the rest is grouped
_MODEL, _NIR, _NETX = "Model loading", "NIR: .nir models and exports", "lava-dl netx input"
TrustOpt = typer.Option(False, "--trust", rich_help_panel=_MODEL,
                        help="unpickle arbitrary classes (only for files you trust)")
WeightsOpt = typer.Option(None, "--weights", rich_help_panel=_MODEL, help="state_dict file (torch.save(model."
                          "state_dict())) for a model given as train.py:Net or "
                          "package.module:factory")
ArgsOpt = typer.Option(None, "--model-args", rich_help_panel=_MODEL, help="constructor arguments of train.py:Net as "
                       "JSON: an object (keywords) or an array (positional)")
ModelArg = typer.Argument(..., help="model.pt (torch.save(model)), model.nir, or train.py:Net / "
                          "package.module:factory with --weights state.pt")
ShapeOpt = typer.Option(None, "--input-shape", rich_help_panel=_MODEL, help="input shape without batch: 64, or C,H,W "
                        "as 2,8,8 (or --input-shape 2 --input-shape 8 --input-shape 8)")
DtOpt = typer.Option(None, "--dt", rich_help_panel=_NIR,
                     help="time step in seconds: recorded in NIR exports "
                     "(default 1e-3); for a .nir model, how to read it (default: the "
                     "file's metadata, the step its gains imply, or its producer's)")
TARGET_HELP = ("chip: loihi (Intel Loihi 2), xylo-audio2 | xylo-imu | xylo-audio3 (SynSense "
               "Xylo; xylo = xylo-audio2), see docs/xylo.md")
ConventionOpt = typer.Option(None, "--convention", rich_help_panel=_NIR, help="how r, w_in and the taus are read: euler "
                             "(snnTorch, SpikingJelly, snncc), unit-pulse (Norse), exp-euler "
                             "(Rockpool), zoh | exp-pulse (Sinabs); default: the producer's, "
                             "else detected per node from r")
ResetOpt = typer.Option(None, "--reset", rich_help_panel=_NIR, help="the reset NIR does not record: zero (to "
                        "v_reset), subtract (the producer's: snnTorch's acts one step late), "
                        "subtract-delayed; default: the file's metadata or v_reset")
MaxSpikesOpt = typer.Option(None, "--max-spikes-per-dt", rich_help_panel=_NIR,
                            help="the most spikes a neuron emits per step, which NIR does "
                            "not record (Rockpool's max_spikes_per_dt; Sinabs SingleSpike: 1); "
                            "default: the producer's (Rockpool, Sinabs: 65536; others: 1)")
ProducerOpt = typer.Option(None, "--producer", rich_help_panel=_NIR, help="the tool that wrote the file, where its "
                           "structure cannot tell (snntorch, spikingjelly, norse, norse-1.1.0, "
                           "rockpool, sinabs, snncc): its conventions, reset, spike rule and "
                           "dt apply; default: detected")
ForceOpt = typer.Option(False, "--force", help="write into an output snncc does not own: a "
                        "non-empty folder without a manifest (only snncc's files are replaced, "
                        "nothing is deleted), or replace a file of another kind")
NetxArgOpt = typer.Option(None, "--netx-arg", rich_help_panel=_NETX, help="for a lava-dl netx model file: one of "
                          "netx.hdf5.Network's arguments as NAME=VALUE (num_layers, skip_layers, "
                          "input_message_bits, reset_interval, reset_offset, spike_exp); repeatable")
CalibrateOpt = typer.Option(None, "--calibrate", readable=False, help=".npz of calibration data (x, optional y): "
                            "search per-layer weight scales and exponents on it instead of max-abs "
                            "(Xylo: also headroom, weight shifts, bias corrections)")


def _version(value: bool) -> None:
    if value:
        from . import __version__
        console.print(f"snncc {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _app(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print snncc's version and exit.")) -> None:
    """snncc: compile spiking neural networks to Loihi fixed point, Lava and NIR."""


@app.command("compile")
def compile_cmd(model: str = ModelArg,
                target: str = typer.Option("loihi", "--target", help=TARGET_HELP),
                out: Path = typer.Option(Path("build"), "-o", "--out", readable=False, help="output directory"),
                trust: bool = TrustOpt, weights: Optional[Path] = WeightsOpt,
                model_args: Optional[str] = ArgsOpt, input_shape: Optional[List[str]] = ShapeOpt,
                dt: float = DtOpt,
                lava_neuron: str = typer.Option("auto", "--lava-neuron",
                                                help="auto | fx | lif-arrays (see docs)"),
                netx: bool = typer.Option(False, "--netx",
                                          help="quantize within lava-dl netx's format and also "
                                               "write network.net (fails if netx cannot express it)"),
                calibrate: Optional[Path] = CalibrateOpt,
                convention: Optional[str] = ConventionOpt,
                reset: Optional[str] = ResetOpt,
                max_spikes_per_dt: Optional[int] = MaxSpikesOpt,
                producer: Optional[str] = ProducerOpt, force: bool = ForceOpt,
                netx_arg: Optional[List[str]] = NetxArgOpt) -> None:
    """Compile a model for a chip: trace, lower, quantize, write the network to OUT.

    OUT holds the fixed-point network (`network.json`, `params.npz`) and, for Loihi, its Lava
    module (`lava_network.py`).  ``network.net`` (lava-dl netx HDF5) is written too whenever netx can express the
    compiled network; ``--netx`` quantizes with the netx preset so that it can.
    """
    from . import api
    from .progress import live
    with live() as progress:
        result = api.compile(model, target=target, out=out, trust=trust, weights=weights,
                             model_args=model_args, input_shape=api.parse_shape(input_shape),
                             dt=dt, netx=netx, calibrate=calibrate, lava_neuron=lava_neuron,
                             progress=progress, convention=convention, reset=reset,
                             max_spikes_per_dt=max_spikes_per_dt, producer=producer,
                             force=force, netx_args=netx_arg)
    _print_compile(result)
    console.print(result.compiled.fixed.summary())
    console.print(_mapping_table(result.compiled))
    console.print(f"wrote {out}/ ({', '.join(result.files)})")
    for note in result.notes:
        console.print(note, soft_wrap=True, highlight=False, markup=False)


@app.command()
def verify(model: str = ModelArg,
           data: Path = typer.Option(..., "--data", readable=False, help=".npz with x (samples, time, ...) and optional y"),
           target: str = typer.Option("loihi", "--target", help=TARGET_HELP),
           backend: str = typer.Option("sim", "--backend", help="sim: the target's bit-accurate "
                                       "simulator (loihi: sim, xylo: xylo); lava (Loihi) or "
                                       "xylosim (Xylo): the vendor's model, checked value by "
                                       "value against it"),
           json_out: Optional[Path] = typer.Option(None, "--json", readable=False, help="write report.json (schema: "
                                                   "snncc/report/schema.json)"),
           html_out: Optional[Path] = typer.Option(None, "--html", readable=False, help="write a self-contained report.html "
                                                   "with plots"),
           calibrate: Optional[Path] = CalibrateOpt,
           check_samples: int = typer.Option(16, "--check-samples",
                                             help="samples run on the other backend for the bit-exact check"),
           attribution: bool = typer.Option(False, "--attribution", rich_help_panel="Error attribution", help="attribute the error: "
                                            "put each parameter class of each layer back to "
                                            "float and measure the agreement that returns"),
           attribution_samples: int = typer.Option(256, "--attribution-samples", min=1, rich_help_panel="Error attribution",
                                                   help="samples the attribution runs on"),
           trust: bool = TrustOpt, weights: Optional[Path] = WeightsOpt,
           model_args: Optional[str] = ArgsOpt, input_shape: Optional[List[str]] = ShapeOpt,
           dt: float = DtOpt, convention: Optional[str] = ConventionOpt,
           reset: Optional[str] = ResetOpt,
           max_spikes_per_dt: Optional[int] = MaxSpikesOpt,
           producer: Optional[str] = ProducerOpt, force: bool = ForceOpt,
           netx_arg: Optional[List[str]] = NetxArgOpt) -> None:
    """Compare the float model with the compiled network, layer by layer.

    `--backend lava` (Loihi) or `xylosim` (Xylo) also checks the simulator against the
    vendor's model, value by value.  A netx file: snncc's runner against lava-dl's netx in
    Lava; sigma-delta models: activations."""
    from . import api
    from .progress import live
    with live() as progress:
        result = api.verify(model, data, target=target, backend=backend, json_out=json_out,
                            html_out=html_out, calibrate=calibrate, check_samples=check_samples,
                            trust=trust, weights=weights, model_args=model_args,
                            input_shape=api.parse_shape(input_shape), dt=dt,
                            progress=progress, convention=convention, reset=reset,
                            max_spikes_per_dt=max_spikes_per_dt, producer=producer, force=force,
                            netx_args=netx_arg,
                            attribution=attribution_samples if attribution else 0)
    _print_compile(result.compile)
    fmt = result.report.get("format")
    if fmt == "snncc.netx-verify-report":
        _print_bit_exact(result.report["bit_exact"], ours=result.report["backend"])
    elif fmt == "snncc.sdnn-verify-report":
        from .verify_sdnn import summary_lines, table_rows
        _print_rows(f"sigma-delta: float vs quantized activations ({result.report['samples']} "
                    f"samples x {result.report['steps']} steps)", *table_rows(result.report))
        if result.report["bit_exact"]:
            _print_bit_exact(result.report["bit_exact"])
        for line in summary_lines(result.report):
            console.print(line, highlight=False, markup=False)
    else:
        _print_report(result.report)
    _print_warnings(result.warnings)
    for path in result.written:
        console.print(f"wrote {path}")


@app.command()
def finetune(model: str = ModelArg,
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
             trust: bool = TrustOpt, weights: Optional[Path] = WeightsOpt,
             model_args: Optional[str] = ArgsOpt, input_shape: Optional[List[str]] = ShapeOpt,
             dt: float = DtOpt) -> None:
    """Fine-tune a model through Loihi's exact integer arithmetic.

    The forward pass is the compiled network's own integers; the result compiles to
    exactly that network."""
    from . import api
    from .progress import live
    with live() as progress:
        result = api.finetune(model, data, out=out, epochs=epochs, lr=lr, optimizer=optimizer,
                              batch_size=batch_size, val_fraction=val_fraction,
                              calibrate=False if no_calibrate else (calibrate or True),
                              resume=resume, checkpoint=checkpoint,
                              trust=trust, weights=weights, model_args=model_args,
                              input_shape=api.parse_shape(input_shape), dt=dt, progress=progress)
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


@app.command()
def run(build: Path = typer.Argument(..., readable=False, help="directory written by snncc "
                                    "compile, or a lava-dl netx file"),
        input: Path = typer.Option(..., "--input", readable=False, help=".npz with x (samples, time, ...)"),
        backend: str = typer.Option("sim", "--backend", help="sim (the build's own "
                                    "simulator), fast, torch, lava (Loihi builds); xylo, "
                                    "xylosim (Xylo builds)"),
        out: Optional[Path] = typer.Option(None, "-o", "--out", readable=False, help="write spikes to this .npz"),
        force: bool = ForceOpt, netx_arg: Optional[List[str]] = NetxArgOpt) -> None:
    """Run a compiled network on spike input; print output spike counts."""
    from . import api
    result = api.run(build, input, backend=backend, out=out, force=force, netx_args=netx_arg)
    scores = result.scores
    what = ("output membrane, mean over time (non-spiking readout)" if result.readout
            else "output spike counts")
    console.print(f"{what} per sample (first 10 of {scores.shape[0]}):")
    console.print(str(np.round(scores[:10], 4) if result.readout else scores[:10]))
    if result.out:
        console.print(f"wrote {result.out}")


@app.command("export-nir")
def export_nir(model: str = ModelArg,
               out: Path = typer.Option(Path("model.nir"), "-o", "--out", readable=False),
               trust: bool = TrustOpt, weights: Optional[Path] = WeightsOpt,
               model_args: Optional[str] = ArgsOpt, input_shape: Optional[List[str]] = ShapeOpt,
               dt: float = DtOpt, convention: Optional[str] = ConventionOpt,
               reset: Optional[str] = ResetOpt,
               max_spikes_per_dt: Optional[int] = MaxSpikesOpt,
               producer: Optional[str] = ProducerOpt,
               quantized: bool = typer.Option(False, "--quantized", help="also write the "
                                              "target's integer program into the metadata "
                                              "(read back bit-exactly by snncc)"),
               target: str = typer.Option("loihi", "--target", help=TARGET_HELP),
               force: bool = ForceOpt, netx_arg: Optional[List[str]] = NetxArgOpt) -> None:
    """Export the float model as a NIR graph.

    dt, reset mode, integrator and spike rule go into the metadata.
    Neurons are exported in their lowered form (folds applied), so every neuron snncc
    compiles exports as NIR's LIF / IF / CubaLIF with the same dynamics.  A .nir input is
    read as its producer means it and written back with snncc's explicit conventions.
    """
    from . import api
    from .modelfile import NirFile, load_model
    loaded = load_model(model, trust=trust) if str(model).lower().endswith(".nir") else model
    path = api.export_nir(loaded, out, trust=trust, weights=weights, model_args=model_args,
                          input_shape=api.parse_shape(input_shape), dt=dt,
                          convention=convention, reset=reset, quantized=quantized, target=target,
                          max_spikes_per_dt=max_spikes_per_dt, producer=producer,
                          force=force, netx_args=netx_arg)
    if isinstance(loaded, NirFile):
        _print_nir_import(loaded.graph(dt))
    console.print(f"wrote {path}")


@app.command()
def inspect(model: str = ModelArg,
            target: str = typer.Option("loihi", "--target", help=TARGET_HELP),
            trust: bool = TrustOpt, weights: Optional[Path] = WeightsOpt,
            model_args: Optional[str] = ArgsOpt, input_shape: Optional[List[str]] = ShapeOpt,
            dt: Optional[float] = DtOpt, convention: Optional[str] = ConventionOpt,
            reset: Optional[str] = ResetOpt,
            max_spikes_per_dt: Optional[int] = MaxSpikesOpt,
            producer: Optional[str] = ProducerOpt,
            system: Optional[str] = typer.Option(
                None, "--system", rich_help_panel="Loihi 2 resources", help="check against a Loihi 2 system: oheo-gulch (1 chip), "
                "kapoho-point (8), hala-point (1152); default: as many chips as needed"),
            data: Optional[Path] = typer.Option(
                None, "--data", rich_help_panel="Loihi 2 resources", help=".npz of input spikes: measure the firing rates"),
            rate: Optional[float] = typer.Option(
                None, "--rate", rich_help_panel="Loihi 2 resources", help="assumed spikes per neuron per step (default 0.1)"),
            steps: Optional[int] = typer.Option(
                None, "--steps", rich_help_panel="Loihi 2 resources", help="time steps per inference (default: the data's, or 1)"),
            per_core: bool = typer.Option(False, "--per-core", rich_help_panel="Loihi 2 resources", help="also print every core"),
            netx_arg: Optional[List[str]] = NetxArgOpt) -> None:
    """Show the traced graph, each layer's mapping and the chip resources.

    Shapes and parameter counts, the neuron mapping class and quantization error per
    layer, and the Loihi 2 resources: tiles, cores and chips per layer (and per core), time
    and energy per step and per inference (Xylo: its design rules, used / available)."""
    from . import api
    info = api.inspect(model, target=target, trust=trust, weights=weights,
                       model_args=model_args, input_shape=api.parse_shape(input_shape), dt=dt,
                       convention=convention, reset=reset, max_spikes_per_dt=max_spikes_per_dt,
                       producer=producer, system=system, steps=steps, rate=rate, data=data,
                       netx_args=netx_arg)
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
        if info.placement_error:
            console.print(f"Loihi 2 resources: {info.placement_error}", highlight=False,
                          markup=False, soft_wrap=True)
        return
    from .targets.loihi.resources import core_table, layer_table, summary_lines
    if res["fits"]:
        tables = [("Loihi 2 resources per layer (estimate)", layer_table(res))]
        if per_core:
            tables.append(("Loihi 2 resources per core (estimate)", core_table(res)))
        for title, (headers, rows) in tables:
            _print_rows(title, headers, rows)
    for line in summary_lines(res):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def main() -> None:
    """Console entry point: one clear line per user error, exit code 2.

    Every failure a user can cause ends the same way: :class:`SnnccError`, any OSError
    (full disk, read-only file system, permissions, ...) and MemoryError each print one
    ``error:`` line and its ``fix:``.  Warnings raised while a command runs are shown after
    it succeeds, never before an error.  SIGTERM/SIGHUP unwind like Ctrl-C, so no temporary
    file is left behind.
    """
    import warnings

    from .atomic import terminate_as_exception
    from .errors import memory_error, missing_dependency, os_error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            with terminate_as_exception():
                app()
        except SnnccError as exc:
            _print_error(exc)
            sys.exit(2)
        except OSError as exc:
            _print_error(os_error(exc, "finish"))
            sys.exit(2)
        except MemoryError:
            _print_error(memory_error())
            sys.exit(2)
        except ModuleNotFoundError as exc:      # an optional dependency (torch, nir, ...)
            cmd = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
            missing = missing_dependency(exc, f"run snncc {cmd}".strip())
            if missing is None:
                raise
            _print_error(missing)
            sys.exit(2)
        except KeyboardInterrupt:
            sys.exit(130)
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
            _show(caught)
            raise
        _show(caught)


def _show(caught) -> None:
    import warnings
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)


if __name__ == "__main__":
    main()
