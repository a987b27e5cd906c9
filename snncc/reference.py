"""Run the float PyTorch model over time and record every neuron layer's spikes."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .nn import reset


@torch.no_grad()
def run_float(model: nn.Module, stimulus: np.ndarray, layers: list[str],
              batch_size: int = 256) -> dict[str, np.ndarray]:
    """Spikes (bool, (T, B, n)) of each module named in ``layers`` for ``stimulus`` (T, B, ...).

    ``layers`` are module qualified names, which the fx frontend uses as IR node names.
    """
    from .modelfile import NirFile
    if isinstance(model, NirFile):      # a .nir model: its float graph is the reference
        from .passes import lower_neurons
        from .passes.float_sim import simulate_float
        spikes = simulate_float(lower_neurons(model.graph())[0], np.asarray(stimulus))
        return {name: spikes[name] for name in layers}
    tuned = next((m for m in model.modules() if callable(getattr(m, "run_layers", None))), None)
    if tuned is not None:                # snncc.nn.TunedNetwork: its layers are inside it
        return tuned.run_layers(np.asarray(stimulus), layers, batch_size)
    from .frontend.frameworks import driver_for, run_native
    if driver_for(model) is not None:    # snnTorch/SpikingJelly/Norse: their own forward pass
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
            reset(model)
            for t in range(steps):
                model(chunk[t])
        finally:
            for h in hooks:
                h.remove()
        for name in layers:
            out[name].append(torch.stack(record[name]).numpy() > 0)
    return {name: np.concatenate(chunks, axis=1) for name, chunks in out.items()}
