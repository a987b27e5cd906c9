"""float64 and float16 models compile from their real precision; verify and the self-check run
them in their own dtype (issue #11; handed case verify-double-half-model)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc import api
from snncc.compiler import compile_model
from snncc.verify import verify
from helpers import run_cli  # noqa: E402


def _model(dtype: str) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(32, 32), snn.LIF(32, reset="subtract"), nn.Linear(32, 8),
                        snn.LIF(8))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[0].weight.add_(torch.randn_like(net[0].weight) * 1e-9)   # not float32-exact
    return getattr(net, dtype)()


def _x(batch=16):
    return (np.random.default_rng(0).random((12, batch, 32)) < 0.3).astype(np.uint8)


def test_double_model_compiles_from_its_float64_parameters():
    net = _model("double")
    compiled = compile_model(net)
    w = compiled.float_graph.node("0").weight
    assert w.dtype == np.float64
    np.testing.assert_array_equal(w, net[0].weight.detach().numpy())
    assert compiled.self_check.dtype == "float64" and "float64 model" in compiled.self_check.summary()


@pytest.mark.parametrize("dtype", ["double", "half"])
def test_verify_runs_the_model_in_its_own_dtype(dtype):
    net = _model(dtype)
    report = verify(net, compile_model(net), _x())
    assert report.output_agreement > 0.9
    if dtype == "half":
        w = compile_model(net).float_graph.node("0").weight
        np.testing.assert_array_equal(w, net[0].weight.detach().float().numpy())   # exact


@pytest.mark.parametrize("dtype", ["double", "half"])
def test_cli_verify_of_converted_models(dtype, tmp_path, capsys, monkeypatch):
    torch.save(_model(dtype), tmp_path / "m.pt")
    np.savez(tmp_path / "x.npz", x=np.swapaxes(_x(), 0, 1))
    code, out, err = run_cli(capsys, monkeypatch, "verify", tmp_path / "m.pt", "--data",
                             tmp_path / "x.npz")
    assert code == 0, err
    want = {"double": "float64", "half": "float16"}[dtype]
    assert f"a {want} model: compiled from its {want} parameters" in out


def test_framework_double_models():
    sj = pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import layer, neuron
    torch.manual_seed(0)
    model = nn.Sequential(layer.Linear(16, 20), neuron.LIFNode(tau=2.0), layer.Linear(20, 4),
                          neuron.ParametricLIFNode()).double()
    with torch.no_grad():
        model[0].weight.mul_(3.0)
    compiled = api.compile(model).compiled
    assert compiled.self_check.dtype == "float64"
    assert compiled.lowered.node("1").threshold.dtype == np.float64
    assert sj is not None
