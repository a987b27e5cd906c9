"""Which kernel runs which IR node kind in the vectorized runners (``fast``, ``torch``).

A new node kind is one new file that defines its kernel class and registers it::

    from snncc.backends.sim.registry import register_kernel

    @register_kernel(FxMyNeuron)
    class MyNeuronKernel: ...

and imports itself from ``backends/sim/__init__.py`` (as the stepper's executors do with
``stepper.executor``).  A kernel is made once per graph as ``cls(ops, node)`` and is one of
two kinds; the methods in brackets are optional and enable what they say:

* **synapse-like** (output delayed by at least one step; breaks same-step cycles): a
  subclass of :class:`snncc.backends.sim.dense.Delayed` with
  ``run(x (T, B, ...), x_bound) -> (out (T, B, n_out), bound)``, ``out_bound(x_bound)``,
  ``start(batch)``/``emit()``/``accumulate(x_t, t, x_bound)`` (stepping, for cycles), and
  [``lag``: how many past input steps an output depends on, with
  ``run(x, x_bound, t0=, prev=(lag, B, ...) or None)``: time windows];
* **neuron-like** (state, same-step output): ``n``, ``run(a_in (T, B, n), a_bound, record,
  rows, pool) -> (out, u or None, v or None)``, ``start(batch, steps, a_bound)`` and
  ``step(a_t, t)`` with ``u``/``v`` attributes (stepping), and [``new_state(batch)`` with
  ``run(..., t0=, state=, total_steps=)``: time windows; ``rebound(steps, a_bound)``].

A graph whose kernels all support time windows runs in windows of bounded memory; otherwise
in one window of all steps (same results, memory growing with T).
"""
from __future__ import annotations

from typing import Callable

KERNELS: dict[type, type] = {}


def register_kernel(node_type: type) -> Callable[[type], type]:
    """Class decorator: run nodes of ``node_type`` (an IR node class) with this kernel."""
    def wrap(cls: type) -> type:
        KERNELS[node_type] = cls
        return cls
    return wrap


def kernel_for(node) -> type | None:
    """The kernel class registered for ``node``'s exact type (a subclass of a registered
    kind is not run as its parent: it may mean something else), or None."""
    return KERNELS.get(type(node))


def windowed(kernel) -> bool:
    """Whether ``kernel`` can run a long run in time windows (see the module docstring)."""
    return hasattr(kernel, "lag") or hasattr(kernel, "new_state")
