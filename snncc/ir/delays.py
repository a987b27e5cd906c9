"""Fixed-point synapses with per-synapse delays: Lava's ``DelayDense`` (lava-nc 0.10.0,
``lava/proc/dense/process.py``; ``PyDelayDenseModelBitAcc`` in ``lava/proc/dense/models.py``).

lava-dl's netx builds one for every ``dense`` layer with a ``delay`` dataset (axonal delays
per output neuron, or per input, or per synapse: SLAYER's learned delays; Shrestha and
Orchard, "SLAYER", NeurIPS 2018).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .nodes import Node

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
