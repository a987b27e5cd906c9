"""The on-disk form of a graph: ``network.json`` (structure, scalars) + ``params.npz`` (arrays).

It needs only numpy and networkx, so the Lava runner in the Python 3.10 env reads the very
file the compiler wrote.  Arrays are stored under ``"<node>.<field>"``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import SnnccError
from .graph import Graph
from .nodes import NODE_KINDS

FORMAT = "snncc.graph"
VERSION = 1
GRAPH_FILE, PARAMS_FILE = "network.json", "params.npz"


def to_dicts(graph: Graph) -> tuple[dict, dict[str, np.ndarray]]:
    """Split ``graph`` into a JSON-able description and a flat dict of arrays."""
    nodes, arrays = [], {}
    for node in graph.nodes():
        entry = {"name": node.name, "kind": node.kind}
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            if f.name == "name":
                continue
            if isinstance(value, np.ndarray):
                arrays[f"{node.name}.{f.name}"] = value
                entry[f.name] = {"array": f"{node.name}.{f.name}"}
            else:
                entry[f.name] = list(value) if isinstance(value, tuple) else value
        nodes.append(entry)
    edges = [{"src": s, "dst": d, "port": p, "recurrent": r} for s, d, p, r in graph.edges()]
    return {"format": FORMAT, "version": VERSION, "meta": graph.meta,
            "nodes": nodes, "edges": edges}, arrays


def from_dicts(desc: dict, arrays) -> Graph:
    """Rebuild a graph from :func:`to_dicts` output; raises SnnccError on a malformed file."""
    if not isinstance(desc, dict):
        raise SnnccError("not an snncc graph file (not a JSON object)",
                         "recompile the model with this snncc version")
    if desc.get("format") != FORMAT or desc.get("version") != VERSION:
        raise SnnccError(f"not an snncc graph file (format={desc.get('format')!r:.40}, "
                         f"version={desc.get('version')!r:.40})",
                         "recompile the model with this snncc version")
    try:
        graph = Graph(dict(desc.get("meta", {})))
        incoming: dict[str, list[dict]] = {}
        recurrent: list[tuple[str, str]] = []
        for e in desc["edges"]:
            incoming.setdefault(e["dst"], []).append(e)
        for entry in desc["nodes"]:
            cls = NODE_KINDS[entry["kind"]]
            kwargs = {}
            for f in dataclasses.fields(cls):
                if f.name not in entry or f.name == "name":
                    continue
                value = entry[f.name]
                if isinstance(value, dict) and "array" in value:
                    value = np.asarray(arrays[value["array"]])
                elif f.name == "shape":
                    value = tuple(value)
                kwargs[f.name] = value
            node = cls(name=entry["name"], **kwargs)
            edges = incoming.get(node.name, [])
            ff = [e["src"] for e in sorted(edges, key=lambda e: e["port"]) if not e["recurrent"]]
            graph.add(node, ff)
            # a recurrent source may come later in the file (e.g. a feedback Dense)
            recurrent += [(e["src"], node.name) for e in edges if e["recurrent"]]
        for src, dst in recurrent:
            graph.add_recurrent(src, dst)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise SnnccError(f"malformed graph file: {exc!r}"[:300], "recompile the model") from None
    return graph


def save(graph: Graph, directory: str | Path) -> None:
    """Write ``network.json`` and ``params.npz`` into ``directory`` (which must exist)."""
    desc, arrays = to_dicts(graph)
    directory = Path(directory)
    (directory / GRAPH_FILE).write_text(json.dumps(desc, indent=1, default=_json_default))
    np.savez(directory / PARAMS_FILE, **arrays)


MAX_GRAPH_BYTES = 64 * 2 ** 20


class _Arrays(dict):
    """params.npz members decoded on first use, each checked against the size cap first."""

    def __init__(self, npz, limits) -> None:
        super().__init__()
        self._npz, self._limits = npz, limits

    def __missing__(self, key: str) -> np.ndarray:
        if key not in self._npz.members:
            raise KeyError(key)
        self[key] = self._npz.read(key, self._limits)
        return self[key]


def load(directory: str | Path) -> Graph:
    """Read a graph written by :func:`save`, checked before anything runs it.

    Both files must be regular files (a FIFO or device is refused without blocking on it);
    every member of ``params.npz``, whatever its name, must be a plain ``.npy`` array and all
    of them together within :data:`~snncc.ir.check.MAX_PARAMS_BYTES` (from their headers,
    before decoding); the structure (names, edges, no feed-forward cycle) and every field
    (types, hardware bit widths) are checked, and one short dry run must pass
    (:func:`~snncc.ir.check.check_loaded`).  Raises :class:`SnnccError`.
    """
    from ..loaders import DataLimits, NpzFile, open_regular
    from .check import MAX_PARAMS_BYTES, check_loaded, check_params, check_structure
    directory = Path(directory)
    if not directory.exists():
        raise SnnccError(f"build folder {directory} does not exist",
                         "run `snncc compile` first and pass its output folder")
    if not directory.is_dir():
        raise SnnccError(f"{directory} is not a build folder (not a folder)",
                         "pass the folder written by `snncc compile`")
    for name in (GRAPH_FILE, PARAMS_FILE):
        if not os.path.lexists(directory / name):
            raise SnnccError(f"{directory} holds no compiled network ({name} is missing)",
                             "run `snncc compile` first and pass its output folder")
    try:
        with open_regular(directory / GRAPH_FILE, "compiled network", MAX_GRAPH_BYTES,
                          follow=False) as f:
            desc = json.loads(f.read())
        check_structure(desc, str(directory))
        with NpzFile(directory / PARAMS_FILE, "parameter", MAX_PARAMS_BYTES, follow=False) as npz:
            check_params(npz, directory / PARAMS_FILE)
            graph = from_dicts(desc, _Arrays(npz, DataLimits(max_bytes=MAX_PARAMS_BYTES)))
        check_loaded(graph, f"{directory}")
        return graph
    except SnnccError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, RecursionError, KeyError,
            NotImplementedError, RuntimeError, zlib.error, UnicodeDecodeError) as exc:
        raise SnnccError(f"{directory}: corrupt compiled network ({type(exc).__name__}: "
                         f"{str(exc)[:120]})", "recompile with `snncc compile`") from None


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
