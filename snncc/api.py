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
          dt: Optional[float] = None):
    """The model object; ``convention``/``reset`` say how a ``.nir`` model is read."""
    from .modelfile import NirFile, load_model
    _check_dt(dt)
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model, trust=trust)
    if isinstance(model, NirFile):
        if convention is not None:
            model.convention = convention
        if reset is not None:
            model.reset = reset
    elif convention is not None or reset is not None:
        raise SnnccError("--convention and --reset say how a NIR file is read; the model is "
                         "not a .nir file", "drop --convention/--reset for torch models")
    return model


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
            convention: Optional[str] = None, reset: Optional[str] = None) -> CompileResult:
    """Trace, lower and quantize ``model`` for ``target``; write a build folder to ``out``.

    The build folder holds ``network.json`` + ``params.npz`` (the fixed-point graph),
    ``quantization.json`` (per-layer errors, mapping classes, calibration) and the target's
    own files (Loihi: ``lava_network.py``, ``network.net`` where netx can express it).
    ``calibrate``: an ``.npz`` of calibration data (``x``, optional ``y``).
    ``convention``/``reset``: how a ``.nir`` model is read (see
    :func:`snncc.backends.nir.from_nir`; None: as its producer means it).
    Raises :class:`SnnccError` on any user error; then nothing is written.
    """
    from .compiler import compile_model
    from .sanity import compile_warnings
    from .targets import get_target
    tgt = get_target(target)
    config = _quant_config(target, netx)
    model = _load(model, trust, convention, reset, dt)
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
           reset: Optional[str] = None, attribution: int = 0) -> VerifyResult:
    """Compile ``model`` and compare the float model with the quantized network on ``data``.

    ``backend`` other than ``sim`` adds a value-by-value check of the simulator against it
    on the first ``check_samples`` samples.  ``attribution`` > 0 adds error attribution on
    that many samples (report section ``attribution``, :mod:`snncc.report.attribution`).
    The JSON and HTML reports are both rendered before either is written (both or neither).
    """
    from .loaders import load_data
    from .report.write import make_report, write_artifacts
    from .sanity import verify_warnings
    backend = _backend_for(target, backend)
    compiled_result = compile(model, target=target, trust=trust, input_shape=input_shape, dt=dt,
                              convention=convention, reset=reset)
    compiled = compiled_result.compiled
    x, y = load_data(data, _input_shape(compiled))
    if calibrate is not None:
        compiled, compiled_result.calibration = _calibrate(
            compiled_result.model, compiled, calibrate, input_shape, dt, None, progress)
        compiled_result.compiled = compiled
    report = make_report(compiled_result.model, compiled, x, y, target=target, backend=backend,
                         check_samples=check_samples, calibration=compiled_result.calibration,
                         progress=progress, attribution=attribution,
                         inputs={"model": str(model) if isinstance(model, (str, os.PathLike))
                                 else type(model).__name__, "data": str(data),
                                 "calibration_data": None if calibrate is None else str(calibrate)})
    written = write_artifacts(report, json_out, html_out)
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
    it streamed, see ``out``); ``output``: the output layer's name; ``out``: the .npz
    written, if any (``spikes/<layer>`` arrays shaped (B, T, n))."""

    spikes: dict[str, np.ndarray]
    output: str
    out: Optional[Path] = None
    output_counts: Optional[np.ndarray] = None

    @property
    def counts(self) -> np.ndarray:
        """Output spike counts per sample and neuron, (B, n)."""
        if self.output_counts is not None:
            return self.output_counts
        return self.spikes[self.output].sum(axis=0)


def run(build: PathLike, data: PathLike, *, backend: str = "sim",
        out: Optional[PathLike] = None) -> RunResult:
    """Run a build folder written by :func:`compile` on the spikes in ``data``.

    ``backend="sim"`` is the build target's own simulator (Loihi: ``sim``, Xylo: ``xylo``).
    The Loihi simulators (``sim``, ``fast``, ``torch``) stream over time: memory is bounded
    by a window of steps, not by T (``snncc.backends.sim.stream``); the spikes of every layer
    are kept in :attr:`RunResult.spikes` only while they fit 256 MiB, and ``out`` is written
    as the windows come."""
    from .atomic import atomic_file
    from .backends import get_runner
    from .ir import serialize
    from .loaders import load_data
    graph = serialize.load(build)
    backend = _backend_for(graph.meta.get("target", "loihi"), backend)
    x, _ = load_data(data, graph.node(graph.input_names[0]).shape)
    if backend == "lava":      # run the generated module in the build directory itself
        from .backends.lava import run_build_dir
        raw = run_build_dir(Path(build), x)
        spikes = {k.split("/")[0]: v.astype(bool) for k, v in raw.items()}
    else:
        from .backends.sim.stream import STREAMING, StreamedRun
        get_runner(backend)                         # unknown backends: one clear error
        if backend in STREAMING:
            output = graph.inputs_of(graph.output_names[0])[0]
            scratch = None if out is None else Path(out).absolute().parent
            if scratch is not None:
                scratch.mkdir(parents=True, exist_ok=True)
            with StreamedRun(graph, x, backend, output, scratch) as streamed:
                result = RunResult(streamed.spikes or {}, output,
                                   output_counts=streamed.counts)
                if out is not None:
                    with atomic_file(out, suffix=".npz") as tmp:
                        streamed.save(tmp)
                    result.out = Path(out)
            return result
        spikes = get_runner(backend)(graph, x).spikes
    result = RunResult(spikes, graph.inputs_of(graph.output_names[0])[0])
    if out is not None:
        with atomic_file(out, suffix=".npz") as tmp:
            np.savez(tmp, **{f"spikes/{k}": np.swapaxes(v, 0, 1) for k, v in spikes.items()})
        result.out = Path(out)
    return result


def export_nir(model, out: PathLike, *, trust: bool = False,
               input_shape: Optional[Sequence[int]] = None,
               dt: Optional[float] = None, convention: Optional[str] = None,
               reset: Optional[str] = None, quantized: bool = False,
               target: str = "loihi") -> Path:
    """Write the lowered float network (folds applied) as NIR to ``out``; returns the path.

    A ``.nir`` model is normalised: read as its producer means it (``dt``, ``convention``,
    ``reset`` override), written with snncc's conventions in the metadata, so it reads back
    to the same graph.  ``quantized`` also writes ``target``'s integer program into
    namespaced metadata (:mod:`snncc.backends.nir.quantized`), read back bit-exactly.
    """
    from .backends.nir import write_nir
    from .modelfile import NirFile
    from .passes import lower_neurons, validate_float
    model = _load(model, trust, convention, reset, dt)
    if isinstance(model, NirFile):
        graph = model.graph(dt)
    else:
        from .frontend import trace
        graph = trace(model, input_shape, dt)
    validate_float(graph)
    if quantized:
        from .backends.nir.quantized import write_quantized_nir
        from .compiler import compile_graph
        write_quantized_nir(compile_graph(graph, target=target), out)
    else:
        write_nir(lower_neurons(graph)[0], out)
    return Path(out)


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
            input_shape: Optional[Sequence[int]] = None,
            dt: Optional[float] = None, convention: Optional[str] = None,
            reset: Optional[str] = None, system: Optional[str] = None,
            steps: Optional[int] = None, rate: Optional[float] = None,
            data: Optional[PathLike] = None) -> InspectResult:
    """Compile ``model`` without writing anything and estimate its chip resources.

    Loihi: tiles, cores and chips per layer and per core, and time and energy per step and
    per inference of ``steps`` steps.  Firing rates are measured on ``data`` (an ``.npz``,
    run on the fast simulator; ``steps`` defaults to its length) or assumed (``rate`` spikes
    per neuron per step, default 0.1).  ``system``: ``oheo-gulch``, ``kapoho-point`` or
    ``hala-point`` to check the network against that system's chips.  Xylo: the chip's
    resources in ``placement``.
    """
    result = compile(model, target=target, trust=trust, input_shape=input_shape, dt=dt,
                     convention=convention, reset=reset)
    graph = result.compiled.float_graph
    params = {n.name: sum(int(np.size(a)) for a in n.arrays().values()) for n in graph.nodes()}
    info = InspectResult(result, params)
    if target in _xylo_targets():
        from .targets.xylo.mapping import resources
        info.placement = resources(result.compiled.fixed)
    if target == "loihi":
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
            x, _ = load_data(data, _input_shape(result.compiled))
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
