"""The graph IR: typed nodes on a networkx DiGraph.

Edges carry the input ``port`` of the destination (order matters for multi-input nodes)
and a ``recurrent`` flag: a recurrent edge is delivered with one time step of delay and is
ignored for topological order, so feedback never makes the graph cyclic for passes.
"""
from __future__ import annotations

from typing import Iterator, Optional

import networkx as nx

from .nodes import Input, Node, Output, Shape


class Graph:
    """A network: named nodes, ordered input edges, one or more inputs and outputs."""

    def __init__(self, meta: Optional[dict] = None) -> None:
        self._g = nx.DiGraph()
        self.meta: dict = dict(meta or {})

    # construction ---------------------------------------------------------------
    def add(self, node: Node, inputs: tuple[str, ...] | list[str] = (),
            recurrent: tuple[str, ...] | list[str] = ()) -> Node:
        """Add ``node`` fed by ``inputs`` (in port order) and by ``recurrent`` sources."""
        if node.name in self._g:
            raise ValueError(f"duplicate node name {node.name!r}")
        self._g.add_node(node.name, node=node)
        for port, src in enumerate(inputs):
            self._connect(src, node.name, port, False)
        for src in recurrent:
            self._connect(src, node.name, -1, True)
        return node

    def add_recurrent(self, src: str, dst: str) -> None:
        """Feed ``dst`` from ``src`` with one step of delay (for sources added after ``dst``)."""
        self._connect(src, dst, -1, True)

    def _connect(self, src: str, dst: str, port: int, recurrent: bool) -> None:
        if src not in self._g:
            raise KeyError(f"{dst}: unknown input node {src!r}")
        self._g.add_edge(src, dst, port=port, recurrent=recurrent)

    def replace(self, node: Node) -> None:
        """Swap the node stored under ``node.name``, keeping its edges."""
        self._g.nodes[node.name]["node"] = node

    def copy(self) -> "Graph":
        """A structural copy (nodes are shared; passes replace, never mutate, nodes)."""
        new = Graph(self.meta)
        new._g = self._g.copy()
        return new

    # queries --------------------------------------------------------------------
    def __contains__(self, name: str) -> bool:
        return name in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def node(self, name: str) -> Node:
        return self._g.nodes[name]["node"]

    def inputs_of(self, name: str) -> list[str]:
        """Feed-forward sources of ``name`` in port order."""
        edges = [(d["port"], s) for s, _, d in self._g.in_edges(name, data=True)
                 if not d["recurrent"]]
        return [s for _, s in sorted(edges)]

    def recurrent_inputs_of(self, name: str) -> list[str]:
        return [s for s, _, d in self._g.in_edges(name, data=True) if d["recurrent"]]

    def consumers_of(self, name: str) -> list[str]:
        return sorted(self._g.successors(name))

    def edges(self) -> list[tuple[str, str, int, bool]]:
        return [(s, d, a["port"], a["recurrent"]) for s, d, a in self._g.edges(data=True)]

    def order(self) -> list[str]:
        """Topological order of the feed-forward edges (ties broken by insertion order)."""
        ff = nx.DiGraph()
        ff.add_nodes_from(self._g.nodes)
        ff.add_edges_from((s, d) for s, d, a in self._g.edges(data=True) if not a["recurrent"])
        index = {n: i for i, n in enumerate(self._g.nodes)}
        return list(nx.lexicographical_topological_sort(ff, key=lambda n: index[n]))

    def nodes(self) -> Iterator[Node]:
        for name in self.order():
            yield self.node(name)

    def of_type(self, cls: type) -> list[Node]:
        return [n for n in self.nodes() if isinstance(n, cls)]

    @property
    def input_names(self) -> list[str]:
        return [n.name for n in self.of_type(Input)]

    @property
    def output_names(self) -> list[str]:
        return [n.name for n in self.of_type(Output)]

    def shapes(self) -> dict[str, Shape]:
        """Infer every node's output shape; raises ValueError naming the node on a mismatch."""
        out: dict[str, Shape] = {}
        for name in self.order():
            out[name] = tuple(self.node(name).infer_shape([out[s] for s in self.inputs_of(name)]))
        return out

    def summary(self) -> str:
        """A printable table: name, kind, inputs, output shape, parameters."""
        shapes = self.shapes()
        rows = [("name", "kind", "inputs", "shape", "params")]
        for name in self.order():
            node = self.node(name)
            ins = self.inputs_of(name) + [f"{s} (rec)" for s in self.recurrent_inputs_of(name)]
            rows.append((name, node.kind, ",".join(ins), str(list(shapes[name])), node.describe()))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)

    def __repr__(self) -> str:
        return f"Graph({len(self)} nodes)\n{self.summary()}"
