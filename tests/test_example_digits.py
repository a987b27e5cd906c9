"""The digits example: its encoding is deterministic, it trains, and its model round-trips."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:          # `examples` is not an installed package
    sys.path.insert(0, str(ROOT))

from examples import digits  # noqa: E402
T = 8


@pytest.fixture(scope="module")
def data():
    return digits.load_digits_spikes(T, seed=0)


@pytest.fixture(scope="module")
def trained(data):
    x_tr, y_tr, x_te, y_te = data
    torch.set_num_threads(2)
    model = digits.build_mlp(hidden=64, neuron="lif", seed=0)
    cfg = digits.TrainConfig(epochs=3, batch_size=64, seed=0)
    hist = digits.train(model, x_tr, y_tr, cfg, log=None)   # ~0.5 s; reaches ~80%
    return model, hist


def test_encoding_shapes_and_types(data):
    x_tr, y_tr, x_te, y_te = data
    assert x_tr.dtype == np.uint8 and x_te.dtype == np.uint8
    assert y_tr.dtype == np.int64 and y_te.dtype == np.int64
    assert x_tr.shape == (len(y_tr), T, 64) and x_te.shape == (len(y_te), T, 64)
    assert len(y_te) == 360 and len(y_tr) == 1437          # fixed 80/20 split
    assert set(np.unique(x_tr)) <= {0, 1}
    assert 0.2 < x_tr.mean() < 0.4                          # mean intensity / 16 is ~0.3


def test_encoding_is_deterministic(data):
    again = digits.load_digits_spikes(T, seed=0)
    for a, b in zip(data, again):
        np.testing.assert_array_equal(a, b)
    other = digits.load_digits_spikes(T, seed=1)
    np.testing.assert_array_equal(other[1], data[1])        # same split and labels
    np.testing.assert_array_equal(other[3], data[3])
    assert not np.array_equal(other[0], data[0])            # different spikes


def test_encoding_is_a_rate_code():
    rng = np.random.default_rng(0)
    p = np.array([[0.0, 0.25, 1.0]])
    x = digits.encode(np.repeat(p, 2000, axis=0), 4, rng)
    rate = x.mean(axis=(0, 1))
    assert rate[0] == 0.0 and rate[2] == 1.0 and abs(rate[1] - 0.25) < 0.02


def test_build_mlp_is_plain_sequential():
    import snncc.nn as snn
    for neuron, cls in (("lif", snn.LIF), ("cuba", snn.CubaLIF)):
        m = digits.build_mlp(hidden=16, neuron=neuron)
        assert type(m) is torch.nn.Sequential
        assert [type(l) for l in m] == [torch.nn.Linear, cls, torch.nn.Linear, cls]
        assert m[1].beta.requires_grad and m[1].threshold.requires_grad
    with pytest.raises(ValueError):
        digits.build_mlp(neuron="izhikevich")


def test_training_beats_chance(trained, data):
    model, hist = trained
    _, _, x_te, y_te = data
    assert len(hist.loss) == 3 and hist.loss[-1] < hist.loss[0]
    acc = digits.evaluate(model, x_te, y_te)
    assert acc > 0.6, acc                                   # chance is 0.1
    for m in model.modules():                               # thresholds did not collapse
        if hasattr(m, "threshold"):
            thr, beta = m.threshold.detach(), m.beta.detach()
            assert float(thr.min()) >= digits.MIN_THRESHOLD
            assert 0.0 <= float(beta.min()) and float(beta.max()) <= 1.0


def test_training_is_deterministic(data):
    x_tr, y_tr, _, _ = data
    states = []
    for _ in range(2):
        model = digits.build_mlp(hidden=32, seed=3)
        digits.train(model, x_tr[:256], y_tr[:256], digits.TrainConfig(epochs=1, seed=3), log=None)
        states.append(model.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def test_saved_model_reloads_with_identical_spikes(trained, data, tmp_path):
    model, _ = trained
    _, _, x_te, _ = data
    path = tmp_path / "model.pt"
    torch.save(model, path)
    loaded = torch.load(path, weights_only=False)
    assert type(loaded) is torch.nn.Sequential
    x = torch.as_tensor(x_te[:64], dtype=torch.float32)
    with torch.no_grad():
        a, b = digits.run(model, x), digits.run(loaded, x)
    assert a.shape == (64, T, 10)
    assert torch.equal(a, b)
    assert a.sum() > 0                                      # the output layer does spike


def test_cli_writes_outputs(tmp_path):
    """The thin CLI end to end, in a fresh process (tiny settings keep it fast)."""
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "train_digits_mlp.py"),
                          "--out", str(out), "--epochs", "1", "--steps", "4", "--hidden", "16"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["inputs.npz", "metrics.json", "model.pt"]
    with np.load(out / "inputs.npz") as f:
        assert set(f.files) == {"x", "y"}
        assert f["x"].dtype == np.uint8 and f["x"].shape == (360, 4, 64)
        assert f["y"].dtype == np.int64 and f["y"].shape == (360,)
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["float_test_accuracy"] <= 1.0
    # The pickle names only torch and snncc classes, so it loads in a process that never
    # imported the example code.
    code = ("import torch, sys; m = torch.load(sys.argv[1], weights_only=False); "
            "assert 'examples' not in sys.modules; print(type(m).__name__)")
    res = subprocess.run([sys.executable, "-c", code, str(out / "model.pt")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "Sequential"
