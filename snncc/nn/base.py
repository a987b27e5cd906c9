"""Base class of snncc's stateful neuron modules.

Convention, everywhere in snncc: a model is stepped **one time step per ``forward`` call**;
each neuron keeps its state in the module; :func:`reset` (or ``module.reset()``) clears it
before a new sample.  Input to a step is ``(batch, *features)``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..ir.nodes import RESET_MODES, NeuronNode


def _shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


class StatefulNeuron(nn.Module):
    """A neuron layer holding its own state between ``forward`` calls.

    Subclasses list their state attributes in ``state_names`` and implement
    :meth:`to_ir`, which the frontend calls to turn the trained module into an IR node.
    """

    state_names: tuple[str, ...] = ()

    def __init__(self, shape: int | Sequence[int], reset: str = "zero") -> None:
        super().__init__()
        if reset not in RESET_MODES:
            raise ValueError(f"reset must be one of {RESET_MODES}, got {reset!r}")
        self.shape = _shape(shape)
        self.reset_mode = reset
        self.reset()

    def reset(self) -> None:
        """Forget all state (call before every new sample / sequence)."""
        for name in self.state_names:
            setattr(self, name, None)

    def _per_neuron(self, value: float | torch.Tensor, learn: bool) -> torch.Tensor:
        t = torch.as_tensor(value, dtype=torch.float32)
        t = t.expand(self.shape).clone() if t.numel() == 1 else t.reshape(self.shape).clone()
        return nn.Parameter(t, requires_grad=learn)

    def _state(self, name: str, like: torch.Tensor) -> torch.Tensor:
        value = getattr(self, name)
        return torch.zeros_like(like) if value is None else value

    def to_ir(self, name: str) -> NeuronNode:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"shape={self.shape}, reset={self.reset_mode!r}"


def reset(model: nn.Module) -> None:
    """Reset every snncc neuron in ``model``."""
    for m in model.modules():
        if isinstance(m, StatefulNeuron) or getattr(m, "snncc_stateful", False):
            m.reset()       # neurons, and synapses with state (snncc.nn.DelayedLinear)


def numpy_param(t: torch.Tensor) -> np.ndarray:
    """A detached numpy copy of a parameter: float64 for a float64 (``.double()``) module,
    float32 otherwise (float16 values are exact in float32)."""
    dtype = torch.float64 if t.dtype == torch.float64 else torch.float32
    return t.detach().cpu().to(dtype).numpy().copy()
