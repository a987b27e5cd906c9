"""Sigma-delta neurons with graded spikes (Lava ``Sigma``, ``Delta``, ``SigmaDelta``, fixed_pt)
in the reference stepper and the vectorized runners.

The update of one step is :func:`sd_step`, shared by both (the equations and their source are
in :mod:`snncc.ir.sigma_delta`).  It is elementwise integer arithmetic, so the vectorized
runners step it in time on whole ``(B, n)`` arrays in numpy (on the torch runner too: the
state is small next to the synapses around it).  Values are int64 here and int32 in Lava's
Python model: :func:`_check_int32` stops the run where Lava's would wrap.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from snncc.errors import SnnccError
from snncc.ir import FxDelta, FxSigma, FxSigmaDelta
from snncc.ir.sigma_delta import ACT_RELU, FxGradedNeuron

from .registry import register_kernel
from .stepper import Executor, executor

INT32 = 2 ** 31


@dataclass
class SDParams:
    """One graded neuron layer's parameters, flattened to (n,) int64 (or a scalar)."""

    kind: str
    vth: np.ndarray          # vth << (spike_exp + state_exp), as Lava scales it
    bias: np.ndarray         # bias << (spike_exp + state_exp)
    relu: bool
    cum_error: bool
    in_shift: int            # Delta: a_in << (spike_exp + state_exp)
    state_exp: int

    @classmethod
    def of(cls, node: FxGradedNeuron) -> "SDParams":
        flat = lambda x: np.asarray(x, dtype=np.int64).reshape(-1)    # noqa: E731
        if isinstance(node, FxSigma):
            return cls(node.kind, np.zeros(1, np.int64), np.zeros(1, np.int64), False, False, 0, 0)
        e = node.exp
        bias = flat(node.bias) << e if isinstance(node, FxSigmaDelta) else np.zeros(1, np.int64)
        return cls(node.kind, flat(node.vth) << e, bias,
                   isinstance(node, FxSigmaDelta) and node.act_mode == ACT_RELU,
                   bool(node.cum_error), e if isinstance(node, FxDelta) else 0,
                   int(node.state_exp))


class SDState:
    """sigma, act, residue, error of a block of neurons (int64, (B, n))."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.sigma = np.zeros(shape, np.int64)
        self.act = np.zeros(shape, np.int64)
        self.residue = np.zeros(shape, np.int64)
        self.error = np.zeros(shape, np.int64)


def _check_int32(name: str, t: int, *arrays: np.ndarray) -> None:
    for a in arrays:
        if a.size and (int(a.max()) >= INT32 or int(a.min()) < -INT32):
            raise SnnccError(f"sigma-delta layer {name!r} leaves the int32 range at step {t}: "
                             "Lava's fixed_pt model would wrap there and Loihi holds 24 bits",
                             "lower the layer's input scale (weights, spike_exp) or its bias")


def sd_step(p: SDParams, st: SDState, a_in: np.ndarray, name: str = "", t: int = 0) -> np.ndarray:
    """One step of a graded neuron from its input ``a_in`` (B, n) int; returns ``s_out``."""
    a_in = np.asarray(a_in, dtype=np.int64)
    if p.kind == FxSigma.kind:
        st.sigma = st.sigma + a_in
        st.act = st.sigma
        _check_int32(name, t, st.sigma)
        return st.sigma.copy()
    if p.kind == FxDelta.kind:
        act = a_in << p.in_shift
    else:
        st.sigma = st.sigma + a_in
        act = st.sigma + p.bias
        if p.relu:
            act = np.maximum(act, 0)
    delta = act - st.act + st.residue
    if p.cum_error:
        st.error = st.error + delta
        s = np.where(np.abs(st.error) >= p.vth, delta, 0)
        st.error = st.error * (s == 0)
    else:
        s = np.where(np.abs(delta) >= p.vth, delta, 0)
    st.residue = delta - s
    st.act = act
    _check_int32(name, t, a_in, st.sigma, act, delta, st.error)
    return s >> p.state_exp


def _register_stepper(kind: str):
    @executor(kind)
    class GradedExec(Executor):
        """A graded neuron in the reference stepper (u records sigma, v records act)."""

        has_state = True
        spiking = True
        records_states = True
        out_dtype = np.int32

        def __init__(self, node: FxGradedNeuron, batch):
            super().__init__(node, batch)
            n = int(np.prod(node.shape))
            self.params = SDParams.of(node)
            self.state = SDState((batch, n))

        @property
        def u(self) -> np.ndarray:
            return self.state.sigma

        @property
        def v(self) -> np.ndarray:
            return self.state.act

        def emit(self, t, inputs):
            a_in = sum(inputs) if inputs else np.zeros_like(self.state.sigma)
            a_in = np.asarray(a_in, dtype=np.int64).reshape(self.state.sigma.shape)
            return sd_step(self.params, self.state, a_in, self.node.name, t)
    return GradedExec


for _kind in (FxSigmaDelta.kind, FxDelta.kind, FxSigma.kind):
    _register_stepper(_kind)


@register_kernel(FxSigmaDelta)
@register_kernel(FxDelta)
@register_kernel(FxSigma)
class GradedKernel:
    """A graded neuron layer for the vectorized runners (interface of ``NeuronKernel``;
    ``graded``: its outputs are integer payloads, their bound comes from the data)."""

    graded = True

    def __init__(self, ops, node: FxGradedNeuron) -> None:
        self.ops, self.node = ops, node
        self.n = int(np.prod(node.shape))
        self.params = SDParams.of(node)

    def run(self, a_in, a_bound: int, record: bool = False, rows: int = 0, pool=None):
        """Outputs (T, B, n) int32 and, with ``record``, sigma and act (T, B, n) int32."""
        ops = self.ops
        a = np.asarray(ops.to_numpy(a_in)).astype(np.int64)
        steps = a.shape[0]
        st = SDState(tuple(a.shape[1:]))
        out = np.empty(a.shape, np.int32)
        u = np.empty(a.shape, np.int32) if record else None
        v = np.empty(a.shape, np.int32) if record else None
        for t in range(steps):
            out[t] = sd_step(self.params, st, a[t], self.node.name, t)
            if record:
                u[t], v[t] = st.sigma, st.act
        conv = (lambda x: None if x is None else ops.asarray(x))
        return conv(out), conv(u), conv(v)

    # one step at a time (recurrent groups)
    def start(self, batch: int, steps: int, a_bound: int) -> None:
        self.state = SDState((batch, self.n))
        self.u, self.v = self.state.sigma, self.state.act

    def step(self, a_t, t: int):
        a = np.asarray(self.ops.to_numpy(a_t)).astype(np.int64)
        out = sd_step(self.params, self.state, a, self.node.name, t)
        self.u, self.v = self.ops.asarray(self.state.sigma), self.ops.asarray(self.state.act)
        return self.ops.asarray(out.astype(np.int32))


__all__ = ["GradedKernel", "SDParams", "SDState", "sd_step"]
