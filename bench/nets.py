"""The benchmark's networks and inputs: the digits MLPs, compiled by snncc.

* ``64-128-10``: the trained digits example (``examples/out/model.pt`` from ``make demo``
  if present, else trained once by the example's own code into ``build/bench/``);
* ``64-128-128-10``: the same kind of model with a second hidden layer and seeded random
  weights (scaled so every layer spikes), since training it takes minutes;
* ``conv``: a small conv net on the 8x8 images, 1x8x8 -> conv 8 (3x3) -> conv 16 (3x3,
  stride 2) -> 10, seeded random weights.

Inputs are the digits test images, rate coded with fresh seeds up to the requested batch.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "bench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Net:
    """A float model, its compiled fixed-point graph and how it was made."""

    name: str
    model: object          # torch nn.Sequential, stepped one time step per call
    fixed: object          # snncc fixed-point Graph
    origin: str
    input_shape: tuple[int, ...] = (64,)


def _digits_model():
    """The trained 64-128-10 digits MLP (trained here once if `make demo` has not run)."""
    from snncc.modelfile import load_model

    for path in (ROOT / "examples" / "out" / "model.pt", CACHE / "digits" / "model.pt"):
        if path.exists():
            return load_model(path, trust=True), f"trained ({path.relative_to(ROOT)})"
    from examples.train_digits_mlp import main as train_main

    print("training the digits MLP once (examples/train_digits_mlp.py) ...", flush=True)
    train_main(["--out", str(CACHE / "digits")])
    return load_model(CACHE / "digits" / "model.pt", trust=True), "trained (build/bench/digits)"


def _random_deep_model(seed: int = 0):
    """64-128-128-10 LIF MLP, seeded random weights scaled so that every layer spikes."""
    import torch
    from torch import nn

    import snncc.nn as snn

    torch.manual_seed(seed)
    layers = []
    for n_in, n_out in ((64, 128), (128, 128), (128, 10)):
        lin = nn.Linear(n_in, n_out)
        with torch.no_grad():
            lin.weight.mul_(3.0)
        layers += [lin, snn.LIF(n_out, beta=0.9, threshold=0.5)]
    return nn.Sequential(*layers).eval(), f"seeded random weights (seed {seed})"


def _random_conv_model(seed: int = 0):
    """1x8x8 -> Conv 8 (3x3, pad 1) -> Conv 16 (3x3, stride 2, pad 1) -> Linear 10, LIF."""
    import torch
    from torch import nn

    import snncc.nn as snn

    torch.manual_seed(seed)
    lif = lambda shape: snn.LIF(shape, beta=0.9, threshold=0.5)     # noqa: E731
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), lif((8, 8, 8)),
                          nn.Conv2d(8, 16, 3, stride=2, padding=1), lif((16, 4, 4)),
                          nn.Flatten(), nn.Linear(256, 10), lif(10))
    with torch.no_grad():
        for m in model:
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.mul_(2.0)
    return model.eval(), f"seeded random weights (seed {seed})"


def networks() -> list[Net]:
    """The benchmark networks, compiled with snncc's default quantization."""
    from snncc.compiler import compile_model

    nets = []
    for name, make, shape in (("64-128-10", _digits_model, (64,)),
                              ("64-128-128-10", _random_deep_model, (64,)),
                              ("conv 8c3-16c3s2-10", _random_conv_model, (1, 8, 8))):
        model, origin = make()
        nets.append(Net(name, model, compile_model(model, shape).fixed, origin, shape))
    return nets


def digits_inputs(batch: int, steps: int = 16) -> np.ndarray:
    """(steps, batch, 64) uint8 spikes: the digits test split (360 images) rate coded with
    seed 0 (the example's own test data), then again with seeds 1, 2, ... up to ``batch``."""
    from examples.digits import load_digits_spikes

    parts, seed, have = [], 0, 0
    while have < batch:
        parts.append(load_digits_spikes(steps, seed)[2])
        have += len(parts[-1])
        seed += 1
    return np.ascontiguousarray(np.swapaxes(np.concatenate(parts)[:batch], 0, 1))
