"""Tracing gives the expected graph, and unsupported models get clear errors."""
import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc.errors import SnnccError
from snncc.frontend import trace
from snncc.ir import Affine, CubaLIF, Input, LIF, Output


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 6), snn.LIF(6, beta=torch.linspace(0.1, 0.9, 6),
                                                  threshold=torch.linspace(0.5, 1.5, 6)),
                         nn.Dropout(0.2), nn.Linear(6, 3, bias=False),
                         snn.CubaLIF(3, alpha=0.3, reset="subtract"))


def test_trace_builds_typed_graph_with_parameters():
    model = mlp()
    g = trace(model)
    kinds = [(n.name, type(n)) for n in g.nodes()]
    assert kinds == [("input", Input), ("0", Affine), ("1", LIF), ("3", Affine), ("4", CubaLIF),
                     ("output", Output)]
    assert g.inputs_of("3") == ["1"]             # dropout removed
    assert g.shapes() == {"input": (8,), "0": (6,), "1": (6,), "3": (3,), "4": (3,), "output": (3,)}
    assert np.array_equal(g.node("0").weight, model[0].weight.detach().numpy())
    assert np.allclose(g.node("1").beta, np.linspace(0.1, 0.9, 6))
    assert g.node("3").bias is None
    assert g.node("4").reset == "subtract" and np.allclose(g.node("4").alpha, 0.3)
    assert "cuba_lif" in g.summary()


def test_custom_module_class_traces():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)
            self.lif = snn.LIF(2)

        def forward(self, x):
            return self.lif(self.fc(torch.flatten(x, 1)))

    g = trace(Net())
    assert [n.kind for n in g.nodes()] == ["input", "affine", "lif", "output"]


class Weird(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x)


@pytest.mark.parametrize("model, needle", [
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), snn.LIF(4)), "torch.nn.modules.activation.ReLU"),
    (nn.Sequential(nn.Linear(4, 4), snn.LIF(4), nn.Linear(4, 2)), "not from a spiking neuron"),
    (nn.Sequential(nn.Linear(4, 4), snn.LIF(4), Weird()), "unsupported operation 'sigmoid'"),
    (nn.Sequential(nn.Linear(4, 4), snn.LIF(5)), "shape mismatch"),
])
def test_unsupported_models_name_the_culprit(model, needle):
    with pytest.raises(SnnccError) as exc:
        trace(model)
    assert needle in str(exc.value)


def test_data_dependent_control_flow_is_reported():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.lif = nn.Linear(4, 4), snn.LIF(4)

        def forward(self, x):
            if x.sum() > 0:
                return self.lif(self.fc(x))
            return self.lif(self.fc(-x))

    with pytest.raises(SnnccError, match="cannot trace"):
        trace(Branchy())


def test_neuron_modules_step_and_reset():
    lif = snn.LIF(2, beta=0.5, threshold=1.0)
    x = torch.tensor([[0.6, 0.6]])
    assert lif(x).tolist() == [[0.0, 0.0]]         # v = 0.6
    assert lif(x).tolist() == [[0.0, 0.0]]         # v = 0.9
    assert lif(x).tolist() == [[1.0, 1.0]]         # v = 1.05 > 1 -> spike, reset to 0
    assert torch.allclose(lif.v, torch.zeros(1, 2))
    snn.reset(lif)
    assert lif.v is None


def test_surrogate_gradient_reaches_every_parameter():
    model = mlp()
    snn.reset(model)
    out = sum(model(torch.rand(5, 8) * 2).sum() for _ in range(4))
    out.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.any(p.grad != 0), name
