"""The model zoo: one builder per model family, sizes as arguments, weights seeded.

Importable by tests and benches (``from bench.zoo import FAMILIES``) and by the CLI as a
model spec (``snncc compile bench/zoo.py:norse_mlp --model-args '{"hidden": 32}'``).  Every
builder returns a model in eval mode whose layers all spike on rate-coded input (weights are
seeded N(0, gain^2 / fan_in), so deeper layers keep firing); the ``fidelity`` work trains
digits versions of the same families by calling the builders with its own sizes.

:data:`FAMILIES` lists each family with the input shape its defaults take and how a user
saves it: ``"pickle"`` (``torch.save(model)``, then ``snncc compile model.pt``) or
``"state_dict"`` (the model has its own class, or the framework's modules cannot be pickled:
``torch.save(model.state_dict())``, then ``snncc compile bench/zoo.py:<builder> --weights
state.pt``).  Frameworks are imported
inside the builders, so importing this module needs only torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn


def seed_weights(model: nn.Module, seed: int = 0, gain: float = 2.0) -> nn.Module:
    """Linear / Conv2d weights N(0, gain^2 / fan_in), biases N(0, 0.05^2), reproducibly."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain / fan_in ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)
    return model.eval()


def _mlp_layers(n_in: int, hidden: Sequence[int], n_out: int, neuron: Callable[[int], nn.Module],
                last: Callable[[int], nn.Module] | None = None) -> list[nn.Module]:
    sizes = [n_in, *hidden, n_out]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b), (last or neuron)(b) if i == len(sizes) - 2 else neuron(b)]
    return layers


# ------------------------------------------------------------------------------- snncc.nn

def mlp(n_in: int = 16, hidden: Sequence[int] = (32,), n_out: int = 4, neuron: str = "lif",
        seed: int = 0, gain: float = 2.5) -> nn.Module:
    """Linear -> neuron layers; ``neuron``: lif, cuba, plif, dalif, klif (snncc.nn)."""
    import snncc.nn as snn
    make = {"lif": lambda n: snn.LIF(n, reset="subtract"), "cuba": lambda n: snn.CubaLIF(n),
            "plif": lambda n: snn.PLIF(n), "dalif": lambda n: snn.DALIF(n),
            "klif": lambda n: snn.KLIF(n)}[neuron]
    return seed_weights(nn.Sequential(*_mlp_layers(n_in, hidden, n_out, make)), seed, gain)


def readout_mlp(n_in: int = 16, hidden: Sequence[int] = (32,), n_out: int = 4,
                seed: int = 0, gain: float = 2.5) -> nn.Module:
    """LIF hidden layers and a non-spiking CUBA leaky-integrator readout (snncc.nn.CubaLI)."""
    import snncc.nn as snn
    layers = _mlp_layers(n_in, hidden, n_out, lambda n: snn.LIF(n),
                         last=lambda n: snn.CubaLI(n, alpha=0.5, beta=0.9))
    return seed_weights(nn.Sequential(*layers), seed, gain)


def recurrent(n_in: int = 16, hidden: int = 24, n_out: int = 4, cuba: bool = False,
              seed: int = 0, gain: float = 2.5) -> nn.Module:
    """Linear -> RLIF (or RCubaLIF: recurrent synapses) -> Linear -> LIF."""
    import snncc.nn as snn
    cell = snn.RCubaLIF(hidden) if cuba else snn.RLIF(hidden)
    model = nn.Sequential(nn.Linear(n_in, hidden), cell, nn.Linear(hidden, n_out), snn.LIF(n_out))
    seed_weights(model, seed, gain)
    with torch.no_grad():
        cell.recurrent.weight.mul_(0.5)
    return model


class ConvNet(nn.Module):
    """conv -> LIF -> conv (stride 2) -> LIF -> flatten -> Linear -> LIF."""

    def __init__(self, shape: Sequence[int] = (2, 8, 8), channels: Sequence[int] = (4, 8),
                 n_out: int = 4):
        super().__init__()
        import snncc.nn as snn
        c, h, w = shape
        self.conv1, self.sn1 = nn.Conv2d(c, channels[0], 3, padding=1), snn.LIF((channels[0], h, w))
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, stride=2, padding=1)
        h2, w2 = (h + 1) // 2, (w + 1) // 2
        self.sn2 = snn.LIF((channels[1], h2, w2))
        self.flat, self.fc = nn.Flatten(), nn.Linear(channels[1] * h2 * w2, n_out)
        self.sn3 = snn.LIF(n_out)

    def forward(self, x):
        return self.sn3(self.fc(self.flat(self.sn2(self.conv2(self.sn1(self.conv1(x)))))))


def conv(shape: Sequence[int] = (2, 8, 8), channels: Sequence[int] = (4, 8), n_out: int = 4,
         seed: int = 0, gain: float = 3.0) -> nn.Module:
    return seed_weights(ConvNet(tuple(shape), tuple(channels), n_out), seed, gain)


class ResidualNet(nn.Module):
    """Spiking ResNet block: sn2(conv2(s1) + shortcut(s1)), the add before the neuron; with
    ``sew=True`` a SEW block instead: s1 + sn2(conv2(s1)), the add of spikes (then a conv)."""

    def __init__(self, shape: Sequence[int] = (2, 6, 6), channels: int = 4, n_out: int = 4,
                 sew: bool = False):
        super().__init__()
        import snncc.nn as snn
        c, h, w = shape
        self.sew = sew
        self.conv1, self.sn1 = nn.Conv2d(c, channels, 3, padding=1), snn.LIF((channels, h, w))
        self.conv2, self.sn2 = nn.Conv2d(channels, channels, 3, padding=1), snn.LIF((channels, h, w))
        self.short = nn.Conv2d(channels, channels, 1)
        self.conv3, self.sn3 = nn.Conv2d(channels, channels, 3, padding=1), snn.LIF((channels, h, w))
        self.flat, self.fc, self.sn4 = nn.Flatten(), nn.Linear(channels * h * w, n_out), snn.LIF(n_out)

    def forward(self, x):
        s1 = self.sn1(self.conv1(x))
        if self.sew:
            s2 = s1 + self.sn2(self.conv2(s1))
        else:
            s2 = self.sn2(self.conv2(s1) + self.short(s1))
        return self.sn4(self.fc(self.flat(self.sn3(self.conv3(s2)))))


def residual(shape: Sequence[int] = (2, 6, 6), channels: int = 4, n_out: int = 4,
             seed: int = 0, gain: float = 3.0) -> nn.Module:
    return seed_weights(ResidualNet(tuple(shape), channels, n_out, sew=False), seed, gain)


def sew(shape: Sequence[int] = (2, 6, 6), channels: int = 4, n_out: int = 4,
        seed: int = 0, gain: float = 3.0) -> nn.Module:
    return seed_weights(ResidualNet(tuple(shape), channels, n_out, sew=True), seed, gain)


# ------------------------------------------------------------------------------- snnTorch

def snntorch_mlp(n_in: int = 16, hidden: Sequence[int] = (32,), n_out: int = 4,
                 neuron: str = "leaky", seed: int = 0, gain: float = 2.5) -> nn.Module:
    """snnTorch Leaky / Synaptic / Lapicque layers (init_hidden=True, default surrogates)."""
    import snntorch as snt
    make = {"leaky": lambda n: snt.Leaky(beta=0.9, init_hidden=True),
            "synaptic": lambda n: snt.Synaptic(alpha=0.6, beta=0.9, init_hidden=True),
            "lapicque": lambda n: snt.Lapicque(beta=0.9, init_hidden=True)}[neuron]
    return seed_weights(nn.Sequential(*_mlp_layers(n_in, hidden, n_out, make)), seed, gain)


def snntorch_recurrent(n_in: int = 16, hidden: int = 24, n_out: int = 4,
                       neuron: str = "rleaky", seed: int = 0, gain: float = 2.5) -> nn.Module:
    """snnTorch all-to-all RLeaky or RSynaptic (recurrent synapses) -> Linear -> Leaky."""
    import snntorch as snt
    cell = (snt.RLeaky(beta=0.9, linear_features=hidden, init_hidden=True) if neuron == "rleaky"
            else snt.RSynaptic(alpha=0.6, beta=0.9, linear_features=hidden, init_hidden=True))
    model = nn.Sequential(nn.Linear(n_in, hidden), cell, nn.Linear(hidden, n_out),
                          snt.Leaky(beta=0.9, init_hidden=True))
    seed_weights(model, seed, gain)
    with torch.no_grad():
        cell.recurrent.weight.mul_(0.5)
    return model


# ------------------------------------------------------------------------------- SpikingJelly

def spikingjelly_mlp(n_in: int = 16, hidden: Sequence[int] = (32,), n_out: int = 4,
                     neuron: str = "lif", step_mode: str = "s", seed: int = 0,
                     gain: float = 3.0) -> nn.Module:
    """SpikingJelly layer.Linear -> LIFNode / ParametricLIFNode / IFNode, in either step mode."""
    from spikingjelly.activation_based import functional, layer
    from spikingjelly.activation_based import neuron as sjn
    make = {"lif": lambda n: sjn.LIFNode(tau=2.0), "plif": lambda n: sjn.ParametricLIFNode(),
            "if": lambda n: sjn.IFNode()}[neuron]
    sizes = [n_in, *hidden, n_out]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [layer.Linear(a, b), make(b)]
    model = nn.Sequential(*layers)
    functional.set_step_mode(model, step_mode)
    return seed_weights(model, seed, gain)


def spikingjelly_conv(shape: Sequence[int] = (1, 8, 8), channels: int = 6, n_out: int = 4,
                      seed: int = 0, gain: float = 3.0) -> nn.Module:
    """SpikingJelly's multi-step idiom: SeqToANNContainer(conv, bn) -> LIFNode (step_mode m)."""
    from spikingjelly.activation_based import functional, layer
    from spikingjelly.activation_based import neuron as sjn
    c, h, w = shape
    model = nn.Sequential(layer.SeqToANNContainer(nn.Conv2d(c, channels, 3, padding=1),
                                                  nn.BatchNorm2d(channels)),
                          sjn.LIFNode(tau=2.0),
                          layer.SeqToANNContainer(nn.Flatten(), nn.Linear(channels * h * w, n_out)),
                          sjn.LIFNode(tau=2.0))
    functional.set_step_mode(model, "m")
    return seed_weights(model, seed, gain)


# ------------------------------------------------------------------------------- Norse

def norse_mlp(n_in: int = 16, hidden: Sequence[int] = (32,), n_out: int = 4,
              readout: str = "li", seed: int = 0, gain: float = 25.0) -> nn.Module:
    """Norse SequentialState: Linear -> LIFCell ... -> Linear -> LICell readout (or
    ``readout="lif"``: a spiking LIFCell, ``"li_box"``: LIBoxCell).  Norse's cells integrate
    with dt * tau_mem_inv = 0.1, hence the larger weight gain."""
    import norse.torch as norse
    last = {"li": lambda n: norse.LICell(), "li_box": lambda n: norse.LIBoxCell(),
            "lif": lambda n: norse.LIFCell()}[readout]
    layers = _mlp_layers(n_in, hidden, n_out, lambda n: norse.LIFCell(), last=last)
    return seed_weights(norse.SequentialState(*layers), seed, gain)


@dataclass
class Family:
    """One model family of the zoo: how to build it, what it eats, how a user saves it."""

    name: str
    framework: str
    builder: str                      # function name in this module
    input_shape: tuple[int, ...]
    save: str = "pickle"              # or "state_dict" (modules that cannot be pickled)
    args: dict = field(default_factory=dict)

    def build(self) -> nn.Module:
        return globals()[self.builder](**self.args)


FAMILIES: list[Family] = [
    Family("mlp", "snncc.nn", "mlp", (16,)),
    Family("mlp-cuba", "snncc.nn", "mlp", (16,), args={"neuron": "cuba"}),
    Family("readout", "snncc.nn", "readout_mlp", (16,)),
    Family("conv", "snncc.nn", "conv", (2, 8, 8), "state_dict"),        # own nn.Module class
    Family("residual", "snncc.nn", "residual", (2, 6, 6), "state_dict"),
    Family("sew", "snncc.nn", "sew", (2, 6, 6), "state_dict"),
    Family("recurrent", "snncc.nn", "recurrent", (16,)),
    Family("recurrent-cuba", "snncc.nn", "recurrent", (16,), args={"cuba": True}),
    Family("snntorch", "snnTorch", "snntorch_mlp", (16,), "state_dict"),
    Family("snntorch-recurrent", "snnTorch", "snntorch_recurrent", (16,), "state_dict",
           {"neuron": "rsynaptic"}),
    Family("spikingjelly", "SpikingJelly", "spikingjelly_mlp", (16,)),
    Family("spikingjelly-conv", "SpikingJelly", "spikingjelly_conv", (1, 8, 8)),
    Family("norse", "Norse", "norse_mlp", (16,), "state_dict"),
]
