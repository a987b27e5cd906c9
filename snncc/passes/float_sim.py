"""A float reference stepper of the canonical CUBA-LIF graph (what ``lower_neurons`` produces).

It runs a lowered float graph (``Input``, ``Affine``, canonical ``CubaLIF``, ``Output``) with the
exact canonical equations, in float64 (or any numpy float dtype), on the **float model's time
base**: no synaptic delay, so its spikes line up step for step with
:func:`snncc.reference.run_float` on the torch model.  Neuron-specific input scales are expected
to be folded into the ``Affine`` rows already (``lower_neurons`` does it).

Per step and neuron, as documented on :class:`snncc.ir.nodes.CubaLIF`::

    i = alpha*i + g[t]*x                # x = W s + b of the feeding Affine; g = input_gain
                                        # (1 if None; row T-1 from step T on)
    v = beta*v
    v = mult*v - sub  where it spiked at t-1        (reset_delayed only)
    v = v + i + bias
    v = max(v, floor)                   (floor set only)
    s = v > threshold                   (strict)
    v = mult*v - sub  where s           (immediate reset only)

with ``(mult, sub) = CubaLIF.reset_terms()``: (0, 0) zero reset, (1, threshold) subtract.
Pure numpy: it serves tests and any pass that wants a float ground truth of a lowered graph.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import SnnccError
from ..ir import Affine, CubaLIF, Graph, Input, Output


def simulate_float(graph: Graph, stimulus: np.ndarray, dtype=np.float64,
                   states: Optional[dict[str, np.ndarray]] = None) -> dict[str, np.ndarray]:
    """Run ``graph`` on ``stimulus`` (T, B, *input_shape); spikes (bool, (T, B, n)) per neuron and output.

    A dict passed as ``states`` receives each neuron layer's membrane ``v`` (T, B, n) as the
    step leaves it (after an immediate reset), as the fixed-point simulator records it.
    """
    stimulus = np.asarray(stimulus)
    if stimulus.ndim < 2:
        raise SnnccError(f"stimulus must be (time, batch, *input_shape), got shape {stimulus.shape}",
                         "pass spikes with a time and a batch axis")
    steps, batch = stimulus.shape[:2]
    flat = stimulus.reshape(steps, batch, -1).astype(dtype)
    order = graph.order()
    for name in order:
        node = graph.node(name)
        if not isinstance(node, (Input, Affine, CubaLIF, Output)):
            raise SnnccError(f"simulate_float cannot run node {name!r} of kind {node.kind!r}",
                             "pass a lowered float graph (snncc.passes.lower_neurons)")
        if graph.recurrent_inputs_of(name):
            raise SnnccError(f"simulate_float does not support recurrent edges (node {name!r})")

    state: dict[str, dict[str, np.ndarray]] = {}
    params: dict[str, dict] = {}
    for node in graph.of_type(CubaLIF):
        n = int(np.prod(node.shape))
        mult, sub = node.reset_terms()
        params[node.name] = {
            "alpha": np.asarray(node.alpha, dtype).reshape(n),
            "beta": np.asarray(node.beta, dtype).reshape(n),
            "thr": np.asarray(node.threshold, dtype).reshape(n),
            "bias": np.asarray(node.bias, dtype).reshape(n),
            "mult": np.broadcast_to(np.asarray(mult, dtype), node.threshold.shape).reshape(n),
            "sub": np.broadcast_to(np.asarray(sub, dtype), node.threshold.shape).reshape(n),
            "floor": None if node.floor is None else dtype(node.floor),
            "delayed": bool(node.reset_delayed),
            "gain": None if node.input_gain is None
            else np.asarray(node.input_gain, dtype).reshape(-1, n),
        }
        state[node.name] = {"i": np.zeros((batch, n), dtype), "v": np.zeros((batch, n), dtype),
                            "s": np.zeros((batch, n), dtype=bool)}
    affines = {node.name: (np.asarray(node.weight, dtype),
                           None if node.bias is None else np.asarray(node.bias, dtype))
               for node in graph.of_type(Affine)}

    recorded = [n for n in order if isinstance(graph.node(n), (CubaLIF, Output))]
    out = {n: np.zeros((steps, batch, 0), dtype=bool) for n in recorded}
    traces: dict[str, list[np.ndarray]] = {n: [] for n in recorded}
    for t in range(steps):
        values: dict[str, np.ndarray] = {}
        for name in order:
            node = graph.node(name)
            ins = [values[s] for s in graph.inputs_of(name)]
            if isinstance(node, Input):
                values[name] = flat[t]
            elif isinstance(node, Affine):
                w, b = affines[name]
                y = ins[0].reshape(batch, -1).astype(dtype) @ w.T
                values[name] = y if b is None else y + b
            elif isinstance(node, CubaLIF):
                p, st = params[name], state[name]
                x = ins[0] if p["gain"] is None else p["gain"][min(t, len(p["gain"]) - 1)] * ins[0]
                st["i"] = p["alpha"] * st["i"] + x
                v = p["beta"] * st["v"]
                if p["delayed"]:
                    v = np.where(st["s"], p["mult"] * v - p["sub"], v)
                v = v + st["i"] + p["bias"]
                if p["floor"] is not None:
                    v = np.maximum(v, p["floor"])
                s = v > p["thr"]
                st["v"] = v if p["delayed"] else np.where(s, p["mult"] * v - p["sub"], v)
                st["s"] = s
                values[name] = s
                if states is not None:
                    states.setdefault(name, np.zeros((steps, batch, s.shape[1]), dtype))[t] = st["v"]
            else:   # Output
                values[name] = ins[0]
        for n in recorded:
            traces[n].append(np.asarray(values[n], dtype=bool).reshape(batch, -1))
    for n in recorded:
        out[n] = np.stack(traces[n]) if steps else out[n]
    return out
