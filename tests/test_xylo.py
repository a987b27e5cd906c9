"""Xylo target: snncc's Xylo simulator against SynSense's xylosim (0 mismatches), the
compile/verify/run/inspect verbs with --target xylo*, design rules and refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc import api
from snncc.backends import get_runner
from snncc.backends.xylo import core
from snncc.errors import SnnccError
from snncc.targets.xylo import fixedpoint as xf
from snncc.targets.xylo.emit import load_spec
from snncc.targets.xylo.mapping import XyloConfig, to_config

from helpers import run_cli

xylosim = pytest.importorskip("xylosim.v2", reason="xylosim is installed by make venv")
from snncc.backends.xylo import oracle  # noqa: E402


def _random_config(rng, n_hidden, n_out=8, shifts=(0, 13), density=0.5, thr=(1, 3000)):
    w = lambda *s: (rng.integers(-128, 128, s) * (rng.random(s) < density)).astype(np.int64)
    return XyloConfig(w(16, n_hidden), w(n_hidden, n_hidden), w(n_hidden, n_out),
                      rng.integers(*thr, n_hidden), rng.integers(*thr, n_out),
                      rng.integers(-300, 300, n_hidden), rng.integers(-300, 300, n_out),
                      rng.integers(0, 16, n_hidden), rng.integers(0, 16, n_out),
                      rng.integers(0, 16, n_hidden), rng.integers(0, 16, n_out),
                      *(int(rng.integers(*shifts)) for _ in range(3)))


@pytest.mark.parametrize("seed", range(6))
def test_simulator_matches_xylosim_on_random_saturating_networks(seed):
    """Every spike count, current and membrane value equal, with heavy saturation, multi-spike
    steps, input counts above the cap of 15 and weight shifts that wrap the int16 cast."""
    rng = np.random.default_rng(seed)
    cfg = _random_config(rng, int(rng.integers(5, 160)))
    counts = rng.integers(0, 20, (30, 4, 16)) * (rng.random((30, 4, 16)) < 0.3)
    ours = core.run_config(cfg, counts, record_states=True)
    ref = oracle.run_config(cfg, counts, record_states=True)
    for key in ref:
        assert np.array_equal(ours[key].astype(np.int64), ref[key].astype(np.int64)), key
    assert np.any(np.abs(ours["v_mem"].astype(int)) == 32767) or np.any(ours["v_mem"] == -32768)
    assert np.any(ours["spikes"] > 1)


def test_simulator_matches_xylosim_without_saturation_and_with_bias_off():
    rng = np.random.default_rng(7)
    cfg = _random_config(rng, 300, shifts=(0, 3), density=0.05, thr=(2000, 8000))
    cfg.bias[:] = 0
    cfg.bias_out[:] = 0
    counts = (rng.random((25, 3, 16)) < 0.2).astype(np.int64)
    ours, ref = core.run_config(cfg, counts, True), oracle.run_config(cfg, counts, True)
    assert all(np.array_equal(ours[k].astype(int), ref[k].astype(int)) for k in ref)


def test_decay_sign_rule():
    """A non-zero state whose shift is 0 still decays by one unit (never stalls)."""
    x = np.array([5, -5, 1, -1, 0, 40])
    assert xf.decay(x, np.array([4, 4, 15, 15, 3, 0])).tolist() == [1, -1, 1, -1, 0, 40]
    assert xf.shifted_weight(np.array([127, -128]), 9).tolist() == [-512, 0]


def _model(n_in=16, hidden=(24, 20), n_out=8, seed=0, scale=1.0, **neuron):
    torch.manual_seed(seed)
    kw = dict(alpha=0.75, beta=0.875, reset="subtract") | neuron
    layers, prev = [], n_in
    for h in (*hidden, n_out):
        layers += [nn.Linear(prev, h, bias=False), snn.CubaLIF(h, **kw)]
        prev = h
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.mul_(scale)
    return model


def _data(path, n_in=16, samples=12, steps=20, seed=0):
    rng = np.random.default_rng(seed)
    np.savez(path, x=(rng.random((samples, steps, n_in)) < 0.3).astype(np.uint8),
             y=rng.integers(0, 8, samples))
    return path


@pytest.mark.parametrize("target", ["xylo", "xylo-imu", "xylo-audio3"])
def test_cli_compile_verify_run_bit_exact(tmp_path, capsys, monkeypatch, target):
    """Through the user's door: compile, verify --backend xylosim (0 mismatches, saturating
    and multi-spike), run on both backends, inspect, for every sub-target."""
    torch.save(_model(scale=4.0), tmp_path / "m.pt")
    data = _data(tmp_path / "d.npz")
    code, out, err = run_cli(capsys, monkeypatch, "compile", tmp_path / "m.pt", "--target", target,
                             "-o", tmp_path / "b")
    assert code == 0, err
    assert "xylo_spec.json" in out and xf.CHIPS[target].title in out
    code, out, err = run_cli(capsys, monkeypatch, "verify", tmp_path / "m.pt", "--data", data,
                             "--target", target, "--backend", "xylosim", "--json", tmp_path / "r.json")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["target"] == target and report["bit_exact"]["backend"] == "xylosim"
    assert sum(l["spike_mismatches"] + l["u_mismatches"] + l["v_mismatches"]
               for l in report["bit_exact"]["layers"]) == 0
    assert "bit-exact: yes" in out
    runs = {}
    for backend in ("xylo", "xylosim", "sim"):
        code, out, err = run_cli(capsys, monkeypatch, "run", tmp_path / "b", "--input", data,
                                 "--backend", backend, "-o", tmp_path / f"{backend}.npz")
        assert code == 0, err
        runs[backend] = dict(np.load(tmp_path / f"{backend}.npz"))
    assert runs["xylo"].keys() == runs["xylosim"].keys()
    assert all(np.array_equal(runs["xylo"][k], runs["xylosim"][k]) for k in runs["xylo"])
    assert all(np.array_equal(runs["xylo"][k], runs["sim"][k]) for k in runs["xylo"])
    assert any(np.any(v > 1) for k, v in runs["xylo"].items() if k != "spikes/input")
    code, out, err = run_cli(capsys, monkeypatch, "inspect", tmp_path / "m.pt", "--target", target)
    assert code == 0, err
    assert "hidden neurons" in out and str(xf.CHIPS[target].hidden) in out


def test_spec_reads_back_into_xylosim(tmp_path):
    """xylo_spec.json (Rockpool's specification layout) rebuilds the same chip in xylosim."""
    result = api.compile(_model(scale=3.0), target="xylo", out=tmp_path / "b")
    spec = json.loads((tmp_path / "b" / "xylo_spec.json").read_text())
    assert np.asarray(spec["weights_in"]).shape == (16, 44, 2)        # Audio 2: 2 synapses
    cfg = load_spec(tmp_path / "b")
    x = np.load(_data(tmp_path / "d.npz"))["x"].transpose(1, 0, 2)
    from_spec = oracle.run_config(cfg, x.astype(np.int64))
    direct = core.run_config(to_config(result.compiled.fixed), x.astype(np.int64))
    assert all(np.array_equal(from_spec[k], direct[k]) for k in direct)


def test_exact_decays_agree_with_float_model(tmp_path):
    """Decays on dash values, subtractive reset, moderate drive: the float model and Xylo
    agree closely (the residual is weight rounding and multi-spike steps)."""
    res = api.verify(_model(), _data(tmp_path / "d.npz", samples=32), target="xylo",
                     backend="xylo")
    assert res.report["summary"]["output_agreement"] > 0.85
    assert all(l["mapping"] == "exact" for l in res.report["layers"])


def test_design_rules_name_the_limit_and_excess():
    with pytest.raises(SnnccError, match=r"input channels: 17 > 16 \(by 1\)"):
        api.compile(_model(n_in=17), target="xylo")
    with pytest.raises(SnnccError, match=r"hidden neurons: 500 > 496 \(by 4\)"):
        api.compile(_model(hidden=(250, 250)), target="xylo-imu")
    with pytest.raises(SnnccError, match=r"readout neurons: 10 > 8 \(by 2\)"):
        api.compile(_model(n_out=10), target="xylo-audio2")
    api.compile(_model(n_out=10), target="xylo-imu")


def test_cli_design_rule_error_is_one_line(tmp_path, capsys, monkeypatch):
    torch.save(_model(n_in=20), tmp_path / "m.pt")
    code, out, err = run_cli(capsys, monkeypatch, "compile", tmp_path / "m.pt", "--target", "xylo",
                             "-o", tmp_path / "b")
    assert code == 2 and "error:" in err and "input channels: 20 > 16" in err and "fix:" in err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("build, match", [
    (lambda: nn.Sequential(nn.Linear(16, 8, bias=False), snn.CubaLIF(8, reset="subtract")),
     "readout neurons read only hidden neurons"),
    (lambda: nn.Sequential(nn.Linear(16, 8, bias=False), snn.LIF(8, reset="subtract"),
                           nn.Linear(8, 4, bias=False), snn.GLIF(4, T=10)),
     "cannot express"),
])
def test_refusals_by_name(build, match):
    with pytest.raises(SnnccError, match=match):
        api.compile(build(), target="xylo")


def test_approximations_are_named():
    """A memoryless current and a zero reset compile, each named in the layer's warnings."""
    model = _model(alpha=0.0, beta=0.9, reset="zero")
    result = api.compile(model, target="xylo")
    warnings = " ".join(w for l in result.compiled.quant.layers for w in l.warnings)
    assert "dash_syn = 1" in warnings and "reset to zero" in warnings
    assert "voltage decay between two dash values" in warnings
    assert {m.mapping for m in result.compiled.mapping} == {"approximate"}


def test_backend_target_mismatch_is_refused(tmp_path):
    with pytest.raises(SnnccError, match="does not run target"):
        api.verify(_model(), _data(tmp_path / "d.npz"), target="xylo", backend="lava")


def test_non_count_input_is_refused():
    fixed = api.compile(_model(), target="xylo").compiled.fixed
    with pytest.raises(SnnccError, match="spike counts"):
        get_runner("xylo")(fixed, np.full((3, 1, 16), 0.5))


def test_choose_headroom_scores_every_candidate():
    from snncc.targets.xylo.calibrate import choose_headroom
    x = (np.random.default_rng(0).random((15, 6, 16)) < 0.3).astype(np.uint8)
    cfg, scores = choose_headroom(_model(), x, "xylo-imu", candidates=(4.0, 2.0))
    assert set(scores) == {4.0, 2.0} and cfg.chip == "xylo-imu"
    assert scores[cfg.headroom] == max(scores.values())
