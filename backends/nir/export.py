"""Export a float IR graph (canonical neurons, see ``passes.lower``) to NIR."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from ...atomic import hdf5_bytes, write_bytes
from ...errors import SnnccError
from ...ir import Add, Affine, CubaLIF, Graph
from ...ir.nodes import Input, NeuronNode, Node, Output, RESET_CUSTOM
from . import conventions as conv


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _input(node: Input, dt: float):
    import nir
    return nir.Input(input_type={"input": np.array(node.shape)})


def _output(node: Output, dt: float, shape=()):
    import nir
    return nir.Output(output_type={"output": np.array(shape)})


def _affine(node: Affine, dt: float):
    import nir
    if node.bias is None:
        return nir.Linear(weight=np.asarray(node.weight))
    return nir.Affine(weight=np.asarray(node.weight), bias=np.asarray(node.bias))


def _reset_meta(node: CubaLIF) -> dict:
    meta = {"reset": node.reset, "reset_semantics": conv.RESET_DOC[node.reset],
            "reset_delayed": bool(node.reset_delayed),
            "dtype": str(np.asarray(node.threshold).dtype)}
    if node.floor is not None:
        meta["floor"] = float(node.floor)
    if node.reset == RESET_CUSTOM:
        meta["reset_mult"] = _f64(node.reset_mult)
        meta["reset_sub"] = _f64(node.reset_sub)
    return meta


def _neuron(node: CubaLIF, dt: float):
    """LIF when the current is memoryless, IF when it does not leak either, else CubaLIF."""
    import nir
    alpha, beta, bias, thr = (_f64(node.alpha), _f64(node.beta), _f64(node.bias),
                              _f64(node.threshold))
    meta = _reset_meta(node)
    if node.max_spikes > 1:
        raise SnnccError(f"layer {node.name!r} emits up to {node.max_spikes} spikes per step; "
                         "NIR's neurons emit one", "export a model trained with max_spikes=1")
    if node.input_gain is not None or np.any(beta > 1.0):
        raise SnnccError(f"layer {node.name!r}: a per-step input gain or a growing membrane "
                         "(beta > 1) has no NIR form", "compile it for Loihi instead")
    if np.any(beta == 1.0) and np.any(bias != 0):
        raise SnnccError(f"layer {node.name!r}: a constant drive on a non-leaky neuron "
                         "(beta = 1) has no NIR form (v_leak needs a finite tau)",
                         "move the bias into the preceding Linear layer or use beta < 1")
    if np.any(alpha == 1.0):
        raise SnnccError(f"layer {node.name!r}: alpha = 1 (a current that never decays) "
                         "has no finite NIR tau_syn", "use alpha < 1")
    if np.all(alpha == 0) and np.all(beta == 1.0):
        return nir.IF(r=np.full_like(thr, 1.0 / dt), v_threshold=thr,
                      v_reset=np.zeros_like(thr), metadata=meta)
    if np.any(beta == 1.0):
        raise SnnccError(f"layer {node.name!r}: mixes beta = 1 with leaky neurons; NIR has "
                         "no finite tau for beta = 1", "use beta < 1 for every neuron")
    tau_mem = conv.tau_from_decay(beta, dt)
    v_leak = bias / (1.0 - beta)
    if np.all(alpha == 0):
        return nir.LIF(tau=tau_mem, r=tau_mem / dt, v_leak=v_leak, v_threshold=thr,
                       v_reset=np.zeros_like(thr), metadata=meta)
    tau_syn = conv.tau_from_decay(alpha, dt)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=v_leak,
                       v_threshold=thr, v_reset=np.zeros_like(thr), w_in=tau_syn / dt,
                       metadata=meta)


EXPORTERS: dict[type, Callable] = {Input: _input, Affine: _affine, CubaLIF: _neuron}
# Exporters that need the node's input shape (conv geometry, flatten): (node, dt, in_shape).
# Filled by .spatial (Conv2d, pooling, Flatten, BatchNorm, Scale).
SHAPED_EXPORTERS: dict[type, Callable] = {}


def _edges_without_adds(graph: Graph) -> list[tuple[str, str, int, bool]]:
    """The graph's edges with residual ``Add`` nodes removed: every source of an add feeds
    the add's consumers directly (NIR sums the edges into a node)."""
    def sources(name: str, rec: bool) -> list[tuple[str, bool]]:
        if not isinstance(graph.node(name), Add):
            return [(name, rec)]
        return [x for s in graph.inputs_of(name) for x in sources(s, rec)] + \
               [x for s in graph.recurrent_inputs_of(name) for x in sources(s, True)]
    out = []
    for s, d, p, r in graph.edges():
        if isinstance(graph.node(d), Add):
            continue
        out += [(s2, d, p, r2) for s2, r2 in sources(s, r)]
    pairs = [(s, d) for s, d, _, _ in out]
    if len(set(pairs)) != len(pairs):
        raise SnnccError("a residual add sums one tensor with itself; NIR cannot hold "
                         "duplicate edges", "scale the tensor instead of adding it twice")
    return out


def to_nir(graph: Graph):
    """NIR graph of a lowered float graph; raises SnnccError for what NIR cannot hold."""
    import nir
    dt = float(graph.meta.get("dt", 0.0))
    if not dt > 0:
        raise SnnccError("the graph has no positive time step 'dt' in its metadata",
                         "trace the model with a dt (snncc export-nir --dt)")
    shapes = graph.shapes()
    nodes = {}
    for node in graph.nodes():
        if isinstance(node, NeuronNode) and not isinstance(node, CubaLIF):
            raise SnnccError(f"layer {node.name!r} ({node.kind}) is not lowered",
                             "run snncc.passes.lower_neurons before exporting to NIR")
        if isinstance(node, Output):
            nodes[node.name] = _output(node, dt, shapes[node.name])
            continue
        if isinstance(node, Add):
            continue                        # becomes several edges (see _edges_without_adds)
        if type(node) in SHAPED_EXPORTERS:
            nodes[node.name] = SHAPED_EXPORTERS[type(node)](
                node, dt, shapes[graph.inputs_of(node.name)[0]])
            continue
        export = EXPORTERS.get(type(node))
        if export is None:
            raise SnnccError(f"node {node.name!r} of kind {node.kind!r} has no NIR export",
                             "supported: Input, Linear/Affine, Conv2d, pooling, Flatten, "
                             "batch-norm, Scale, residual adds and LIF-family neurons")
        nodes[node.name] = export(node, dt)
    all_edges = _edges_without_adds(graph)
    edges = [(s, d) for s, d, _, _ in sorted(all_edges, key=lambda e: (e[1], e[2], e[0]))]
    recurrent = [[s, d] for s, d, _, r in all_edges if r]
    ports = {f"{s}->{d}": p for s, d, p, r in all_edges if not r}
    meta = {"format": conv.FORMAT, "format_version": conv.VERSION, "dt": dt,
            "integrator": conv.INTEGRATOR, "spike": conv.SPIKE, "delay": conv.DELAY,
            "recurrent_edges": json.dumps(recurrent), "ports": json.dumps(ports),
            "graph_meta": json.dumps(graph.meta)}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def nir_bytes(graph: Graph) -> bytes:
    """``graph`` as the bytes of a NIR HDF5 file, built in memory (see
    :func:`snncc.atomic.hdf5_bytes`: HDF5 never writes to disk itself, so a full disk is an
    ordinary error, not a crash)."""
    import nir
    nir_graph = to_nir(graph)
    return hdf5_bytes(lambda buf: nir.write(buf, nir_graph))


def write_nir(graph: Graph, path: str | Path) -> Path:
    """Write ``graph`` as a NIR HDF5 file, atomically (nothing is left on failure)."""
    return write_bytes(path, nir_bytes(graph), "hdf5", force=True)
