"""Checks that make silent nonsense loud: a layer that never fires or always fires, a time
step that leaves a time constant shorter than a step or absurdly long, a verification that
compares nothing but zeros.

A wrong ``dt`` or ``r`` convention on a NIR import does not fail: it silences a layer or
saturates it.  These checks turn that into a warning with the likely cause and the option
that fixes it.  They return warning strings; the API collects them
(``CompileResult.warnings``, ``VerifyResult.warnings``) and the CLI prints each as one
``warning:`` line.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .ir import Graph
from .ir.nodes import NeuronNode

PROBE_RATE = 0.2          # input spike probability per element and step
PROBE_STEPS = 100
PROBE_SAMPLES = 4
ALWAYS = 0.95             # a layer "always fires" at this fraction of neuron-steps
LONG_TAU_STEPS = 1e5      # a time constant this many steps long is "absurdly long"
MAX_PROBE_ELEMENTS = 2_000_000   # skip the probe on graphs with bigger tensors (cost)


def _nir_hint(graph: Graph) -> str:
    info = graph.meta.get("nir_import")
    if not info:
        return "check the input scaling and the weights"
    return (f"the file was read at dt = {info['dt']:g} s ({info['dt_source']}) with the "
            f"{', '.join(sorted(set(info['conventions'].values()))) or '-'} convention: if "
            "that is not how it was trained, pass --dt or --convention (euler, unit-pulse, "
            "exp-euler)")


def activity_warnings(rates: dict[str, float], where: str, graph: Graph) -> list[str]:
    """Warnings for layers whose spike rate (fraction of neuron-steps) is 0 or >= ALWAYS."""
    out = []
    hint = _nir_hint(graph)
    silent = [n for n, r in rates.items() if r == 0]
    busy = [n for n, r in rates.items() if r >= ALWAYS]
    if silent:
        out.append(f"layer(s) {', '.join(silent[:6])} never fire on {where}: likely input gains "
                   f"too small; {hint}")
    if busy:
        out.append(f"layer(s) {', '.join(busy[:6])} fire at nearly every step on {where}: "
                   f"likely input gains too large or thresholds too low; {hint}")
    return out


def probe(lowered: Graph, seed: int = 0) -> Optional[dict[str, float]]:
    """Spike rate per neuron layer of the float model on random input spikes
    (``PROBE_SAMPLES`` x ``PROBE_STEPS``, rate ``PROBE_RATE``); None for big graphs."""
    from .passes.float_sim import simulate_float
    shapes = lowered.shapes()
    if max(int(np.prod(s)) for s in shapes.values()) * PROBE_SAMPLES > MAX_PROBE_ELEMENTS:
        return None
    shape = lowered.node(lowered.input_names[0]).shape
    x = np.random.default_rng(seed).random((PROBE_STEPS, PROBE_SAMPLES) + tuple(shape)) < PROBE_RATE
    spikes = simulate_float(lowered, x.astype(np.float32))
    return {n: float(np.mean(spikes[n])) for n in lowered.order()
            if isinstance(lowered.node(n), NeuronNode)}


def time_constant_warnings(lowered: Graph) -> list[str]:
    """Layers whose decays say the time constants are about one step, or absurdly long."""
    out = []
    dt = lowered.meta.get("dt")
    for node in lowered.of_type(NeuronNode):
        for label, decay in (("membrane", getattr(node, "beta", None)),
                             ("synaptic", getattr(node, "alpha", None))):
            if decay is None or label == "synaptic" and not np.any(decay):
                continue
            d = np.asarray(decay, np.float64)
            leaky = d[d < 1]
            if leaky.size and np.all(leaky <= 0) and label == "membrane" and \
                    node.name in lowered.meta.get("nir_conventions", {}):
                out.append(f"layer {node.name!r}: the {label} time constant is one step or less "
                           f"at dt = {dt:g} s (decay 0: no memory); {_nir_hint(lowered)}")
            elif leaky.size and np.all(leaky > 1 - 1 / LONG_TAU_STEPS):
                out.append(f"layer {node.name!r}: the {label} time constant is over "
                           f"{LONG_TAU_STEPS:.0e} steps at dt = {dt:g} s (no decay in practice); "
                           f"{_nir_hint(lowered)}")
    return out


def compile_warnings(compiled) -> list[str]:
    """What compile checks on a NIR import: time constants and a random-input probe."""
    graph = compiled.float_graph
    if "nir_import" not in graph.meta:
        return []
    out = time_constant_warnings(compiled.lowered)
    rates = probe(compiled.lowered)
    if rates is not None:
        out += activity_warnings(rates, f"a random probe ({PROBE_SAMPLES} x {PROBE_STEPS} "
                                        f"steps, input rate {PROBE_RATE:.0%})", graph)
    return out


def verify_warnings(report: dict, graph: Graph) -> list[str]:
    """What verify checks on the data: silent or saturated layers, zero activity compared."""
    layers = report.get("layers", [])
    out = activity_warnings({l["name"]: l["rate_float"] for l in layers}, "the data", graph)
    if layers and all(l["rate_float"] == 0 and l["rate_quant"] == 0 for l in layers[-1:]):
        out.append("verify compared zero activity: the output layer fires neither in float nor "
                   "quantized, so its agreement says nothing; " + _nir_hint(graph))
    return out
