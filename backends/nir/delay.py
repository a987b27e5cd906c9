"""NIR ``Delay`` (``nir.Delay``: ``y(t) = x(t - delay)``, delay in seconds) <-> snncc's
``SpikeDelay`` (delay in steps of ``dt``), and delayed Linear layers for export.

NIR has no per-synapse delays: a ``DelayAffine`` (``snncc.nn.DelayedLinear``, lava-dl netx
delays) is exported as a ``Delay`` before its ``Linear`` when the delays are per input
(axonal), after it when they are per output (dendritic), and refused otherwise.  On import a
``Delay`` must be a whole number of time steps; next to one Linear it composes back into
delayed synapses (Lava's ``DelayDense``).
"""
from __future__ import annotations

import numpy as np

from ...errors import SnnccError
from ...ir import Affine, DelayAffine, Graph, SpikeDelay
from ...ir.delays import MAX_DELAY
from .export import EXPORTERS
from .importer import IMPORTERS


def _export(node: SpikeDelay, dt: float):
    import nir
    return nir.Delay(delay=np.asarray(node.delay, np.float64) * dt)


def _import(name, n, ctx):
    steps = np.asarray(n.delay, np.float64) / ctx.dt
    if np.any(np.abs(steps - np.round(steps)) > 1e-6) or np.any(steps < 0):
        raise SnnccError(f"NIR node {name!r}: delays of {np.asarray(n.delay).tolist()[:4]} s are "
                         f"not whole steps of dt = {ctx.dt:g}", "check the time step (--dt)")
    if np.any(steps > MAX_DELAY):
        raise SnnccError(f"NIR node {name!r}: a delay of {float(np.max(steps)):g} steps of dt = "
                         f"{ctx.dt:g} s; snncc holds delays of up to {MAX_DELAY} steps (Lava's "
                         "DelayDense)", "check the time step (--dt), or shorten the delay")
    return SpikeDelay(name, delay=np.round(steps).astype(np.int64)), None


EXPORTERS[SpikeDelay] = _export
IMPORTERS["Delay"] = _import


def expand_delays(graph: Graph) -> Graph:
    """``graph`` with every DelayAffine written as a SpikeDelay and an Affine (for NIR)."""
    if not any(isinstance(n, DelayAffine) for n in graph.nodes()):
        return graph
    out = Graph(dict(graph.meta))
    rename: dict[str, str] = {}
    for node in graph.nodes():
        ins = [rename.get(s, s) for s in graph.inputs_of(node.name)]
        if not isinstance(node, DelayAffine):
            out.add(node, ins)
            continue
        d = np.asarray(node.delay, np.int64)
        affine = Affine(node.name, weight=np.asarray(node.weight), bias=node.bias)
        if np.all(d == d[:1, :]):               # per input: a delay of the spikes (axonal)
            out.add(SpikeDelay(f"{node.name}.delay", delay=d[0].copy()), ins)
            out.add(affine, [f"{node.name}.delay"])
        elif np.all(d == d[:, :1]):             # per output: a delay of the current
            out.add(affine, ins)
            out.add(SpikeDelay(f"{node.name}.delay", delay=d[:, 0].copy()), [node.name])
            rename[node.name] = f"{node.name}.delay"
        else:
            raise SnnccError(f"layer {node.name!r}: delays that vary per synapse have no NIR "
                             "1.0 form (nir.Delay delays a whole tensor)",
                             "keep the network as netx (snncc compile --netx), or use delays "
                             "per input or per output")
    for src, dst, _, rec in graph.edges():
        if rec:
            out.add_recurrent(rename.get(src, src), dst)
    return out


def refuse_without_nir_form(graph: Graph) -> None:
    """Refuse by name what NIR 1.0 cannot hold: sigma-delta neurons, periodic resets."""
    for node in graph.nodes():
        if getattr(node, "graded", False):
            raise SnnccError(f"layer {node.name!r} is a sigma-delta neuron: NIR 1.0 has no "
                             "sigma-delta (graded-spike) neuron", "export it as lava-dl netx "
                             "instead (snncc compile --netx writes network.net)")
        if hasattr(node, "reset_interval"):
            raise SnnccError(f"layer {node.name!r} resets periodically: NIR 1.0 has no periodic "
                             "reset", "export it as lava-dl netx (the reset interval goes with "
                             "the file), or reset the NIR simulator between samples")
