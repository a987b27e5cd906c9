"""Run the float PyTorch model over time and record every neuron layer's output.

The model runs in its own dtype (a ``.double()`` model in float64, a ``.half()`` one in
float16): the stimulus is cast to it, never the model to float32.  Models made of
snnTorch / SpikingJelly / Norse neurons run through their framework's own driver
(:func:`snncc.frontend.frameworks.run_native`).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from .nn import reset


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of ``model``'s parameters and buffers (float32 when it has none).

    Reads each module's own tables, so a hand-edited file holding a non-tensor where a
    parameter belongs does not make this fail (the converters refuse it with its name)."""
    for m in model.modules():
        for t in list(m._parameters.values()) + list(m._buffers.values()):
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                return t.dtype
    return torch.float32


def _output(o) -> torch.Tensor:
    """A module's data output: the first element of a (spikes, state...) tuple."""
    while isinstance(o, (tuple, list)):
        o = o[0]
    return o


def streams(model) -> bool:
    """Whether :func:`run_float` can run ``model`` window by window (``carry``): plain torch
    models and NIR graphs; framework models run their own whole-sequence drivers."""
    from .frontend.frameworks import driver_for
    from .modelfile import NirFile
    return isinstance(model, NirFile) or driver_for(model) is None


def _nir_run(model, stimulus: np.ndarray, layers: list[str], carry: Optional[dict],
             values: bool) -> dict[str, np.ndarray]:
    """A ``.nir`` model: its lowered float graph is the reference (readouts: their v)."""
    from .passes import lower_neurons
    from .passes.float_sim import simulate_float
    if carry is not None and "graph" not in carry:
        carry["graph"] = lower_neurons(model.graph())[0]
    graph = carry["graph"] if carry is not None else lower_neurons(model.graph())[0]
    states: dict = {}
    spikes = simulate_float(graph, np.asarray(stimulus), states=states,
                            carry=None if carry is None else carry.setdefault("sim", {}))
    if not values:
        return {name: spikes[name] for name in layers}
    return {name: states[name] if not graph.node(name).spiking
            else spikes[name].astype(np.float64) for name in layers}


@torch.no_grad()
def run_float(model: nn.Module, stimulus: np.ndarray, layers: list[str],
              batch_size: int = 256, carry: Optional[dict] = None,
              values: bool = False) -> dict[str, np.ndarray]:
    """Spikes (bool, (T, B, n)) of each module named in ``layers`` for ``stimulus`` (T, B, ...).

    ``layers`` are module qualified names, which the fx frontend uses as IR node names.
    Multi-spike neurons (``max_spikes > 1``) record their spike counts (int16) instead.
    ``values=True`` returns what each module emitted instead, as float64 (T, B, n): spikes
    as 0/1, a non-spiking readout's membrane, or whatever else a module emits.
    ``carry`` (models where :func:`streams` holds; at most ``batch_size`` samples): a dict
    holding the run between calls, so that a long run is fed window after window (empty:
    start from a reset model; the next call resumes from its state).
    """
    from .modelfile import NirFile
    if isinstance(model, NirFile):
        return _nir_run(model, stimulus, layers, carry, values)
    tuned = next((m for m in model.modules() if callable(getattr(m, "run_layers", None))), None)
    if tuned is not None:                # snncc.nn.TunedNetwork: its layers are inside it
        return tuned.run_layers(np.asarray(stimulus), layers, batch_size)
    from .frontend.frameworks import driver_for, run_native
    if driver_for(model) is not None:    # snnTorch/SpikingJelly/Norse: their own forward pass
        if carry is not None:
            raise ValueError("framework models run whole sequences: no carry")
        return run_native(model, stimulus, layers, batch_size, values=values)
    modules = dict(model.named_modules())
    steps, total = stimulus.shape[:2]
    dtype = model_dtype(model)
    out = {name: [] for name in layers}
    model.eval()
    for start in range(0, total, batch_size):
        chunk = torch.as_tensor(np.asarray(stimulus[:, start:start + batch_size])).to(dtype)
        record = {name: [] for name in layers}

        def hook(m, i, o, name):
            o = _output(o)
            record[name].append(o.detach().reshape(o.shape[0], -1))
        hooks = [modules[name].register_forward_hook(
                 lambda m, i, o, name=name: hook(m, i, o, name)) for name in layers]
        try:
            if carry is None or not carry.get("started"):
                reset(model)
            if carry is not None:
                carry["started"] = True
            for t in range(steps):
                model(chunk[t])
        finally:
            for h in hooks:
                h.remove()
        for name in layers:
            seq = torch.stack(record[name]).double().numpy()
            if values:
                out[name].append(seq)
            elif getattr(modules[name], "max_spikes", 1) > 1:
                out[name].append(seq.astype(np.int16))
            else:
                out[name].append(seq > 0)
    return {name: np.concatenate(chunks, axis=1) for name, chunks in out.items()}
