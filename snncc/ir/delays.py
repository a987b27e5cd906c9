"""Fixed-point synapses with per-synapse delays: Lava's ``DelayDense`` (lava-nc 0.10.0,
``lava/proc/dense/process.py``; ``PyDelayDenseModelBitAcc`` in ``lava/proc/dense/models.py``).

lava-dl's netx builds one for every ``dense`` layer with a ``delay`` dataset (axonal delays
per output neuron, or per input, or per synapse: SLAYER's learned delays; Shrestha and
Orchard, "SLAYER", NeurIPS 2018).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np

from .nodes import Affine, Node

MAX_DELAY = 62          # netx clamps delays to 62; Lava's DelayDense refuses > 63


@dataclass
class FxDelayDense(Node):
    """Dense synapses whose contributions arrive ``1 + delay[i, j]`` steps after the spike.

    ``weight`` int (out, in), already the values Lava's fixed_pt DelayDense uses (its
    clip/truncate is a no-op on them); ``delay`` int (out, in) in ``[0, 62]``.  Lava sums the
    synapses of each delay ``k`` on their own and shifts each sum by ``weight_exp`` (floor)::

        a[t] = sum_k  shift(sum_{j: delay[i,j] = k} weight[i, j] * s_j[t - 1 - k], weight_exp)

    ``delay_steps`` is 1, the synapse's own step: the delays are part of the network's
    meaning (a float model with the same delays runs them too), not of Loihi's pipeline.
    """

    kind: ClassVar[str] = "fx_delay_dense"
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    delay: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    weight_exp: int = 0

    def __post_init__(self) -> None:
        if np.shape(self.delay) != np.shape(self.weight):
            raise ValueError(f"{self.name}: delays {np.shape(self.delay)} for weights "
                             f"{np.shape(self.weight)}")
        d = np.asarray(self.delay)
        if d.size and (d.min() < 0 or d.max() > MAX_DELAY):
            raise ValueError(f"{self.name}: delays must lie in [0, {MAX_DELAY}]")

    @property
    def delay_steps(self) -> int:
        return 1

    @property
    def max_delay(self) -> int:
        return int(np.max(self.delay, initial=0))

    def infer_shape(self, in_shapes):
        n_in = int(np.prod(in_shapes[0]))
        if n_in != self.weight.shape[1]:
            raise ValueError(f"{self.name}: expects {self.weight.shape[1]} inputs, got {n_in}")
        return (self.weight.shape[0],)

    def describe(self):
        return (f"weight{list(self.weight.shape)}, exp {self.weight_exp}, delays "
                f"{int(np.min(self.delay, initial=0))}..{self.max_delay}")


@dataclass
class DelayAffine(Node):
    """Float Linear with per-synapse delays (``snncc.nn.DelayedLinear``):
    ``y_i[t] = sum_j weight[i, j] * x_j[t - delay[i, j]]`` (``delay`` int steps, >= 0).

    A synapse of its own: it must read a spike tensor and feed a neuron directly (delays do
    not compose with other linear maps).  Quantized into :class:`FxDelayDense`.
    """

    kind: ClassVar[str] = "delay_affine"
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    delay: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    bias: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if np.shape(self.delay) != np.shape(self.weight):
            raise ValueError(f"{self.name}: delays {np.shape(self.delay)} for weights "
                             f"{np.shape(self.weight)}")

    infer_shape = Affine.infer_shape     # a Linear's shapes (not an Affine: delays matter)


@dataclass
class SpikeDelay(Node):
    """Float delay of a tensor: ``y[t] = x[t - delay]`` per element (int steps >= 0), NIR's
    ``Delay`` (``nir.Delay``: seconds, here steps of ``dt``).  Next to one Linear it makes that
    Linear's synapses delayed (axonal delays before it, dendritic after it): composed into a
    :class:`DelayAffine`."""

    kind: ClassVar[str] = "delay"
    delay: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        d = np.asarray(self.delay)
        if d.size and (d.min() < 0 or d.max() > MAX_DELAY):
            raise ValueError(f"{self.name}: delays must lie in [0, {MAX_DELAY}]")

    def infer_shape(self, in_shapes):
        shape = tuple(in_shapes[0])
        if np.size(self.delay) not in (1, int(np.prod(shape))):
            raise ValueError(f"{self.name}: {np.size(self.delay)} delays for a tensor of {shape}")
        return shape


def delayed_synapse(ops: list, name: str) -> DelayAffine:
    """One :class:`DelayAffine` for a path of ``SpikeDelay``/``Flatten`` nodes around exactly
    one ``Affine`` (delays before it are per input, after it per output; they add)."""
    from ..errors import SnnccError
    from .nodes import Affine
    from .spatial import Flatten
    affines = [op for op in ops if isinstance(op, Affine)]
    if len(affines) != 1 or any(not isinstance(op, (Affine, SpikeDelay, Flatten)) for op in ops):
        raise SnnccError(f"{name!r}: a delay must sit next to exactly one Linear (no conv, "
                         "pooling or second Linear on the path)",
                         "delay spikes right before or after one Linear layer")
    w = np.asarray(affines[0].weight)
    k = ops.index(affines[0])
    d_in = sum(np.broadcast_to(np.asarray(op.delay, np.int64).reshape(-1), (w.shape[1],))
               for op in ops[:k] if isinstance(op, SpikeDelay)) if k else 0
    d_out = sum(np.broadcast_to(np.asarray(op.delay, np.int64).reshape(-1), (w.shape[0],))
                for op in ops[k + 1:] if isinstance(op, SpikeDelay))
    delay = np.zeros(w.shape, np.int64) + np.asarray(d_out).reshape(-1, 1) \
        + np.asarray(d_in).reshape(1, -1)
    return DelayAffine(name, weight=w, delay=delay, bias=affines[0].bias)
