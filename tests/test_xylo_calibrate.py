"""Xylo error attribution (each cause of float-vs-Xylo difference on its own switch) and
calibration (``--calibrate`` with ``--target xylo*``), through the API and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc import api
from snncc.reference import run_float
from snncc.report.build import validate
from snncc.report.runs import run_quantized
from snncc.targets.xylo.attribution import CAUSES, attribute, emulate
from snncc.targets.xylo.calibrate import calibrate
from snncc.targets.xylo.quantize import QuantConfig

from helpers import run_cli
from test_xylo import _data, _model


def _odd_model():
    """Everything Xylo only approximates: non-dash decays, a memoryless current, a zero
    reset, Linear biases into currents, a deeper layer's bias, a multi-spike LIF."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 20), snn.CubaLIF(20, alpha=0.3, beta=0.8, reset="zero"),
                         nn.Linear(20, 12), snn.LIF(12, beta=0.7, reset="subtract", max_spikes=5),
                         nn.Linear(12, 8), snn.CubaLIF(8, alpha=0.6, beta=0.95, reset="subtract"))


def _counts(seed=0, steps=25, batch=12, high=20):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, high, (steps, batch, 16)) * (rng.random((steps, batch, 16)) < 0.3)
            ).astype(np.float64)


@pytest.mark.parametrize("target", ["xylo-audio2", "xylo-imu", "xylo-audio3"])
@pytest.mark.parametrize("build", [lambda: _model(), lambda: _model(scale=8.0),
                                   lambda: _model(hidden_spikes=31, scale=3.0), _odd_model])
def test_emulator_is_xylo_with_every_cause_on_and_float_with_none(build, target):
    """All causes on: bit for bit snncc's Xylo runner (itself bit-exact with xylosim), also
    with saturation, input counts above 15 and multi-spike steps; all off: the float model."""
    model, x = build(), _counts()
    compiled = api.compile(model, target=target).compiled
    xylo = run_quantized(compiled.fixed, x).spikes
    on = emulate(compiled, x)
    assert all(np.array_equal(on[k], xylo[k]) for k in xylo)
    flt = run_float(model, x, list(xylo))
    off = emulate(compiled, x, ())
    assert all(np.mean(off[k] == flt[k]) > 0.9995 for k in xylo)


def test_attribution_names_the_causes():
    model, x = _odd_model(), _counts(high=2)
    compiled = api.compile(model, target="xylo").compiled
    att = attribute(model, compiled, x)
    assert set(att.alone) == set(CAUSES) and min(att.exact.values()) > 0.9995
    assert att.xylo == {k: float(np.mean(v == run_float(model, x, [k])[k]))
                        for k, v in run_quantized(compiled.fixed, x).spikes.items()}
    # the zero reset of layer 1 and the non-dash decays cost agreement on their own
    assert att.alone["spike rule"]["1"] < 0.99 and att.alone["decay values"]["1"] < 0.99
    assert att.rows()[0]["alone"]["5"] <= att.rows()[-1]["alone"]["5"]
    # single-spike hidden layers: Xylo's multi-spike rule is what the plain model loses most
    plain = _model(scale=3.0)
    rows = attribute(plain, api.compile(plain, target="xylo").compiled, x).rows()
    assert rows[0]["cause"] == "spike rule"


def test_calibration_is_never_worse_and_reproducible(tmp_path):
    model = _model(hidden_spikes=31, scale=2.0)
    x = _counts(high=2, batch=40)
    compiled, cal = calibrate(model, x, chip="xylo-imu")
    assert cal.output_agreement_calibrated >= cal.output_agreement_default
    assert all(l.agreement_calibrated >= 0 for l in cal.layers) and len(cal.layers) == 3
    again = api.compile(model, target="xylo-imu").compiled if cal.extra["accepted"] == [] else \
        __import__("snncc.compiler", fromlist=["x"]).compile_model(model, config=cal.config,
                                                                    target="xylo-imu")
    for a, b in zip(again.fixed.nodes(), compiled.fixed.nodes()):
        assert all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in
                   zip(a.arrays().values(), b.arrays().values()))
    d = cal.to_dict()
    assert {"headroom", "weight_shift", "bias_correction", "accepted"} <= set(d["extra"])


def test_bias_correction_counters_the_decay_drift():
    """A slow current (dash_syn 4) integrating a steady input drifts upward when every
    decay rounds down; the correction is negative and the search keeps it only if it helps."""
    model = _model(hidden=(24,), hidden_spikes=31, scale=0.5, alpha=1 - 2 ** -4, beta=0.875)
    x = _counts(high=2, batch=40, steps=40)
    cfg = QuantConfig(chip="xylo")
    compiled = api.compile(model, target="xylo").compiled
    drift: dict = {}
    emulate(compiled, x, drift=drift)
    assert np.mean(drift["1"]) > 1.0 and np.all(drift["1"] >= 0)
    _, cal = calibrate(model, x, base=cfg, chip="xylo")
    assert cal.output_agreement_calibrated >= cal.output_agreement_default


def test_cli_compile_and_verify_calibrate_for_xylo(tmp_path, capsys, monkeypatch):
    torch.save(_model(hidden_spikes=31, scale=2.0), tmp_path / "m.pt")
    data = _data(tmp_path / "d.npz", samples=24)
    code, out, err = run_cli(capsys, monkeypatch, "compile", tmp_path / "m.pt", "--target",
                             "xylo-audio3", "--calibrate", data, "-o", tmp_path / "b")
    assert code == 0, err
    assert "calibration on 24 samples" in out and "Xylo: headroom 4 ->" in out
    q = json.loads((tmp_path / "b" / "quantization.json").read_text())
    cal = q["calibration"]
    assert cal["output_agreement_calibrated"] >= cal["output_agreement_default"]
    code, out, err = run_cli(capsys, monkeypatch, "verify", tmp_path / "m.pt", "--target",
                             "xylo-audio3", "--data", data, "--calibrate", data, "--json",
                             tmp_path / "r.json", "--html", tmp_path / "r.html")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    validate(report)
    on = report["calibration"]["extra"]["verify_data"]
    assert on["output_agreement_calibrated"] >= on["output_agreement_default"]   # same data
    assert "calibration gain on this data" in out


def test_calibrate_refuses_data_without_samples(tmp_path, capsys, monkeypatch):
    torch.save(_model(), tmp_path / "m.pt")
    np.savez(tmp_path / "e.npz", x=np.zeros((0, 20, 16), np.uint8))
    code, _, err = run_cli(capsys, monkeypatch, "compile", tmp_path / "m.pt", "--target", "xylo",
                           "--calibrate", tmp_path / "e.npz", "-o", tmp_path / "b")
    assert code == 2 and "error:" in err and not (tmp_path / "b").exists()


def test_emulator_and_calibration_on_conv_blocks():
    from test_xylo import _conv_model
    model = _conv_model()
    x = (np.random.default_rng(2).random((20, 10, 1, 4, 4)) < 0.3).astype(np.float64)
    compiled = api.compile(model, target="xylo-imu", input_shape=(1, 4, 4)).compiled
    xylo = run_quantized(compiled.fixed, x).spikes
    assert all(np.array_equal(emulate(compiled, x)[k], xylo[k]) for k in xylo)
    _, cal = calibrate(model, x, input_shape=(1, 4, 4), chip="xylo-imu")
    assert cal.output_agreement_calibrated >= cal.output_agreement_default
