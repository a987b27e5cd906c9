"""Bit-accurate simulators of the fixed-point IR.

* ``sim``: :func:`simulate`, the time-stepping golden model (reference, bit-exact with Lava);
* ``fast``: :func:`simulate_fast` on numpy, whole layers over all time steps at once;
* ``torch``: the same implementation on torch (CUDA when available, else CPU).

All return the same :class:`SimResult`, bit for bit.  Nothing here imports torch at import
time, so the package loads in the torch-free Lava env.
"""
from .. import register_runner
from .stepper import SimResult, simulate
from .vectorized import Plan, Window, simulate_fast, simulate_windows

register_runner("sim")(simulate)


@register_runner("fast")
def simulate_numpy(graph, stimulus, record_states=False, input_name=None, **kwargs) -> SimResult:
    """The vectorized simulator on numpy."""
    return simulate_fast(graph, stimulus, record_states, input_name, backend="numpy", **kwargs)


@register_runner("torch")
def simulate_torch(graph, stimulus, record_states=False, input_name=None, **kwargs) -> SimResult:
    """The vectorized simulator on torch: ``device`` defaults to CUDA when available."""
    return simulate_fast(graph, stimulus, record_states, input_name, backend="torch", **kwargs)


__all__ = ["Plan", "SimResult", "Window", "simulate", "simulate_fast", "simulate_numpy",
           "simulate_torch", "simulate_windows"]
