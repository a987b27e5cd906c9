"""Non-spiking leaky-integrator readouts end to end: IR, lowering, Loihi quantization (a
neuron that never fires, whose v is read out), every simulator runner, verify, run, NIR."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc import api
from snncc.backends import get_runner
from snncc.compiler import compile_model
from snncc.report.runs import readout_scales
from snncc.verify import verify


def _model(readout: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), snn.LIF(16), nn.Linear(16, 4), readout)
    with torch.no_grad():
        model[0].weight.mul_(2.0)
    return model


def _x(steps=24, batch=40, seed=0):
    return (np.random.default_rng(seed).random((steps, batch, 10)) < 0.4).astype(np.uint8)


@pytest.mark.parametrize("readout", [snn.LI(4, beta=0.9), snn.CubaLI(4, alpha=0.6, beta=0.8),
                                     snn.LI(4, beta=0.0)])
def test_readout_quantizes_to_a_silent_neuron_whose_v_tracks_the_float_membrane(readout):
    model = _model(readout)
    compiled = compile_model(model)
    assert compiled.self_check.readout_error["3"] < 1e-5
    node = compiled.fixed.node("3")
    assert node.spiking is False and not node.is_stock_lif
    scale = readout_scales(compiled.fixed)["3"]
    x = _x()
    ref = model[3]
    # the float membrane, from the model itself
    from snncc.reference import run_float
    v_float = run_float(model, x, ["3"], values=True)["3"]
    depth = 2
    pad = np.concatenate([x, np.zeros((depth,) + x.shape[1:], x.dtype)])
    results = {r: get_runner(r)(compiled.fixed, pad, record_states=True) for r in ("sim", "fast", "torch")}
    for r, res in results.items():
        assert not res.spikes["3"].any(), r
        np.testing.assert_array_equal(res.v["3"], results["sim"].v["3"], err_msg=r)
    v_q = results["sim"].v["3"][depth:depth + x.shape[0]] / scale
    # the readout alone: the float readout fed the quantized hidden layer's spikes
    from snncc.passes.float_sim import simulate_float
    hidden_q = results["sim"].spikes["1"][1:1 + x.shape[0]]
    states = {}
    simulate_float(compiled.lowered, x, drive={"1": hidden_q}, states=states)
    span = np.abs(states["3"]).max()
    err = np.abs(v_q - states["3"]).max()
    assert err < 0.01 * span, (err, span)
    assert v_float.shape == v_q.shape
    assert isinstance(ref, snn.LI)


def test_verify_compares_readout_membranes_and_predicts_from_them():
    model = _model(snn.CubaLI(4, alpha=0.5, beta=0.9))
    report = verify(model, compile_model(model), _x(batch=60))
    assert report.prediction_agreement >= 0.95 and report.output_agreement >= 0.95


def test_readout_through_every_cli_verb(tmp_path, capsys, monkeypatch):
    from helpers import run_cli
    model = _model(snn.LI(4, beta=0.9))
    torch.save(model, tmp_path / "m.pt")
    np.savez(tmp_path / "x.npz", x=np.swapaxes(_x(batch=12), 0, 1))
    build, nirf = tmp_path / "b", tmp_path / "m.nir"
    for args in (["compile", tmp_path / "m.pt", "-o", build], ["inspect", tmp_path / "m.pt"],
                 ["verify", tmp_path / "m.pt", "--data", tmp_path / "x.npz"],
                 ["run", build, "--input", tmp_path / "x.npz", "-o", tmp_path / "s.npz"],
                 ["export-nir", tmp_path / "m.pt", "-o", nirf]):
        code, out, err = run_cli(capsys, monkeypatch, *args)
        assert code == 0, (args, err)
    assert "non-spiking readout" in out or nirf.exists()
    with np.load(tmp_path / "s.npz") as f:
        assert "membrane/3" in f.files
    result = api.run(build, tmp_path / "x.npz")
    assert result.readout and result.scores.shape == (12, 4)


def test_readout_nir_roundtrip_keeps_a_leaky_integrator(tmp_path):
    import nir
    from snncc.backends.nir import read_nir
    from snncc.passes.float_sim import simulate_float
    from snncc.passes import lower_neurons
    model = _model(snn.CubaLI(4, alpha=0.6, beta=0.8))
    api.export_nir(model, tmp_path / "m.nir")
    graph = nir.read(tmp_path / "m.nir")
    assert type(graph.nodes["3"]).__name__ == "CubaLI"
    back = lower_neurons(read_nir(tmp_path / "m.nir"))[0]
    assert back.node("3").spiking is False
    states_a, states_b = {}, {}
    x = _x(batch=8)
    simulate_float(compile_model(model).lowered, x, states=states_a)
    simulate_float(back, x, states=states_b)
    np.testing.assert_allclose(states_b["3"], states_a["3"], rtol=1e-5, atol=1e-6)


def test_norse_li_readouts_compile_exactly():
    norse = pytest.importorskip("norse.torch")
    for cell in (norse.LICell(), norse.LIBoxCell()):
        torch.manual_seed(0)
        model = norse.SequentialState(nn.Linear(6, 8), norse.LIFCell(), nn.Linear(8, 3), cell)
        with torch.no_grad():
            model[0].weight.mul_(20.0)
        compiled = compile_model(model, input_shape=(6,))
        assert compiled.self_check.reference == "Norse's own forward pass"
        assert compiled.fixed.node("3").spiking is False
        assert compiled.self_check.readout_error["3"] < 1e-5


def test_norse_readout_with_v_leak_is_refused_with_the_reason():
    norse = pytest.importorskip("norse.torch")
    p = norse.LIParameters(v_leak=torch.tensor(0.5))
    model = norse.SequentialState(nn.Linear(6, 3), norse.LICell(p))
    from snncc.errors import SnnccError
    with pytest.raises(SnnccError, match="v_leak"):
        compile_model(model, input_shape=(6,))


@pytest.mark.lava
def test_readout_is_bit_exact_on_lava():
    """Lava runs snncc's FxNeuron process with spiking=False: never fires, same u and v."""
    model = _model(snn.CubaLI(4, alpha=0.6, beta=0.8))
    fixed = compile_model(model).fixed
    x = _x(steps=12, batch=3)
    sim = get_runner("sim")(fixed, x, record_states=True)
    lava = get_runner("lava")(fixed, x, record_states=True)
    for name in sim.v:
        for what in ("spikes", "u", "v"):
            assert np.array_equal(getattr(sim, what)[name], getattr(lava, what)[name]), (name, what)
    assert not lava.spikes["3"].any() and np.abs(lava.v["3"]).max() > 0
