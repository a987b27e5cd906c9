"""The one-call API behind every CLI verb.

What a command decides and writes lives here; :mod:`snncc.cli` only parses options and
prints the results, so the Python API and the CLI cannot drift apart::

    from snncc import api
    result = api.compile("model.pt", target="loihi", out="build/")
    report = api.verify("model.pt", "test.npz").report
    spikes = api.run("build/", "test.npz").spikes

``model`` arguments take a path (``.pt`` saved with ``torch.save(model)``, ``.nir``) or an
already loaded object (an ``nn.Module``, a :class:`~snncc.modelfile.NirFile`).  Every user
error is raised as :class:`~snncc.errors.SnnccError`; outputs are complete or absent.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from .compiler import Compiled
from .errors import SnnccError
from .progress import Progress

PathLike = str | os.PathLike


def _check_dt(dt: Optional[float]) -> None:
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise SnnccError(f"--dt {dt:g} is not a positive time step",
                         "give the time step in seconds, a positive number (e.g. --dt 1e-4)")


def _load(model, trust: bool, convention: Optional[str] = None, reset: Optional[str] = None,
          dt: Optional[float] = None, netx_args: Optional[Sequence[str]] = None):
    """The model object; ``convention``/``reset`` say how a ``.nir`` model is read,
    ``netx_args`` (``NAME=VALUE``: lava-dl netx ``Network`` arguments) how a netx file is."""
    from .backends.lava.netx_model import NetxFile, NetxOptions
    from .modelfile import NirFile, load_model
    _check_dt(dt)
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model, trust=trust)
    if isinstance(model, NetxFile):
        if netx_args:
            model.options = NetxOptions.parse(list(netx_args))
            model._graph = None
    elif netx_args:
        raise SnnccError("--netx-arg applies to lava-dl netx model files only",
                         "drop --netx-arg, or pass a netx .net file as the model")
    if isinstance(model, NirFile):
        if convention is not None:
            model.convention = convention
        if reset is not None:
            model.reset = reset
    elif convention is not None or reset is not None:
        raise SnnccError("--convention and --reset say how a NIR file is read; the model is "
                         "not a .nir file", "drop --convention/--reset for torch models")
    return model


def _is_netx(model) -> bool:
    from .backends.lava.netx_model import NetxFile
    return isinstance(model, NetxFile)


def _input_shape(compiled: Compiled) -> tuple[int, ...]:
    return compiled.fixed.node(compiled.fixed.input_names[0]).shape


@dataclass
class CompileResult:
    """What :func:`compile` produced: the compiled stages, and what it wrote where.

    ``files``: names written into ``out`` (empty without ``out``); ``notes``: one-line
    remarks for the user (e.g. why no netx file); ``calibration``: the target's calibration
    result when ``calibrate`` data was given; ``model``: the loaded model object;
    ``warnings``: what looks like silent nonsense (:mod:`snncc.sanity`), with its likely
    cause and fix.
    """

    compiled: Compiled
    model: Any
    out: Optional[Path] = None
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calibration: Any = None
    warnings: list[str] = field(default_factory=list)

    def _repr_html_(self) -> str:
        return self.compiled._repr_html_()


def _quant_config(target: str, netx: bool):
    if not netx:
        return None
    if target != "loihi":
        raise SnnccError(f"--netx is a Loihi format; the target is {target!r}",
                         "drop --netx, or compile with --target loihi")
    from .targets.loihi.quantize import netx_config
    return netx_config()


def compile(model, *, target: str = "loihi", out: Optional[PathLike] = None, trust: bool = False,
            input_shape: Optional[Sequence[int]] = None, dt: Optional[float] = None,
            netx: bool = False, calibrate: Optional[PathLike] = None,
            lava_neuron: str = "auto", progress: Optional[Progress] = None,
            convention: Optional[str] = None, reset: Optional[str] = None,
            netx_args: Optional[Sequence[str]] = None) -> CompileResult:
    """Trace, lower and quantize ``model`` for ``target``; write a build folder to ``out``.

    The build folder holds ``network.json`` + ``params.npz`` (the fixed-point graph),
    ``quantization.json`` (per-layer errors, mapping classes, calibration) and the target's
    own files (Loihi: ``lava_network.py``, ``network.net`` where netx can express it).
    ``calibrate``: an ``.npz`` of calibration data (``x``, optional ``y``).
    ``convention``/``reset``: how a ``.nir`` model is read (see
    :func:`snncc.backends.nir.from_nir`; None: as its producer means it).  A lava-dl netx
    file is read as is (``netx_args``: its netx ``Network`` arguments, ``NAME=VALUE``).
    Raises :class:`SnnccError` on any user error; then nothing is written.
    """
    from .compiler import compile_model
    from .sanity import compile_warnings
    from .targets import get_target
    tgt = get_target(target)
    config = _quant_config(target, netx)
    model = _load(model, trust, convention, reset, dt, netx_args)
    if _is_netx(model) and calibrate is not None:
        raise SnnccError("a netx file is already quantized: there is nothing to calibrate",
                         "drop --calibrate")
    try:
        compiled = compile_model(model, input_shape, dt, config, target)
    except SnnccError as exc:
        if not netx:
            raise
        raise SnnccError(f"--netx: {exc.cause}", "netx carries a layer's constant drive only as a "
                         "neuron bias on v (drop the Linear bias before CUBA layers), or compile "
                         "without --netx for snncc's own Lava network") from exc
    cal = None
    if calibrate is not None:
        compiled, cal = _calibrate(model, compiled, calibrate, input_shape, dt, config, progress)
    result = CompileResult(compiled, model, calibration=cal, warnings=compile_warnings(compiled))
    if out is None:
        return result
    from .atomic import atomic_dir
    from .ir import serialize
    out = Path(out)
    with atomic_dir(out) as tmp:
        serialize.save(compiled.fixed, tmp)
        files, notes = tgt.emit(compiled, tmp, lava_neuron=lava_neuron, netx=netx)
        (tmp / "quantization.json").write_text(json.dumps(
            {"target": target,
             "layers": [asdict(l) for l in compiled.quant.layers],
             "mapping": [asdict(m) for m in compiled.mapping],
             **({"calibration": cal.to_dict()} if cal is not None else {})}, indent=1))
    result.out = out
    result.files = [serialize.GRAPH_FILE, serialize.PARAMS_FILE, "quantization.json", *files]
    result.notes = notes
    return result


def _calibrate(model, compiled: Compiled, data: PathLike, input_shape, dt, base, progress):
    """Calibrate on ``data``; returns (calibrated Compiled, the target's calibration result)."""
    from .loaders import load_data
    if compiled.target != "loihi":
        raise SnnccError(f"--calibrate is not available for target {compiled.target!r}",
                         "compile without --calibrate")
    from .targets.loihi.quantize_sdnn import is_sdnn
    if is_sdnn(compiled.lowered):        # sigma-delta: measure the activation ranges
        from .targets.loihi.calibrate_sdnn import calibrate_sdnn
        x, _ = load_data(data, _input_shape(compiled), graded=True)
        return calibrate_sdnn(model, compiled, x, base)
    from .targets.loihi.calibrate import calibrate
    x, y = load_data(data, _input_shape(compiled))
    return calibrate(model, x, y, input_shape, dt, base=base, progress=progress)


def _backend_for(target: str, backend: Optional[str]) -> str:
    """``backend`` checked against ``target``: ``sim`` (or None) is the target's own simulator
    (Loihi: ``sim``, Xylo: ``xylo``); the others must run that target's fixed point."""
    from .targets import get_target
    tgt = get_target(target)
    if backend in (None, "sim"):
        return tgt.runners[0]
    allowed = (*tgt.runners, *(("lava",) if tgt.reference == "lava" else ()),
               *((tgt.reference,) if tgt.reference else ()))
    if backend not in allowed:
        raise SnnccError(f"backend {backend!r} does not run target {target!r}",
                         f"choose one of: {', '.join(dict.fromkeys(allowed))}")
    return backend


@dataclass
class VerifyResult:
    """``report``: report.json's content (schema ``snncc/report/schema.json``);
    ``written``: the report files written; ``compile``: the compile it verified;
    ``warnings``: silent or saturated layers on the data, zero activity compared."""

    report: dict
    written: list[Path]
    compile: CompileResult
    warnings: list[str] = field(default_factory=list)

    def _repr_html_(self) -> str:
        from .notebook import report_html
        return report_html(self.report)


def verify(model, data: PathLike, *, target: str = "loihi", backend: str = "sim",
           json_out: Optional[PathLike] = None, html_out: Optional[PathLike] = None,
           calibrate: Optional[PathLike] = None, check_samples: int = 16, trust: bool = False,
           input_shape: Optional[Sequence[int]] = None, dt: Optional[float] = None,
           progress: Optional[Progress] = None, convention: Optional[str] = None,
           reset: Optional[str] = None, netx_args: Optional[Sequence[str]] = None) -> VerifyResult:
    """Compile ``model`` and compare the float model with the quantized network on ``data``.

    ``backend`` other than ``sim`` adds a value-by-value check of the simulator against it
    on the first ``check_samples`` samples.  The JSON and HTML reports are both rendered
    before either is written (both or neither).  A lava-dl netx file has no float model:
    snncc's ``backend`` runner is compared value by value with lava-dl's own netx loading
    of the file in Lava (:mod:`snncc.backends.lava.netx_verify`); a sigma-delta network by
    its activations (:mod:`snncc.verify_sdnn`).
    """
    from .loaders import load_data
    from .report.write import make_report, write_artifacts
    from .sanity import verify_warnings
    model_arg, model = model, _load(model, trust, convention, reset, dt, netx_args)
    if _is_netx(model):
        from .backends.lava.netx_verify import verify_netx_file
        return VerifyResult(*verify_netx_file(model, data, target, backend, json_out, html_out,
                                              calibrate, check_samples))
    backend = _backend_for(target, backend)
    compiled_result = compile(model, target=target, trust=trust, input_shape=input_shape, dt=dt,
                              convention=convention, reset=reset)
    compiled = compiled_result.compiled
    x, y = load_data(data, _input_shape(compiled),
                     graded=bool(compiled.fixed.meta.get("graded_input")))
    if calibrate is not None:
        compiled, compiled_result.calibration = _calibrate(
            compiled_result.model, compiled, calibrate, input_shape, dt, None, progress)
        compiled_result.compiled = compiled
    inputs = {"model": str(model_arg) if isinstance(model_arg, (str, os.PathLike))
              else type(model_arg).__name__, "data": str(data)}
    from .targets.loihi.quantize_sdnn import is_sdnn
    if is_sdnn(compiled.lowered):     # graded spikes: compared by activations
        from .verify_sdnn import render_sdnn_html, verify_sdnn
        report = verify_sdnn(compiled_result.model, compiled, x, y, backend, check_samples, inputs)
        written = write_artifacts(report, json_out, html_out, render_html=render_sdnn_html)
        return VerifyResult(report, written, compiled_result)
    report = make_report(compiled_result.model, compiled, x, y, target=target, backend=backend,
                         check_samples=check_samples, calibration=compiled_result.calibration,
                         progress=progress,
                         inputs={**inputs, "calibration_data": None if calibrate is None
                                 else str(calibrate)})
    written = write_artifacts(report, json_out, html_out)
    return VerifyResult(report, written, compiled_result,
                        verify_warnings(report, compiled.float_graph))


@dataclass
class RunResult:
    """``spikes``: layer name -> bool (T, B, n); ``output``: the output layer's name;
    ``out``: the .npz written, if any (``spikes/<layer>`` arrays shaped (B, T, n))."""

    spikes: dict[str, np.ndarray]
    output: str
    out: Optional[Path] = None

    @property
    def counts(self) -> np.ndarray:
        """Output spike counts per sample and neuron, (B, n)."""
        return self.spikes[self.output].sum(axis=0)


def run(build: PathLike, data: PathLike, *, backend: str = "sim",
        out: Optional[PathLike] = None, netx_args: Optional[Sequence[str]] = None) -> RunResult:
    """Run a build folder written by :func:`compile` (or a lava-dl netx file: read as is,
    ``backend="lava"`` runs lava-dl's own netx loading of it) on the spikes in ``data``.

    ``backend="sim"`` is the build target's own simulator (Loihi: ``sim``, Xylo: ``xylo``)."""
    from .atomic import atomic_file
    from .backends import get_runner
    from .ir import serialize
    from .loaders import load_data
    netx_model = _netx_build(build, netx_args)
    graph = netx_model.graph() if netx_model is not None else serialize.load(build)
    backend = _backend_for(graph.meta.get("target", "loihi"), backend)
    x, _ = load_data(data, graph.node(graph.input_names[0]).shape,
                     graded=bool(graph.meta.get("graded_input")))
    if netx_model is not None and backend == "lava":
        from .backends.lava import run_netx_file
        raw = run_netx_file(netx_model.path, x, options=asdict(netx_model.options))
        spikes = {k.split("/")[0]: v for k, v in raw.items()}
    elif backend == "lava":      # run the generated module in the build directory itself
        from .backends.lava import run_build_dir
        from .ir.sigma_delta import GRADED_KINDS
        raw = run_build_dir(Path(build), x)
        spikes = {k.split("/")[0]: v if graph.node(k.split("/")[0]).kind in GRADED_KINDS
                  else v.astype(bool) for k, v in raw.items()}
    else:
        spikes = get_runner(backend)(graph, x).spikes
    result = RunResult(spikes, graph.inputs_of(graph.output_names[0])[0])
    if out is not None:
        with atomic_file(out, suffix=".npz") as tmp:
            np.savez(tmp, **{f"spikes/{k}": np.swapaxes(v, 0, 1) for k, v in spikes.items()})
        result.out = Path(out)
    return result


def _netx_build(build: PathLike, netx_args):
    """The NetxFile when ``build`` is a netx file (else None: a build folder)."""
    if Path(build).is_file():
        from .hdf5_safety import is_hdf5
        if not is_hdf5(build):
            raise SnnccError(f"{build} is a file; `snncc run` takes the build folder written "
                             "by `snncc compile`, or a lava-dl netx (HDF5) file",
                             f"run `snncc compile {build} -o build` first, then `snncc run build`")
        return _load(build, False, netx_args=netx_args)
    if netx_args:
        raise SnnccError("--netx-arg applies to lava-dl netx files only",
                         "drop --netx-arg (a build folder holds its options)")
    return None


def export_nir(model, out: PathLike, *, trust: bool = False,
               input_shape: Optional[Sequence[int]] = None,
               dt: Optional[float] = None, convention: Optional[str] = None,
               reset: Optional[str] = None, quantized: bool = False,
               target: str = "loihi", netx_args: Optional[Sequence[str]] = None) -> Path:
    """Write the lowered float network (folds applied) as NIR to ``out``; returns the path.

    A ``.nir`` model is normalised: read as its producer means it (``dt``, ``convention``,
    ``reset`` override), written with snncc's conventions in the metadata, so it reads back
    to the same graph.  ``quantized`` also writes ``target``'s integer program into
    namespaced metadata (:mod:`snncc.backends.nir.quantized`), read back bit-exactly.  A
    lava-dl netx file is written as the float network its integers stand for
    (:func:`snncc.backends.lava.netx_model.float_graph`).
    """
    from .backends.nir import write_nir
    from .backends.nir.delay import expand_delays, refuse_without_nir_form
    from .modelfile import NirFile
    from .passes import lower_neurons, validate_float
    model = _load(model, trust, convention, reset, dt, netx_args)
    if _is_netx(model):
        from .backends.lava.netx_model import float_graph
        write_nir(expand_delays(float_graph(model.graph(), dt or 1e-3)), out)
        return Path(out)
    if isinstance(model, NirFile):
        graph = model.graph(dt)
    else:
        from .frontend import trace
        graph = trace(model, input_shape, dt)
    refuse_without_nir_form(graph)       # sigma-delta neurons, periodic resets
    validate_float(graph)
    if quantized:
        from .backends.nir.quantized import write_quantized_nir
        from .compiler import compile_graph
        write_quantized_nir(compile_graph(graph, target=target), out)
    else:
        write_nir(expand_delays(lower_neurons(graph)[0]), out)
    return Path(out)


@dataclass
class InspectResult:
    """``parameters``: node name -> parameter count; ``placement``: the Loihi 2 placement,
    or None with ``placement_error`` saying why the network does not fit."""

    compile: CompileResult
    parameters: dict[str, int]
    placement: Any = None
    placement_error: Optional[str] = None


def inspect(model, *, target: str = "loihi", trust: bool = False,
            input_shape: Optional[Sequence[int]] = None,
            dt: Optional[float] = None, convention: Optional[str] = None,
            reset: Optional[str] = None, netx_args: Optional[Sequence[str]] = None) -> InspectResult:
    """Compile ``model`` without writing anything and estimate its chip resources."""
    result = compile(model, target=target, trust=trust, input_shape=input_shape, dt=dt,
                     convention=convention, reset=reset, netx_args=netx_args)
    graph = result.compiled.float_graph
    params = {n.name: sum(int(np.size(a)) for a in n.arrays().values()) for n in graph.nodes()}
    info = InspectResult(result, params)
    if target in _xylo_targets():
        from .targets.xylo.mapping import resources
        info.placement = resources(result.compiled.fixed)
    if target == "loihi" and any(getattr(n, "graded", False) for n in result.compiled.fixed.nodes()):
        info.placement_error = "not estimated: the Loihi 2 estimate does not cover sigma-delta layers yet"
    elif target == "loihi":
        from .targets.loihi.mapping import map_loihi2
        try:
            info.placement = map_loihi2(result.compiled.fixed)
        except SnnccError as exc:
            info.placement_error = exc.cause
    return info


def _xylo_targets() -> tuple[str, ...]:
    from .targets import TARGET_MODULES
    return tuple(k for k, v in TARGET_MODULES.items() if v == "snncc.targets.xylo")
