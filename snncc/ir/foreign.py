"""Neurons traced from other frameworks (snnTorch, SpikingJelly, Norse) as IR nodes.

Each framework frontend (``snncc/frontend/<framework>.py``) reads a trained module, works
out from that framework's own update equations how one step maps onto the canonical
:class:`~snncc.ir.nodes.CubaLIF`, and stores the result here: canonical parameters, the
input scale to fold into the feeding Linear, the mapping class and a note saying what was
folded, shifted or nudged.  The node keeps its source's name as its ``kind`` so mapping
tables say "snntorch_leaky", not just "cuba_lif".  Pure numpy: no framework is imported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np

from .nodes import EXACT, CubaLIF, Lowered, NeuronNode


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.float32)


@dataclass
class ForeignNeuron(NeuronNode):
    """A framework's neuron, already expressed in canonical terms (see module docstring).

    Fields mirror :class:`CubaLIF` (``spiking=False``: a non-spiking readout whose membrane
    is the output); ``input_scale`` (per neuron, or None) multiplies the
    feeding synapses when lowering; ``mapping`` and ``note`` go to the mapping table.
    """

    kind: ClassVar[str] = "foreign_neuron"
    alpha: np.ndarray = field(default_factory=_empty)
    beta: np.ndarray = field(default_factory=_empty)
    threshold: np.ndarray = field(default_factory=_empty)
    bias: np.ndarray = field(default_factory=_empty)
    reset_mult: Optional[np.ndarray] = None
    reset_sub: Optional[np.ndarray] = None
    reset_delayed: bool = False
    input_scale: Optional[np.ndarray] = None
    mapping: str = EXACT
    note: str = ""
    spiking: bool = True

    def canonical(self) -> CubaLIF:
        return CubaLIF(self.name, shape=tuple(self.shape), reset=self.reset, alpha=self.alpha,
                       beta=self.beta, threshold=self.threshold, bias=self.bias,
                       reset_mult=self.reset_mult, reset_sub=self.reset_sub,
                       reset_delayed=self.reset_delayed, spiking=self.spiking)

    def lower(self) -> Lowered:
        return Lowered(self.canonical(), self.input_scale, self.mapping, self.note)

    def describe(self) -> str:
        return f"{super().describe()}; reset={self.reset}{' (delayed)' if self.reset_delayed else ''}"


# One registered kind per source neuron, so tables and summaries name the source.
class SnnTorchLeaky(ForeignNeuron):
    kind: ClassVar[str] = "snntorch_leaky"


class SnnTorchSynaptic(ForeignNeuron):
    kind: ClassVar[str] = "snntorch_synaptic"


class SnnTorchRLeaky(ForeignNeuron):
    kind: ClassVar[str] = "snntorch_rleaky"


class SpikingJellyLIF(ForeignNeuron):
    kind: ClassVar[str] = "spikingjelly_lif"


class SpikingJellyPLIF(ForeignNeuron):
    kind: ClassVar[str] = "spikingjelly_plif"


class SpikingJellyIF(ForeignNeuron):
    kind: ClassVar[str] = "spikingjelly_if"


class NorseLIF(ForeignNeuron):
    kind: ClassVar[str] = "norse_lif"


class NorseLIFBox(ForeignNeuron):
    kind: ClassVar[str] = "norse_lif_box"


class NorseLI(ForeignNeuron):
    kind: ClassVar[str] = "norse_li"


class NorseLIBox(ForeignNeuron):
    kind: ClassVar[str] = "norse_li_box"


class SnnTorchLapicque(ForeignNeuron):
    kind: ClassVar[str] = "snntorch_lapicque"


class SnnTorchRSynaptic(ForeignNeuron):
    kind: ClassVar[str] = "snntorch_rsynaptic"
