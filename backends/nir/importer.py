"""Import NIR graphs into the float IR: exactly what snncc exports, and plain LIF-family
graphs from other tools when ``dt`` is known (from metadata or the caller).

Gains other than 1 (``r``, ``w_in`` under conventions 2 and 3 of nir-and-peers.md) are
folded into the preceding Linear/Affine weights, so no convention changes the dynamics
silently.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ...errors import SnnccError
from ...ir import Affine, CubaLIF, Graph
from ...ir.nodes import Input, Output, RESET_CUSTOM, RESET_MODES, RESET_ZERO
from . import conventions as conv


def _scalar(v: Any) -> Any:
    """Metadata values come back as numpy scalars/bytes from HDF5, as Python values in memory."""
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v.item()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _arr(node, field: str) -> np.ndarray:
    return np.asarray(getattr(node, field), dtype=np.float64)


def _dtype(meta: dict) -> np.dtype:
    return np.dtype(_scalar(meta.get("dtype", "float32")))


def _reset(name: str, nir_node, meta: dict) -> dict:
    """Reset fields of the canonical neuron from snncc metadata, or NIR's v_reset."""
    mode = _scalar(meta.get("reset", RESET_ZERO))
    if mode not in RESET_MODES:
        raise SnnccError(f"NIR node {name!r}: unknown reset mode {mode!r} in its metadata",
                         f"use one of {', '.join(RESET_MODES)}")
    v_reset = np.asarray(getattr(nir_node, "v_reset", None) if
                         getattr(nir_node, "v_reset", None) is not None else 0.0)
    out: dict = {"reset": mode, "reset_delayed": bool(_scalar(meta.get("reset_delayed", False)))}
    if "floor" in meta:
        out["floor"] = float(_scalar(meta["floor"]))
    dtype = _dtype(meta)
    if mode == RESET_CUSTOM:
        out["reset_mult"] = np.asarray(meta["reset_mult"], dtype=np.float64).astype(dtype)
        out["reset_sub"] = np.asarray(meta["reset_sub"], dtype=np.float64).astype(dtype)
    elif mode == RESET_ZERO and np.any(v_reset != 0):
        # v = v_reset after a spike is the custom reset with mult 0, sub -v_reset
        shape = np.shape(nir_node.v_threshold)
        out.update(reset=RESET_CUSTOM, reset_mult=np.zeros(shape, dtype),
                   reset_sub=np.broadcast_to(-v_reset, shape).astype(dtype))
    return out


def _lif_like(name, nir_node, dt, *, tau_mem, r, v_leak, tau_syn=None, w_in=None):
    """Canonical neuron + the input gain to fold into the preceding weights."""
    meta = dict(nir_node.metadata or {})
    dtype = _dtype(meta)
    thr = _arr(nir_node, "v_threshold")
    if tau_mem is None:                          # IF: no leak
        beta, gain_v, bias = np.ones_like(thr), dt * r, np.zeros_like(thr)
    else:
        beta, gain_v, bias = conv.decay_from_tau(tau_mem, dt), dt * r / tau_mem, dt * v_leak / tau_mem
    if tau_syn is None:
        alpha, gain_i = np.zeros_like(thr), np.ones_like(thr)
    else:
        alpha, gain_i = conv.decay_from_tau(tau_syn, dt), dt * w_in / tau_syn
    for label, decay in (("tau_mem", beta), ("tau_syn", alpha)):
        if np.any(decay < 0) or np.any(decay > 1):
            raise SnnccError(f"NIR node {name!r}: {label} < dt gives a decay outside [0, 1] "
                             f"at dt = {dt:g}", "check the time step (--dt) of this file")
    neuron = CubaLIF(name, shape=tuple(int(s) for s in thr.shape),
                     alpha=alpha.astype(dtype), beta=beta.astype(dtype),
                     threshold=thr.astype(dtype), bias=bias.astype(dtype),
                     **_reset(name, nir_node, meta))
    return neuron, gain_i * gain_v


def _lif(name, n, dt):
    return _lif_like(name, n, dt, tau_mem=_arr(n, "tau"), r=_arr(n, "r"), v_leak=_arr(n, "v_leak"))


def _if(name, n, dt):
    return _lif_like(name, n, dt, tau_mem=None, r=_arr(n, "r"), v_leak=None)


def _cuba(name, n, dt):
    return _lif_like(name, n, dt, tau_mem=_arr(n, "tau_mem"), r=_arr(n, "r"),
                     v_leak=_arr(n, "v_leak"), tau_syn=_arr(n, "tau_syn"),
                     w_in=np.broadcast_to(_arr(n, "w_in"), np.shape(n.tau_syn)))


def _affine(name, n, dt):
    bias = getattr(n, "bias", None)
    return Affine(name, weight=np.asarray(n.weight),
                  bias=None if bias is None else np.asarray(bias)), None


def _input(name, n, dt):
    return Input(name, shape=tuple(int(s) for s in np.asarray(n.input_type["input"]))), None


def _output(name, n, dt):
    """IR outputs take their shape from their input; the declared one is checked in from_nir."""
    return Output(name), None


def _check_outputs(graph: Graph, nir_graph) -> None:
    shapes = graph.shapes()
    for name in graph.output_names:
        declared = tuple(int(s) for s in np.asarray(nir_graph.nodes[name].output_type["output"]))
        if declared and int(np.prod(declared)) != int(np.prod(shapes[name])):
            raise SnnccError(f"NIR output {name!r} declares shape {list(declared)} but receives "
                             f"{list(shapes[name])}", "repair the Output node's shape")


IMPORTERS: dict[str, Callable] = {"Input": _input, "Output": _output, "Affine": _affine,
                                  "Linear": _affine, "LIF": _lif, "IF": _if, "CubaLIF": _cuba}


def _graph_meta(nir_graph) -> dict:
    return {k: _scalar(v) for k, v in dict(nir_graph.metadata or {}).items()}


def from_nir(nir_graph, dt: Optional[float] = None) -> Graph:
    """Float IR graph of ``nir_graph``; ``dt`` overrides/completes the file's metadata."""
    meta = _graph_meta(nir_graph)
    dt = dt if dt is not None else meta.get("dt")
    if dt is None or not float(dt) > 0:
        raise SnnccError("the NIR graph records no time step (NIR stores none; snncc writes "
                         "'dt' into the metadata)", "give the time step, e.g. --dt 0.001")
    dt = float(dt)
    graph_meta = json.loads(meta["graph_meta"]) if "graph_meta" in meta else {}
    graph_meta["dt"] = dt
    recurrent = {tuple(e) for e in json.loads(meta.get("recurrent_edges", "[]"))}
    ports = json.loads(meta.get("ports", "{}"))

    built, gains = {}, {}
    for name, n in nir_graph.nodes.items():
        kind = type(n).__name__
        if kind not in IMPORTERS:
            raise SnnccError(f"NIR node {name!r} is a {kind}, which snncc does not import yet",
                             f"supported: {', '.join(sorted(IMPORTERS))}")
        built[name], gain = IMPORTERS[kind](name, n, dt)
        if gain is not None and not conv.is_unit(gain):
            gains[name] = gain

    incoming: dict[str, list[str]] = {name: [] for name in built}
    rec_in: dict[str, list[str]] = {name: [] for name in built}
    for src, dst in nir_graph.edges:
        if src not in built or dst not in built:
            raise SnnccError(f"NIR edge {src!r} -> {dst!r} names a missing node",
                             "repair the file: every edge must join two existing nodes")
        (rec_in if (src, dst) in recurrent else incoming)[dst].append(src)
    for dst, srcs in incoming.items():
        srcs.sort(key=lambda s: (ports.get(f"{s}->{dst}", 0), s))

    graph = Graph(graph_meta)
    pending = dict(built)
    while pending:
        ready = [n for n in pending if all(s in graph for s in incoming[n])]
        if not ready:
            raise SnnccError(f"the NIR graph has a cycle through {sorted(pending)} without "
                             "recorded delays", "mark recurrent edges (snncc metadata "
                             "'recurrent_edges') or break the cycle")
        for name in ready:
            graph.add(pending.pop(name), incoming[name])
    for dst, srcs in rec_in.items():
        for src in srcs:
            graph.add_recurrent(src, dst)
    for name, gain in gains.items():
        _fold_gain(graph, name, gain)
    try:
        _check_outputs(graph, nir_graph)
    except ValueError as exc:
        raise SnnccError(f"NIR graph shapes do not fit: {exc}", "repair the file") from None
    return graph


def _fold_gain(graph: Graph, name: str, gain: np.ndarray) -> None:
    """Multiply a neuron's input gain into the rows of the Linear/Affine that feeds it."""
    srcs = graph.inputs_of(name)
    if len(srcs) != 1 or not isinstance(graph.node(srcs[0]), Affine) \
            or len(graph.consumers_of(srcs[0])) != 1:
        raise SnnccError(f"NIR neuron {name!r} has an input gain (r or w_in) != 1 but is not "
                         "fed by exactly one Linear/Affine node to fold it into",
                         "insert a Linear/Affine node before it or export with r = tau/dt")
    aff = graph.node(srcs[0])
    g = np.asarray(gain, dtype=np.float64).reshape(-1)
    dtype = np.asarray(aff.weight).dtype
    weight = (np.asarray(aff.weight, dtype=np.float64) * g[:, None]).astype(dtype)
    bias = None if aff.bias is None else (np.asarray(aff.bias, np.float64) * g).astype(dtype)
    graph.replace(replace(aff, weight=weight, bias=bias))


def read_nir(path: str | Path, dt: Optional[float] = None) -> Graph:
    """Read a NIR file into the float IR, with one clear error for unreadable files."""
    import nir
    path = Path(path)
    if not path.is_file():
        raise SnnccError(f"NIR file {str(path)!r} does not exist", "check the path")
    try:
        nir_graph = nir.read(path)
    except Exception as exc:  # nir/h5py raise many types for corrupt files
        raise SnnccError(f"cannot read NIR file {str(path)!r}: {type(exc).__name__}: "
                         f"{str(exc)[:200]}", "pass a NIR HDF5 file written by nir.write "
                         "(e.g. snncc export-nir)") from None
    return from_nir(nir_graph, dt)
