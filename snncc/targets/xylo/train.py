"""Training for Xylo: keep a PyTorch model on the values Xylo can hold (quantization-aware).

Xylo stores per neuron a 4-bit bit-shift decay and 8-bit weights on a per-neuron grid
(:mod:`.quantize`).  A model trained in float lands between those values; what it loses when
compiled is then measured by ``snncc verify``.  These helpers move a model onto them while it
trains, so that the compiled network computes what the float model computes, up to the
integer state's rounding:

* :func:`snap_decays`: every ``alpha`` / ``beta`` of snncc's LIF and CUBA-LIF layers to its
  nearest dash value ``1 - 2**-dash`` (the quantizer's own rule), one per neuron, frozen;
* :func:`weight_grid`: the float weight of one integer weight unit, per synapse row, exactly
  as the quantizer will choose it (``2**shift / (S * g)``: matrix shift, neuron scale,
  current gain), by compiling the model;
* :func:`project`: every Linear weight onto that grid (round, clip to int8) in place;
* :func:`fake_quant`: a context in which the weights are projected for the forward and
  backward pass and restored before the optimizer step (straight-through estimator:
  BinaryConnect, Courbariaux et al. 2015; the "fake quantization" of Jacob et al. 2018).

The recipe (``docs/xylo.md``; ``examples/xylo_digits.py``): train with ``max_spikes=31`` on
hidden layers (Xylo's multi-spike rule) -> :func:`snap_decays` -> fine-tune under
:func:`fake_quant`, recomputing :func:`weight_grid` every epoch -> :func:`project` with a
fresh grid before saving.  A projected model compiles to weights that reproduce it exactly.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ...errors import SnnccError
from .quantize import QuantConfig, _dash, dash_decay


@torch.no_grad()
def snap_decays(model: nn.Module) -> int:
    """Move every ``snncc.nn`` LIF / CUBA-LIF decay to its nearest Xylo dash value and
    freeze it (``alpha``: ``dash_syn >= 1``; ``beta``: ``dash_mem >= 0``); returns how many
    layers were snapped.  Decays stay per neuron."""
    from ...nn import LIF
    layers = 0
    for m in model.modules():
        if not isinstance(m, LIF):
            continue
        for name, lo in (("alpha", 1), ("beta", 0)):
            p = getattr(m, name, None)
            if p is None:
                continue
            p.copy_(torch.as_tensor(dash_decay(_dash(p.clamp(0, 1).double().numpy(), lo)),
                                    dtype=p.dtype))
            p.requires_grad_(False)
        layers += 1
    return layers


def weight_grid(model: nn.Module, chip: str = "xylo-audio2",
                config: Optional[QuantConfig] = None,
                input_shape: Optional[Sequence[int]] = None) -> dict[str, torch.Tensor]:
    """``{Linear module name: (out, 1) float32 step}``: the float weight that one integer
    weight unit of that row stands for when ``model`` is compiled for ``chip``.

    Raises :class:`SnnccError` if the model does not compile for ``chip`` or a Xylo synapse
    is not one ``nn.Linear`` of the model holding the same weights (several Linear layers
    composed into one, or an input scale folded into them by the neuron's lowering).
    """
    from dataclasses import replace

    from ...compiler import compile_model
    from .fixedpoint import CHIPS
    from .quantize import xylo_synapses
    cfg = replace(config or QuantConfig(), chip=chip)
    compiled = compile_model(model, input_shape, config=cfg, target=chip)
    composed = xylo_synapses(compiled.lowered, CHIPS[chip])
    modules = dict(model.named_modules())
    grid = {}
    for name, step in compiled.quant.weight_steps.items():
        module, weight = modules.get(name), composed.node(name).weight
        if not isinstance(module, nn.Linear) or tuple(module.weight.shape) != weight.shape \
                or not np.allclose(weight, module.weight.detach().double().numpy(),
                                   rtol=1e-6, atol=0):
            raise SnnccError(f"Xylo synapse {name!r} is not one Linear layer of the model with "
                             "the same weights (layers composed, or an input scale folded in)",
                             "put each Linear directly before its LIF/CubaLIF layer "
                             "(snncc.nn neurons fold no input scale)")
        grid[name] = torch.as_tensor(step, dtype=torch.float32).reshape(-1, 1)
    return grid


def _projected(weight: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.round(weight / step), -128, 127) * step


@torch.no_grad()
def project(model: nn.Module, grid: dict[str, torch.Tensor]) -> float:
    """Round every gridded Linear weight of ``model`` onto ``grid`` in place (int8 range);
    returns the largest move in units of a step (<= 0.5 unless a weight was clipped)."""
    modules = dict(model.named_modules())
    moved = 0.0
    for name, step in grid.items():
        w = modules[name].weight
        new = _projected(w, step)
        moved = max(moved, float(((new - w).abs() / step).max()))
        w.copy_(new)
    return moved


@contextmanager
def fake_quant(model: nn.Module, grid: dict[str, torch.Tensor]) -> Iterator[None]:
    """Within the context the gridded weights hold their projection (forward and backward
    see Xylo's weights); on exit the float weights come back and keep the gradients, for
    the optimizer step (straight-through)."""
    modules = dict(model.named_modules())
    saved = {name: modules[name].weight.detach().clone() for name in grid}
    with torch.no_grad():
        for name, step in grid.items():
            modules[name].weight.copy_(_projected(saved[name], step))
    try:
        yield
    finally:
        with torch.no_grad():
            for name, w in saved.items():
                modules[name].weight.copy_(w)
