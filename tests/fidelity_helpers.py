"""Small models shared by the fidelity tests (attribution, PTQ, fine-tuning)."""
from __future__ import annotations

import torch
from torch import nn


def mlp(neuron, n_in: int = 10, hidden: int = 12, n_out: int = 4, seed: int = 0,
        bias: float | None = None) -> nn.Sequential:
    """Linear -> neuron(hidden) -> Linear -> neuron(n_out), first weights x1.5 so layers fire;
    ``bias``: first-layer biases uniform in [0, bias] (else PyTorch's initialisation)."""
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(n_in, hidden), neuron(hidden), nn.Linear(hidden, n_out),
                      neuron(n_out))
    with torch.no_grad():
        m[0].weight.mul_(1.5)
        if bias is not None:
            m[0].bias.uniform_(0.0, bias)
    return m.eval()
