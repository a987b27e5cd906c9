"""Sigma-delta neurons (SDNN): a ReLU network whose layers send only *changes* of their
activations, as graded spikes, when a change reaches a threshold.

A delta-encoded ReLU network (O'Connor and Welling, "Sigma Delta Quantized Networks", ICLR
2017; Lava's ``lava/proc/sdn``, lava-dl's ``slayer.neuron.sigma_delta``, the PilotNet SDNN of
Shrestha et al., ICASSP 2024) reproduces the ReLU network's activations over time while
most neurons stay silent on slowly changing input (video, audio).  Per time step, exactly
Lava's float models (``PyDeltaModelFloat``, ``PySigmaDeltaModelFloat``, ``PySigmaModelFloat``
in ``lava/proc/sdn/models.py``):

* :class:`Delta` (the input encoder): ``act = x``;
* :class:`SigmaDelta`: ``sigma += x``, ``act = relu(sigma + bias)`` (the *sigma* stage
  integrates the incoming graded spikes back into the ReLU layer's pre-activation);
* both: ``delta = act - act_prev + residue``; send ``s = delta`` where ``|delta| >=
  threshold`` (else 0); ``residue = delta - s``; ``act_prev = act``.  With ``cum_error`` an
  accumulated error ``error += delta`` decides instead and is cleared where ``s`` is sent.
* :class:`Sigma` (a read-out): ``sigma += x``, output ``sigma``.

Build it as ``Delta -> Linear/Conv2d (no bias) -> SigmaDelta -> ... -> Linear -> Sigma``; put
biases in :class:`SigmaDelta` (a synapse bias would be added to every delta and integrated
every step).  Inputs are frames of integers (pixel values, audio samples) in the units the
chip receives: the compiled network takes the very same numbers, shifted into Lava's fixed
point (``snncc.targets.loihi.quantize_sdnn``).  The threshold's gradient is not learned: the
send decision passes the delta's gradient straight through where a spike is sent.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..ir.sigma_delta import ACT_RELU, ACT_UNIT, DeltaEncoder, SigmaDecoder, SigmaDeltaNeuron
from .base import StatefulNeuron, numpy_param


class _DeltaUnit(StatefulNeuron):
    """The delta encoder shared by :class:`Delta` and :class:`SigmaDelta`."""

    state_names = ("act", "residue", "error")

    def __init__(self, shape: int | Sequence[int], threshold: float | torch.Tensor = 0.0,
                 cum_error: bool = False, learn_threshold: bool = False) -> None:
        super().__init__(shape)
        self.threshold = self._per_neuron(threshold, learn_threshold)
        self.cum_error = bool(cum_error)

    def _encode(self, act: torch.Tensor) -> torch.Tensor:
        delta = act - self._state("act", act) + self._state("residue", act)
        thr = self.threshold.detach().abs()
        if self.cum_error:
            error = self._state("error", act) + delta.detach()
            send = (error.abs() >= thr).to(act.dtype)
            self.error = error * (1.0 - send)
        else:
            send = (delta.detach().abs() >= thr).to(act.dtype)
        s = delta * send
        self.residue = (delta - s).detach()
        self.act = act.detach()
        return s


class Delta(_DeltaUnit):
    """Delta encoder of the network input: graded spikes of its changes (see the module)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode(x)

    def to_ir(self, name: str) -> DeltaEncoder:
        return DeltaEncoder(name, shape=self.shape, threshold=numpy_param(self.threshold),
                            cum_error=self.cum_error)


class SigmaDelta(_DeltaUnit):
    """Sigma-delta ReLU neuron: integrates graded spikes, sends changes of ``relu(sigma +
    bias)`` (see the module).  ``threshold`` and ``bias`` per neuron or per layer.

    Mapping: Lava's ``SigmaDelta`` (exact up to quantization of weights, threshold and bias,
    and the floor of each graded spike to Lava's ``2**-spike_exp`` message grid).
    """

    state_names = ("sigma", "act", "residue", "error")

    def __init__(self, shape: int | Sequence[int], threshold: float | torch.Tensor = 0.0,
                 bias: float | torch.Tensor = 0.0, cum_error: bool = False,
                 activation: str = ACT_RELU, learn_threshold: bool = False,
                 learn_bias: bool = True) -> None:
        super().__init__(shape, threshold, cum_error, learn_threshold)
        if activation not in (ACT_RELU, ACT_UNIT):
            raise ValueError(f"activation must be 'relu' or 'unit', got {activation!r}")
        self.activation = activation
        self.bias = self._per_neuron(bias, learn_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sigma = self._state("sigma", x) + x
        act = self.sigma + self.bias
        if self.activation == ACT_RELU:
            act = torch.relu(act)
        return self._encode(act)

    def to_ir(self, name: str) -> SigmaDeltaNeuron:
        return SigmaDeltaNeuron(name, shape=self.shape, threshold=numpy_param(self.threshold),
                                bias=numpy_param(self.bias), act_mode=self.activation,
                                cum_error=self.cum_error)


class Sigma(StatefulNeuron):
    """Sigma decoder (read-out): ``sigma += x``, returns ``sigma`` every step."""

    state_names = ("sigma",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sigma = self._state("sigma", x) + x
        return self.sigma

    def to_ir(self, name: str) -> SigmaDecoder:
        return SigmaDecoder(name, shape=self.shape)
