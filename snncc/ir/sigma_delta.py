"""Fixed-point sigma-delta neurons (SDNN) with graded spikes: Lava's ``Sigma``, ``Delta`` and
``SigmaDelta`` processes (lava-nc 0.10.0, ``lava/proc/sdn/process.py`` and the ``fixed_pt``
models in ``lava/proc/sdn/models.py``), as lava-dl's netx builds them for ``SDNN`` layers.

A sigma-delta neuron sends a *graded* spike (an integer payload) only when its activation
changed by at least a threshold since what it last sent; the next layer's synapses multiply
the payload by their weights and its *sigma* stage integrates them back to an activation
(O'Connor and Welling, "Sigma Delta Quantized Networks", ICLR 2017; Shrestha et al.,
"Efficient Video and Audio Processing with Loihi 2", ICASSP 2024).  Per step, exactly as the
``fixed_pt`` models compute it (int arithmetic, ``E = spike_exp + state_exp``)::

    sigma   = sigma + a_in                            # SigmaDelta, Sigma (not Delta)
    act_new = relu(sigma + (bias << E))               # SigmaDelta; Delta: a_in << E (unit)
    delta   = act_new - act + residue
    s       = delta where |delta| >= (vth << E) else 0        # cum_error: |error| >= ...
    residue = delta - s
    act     = act_new
    s_out   = s >> state_exp                          # arithmetic shift (floor)

With ``cum_error`` an error accumulator ``error += delta`` decides instead of ``|delta|``
and is cleared where a spike was sent.  ``Sigma`` (netx's ``sigma_output`` layer) sends
``sigma`` itself every step.  Lava's SigmaDelta shifts ``vth`` and ``bias`` by ``E`` but not
its input (the uncorrected fixed-point model); snncc reproduces exactly that.

States recorded by the simulators (and compared with Lava by ``verify``): ``u`` holds
``sigma`` and ``v`` holds ``act`` (for ``Sigma``: both hold ``sigma``).  Outputs are graded:
int32 arrays in place of boolean spikes.  Every value is an int32 in Lava's Python model;
the simulators stop with an error where a value would leave the int32 range instead of
guessing how numpy would wrap it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .nodes import NeuronNode, Node

ACT_RELU, ACT_UNIT = "relu", "unit"
STATE_EXP = 6          # netx builds every SDNN neuron with state_exp = 6
SPIKE_EXP = 6          # netx.hdf5.Network(spike_exp=6) by default


def _ints(default=()) -> np.ndarray:
    return np.asarray(default, dtype=np.int64)


@dataclass
class FxGradedNeuron(Node):
    """Base of the fixed-point neurons whose spikes carry integer payloads (graded spikes).

    ``shape``: the layer's shape ((n,) or (C, H, W)); every parameter array holds one value
    per neuron or a single value for the layer.
    """

    shape: tuple[int, ...] = ()
    graded: ClassVar[bool] = True
    lava_process: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)

    def infer_shape(self, in_shapes):
        for shape in in_shapes:
            if int(np.prod(shape)) != int(np.prod(self.shape)):
                raise ValueError(f"{self.name}: neuron shape {self.shape} but input {tuple(shape)}")
        return self.shape


@dataclass
class FxSigmaDelta(FxGradedNeuron):
    """Lava ``SigmaDelta`` (fixed_pt): sigma decoder, ReLU (or unit) activation, delta encoder.

    ``vth`` (int, per neuron or one value) and ``bias`` (int, per neuron or one value) are the
    process arguments: Lava scales both by ``2**(spike_exp + state_exp)`` when it builds the
    process.  ``act_mode``: ``"relu"`` or ``"unit"``; ``cum_error``: threshold the accumulated
    error instead of the delta.  ``spike_exp``, ``state_exp``: the exponents (3-bit in Lava).
    """

    kind: ClassVar[str] = "fx_sigma_delta"
    lava_process: ClassVar[str] = "SigmaDelta"
    vth: np.ndarray = field(default_factory=lambda: _ints([0]))
    bias: np.ndarray = field(default_factory=lambda: _ints([0]))
    act_mode: str = ACT_RELU
    cum_error: bool = False
    spike_exp: int = SPIKE_EXP
    state_exp: int = STATE_EXP

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.act_mode not in (ACT_RELU, ACT_UNIT):
            raise ValueError(f"{self.name}: act_mode must be 'relu' or 'unit', got {self.act_mode!r}")

    @property
    def exp(self) -> int:
        return int(self.spike_exp) + int(self.state_exp)

    def describe(self):
        return (f"vth {np.unique(self.vth)[:3].tolist()}, {self.act_mode}, spike_exp "
                f"{self.spike_exp}" + (", cum_error" if self.cum_error else ""))


@dataclass
class FxDelta(FxGradedNeuron):
    """Lava ``Delta`` (fixed_pt): the delta encoder of an SDNN's input layer.

    ``act = a_in << (spike_exp + state_exp)``; the rest as :class:`FxSigmaDelta` without the
    sigma stage, bias and activation.  netx builds it for an ``SDNN`` input layer.
    """

    kind: ClassVar[str] = "fx_delta"
    lava_process: ClassVar[str] = "Delta"
    vth: np.ndarray = field(default_factory=lambda: _ints([0]))
    cum_error: bool = False
    spike_exp: int = SPIKE_EXP
    state_exp: int = STATE_EXP

    @property
    def exp(self) -> int:
        return int(self.spike_exp) + int(self.state_exp)

    def describe(self):
        return f"vth {np.unique(self.vth)[:3].tolist()}, spike_exp {self.spike_exp}"


@dataclass
class FxSigma(FxGradedNeuron):
    """Lava ``Sigma`` (fixed_pt): ``sigma += a_in``, sent every step (netx ``sigma_output``)."""

    kind: ClassVar[str] = "fx_sigma"
    lava_process: ClassVar[str] = "Sigma"

    def describe(self):
        return "sigma (integrator)"


GRADED_KINDS = (FxSigmaDelta.kind, FxDelta.kind, FxSigma.kind)


# --- float nodes: what snncc.nn's SigmaDelta, Delta and Sigma trace into ------------------------

def _floats(default=()) -> np.ndarray:
    return np.asarray(default, dtype=np.float32)


@dataclass
class SigmaDeltaNeuron(NeuronNode):
    """Float sigma-delta ReLU neuron (Lava's ``PySigmaDeltaModelFloat``), per step::

        sigma += x;  act = relu(sigma + bias);  delta = act - act_prev + residue
        s = delta where |delta| >= threshold else 0;  residue = delta - s;  act_prev = act

    (``cum_error``: an error accumulator decides, cleared where a spike is sent).  ``s`` is a
    graded spike.  Quantized by :mod:`snncc.targets.loihi.quantize_sdnn` into
    :class:`FxSigmaDelta`; it is not lowered to CUBA-LIF.
    """

    kind: ClassVar[str] = "sigma_delta"
    graded: ClassVar[bool] = True
    threshold: np.ndarray = field(default_factory=lambda: _floats([0.0]))
    bias: np.ndarray = field(default_factory=lambda: _floats([0.0]))
    act_mode: str = ACT_RELU
    cum_error: bool = False


@dataclass
class DeltaEncoder(NeuronNode):
    """Float delta encoder of the input (Lava's ``PyDeltaModelFloat``): the sigma-delta
    dynamics on ``act = x`` (no sigma, no bias, no activation)."""

    kind: ClassVar[str] = "delta"
    graded: ClassVar[bool] = True
    threshold: np.ndarray = field(default_factory=lambda: _floats([0.0]))
    cum_error: bool = False


@dataclass
class SigmaDecoder(NeuronNode):
    """Float sigma decoder (Lava's ``PySigmaModelFloat``): ``sigma += x``, output ``sigma``
    every step (a read-out that integrates the graded spikes back to an activation)."""

    kind: ClassVar[str] = "sigma"
    graded: ClassVar[bool] = True


def _no_cuba(self):
    from ..errors import SnnccError
    raise SnnccError(f"layer {self.name!r} ({self.kind}) is a sigma-delta neuron: it has no "
                     "CUBA-LIF form", "compile it with snncc (Lava's SigmaDelta), not as LIF")


FLOAT_GRADED = (SigmaDeltaNeuron, DeltaEncoder, SigmaDecoder)
for _cls in FLOAT_GRADED:
    _cls.lower = _no_cuba
