"""Fixed-point nodes of the SynSense Xylo target (xylosim's v2 core).

A Xylo network is one population of hidden neurons with input, recurrent and readout
weight matrices (``XyloLayer`` in xylosim ``src/v2/cpp/XyloLayer.h``).  snncc keeps the
traced layers as nodes so that verification compares them one by one; the chip's flat
matrices are built from them by :func:`snncc.targets.xylo.mapping.to_config`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .nodes import Node, Shape

POP_INPUT, POP_HIDDEN, POP_OUTPUT = "input", "hidden", "output"


@dataclass
class XyDense(Node):
    """Xylo synapses from one spike source into one neuron layer.

    ``weight``: int8 values, (out, in); the chip adds ``int16(weight << shift)`` per spike
    (the int16 cast wraps).  ``matrix``: which of the chip's three matrices holds them
    (``"input"``: from the input channels, no delay; ``"hidden"``: recurrent matrix, spikes
    of step t-1; ``"output"``: readout matrix, spikes of step t-1).  ``shift`` is that
    matrix's (chip-global) weight bit shift.
    """

    kind: ClassVar[str] = "xylo_dense"
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    shift: int = 0
    matrix: str = POP_INPUT

    @property
    def delay_steps(self) -> int:
        return 0 if self.matrix == POP_INPUT else 1

    def infer_shape(self, in_shapes):
        return (self.weight.shape[0],)


@dataclass
class XyNeuron(Node):
    """A layer of Xylo integer LIF neurons (``XyloIAFNeuron``, v2 core), per-neuron parameters.

    ``threshold`` int16 (> 0), ``bias`` int16, ``dash_mem`` / ``dash_syn`` 4-bit bit-shift
    decays.  ``output``: the layer is the chip's readout population (one spike per step at
    most; hidden neurons emit up to 31).
    """

    kind: ClassVar[str] = "xylo_neuron"
    shape: Shape = ()
    threshold: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dash_mem: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dash_syn: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    output: bool = False

    def infer_shape(self, in_shapes):
        return tuple(self.shape)
