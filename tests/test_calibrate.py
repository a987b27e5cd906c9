"""Calibration beats max-abs scaling where max-abs wastes resolution, and never loses to it.

The network is built to defeat the default rule: the digits MLP, trained, then given huge
weights (200x the largest trained weight) on the input pixels that never spike in the data
set (the 8x8 digits' dead corners).  The float model is unchanged by them, but max-abs
scaling spends the 8 bits on the outliers and rounds the trained weights to a few levels.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from snncc.targets.loihi.calibrate import calibrate, gain_on, worst_case_current  # noqa: E402
from snncc.compiler import compile_model  # noqa: E402
from snncc.targets.loihi.quantize import netx_config  # noqa: E402
from snncc.report.runs import predictions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from examples import digits  # noqa: E402

from helpers import fx_chain  # noqa: E402

T = 8


@pytest.fixture(scope="module")
def heavy_tailed():
    torch.set_num_threads(2)
    x_tr, y_tr, x_te, y_te = digits.load_digits_spikes(T, seed=0)
    dead = np.where(x_tr.sum(axis=(0, 1)) + x_te.sum(axis=(0, 1)) == 0)[0]
    assert len(dead) >= 2
    model = digits.build_mlp(hidden=64, neuron="lif", seed=0)
    digits.train(model, x_tr, y_tr, digits.TrainConfig(epochs=3, batch_size=64, seed=0), log=None)
    with torch.no_grad():
        w = model[0].weight
        gen = torch.Generator().manual_seed(0)
        signs = torch.sign(torch.randn(w.shape[0], len(dead), generator=gen))
        w[:, dead] = 200 * w.abs().max() * signs
    cal_x, test_x = np.swapaxes(x_tr[:160], 0, 1), np.swapaxes(x_te, 0, 1)
    return model, cal_x, y_tr[:160], test_x, y_te


@pytest.fixture(scope="module")
def calibrated(heavy_tailed):
    model, cal_x, cal_y, _, _ = heavy_tailed
    return calibrate(model, cal_x, cal_y, ratios=tuple(2.0 ** k for k in range(-1, 8)))


def _float_accuracy(model, x, y):
    from snncc.reference import run_float
    return float(np.mean(predictions(run_float(model, x, ["3"])["3"]) == y))


def test_default_rule_loses_accuracy_and_calibration_recovers_it(heavy_tailed, calibrated):
    model, _, _, test_x, test_y = heavy_tailed
    compiled, cal = calibrated
    on_test = gain_on(model, compiled, cal, test_x, test_y)        # held-out data
    acc_float = _float_accuracy(model, test_x, test_y)
    print(f"held-out: float {acc_float:.4f}, default {on_test['accuracy_default']:.4f}, "
          f"calibrated {on_test['accuracy_calibrated']:.4f}; output agreement "
          f"{on_test['output_agreement_default']:.4f} -> {on_test['output_agreement_calibrated']:.4f}")
    assert on_test["accuracy_default"] < acc_float - 0.02              # the rule's loss is real
    assert on_test["accuracy_calibrated"] >= acc_float - 0.01
    assert on_test["output_agreement_calibrated"] > on_test["output_agreement_default"] + 0.04
    assert on_test["prediction_agreement_calibrated"] > on_test["prediction_agreement_default"] + 0.05


def test_no_layer_gets_worse_on_calibration_data(calibrated):
    _, cal = calibrated
    for layer in cal.layers:
        assert layer.agreement_calibrated >= layer.agreement_default
    assert cal.output_agreement_calibrated > cal.output_agreement_default
    assert cal.accuracy_calibrated > cal.accuracy_default


def test_outlier_layer_is_clipped_with_a_lower_exponent(calibrated, heavy_tailed):
    compiled, cal = calibrated
    first = cal.layers[0]
    assert first.clip_ratio >= 8                     # the bulk got >= 3 more bits
    assert cal.config.scale_factor[first.name] == first.scale_factor
    q = {l.name: l for l in compiled.quant.layers}
    assert q[first.name].clipped["weight"] > 0           # the outliers, and reported as such
    assert q[first.name].clipped["threshold"] == 0
    assert all(v < 1.0 for v in worst_case_current(compiled.fixed).values())
    default = compile_model(heavy_tailed[0])
    assert {l.name: l for l in default.quant.layers}[first.name].clipped["weight"] == 0


def test_recipes_are_scored_and_the_best_is_kept(calibrated):
    _, cal = calibrated
    log = cal.extra["recipes"]
    assert log[0]["recipe"] == "default" and sum(e["chosen"] for e in log) == 1
    chosen = next(e for e in log if e["chosen"])
    assert all(chosen["score"] >= e["score"] - 1e-4 for e in log)
    assert {"drift", "drift+bc", "drift+bc+extended"} <= {e["recipe"] for e in log}


def test_fixed_exponent_format_searches_scales_only(heavy_tailed):
    model, cal_x, cal_y, _, _ = heavy_tailed
    compiled, cal = calibrate(model, cal_x[:, :64], cal_y[:64], base=netx_config(),
                              ratios=(1.0, 2.0, 4.0))
    assert all(l.candidates == 3 for l in cal.layers)    # no exponent variants: netx fixes 0
    assert all(l.weight_exp == 0 for l in compiled.quant.layers)
    assert not cal.config.weight_exp


def test_worst_case_current_matches_hand_count():
    w = np.array([[100, -50, 0], [255, 255, 255]])
    g = fx_chain([w], [{"du": 4095, "vth": 10}], weight_exp=2)
    # row 2, mixed-sign matrix: Lava keeps 7 bits, 255 -> 254; 3 * 254 << (2 + 6) with a
    # full current decay (du + 1 = 4096: leak 1)
    expected = 762 * 2 ** 8 / 2 ** 23
    assert worst_case_current(g)["n0"] == pytest.approx(expected)
    slow = fx_chain([w], [{"du": 1023, "vth": 10}], weight_exp=2)      # leak 1/4: 4x
    assert worst_case_current(slow)["n0"] == pytest.approx(4 * expected)


def test_cli_compile_and_verify_with_calibration(heavy_tailed, tmp_path, capsys, monkeypatch):
    from test_cli_errors import cli
    model, cal_x, cal_y, test_x, test_y = heavy_tailed
    torch.save(model, tmp_path / "m.pt")
    np.savez(tmp_path / "cal.npz", x=np.swapaxes(cal_x[:, :96], 0, 1), y=cal_y[:96])
    np.savez(tmp_path / "test.npz", x=np.swapaxes(test_x[:, :96], 0, 1), y=test_y[:96])
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "m.pt", "-o", tmp_path / "b",
                         "--calibrate", tmp_path / "cal.npz")
    assert code == 0, err
    quant = json.loads((tmp_path / "b" / "quantization.json").read_text())
    assert quant["calibration"]["scale_factor"]["1"] > 1
    assert "calibration on 96 samples" in out
    code, out, err = cli(capsys, monkeypatch, "verify", tmp_path / "m.pt", "--data",
                         tmp_path / "test.npz", "--calibrate", tmp_path / "cal.npz",
                         "--json", tmp_path / "r.json")
    assert code == 0, err
    assert "calibration gain on this data" in out
    report = json.loads((tmp_path / "r.json").read_text())
    on = report["calibration"]["extra"]["verify_data"]
    assert on["output_agreement_calibrated"] > on["output_agreement_default"]
    assert report["inputs"]["calibration_data"].endswith("cal.npz")
