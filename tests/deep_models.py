"""Small deep spiking networks shared by the conv / residual / recurrent / Lava tests.

Two kinds of parameters:

* ``grid=False``: continuous random weights and per-neuron decays and thresholds, as a
  trained model has them (quantization then flips the spikes of neurons that sit within
  a weight LSB of their threshold);
* ``grid=True``: weights on a 1/2 grid, batch-norm that folds onto that grid, memoryless
  neurons (alpha = beta = 0) and thresholds half-way between the membrane values a 1/8 grid
  allows (pools divide by 4), so every membrane sits at least 1/16 from its threshold,
  beyond the weights' rounding: a correct compiler reproduces the float spikes; a
  disagreement means a structural error (composition, delays, layout), not rounding.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

import snncc.nn as snn

GRID = 0.5
GRID_THRESHOLD = 2.5 / 8    # half-way between two membrane values of the 1/8 grid


def _neuron(shape, grid: bool, kind: str = "lif", threshold: float = 0.8):
    n = int(np.prod(shape))
    if grid:
        thr = GRID_THRESHOLD + np.floor(threshold / GRID) * GRID
        if kind == "cuba":
            return snn.CubaLIF(shape, alpha=0.0, beta=0.0, threshold=thr)
        return snn.LIF(shape, beta=0.0, threshold=thr)
    beta = torch.rand(n) * 0.3 + 0.65
    thr = torch.rand(n) * 0.4 + threshold
    if kind == "cuba":
        return snn.CubaLIF(shape, alpha=torch.rand(n) * 0.5, beta=beta, threshold=thr)
    return snn.LIF(shape, beta=beta, threshold=thr)


def randomize(model: nn.Module, grid: bool, gain: float = 1.0, seed: int = 0) -> nn.Module:
    """Weights (and batch-norm statistics) as described in the module docstring; eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                w = torch.randn(m.weight.shape, generator=g) * gain * 2.0 / np.sqrt(fan_in)
                m.weight.copy_(torch.round(w / GRID) * GRID if grid else w)
                if m.bias is not None:
                    b = torch.rand(m.bias.shape, generator=g) * 0.2
                    m.bias.copy_(torch.round(b / GRID) * GRID if grid else b)
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = m.num_features
                if grid:        # var + eps = 1/4 exactly: scale = 2 * gamma in {1, 2}
                    m.eps = 0.0
                    m.running_var.fill_(0.25)
                    m.weight.copy_(torch.randint(1, 3, (c,), generator=g) * 0.5)
                    m.running_mean.copy_(torch.randint(-1, 2, (c,), generator=g) * GRID)
                    m.bias.copy_(torch.randint(0, 2, (c,), generator=g) * GRID)
                else:
                    m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                    m.running_mean.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
                    m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                    m.bias.copy_(torch.rand(c, generator=g) * 0.2)
    return model.eval()


def vgg(grid: bool = True, seed: int = 0, in_ch: int = 2, size: int = 8) -> nn.Sequential:
    """conv-BN-LIF, grouped conv-BN-LIF, avg pool, strided conv-BN-CUBA, sum pool, flatten,
    dropout, Linear, LIF: a small VGG-style network on (in_ch, size, size) spikes."""
    torch.manual_seed(seed)
    h = size // 2
    model = nn.Sequential(
        nn.Conv2d(in_ch, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
        _neuron((4, size, size), grid),
        nn.Conv2d(4, 8, 3, padding=1, groups=2, bias=False), nn.BatchNorm2d(8),
        _neuron((8, size, size), grid),
        nn.AvgPool2d(2),
        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8),
        _neuron((8, h // 2, h // 2), grid, "cuba"),
        snn.SumPool2d(2), nn.Flatten(), nn.Dropout(0.2),
        nn.Linear(8 * (h // 4) ** 2, 10), _neuron(10, grid, threshold=0.5))
    return randomize(model, grid, seed=seed)


class SEWBlock(nn.Module):
    """SEW-ResNet basic block, ADD connect: sn2(bn2(conv2(sn1(bn1(conv1(x)))))) + x."""

    def __init__(self, c: int, hw: int, grid: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.sn1 = _neuron((c, hw, hw), grid)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.sn2 = _neuron((c, hw, hw), grid)

    def forward(self, x):
        return self.sn2(self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x)))))) + x


class SEWNet(nn.Module):
    """Stem conv + LIF, a stack of SEW blocks (each output is a sum of spike tensors),
    max pool of the stem's spikes on the side, global average pool, Linear, LIF."""

    def __init__(self, blocks: int = 2, c: int = 4, hw: int = 8, grid: bool = True) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.sn = _neuron((c, hw, hw), grid)
        self.blocks = nn.Sequential(*[SEWBlock(c, hw, grid) for _ in range(blocks)])
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, 6)
        self.out = _neuron(6, grid, threshold=0.3)

    def forward(self, x):
        x = self.blocks(self.sn(self.bn(self.stem(x))))
        return self.out(self.fc(torch.flatten(self.pool(x), 1)))


def sew(grid: bool = True, seed: int = 0, blocks: int = 2) -> SEWNet:
    torch.manual_seed(seed)
    return randomize(SEWNet(blocks, grid=grid), grid, gain=1.5, seed=seed)


class SpikingResBlock(nn.Module):
    """Spiking ResNet block: the add is on the synaptic input of the second neuron,
    sn2(bn2(conv2(sn1(conv1(x)))) + shortcut(x)), the shortcut a 1x1 conv when downsampling."""

    def __init__(self, c_in: int, c_out: int, stride: int, hw: int, grid: bool) -> None:
        super().__init__()
        out = (hw - 1) // stride + 1
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.sn1 = _neuron((c_out, out, out), grid)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = (nn.Identity() if stride == 1 and c_in == c_out
                      else nn.Conv2d(c_in, c_out, 1, stride, bias=False))
        self.sn2 = _neuron((c_out, out, out), grid)

    def forward(self, x):
        return self.sn2(self.bn2(self.conv2(self.sn1(self.conv1(x)))) + self.short(x))


class SpikingResNet(nn.Module):
    def __init__(self, grid: bool = True) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.sn = _neuron((4, 8, 8), grid)
        self.b1 = SpikingResBlock(4, 4, 1, 8, grid)
        self.b2 = SpikingResBlock(4, 8, 2, 8, grid)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 2 * 2, 5)
        self.out = _neuron(5, grid, threshold=0.3)

    def forward(self, x):
        x = self.pool(self.b2(self.b1(self.sn(self.stem(x)))))
        return self.out(self.fc(x.view(x.size(0), -1)))


def spiking_resnet(grid: bool = True, seed: int = 0) -> SpikingResNet:
    torch.manual_seed(seed)
    return randomize(SpikingResNet(grid), grid, gain=1.5, seed=seed)


def recurrent(grid: bool = True, seed: int = 0, n_in: int = 12, hidden: int = 16) -> nn.Sequential:
    """Linear -> recurrent CUBA-LIF (own spikes back through a Linear) -> Linear -> recurrent LIF."""
    torch.manual_seed(seed)
    if grid:
        h1 = snn.RCubaLIF(hidden, alpha=0.0, beta=0.0, threshold=0.5 + GRID_THRESHOLD)
        h2 = snn.RLIF(6, beta=0.0, threshold=GRID_THRESHOLD + 0.25)
    else:
        h1 = snn.RCubaLIF(hidden, alpha=torch.rand(hidden) * 0.5, beta=torch.rand(hidden) * 0.3 + 0.6,
                          threshold=torch.rand(hidden) * 0.4 + 0.6)
        h2 = snn.RLIF(6, beta=torch.rand(6) * 0.3 + 0.6, threshold=torch.rand(6) * 0.3 + 0.4)
    model = nn.Sequential(nn.Linear(n_in, hidden), h1, nn.Linear(hidden, 6), h2)
    return randomize(model, grid, gain=1.2, seed=seed)


def spikes(steps: int, batch: int, shape, rate: float = 0.3, seed: int = 0) -> np.ndarray:
    """Random binary stimulus (T, B, *shape)."""
    return (np.random.default_rng(seed).random((steps, batch) + tuple(shape)) < rate).astype(np.uint8)


@torch.no_grad()
def torch_spikes(model: nn.Module, x: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
    """The named layers' spikes (T, B, n) from the torch model run in float64."""
    model = model.double()
    modules = dict(model.named_modules())
    rec = {k: [] for k in layers}
    hooks = [modules[k].register_forward_hook(
        lambda m, i, o, k=k: rec[k].append(o.detach().reshape(o.shape[0], -1).numpy() > 0))
        for k in layers]
    try:
        snn.reset(model)
        for t in range(x.shape[0]):
            model(torch.as_tensor(x[t], dtype=torch.float64))
    finally:
        for h in hooks:
            h.remove()
        snn.reset(model)
        model.float()
    return {k: np.stack(v) for k, v in rec.items()}
