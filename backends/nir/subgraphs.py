"""Nested ``NIRGraph`` nodes, flattened into one graph of primitives.

A subgraph ``g`` (snnTorch writes ``RLeaky``/``RSynaptic`` this way; the NIR paper's
recurrent network too) becomes its nodes named ``g.<node>``.  An edge may name the
subgraph itself (``g``: its only Input, or its only Output as a source) or one of its nodes
(``g.<node>``, nir 1.0's dotted form).  The subgraph's own Input and Output nodes only pass
values on: they are removed and their predecessors joined to their successors.
"""
from __future__ import annotations

from types import SimpleNamespace

from ...errors import SnnccError


def _kind(node) -> str:
    return type(node).__name__


def flatten_subgraphs(nir_graph, notes: list[str]):
    """The graph itself when it has no subgraph, else a flat view with ``nodes``, ``edges``,
    ``metadata`` (what the importer reads); each flattening is added to ``notes``."""
    if not any(_kind(n) == "NIRGraph" for n in nir_graph.nodes.values()):
        return nir_graph
    nodes, edges, passthrough = {}, [], set()
    subs: dict[str, tuple[list[str], list[str]]] = {}

    def add(prefix: str, graph) -> None:
        for name, node in graph.nodes.items():
            full = prefix + str(name)
            if _kind(node) == "NIRGraph":
                add(full + ".", node)
                ins = [f"{full}.{k}" for k, v in node.nodes.items() if _kind(v) == "Input"]
                outs = [f"{full}.{k}" for k, v in node.nodes.items() if _kind(v) == "Output"]
                subs[full] = (ins, outs)
                passthrough.update(ins + outs)
                notes.append(f"flattened the subgraph {full!r} ({len(node.nodes)} nodes)")
            else:
                nodes[full] = node
        for s, d in graph.edges:
            edges.append((prefix + str(s), prefix + str(d)))

    add("", nir_graph)

    def end(name: str, as_source: bool) -> str:
        if name in subs:
            ins, outs = subs[name]
            pick = outs if as_source else ins
            if len(pick) != 1:
                raise SnnccError(f"NIR edge names the subgraph {name!r}, which has "
                                 f"{len(pick)} {'outputs' if as_source else 'inputs'}",
                                 "name the subgraph's node in the edge (subgraph.node)")
            return pick[0]
        return name

    edges = [(end(s, True), end(d, False)) for s, d in edges]
    for p in sorted(passthrough):
        preds = [s for s, d in edges if d == p]
        succs = [d for s, d in edges if s == p]
        edges = [e for e in edges if p not in e] + [(s, d) for s in preds for d in succs]
        nodes.pop(p, None)
    return SimpleNamespace(nodes=nodes, edges=edges, metadata=dict(nir_graph.metadata or {}))
