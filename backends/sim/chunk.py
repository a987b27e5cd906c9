"""One batch chunk of the vectorized simulator, run window after window of time steps.

Within a window every node runs once over all the window's steps (synapses as one exact
matmul or event loop, neurons as a loop over time), in the plan's order; nodes on a cycle
are stepped together in the stepper's order.  Across windows it carries exactly what the
next window needs: each neuron's state (u, v, last spikes), the last ``lag`` input steps of
each synapse or delay line, and the stepping state of cycles.  So the results do not depend
on where the windows are cut, and the memory of a run is that of one window, whatever T.
"""
from __future__ import annotations

from typing import Optional

from snncc.ir import Input, Output

from .exact import exact_dtype
from .xp import Array


class ChunkRun:
    """The state of one batch chunk between windows, and the values of the current one."""

    def __init__(self, plan, batch: int, total_steps: int, record: bool) -> None:
        self.plan, self.ops, self.record = plan, plan.ops, record
        self.batch, self.total = batch, total_steps
        self.states: dict[str, object] = {}         # neuron name -> kernel state
        self.prev: dict[str, tuple[Array, int]] = {}  # synapse name -> (last lag inputs, bound)
        self.started: set[int] = set()               # stepped groups already started
        self.t0 = 0

    # one window ----------------------------------------------------------------------
    def window(self, stim: Array, stim_bound: int) -> None:
        """Run the next ``stim.shape[0]`` steps; the values are then in ``self.values``."""
        self.steps = int(stim.shape[0])
        self.values: dict[str, Array] = {}
        self.bounds: dict[str, Optional[int]] = {}
        self.u: dict[str, Array] = {}
        self.v: dict[str, Array] = {}
        self.stim, self.stim_bound = stim, stim_bound
        for i, group in enumerate(self.plan.groups):
            if len(group) == 1 and group[0] not in self.plan.feeds[group[0]]:
                self._whole(group[0])
            else:
                self._stepped(i, group)
            for name in self.plan.free_after.get(i, ()):     # bound the peak memory
                del self.values[name]
        self.t0 += self.steps

    def bound(self, name: str) -> int:
        """A bound on ``|value|`` of a node (computed from the data where not known)."""
        if self.bounds.get(name) is None:
            self.bounds[name] = self.ops.max_abs(self.values[name])
        return self.bounds[name]

    def _input_sum(self, name: str, srcs: list[str]) -> tuple[Array, int]:
        """The summed input of a neuron over the window's steps and a bound on it."""
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

    def _tail(self, name: str, x: Array, x_bound: int, lag: int) -> None:
        """Keep the last ``lag`` input steps of a synapse for the next window (a copy)."""
        ops = self.ops
        if self.t0 + self.steps >= self.total or not lag:
            return
        old = self.prev.get(name)
        if int(x.shape[0]) < lag:
            before = old[0] if old is not None else \
                ops.zeros((lag,) + tuple(x.shape[1:]), x.dtype)
            x = ops.concat([ops.astype(before, x.dtype), x], 0)
            x_bound = max(x_bound, old[1] if old is not None else 0)
        self.prev[name] = (ops.copy(x[-lag:]), x_bound)

    def _whole(self, name: str) -> None:
        plan = self.plan
        node, feeds = plan.graph.node(name), plan.feeds[name]
        kernel = plan.kernels.get(name)
        if isinstance(node, Input):
            self.values[name], self.bounds[name] = self.stim, self.stim_bound
        elif isinstance(node, Output):
            self.values[name], self.bounds[name] = self.values[feeds[0]], self.bounds[feeds[0]]
        elif name in plan.delayed:
            x, x_bound = self.values[feeds[0]], self.bound(feeds[0])
            if plan.windowed:
                old = self.prev.get(name)
                run_bound = max(x_bound, old[1]) if old is not None else x_bound
                out = kernel.run(x, run_bound, t0=self.t0,
                                 prev=None if old is None else old[0])
                self._tail(name, x, x_bound, kernel.lag)
            else:
                out = kernel.run(x, x_bound)
            self.values[name], self.bounds[name] = out
        else:
            a_in, a_bound = self._input_sum(name, feeds)
            rows, pool = plan.rows_for(kernel.n), plan.pool()
            if plan.windowed:
                if name not in self.states:
                    self.states[name] = kernel.new_state(self.batch)
                spikes, u, v = kernel.run(a_in, a_bound, self.record, rows, pool, t0=self.t0,
                                          state=self.states[name], total_steps=self.total)
            else:
                spikes, u, v = kernel.run(a_in, a_bound, self.record, rows, pool)
            self.values[name] = spikes
            self.bounds[name] = None if getattr(kernel, "graded", False) else 1
            if self.record:
                self.u[name], self.v[name] = u, v

    def _group_bounds(self, group: list[str]) -> dict[str, Optional[int]]:
        """Static bounds of a cycle's values: spikes are 0/1, synapse outputs follow."""
        plan, members = self.plan, set(group)
        bounds: dict[str, Optional[int]] = {
            n: None if getattr(plan.kernels[n], "graded", False) else 1
            for n in group if n in plan.kernels and n not in plan.delayed}
        for _ in group:                     # synapse chains inside the cycle: settle in turns
            for n in group:
                if n in plan.delayed:
                    src = plan.feeds[n][0]
                    x_bound = bounds.get(src) if src in members else self.bound(src)
                    bounds[n] = None if x_bound is None else plan.kernels[n].out_bound(x_bound)
        return bounds

    def _stepped(self, index: int, group: list[str]) -> None:
        """Step a cycle in time exactly as the stepper does (emit, then synapses accumulate);
        kernels keep their stepping state from one window to the next."""
        ops, plan, members = self.ops, self.plan, set(group)
        kinds = {n: plan.graph.node(n) for n in group}
        neurons = [n for n in group if n in plan.kernels and n not in plan.delayed]
        bounds = self._group_bounds(group)
        ext: dict[str, Array] = {}
        first = index not in self.started
        for n in neurons:
            outside = [s for s in plan.feeds[n] if s not in members]
            ext[n], ext_bound = self._input_sum(n, outside)
            inner = [bounds.get(s) for s in plan.feeds[n] if s in members]
            a_bound = ext_bound + sum(b for b in inner if b is not None) \
                if None not in inner else 2 ** 63
            if first:
                plan.kernels[n].start(self.batch, self.total, a_bound)
            elif hasattr(plan.kernels[n], "rebound"):
                plan.kernels[n].rebound(self.total, a_bound)
        if first:
            for n in group:
                if n in plan.delayed:
                    plan.kernels[n].start(self.batch)
            self.started.add(index)
        series: dict[str, list[Array]] = {n: [] for n in group}
        u_series: dict[str, list[Array]] = {n: [] for n in group}
        v_series: dict[str, list[Array]] = {n: [] for n in group}
        for t in range(self.steps):
            now: dict[str, Array] = {}
            for n in group:                                      # phase 1: emit
                if n in plan.delayed:
                    now[n] = plan.kernels[n].emit()
                elif n in ext:
                    kernel = plan.kernels[n]
                    a = ext[n][t]
                    for s in plan.feeds[n]:
                        if s in members:
                            x = now[s] if s in now else plan.kernels[s].emit()
                            a = a + ops.astype(x, a.dtype)
                    now[n] = kernel.step(a, self.t0 + t)
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
                    plan.kernels[n].accumulate(x, self.t0 + t, bound)
        stack = lambda xs: ops.concat([x[None] for x in xs], 0)   # noqa: E731
        for n in group:
            if not series[n]:
                continue
            self.values[n], self.bounds[n] = stack(series[n]), bounds.get(n)
            if n in ext and self.record:
                self.u[n] = ops.astype(stack(u_series[n]), ops.int32)
                self.v[n] = ops.astype(stack(v_series[n]), ops.int32)
