"""What every verb of :mod:`snncc.api` shares: loading a model argument with its
reading options, checking options, and the differential self-check."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..compiler import Compiled
from ..errors import SnnccError

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
    from ..modelfile import NirFile, load_model
    _check_dt(dt)
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model, trust=trust, weights=weights, model_args=model_args)
    elif weights is not None:
        from ..modelspec import load_weights
        load_weights(model, weights, trust)
    from ..backends.lava.netx_model import NetxFile, NetxOptions
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
    from ..backends.lava.netx_model import NetxFile
    return isinstance(model, NetxFile)


def _paths(*items) -> list:
    """The file inputs among ``items`` (paths, not loaded objects): outputs must not touch them."""
    return [i if isinstance(i, (str, os.PathLike)) else i.path for i in items
            if isinstance(i, (str, os.PathLike)) or isinstance(getattr(i, "path", None), Path)]


def _check_backend(backend: str) -> None:
    from ..backends import get_runner
    get_runner(backend)          # raises SnnccError naming the choices


def _nir_spikes_hint(model, exc: SnnccError, dt: Optional[float]) -> None:
    """A target that refuses several spikes per step, for a .nir whose count snncc took from
    its producer's default (Rockpool, Sinabs; NIR does not record it): the fix is the option."""
    from ..modelfile import NirFile
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


def _streams(model) -> bool:
    from ..reference import streams
    return streams(model)


def _memory_check(graph, mode: str, data: PathLike, record_states: bool = False,
                  streaming: bool = False):
    """The ``memory`` hook of :func:`~snncc.loaders.load_data`: refuse a run that would not
    fit, from the data's header, before it is decoded (see :mod:`snncc.memory`)."""
    from ..memory import estimate, require

    def check(x_shape, x_dtype):
        require(estimate(graph, x_shape, x_dtype.itemsize, mode, record_states=record_states,
                         streaming=streaming), str(data))
    return check


def _check_lava_neuron(policy: str) -> None:
    from ..backends.lava.codegen import NEURON_CHOICES
    if policy not in NEURON_CHOICES:
        raise SnnccError(f"unknown Lava neuron policy {policy!r}",
                         f"choose one of: {', '.join(NEURON_CHOICES)}")


def _self_check(model, lowered) -> None:
    """The differential self-check of a traced torch model (a ``.nir`` model has none)."""
    from ..modelfile import NirFile
    if not isinstance(model, NirFile):
        from ..frontend.selfcheck import self_check
        self_check(model, lowered)


def _check_on(model, compiled: Compiled, x: np.ndarray):
    """The differential self-check again, on the probe plus the first samples of ``x``."""
    from ..modelfile import NirFile
    if isinstance(model, NirFile):
        return None
    from ..frontend.selfcheck import self_check
    return self_check(model, compiled.lowered, data=x)


def _backend_for(target: str, backend: Optional[str]) -> str:
    """``backend`` checked against ``target``: ``sim`` (or None) is the target's own simulator
    (Loihi: ``sim``, Xylo: ``xylo``); the others must run that target's fixed point."""
    from ..targets import get_target
    tgt = get_target(target)
    if backend in (None, "sim"):
        return tgt.runners[0]
    allowed = (*tgt.runners, *(("lava",) if tgt.reference == "lava" else ()),
               *((tgt.reference,) if tgt.reference else ()))
    if backend not in allowed:
        raise SnnccError(f"backend {backend!r} does not run target {target!r}",
                         f"choose one of: {', '.join(dict.fromkeys(allowed))}")
    return backend


def _xylo_targets() -> tuple[str, ...]:
    from ..targets import TARGET_MODULES
    return tuple(k for k, v in TARGET_MODULES.items() if v == "snncc.targets.xylo")
