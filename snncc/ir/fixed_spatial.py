"""Fixed-point IR nodes for deep networks: Lava ``Conv`` synapses and spike delay lines.

``FxConv`` has the exact arithmetic of lava-nc 0.10.0's ``PyConvModelFixed``
(``lava/proc/conv/models.py``, ``utils.py``): the binary input is convolved with the integer
kernel in float64 (scipy), cast to int32 and wrapped to 24 bits; no sign modes, no weight
clipping, and ``weight_exp`` is ignored by Lava, so snncc bakes its exponent into the kernel
(``weight << weight_exp``, exponent >= 0).  Like ``Dense``, the result arrives one step later.

``FxDelay`` holds a spike tensor back by ``delay`` steps.  It exists because every synapse
adds one step on Loihi: two paths of different synaptic depth that meet at one neuron (a
residual shortcut) must arrive together.  In Lava it is a ``Sparse``/``DelaySparse``
identity (``delay - 1`` extra steps) into a relay ``LIF`` that fires exactly when its input
spiked (du = dv = 4095, vth = 0).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np

from ..convmath import ConvSpec, pair
from .nodes import Node


@dataclass
class FxConv(Node):
    """Fixed-point conv synapses (Lava ``Conv`` semantics), PyTorch layout in the IR.

    ``a = wrap24(conv(s, weight) << weight_exp)``, delivered one step later.  ``weight`` int
    (C_out, C_in/groups, kh, kw) on the 8-bit grid.  ``bias``/``bias_exp``/``bias_start``: an
    always-on axon exactly as on :class:`snncc.ir.nodes.FxDense` (``bias`` per output element,
    flattened in (C, H, W) order).
    """

    kind: ClassVar[str] = "fx_conv"
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 1, 1), dtype=np.int64))
    weight_exp: int = 0
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    in_shape: tuple[int, ...] = ()      # (C, H, W) of the input spikes (Lava's Conv needs it)
    bias: Optional[np.ndarray] = None
    bias_exp: int = 0
    bias_start: int = 0

    def __post_init__(self) -> None:
        self.stride, self.padding, self.groups = pair(self.stride), pair(self.padding), int(self.groups)
        self.in_shape = tuple(int(s) for s in self.in_shape)
        if self.weight_exp < 0:
            raise ValueError(f"{self.name}: Lava's Conv has no weight exponent; a negative one "
                             "cannot be baked into the kernel")

    @property
    def delay_steps(self) -> int:
        return 1

    def spec(self) -> ConvSpec:
        return ConvSpec(self.weight, self.stride, self.padding, self.groups)

    def lava_kernel(self) -> np.ndarray:
        """The int kernel Lava's Conv must get: exponent baked in, (C_out, kw, kh, C_in/g),
        spatially flipped (scipy convolves; PyTorch and snncc cross-correlate)."""
        w = np.asarray(self.weight, dtype=np.int64) << self.weight_exp
        return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (int(self.weight.shape[0]),) + self.spec().out_hw(self.in_shape[1:])

    def infer_shape(self, in_shapes):
        shape = tuple(in_shapes[0])
        if shape != self.in_shape or shape[0] != self.weight.shape[1] * self.groups:
            raise ValueError(f"{self.name}: conv of {self.weight.shape} for input "
                             f"{self.in_shape} gets {shape}")
        return self.out_shape

    def describe(self):
        return (f"weight{list(self.weight.shape)}, exp {self.weight_exp}, stride {self.stride}, "
                f"padding {self.padding}" + (f", groups {self.groups}" if self.groups > 1 else ""))


@dataclass
class FxDelay(Node):
    """A spike tensor ``delay`` steps late (``delay >= 1``): the input's spikes of step t at t + delay."""

    kind: ClassVar[str] = "fx_delay"
    delay: int = 1
    shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if int(self.delay) < 1:
            raise ValueError(f"{self.name}: a delay line needs delay >= 1, got {self.delay}")
        self.delay = int(self.delay)
        self.shape = tuple(int(s) for s in self.shape)

    @property
    def delay_steps(self) -> int:
        return self.delay

    def infer_shape(self, in_shapes):
        if tuple(in_shapes[0]) != self.shape:
            raise ValueError(f"{self.name}: delay line of {self.shape} gets {tuple(in_shapes[0])}")
        return self.shape

    def describe(self):
        return f"{self.delay} step(s)"
