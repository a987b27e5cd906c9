"""Import NIR graphs into the float IR: exactly what snncc exports, and plain LIF-family
graphs from other tools when ``dt`` is known (from metadata or the caller).

Gains other than 1 (``r``, ``w_in`` under conventions 2 and 3 of nir-and-peers.md) are
folded into the preceding Linear/Affine weights, so no convention changes the dynamics
silently.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ...errors import SnnccError
from ...ir import Add, Affine, Conv2d, CubaLIF, Graph
from ...ir.nodes import Input, NeuronNode, Output, RESET_CUSTOM, RESET_MODES, RESET_ZERO
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


@dataclass
class _Context:
    """What every node importer needs: dt, the forced convention (or None to detect it per
    node) and the record of what was chosen (kept in the graph metadata)."""

    dt: float
    convention: Optional[str]
    chosen: dict = field(default_factory=dict)

    def pick(self, name: str, r, tau_mem) -> conv.Convention:
        if self.convention is not None:
            choice = self.convention
        else:
            found = conv.detect(r, tau_mem, self.dt)
            # several match only when tau == dt; none: a general gain, read the Euler way
            choice = "euler" if not found or "euler" in found else found[0]
        self.chosen[name] = choice
        return conv.CONVENTIONS[choice]


def _lif_like(name, nir_node, ctx: _Context, *, tau_mem, r, v_leak, tau_syn=None, w_in=None):
    """Canonical neuron + the input gain to fold into the preceding weights."""
    meta = dict(nir_node.metadata or {})
    dtype = _dtype(meta)
    dt = ctx.dt
    readout = not hasattr(nir_node, "v_threshold")       # LI / CubaLI: no spikes
    thr = np.ones_like(_arr(nir_node, "r")) if readout else _arr(nir_node, "v_threshold")
    if tau_mem is None:                          # IF: no leak
        ctx.chosen[name] = "euler"
        beta, gain_v, bias = np.ones_like(thr), dt * r, np.zeros_like(thr)
        c = conv.CONVENTIONS["euler"]
    else:
        c = ctx.pick(name, r, tau_mem)
        beta, gain_v = c.decay(tau_mem, dt), c.v_gain(r, tau_mem, dt)
        bias = dt * v_leak / tau_mem
    if tau_syn is None:
        alpha, gain_i = np.zeros_like(thr), np.ones_like(thr)
    else:
        alpha, gain_i = c.decay(tau_syn, dt), c.i_gain(w_in, tau_syn, dt)
    for label, decay in (("tau_mem", beta), ("tau_syn", alpha)):
        if np.any(decay < 0) or np.any(decay > 1):
            hint = (" (Norse 1.1.0 writes tau = dt/tau_mem_inv, 1000x too small at dt = 1 ms: "
                    "multiply its taus by 1/dt)" if ctx.chosen.get(name) == "unit-pulse" else "")
            raise SnnccError(f"NIR node {name!r}: {label} < dt gives a decay outside [0, 1] "
                             f"at dt = {dt:g}{hint}", "check the time step (--dt) of this file")
    neuron = CubaLIF(name, shape=tuple(int(s) for s in thr.shape),
                     alpha=alpha.astype(dtype), beta=beta.astype(dtype),
                     threshold=thr.astype(dtype), bias=bias.astype(dtype),
                     **({} if readout else _reset(name, nir_node, meta)), spiking=not readout)
    return neuron, gain_i * gain_v


def _lif(name, n, ctx):
    return _lif_like(name, n, ctx, tau_mem=_arr(n, "tau"), r=_arr(n, "r"), v_leak=_arr(n, "v_leak"))


def _if(name, n, ctx):
    return _lif_like(name, n, ctx, tau_mem=None, r=_arr(n, "r"), v_leak=None)


def _cuba(name, n, ctx):
    return _lif_like(name, n, ctx, tau_mem=_arr(n, "tau_mem"), r=_arr(n, "r"),
                     v_leak=_arr(n, "v_leak"), tau_syn=_arr(n, "tau_syn"),
                     w_in=np.broadcast_to(_arr(n, "w_in"), np.shape(n.tau_syn)))


def _affine(name, n, ctx):
    bias = getattr(n, "bias", None)
    return Affine(name, weight=np.asarray(n.weight),
                  bias=None if bias is None else np.asarray(bias)), None


def _input(name, n, ctx):
    return Input(name, shape=tuple(int(s) for s in np.asarray(n.input_type["input"]))), None


def _output(name, n, ctx):
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
                                  "Linear": _affine, "LIF": _lif, "IF": _if, "CubaLIF": _cuba,
                                  "LI": _lif, "CubaLI": _cuba}


def _graph_meta(nir_graph) -> dict:
    return {k: _scalar(v) for k, v in dict(nir_graph.metadata or {}).items()}


def from_nir(nir_graph, dt: Optional[float] = None, convention: Optional[str] = None) -> Graph:
    """Float IR graph of ``nir_graph``; ``dt`` overrides/completes the file's metadata.

    ``convention`` ("euler", "unit-pulse", "exp-euler"; see :data:`conventions.CONVENTIONS`)
    forces how ``r``/``w_in`` and the decays are read; by default it is detected per node
    from ``r`` (snncc's own files say "euler" in their metadata).  The choice per node is
    kept in ``graph.meta["nir_conventions"]``.
    """
    if convention is not None and convention not in conv.CONVENTIONS:
        raise SnnccError(f"unknown NIR convention {convention!r}",
                         f"use one of {', '.join(conv.CONVENTIONS)}")
    meta = _graph_meta(nir_graph)
    dt = dt if dt is not None else meta.get("dt")
    if dt is None or not float(dt) > 0:
        raise SnnccError("the NIR graph records no time step (NIR stores none; snncc writes "
                         "'dt' into the metadata)", "give the time step, e.g. --dt 0.001")
    dt = float(dt)
    if convention is None and meta.get("format") == conv.FORMAT:
        convention = "euler"                 # snncc writes the Euler convention
    ctx = _Context(dt, convention)
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
        built[name], gain = IMPORTERS[kind](name, n, ctx)
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
    _sum_edges(built, incoming, rec_in)

    graph = Graph(graph_meta)
    pending = dict(built)
    while pending:
        ready = [n for n in pending if all(s in graph for s in incoming[n])]
        if not ready and _cut_feedback(pending, incoming, rec_in, graph.meta):
            continue
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
    if ctx.chosen:
        graph.meta["nir_conventions"] = dict(ctx.chosen)
    try:
        _check_outputs(graph, nir_graph)
    except ValueError as exc:
        raise SnnccError(f"NIR graph shapes do not fit: {exc}", "repair the file") from None
    return graph


def _sum_edges(built: dict, incoming: dict, rec_in: dict) -> None:
    """NIR sums the edges into a node; snncc's layers take one input, so several edges into
    a non-neuron node become an explicit residual ``Add`` (neurons sum their inputs)."""
    for dst in list(incoming):
        srcs = incoming[dst]
        if len(srcs) > 1 and not isinstance(built[dst], NeuronNode):
            name = f"{dst}.sum"
            while name in built:
                name += "_"
            built[name], incoming[name], rec_in[name] = Add(name), list(srcs), []
            incoming[dst] = [name]


def _cut_feedback(pending: dict, incoming: dict, rec_in: dict, meta: dict) -> bool:
    """A cycle without snncc's 'recurrent_edges' (another tool's file): the edges into
    neurons from nodes still waiting close it; read them as recurrent (one step of delay,
    NIR's usual reading) and record that.  False if there is no such edge."""
    cut = [(s, d) for d in pending if isinstance(pending[d], NeuronNode)
           for s in incoming[d] if s in pending]
    for s, d in cut:
        incoming[d].remove(s)
        rec_in[d].append(s)
    if cut:
        meta.setdefault("nir_recurrent_inferred", []).extend([list(e) for e in cut])
    return bool(cut)


def _fold_gain(graph: Graph, name: str, gain: np.ndarray) -> None:
    """Multiply a neuron's input gain into the rows of the Linear/Affine that feeds it
    (or the output channels of a Conv2d, when the gain is the same over each channel)."""
    srcs = graph.inputs_of(name)
    if len(srcs) == 1 and isinstance(graph.node(srcs[0]), Conv2d) \
            and len(graph.consumers_of(srcs[0])) == 1:
        conv_node = graph.node(srcs[0])
        per = np.asarray(gain, np.float64).reshape(conv_node.weight.shape[0], -1)
        if np.all(per == per[:, :1]):
            g = per[:, 0]
            dtype = np.asarray(conv_node.weight).dtype
            bias = None if conv_node.bias is None else \
                (np.asarray(conv_node.bias, np.float64) * g).astype(dtype)
            graph.replace(replace(conv_node, bias=bias, weight=(np.asarray(
                conv_node.weight, np.float64) * g[:, None, None, None]).astype(dtype)))
            return
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


def _batch_leading(shape: np.ndarray) -> bool:
    """A leading 1 that is a batch axis: (1, n) or (1, C, H, W).  A 3-d (1, H, W) is an
    image with one channel (NIR shapes exclude the batch), not a batch."""
    return shape.size in (2, 4) and shape[0] == 1


def _repair_batch_dims(g) -> list[str]:
    """Input/Output types written with a leading batch dimension of 1 (old exports)."""
    done = []
    for name, node in g.nodes.items():
        for attr, key in (("input_type", "input"), ("output_type", "output")):
            types = getattr(node, attr, None) if type(node).__name__ in ("Input", "Output") else None
            if types and key in types:
                shape = np.asarray(types[key]).reshape(-1)
                if _batch_leading(shape):
                    types[key] = shape[1:]
                    done.append(f"dropped the batch dimension of {name!r} ({list(shape)})")
    return done


def _repair_duplicate_edges(g) -> list[str]:
    unique = list(dict.fromkeys(tuple(e) for e in g.edges))
    if len(unique) == len(g.edges):
        return []
    removed = len(g.edges) - len(unique)
    g.edges = unique
    return [f"removed {removed} duplicate edge(s)"]


_NEURON_FIELDS = ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in")


def _repair_scalar_parameters(g) -> list[str]:
    """Neuron parameters stored as scalars (or shape-1 arrays) where the layer has n neurons."""
    done = []
    for name, node in g.nodes.items():
        if type(node).__name__ not in ("LIF", "IF", "CubaLIF"):
            continue
        sizes = [np.size(getattr(node, f)) for f in _NEURON_FIELDS if hasattr(node, f)]
        n = max(sizes)
        shape = next(np.shape(getattr(node, f)) for f in _NEURON_FIELDS
                     if hasattr(node, f) and np.size(getattr(node, f)) == n)
        fixed = [f for f in _NEURON_FIELDS if hasattr(node, f)
                 and getattr(node, f) is not None and np.size(getattr(node, f)) == 1 and n > 1]
        for f in fixed:
            setattr(node, f, np.full(shape, np.asarray(getattr(node, f)).reshape(())))
        if fixed:
            done.append(f"broadcast scalar {', '.join(fixed)} of {name!r} to {list(shape)}")
    return done


REPAIRS = [_repair_batch_dims, _repair_duplicate_edges, _repair_scalar_parameters]


def _repair_dict(data: dict) -> list[str]:
    """Repairs nir's node constructors need *before* they run (they assert equal shapes)."""
    done = []
    for name, node in dict(data.get("nodes", {})).items():
        kind = str(_scalar(node.get("type", "")))
        if kind in ("LIF", "IF", "CubaLIF"):
            fields = [f for f in _NEURON_FIELDS if f in node]
            shape = max((np.shape(node[f]) for f in fields), key=lambda s: int(np.prod(s)))
            fixed = [f for f in fields if np.size(node[f]) == 1 and int(np.prod(shape)) > 1]
            for f in fixed:
                node[f] = np.full(shape, np.asarray(node[f]).reshape(()))
            if fixed:
                done.append(f"broadcast scalar {', '.join(fixed)} of {name!r} to {list(shape)}")
        elif kind in ("Input", "Output") and "shape" in node:
            shape = np.asarray(node["shape"]).reshape(-1)
            if _batch_leading(shape):
                node["shape"] = shape[1:]
                done.append(f"dropped the batch dimension of {name!r} ({list(shape)})")
    return done


def _read_lenient(path: Path):
    """nir.read without type checks, repairing the raw dictionary first."""
    import h5py
    import nir
    from nir.serialization import hdf2dict
    with h5py.File(path, "r") as f:
        data = hdf2dict(f["node"])
    repairs = _repair_dict(data)
    data["type_check"] = False
    return nir.dict2NIRNode(data), repairs


def read_nir(path: str | Path, dt: Optional[float] = None,
             convention: Optional[str] = None) -> Graph:
    """Read a NIR file into the float IR, with one clear error for unreadable files.

    Files that nir's strict reader rejects (older exports: batch dimensions in shapes,
    scalar parameters, duplicate edges) are read again without type checking and repaired;
    what was repaired is listed in ``graph.meta["nir_repairs"]`` (the CLI prints it).
    """
    import nir
    path = Path(path)
    if not path.is_file():
        raise SnnccError(f"NIR file {str(path)!r} does not exist", "check the path")
    repairs: list[str] = []
    try:
        nir_graph = nir.read(path)
    except Exception as strict:  # nir/h5py raise many types for corrupt or legacy files
        try:
            nir_graph, fixed = _read_lenient(path)
        except Exception as exc:
            raise SnnccError(f"cannot read NIR file {str(path)!r}: {type(exc).__name__}: "
                             f"{str(exc)[:200]}", "pass a NIR HDF5 file written by nir.write "
                             "(e.g. snncc export-nir)") from None
        repairs.append(f"nir's strict read failed ({type(strict).__name__}: "
                       f"{str(strict)[:120]}); read without type check")
        repairs += fixed
    try:
        for repair in REPAIRS:
            repairs += repair(nir_graph)
        graph = from_nir(nir_graph, dt, convention)
    except SnnccError as exc:
        if repairs:
            raise SnnccError(f"{exc.cause} (after repairs: {'; '.join(repairs)})", exc.fix) from None
        raise
    except Exception as exc:  # the file is user input: any malformed content, one clear error
        raise SnnccError(f"NIR file {str(path)!r} is malformed ({type(exc).__name__}: "
                         f"{str(exc)[:160]})", "re-export it with nir.write "
                         "(e.g. snncc export-nir)") from None
    if repairs:
        graph.meta["nir_repairs"] = repairs
    return graph
