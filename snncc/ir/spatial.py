"""Float IR nodes for deep networks: convolution, pooling, flatten, residual add, batch-norm.

They come from the frontend and live until :func:`snncc.passes.compose.compose_synapses`
turns every chain of linear maps between two spike tensors into one synapse (a ``Conv2d``
or an ``Affine``).  Shapes are PyTorch's, without batch: ``(C, H, W)`` or ``(n,)``.
Each class registers under its ``kind`` in :data:`snncc.ir.nodes.NODE_KINDS`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np

from ..convmath import ConvSpec, depthwise, pair
from .nodes import Node


@dataclass
class Conv2d(Node):
    """``y = conv(x, weight) + bias`` (cross-correlation, zero padding, PyTorch layout).

    ``weight`` (C_out, C_in/groups, kh, kw); ``bias`` per output channel ``(C_out,)`` or,
    after composition through a padded conv, per output element ``(C_out, Ho, Wo)``.
    """

    kind: ClassVar[str] = "conv2d"
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 1, 1)))
    bias: Optional[np.ndarray] = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1

    def __post_init__(self) -> None:
        self.stride, self.padding, self.groups = pair(self.stride), pair(self.padding), int(self.groups)

    def spec(self) -> ConvSpec:
        return ConvSpec(self.weight, self.stride, self.padding, self.groups)

    def infer_shape(self, in_shapes):
        shape = tuple(in_shapes[0])
        if len(shape) != 3:
            raise ValueError(f"{self.name}: Conv2d needs a (C, H, W) input, got {shape}")
        if shape[0] != self.weight.shape[1] * self.groups:
            raise ValueError(f"{self.name}: expects {self.weight.shape[1] * self.groups} input "
                             f"channels, got {shape[0]}")
        ho, wo = self.spec().out_hw(shape[1:])
        if ho < 1 or wo < 1:
            raise ValueError(f"{self.name}: kernel larger than the padded {shape[1:]} input")
        if self.bias is not None and self.bias.ndim == 3 and self.bias.shape != (self.weight.shape[0], ho, wo):
            raise ValueError(f"{self.name}: bias map {self.bias.shape} does not match the output")
        return (int(self.weight.shape[0]), ho, wo)

    def describe(self):
        return (f"weight{list(self.weight.shape)}, stride {self.stride}, padding {self.padding}"
                + (f", groups {self.groups}" if self.groups > 1 else "")
                + ("" if self.bias is None else f", bias{list(self.bias.shape)}"))


@dataclass
class Pool2d(Node):
    """Sum or average pooling of a ``(C, H, W)`` tensor: a depthwise conv with a constant kernel.

    ``mode="avg"`` divides by ``divisor`` (default kh*kw, i.e. PyTorch's
    ``count_include_pad=True``); ``mode="sum"`` does not divide.
    """

    kind: ClassVar[str] = "pool2d"
    mode: str = "avg"
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)
    divisor: Optional[float] = None

    def __post_init__(self) -> None:
        self.kernel, self.stride, self.padding = pair(self.kernel), pair(self.stride), pair(self.padding)
        if self.mode not in ("avg", "sum"):
            raise ValueError(f"{self.name}: pool mode must be 'avg' or 'sum', got {self.mode!r}")

    @property
    def weight_value(self) -> float:
        """The constant kernel entry: 1 for a sum pool, 1/divisor for an average pool."""
        if self.mode == "sum":
            return 1.0
        return 1.0 / float(self.divisor or self.kernel[0] * self.kernel[1])

    def spec(self, channels: int) -> ConvSpec:
        return depthwise(channels, self.kernel, self.weight_value, self.stride, self.padding)

    def infer_shape(self, in_shapes):
        shape = tuple(in_shapes[0])
        if len(shape) != 3:
            raise ValueError(f"{self.name}: pooling needs a (C, H, W) input, got {shape}")
        ho, wo = self.spec(shape[0]).out_hw(shape[1:])
        if ho < 1 or wo < 1:
            raise ValueError(f"{self.name}: pool kernel larger than the {shape[1:]} input")
        return (shape[0], ho, wo)

    def describe(self):
        return f"{self.mode} {self.kernel}, stride {self.stride}, padding {self.padding}"


@dataclass
class MaxPool2d(Node):
    """Max pooling of a ``(C, H, W)`` tensor (padding counts as -inf, as in PyTorch).

    Not linear, so it cannot join a synapse; on spikes it is exact as an OR: a neuron fed by
    a sum-pool synapse with threshold 1/2 fires when any spike is in its window
    (``lower_neurons`` rewrites it so).  Max pooling of currents is refused.
    """

    kind: ClassVar[str] = "maxpool2d"
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        self.kernel, self.stride, self.padding = pair(self.kernel), pair(self.stride), pair(self.padding)

    def window(self, channels: int) -> ConvSpec:
        """The sum over each window: what the OR neuron's synapse computes."""
        return depthwise(channels, self.kernel, 1.0, self.stride, self.padding)

    def infer_shape(self, in_shapes):
        shape = tuple(in_shapes[0])
        if len(shape) != 3:
            raise ValueError(f"{self.name}: max pooling needs a (C, H, W) input, got {shape}")
        return (shape[0],) + self.window(shape[0]).out_hw(shape[1:])

    def describe(self):
        return f"max {self.kernel}, stride {self.stride}, padding {self.padding}"


@dataclass
class Flatten(Node):
    """``(C, H, W) -> (C*H*W,)`` in PyTorch's (row-major, channel-first) order."""

    kind: ClassVar[str] = "flatten"

    def infer_shape(self, in_shapes):
        return (int(np.prod(in_shapes[0])),)


@dataclass
class Add(Node):
    """Elementwise sum of its inputs (a residual connection); all inputs share one shape."""

    kind: ClassVar[str] = "add"

    def infer_shape(self, in_shapes):
        shapes = {tuple(s) for s in in_shapes}
        if len(shapes) != 1:
            raise ValueError(f"{self.name}: adds tensors of different shapes {sorted(shapes)}")
        return tuple(in_shapes[0])


@dataclass
class BatchNorm(Node):
    """Inference batch-norm as a per-channel affine map: ``y = x*scale + shift`` (channel = axis 0).

    ``scale = gamma / sqrt(running_var + eps)``, ``shift = beta - running_mean * scale``
    (computed in float64 by the frontend).  ``lower_neurons`` folds it into the preceding
    Conv2d/Affine; anywhere else it composes as a 1x1 depthwise conv with bias.
    """

    kind: ClassVar[str] = "batchnorm"
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    shift: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def infer_shape(self, in_shapes):
        shape = tuple(in_shapes[0])
        if not shape or shape[0] != self.scale.shape[0]:
            raise ValueError(f"{self.name}: {self.scale.shape[0]} channels, input {shape}")
        return shape

    def spec(self) -> ConvSpec:
        return depthwise(self.scale.shape[0], (1, 1), self.scale)


@dataclass
class Scale(Node):
    """Elementwise ``y = factor * x`` (``factor`` has the full shape): a neuron's input scale
    that could not be folded into a single feeding Linear/Conv2d."""

    kind: ClassVar[str] = "scale"
    factor: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def infer_shape(self, in_shapes):
        shape = tuple(in_shapes[0])
        if int(np.prod(shape)) != self.factor.size:
            raise ValueError(f"{self.name}: factor of {self.factor.size} values for input {shape}")
        return shape


LINEAR_KINDS: tuple[str, ...] = ("affine", Conv2d.kind, Pool2d.kind, Flatten.kind, Add.kind,
                                 BatchNorm.kind, Scale.kind)
