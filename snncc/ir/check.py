"""Checks a graph read from disk before anything runs it: a compiled network is user input too.

``network.json`` and ``params.npz`` can be truncated, hand-edited or hostile.  Every field is
checked against the type of its dataclass default (arrays numeric and finite, integers
bounded so shifts stay sane, shapes tuples of sizes), shapes must infer, and one short
dry run of the bit-accurate simulator must pass.  Anything wrong is one SnnccError.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import SnnccError
from .graph import Graph
from .nodes import Node

MAX_INT_FIELD = 2 ** 20        # exponents, offsets, strides: far beyond any real value
MAX_DIM = 2 ** 31
MAX_VALUES = 2 ** 26           # summed over every node's output: 64 M (Loihi 2 chip: 1 M neurons)
MAX_PARAMS_BYTES = 4 * 2 ** 30
MAX_NODES = 100_000
MAX_EDGES = 1_000_000


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _array_ok(value: np.ndarray, integer: bool) -> bool:
    if value.dtype == bool or np.issubdtype(value.dtype, np.integer):
        return True
    return (not integer and np.issubdtype(value.dtype, np.floating)
            and bool(np.all(np.isfinite(value))))


def _field_problem(node: Node, f: dataclasses.Field) -> str | None:
    value, ref = getattr(node, f.name), _default(f)
    if isinstance(ref, np.ndarray):
        integer = node.kind.startswith("fx_") and not np.issubdtype(ref.dtype, np.floating)
        if not isinstance(value, np.ndarray) or not _array_ok(value, integer):
            return f"{f.name} must be a {'n integer' if integer else ' numeric'} array"
    elif isinstance(ref, bool):
        if not isinstance(value, (bool, np.bool_)):
            return f"{f.name} must be true or false"
    elif isinstance(ref, int):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or abs(int(value)) > MAX_INT_FIELD:
            return f"{f.name} must be an integer of magnitude <= {MAX_INT_FIELD}"
    elif isinstance(ref, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{f.name} must be a finite number"
    elif isinstance(ref, str):
        if not isinstance(value, str):
            return f"{f.name} must be a string"
    elif isinstance(ref, tuple):
        if not isinstance(value, (tuple, list)) or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v <= MAX_DIM
                for v in value):
            return f"{f.name} must be a list of sizes"
    elif ref is None and value is not None:
        if isinstance(value, np.ndarray):
            if not _array_ok(value, node.kind.startswith("fx_")):
                return f"{f.name} must be a numeric array"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{f.name} must be finite"
        elif not isinstance(value, (int, float, str, np.integer, np.floating)):
            return f"{f.name} has a {type(value).__name__}"
    return None


def check_loaded(graph: Graph, where: str = "the compiled network") -> None:
    """Raise SnnccError unless ``graph`` is well-typed, shape-consistent and runs one step."""
    fix = "recompile the model with `snncc compile`; the files may be corrupt or hand-edited"
    if not graph.input_names or not graph.output_names:
        raise SnnccError(f"{where} has no input or no output node", fix)
    ranges = _ranges()
    for node in graph.nodes():
        for f in dataclasses.fields(node):
            problem = None if f.name == "name" else _field_problem(node, f)
            if problem:
                raise SnnccError(f"{where}: node {node.name!r} ({node.kind}): {problem}", fix)
        problem = _range_problem(node, ranges.get(node.kind, {})) or _arity_problem(graph, node)
        if problem:
            raise SnnccError(f"{where}: node {node.name!r} ({node.kind}): {problem}", fix)
    try:
        shapes = graph.shapes()
        size = sum(int(np.prod(s, dtype=object)) for s in shapes.values())
    except Exception as exc:        # infer_shape of any node kind, on any field values
        raise SnnccError(f"{where}: shapes do not fit ({type(exc).__name__}: "
                         f"{str(exc)[:120]})", fix) from None
    if size > MAX_VALUES:
        raise SnnccError(f"{where} declares {size} neurons and signals, over the limit of "
                         f"{MAX_VALUES}", fix)
    if any(n.kind.startswith("fx_") for n in graph.nodes()):
        from snncc.backends import get_runner
        shape = tuple(graph.node(graph.input_names[0]).shape)
        try:
            get_runner("sim")(graph, np.ones((2, 1) + shape, dtype=np.uint8))
        except SnnccError:
            raise
        except Exception as exc:
            raise SnnccError(f"{where} does not run: {type(exc).__name__}: {str(exc)[:120]}",
                             fix) from None


def check_params(npz, path) -> None:
    """Refuse a params.npz with a member that is not a plain array, or whose arrays declare
    more than MAX_PARAMS_BYTES together, from the headers only (nothing is decoded)."""
    fix = "recompile the model with `snncc compile`; the file may be corrupt"
    total = 0
    for name in npz.names:
        shape, dtype, _ = npz.header(name)
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None \
                or dtype.kind not in "biuf":
            raise SnnccError(f"{path}: member {name!r} has dtype {dtype}, not a numeric array", fix)
        total += int(np.prod(shape, dtype=object)) * dtype.itemsize
    if total > MAX_PARAMS_BYTES:
        raise SnnccError(f"{path} declares {total / 2**30:.1f} GiB of parameters, over the "
                         f"{MAX_PARAMS_BYTES / 2**30:.0f} GiB limit", fix)


def check_params_file(path) -> None:
    """:func:`check_params` on the file at ``path``."""
    from ..loaders import NpzFile
    with NpzFile(path, "parameter", MAX_PARAMS_BYTES) as npz:
        check_params(npz, path)


def check_structure(desc, where: str = "the compiled network") -> None:
    """Check network.json's structure before a Graph is built from it.

    Node names unique strings, every edge between known nodes with an integer port and a
    boolean ``recurrent`` flag, feed-forward ports 0..k-1 once each, no feed-forward cycle
    (a self edge must be marked recurrent), node count within :data:`MAX_NODES`.
    """
    import networkx as nx
    fix = "recompile the model with `snncc compile`; the files may be corrupt or hand-edited"
    if not isinstance(desc, dict) or not isinstance(desc.get("nodes"), list) \
            or not isinstance(desc.get("edges"), list):
        raise SnnccError(f"{where}: network.json has no node and edge lists", fix)
    nodes, edges = desc["nodes"], desc["edges"]
    if len(nodes) > MAX_NODES or len(edges) > MAX_EDGES:
        raise SnnccError(f"{where} declares {len(nodes)} nodes and {len(edges)} edges, over the "
                         f"limits of {MAX_NODES} and {MAX_EDGES}", fix)
    names = set()
    for n in nodes:
        name = n.get("name") if isinstance(n, dict) else None
        if not isinstance(name, str) or not name or len(name) > 256:
            raise SnnccError(f"{where}: a node has no valid name", fix)
        if name in names:
            raise SnnccError(f"{where}: two nodes are named {name!r}", fix)
        names.add(name)
    ff = nx.DiGraph()
    ff.add_nodes_from(names)
    ports: dict[str, list[int]] = {}
    for e in edges:
        if not isinstance(e, dict) or not all(k in e for k in ("src", "dst", "port", "recurrent")):
            raise SnnccError(f"{where}: an edge lacks src, dst, port or recurrent", fix)
        src, dst, port, rec = e["src"], e["dst"], e["port"], e["recurrent"]
        if not isinstance(src, str) or not isinstance(dst, str) or src not in names \
                or dst not in names:
            raise SnnccError(f"{where}: an edge joins unknown nodes ({str(src)[:40]!r} -> "
                             f"{str(dst)[:40]!r})", fix)
        if not isinstance(rec, bool) or isinstance(port, bool) or not isinstance(port, int):
            raise SnnccError(f"{where}: edge {src!r} -> {dst!r} has a malformed port or "
                             "recurrent flag", fix)
        if rec:
            continue
        if src == dst:
            raise SnnccError(f"{where}: node {src!r} feeds itself without being marked "
                             "recurrent", fix)
        if ff.has_edge(src, dst):
            raise SnnccError(f"{where}: edge {src!r} -> {dst!r} appears twice", fix)
        ff.add_edge(src, dst)
        ports.setdefault(dst, []).append(port)
    for dst, ps in ports.items():
        if sorted(ps) != list(range(len(ps))):
            raise SnnccError(f"{where}: the inputs of {dst!r} have ports {sorted(ps)[:8]}, "
                             f"not 0..{len(ps) - 1}", fix)
    if not nx.is_directed_acyclic_graph(ff):
        cycle = [s for s, _ in nx.find_cycle(ff)]
        raise SnnccError(f"{where}: feed-forward cycle through {' -> '.join(cycle[:6])} "
                         "(feedback must be marked recurrent)", fix)


def _ranges() -> dict[str, dict[str, tuple[int, int]]]:
    """Hardware ranges of the fixed-point node fields (Loihi / Lava fixed_pt widths;
    see :mod:`snncc.targets.loihi.fixedpoint`)."""
    from ..targets.loihi import fixedpoint as fx
    w = (-(2 ** fx.WEIGHT_BITS), 2 ** fx.WEIGHT_BITS - 1)    # 8-bit magnitude + sign (split/mixed)
    steps = (0, MAX_INT_FIELD)
    return {
        "fx_dense": {"weight": w, "weight_exp": (-8, 7), "bias": w, "bias_exp": (-8, 17),
                     "bias_start": steps},
        "fx_conv": {"weight": w, "weight_exp": (0, 7), "bias": w, "bias_exp": (-8, 17),
                    "bias_start": steps, "groups": (1, MAX_DIM)},
        "fx_delay": {"delay": (1, 4096)},
        "fx_neuron": {"du": (-1, fx.DECAY_UNITY - 1), "dv": (-fx.DECAY_UNITY, fx.DECAY_UNITY - 1),
                      "vth": (0, fx.VTH_MAX), "bias_mant": (fx.BIAS_MANT_MIN, fx.BIAS_MANT_MAX),
                      "bias_exp": (fx.BIAS_EXP_MIN, fx.BIAS_EXP_MAX),
                      # the generalised neuron's 13-bit signed factors (4096 = 1), as the
                      # simulator and snncc's Lava process compute them exactly
                      "reset_mult": (-2 * fx.DECAY_UNITY, 2 * fx.DECAY_UNITY),
                      "input_gain": (-2 * fx.DECAY_UNITY, 2 * fx.DECAY_UNITY),
                      "reset_sub": (-2 * fx.MAX_UV, 2 * fx.MAX_UV), "floor": (-fx.MAX_UV, fx.MAX_UV),
                      "gain_start": steps, "bias_start": steps},
    }


def _range_problem(node: Node, ranges: dict[str, tuple[int, int]]) -> str | None:
    for name, (lo, hi) in ranges.items():
        value = getattr(node, name, None)
        if value is None:
            continue
        arr = np.asarray(value)
        if arr.size == 0 or arr.dtype.kind not in "biu":
            continue
        vmin, vmax = int(arr.min()), int(arr.max())
        if vmin < lo or vmax > hi:
            bad = vmin if vmin < lo else vmax
            return f"{name} = {bad} is outside its hardware range [{lo}, {hi}]"
    return None


def _arity_problem(graph: Graph, node: Node) -> str | None:
    ff, rec = graph.inputs_of(node.name), graph.recurrent_inputs_of(node.name)
    if node.kind == "input" and (ff or rec):
        return "an input node has inputs"
    if node.kind == "output" and (len(ff) != 1 or rec):
        return f"an output node needs exactly one input (has {len(ff) + len(rec)})"
    if node.kind in ("fx_dense", "fx_conv", "fx_delay") and len(ff) + len(rec) != 1:
        return f"a synapse or delay needs exactly one source (has {len(ff) + len(rec)})"
    if node.kind == "fx_neuron" and not ff:
        return "a neuron has no synapse feeding it"
    return None


