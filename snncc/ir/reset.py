"""LIF with a periodic reset of its state: Lava's ``LIFReset`` (lava-nc 0.10.0,
``lava/proc/lif/process.py``; ``PyLifResetModelBitAcc`` in ``lava/proc/lif/models.py``).

lava-dl's netx builds it for every CUBA layer when ``Network(reset_interval=...)`` is given
(one sample every ``reset_interval`` steps, each layer reset in step with the data reaching
it: netx passes layer k the offset ``reset_offset + 1 + k``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .nodes import CubaLIF, FxNeuron


def _check_interval(self) -> None:
    if int(self.reset_interval) < 1:
        raise ValueError(f"{self.name}: reset_interval must be >= 1, got {self.reset_interval}")


def _resets_at(self, t: int) -> bool:
    """Whether the state is cleared at the start of step ``t`` (0-based)."""
    return (t + self.step_base) % self.reset_interval == self.reset_offset % self.reset_interval


@dataclass
class FxLIFReset(FxNeuron):
    """:class:`~snncc.ir.nodes.FxNeuron` whose u and v are set to 0 at the start of every step
    ``t`` (0-based) with ``(t + 1) % reset_interval == reset_offset % reset_interval``
    (Lava counts time steps from 1), before that step's input is integrated.

    Only Lava's stock-LIF dynamics are allowed besides the reset (``is_stock_lif`` of the
    parent); the simulators refuse anything else.
    """

    kind: ClassVar[str] = "fx_lif_reset"
    reset_interval: int = 1
    reset_offset: int = 0
    step_base: ClassVar[int] = 1        # Lava counts time steps from 1

    __post_init__ = _check_interval
    resets_at = _resets_at

    @property
    def is_stock_lif(self) -> bool:      # Lava's LIFReset, not LIF: never the plain process
        return False

    def describe(self):
        return f"{super().describe()}; reset every {self.reset_interval} (offset {self.reset_offset})"


@dataclass
class CubaLIFReset(CubaLIF):
    """Float :class:`~snncc.ir.nodes.CubaLIF` whose current and voltage are set to 0 at the
    start of every step ``t`` with ``t % reset_interval == reset_offset % reset_interval``
    (one sample every ``reset_interval`` steps: ``snncc.nn.CubaLIFReset``).  Quantized into
    :class:`FxLIFReset` with the offset moved by the layer's synaptic depth."""

    kind: ClassVar[str] = "cuba_lif_reset"
    reset_interval: int = 1
    reset_offset: int = 0
    step_base: ClassVar[int] = 0        # the float model counts steps from 0

    __post_init__ = _check_interval
    resets_at = _resets_at
