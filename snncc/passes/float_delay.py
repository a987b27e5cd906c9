"""The float reference of delays: ``SpikeDelay`` and ``DelayAffine`` as float ops (stateful:
each keeps the inputs it still has to deliver).  Registered in
:data:`snncc.passes.float_sim.FLOAT_OPS` when :mod:`snncc.passes.float_sim` is imported."""
from __future__ import annotations

import numpy as np

from ..ir.delays import DelayAffine, SpikeDelay
from .float_sim import float_op


@float_op(SpikeDelay.kind)
def _delay(node: SpikeDelay, in_shapes, dtype):
    shape = tuple(in_shapes[0])
    n = int(np.prod(shape))
    d = np.broadcast_to(np.asarray(node.delay, np.int64).reshape(-1), (n,))
    history: list = []

    def run(ins):
        x = np.asarray(ins[0], dtype).reshape(ins[0].shape[0], n)
        history.insert(0, x)
        del history[int(d.max(initial=0)) + 1:]
        out = np.zeros_like(x)
        for k, past in enumerate(history):
            out = np.where(d == k, past, out)
        return out.reshape((x.shape[0],) + shape)
    return run


@float_op(DelayAffine.kind)
def _delay_affine(node: DelayAffine, in_shapes, dtype):
    w = np.asarray(node.weight, dtype)
    d = np.asarray(node.delay, np.int64)
    parts = [(int(k), np.where(d == k, w, 0).T) for k in np.unique(d)]
    b = None if node.bias is None else np.asarray(node.bias, dtype)
    history: list = []

    def run(ins):
        x = np.asarray(ins[0], dtype).reshape(ins[0].shape[0], -1)
        history.insert(0, x)
        del history[int(d.max(initial=0)) + 1:]
        y = sum(history[k] @ wk for k, wk in parts if k < len(history))
        y = np.zeros((x.shape[0], w.shape[0]), dtype) + (0 if isinstance(y, int) else y)
        return y if b is None else y + b
    return run
