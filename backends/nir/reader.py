"""Reading a ``.nir`` file: checked HDF5 access, nir's node constructors, repairs of legacy files.

The file is opened and checked by :mod:`.safety` (no external data, declared sizes capped)
before any dataset is read; node types are checked before nir builds nodes (nir 1.0.8
answers an unknown type with a bare ``AssertionError``).  Files that nir's strict
constructors reject (older exports: batch dimensions in shapes, scalar parameters, duplicate
edges) are built again without type checking and repaired; every repair is listed in
``graph.meta["nir_repairs"]``.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Optional

import numpy as np

from ...errors import SnnccError
from ...ir import Graph
from .neurons import scalar
from .safety import NirLimits, read_checked

NIR_TYPES = ("Affine", "AvgPool2d", "Conv1d", "Conv2d", "CubaLI", "CubaLIF", "Delay", "Flatten",
             "I", "IF", "Input", "LI", "LIF", "Linear", "NIRGraph", "Output", "Scale",
             "SumPool2d", "Threshold")
_NEURONS = ("LIF", "IF", "CubaLIF", "LI", "CubaLI", "I")
_NEURON_FIELDS = ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in")


def _check_types(data: dict, path: Path, prefix: str = "") -> None:
    """Every node of the raw dictionary (subgraphs included) has a NIR node type."""
    nodes = data.get("nodes", {})
    if not isinstance(nodes, dict):
        raise SnnccError(f"NIR file {str(path)!r}: 'nodes' of {prefix or 'the graph'} is not a "
                         "group", "re-export it with nir.write")
    for name, node in nodes.items():
        kind = scalar(node.get("type")) if isinstance(node, dict) else None
        if kind not in NIR_TYPES:
            raise SnnccError(f"NIR node {prefix + str(name)!r} has type {kind!r}, which is not a "
                             "NIR node type (nir 1.0.8 defines "
                             f"{', '.join(t for t in NIR_TYPES if t != 'NIRGraph')})",
                             "export the network with a NIR version snncc reads (nir 1.0), or "
                             "replace that node by NIR primitives")
        if kind == "NIRGraph":
            _check_types(node, path, f"{prefix}{name}.")


def _batch_leading(shape: np.ndarray) -> bool:
    """A leading 1 that is a batch axis: (1, n) or (1, C, H, W).  A 3-d (1, H, W) is an
    image with one channel (NIR shapes exclude the batch), not a batch."""
    return shape.size in (2, 4) and shape[0] == 1


def _repair_dict(data: dict, prefix: str = "") -> list[str]:
    """Repairs nir's node constructors need *before* they run (they assert equal shapes)."""
    done = []
    for name, node in dict(data.get("nodes", {})).items():
        kind = str(scalar(node.get("type", "")))
        if kind in _NEURONS:
            fields = [f for f in _NEURON_FIELDS if f in node]
            shape = max((np.shape(node[f]) for f in fields), key=lambda s: int(np.prod(s)),
                        default=())
            fixed = [f for f in fields if np.size(node[f]) == 1 and int(np.prod(shape)) > 1]
            for f in fixed:
                node[f] = np.full(shape, np.asarray(node[f]).reshape(()))
            if fixed:
                done.append(f"broadcast scalar {', '.join(fixed)} of {prefix + name!r} to "
                            f"{list(shape)}")
        elif kind in ("Input", "Output") and "shape" in node:
            shape = np.asarray(node["shape"]).reshape(-1)
            if _batch_leading(shape):
                node["shape"] = shape[1:]
                done.append(f"dropped the batch dimension of {prefix + name!r} ({list(shape)})")
        elif kind == "NIRGraph":
            done += _repair_dict(node, f"{prefix}{name}.")
    edges = data.get("edges")
    if edges is not None and len(edges):
        pairs = [tuple(str(scalar(x)) for x in e) for e in np.asarray(edges, dtype=object)]
        unique = list(dict.fromkeys(pairs))
        if len(unique) != len(pairs):
            data["edges"] = unique
            done.append(f"removed {len(pairs) - len(unique)} duplicate edge(s)"
                        + (f" in {prefix[:-1]!r}" if prefix else ""))
    return done


def _set_type_check(data: dict, value: bool) -> None:
    data["type_check"] = value
    for node in data.get("nodes", {}).values():
        if isinstance(node, dict) and scalar(node.get("type")) == "NIRGraph":
            _set_type_check(node, value)


def _build(data: dict):
    """The nir graph of a raw dictionary: strict first, then repaired without type checks."""
    import nir
    if "type_check" in data:
        raise SnnccError("the NIR file has a 'type_check' entry, which nir reserves",
                         "re-export it with nir.write")
    strict = copy.deepcopy(data)
    _set_type_check(strict, True)
    try:
        return nir.dict2NIRNode(strict), []
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # nir raises many types for legacy or malformed files
        first = f"nir's strict read failed ({type(exc).__name__}: {str(exc)[:120]}); read " \
                "without type check"
    repairs = [first] + _repair_dict(data)
    _set_type_check(data, False)
    return nir.dict2NIRNode(data), repairs


def load_nir_graph(path: str | Path, limits: Optional[NirLimits] = None):
    """(nir graph, repairs) of a NIR file; one :class:`SnnccError` for unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise SnnccError(f"NIR file {str(path)!r} does not exist", "check the path")
    data = read_checked(path, limits)
    _check_types(data, path)
    try:
        nir_graph, repairs = _build(data)
    except SnnccError:
        raise
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise SnnccError(f"cannot read NIR file {str(path)!r}: {type(exc).__name__}: "
                         f"{str(exc)[:200]}", "pass a NIR HDF5 file written by nir.write "
                         "(e.g. snncc export-nir)") from None
    if type(nir_graph).__name__ != "NIRGraph":
        raise SnnccError(f"NIR file {str(path)!r} holds a single {type(nir_graph).__name__} "
                         "node, not a graph", "wrap the node in a nir.NIRGraph with Input and "
                         "Output nodes")
    return nir_graph, repairs


def read_nir(path: str | Path, dt: Optional[float] = None, convention: Optional[str] = None,
             reset: Optional[str] = None, limits: Optional[NirLimits] = None) -> Graph:
    """Read a NIR file into the float IR, with one clear error for unreadable files.

    ``dt`` (seconds), ``convention`` and ``reset`` override what the file and its producer
    say (see :func:`.importer.from_nir`).  Raises :class:`SnnccError`; repairs of legacy
    files are listed in ``graph.meta["nir_repairs"]`` (the CLI prints them).
    """
    from .importer import from_nir
    nir_graph, repairs = load_nir_graph(path, limits)
    try:
        graph = from_nir(nir_graph, dt, convention, reset, limits=limits)
    except SnnccError as exc:
        if repairs:
            raise SnnccError(f"{exc.cause} (after repairs: {'; '.join(repairs)})", exc.fix) from None
        raise
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # the file is user input: any malformed content, one clear error
        raise SnnccError(f"NIR file {str(path)!r} is malformed ({type(exc).__name__}: "
                         f"{str(exc)[:160]})", "re-export it with nir.write "
                         "(e.g. snncc export-nir)") from None
    repairs += graph.meta.pop("nir_graph_repairs", [])
    if repairs:
        graph.meta["nir_repairs"] = repairs
    return graph


def read_nir_quantized(path: str | Path, target: str, dt: Optional[float] = None,
                       limits: Optional[NirLimits] = None) -> Optional[Graph]:
    """The integer program a NIR file written by ``snncc export-nir --quantized`` carries
    for ``target`` (None if it carries none); see :mod:`.quantized`."""
    from .quantized import KEY, read_quantized
    nir_graph, _ = load_nir_graph(path, limits)
    meta = dict(nir_graph.metadata or {})
    fixed = read_quantized(meta, f"NIR file {str(path)!r}", target)
    if fixed is not None and dt is not None and abs(float(fixed.meta.get("dt", dt)) - dt) > 1e-12 * dt:
        raise SnnccError(f"NIR file {str(path)!r} carries its integer program for dt = "
                         f"{fixed.meta.get('dt')} s; --dt {dt:g} would change the float model "
                         f"but not the program ('{KEY}')", "drop --dt, or export the float "
                         "graph without --quantized")
    return fixed
