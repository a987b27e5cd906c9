"""Sigma-delta networks from PyTorch (snncc.nn.Delta / SigmaDelta / Sigma): the float modules
follow Lava's float sigma-delta models step by step, quantize into Lava's fixed-point
processes with graded spikes, run the same in every runner, match Lava (generated network
and lava-dl netx) bit for bit, and verify reports the activation error against the float
model.
"""
import json

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from helpers import run_cli as cli
from snncc import api
from snncc.backends import get_runner
from snncc.backends.lava.netx import netx_problems, run_netx
from snncc.compiler import compile_model
from snncc.errors import SnnccError
from snncc.targets.loihi.quantize import netx_config

lava = pytest.mark.lava


def lava_float_sigma_delta(x, threshold, bias, cum_error=False):
    """Lava's PySigmaDeltaModelFloat (lava/proc/sdn/models.py), transcribed: (T, n) -> s."""
    sigma = act = residue = error = np.zeros(x.shape[1])
    out = []
    for xt in x:
        sigma = sigma + xt
        new = np.maximum(sigma + bias, 0)
        delta = new - act + residue
        if cum_error:
            error = error + delta
            s = np.where(np.abs(error) >= threshold, delta, 0)
            error = error * (1 - (np.abs(s) > 0))
        else:
            s = np.where(np.abs(delta) >= threshold, delta, 0)
        residue = delta - s
        act = new
        out.append(s)
    return np.stack(out)


@pytest.mark.parametrize("cum_error", [False, True])
def test_module_is_lavas_float_model(cum_error):
    x = np.random.default_rng(0).normal(0, 1, (30, 5))
    m = snn.SigmaDelta(5, threshold=0.7, bias=0.2, cum_error=cum_error)
    snn.reset(m)
    with torch.no_grad():
        got = np.stack([m(torch.as_tensor(xt[None]).float())[0].numpy() for xt in x])
    want = lava_float_sigma_delta(x.astype(np.float32).astype(np.float64), 0.7, 0.2, cum_error)
    assert np.allclose(got, want, atol=1e-5) and np.count_nonzero(got) > 20


def sdnn_mlp(seed=0, bias=2.0):
    """Data are integer frames, so activations live in data units: thresholds and biases are
    kept to the bits their range leaves (a bias below that resolution is reported as lost)."""
    torch.manual_seed(seed)
    return nn.Sequential(snn.Delta(16, threshold=2.0), nn.Linear(16, 12, bias=False),
                         snn.SigmaDelta(12, threshold=1.0, bias=bias), nn.Linear(12, 4, bias=False),
                         snn.Sigma(4))


def test_quantization_reports_what_the_resolution_loses():
    errors = {e.name: e for e in compile_model(sdnn_mlp(bias=0.25)).quant.layers[1].errors}
    assert errors["bias"].max_rel == 1.0 and errors["weight"].max_rel < 0.01


def sdnn_conv(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(snn.Delta((1, 8, 8), threshold=3.0), nn.Conv2d(1, 4, 3, bias=False),
                         snn.SigmaDelta((4, 6, 6), threshold=2.0, bias=torch.rand(4, 6, 6)),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(36, 5, bias=False),
                         snn.SigmaDelta(5, threshold=0.5), nn.Linear(5, 3, bias=False), snn.Sigma(3))


def _frames(steps, batch, n, seed=0):
    """Slowly changing integer frames (what sigma-delta networks are for)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 60, (1, batch, n))
    drift = np.cumsum(rng.integers(-3, 4, (steps, batch, n)), axis=0)
    return np.clip(base + drift, 0, 255)


@pytest.mark.parametrize("build, shape", [(sdnn_mlp, None), (sdnn_conv, (1, 8, 8))])
def test_quantized_network_runs_the_same_in_every_runner_and_tracks_float(build, shape):
    """Calibrated on other frames (activation ranges), as ``snncc compile --calibrate`` does."""
    from snncc.targets.loihi.calibrate_sdnn import calibrate_sdnn
    c = compile_model(build(), shape)
    n_in = int(np.prod(shape or (16,)))
    c, cal = calibrate_sdnn(build(), c, _frames(15, 8, n_in, seed=9))
    assert set(cal.bounds) == {"input"} | {l.name for l in c.quant.layers}
    kinds = [n.kind for n in c.fixed.nodes()]
    assert "fx_delta" in kinds and "fx_sigma_delta" in kinds and "fx_sigma" in kinds
    x = _frames(15, 3, n_in)
    ref = get_runner("sim")(c.fixed, x, record_states=True)
    for runner in ("fast", "torch"):
        other = get_runner(runner)(c.fixed, x, record_states=True)
        for name in ref.u:
            assert np.array_equal(ref.spikes[name], other.spikes[name]), (runner, name)
            assert np.array_equal(ref.v[name], other.v[name]), (runner, name)
    from snncc.verify_sdnn import verify_sdnn
    report = verify_sdnn(build(), c, x)
    for layer in report["layers"]:     # a send decision near the threshold may flip a step
        assert layer["activation_error"]["relative"] < 0.1, layer
        assert layer["messages"]["quant"] > 0 and layer["messages"]["agreement"] > 0.9
    assert report["summary"]["prediction_agreement"] == 1.0


def test_refusals_name_the_cause(tmp_path):
    torch.manual_seed(0)
    biased = nn.Sequential(snn.Delta(4), nn.Linear(4, 3), snn.SigmaDelta(3), nn.Linear(3, 2, bias=False),
                           snn.Sigma(2))
    with pytest.raises(SnnccError, match="integrated at every step"):
        compile_model(biased)
    mixed = nn.Sequential(snn.Delta(4), nn.Linear(4, 3, bias=False), snn.LIF(3))
    with pytest.raises(SnnccError, match="sigma-delta"):
        compile_model(mixed)
    with pytest.raises(SnnccError, match="NIR 1.0 has no sigma-delta"):
        api.export_nir(sdnn_mlp(), tmp_path / "x.nir")


def test_cli_compile_verify_run_and_netx(tmp_path, capsys, monkeypatch):
    torch.save(sdnn_mlp(), tmp_path / "sd.pt")
    x = _frames(12, 4, 16, seed=1)
    np.savez(tmp_path / "x.npz", x=np.swapaxes(x, 0, 1), y=np.arange(4) % 4)
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "sd.pt", "--netx", "-o", tmp_path / "b")
    assert code == 0 and (tmp_path / "b" / "network.net").exists(), err
    code, out, err = cli(capsys, monkeypatch, "run", tmp_path / "b", "--input", tmp_path / "x.npz")
    assert code == 0, err
    code, out, err = cli(capsys, monkeypatch, "run", tmp_path / "b" / "network.net", "--input",
                         tmp_path / "x.npz")
    assert code == 0, err
    code, out, err = cli(capsys, monkeypatch, "verify", tmp_path / "sd.pt", "--data", tmp_path / "x.npz",
                         "--json", tmp_path / "r.json", "--html", tmp_path / "r.html",
                         "--calibrate", tmp_path / "x.npz")
    assert code == 0 and "sigma-delta: float vs quantized" in out, err
    assert "sigma-delta calibration on 4 samples" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["format"] == "snncc.sdnn-verify-report" and len(report["layers"]) == 3
    code, out, err = cli(capsys, monkeypatch, "export-nir", tmp_path / "sd.pt", "-o", tmp_path / "x.nir")
    assert code == 2 and "sigma-delta" in err


@lava
def test_generated_lava_network_is_bit_exact(tmp_path, capsys, monkeypatch):
    torch.save(sdnn_conv(1), tmp_path / "sd.pt")
    x = _frames(8, 2, 64, seed=2)
    np.savez(tmp_path / "x.npz", x=np.swapaxes(x, 0, 1).reshape(2, 8, 1, 8, 8))
    code, out, err = cli(capsys, monkeypatch, "verify", tmp_path / "sd.pt", "--data", tmp_path / "x.npz",
                         "--input-shape", "1", "--input-shape", "8", "--input-shape", "8",
                         "--backend", "lava", "--check-samples", "1")
    assert code == 0 and "bit-exact: yes" in out, out + err


@lava
def test_netx_file_of_a_torch_sdnn_runs_in_lava_dl_bit_for_bit():
    c = compile_model(sdnn_mlp(3), config=netx_config())
    assert netx_problems(c.fixed) == []
    x = _frames(10, 1, 16, seed=3)
    sim = get_runner("sim")(c.fixed, x, record_states=True)
    nx = run_netx(c.fixed, x, record_states=True)
    for name in sim.u:
        assert np.any(sim.spikes[name])
        for a, b in ((sim.spikes, nx.spikes), (sim.u, nx.u), (sim.v, nx.v)):
            assert np.array_equal(np.asarray(a[name]).astype(np.int64), np.asarray(b[name]).astype(np.int64)), name
