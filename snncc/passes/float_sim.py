"""A float reference stepper of the canonical CUBA-LIF graph (what ``lower_neurons`` produces).

It runs a lowered float graph (``Input``, ``Affine``, canonical ``CubaLIF``, ``Output``) with the
exact canonical equations, in float64 (or any numpy float dtype), on the **float model's time
base**: no synaptic delay, so its spikes line up step for step with
:func:`snncc.reference.run_float` on the torch model.  Neuron-specific input scales are expected
to be folded into the ``Affine`` rows already (``lower_neurons`` does it).

It also runs traced and composed graphs of deep networks: every memoryless node kind in
:data:`FLOAT_OPS` (Conv2d, pooling, Flatten, residual Add, BatchNorm, Scale, Affine), neurons
not lowered yet (their canonical form, input scale applied), several inputs into one neuron
(their sum) and recurrent edges (the source's value of the previous step, zeros at step 0).
So the traced graph, the lowered graph and the composed synapse graph can be checked against
each other and against the torch model.

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

from typing import Callable, Optional

import numpy as np

from .. import convmath
from ..errors import SnnccError
from ..ir import (Add, Affine, BatchNorm, Conv2d, CubaLIF, Flatten, Graph, Input, MaxPool2d,
                  Output, Pool2d, Scale)
from ..ir.nodes import NeuronNode, Node

# Memoryless nodes: kind -> factory(node, input shapes, dtype) -> f(inputs) -> output
# (batch, *shape).  Adding a node kind to the float reference = registering it here.
FloatOp = Callable[[list[np.ndarray]], np.ndarray]
FLOAT_OPS: dict[str, Callable[[Node, list[tuple], type], FloatOp]] = {}


def float_op(kind: str):
    def wrap(factory):
        FLOAT_OPS[kind] = factory
        return factory
    return wrap


@float_op(Affine.kind)
def _affine(node: Affine, in_shapes, dtype) -> FloatOp:
    w = np.asarray(node.weight, dtype)
    b = None if node.bias is None else np.asarray(node.bias, dtype)

    def run(ins):
        y = ins[0].reshape(ins[0].shape[0], -1).astype(dtype) @ w.T
        return y if b is None else y + b
    return run


def _conv_like(spec: convmath.ConvSpec, bias, in_shape, dtype) -> FloatOp:
    spec = convmath.ConvSpec(np.asarray(spec.weight, dtype), spec.stride, spec.padding, spec.groups)
    out_shape = (spec.out_channels,) + spec.out_hw(in_shape[1:])
    b = convmath.full_bias(bias, out_shape)

    def run(ins):
        x = ins[0].reshape((ins[0].shape[0],) + tuple(in_shape)).astype(dtype)
        y = convmath.conv2d(x, spec, dtype)
        return y if b is None else y + b.astype(dtype)
    return run


@float_op(Conv2d.kind)
def _conv2d(node: Conv2d, in_shapes, dtype) -> FloatOp:
    return _conv_like(node.spec(), node.bias, in_shapes[0], dtype)


@float_op(Pool2d.kind)
def _pool2d(node: Pool2d, in_shapes, dtype) -> FloatOp:
    return _conv_like(node.spec(in_shapes[0][0]), None, in_shapes[0], dtype)


@float_op(MaxPool2d.kind)
def _maxpool2d(node: MaxPool2d, in_shapes, dtype) -> FloatOp:
    c, h, w = in_shapes[0]
    (kh, kw), (sh, sw), (ph, pw) = node.kernel, node.stride, node.padding
    ho, wo = node.window(c).out_hw((h, w))

    def run(ins):
        x = np.asarray(ins[0], dtype).reshape((-1, c, h, w))
        xp = np.full((x.shape[0], c, h + 2 * ph, w + 2 * pw), -np.inf, dtype)
        xp[:, :, ph:ph + h, pw:pw + w] = x
        return np.max([xp[:, :, dy:dy + sh * (ho - 1) + 1:sh, dx:dx + sw * (wo - 1) + 1:sw]
                       for dy in range(kh) for dx in range(kw)], axis=0)
    return run


@float_op(Flatten.kind)
def _flatten(node, in_shapes, dtype) -> FloatOp:
    return lambda ins: ins[0].reshape(ins[0].shape[0], -1)


@float_op(Add.kind)
def _add(node, in_shapes, dtype) -> FloatOp:
    shape = tuple(in_shapes[0])
    return lambda ins: sum(np.asarray(x, dtype).reshape((x.shape[0],) + shape) for x in ins)


@float_op(BatchNorm.kind)
def _batchnorm(node: BatchNorm, in_shapes, dtype) -> FloatOp:
    shape = tuple(in_shapes[0])
    tail = (1,) * (len(shape) - 1)
    scale = np.asarray(node.scale, dtype).reshape((-1,) + tail)
    shift = np.asarray(node.shift, dtype).reshape((-1,) + tail)
    return lambda ins: np.asarray(ins[0], dtype).reshape((ins[0].shape[0],) + shape) * scale + shift


@float_op(Scale.kind)
def _scale(node: Scale, in_shapes, dtype) -> FloatOp:
    shape = tuple(in_shapes[0])
    factor = np.asarray(node.factor, dtype).reshape(shape)
    return lambda ins: np.asarray(ins[0], dtype).reshape((ins[0].shape[0],) + shape) * factor


def simulate_float(graph: Graph, stimulus: np.ndarray, dtype=np.float64,
                   states: Optional[dict[str, np.ndarray]] = None,
                   carry: Optional[dict] = None) -> dict[str, np.ndarray]:
    """Run ``graph`` on ``stimulus`` (T, B, *input_shape); spikes (bool, (T, B, n)) per neuron and output.

    A dict passed as ``states`` receives each neuron layer's membrane ``v`` (T, B, n) as the
    step leaves it (after an immediate reset), as the fixed-point simulator records it.
    ``carry``: a dict that holds the run's state between calls, so that a long run can be
    fed window after window (empty: start from zero; the next call resumes there).
    """
    stimulus = np.asarray(stimulus)
    if stimulus.ndim < 2:
        raise SnnccError(f"stimulus must be (time, batch, *input_shape), got shape {stimulus.shape}",
                         "pass spikes with a time and a batch axis")
    steps, batch = stimulus.shape[:2]
    flat = stimulus.reshape(steps, batch, -1).astype(dtype)
    order = graph.order()
    shapes = graph.shapes()
    ops: dict[str, FloatOp] = {}
    for name in order:
        node = graph.node(name)
        if node.kind in FLOAT_OPS:
            ops[name] = FLOAT_OPS[node.kind](node, [shapes[s] for s in graph.inputs_of(name)], dtype)
        elif not isinstance(node, (Input, NeuronNode, Output)):
            raise SnnccError(f"simulate_float cannot run node {name!r} of kind {node.kind!r}",
                             "pass a float graph (traced, lowered or composed)")

    state: dict[str, dict[str, np.ndarray]] = {}
    params: dict[str, dict] = {}
    for orig in graph.of_type(NeuronNode):
        # neurons not lowered yet run in their canonical form, input scale applied here
        lowered = None if isinstance(orig, CubaLIF) else orig.lower()
        node = orig if lowered is None else lowered.neuron
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
            "in_scale": None if lowered is None or lowered.input_scale is None
            else np.asarray(lowered.input_scale, dtype).reshape(n),
        }
        state[node.name] = {"i": np.zeros((batch, n), dtype), "v": np.zeros((batch, n), dtype),
                            "s": np.zeros((batch, n), dtype=bool)}
    t0 = 0
    if carry:                       # resume a run cut into windows
        state, t0 = carry["state"], carry["t"]
    recorded = [n for n in order if isinstance(graph.node(n), (NeuronNode, Output))]
    out = {n: np.zeros((steps, batch, 0), dtype=bool) for n in recorded}
    traces: dict[str, list[np.ndarray]] = {n: [] for n in recorded}
    # recurrent edges deliver the source's value of the previous step (zeros at step 0)
    previous: dict[str, np.ndarray] = carry["previous"] if carry else {
        s: np.zeros((batch,) + tuple(shapes[s]), dtype) for s, _, _, rec in graph.edges() if rec}
    for t in range(steps):
        values: dict[str, np.ndarray] = {}
        for name in order:
            node = graph.node(name)
            ins = [values[s] for s in graph.inputs_of(name)] + \
                  [previous[s] for s in graph.recurrent_inputs_of(name)]
            if isinstance(node, Input):
                values[name] = flat[t]
            elif name in ops:
                values[name] = ops[name](ins)
            elif isinstance(node, NeuronNode):
                p, st = params[name], state[name]
                x = sum(np.asarray(v, dtype).reshape(batch, -1) for v in ins)   # inputs add
                if p["in_scale"] is not None:
                    x = x * p["in_scale"]
                x = x if p["gain"] is None else p["gain"][min(t0 + t, len(p["gain"]) - 1)] * x
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
        for s in previous:
            previous[s] = values[s]
    for n in recorded:
        out[n] = np.stack(traces[n]) if steps else out[n]
    if carry is not None:
        carry.update(state=state, previous=previous, t=t0 + steps)
    return out
