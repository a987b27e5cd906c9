"""The one-call API behind every CLI verb.

What a command decides and writes lives here; :mod:`snncc.cli` only parses options and
prints the results, so the Python API and the CLI cannot drift apart::

    from snncc import api
    result = api.compile("model.pt", target="loihi", out="build/")
    report = api.verify("model.pt", "test.npz").report
    spikes = api.run("build/", "test.npz").spikes

``model`` arguments take a path (``.pt`` saved with ``torch.save(model)``, ``.nir``), a class
spec (``"train.py:Net"`` or ``"package.module:factory"``, with ``weights=`` a state_dict
file and ``model_args=`` its constructor arguments as JSON), or an already loaded object
(an ``nn.Module``, a :class:`~snncc.modelfile.NirFile`).  Every user
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
          dt: Optional[float] = None, weights: Optional[PathLike] = None,
          model_args: Optional[str] = None, max_spikes_per_dt: Optional[int] = None,
          producer: Optional[str] = None, netx_args: Optional[Sequence[str]] = None):
    """The model object behind a model argument (see :func:`snncc.modelfile.load_model`):
    a path, a class spec (``train.py:Net`` with ``weights`` and JSON ``model_args``), or an
    object passed through (an ``nn.Module`` gets ``weights`` loaded into it);
    ``convention``/``reset``/``max_spikes_per_dt``/``producer`` say how a ``.nir`` model is
    read, ``netx_args`` how a lava-dl netx file is (its ``Network`` arguments)."""
    from .modelfile import NirFile, load_model
    _check_dt(dt)
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model, trust=trust, weights=weights, model_args=model_args)
    elif weights is not None:
        from .modelspec import load_weights
        load_weights(model, weights, trust)
    from .backends.lava.netx_model import NetxFile, NetxOptions
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
        if max_spikes_per_dt is not None:
            model.max_spikes_per_dt = max_spikes_per_dt
        if producer is not None:
            model.producer = producer
    elif any(o is not None for o in (convention, reset, max_spikes_per_dt, producer)):
        raise SnnccError("--convention, --reset, --max-spikes-per-dt and --producer say how a "
                         "NIR file is read; the model is not a .nir file",
                         "drop them for torch models")
    return model


def parse_shape(tokens: Optional[Sequence[str]]) -> Optional[tuple[int, ...]]:
    """``--input-shape`` values as a shape: ``["64"]``, ``["2,8,8"]``, ``["2x8x8"]`` or
    ``["2", "8", "8"]`` (the option repeated); None when not given.  SnnccError otherwise."""
    if not tokens:
        return None
    parts = [p for t in tokens for p in str(t).replace("x", ",").replace(" ", ",").split(",") if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise SnnccError(f"--input-shape {' '.join(map(str, tokens))!r} is not a list of sizes",
                         "give the input shape without the batch axis, e.g. 64 or 2,8,8") from None
    if not shape or min(shape) < 1:
        raise SnnccError(f"--input-shape {' '.join(map(str, tokens))!r}: sizes must be >= 1",
                         "give the input shape without the batch axis, e.g. 64 or 2,8,8")
    return shape


def _is_netx(model) -> bool:
    from .backends.lava.netx_model import NetxFile
    return isinstance(model, NetxFile)


def _paths(*items) -> list:
    """The file inputs among ``items`` (paths, not loaded objects): outputs must not touch them."""
    return [i if isinstance(i, (str, os.PathLike)) else i.path for i in items
            if isinstance(i, (str, os.PathLike)) or isinstance(getattr(i, "path", None), Path)]


def _check_backend(backend: str) -> None:
    from .backends import get_runner
    get_runner(backend)          # raises SnnccError naming the choices


def _nir_spikes_hint(model, exc: SnnccError, dt: Optional[float]) -> None:
    """A target that refuses several spikes per step, for a .nir whose count snncc took from
    its producer's default (Rockpool, Sinabs; NIR does not record it): the fix is the option."""
    from .modelfile import NirFile
    if not isinstance(model, NirFile) or model.max_spikes_per_dt is not None \
            or "spikes per step" not in exc.cause:
        return
    try:
        info = model.graph(dt).meta.get("nir_import", {})
    except SnnccError:
        return
    if info.get("spikes_per_step"):
        raise SnnccError(exc.cause + f" ({info['producer']}'s default for a NIR file, which "
                         "does not record it)", "if the model was built with fewer spikes per "
                         "step (Rockpool max_spikes_per_dt, Sinabs SingleSpike), say how many: "
                         "--max-spikes-per-dt 1; else " + exc.fix) from exc


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
            weights: Optional[PathLike] = None, model_args: Optional[str] = None,
            input_shape: Optional[Sequence[int]] = None, dt: Optional[float] = None,
            netx: bool = False, calibrate: Optional[PathLike] = None,
            lava_neuron: str = "auto", progress: Optional[Progress] = None,
            convention: Optional[str] = None, reset: Optional[str] = None,
            max_spikes_per_dt: Optional[int] = None,
            producer: Optional[str] = None, force: bool = False,
            netx_args: Optional[Sequence[str]] = None) -> CompileResult:
    """Trace, lower and quantize ``model`` for ``target``; write a build folder to ``out``.

    The build folder holds ``network.json`` + ``params.npz`` (the fixed-point graph),
    ``quantization.json`` (per-layer errors, mapping classes, calibration) and the target's
    own files (Loihi: ``lava_network.py``, ``network.net`` where netx can express it).
    ``calibrate``: an ``.npz`` of calibration data (``x``, optional ``y``).
    ``out`` follows the output policy of :mod:`snncc.atomic` (checked before any work): a new
    folder, an empty one or one snncc wrote (its manifest), never an input; ``force``
    also writes into a non-empty folder without a manifest, replacing only snncc's files.
    ``convention``/``reset``/``max_spikes_per_dt``/``producer``: how a ``.nir`` model is
    read (see :func:`snncc.backends.nir.from_nir`; None: as its producer means it).  A
    lava-dl netx file is read as is (``netx_args``: its netx ``Network`` arguments,
    ``NAME=VALUE``).
    Raises :class:`SnnccError` on any user error; then nothing is written.
    """
    from .atomic import check_output_dir
    from .compiler import compile_model
    from .sanity import compile_warnings
    from .targets import get_target
    tgt = get_target(target)
    _check_lava_neuron(lava_neuron)
    if out is not None:
        check_output_dir(out, _paths(model, calibrate, weights), force)
    config = _quant_config(target, netx)
    model = _load(model, trust, convention, reset, dt, weights, model_args, max_spikes_per_dt,
                  producer, netx_args)
    if _is_netx(model) and calibrate is not None:
        raise SnnccError("a netx file is already quantized: there is nothing to calibrate",
                         "drop --calibrate")
    try:
        compiled = compile_model(model, input_shape, dt, config, target)
    except SnnccError as exc:
        _nir_spikes_hint(model, exc, dt)
        if not netx:
            raise
        raise SnnccError(f"--netx: {exc.cause}", "netx carries a layer's constant drive only as a "
                         "neuron bias on v (drop the Linear bias before CUBA layers), or compile "
                         "without --netx for snncc's own Lava network") from exc
    cal = None
    if calibrate is not None:
        compiled, cal, x = _calibrate(model, compiled, calibrate, input_shape, dt, config,
                                      progress)
        compiled.self_check = _check_on(model, compiled, x)
    result = CompileResult(compiled, model, calibration=cal, warnings=compile_warnings(compiled))
    if out is None:
        return result
    from .atomic import output_dir
    from .ir import serialize
    out = Path(out)
    meta = {"verb": "compile", "target": target, "lava_neuron": lava_neuron}
    with output_dir(out, _paths(model, calibrate), force, meta) as tmp:
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


def _streams(model) -> bool:
    from .reference import streams
    return streams(model)


def _memory_check(graph, mode: str, data: PathLike, record_states: bool = False,
                  streaming: bool = False):
    """The ``memory`` hook of :func:`~snncc.loaders.load_data`: refuse a run that would not
    fit, from the data's header, before it is decoded (see :mod:`snncc.memory`)."""
    from .memory import estimate, require

    def check(x_shape, x_dtype):
        require(estimate(graph, x_shape, x_dtype.itemsize, mode, record_states=record_states,
                         streaming=streaming), str(data))
    return check


def _check_lava_neuron(policy: str) -> None:
    from .backends.lava.codegen import NEURON_CHOICES
    if policy not in NEURON_CHOICES:
        raise SnnccError(f"unknown Lava neuron policy {policy!r}",
                         f"choose one of: {', '.join(NEURON_CHOICES)}")


def _calibrate(model, compiled: Compiled, data: PathLike, input_shape, dt, base, progress):
    """Calibrate on ``data``; returns (calibrated Compiled, the target's calibration result,
    the calibration input it read)."""
    from .loaders import load_data
    from .targets import get_target
    from .targets.loihi.quantize_sdnn import is_sdnn
    if is_sdnn(compiled.lowered):        # sigma-delta: measure the activation ranges
        from .targets.loihi.calibrate_sdnn import calibrate_sdnn
        x, _ = load_data(data, _input_shape(compiled), graded=True)
        return (*calibrate_sdnn(model, compiled, x, base), x)
    calibrate = get_target(compiled.target).calibrate
    if calibrate is None:
        raise SnnccError(f"--calibrate is not available for target {compiled.target!r}",
                         "compile without --calibrate")
    x, y = load_data(data, _input_shape(compiled))
    return (*calibrate(model, x, y, input_shape, dt, base=base, progress=progress), x)


def _self_check(model, lowered) -> None:
    """The differential self-check of a traced torch model (a ``.nir`` model has none)."""
    from .modelfile import NirFile
    if not isinstance(model, NirFile):
        from .frontend.selfcheck import self_check
        self_check(model, lowered)


def _check_on(model, compiled: Compiled, x: np.ndarray):
    """The differential self-check again, on the probe plus the first samples of ``x``."""
    from .modelfile import NirFile
    if isinstance(model, NirFile):
        return None
    from .frontend.selfcheck import self_check
    return self_check(model, compiled.lowered, data=x)


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
           weights: Optional[PathLike] = None, model_args: Optional[str] = None,
           input_shape: Optional[Sequence[int]] = None, dt: Optional[float] = None,
           progress: Optional[Progress] = None, convention: Optional[str] = None,
           reset: Optional[str] = None, max_spikes_per_dt: Optional[int] = None,
           producer: Optional[str] = None, force: bool = False,
           netx_args: Optional[Sequence[str]] = None, attribution: int = 0) -> VerifyResult:
    """Compile ``model`` and compare the float model with the quantized network on ``data``.

    A lava-dl netx file has no float model: snncc's ``backend`` runner is compared value by
    value with lava-dl's own netx loading of the file in Lava
    (:mod:`snncc.backends.lava.netx_verify`); a sigma-delta network by its activations
    (:mod:`snncc.verify_sdnn`).

    ``backend`` other than ``sim`` adds a value-by-value check of the simulator against it
    on the first ``check_samples`` samples.  ``attribution`` > 0 adds error attribution on
    that many samples (report section ``attribution``, :mod:`snncc.report.attribution`).
    The JSON and HTML reports are both rendered before either is written (both or neither);
    options and outputs are checked before any work (see :mod:`snncc.atomic` for the output
    policy and ``force``).
    """
    from .loaders import load_data, peek_data
    from .report.write import check_artifacts, make_report, write_artifacts
    from .sanity import verify_warnings
    model_arg, model = model, _load(model, trust, convention, reset, dt, weights, model_args,
                                    max_spikes_per_dt, producer, netx_args)
    if _is_netx(model):
        from .backends.lava.netx_verify import verify_netx_file
        return VerifyResult(*verify_netx_file(model, data, target, backend, json_out, html_out,
                                              calibrate, check_samples))
    backend = _backend_for(target, backend)
    if isinstance(check_samples, bool) or not isinstance(check_samples, int) or check_samples < 1:
        raise SnnccError(f"--check-samples {check_samples!r}: the bit-exact check needs at least "
                         "one sample", "pass --check-samples 1 or more (default 16)")
    inputs = _paths(model_arg, data, calibrate, weights)
    check_artifacts(json_out, html_out, inputs, force)
    peek_data(data)                       # a bad data file is refused before the compile
    if calibrate is not None:
        peek_data(calibrate)
    compiled_result = compile(model, target=target, trust=trust, input_shape=input_shape, dt=dt,
                              convention=convention, reset=reset,
                              max_spikes_per_dt=max_spikes_per_dt, producer=producer)
    compiled = compiled_result.compiled
    x, y = load_data(data, _input_shape(compiled), graded=bool(compiled.fixed.meta.get("graded_input")),
                     memory=_memory_check(compiled.fixed, "verify", data,
                                          record_states=backend != "sim",
                                          streaming=backend == "sim" and _streams(compiled_result.model)))
    if calibrate is not None:
        compiled, compiled_result.calibration, xc = _calibrate(
            compiled_result.model, compiled, calibrate, input_shape, dt, None, progress)
        compiled.self_check = _check_on(compiled_result.model, compiled, xc)
        compiled_result.compiled = compiled
    from .targets.loihi.quantize_sdnn import is_sdnn
    if is_sdnn(compiled.lowered):     # graded spikes: compared by activations
        from .verify_sdnn import render_sdnn_html, verify_sdnn
        report = verify_sdnn(compiled_result.model, compiled, x, y, backend, check_samples,
                             {"model": str(model_arg), "data": str(data)})
        return VerifyResult(report, write_artifacts(report, json_out, html_out, inputs, force,
                                                    render_html=render_sdnn_html), compiled_result)
    report = make_report(compiled_result.model, compiled, x, y, target=target, backend=backend,
                         check_samples=check_samples, calibration=compiled_result.calibration,
                         progress=progress, attribution=attribution,
                         inputs={"model": str(model_arg) if isinstance(model_arg, (str, os.PathLike))
                                 else type(model_arg).__name__, "data": str(data),
                                 "calibration_data": None if calibrate is None else str(calibrate)})
    written = write_artifacts(report, json_out, html_out, inputs, force)
    return VerifyResult(report, written, compiled_result,
                        verify_warnings(report, compiled.float_graph))


@dataclass
class FinetuneResult:
    """``model``: ``nn.Sequential(TunedNetwork)``, the tuned float network ``snncc compile``
    turns into exactly the network it was trained through; ``out``: the file written;
    ``history``: loss and quantized training accuracy per epoch."""

    model: Any
    out: Optional[Path]
    history: Any


def finetune(model, data: PathLike, *, out: Optional[PathLike] = None, epochs: int = 5,
             lr: float = 1e-3, optimizer: str = "adam", batch_size: int = 64, seed: int = 0,
             val_fraction: float = 0.15, calibrate: "bool | PathLike" = True,
             resume: bool = False, checkpoint: Optional[PathLike] = None, trust: bool = False,
             input_shape: Optional[Sequence[int]] = None, dt: Optional[float] = None,
             progress: Optional[Progress] = None) -> FinetuneResult:
    """Fine-tune ``model`` through Loihi's exact arithmetic on ``data`` (``x``, ``y``).

    The forward pass is the simulator's own integers (straight-through gradients), see
    :mod:`snncc.finetune`.  It starts from the calibrated quantization (``calibrate``: True
    calibrates on up to 256 training samples, a path on that data, False keeps the default
    settings) and the tuned model carries those settings, so it compiles as it was tuned.
    ``val_fraction`` of the samples is held out; the epoch (or the untuned start) with the
    best held-out quantized accuracy is kept.
    ``out`` (a new ``.pt`` file; an existing one is refused) gets
    the tuned model; a checkpoint (``checkpoint``, default ``<out>.ckpt``) is written after
    every epoch and removed once ``out`` is written; ``resume`` continues from it.
    Raises :class:`SnnccError` for bad input; then ``out`` is not written.
    """
    from .finetune.train import FinetuneConfig, finetune as run, tuned_from_model
    from .loaders import load_data
    if out is not None and Path(out).exists():
        raise SnnccError(f"{out} exists; snncc does not overwrite it",
                         "choose another -o, or delete the file first")
    loaded = _load(model, trust)
    net = tuned_from_model(loaded, input_shape, dt)
    x, y = load_data(data, net.snncc_input_shape)
    config = None
    if calibrate is not False:
        from .targets.loihi.calibrate import calibrate as run_calibration
        cx, cy = (x[:, :256], None if y is None else y[:256]) if calibrate is True else \
            load_data(calibrate, net.snncc_input_shape)
        config = run_calibration(loaded, cx, cy, input_shape, 1e-3 if dt is None else dt,
                                 progress=progress)[1].config
    ckpt = Path(checkpoint) if checkpoint is not None else (
        Path(str(out) + ".ckpt") if out is not None else None)
    if not 0.0 <= val_fraction < 1.0:
        raise SnnccError(f"held-out fraction {val_fraction} is outside [0, 1)",
                         "pass e.g. 0.1 (0: keep the last epoch)")
    cfg = FinetuneConfig(epochs=epochs, lr=lr, optimizer=optimizer, batch_size=batch_size,
                         seed=seed, val_fraction=val_fraction)
    tuned, history = run(net, x, y, cfg, checkpoint=ckpt, resume=resume, progress=progress,
                         config=config)
    if out is not None:
        import torch
        from .atomic import atomic_file
        with atomic_file(out) as tmp:
            torch.save(tuned, tmp)
        if checkpoint is None and ckpt is not None:
            ckpt.unlink(missing_ok=True)
    return FinetuneResult(tuned, None if out is None else Path(out), history)


@dataclass
class RunResult:
    """``spikes``: layer name -> bool (T, B, n) (empty when the run was too long to hold:
    it streamed, see ``out``); ``output``: the output layer's name; ``membrane``: non-spiking
    readout layer -> its membrane in the float model's units, float64 (T, B, n)
    (``v / scale``); ``out``: the .npz written, if any (``spikes/<layer>`` and
    ``membrane/<layer>`` arrays shaped (B, T, n)).  Steps are the chip's: a layer at
    synaptic depth k answers input step t at step t + k."""

    spikes: dict[str, np.ndarray]
    output: str
    out: Optional[Path] = None
    output_counts: Optional[np.ndarray] = None
    membrane: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def readout(self) -> bool:
        """Whether the output layer is a non-spiking readout (read its membrane)."""
        return self.output in self.membrane

    @property
    def counts(self) -> np.ndarray:
        """Output spike counts per sample and neuron, (B, n)."""
        if self.output_counts is not None:
            return self.output_counts
        return self.spikes[self.output].sum(axis=0)

    @property
    def scores(self) -> np.ndarray:
        """Class scores per sample and output neuron, (B, n): spike counts, or for a
        readout its mean membrane over time (the prediction is their argmax)."""
        return self.membrane[self.output].mean(axis=0) if self.readout else self.counts


def run(build: PathLike, data: PathLike, *, backend: str = "sim",
        out: Optional[PathLike] = None, force: bool = False,
        netx_args: Optional[Sequence[str]] = None) -> RunResult:
    """Run a build folder written by :func:`compile` (or a lava-dl netx file: read as is,
    ``backend="lava"`` runs lava-dl's own netx loading of it) on the spikes in ``data``.

    ``backend="sim"`` is the build target's own simulator (Loihi: ``sim``, Xylo: ``xylo``).
    The build is checked before it runs: its manifest (files changed since compile are
    refused), then every field of ``network.json``/``params.npz``.  ``backend="lava"``
    builds the Lava network from that checked graph (its ``lava_network.py`` is regenerated
    in a private folder; the build's own copy is never imported).  The Loihi simulators
    (``sim``, ``fast``, ``torch``) stream over time: memory is bounded by a window of steps,
    not by T (``snncc.backends.sim.stream``); the spikes of every layer are kept in
    :attr:`RunResult.spikes` only while they fit 256 MiB, and ``out`` (``.npz``,
    ``spikes/<layer>`` arrays shaped (B, T, n)) is written as the windows come, following
    the output policy of :mod:`snncc.atomic`.
    """
    from .atomic import check_file_target, output_file
    from .backends import get_runner
    from .ir import serialize
    from .loaders import load_data
    from .manifest import check_build
    _check_backend(backend)
    inputs = _paths(build, data)
    if out is not None:
        check_file_target(out, "npz", inputs, force)
    from .backends.lava.netx_model import netx_build
    netx_model = netx_build(build, lambda path: _load(path, False, netx_args=netx_args), netx_args)
    manifest = check_build(Path(build), (serialize.GRAPH_FILE, serialize.PARAMS_FILE)) \
        if Path(build).is_dir() else None
    graph = netx_model.graph() if netx_model is not None else serialize.load(build)
    backend = _backend_for(graph.meta.get("target", "loihi"), backend)
    from .backends.sim.stream import STREAMING, StreamedRun
    from .report.runs import readout_scales
    scales = readout_scales(graph)       # readouts: their membranes are kept, not streamed
    streaming = backend in STREAMING and not scales
    x, _ = load_data(data, graph.node(graph.input_names[0]).shape,
                     graded=bool(graph.meta.get("graded_input")),
                     memory=_memory_check(graph, "run", data, streaming=streaming))
    if netx_model is not None and backend == "lava":    # lava-dl's own loading of the file
        from .backends.lava import run_netx_file
        raw = run_netx_file(netx_model.path, x, options=asdict(netx_model.options))
        return _write_run(RunResult({k.split("/")[0]: v for k, v in raw.items()},
                                    graph.inputs_of(graph.output_names[0])[0]), out, inputs, force)
    kwargs = {}
    if backend == "lava":      # from the checked graph, never the build's own module
        kwargs["neuron"] = (manifest.meta.get("lava_neuron", "auto") if manifest else "auto")
        _check_lava_neuron(kwargs["neuron"])
    if streaming:
        output = graph.inputs_of(graph.output_names[0])[0]
        scratch = None       # where the windows are staged: beside a regular file output
        if out is not None:
            target = Path(out).absolute()
            scratch = target.parent if not target.exists() or target.is_file() else None
            if scratch is None or not scratch.is_dir():      # a FIFO, a device: the temp dir
                import tempfile
                scratch = Path(tempfile.gettempdir())
        with StreamedRun(graph, x, backend, output, scratch) as streamed:
            result = RunResult(streamed.spikes or {}, output, output_counts=streamed.counts)
            if out is not None:
                with output_file(out, "npz", inputs, force) as tmp:
                    if streamed.file is None:      # nowhere to stage the windows: in memory
                        with open(tmp, "wb") as f:
                            np.savez(f, **{f"spikes/{k}": np.swapaxes(v, 0, 1)
                                           for k, v in streamed.spikes.items()})
                    else:
                        streamed.save(tmp)
                result.out = Path(out)
        return result
    res = get_runner(backend)(graph, x, record_states=bool(scales), **kwargs)
    membrane = {n: np.asarray(res.v[n], np.float64) / scales[n] for n in scales}
    return _write_run(RunResult(res.spikes, graph.inputs_of(graph.output_names[0])[0],
                                membrane=membrane), out, inputs, force)


def _write_run(result: "RunResult", out, inputs, force) -> "RunResult":
    """Write ``result``'s spikes (and readout membranes) to ``out`` (``.npz``, output
    policy) when given."""
    from .atomic import output_file
    if out is not None:
        with output_file(out, "npz", inputs, force) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{f"spikes/{k}": np.swapaxes(v, 0, 1) for k, v in result.spikes.items()},
                     **{f"membrane/{k}": np.swapaxes(v, 0, 1)
                        for k, v in result.membrane.items()})
        result.out = Path(out)
    return result


def export_nir(model, out: PathLike, *, trust: bool = False,
               weights: Optional[PathLike] = None, model_args: Optional[str] = None,
               input_shape: Optional[Sequence[int]] = None,
               dt: Optional[float] = None, convention: Optional[str] = None,
               reset: Optional[str] = None, quantized: bool = False,
               target: str = "loihi", max_spikes_per_dt: Optional[int] = None,
               producer: Optional[str] = None, force: bool = False,
               netx_args: Optional[Sequence[str]] = None) -> Path:
    """Write the lowered float network (folds applied) as NIR to ``out``; returns the path.

    A ``.nir`` model is normalised: read as its producer means it (``dt``, ``convention``,
    ``reset`` override), written with snncc's conventions in the metadata, so it reads back
    to the same graph.  ``quantized`` also writes ``target``'s integer program into
    namespaced metadata (:mod:`snncc.backends.nir.quantized`), read back bit-exactly.
    The HDF5 file is built in memory and written through the output policy of
    :mod:`snncc.atomic` (checked before any work; ``force`` replaces a file of another kind).
    A lava-dl netx file is written as the float network its integers stand for
    (:func:`snncc.backends.lava.netx_model.float_graph`).
    """
    from .atomic import check_file_target, write_bytes
    from .backends.nir.export import nir_bytes
    from .modelfile import NirFile
    from .passes import lower_neurons, validate_float
    inputs = _paths(model, weights)
    check_file_target(out, "hdf5", inputs, force)
    from .backends.nir.delay import expand_delays, refuse_without_nir_form
    model = _load(model, trust, convention, reset, dt, weights, model_args, max_spikes_per_dt,
                  producer, netx_args)
    if _is_netx(model):
        from .backends.lava.netx_model import float_graph
        return write_bytes(out, nir_bytes(expand_delays(float_graph(model.graph(), dt or 1e-3))),
                           "hdf5", inputs, force)
    if isinstance(model, NirFile):
        graph = model.graph(dt)
    else:
        from .frontend import trace
        graph = trace(model, input_shape, dt)
    refuse_without_nir_form(graph)       # sigma-delta neurons, periodic resets
    validate_float(graph)
    if quantized:
        from .backends.nir.quantized import quantized_nir_bytes
        from .compiler import compile_graph
        compiled = compile_graph(graph, target=target)
        _self_check(model, compiled.lowered)
        blob = quantized_nir_bytes(compiled)
    else:
        lowered = lower_neurons(graph)[0]
        _self_check(model, lowered)
        blob = nir_bytes(expand_delays(lowered))
    return write_bytes(out, blob, "hdf5", inputs, force)


@dataclass
class InspectResult:
    """``parameters``: node name -> parameter count; ``resources``: Loihi's resource and
    time/energy estimate (report.json's ``resources`` section, see
    :func:`snncc.targets.loihi.resources.resources`); ``placement``: a Xylo target's
    resources; ``placement_error``: why the network does not fit Loihi 2, if it does not."""

    compile: CompileResult
    parameters: dict[str, int]
    resources: Optional[dict] = None
    placement: Any = None
    placement_error: Optional[str] = None


def inspect(model, *, target: str = "loihi", trust: bool = False,
            weights: Optional[PathLike] = None, model_args: Optional[str] = None,
            input_shape: Optional[Sequence[int]] = None,
            dt: Optional[float] = None, convention: Optional[str] = None,
            reset: Optional[str] = None, max_spikes_per_dt: Optional[int] = None,
            producer: Optional[str] = None, system: Optional[str] = None,
            steps: Optional[int] = None, rate: Optional[float] = None,
            data: Optional[PathLike] = None,
            netx_args: Optional[Sequence[str]] = None) -> InspectResult:
    """Compile ``model`` without writing anything and estimate its chip resources.

    Loihi: tiles, cores and chips per layer and per core, and time and energy per step and
    per inference of ``steps`` steps.  Firing rates are measured on ``data`` (an ``.npz``,
    run on the fast simulator; ``steps`` defaults to its length) or assumed (``rate`` spikes
    per neuron per step, default 0.1).  ``system``: ``oheo-gulch``, ``kapoho-point`` or
    ``hala-point`` to check the network against that system's chips.  Xylo: the chip's
    resources in ``placement``.  ``convention``/``reset``/``max_spikes_per_dt``/``producer``:
    how a ``.nir`` model is read (as in :func:`compile`).
    """
    result = compile(model, target=target, trust=trust, weights=weights, model_args=model_args,
                     input_shape=input_shape, dt=dt, convention=convention, reset=reset,
                     max_spikes_per_dt=max_spikes_per_dt, producer=producer,
                     netx_args=netx_args)
    graph = result.compiled.float_graph
    params = {n.name: sum(int(np.size(a)) for a in n.arrays().values()) for n in graph.nodes()}
    info = InspectResult(result, params)
    if target in _xylo_targets():
        from .targets.xylo.mapping import resources
        info.placement = resources(result.compiled.fixed)
    if target == "loihi" and any(getattr(n, "graded", False) for n in result.compiled.fixed.nodes()):
        info.placement_error = "not estimated: the Loihi 2 estimate does not cover sigma-delta layers yet"
    elif target == "loihi":
        from .targets.loihi.energy import DEFAULT_RATE, Activity
        from .targets.loihi.resources import measured_activity, resources
        fixed = result.compiled.fixed
        if steps is not None and steps < 1:
            raise SnnccError(f"--steps {steps}: an inference needs at least one step",
                             "give --steps 1 or more")
        if rate is not None and not 0 <= rate <= 1:
            raise SnnccError(f"--rate {rate} is not a firing rate",
                             "give spikes per neuron per step, between 0 and 1")
        if data is not None:
            from .loaders import load_data
            x, _ = load_data(data, _input_shape(result.compiled),
                             graded=bool(result.compiled.fixed.meta.get("graded_input")))
            activity = measured_activity(fixed, x)
            steps = steps or int(x.shape[0])
        else:
            r = DEFAULT_RATE if rate is None else float(rate)
            activity = Activity(default=r, source=f"assumed: {r:g} spikes per neuron per step")
        info.resources = resources(fixed, activity=activity, steps=steps or 1, system=system)
        info.placement_error = info.resources["error"]
    return info


def _xylo_targets() -> tuple[str, ...]:
    from .targets import TARGET_MODULES
    return tuple(k for k, v in TARGET_MODULES.items() if v == "snncc.targets.xylo")


def layer_rows(compiled: Compiled) -> list[dict]:
    """One row per neuron layer for the mapping table (``compile`` and ``inspect`` print it).

    ``weight_err``: the worst relative weight error over the layer's synapses (a layer fed by
    several synapses -- recurrent, residual -- reports them as ``weight:<synapse>``);
    ``decay_err``: the worse of beta and alpha; ``other_err``: (name, error) of the worst
    remaining parameter (biases, generalised resets, input gains) or None.
    """
    quant = {l.name: l for l in compiled.quant.layers}
    rows = []
    for m in compiled.mapping:
        q = quant[m.name]
        err = {e.name: e.max_rel for e in q.errors}
        weights = [v for k, v in err.items() if k == "weight" or k.startswith("weight:")]
        other = max(((k, v) for k, v in err.items()
                     if k not in ("threshold", "beta", "alpha") and k != "weight"
                     and not k.startswith("weight:")), key=lambda kv: kv[1], default=None)
        rows.append({"layer": m.name, "neuron": m.source_kind, "mapping": m.mapping,
                     "weight_exp": q.weight_exp, "sign": q.sign_mode,
                     "weight_err": max(weights, default=0.0),
                     "threshold_err": err.get("threshold", 0.0),
                     "decay_err": max(err.get("beta", 0.0), err.get("alpha", 0.0)),
                     "other_err": other, "notes": "; ".join(q.warnings + [m.note]).strip("; ")})
    return rows
