"""Trained models of each framework: after quantization, >= 99% of output spikes agree with
the framework's own forward pass (issue 5).  Random untrained nets amplify one flipped
spike layer after layer (see test_frameworks.py); trained ones are what users compile."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
pytest.importorskip("sklearn")

from examples import digits  # noqa: E402
from snncc.compiler import compile_graph  # noqa: E402
from snncc.frontend import trace  # noqa: E402
from snncc.verify import verify  # noqa: E402

T, HIDDEN, EPOCHS = 8, 64, 4


def _snntorch() -> tuple[nn.Module, Callable]:
    snt = pytest.importorskip("snntorch")
    from snntorch import utils

    def leaky(n):      # snnTorch's default: subtract reset, learned per-neuron beta/threshold
        return snt.Leaky(beta=torch.full((n,), 0.9), threshold=torch.ones(n), learn_beta=True,
                         learn_threshold=True, init_hidden=True)
    model = nn.Sequential(nn.Linear(64, HIDDEN), leaky(HIDDEN), nn.Linear(HIDDEN, 10), leaky(10))

    def counts(x):
        utils.reset(model)
        return sum(model(x[:, t]) for t in range(x.shape[1]))
    return model, counts


def _spikingjelly() -> tuple[nn.Module, Callable]:
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, layer
    from spikingjelly.activation_based import neuron as sjn
    model = nn.Sequential(layer.Linear(64, HIDDEN), sjn.ParametricLIFNode(init_tau=2.0),
                          layer.Linear(HIDDEN, 10), sjn.LIFNode(tau=2.0))

    def counts(x):
        functional.reset_net(model)
        return sum(model(x[:, t]) for t in range(x.shape[1]))
    return model, counts


def _norse() -> tuple[nn.Module, Callable]:
    norse = pytest.importorskip("norse.torch")
    p = norse.LIFParameters(tau_mem_inv=torch.tensor(200.0), v_th=torch.tensor(0.5))
    model = norse.SequentialState(nn.Linear(64, HIDDEN), norse.LIFCell(p),
                                  nn.Linear(HIDDEN, 10), norse.LIFCell(p))

    def counts(x):
        state, total = None, 0
        for t in range(x.shape[1]):
            out, state = model(x[:, t], state)
            total = total + out
        return total
    return model, counts


FRAMEWORKS = {"snntorch": _snntorch, "spikingjelly": _spikingjelly, "norse": _norse}


@pytest.fixture(scope="module")
def data():
    return digits.load_digits_spikes(T, seed=0)


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_trained_framework_model_agrees_after_quantization(framework, data):
    x_tr, y_tr, x_te, y_te = data
    torch.manual_seed(0)
    model, counts = FRAMEWORKS[framework]()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    xt, yt = torch.tensor(x_tr, dtype=torch.float32), torch.tensor(y_tr)
    for _ in range(EPOCHS):
        for idx in torch.randperm(len(xt)).split(64):
            loss = nn.functional.cross_entropy(counts(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    report = verify(model, compile_graph(trace(model, (64,))), np.swapaxes(x_te, 0, 1), y_te)
    print(framework, f"float {report.accuracy_float:.4f} quantized {report.accuracy_quant:.4f} "
          f"output agreement {report.output_agreement:.4f}")
    assert report.accuracy_float > 0.8                 # a trained model, not chance
    assert report.output_agreement >= 0.99
    assert abs(report.accuracy_quant - report.accuracy_float) <= 0.02
