"""snncc's generalised fixed-point neuron as a Lava process (runs in the Python 3.10 Lava env).

Lava's stock ``LIF`` resets v to 0 at the spike step and has no floor.  ``FxNeuron`` adds,
per neuron: a multiplicative + subtractive reset ``v = v*reset_mult/4096 - reset_sub``,
applied at the spike step or (``reset_delayed``) at the next step after the decay, an
optional floor on v, a growing membrane (``dv < 0``), a per-step input gain table
(``input_gain[t - gain_start]``, 4096 = 1) and a neuron bias that starts at ``bias_start``,
in the style of a Loihi 2 programmable neuron.  With ``reset_mult = reset_sub = 0`` at the
spike step and none of the rest it computes exactly what ``PyLifModelBitAcc`` computes: the
same arithmetic from ``AbstractPyLifModelFixed``.

Imports only lava and numpy, so no torch is needed in the Lava env.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class FxNeuron(AbstractProcess):
    """Generalised CUBA LIF with per-neuron du, dv, vth, bias, reset and an optional floor;
    ``spiking=False`` makes it a non-spiking readout (never fires; read its ``v``)."""

    def __init__(self, *, shape: tuple, du, dv, vth, bias_mant, bias_exp, reset_mult, reset_sub,
                 reset_delayed: bool = False, floor=None, input_gain=None, gain_start: int = 0,
                 bias_start: int = 0, spiking: bool = True, name: str | None = None) -> None:
        gain = None if input_gain is None else np.asarray(input_gain, np.int64).reshape(
            -1, int(np.prod(shape)))
        super().__init__(shape=shape, name=name, reset_delayed=bool(reset_delayed),
                         use_floor=floor is not None, input_gain=gain,
                         gain_start=int(gain_start), bias_start=int(bias_start),
                         spiking=bool(spiking))
        full = lambda x: np.broadcast_to(np.asarray(x, dtype=np.int64), shape).copy()
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)
        self.spiked = Var(shape=shape, init=0)
        self.du = Var(shape=shape, init=full(du))
        self.dv = Var(shape=shape, init=full(dv))
        self.vth = Var(shape=shape, init=full(vth))
        self.bias_mant = Var(shape=shape, init=full(bias_mant))
        self.bias_exp = Var(shape=shape, init=full(bias_exp))
        self.reset_mult = Var(shape=shape, init=full(reset_mult))
        self.reset_sub = Var(shape=shape, init=full(reset_sub))
        self.floor = Var(shape=(1,), init=0 if floor is None else int(floor))


def _rtz_scale(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    prod = np.int64(x) * np.int64(factor)
    return np.int64(np.sign(prod) * np.right_shift(np.abs(prod), 12))


@implements(proc=FxNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "bit_accurate_loihi")
class PyFxNeuronModel(PyLoihiProcessModel):
    """Bit-accurate model: Lava's LIF fixed-point arithmetic plus the generalised reset/floor."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    spiked: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    du: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=3)
    reset_mult: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    reset_sub: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    floor: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    MAX_UV = 2 ** 23

    def _synaptic_input(self, a_in: np.ndarray) -> np.ndarray:
        """``a_in << 6``, scaled by this step's row of the input gain table if there is one."""
        syn = np.int64(a_in) << 6
        gain = self.proc_params["input_gain"]
        if gain is None:
            return syn
        row = int(np.clip(self.time_step - 1 - self.proc_params["gain_start"], 0, len(gain) - 1))
        return _rtz_scale(syn, gain[row].reshape(syn.shape))

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        # current: exactly AbstractPyLifModelFixed.subthr_dynamics (ds_offset = 1, wrap)
        decayed = _rtz_scale(self.u, 4096 - (self.du + 1)) + self._synaptic_input(a_in)
        wrapped = np.where(decayed > self.MAX_UV, decayed - 2 * self.MAX_UV, decayed)
        wrapped = np.where(wrapped <= -self.MAX_UV, decayed + 2 * self.MAX_UV, wrapped)
        self.u[:] = wrapped
        v = _rtz_scale(self.v, 4096 - self.dv)
        spiked = self.spiked.astype(bool)
        if self.proc_params["reset_delayed"]:
            v = np.where(spiked, _rtz_scale(v, self.reset_mult) - self.reset_sub, v)
        bias = np.where(self.bias_exp >= 0, np.int64(self.bias_mant) << np.maximum(self.bias_exp, 0),
                        np.int64(self.bias_mant) >> np.maximum(-self.bias_exp, 0))
        if self.time_step - 1 < self.proc_params["bias_start"]:
            bias = np.zeros_like(bias)
        v = np.clip(v + np.int64(self.u) + bias, -(self.MAX_UV - 1), self.MAX_UV - 1)
        if self.proc_params["use_floor"]:
            v = np.maximum(v, self.floor[0])
        s = v > (np.int64(self.vth) << 6)
        if not self.proc_params["spiking"]:     # a non-spiking readout: v is the output
            s = np.zeros_like(s)
        if not self.proc_params["reset_delayed"]:
            v = np.where(s, _rtz_scale(v, self.reset_mult) - self.reset_sub, v)
        self.v[:] = v
        self.spiked[:] = s
        self.s_out.send(s.astype(np.int32))
