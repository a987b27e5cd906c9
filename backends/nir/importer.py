"""Import NIR graphs into the float IR, as the file's producer means them.

Steps (:func:`from_nir`): recognise the producer (:mod:`.producers`), settle ``dt`` (the
caller's, the file's metadata, the step the gains imply, the producer's), build one IR node
per NIR node (:mod:`.neurons`, :mod:`.spatial`), find the edges that close cycles
(:mod:`.cycles`: only those carry the one-step delay), broadcast one-value neuron layers to
the size of their input, and fold every input gain (``r``, ``w_in`` under conventions 2 and
3 of nir-and-peers.md) into the synapses feeding the neuron, so no convention changes the
dynamics silently.  What was assumed is kept in ``graph.meta["nir_import"]``
(:func:`.summary.describe` prints it).
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Callable, Optional

import numpy as np

from ...errors import SnnccError
from ...ir import Add, Affine, Conv2d, Graph
from ...ir.nodes import Input, NeuronNode, Output
from . import conventions as conv
from . import producers as prod
from .cycles import delayed_edges
from .neurons import NEURON_IMPORTERS, RESET_CHOICES, ImportContext, scalar
from .safety import NirLimits
from .subgraphs import flatten_subgraphs


def _affine(name, n, ctx):
    bias = getattr(n, "bias", None)
    return Affine(name, weight=np.asarray(n.weight),
                  bias=None if bias is None else np.asarray(bias)), None


def _shape_of(types, key: str) -> tuple[int, ...]:
    shape = np.asarray((types or {}).get(key, []), dtype=np.int64).reshape(-1)
    return tuple(int(s) for s in shape)


def _input(name, n, ctx):
    shape = _shape_of(n.input_type, "input")
    if len(shape) in (2, 4) and shape[0] == 1:
        ctx.notes.append(f"dropped the batch dimension of {name!r} ({list(shape)})")
        shape = shape[1:]
    if any(s <= 0 for s in shape):
        raise SnnccError(f"NIR input {name!r} has shape {list(shape)}",
                         "give the Input node a shape of positive sizes (no batch axis)")
    return Input(name, shape=shape), None


def _output(name, n, ctx):
    """IR outputs take their shape from their input; the declared one is checked later."""
    return Output(name), None


IMPORTERS: dict[str, Callable] = {"Input": _input, "Output": _output, "Affine": _affine,
                                  "Linear": _affine, **NEURON_IMPORTERS}


def _graph_meta(nir_graph) -> dict:
    return {k: scalar(v) for k, v in dict(nir_graph.metadata or {}).items()}


def _resolve_dt(dt, meta: dict, nir_graph, producer, notes: list, warnings: list) -> tuple[float, str]:
    """(dt, where it came from); warns when a given dt contradicts the file."""
    implied = prod.consistent(prod.euler_dts(nir_graph))
    file_dt = meta.get("dt")
    if dt is not None:
        try:
            dt = float(dt)
        except (TypeError, ValueError):
            raise SnnccError(f"--dt {dt!r} is not a number", "give the time step in seconds, "
                             "e.g. --dt 1e-4") from None
        if not np.isfinite(dt) or dt <= 0:
            raise SnnccError(f"--dt {dt:g} is not a positive time step",
                             "give the time step in seconds (a positive number, e.g. --dt 1e-4)")
        theirs = float(file_dt) if file_dt is not None else implied
        if theirs is not None and abs(dt - theirs) > 1e-6 * theirs:
            what = ("the file's metadata records dt" if file_dt is not None else
                    "the file's gains (r = tau/dt) were written for dt")
            warnings.append(f"--dt {dt:g} differs from the {theirs:g} s {what}: every decay "
                            "and input gain changes, so spikes will not match the producer's "
                            f"(drop --dt to use {theirs:g})")
        return dt, "--dt"
    if file_dt is not None:
        file_dt = float(file_dt)
        if not np.isfinite(file_dt) or file_dt <= 0:
            raise SnnccError(f"the NIR file's metadata records dt = {file_dt!r}, not a positive "
                             "time step", "give the time step, e.g. --dt 1e-4")
        return file_dt, "file metadata"
    if implied is not None:
        return implied, "the gains r = tau/dt"
    if producer is not None and producer.dt is not None:
        return producer.dt, f"{producer.name}'s default"
    if not prod.euler_dts(nir_graph) and not any(
            getattr(n, f, None) is not None for n in nir_graph.nodes.values()
            for f in ("tau", "tau_mem", "tau_syn")):
        return 1e-3, "unused: no node of this graph depends on dt"
    raise SnnccError("the NIR graph records no time step, and its neurons (r = 1: the physical "
                     "ODE) do not imply one (NIR stores no dt)",
                     "give the step the model was trained with, e.g. --dt 1e-4 (snnTorch and "
                     "SpikingJelly: 1e-4, Norse: 1e-3)")


def from_nir(nir_graph, dt: Optional[float] = None, convention: Optional[str] = None,
             reset: Optional[str] = None, limits: Optional[NirLimits] = None) -> Graph:
    """Float IR graph of ``nir_graph``.

    ``dt`` (s): overrides the file's step; ``convention`` ("euler", "unit-pulse",
    "exp-euler"; :data:`conventions.CONVENTIONS`) forces how ``r``/``w_in`` and the decays
    of every neuron node are read; ``reset`` (:data:`neurons.RESET_CHOICES`) forces the reset
    flavour.  Left None, each comes from the file's metadata, its producer, or per node from
    ``r``.  Raises :class:`SnnccError` for graphs snncc cannot read exactly.
    """
    if convention is not None and convention not in conv.CONVENTIONS:
        raise SnnccError(f"unknown NIR convention {convention!r}",
                         f"use one of {', '.join(conv.CONVENTIONS)}")
    if reset is not None and reset not in RESET_CHOICES:
        raise SnnccError(f"unknown reset flavour {reset!r}", f"use one of {', '.join(RESET_CHOICES)}")
    limits = limits or NirLimits.from_env()
    meta = _graph_meta(nir_graph)
    notes: list[str] = []
    nir_graph = flatten_subgraphs(nir_graph, notes)
    producer, evidence = prod.detect(nir_graph, meta)
    warnings: list[str] = []
    dt, dt_source = _resolve_dt(dt, meta, nir_graph, producer, notes, warnings)
    ctx = ImportContext(dt, convention, reset, producer, notes=notes, warnings=warnings)
    if producer is not None and producer.tau_times_dt:
        _undo_tau_times_dt(nir_graph, dt)
    graph_meta = json.loads(meta["graph_meta"]) if "graph_meta" in meta else {}
    graph_meta["dt"] = dt

    built, gains = {}, {}
    for name, n in nir_graph.nodes.items():
        kind = type(n).__name__
        if kind not in IMPORTERS:
            raise SnnccError(f"NIR node {name!r} is a {kind}, which snncc does not import yet",
                             f"supported: {', '.join(sorted(IMPORTERS))}")
        built[name], gain = IMPORTERS[kind](name, n, ctx)
        if gain is not None and not conv.is_unit(gain):
            gains[name] = gain

    edges = _edges(nir_graph, built, ctx)
    if "recurrent_edges" in meta:           # snncc's own files say which edges are delayed
        recurrent = [tuple(e) for e in json.loads(meta["recurrent_edges"])]
    else:
        roots = sorted(n for n, b in built.items() if isinstance(b, Input))
        recurrent = delayed_edges(built, edges, roots,
                                  lambda n: isinstance(built[n], (NeuronNode, Input)))
        if recurrent:
            graph_meta["nir_recurrent_inferred"] = [list(e) for e in recurrent]
    graph = _assemble(built, edges, set(recurrent), json.loads(meta.get("ports", "{}")), graph_meta)
    _broadcast_one_value_layers(graph, gains, ctx)
    _move_recurrent_biases(graph)
    for name, gain in gains.items():
        _fold_gain(graph, name, gain)
    _check_shapes(graph, nir_graph, limits)
    if producer is not None and producer.subtract_delayed and reset in (None, "zero"):
        _warn_snntorch_zero_reset(graph, ctx)
    graph.meta["nir_conventions"] = dict(ctx.chosen)
    graph.meta["nir_import"] = {
        "producer": None if producer is None else producer.name, "evidence": evidence,
        "dt": dt, "dt_source": dt_source, "conventions": dict(ctx.chosen),
        "resets": dict(ctx.resets),
        "caveat": "" if producer is None or reset is not None else producer.caveat,
        "notes": list(ctx.notes), "warnings": list(ctx.warnings)}
    return graph


def _warn_snntorch_zero_reset(graph: Graph, ctx: ImportContext) -> None:
    """snnTorch's zero reset of Synaptic/RLeaky/RSynaptic clears the whole next step, input
    included (``snntorch/_neurons``; see snncc.frontend.snntorch): no canonical neuron does."""
    hit = [n.name for n in graph.of_type(NeuronNode)
           if (np.any(np.asarray(n.alpha) != 0) or graph.recurrent_inputs_of(n.name))
           and n.reset == "zero"]
    if hit:
        ctx.warnings.append(f"if {', '.join(hit[:4])} used snnTorch's reset_mechanism='zero', "
                            "snnTorch also drops the input of the step after each spike, which "
                            "snncc cannot express: spikes will differ (its default subtract "
                            "reset is exact: --reset subtract)")


def _undo_tau_times_dt(nir_graph, dt: float) -> None:
    for n in nir_graph.nodes.values():
        for f in ("tau", "tau_mem", "tau_syn"):
            if getattr(n, f, None) is not None:
                setattr(n, f, np.asarray(getattr(n, f), np.float64) / dt)


def _edges(nir_graph, built: dict, ctx: ImportContext) -> list[tuple[str, str]]:
    pairs = [(str(scalar(s)), str(scalar(d))) for s, d in nir_graph.edges]
    unique = list(dict.fromkeys(pairs))
    if len(unique) != len(pairs):
        ctx.notes.append(f"removed {len(pairs) - len(unique)} duplicate edge(s)")
    for src, dst in unique:
        if src not in built or dst not in built:
            raise SnnccError(f"NIR edge {src!r} -> {dst!r} names a missing node",
                             "repair the file: every edge must join two existing nodes")
    return unique


def _assemble(built: dict, edges: list, recurrent: set, ports: dict, meta: dict) -> Graph:
    """The IR graph: feed-forward edges in port order, delayed edges as recurrent ones.
    NIR sums the edges into a node; several into a non-neuron node become an ``Add``."""
    incoming: dict[str, list[str]] = {n: [] for n in built}
    rec_in: dict[str, list[str]] = {n: [] for n in built}
    for s, d in edges:
        (rec_in if (s, d) in recurrent else incoming)[d].append(s)
    for dst, srcs in incoming.items():
        srcs.sort(key=lambda s: (ports.get(f"{s}->{dst}", 0), s))
    for dst in list(incoming):
        if len(incoming[dst]) + len(rec_in[dst]) > 1 and not isinstance(built[dst], NeuronNode):
            name = f"{dst}.sum"
            while name in built:
                name += "_"
            built[name], incoming[name], rec_in[name] = Add(name), incoming[dst], rec_in[dst]
            incoming[dst], rec_in[dst] = [name], []
    graph = Graph(meta)
    pending = dict(built)
    while pending:
        ready = [n for n in pending if all(s in graph for s in incoming[n])]
        if not ready:
            raise SnnccError(f"the NIR graph has a cycle through {sorted(pending)[:8]} that "
                             "passes no neuron (an algebraic loop)",
                             "put a neuron on every cycle, or break it")
        for name in ready:
            graph.add(pending.pop(name), incoming[name])
    for dst, srcs in rec_in.items():
        for src in srcs:
            graph.add_recurrent(src, dst)
    return graph


def _broadcast_one_value_layers(graph: Graph, gains: dict, ctx: ImportContext) -> None:
    """A neuron layer with one value per parameter (snnTorch's scalar beta, Norse's exports)
    takes the shape of its input: NIR nodes carry no size of their own."""
    shapes: dict[str, tuple] = {}
    for name in graph.order():
        node = graph.node(name)
        ins = [shapes[s] for s in graph.inputs_of(name)]
        if isinstance(node, NeuronNode) and int(np.prod(node.shape)) == 1 and ins \
                and int(np.prod(ins[0])) > 1:
            shape = tuple(ins[0])
            arrays = {k: np.broadcast_to(v, shape).copy() if np.size(v) == 1 else v
                      for k, v in node.arrays().items()}
            graph.replace(replace(node, shape=shape, **arrays))
            if name in gains:
                gains[name] = np.broadcast_to(gains[name], shape).copy()
            ctx.notes.append(f"broadcast the one-value parameters of {name!r} to its input "
                             f"shape {list(shape)}")
        try:
            shapes[name] = tuple(graph.node(name).infer_shape(ins))
        except (ValueError, IndexError) as exc:
            raise SnnccError(f"NIR graph shapes do not fit: {exc}", "repair the file") from None


def _move_recurrent_biases(graph: Graph) -> None:
    """A recurrent ``Affine`` computes ``W @ spk[t-1] + b``: its bias acts from step 0.
    The IR delays the Affine's output instead (zero at step 0), so the bias moves onto the
    neuron's feed-forward Affine (or Conv2d with a per-channel-constant bias)."""
    for src, dst, _, rec in graph.edges():
        node = graph.node(src)
        if not rec or not isinstance(node, Affine) or node.bias is None \
                or not np.any(np.asarray(node.bias) != 0):
            continue
        bias = np.asarray(node.bias, np.float64).reshape(-1)
        target = [s for s in graph.inputs_of(dst) if isinstance(graph.node(s), Affine)
                  and graph.consumers_of(s) == [dst]]
        if len(graph.consumers_of(src)) != 1 or not target:
            raise SnnccError(f"NIR: the recurrent Affine {src!r} into {dst!r} has a bias, which "
                             "acts from step 0, and no feed-forward Linear/Affine of its own "
                             f"feeds {dst!r} to carry it", "insert a Linear before the neuron or "
                             "move the bias there")
        ff = graph.node(target[0])
        dtype = np.asarray(ff.weight).dtype
        old = np.zeros(bias.shape) if ff.bias is None else np.asarray(ff.bias, np.float64)
        graph.replace(replace(ff, bias=(old + bias).astype(dtype)))
        graph.replace(replace(node, bias=None))
        graph.meta.setdefault("nir_moved_biases", []).append([src, target[0]])


def _fold_gain(graph: Graph, name: str, gain: np.ndarray) -> None:
    """Multiply a neuron's input gain into the rows of every Linear/Affine that feeds it
    (feed-forward and recurrent), or the output channels of a Conv2d when the gain is the
    same over each channel."""
    srcs = graph.inputs_of(name) + graph.recurrent_inputs_of(name)
    shape = graph.node(name).shape
    gain = np.broadcast_to(np.asarray(gain, np.float64), shape)
    bad = [s for s in srcs if not isinstance(graph.node(s), (Affine, Conv2d))
           or len(graph.consumers_of(s)) != 1]
    if not srcs or bad:
        raise SnnccError(f"NIR neuron {name!r} has an input gain (r or w_in) != 1 but is fed by "
                         f"{bad[0] if bad else 'nothing'!r}, not by Linear/Affine/Conv2d nodes "
                         "of its own to fold it into",
                         "insert a Linear/Affine node before it, or export with unit gains "
                         "(r = tau/dt)")
    for src in srcs:
        node = graph.node(src)
        dtype = np.asarray(node.weight).dtype
        if isinstance(node, Conv2d):
            per = gain.reshape(node.weight.shape[0], -1)
            if not np.all(per == per[:, :1]):
                raise SnnccError(f"NIR neuron {name!r}: an input gain that varies within a "
                                 f"channel cannot be folded into conv {src!r}",
                                 "use one r (and w_in) per channel")
            g = per[:, 0]
            w = np.asarray(node.weight, np.float64) * g[:, None, None, None]
        else:
            g = gain.reshape(-1)
            w = np.asarray(node.weight, np.float64) * g[:, None]
        bias = None if node.bias is None else (np.asarray(node.bias, np.float64) * g).astype(dtype)
        graph.replace(replace(node, weight=w.astype(dtype), bias=bias))


def _check_shapes(graph: Graph, nir_graph, limits: NirLimits) -> None:
    try:
        shapes = graph.shapes()
    except (ValueError, IndexError) as exc:
        raise SnnccError(f"NIR graph shapes do not fit: {exc}", "repair the file") from None
    for name, shape in shapes.items():
        if int(np.prod(shape)) > limits.max_tensor_elements:
            raise SnnccError(f"NIR node {name!r} produces a tensor of {int(np.prod(shape)):,} "
                             f"values (shape {list(shape)}; limit {limits.max_tensor_elements:,})",
                             "check the file; raise SNNCC_NIR_MAX_TENSOR_ELEMENTS if it is right")
    for name in graph.output_names:
        node = nir_graph.nodes.get(name)
        declared = _shape_of(getattr(node, "output_type", None), "output")
        if len(declared) in (2, 4) and declared[0] == 1 and \
                int(np.prod(declared)) == int(np.prod(shapes[name])):
            continue
        if declared and int(np.prod(declared)) != int(np.prod(shapes[name])):
            raise SnnccError(f"NIR output {name!r} declares shape {list(declared)} but receives "
                             f"{list(shapes[name])}", "repair the Output node's shape")
