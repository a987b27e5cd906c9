"""The fidelity bench's model zoo: digits-sized builders per framework family, and BPTT training.

Every family is built for scikit-learn's 8x8 digits (rate coded, ``examples/digits.py``):
64 inputs (or (1, 8, 8) for conv nets), 10 outputs, and trained with Adam on the output
spike counts.  ``counts(model, x)`` runs a batch ``x`` (B, T, ...) through the model the way
its framework steps it (snncc.nn / snnTorch one call per step, SpikingJelly multi-step one
call per sequence, Norse threading its state) and returns the spike counts (B, 10).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

N_IN, N_OUT, HIDDEN = 64, 10, 64


@dataclass
class Family:
    name: str
    framework: str
    build: Callable[[int], nn.Module]        # T -> model
    counts: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    input_shape: tuple[int, ...] = (N_IN,)
    lr: float = 5e-3


# ----------------------------------------------------------------------------- stepping

def _snncc_counts(model, x):
    import snncc.nn as snn
    snn.reset(model)
    return sum(model(x[:, t]) for t in range(x.shape[1]))


def _snntorch_counts(model, x):
    from snntorch import utils
    utils.reset(model)
    return sum(model(x[:, t]) for t in range(x.shape[1]))


def _sj_multistep_counts(model, x):
    from spikingjelly.activation_based import functional
    functional.reset_net(model)
    return model(x.transpose(0, 1)).sum(0)


def _norse_counts(model, x):
    state, total = None, 0
    for t in range(x.shape[1]):
        out, state = model(x[:, t], state)
        total = total + out
    return total


# ----------------------------------------------------------------------------- builders

def _mlp(neuron: Callable[[int], nn.Module]) -> nn.Sequential:
    return nn.Sequential(nn.Linear(N_IN, HIDDEN), neuron(HIDDEN), nn.Linear(HIDDEN, N_OUT),
                         neuron(N_OUT))


def snntorch_mlp(kind: str) -> Callable[[int], nn.Module]:
    def build(T: int) -> nn.Module:
        import snntorch as snt
        make = {"leaky": lambda n: snt.Leaky(beta=torch.full((n,), 0.9), threshold=torch.ones(n),
                                             learn_beta=True, learn_threshold=True,
                                             init_hidden=True),
                "synaptic": lambda n: snt.Synaptic(alpha=torch.full((n,), 0.6),
                                                   beta=torch.full((n,), 0.9), learn_alpha=True,
                                                   learn_beta=True, init_hidden=True),
                "rleaky": lambda n: snt.RLeaky(beta=torch.full((n,), 0.9), V=torch.full((n,), 0.2),
                                               all_to_all=False, learn_beta=True,
                                               init_hidden=True)}[kind]
        return _mlp(make)
    return build


def sj_conv_bn(T: int) -> nn.Module:
    """SpikingJelly multi-step: conv-BN-LIF, conv-BN-LIF (stride 2), flatten, Linear, LIF."""
    from spikingjelly.activation_based import functional, layer
    from spikingjelly.activation_based import neuron as sjn
    m = nn.Sequential(layer.Conv2d(1, 8, 3, padding=1), layer.BatchNorm2d(8), sjn.LIFNode(tau=2.0),
                      layer.Conv2d(8, 16, 3, stride=2, padding=1), layer.BatchNorm2d(16),
                      sjn.LIFNode(tau=2.0), layer.Flatten(), layer.Linear(16 * 16, N_OUT),
                      sjn.LIFNode(tau=2.0))
    functional.set_step_mode(m, "m")
    return m


def norse_lifbox(T: int) -> nn.Module:
    import norse.torch as norse
    p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(200.0), v_th=torch.tensor(0.5))
    return norse.SequentialState(nn.Linear(N_IN, HIDDEN), norse.LIFBoxCell(p),
                                 nn.Linear(HIDDEN, N_OUT), norse.LIFBoxCell(p))


def seed(kind: str) -> Callable[[int], nn.Module]:
    def build(T: int) -> nn.Module:
        import snncc.nn as snn
        make = {"lif": lambda n: snn.LIF(n), "lif-subtract": lambda n: snn.LIF(n, reset="subtract"),
                "cuba": lambda n: snn.CubaLIF(n), "plif": lambda n: snn.PLIF(n),
                "dalif": lambda n: snn.DALIF(n), "klif": lambda n: snn.KLIF(n),
                "glif": lambda n: snn.GLIF(n, T=T)}
        if kind in make:
            return _mlp(make[kind])
        cell = snn.RLIF(HIDDEN) if kind == "rlif" else snn.RCubaLIF(HIDDEN)
        with torch.no_grad():
            cell.recurrent.weight.mul_(0.2)
        return nn.Sequential(nn.Linear(N_IN, HIDDEN), cell, nn.Linear(HIDDEN, N_OUT),
                             snn.LIF(N_OUT))
    return build


class SEWNet(nn.Module):
    """conv-LIF, then a SEW block s + LIF(conv(s)) (the add of spikes), pool, Linear-LIF."""

    def __init__(self) -> None:
        super().__init__()
        import snncc.nn as snn
        self.conv1, self.sn1 = nn.Conv2d(1, 8, 3, padding=1), snn.LIF((8, 8, 8))
        self.conv2, self.sn2 = nn.Conv2d(8, 8, 3, padding=1), snn.LIF((8, 8, 8))
        self.pool, self.flat = nn.AvgPool2d(2), nn.Flatten()
        self.fc, self.sn3 = nn.Linear(8 * 16, N_OUT), snn.LIF(N_OUT)

    def forward(self, x):
        s1 = self.sn1(self.conv1(x))
        s2 = s1 + self.sn2(self.conv2(s1))
        return self.sn3(self.fc(self.flat(self.pool(s2))))


class ConvNet(nn.Module):
    """conv-LIF, conv-LIF (stride 2), flatten, Linear-LIF (snncc.nn)."""

    def __init__(self) -> None:
        super().__init__()
        import snncc.nn as snn
        self.conv1, self.sn1 = nn.Conv2d(1, 8, 3, padding=1), snn.LIF((8, 8, 8))
        self.conv2, self.sn2 = nn.Conv2d(8, 16, 3, stride=2, padding=1), snn.LIF((16, 4, 4))
        self.flat, self.fc, self.sn3 = nn.Flatten(), nn.Linear(16 * 16, N_OUT), snn.LIF(N_OUT)

    def forward(self, x):
        return self.sn3(self.fc(self.flat(self.sn2(self.conv2(self.sn1(self.conv1(x)))))))


IMG = (1, 8, 8)
FAMILIES = [
    Family("snntorch-leaky", "snnTorch", snntorch_mlp("leaky"), _snntorch_counts),
    Family("snntorch-synaptic", "snnTorch", snntorch_mlp("synaptic"), _snntorch_counts),
    Family("snntorch-rleaky", "snnTorch", snntorch_mlp("rleaky"), _snntorch_counts),
    Family("spikingjelly-conv-bn", "SpikingJelly", sj_conv_bn, _sj_multistep_counts, IMG),
    Family("norse-lifbox", "Norse", norse_lifbox, _norse_counts),
    *[Family(f"snncc-{k}", "snncc.nn", seed(k), _snncc_counts)
      for k in ("lif", "lif-subtract", "cuba", "plif", "dalif", "klif", "glif", "rlif", "rcuba")],
    Family("snncc-conv", "snncc.nn", lambda T: ConvNet(), _snncc_counts, IMG),
    Family("snncc-sew", "snncc.nn", lambda T: SEWNet(), _snncc_counts, IMG),
]


def digits(T: int, seed_: int = 0):
    """(x_train, y_train, x_test, y_test): uint8 spikes (B, T, 64) and labels."""
    from examples.digits import load_digits_spikes
    return load_digits_spikes(T, seed=seed_)


def shaped(x: np.ndarray, family: Family) -> np.ndarray:
    """(B, T, 64) -> (B, T, *input_shape)."""
    return x.reshape(x.shape[:2] + family.input_shape)


def train(family: Family, model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int,
          seed_: int = 0, log: Optional[Callable[[str], None]] = None) -> float:
    """BPTT with Adam on cross-entropy of the spike counts; returns the seconds it took."""
    torch.manual_seed(seed_)
    gen = torch.Generator().manual_seed(seed_)
    opt = torch.optim.Adam(model.parameters(), lr=family.lr)
    xs = torch.as_tensor(shaped(x, family), dtype=torch.float32)
    ys = torch.as_tensor(y, dtype=torch.long)
    start = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        for idx in torch.randperm(len(xs), generator=gen).split(64):
            counts = family.counts(model, xs[idx])
            loss = nn.functional.cross_entropy(counts * (10.0 / xs.shape[1]), ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            _clamp(model)
        if log:
            log(f"  {family.name}: epoch {epoch + 1}/{epochs} loss {float(loss):.3f}")
    model.eval()
    return time.perf_counter() - start


def _clamp(model: nn.Module) -> None:
    """Keep learned decays in [0, 1] and thresholds positive (what the frontends accept)."""
    with torch.no_grad():
        for m in model.modules():
            for name in ("alpha", "beta"):
                p = getattr(m, name, None)
                if isinstance(p, nn.Parameter):
                    p.clamp_(0.0, 1.0)
            p = getattr(m, "threshold", None)
            if isinstance(p, nn.Parameter):
                p.clamp_(min=0.25)
