"""snncc backends, looked up by name in :data:`RUNNERS`.

A runner executes a fixed-point graph on a stimulus (T, B, *input_shape) and returns a
:class:`snncc.backends.sim.SimResult` holding time-aligned spikes (and states on request),
so ``snncc verify`` can compare any backend against any other.
"""
from __future__ import annotations

from typing import Callable

RUNNERS: dict[str, Callable] = {}
# runners registered by a module other than snncc.backends.<name>
RUNNER_MODULES = {"fast": "sim", "torch": "sim", "xylosim": "xylo"}


def register_runner(name: str):
    def wrap(fn: Callable) -> Callable:
        RUNNERS[name] = fn
        return fn
    return wrap


def get_runner(name: str) -> Callable:
    """The runner called ``name``; importing its module registers it."""
    import importlib
    if name not in RUNNERS:
        try:
            importlib.import_module(f"snncc.backends.{RUNNER_MODULES.get(name, name)}")
        except ImportError:
            pass
    if name not in RUNNERS:
        from snncc.errors import SnnccError
        raise SnnccError(f"unknown backend {name!r}", "choose one of: sim, fast, torch, lava, xylo, xylosim")
    return RUNNERS[name]
