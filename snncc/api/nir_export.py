"""``snncc export-nir``: the lowered float network (or its integers) as NIR."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from .common import _is_netx, _load, PathLike, _paths, _self_check


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
    from ..atomic import check_file_target, write_bytes
    from ..backends.nir.export import nir_bytes
    from ..modelfile import NirFile
    from ..passes import lower_neurons, validate_float
    inputs = _paths(model, weights)
    check_file_target(out, "hdf5", inputs, force)
    from ..backends.nir.delay import expand_delays, refuse_without_nir_form
    model = _load(model, trust, convention, reset, dt, weights, model_args, max_spikes_per_dt,
                  producer, netx_args)
    if _is_netx(model):
        from ..backends.lava.netx_model import float_graph
        return write_bytes(out, nir_bytes(expand_delays(float_graph(model.graph(), dt or 1e-3))),
                           "hdf5", inputs, force)
    if isinstance(model, NirFile):
        graph = model.graph(dt)
    else:
        from ..frontend import trace
        graph = trace(model, input_shape, dt)
    refuse_without_nir_form(graph)       # sigma-delta neurons, periodic resets
    validate_float(graph)
    if quantized:
        from ..backends.nir.quantized import quantized_nir_bytes
        from ..compiler import compile_graph
        compiled = compile_graph(graph, target=target)
        _self_check(model, compiled.lowered)
        blob = quantized_nir_bytes(compiled)
    else:
        lowered = lower_neurons(graph)[0]
        _self_check(model, lowered)
        blob = nir_bytes(expand_delays(lowered))
    return write_bytes(out, blob, "hdf5", inputs, force)
