"""Vectorized fixed-point simulator: whole layers over many time steps, numpy or torch.

Same results as :mod:`snncc.backends.sim.stepper` (the golden model, bit-exact with Lava),
bit for bit, much faster: every synapse (Dense, Conv) delays by one step, so in a
feed-forward graph a layer's input is known for all steps before the layer runs.  Each
node then runs once over a whole ``(T, B, n)`` series: a Dense or Conv as one exact
matmul (or an event loop over the spikes), a delay line as a shifted copy, a neuron as a
loop over time.  Nodes on a cycle (recurrent edges) are grouped (strongly connected
components) and stepped together, in the stepper's order.

Memory is bounded by a budget (``max_bytes``), not by the data: the batch is cut into
chunks (samples are independent) and time into windows (``chunk.py`` carries the state
from one window to the next), sized from the graph's widths.  :func:`simulate_windows`
hands each window's values to a caller (streaming: nothing grows with T);
:func:`simulate_fast` collects them into one :class:`SimResult`.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator, Optional

import networkx as nx
import numpy as np

from snncc.errors import SnnccError
from snncc.ir import Graph, Input, Output

from . import dense, neuron, spatial  # noqa: F401  (they register their kernels)
from .chunk import ChunkRun
from .dense import Delayed, SynapseKernel
from .registry import KERNELS, kernel_for, register_kernel, windowed  # noqa: F401
from .stepper import SimResult
from .xp import Ops, get_ops

DEFAULT_CPU_CHUNK = 1024          # samples per pass through the graph at most
DEFAULT_DEVICE_CHUNK = 65536
CACHE_ELEMENTS = 32768            # per-step neuron arrays of this size stay in L2
CPU_BUDGET = 256 * 2 ** 20        # bytes of a window's values (chunk x window x widths)
DEVICE_BUDGET = 4 * 2 ** 30
MIN_WINDOW = 64                   # steps per window before the batch chunk shrinks further


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
            kernel = kernel_for(node)
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
        self.neurons = [n for n in self.order if n in self.kernels and n not in self.delayed]
        self.spiking = [n for n in self.order if isinstance(graph.node(n), Input)
                        or n in self.neurons]
        self.on_cpu = getattr(ops, "device", None) is None or ops.device.type == "cpu"
        self.windowed = all(windowed(k) for k in self.kernels.values())
        pool = self.pool()
        for k in self.kernels.values():       # convs cut a window's rows among threads
            if isinstance(k, SynapseKernel) and pool is not None:
                k.pool, k.threads = pool, self.threads

    def step_bytes(self, record: bool) -> int:
        """Bytes one sample-step of a window holds at most: every spiking node's output
        (1 byte a value; 8 more for u and v when recorded) and a few synapse outputs and
        neuron temporaries of the widest layer (8 bytes a value)."""
        widths = {n: int(np.prod(self.graph.node(n).shape)) for n in self.spiking
                  if getattr(self.graph.node(n), "shape", None) is not None}
        widest = max([getattr(k, "n_out", getattr(k, "n", 0)) for k in self.kernels.values()]
                     + [1])
        return sum(widths.values()) * (9 if record else 1) + 4 * 8 * widest

    def sizes(self, steps: int, batch: int, record: bool, batch_chunk: Optional[int] = None,
              max_bytes: Optional[int] = None) -> tuple[int, int]:
        """(samples per chunk, steps per window) that keep a window within ``max_bytes``."""
        budget = max_bytes or (CPU_BUDGET if self.on_cpu else DEVICE_BUDGET)
        per = self.step_bytes(record)
        chunk = min(max(batch, 1), batch_chunk or (DEFAULT_CPU_CHUNK if self.on_cpu
                                                   else DEFAULT_DEVICE_CHUNK))
        if not batch_chunk:
            chunk = max(1, min(chunk, budget // (per * max(min(steps, MIN_WINDOW), 1))))
        if not self.windowed:
            return chunk, max(steps, 1)
        return chunk, max(1, min(max(steps, 1), budget // (per * chunk)))

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


@dataclass
class Window:
    """The values of one window: steps ``t0 .. t0 + T - 1`` of samples ``b0 .. b0 + B - 1``.

    ``spikes``: every input and neuron layer's spikes (T, B, n) bool; ``outputs``: each
    Output node's; ``u``/``v``: neuron states (T, B, n) int32 when recorded.  numpy arrays.
    """

    t0: int
    b0: int
    spikes: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    u: dict[str, np.ndarray] = field(default_factory=dict)
    v: dict[str, np.ndarray] = field(default_factory=dict)


def _prepare(graph, stimulus, input_name, backend, device, threads, plan):
    ops = plan.ops if plan is not None else get_ops(backend, device)
    plan = plan or Plan(graph, ops, threads)
    flat = check_stimulus(graph, stimulus, input_name)
    return plan, flat


def simulate_windows(graph: Graph, stimulus, record_states: bool = False,
                     input_name: Optional[str] = None, *, backend: str | Ops = "numpy",
                     device: Optional[str] = None, batch_chunk: Optional[int] = None,
                     window: Optional[int] = None, max_bytes: Optional[int] = None,
                     threads: Optional[int] = None, plan: Optional["Plan"] = None
                     ) -> Iterator[Window]:
    """Run ``graph`` on spikes (T, B, *input_shape) and yield its values window by window.

    ``stimulus`` may be any array-like that slices (a numpy array, a memory map); only one
    window of it is read at a time.  Windows come batch chunk by batch chunk, in time order
    within a chunk.  ``window``/``batch_chunk`` fix the sizes, else they follow
    ``max_bytes`` (default 256 MiB on a CPU).  Other arguments as :func:`simulate_fast`.
    """
    plan, flat = _prepare(graph, stimulus, input_name, backend, device, threads, plan)
    ops = plan.ops
    steps, batch = int(flat.shape[0]), int(flat.shape[1])
    chunk, win = plan.sizes(steps, batch, record_states, batch_chunk, max_bytes)
    if window and plan.windowed:
        win = max(1, int(window))
    binary, stim_bound = _stimulus_kind(flat, max(win, 1))
    for b0 in range(0, max(batch, 1), chunk):
        b1 = min(b0 + chunk, batch)
        run = ChunkRun(plan, b1 - b0, steps, record_states)
        for t0 in range(0, max(steps, 1), win):
            t1 = min(t0 + win, steps)
            part = np.asarray(flat[t0:t1, b0:b1])
            part = part.astype(np.bool_ if binary else np.int64)
            run.window(ops.asarray(np.ascontiguousarray(part)), stim_bound)
            yield _window(plan, run, t0, b0)


def _stimulus_kind(flat, win: int) -> tuple[bool, int]:
    """(binary, bound) of the stimulus, read window by window (bool input: no pass).
    Values are taken as the stepper takes them: cast to int64 (fractions truncated)."""
    if flat.dtype == np.bool_:
        return True, 1
    lo = hi = 0
    for t0 in range(0, int(flat.shape[0]), win):
        part = np.asarray(flat[t0:t0 + win])
        if part.size:
            lo, hi = min(lo, int(part.min())), max(hi, int(part.max()))
    binary = lo >= 0 and hi <= 1
    return binary, (1 if binary else max(-lo, hi))


def _window(plan: "Plan", run: ChunkRun, t0: int, b0: int) -> Window:
    """The window's values as numpy: spikes bool, graded spikes (kernels with ``graded``)
    int32 as the stepper records them."""
    to_np = plan.ops.to_numpy

    def spikes(name: str) -> np.ndarray:
        graded = getattr(plan.kernels.get(name), "graded", False)
        return to_np(run.values[name]).astype(np.int32 if graded else np.bool_, copy=False)
    out = Window(t0, b0, {n: spikes(n) for n in plan.spiking})
    for name in plan.graph.output_names:
        out.outputs[name] = spikes(plan.feeds[name][0]) if plan.feeds[name] else \
            to_np(run.values[name]).astype(np.bool_, copy=False)
    for name in (plan.neurons if run.record else ()):
        out.u[name], out.v[name] = to_np(run.u[name]), to_np(run.v[name])
    return out


def simulate_fast(graph: Graph, stimulus: np.ndarray, record_states: bool = False,
                  input_name: Optional[str] = None, *, backend: str | Ops = "numpy",
                  device: Optional[str] = None, batch_chunk: Optional[int] = None,
                  threads: Optional[int] = None, plan: Optional[Plan] = None,
                  window: Optional[int] = None, max_bytes: Optional[int] = None) -> SimResult:
    """Run ``graph`` on spikes (T, B, *input_shape); same :class:`SimResult` as the stepper.

    ``backend``: ``"numpy"`` or ``"torch"`` (``device`` e.g. ``"cuda"``; default CUDA when
    available).  ``threads``: numpy worker threads for the neuron loops (default: one per
    CPU; torch parallelises by itself).  ``plan`` reuses prepared kernels across calls (it
    fixes the backend and threads).  ``batch_chunk``, ``window``, ``max_bytes``: see
    :func:`simulate_windows` (they change the memory used, never the results).
    """
    stimulus = np.asarray(stimulus)
    result = SimResult(spikes={})
    steps, batch = (stimulus.shape[:2] if stimulus.ndim >= 2 else (0, 0))
    for win in simulate_windows(graph, stimulus, record_states, input_name, backend=backend,
                                device=device, batch_chunk=batch_chunk, window=window,
                                max_bytes=max_bytes, threads=threads, plan=plan):
        for table, values in ((result.spikes, win.spikes), (result.outputs, win.outputs),
                              (result.u, win.u), (result.v, win.v)):
            for name, array in values.items():
                if name not in table:
                    table[name] = np.empty((steps, batch) + array.shape[2:], array.dtype)
                table[name][win.t0:win.t0 + array.shape[0],
                            win.b0:win.b0 + array.shape[1]] = array
    return result
