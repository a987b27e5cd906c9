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
    for node in graph.nodes():
        for f in dataclasses.fields(node):
            problem = None if f.name == "name" else _field_problem(node, f)
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


def check_params_file(path) -> None:
    """Refuse a params.npz whose arrays declare more than MAX_PARAMS_BYTES, before reading it."""
    from ..loaders import _npz_headers
    try:
        headers = _npz_headers(path)
    except SnnccError:
        raise SnnccError(f"{path} is not an .npz archive",
                         "recompile the model with `snncc compile`") from None
    total = sum(int(np.prod(shape, dtype=object)) * dtype.itemsize
                for shape, dtype in headers.values())
    if total > MAX_PARAMS_BYTES:
        raise SnnccError(f"{path} declares {total / 2**30:.1f} GiB of parameters, over the "
                         f"{MAX_PARAMS_BYTES / 2**30:.0f} GiB limit",
                         "recompile the model with `snncc compile`; the file may be corrupt")
