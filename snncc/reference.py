"""Run the float PyTorch model over time and record every neuron layer's spikes."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from .nn import reset


def streams(model) -> bool:
    """Whether :func:`run_float` can run ``model`` window by window (``carry``): plain torch
    models and NIR graphs; framework models run their own whole-sequence drivers."""
    from .frontend.frameworks import driver_for
    from .modelfile import NirFile
    return isinstance(model, NirFile) or driver_for(model) is None


@torch.no_grad()
def run_float(model: nn.Module, stimulus: np.ndarray, layers: list[str],
              batch_size: int = 256, carry: Optional[dict] = None) -> dict[str, np.ndarray]:
    """Spikes (bool, (T, B, n)) of each module named in ``layers`` for ``stimulus`` (T, B, ...).

    ``layers`` are module qualified names, which the fx frontend uses as IR node names.
    ``carry`` (models where :func:`streams` holds; at most ``batch_size`` samples): a dict
    holding the run between calls, so that a long run is fed window after window (empty:
    start from a reset model; the next call resumes from its state).
    """
    from .modelfile import NirFile
    if isinstance(model, NirFile):      # a .nir model: its float graph is the reference
        from .passes import lower_neurons
        from .passes.float_sim import simulate_float
        if carry is not None and "graph" not in carry:
            carry["graph"] = lower_neurons(model.graph())[0]
        graph = carry["graph"] if carry is not None else lower_neurons(model.graph())[0]
        spikes = simulate_float(graph, np.asarray(stimulus),
                                carry=None if carry is None else carry.setdefault("sim", {}))
        return {name: spikes[name] for name in layers}
    tuned = next((m for m in model.modules() if callable(getattr(m, "run_layers", None))), None)
    if tuned is not None:                # snncc.nn.TunedNetwork: its layers are inside it
        return tuned.run_layers(np.asarray(stimulus), layers, batch_size)
    from .frontend.frameworks import driver_for, run_native
    if driver_for(model) is not None:    # snnTorch/SpikingJelly/Norse: their own forward pass
        if carry is not None:
            raise ValueError("framework models run whole sequences: no carry")
        return run_native(model, stimulus, layers, batch_size)
    modules = dict(model.named_modules())
    steps, total = stimulus.shape[:2]
    out = {name: [] for name in layers}
    model.eval()
    for start in range(0, total, batch_size):
        chunk = torch.as_tensor(stimulus[:, start:start + batch_size], dtype=torch.float32)
        record = {name: [] for name in layers}
        hooks = [modules[name].register_forward_hook(
                 lambda m, i, o, name=name: record[name].append(o.detach().reshape(o.shape[0], -1)))
                 for name in layers]
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
            out[name].append(torch.stack(record[name]).numpy() > 0)
    return {name: np.concatenate(chunks, axis=1) for name, chunks in out.items()}
