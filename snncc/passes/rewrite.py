"""Rebuild a graph with nodes replaced, removed (their consumers re-fed) or inserted on edges.

Passes never mutate a graph in place; this is how they change its structure.
"""
from __future__ import annotations

from typing import Optional

from ..errors import SnnccError
from ..ir import Graph
from ..ir.nodes import Node


def rebuild(graph: Graph, replace: Optional[dict[str, Node]] = None,
            drop: Optional[dict[str, str]] = None,
            insert: Optional[dict[tuple[str, str], Node]] = None) -> Graph:
    """A new graph in the same order.

    ``replace``: name -> node stored under that name instead.  ``drop``: name -> the node
    whose value its consumers read instead (a removed pass-through).  ``insert``:
    (src, dst) -> a node placed on the feed-forward edge src -> dst, fed by src.
    """
    replace, drop, insert = replace or {}, drop or {}, insert or {}
    out = Graph(graph.meta)

    def resolve(name: str) -> str:
        seen = set()
        while name in drop:
            if name in seen:
                raise SnnccError(f"graph rewrite: cyclic removal at {name!r}")
            seen.add(name)
            name = drop[name]
        return name

    for name in graph.order():
        if name in drop:
            continue
        inputs = []
        for src in graph.inputs_of(name):
            extra = insert.get((src, name))
            if extra is not None:
                if extra.name not in out:
                    out.add(extra, [resolve(src)])
                inputs.append(extra.name)
            else:
                inputs.append(resolve(src))
        out.add(replace.get(name, graph.node(name)), inputs)
    for src, dst, _, recurrent in graph.edges():
        if recurrent:
            if dst in drop:
                raise SnnccError(f"graph rewrite: node {dst!r} with a recurrent input was removed")
            out.add_recurrent(resolve(src), dst)
    return out
