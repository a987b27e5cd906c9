"""``snncc compile``: :func:`compile` and what it returns, calibration, the mapping table's
rows."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ..compiler import Compiled
from ..errors import SnnccError
from ..progress import Progress
from .common import (_check_lava_neuron, _check_on, _input_shape, _is_netx, _load,
                     _nir_spikes_hint, PathLike, _paths)


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
    from ..targets.loihi.quantize import netx_config
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
    from ..atomic import check_output_dir
    from ..compiler import compile_model
    from ..sanity import compile_warnings
    from ..targets import get_target
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
    from ..atomic import output_dir
    from ..ir import serialize
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


def _calibrate(model, compiled: Compiled, data: PathLike, input_shape, dt, base, progress):
    """Calibrate on ``data``; returns (calibrated Compiled, the target's calibration result,
    the calibration input it read)."""
    from ..loaders import load_data
    from ..targets import get_target
    from ..targets.loihi.quantize_sdnn import is_sdnn
    if is_sdnn(compiled.lowered):        # sigma-delta: measure the activation ranges
        from ..targets.loihi.calibrate_sdnn import calibrate_sdnn
        x, _ = load_data(data, _input_shape(compiled), graded=True)
        return (*calibrate_sdnn(model, compiled, x, base), x)
    calibrate = get_target(compiled.target).calibrate
    if calibrate is None:
        raise SnnccError(f"--calibrate is not available for target {compiled.target!r}",
                         "compile without --calibrate")
    x, y = load_data(data, _input_shape(compiled))
    return (*calibrate(model, x, y, input_shape, dt, base=base, progress=progress), x)


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
