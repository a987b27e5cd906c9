"""Vectorized fixed-point simulator: whole layers over all time steps, numpy or torch.

Same results as :mod:`snncc.backends.sim.stepper` (the golden model, bit-exact with Lava),
bit for bit, much faster: every synapse (Dense, Conv) delays by one step, so in a
feed-forward graph a layer's input is known for all steps before the layer runs.  Each
node then runs once over the whole ``(T, B, n)`` series: a Dense or Conv as one exact
matmul, a delay line as a shifted copy, a neuron as a loop over time of a few elementwise
ops on ``(B, n)``.  Nodes on a cycle (recurrent edges) are grouped (strongly connected
components) and stepped together, in the stepper's order.

The batch is cut into chunks (``batch_chunk``): samples are independent, and a chunk
bounds the peak memory; numpy neuron loops step cache-sized blocks of samples.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import networkx as nx
import numpy as np

from snncc.errors import SnnccError
from snncc.ir import FxConv, FxDelay, FxDense, FxGradedNeuron, FxNeuron, Graph, Input, Output

from .dense import DenseKernel, Delayed
from .exact import exact_dtype
from .neuron import NeuronKernel
from .spatial import ConvKernel, DelayKernel
from .stepper import SimResult
from .xp import Array, Ops, get_ops

DEFAULT_CPU_CHUNK = 1024          # samples per pass through the graph (bounds memory)
DEFAULT_DEVICE_CHUNK = 65536
CACHE_ELEMENTS = 32768            # per-step neuron arrays of this size stay in L2


def check_stimulus(graph: Graph, stimulus: np.ndarray, input_name: Optional[str]) -> np.ndarray:
    """Validate (T, B, *input_shape) spikes as the stepper does; return them as (T, B, n)."""
    if stimulus.ndim < 2:
        raise SnnccError(f"stimulus must be (time, batch, *input_shape), got shape "
                         f"{stimulus.shape}",
                         "pass spikes with a time and a batch axis")
    want = tuple(graph.node(input_name or graph.input_names[0]).shape)
    if tuple(stimulus.shape[2:]) != want and int(np.prod(stimulus.shape[2:])) != int(np.prod(want)):
        raise SnnccError(f"input shape {tuple(stimulus.shape[2:])} does not match the network's "
                         f"input {want}", "pass data shaped (samples, time, *input_shape)")
    return stimulus.reshape(stimulus.shape[0], stimulus.shape[1], int(np.prod(stimulus.shape[2:])))


KERNELS = {FxDense: DenseKernel, FxConv: ConvKernel, FxDelay: DelayKernel,
           FxNeuron: NeuronKernel}
NEURONS = (FxNeuron, FxGradedNeuron)    # nodes with state, stepped in time (graded: int output)


class Plan:
    """A graph prepared once for an array backend: kernels and the order to run them in."""

    def __init__(self, graph: Graph, ops: Ops, threads: Optional[int] = None) -> None:
        self.graph, self.ops = graph, ops
        self.threads = (os.cpu_count() or 1) if threads is None and ops.name == "numpy" \
            else int(threads or 1)
        self._pool: Optional[ThreadPoolExecutor] = None
        self.order = graph.order()
        self.feeds = {n: graph.inputs_of(n) + graph.recurrent_inputs_of(n) for n in self.order}
        self.kernels: dict[str, object] = {}
        for name in self.order:
            node = graph.node(name)
            kernel = KERNELS.get(type(node))
            if kernel is not None:
                self.kernels[name] = kernel(ops, node)
            elif not isinstance(node, (Input, Output)):
                raise SnnccError(f"the simulator cannot run node {name!r} of kind {node.kind!r}",
                                 "quantize the graph first (snncc compile) so it holds "
                                 "fixed-point nodes")
        # nodes whose output arrives a step (or more) later: they break same-step cycles
        self.delayed = {n for n, k in self.kernels.items() if isinstance(k, Delayed)}
        self.groups = self._groups()
        # synapse outputs are not results: drop each after the group that reads it last
        last = {}
        for i, group in enumerate(self.groups):
            for name in group:
                for src in self.feeds[name]:
                    last[src] = i
        self.free_after: dict[int, list[str]] = {}
        for name, i in last.items():
            if name in self.delayed:
                self.free_after.setdefault(i, []).append(name)
        self.spiking = [n for n in self.order if isinstance(graph.node(n), (Input,) + NEURONS)]
        self.on_cpu = getattr(ops, "device", None) is None or ops.device.type == "cpu"

    def pool(self) -> Optional[ThreadPoolExecutor]:
        """Threads for independent neuron blocks (numpy on a multi-core CPU), else None."""
        if self.threads <= 1:
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="snncc-sim")
        return self._pool

    def rows_for(self, width: int) -> int:
        """Samples a neuron loop steps at once: a cache-sized block for numpy, all for torch."""
        if self.ops.name != "numpy":      # torch: per-op overhead outweighs cache misses
            return 0
        return max(1, CACHE_ELEMENTS // max(width, 1))

    def _groups(self) -> list[list[str]]:
        """Nodes in run order; nodes on a common cycle form one group stepped in time."""
        deps = nx.DiGraph()
        deps.add_nodes_from(self.order)
        deps.add_edges_from((s, d) for d in self.order for s in self.feeds[d])
        index = {n: i for i, n in enumerate(self.order)}
        cond = nx.condensation(deps)
        members = {c: sorted(cond.nodes[c]["members"], key=index.get) for c in cond.nodes}
        groups = [members[c] for c in nx.lexicographical_topological_sort(
            cond, key=lambda c: index[members[c][0]])]
        self._check_delayed(index)
        return groups

    def _check_delayed(self, index: dict[str, int]) -> None:
        """Refuse a node reading a later node's same-step output that no synapse delays."""
        for name in self.order:
            if name in self.delayed:
                continue
            for src in self.feeds[name]:
                late = index[src] >= index[name]
                if late and src not in self.delayed and not isinstance(self.graph.node(src), Input):
                    raise SnnccError(f"recurrent edge {src!r} -> {name!r} has no synaptic delay",
                                     "route recurrent connections through a synapse (FxDense)")


class _Run:
    """One batch chunk: the values of every node over all steps."""

    def __init__(self, plan: Plan, stim: Array, stim_bound: int, record: bool) -> None:
        self.plan, self.ops, self.record = plan, plan.ops, record
        self.steps, self.batch = int(stim.shape[0]), int(stim.shape[1])
        self.values: dict[str, Array] = {}
        self.bounds: dict[str, Optional[int]] = {}
        self.u: dict[str, Array] = {}
        self.v: dict[str, Array] = {}
        self.stim, self.stim_bound = stim, stim_bound

    def bound(self, name: str) -> int:
        """A bound on ``|value|`` of a node (computed from the data where not known)."""
        if self.bounds.get(name) is None:
            self.bounds[name] = self.ops.max_abs(self.values[name])
        return self.bounds[name]

    def run(self) -> None:
        for i, group in enumerate(self.plan.groups):
            if len(group) == 1 and group[0] not in self.plan.feeds[group[0]]:
                self._whole(group[0])
            else:
                self._stepped(group)
            for name in self.plan.free_after.get(i, ()):     # bound the peak memory
                del self.values[name]

    def _input_sum(self, name: str, srcs: list[str]) -> tuple[Array, int]:
        """The summed input of a neuron over all steps and a bound on it."""
        ops = self.ops
        bound = sum(self.bound(s) for s in srcs)
        dtype = exact_dtype(ops, bound)
        total = None
        for s in srcs:
            x = ops.astype(self.values[s], dtype)
            total = x if total is None else total + x
        if total is None:
            total = ops.zeros((self.steps, self.batch, self.plan.kernels[name].n), dtype)
        return total, bound

    def _whole(self, name: str) -> None:
        node, feeds = self.plan.graph.node(name), self.plan.feeds[name]
        kernel = self.plan.kernels.get(name)
        if isinstance(node, Input):
            self.values[name], self.bounds[name] = self.stim, self.stim_bound
        elif isinstance(node, Output):
            self.values[name], self.bounds[name] = self.values[feeds[0]], self.bounds[feeds[0]]
        elif name in self.plan.delayed:
            self.values[name], self.bounds[name] = kernel.run(self.values[feeds[0]],
                                                              self.bound(feeds[0]))
        else:
            spikes, u, v = kernel.run(*self._input_sum(name, feeds), self.record,
                                      self.plan.rows_for(kernel.n), self.plan.pool())
            # graded spikes (sigma-delta): their bound comes from the data
            self.values[name], self.bounds[name] = spikes, (None if getattr(kernel, "graded", False)
                                                            else 1)
            if self.record:
                self.u[name], self.v[name] = u, v

    def _group_bounds(self, group: list[str]) -> dict[str, Optional[int]]:
        """Static bounds of a cycle's values: spikes are 0/1, synapse outputs follow."""
        plan, members = self.plan, set(group)
        bounds: dict[str, Optional[int]] = {n: 1 for n in group
                                            if isinstance(plan.graph.node(n), FxNeuron)}
        bounds.update({n: None for n in group if isinstance(plan.graph.node(n), FxGradedNeuron)})
        for _ in group:                     # synapse chains inside the cycle: settle in turns
            for n in group:
                if n in plan.delayed:
                    src = plan.feeds[n][0]
                    x_bound = bounds.get(src) if src in members else self.bound(src)
                    bounds[n] = None if x_bound is None else plan.kernels[n].out_bound(x_bound)
        return bounds

    def _stepped(self, group: list[str]) -> None:
        """Step a cycle in time exactly as the stepper does (emit, then synapses accumulate)."""
        ops, plan, members = self.ops, self.plan, set(group)
        kinds = {n: plan.graph.node(n) for n in group}
        bounds = self._group_bounds(group)
        ext: dict[str, Array] = {}
        for n in group:
            if isinstance(kinds[n], NEURONS):
                outside = [s for s in plan.feeds[n] if s not in members]
                ext[n], ext_bound = self._input_sum(n, outside)
                inner = [bounds.get(s) for s in plan.feeds[n] if s in members]
                a_bound = ext_bound + sum(b for b in inner if b is not None) \
                    if None not in inner else 2 ** 63
                plan.kernels[n].start(self.batch, self.steps, a_bound)
        for n in group:
            if n in plan.delayed:
                plan.kernels[n].start(self.batch)
        series: dict[str, list[Array]] = {n: [] for n in group}
        u_series: dict[str, list[Array]] = {n: [] for n in group}
        v_series: dict[str, list[Array]] = {n: [] for n in group}
        for t in range(self.steps):
            now: dict[str, Array] = {}
            for n in group:                                      # phase 1: emit
                if n in plan.delayed:
                    now[n] = plan.kernels[n].emit()
                elif isinstance(kinds[n], NEURONS):
                    kernel = plan.kernels[n]
                    a = ext[n][t]
                    for s in plan.feeds[n]:
                        if s in members:
                            x = now[s] if s in now else plan.kernels[s].emit()
                            a = a + ops.astype(x, a.dtype)
                    now[n] = kernel.step(a, t)
                    if self.record:
                        u_series[n].append(ops.astype(kernel.u, ops.int64))
                        v_series[n].append(ops.astype(kernel.v, ops.int64))
                else:                                            # Output
                    src = plan.feeds[n][0]
                    now[n] = now[src] if src in members else self.values[src][t]
                series[n].append(now[n])
            for n in group:                                      # phase 2: accumulate
                if n in plan.delayed:
                    src = plan.feeds[n][0]
                    x = now[src] if src in members else self.values[src][t]
                    bound = 1 if x.dtype == ops.bool_ else max(ops.max_abs(x), 1)
                    plan.kernels[n].accumulate(x, t, bound)
        stack = lambda xs: ops.concat([x[None] for x in xs], 0)   # noqa: E731
        for n in group:
            self.values[n], self.bounds[n] = stack(series[n]), bounds.get(n)
            if isinstance(kinds[n], NEURONS) and self.record:
                self.u[n] = ops.astype(stack(u_series[n]), ops.int32)
                self.v[n] = ops.astype(stack(v_series[n]), ops.int32)


def simulate_fast(graph: Graph, stimulus: np.ndarray, record_states: bool = False,
                  input_name: Optional[str] = None, *, backend: str | Ops = "numpy",
                  device: Optional[str] = None, batch_chunk: Optional[int] = None,
                  threads: Optional[int] = None, plan: Optional[Plan] = None) -> SimResult:
    """Run ``graph`` on spikes (T, B, *input_shape); same :class:`SimResult` as the stepper.

    ``backend``: ``"numpy"`` or ``"torch"`` (``device`` e.g. ``"cuda"``; default CUDA when
    available).  ``threads``: numpy worker threads for the neuron loops (default: one per
    CPU; torch parallelises by itself).  ``plan`` reuses prepared kernels across calls (it
    fixes the backend and threads).
    """
    ops = plan.ops if plan is not None else get_ops(backend, device)
    plan = plan or Plan(graph, ops, threads)
    flat = check_stimulus(graph, np.asarray(stimulus), input_name)
    steps, batch = flat.shape[:2]
    binary = flat.dtype == np.bool_ or bool(np.all((flat == 0) | (flat == 1)))
    stim_np = flat.astype(np.bool_ if binary else np.int64)
    stim_bound = 1 if binary else int(np.abs(stim_np).max(initial=0))
    chunk = batch_chunk or (DEFAULT_CPU_CHUNK if plan.on_cpu else DEFAULT_DEVICE_CHUNK)
    results = _Results(plan, steps, batch, record_states)
    for b0 in range(0, max(batch, 1), chunk):
        chunk_np = np.ascontiguousarray(stim_np[:, b0:b0 + chunk])
        run = _Run(plan, ops.asarray(chunk_np), stim_bound, record_states)
        run.run()
        results.add(run, b0)
    return results.result


class _Results:
    """The result arrays, allocated once and filled chunk by chunk (typed as the stepper's)."""

    def __init__(self, plan: Plan, steps: int, batch: int, record: bool) -> None:
        self.plan, self.steps, self.batch, self.record = plan, steps, batch, record
        self.result = SimResult(spikes={})
        self.neurons = [n for n in plan.order if isinstance(plan.graph.node(n), NEURONS)]

    def _put(self, table: dict, name: str, value: Array, b0: int, dtype) -> None:
        array = self.plan.ops.to_numpy(value)
        if name not in table:
            table[name] = np.empty((self.steps, self.batch) + tuple(array.shape[2:]), dtype)
        table[name][:, b0:b0 + array.shape[1]] = array

    def _dtype(self, run: "_Run", name: str):
        """bool for spikes; int32 for graded spikes and a graded (non-binary) input."""
        node = self.plan.graph.node(name)
        if isinstance(node, FxGradedNeuron) or (isinstance(node, Input) and run.stim.dtype != self.plan.ops.bool_):
            return np.int32
        return np.bool_

    def add(self, run: "_Run", b0: int) -> None:
        res = self.result
        for name in self.plan.spiking:
            self._put(res.spikes, name, run.values[name], b0, self._dtype(run, name))
        for name in self.plan.graph.output_names:
            src = self.plan.graph.inputs_of(name)[0]
            self._put(res.outputs, name, run.values[name], b0, self._dtype(run, src))
        if self.record:
            for name in self.neurons:
                self._put(res.u, name, run.u[name], b0, np.int32)
                self._put(res.v, name, run.v[name], b0, np.int32)
