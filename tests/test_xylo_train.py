"""Training for Xylo: multi-spike neurons (``max_spikes``, Xylo's hidden-neuron rule) from the
torch module through the IR's float reference to Xylo, refusals where a target or format
cannot hold them, and the quantization-aware helpers of ``snncc.targets.xylo.train``."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc import api
from snncc.errors import SnnccError
from snncc.ir import CubaLIF, Graph, Input, Output
from snncc.nn.multispike import spike_count
from snncc.passes import float_sim, validate_float
from snncc.reference import run_float
from snncc.targets.xylo import train as xt
from snncc.targets.xylo.quantize import dash_decay

from helpers import run_cli
from test_xylo import _model as xylo_model


def _model(hidden=(24,), spikes=31, scale=2.0):
    return xylo_model(hidden=hidden, hidden_spikes=spikes, scale=scale)


def _stimulus(steps=20, batch=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((steps, batch, 16)) < 0.4).astype(np.float32)


def test_count_rule_at_the_edges():
    """``#{k <= max : v > k*thr}``: strict at every multiple, capped, 0 at or below thr."""
    v = np.array([0.0, 1.0, 1.0001, 2.0, 2.5, 3.0, 100.0, -4.0])
    thr = np.ones_like(v)
    want = [0, 0, 1, 1, 2, 2, 5, 0]
    assert float_sim.spike_count(v, thr, 5).tolist() == want
    got = spike_count(torch.tensor(v, dtype=torch.float64), torch.tensor(thr, dtype=torch.float64), 5)
    assert got.tolist() == want
    # thresholds whose multiples round: the count agrees with the products k*thr
    thr = np.full(1000, 0.1)
    v = np.arange(1000) * 0.1 * 0.01 * 7
    ref = np.array([sum(x > k * t for k in range(1, 32)) for x, t in zip(v, thr)])
    assert np.array_equal(float_sim.spike_count(v, thr, 31), ref)


def test_module_float_reference_and_xylo_count_alike():
    """The torch module, the IR's float reference and Xylo all emit counts > 1."""
    model, x = _model(), _stimulus()
    flt = run_float(model, x, ["1", "3"])
    compiled = api.compile(model, target="xylo").compiled
    ref = float_sim.simulate_float(compiled.lowered, x)
    assert flt["1"].dtype == np.int16 and flt["1"].max() > 1
    assert np.array_equal(flt["1"], ref["1"]) and np.array_equal(flt["3"], ref["3"])
    assert flt["3"].max() == 1 and flt["3"].dtype == bool
    assert [m.mapping for m in compiled.mapping] == ["exact", "exact"]


def test_gradient_flows_through_counts():
    model = _model()
    model[1].threshold.requires_grad_(True)
    x = torch.as_tensor(_stimulus(batch=4))
    snn.reset(model)
    out = sum(model(x[t]) for t in range(x.shape[0]))
    out.sum().backward()
    assert model[0].weight.grad.abs().sum() > 0 and model[1].threshold.grad.abs().sum() > 0


def test_multi_spike_needs_subtract_reset():
    with pytest.raises(ValueError, match="max_spikes"):
        snn.CubaLIF(4, reset="zero", max_spikes=3)
    g = Graph()
    g.add(Input("x", shape=(4,)))
    g.add(CubaLIF("n", shape=(4,), reset="zero", alpha=np.zeros(4), beta=np.zeros(4),
                  threshold=np.ones(4), bias=np.zeros(4), max_spikes=3), ["x"])
    g.add(Output("y", shape=(4,)), ["n"])
    with pytest.raises(SnnccError, match="max_spikes 3 needs the subtractive reset"):
        validate_float(g)


def test_single_spike_targets_refuse_multi_spike_and_nir_keeps_it(tmp_path, capsys, monkeypatch):
    model = _model()
    with pytest.raises(SnnccError, match=r"layer '1' emits up to 31 spikes per step"):
        api.compile(model, target="loihi")
    # NIR cannot say it: snncc's metadata does, and snncc reads the count back
    import nir
    graph = nir.read(api.export_nir(model, tmp_path / "m.nir"))
    assert graph.nodes["1"].metadata["max_spikes"] == 31
    torch.save(model, tmp_path / "m.pt")
    code, _, err = run_cli(capsys, monkeypatch, "compile", tmp_path / "m.pt", "-o", tmp_path / "b")
    assert code == 2 and "emits up to 31 spikes" in err and "fix:" in err
    assert not (tmp_path / "b").exists()
    with pytest.raises(SnnccError, match="emits up to 40 spikes"):
        api.compile(_model(spikes=40), target="xylo")


def test_single_spike_hidden_and_multi_spike_readout_are_named():
    warnings = lambda m: " ".join(w for l in api.compile(m, target="xylo").compiled.quant.layers
                                  for w in l.warnings)
    assert "max_spikes=31" in warnings(_model(spikes=1))
    readout = _model()
    readout[3] = snn.CubaLIF(8, alpha=0.75, beta=0.875, reset="subtract", max_spikes=4)
    assert "readout neurons emit one spike per step" in warnings(readout)


def test_snap_decays_to_dash_values():
    model = _model()
    with torch.no_grad():
        model[1].alpha.copy_(torch.linspace(0.1, 0.99, 24))
        model[1].beta.copy_(torch.linspace(0.0, 1.0, 24))
    assert xt.snap_decays(model) == 2
    for m in (model[1], model[3]):
        for p, lo in ((m.alpha, 1), (m.beta, 0)):
            dash = np.round(-np.log2(np.maximum(1 - p.detach().double().numpy(), 2.0 ** -15)))
            assert np.allclose(p.detach().numpy(), dash_decay(dash), atol=1e-7) and dash.min() >= lo
            assert not p.requires_grad


def test_fake_quant_trains_on_the_grid_and_project_compiles_to_itself():
    """Inside ``fake_quant`` the forward sees the grid; outside, the float weights (with the
    gradient) are back; after ``project`` the compiled weights reproduce the float ones and
    the float model and Xylo agree on every spike but the integer state's rounding."""
    model, x = _model(hidden=(24, 20)), _stimulus(batch=16)
    xt.snap_decays(model)
    grid = xt.weight_grid(model, "xylo-imu")
    before = model[0].weight.detach().clone()
    with xt.fake_quant(model, grid):
        inside = model[0].weight.detach().clone()
        snn.reset(model)
        sum(model(torch.as_tensor(x[t])) for t in range(x.shape[0])).sum().backward()
    assert torch.equal(model[0].weight, before) and not torch.equal(inside, before)
    assert torch.allclose(inside / grid["0"], torch.round(inside / grid["0"]), atol=1e-4)
    assert model[0].weight.grad is not None
    assert xt.project(model, grid) <= 0.5 + 1e-6
    compiled = api.compile(model, target="xylo-imu").compiled
    for name, step in grid.items():
        w = dict(model.named_modules())[name].weight.detach().numpy()
        assert np.allclose(compiled.fixed.node(name).weight * step.numpy(), w, rtol=1e-6, atol=0)


def test_weight_grid_refuses_composed_synapses():
    model = nn.Sequential(nn.Linear(16, 20, bias=False), nn.Linear(20, 12, bias=False),
                          snn.CubaLIF(12, alpha=0.5, beta=0.5, reset="subtract", max_spikes=31),
                          nn.Linear(12, 4, bias=False), snn.CubaLIF(4, reset="subtract"))
    with pytest.raises(SnnccError, match="not one Linear layer"):
        xt.weight_grid(model, "xylo")
