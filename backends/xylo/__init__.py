"""SynSense Xylo runners of a fixed Xylo graph (``snncc compile --target xylo``).

* ``xylo``: snncc's own bit-accurate model of the v2 core (:mod:`.core`, numpy,
  vectorised over samples and neurons);
* ``xylosim``: SynSense's simulator (``xylosim.v2.XyloLayer``, the oracle), one sample at a
  time (:mod:`.oracle`); needs ``pip install xylosim==0.1.3`` (``make venv`` does it).

Both return a :class:`snncc.backends.sim.SimResult` per layer: spike *counts* (int,
``(T, B, n)``; hidden neurons emit up to 31 per step), ``u`` = synaptic current and ``v`` =
membrane potential after the step, on the chip's time base (see ``XyDense.delay_steps``).
"""
from .. import register_runner
from .core import simulate_xylo
from .oracle import simulate_xylosim

register_runner("xylo")(simulate_xylo)
register_runner("xylosim")(simulate_xylosim)

__all__ = ["simulate_xylo", "simulate_xylosim"]
