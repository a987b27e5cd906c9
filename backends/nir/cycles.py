"""Which edges of a NIR graph carry the one-step delay of a recurrent connection.

NIR records no delays: a cycle ``lif -> w_rec -> lif`` means "last step's spikes come back".
Only the edges that *close* a cycle may be delayed; every other edge, including the
feed-forward edges leaving a recurrent layer, is same-step.  The closing edges are the back
edges of a depth-first search from the graph's inputs (Tarjan 1972; on a strongly connected
component, removing them leaves it acyclic, and no edge outside a component is touched).

Each back edge is then moved downstream until it enters a neuron (through nodes with one
input and one consumer), where snncc's IR keeps the delay of a recurrent synapse.  What the
producers compute is ``w_rec(spk[t-1])`` (snnTorch's ``RLeaky``): a bias of ``w_rec`` is
present from step 0 (``W @ 0 + b``); the importer moves such a bias onto a feed-forward
synapse of the same neuron, where it acts from step 0 too (:mod:`.importer`).
"""
from __future__ import annotations

from typing import Callable, Iterable


def back_edges(nodes: Iterable[str], edges: Iterable[tuple[str, str]],
               roots: Iterable[str]) -> list[tuple[str, str]]:
    """Back edges of an iterative DFS visiting ``roots`` first, then any node left, in
    sorted order with successors in sorted order (deterministic for a given graph)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for s, d in edges:
        succ[s].append(d)
    for v in succ.values():
        v.sort()
    state: dict[str, int] = {}            # 1: on the stack, 2: done
    found: list[tuple[str, str]] = []
    order = list(roots) + sorted(succ)
    for root in order:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                found.append((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return found


def to_neuron_side(edge: tuple[str, str], edges: list[tuple[str, str]],
                   is_spiking: Callable[[str], bool]) -> tuple[str, str]:
    """Move a delayed edge downstream past memoryless nodes with exactly one input and one
    consumer, until it enters a spiking node (snncc's IR keeps the delay there: a
    recurrent synapse into a neuron, Lava's ``Dense`` into ``a_in``)."""
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for s, d in edges:
        preds.setdefault(d, []).append(s)
        succs.setdefault(s, []).append(d)
    src, dst = edge
    seen = {src}
    while not is_spiking(dst) and len(preds.get(dst, [])) == 1 \
            and len(succs.get(dst, [])) == 1 and dst not in seen:
        seen.add(dst)
        src, dst = dst, succs[dst][0]
    return src, dst


def delayed_edges(nodes: Iterable[str], edges: list[tuple[str, str]], roots: Iterable[str],
                  is_spiking: Callable[[str], bool]) -> list[tuple[str, str]]:
    """The edges to read as recurrent (one step of delay), moved to enter a neuron."""
    out = []
    for e in back_edges(nodes, edges, roots):
        moved = to_neuron_side(e, edges, is_spiking)
        if moved not in out:
            out.append(moved)
    return out
