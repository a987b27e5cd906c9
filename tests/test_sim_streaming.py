"""Long runs stream over time: ``snncc run`` (CLI and API) on every simulator gives the
same spikes and counts as a run held in memory, and its spike file is written window by
window (memory bounded by the window, not by T)."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import fx_chain, run_cli
from snncc import api
from snncc.backends.sim import simulate, simulate_fast
from snncc.backends.sim.stepper import simulate_steps
from snncc.backends.sim.stream import SpikeFile, StreamedRun
from snncc.ir import serialize


@pytest.fixture
def long_run(tmp_path):
    """A compiled 6-12-4 network and a 3000-step data file of 3 samples."""
    rng = np.random.default_rng(0)
    w1, w2 = rng.integers(-60, 120, (12, 6)), rng.integers(-90, 60, (4, 12))
    g = fx_chain([w1, np.clip(w2, -20, 127)],
                 [dict(du=300, dv=200, vth=40), dict(du=4095, dv=100, vth=100,
                                                     reset="subtract")])
    (tmp_path / "build").mkdir()
    serialize.save(g, tmp_path / "build")
    x = (rng.random((3, 3000, 6)) < 0.3).astype(np.uint8)       # (samples, time, n)
    np.savez(tmp_path / "data.npz", x=x)
    return g, np.swapaxes(x, 0, 1), tmp_path


@pytest.mark.parametrize("backend", ["sim", "fast", "torch"])
def test_run_streams_the_same_spikes(long_run, backend, capsys, monkeypatch):
    g, x, tmp = long_run
    ref = simulate_fast(g, x)
    code, out, _ = run_cli(capsys, monkeypatch, "run", tmp / "build", "--input",
                           tmp / "data.npz", "--backend", backend, "-o", tmp / "s.npz")
    counts = ref.spikes["n1"].sum(axis=0)
    assert len(np.unique(counts)) > 2                      # a network that does something
    assert code == 0 and str(counts[:10]) in out
    with np.load(tmp / "s.npz") as f:
        for name, spikes in ref.spikes.items():
            assert np.array_equal(f[f"spikes/{name}"], np.swapaxes(spikes, 0, 1)), name
    assert not list(tmp.glob(".snncc-spikes-*"))          # scratch files removed


def test_streamed_run_keeps_only_counts_when_too_long(long_run):
    g, x, tmp = long_run
    ref = simulate(g, x)
    with StreamedRun(g, x, "fast", "n1", tmp, keep_bytes=1000) as streamed:
        assert streamed.spikes is None
        assert np.array_equal(streamed.counts, ref.spikes["n1"].sum(axis=0))
        streamed.save(tmp / "kept.npz")
    with np.load(tmp / "kept.npz") as f:
        assert np.array_equal(f["spikes/n0"], np.swapaxes(ref.spikes["n0"], 0, 1))
    result = api.run(tmp / "build", tmp / "data.npz", backend="fast")
    assert np.array_equal(result.counts, ref.spikes["n1"].sum(axis=0))


def test_stepper_windows_match_one_window(long_run):
    g, x, _ = long_run
    x = x[:200]
    ref = simulate(g, x, record_states=True)
    for window in (1, 7, 64):
        t = 0
        for win in simulate_steps(g, x, True, window=window):
            n = win.spikes["n0"].shape[0]
            for name in ref.u:
                assert np.array_equal(win.u[name], ref.u[name][t:t + n])
                assert np.array_equal(win.spikes[name], ref.spikes[name][t:t + n])
            t += n
        assert t == x.shape[0]


def test_spike_file_is_a_numpy_npz(tmp_path):
    from snncc.backends.sim.vectorized import Window
    spikes = np.random.default_rng(1).random((5, 3, 4)) < 0.5
    with SpikeFile(tmp_path / "o.npz", 5, 3, {"a": 4}) as f:
        for t0, b0 in ((0, 0), (2, 0), (0, 2), (2, 2)):
            f.add(Window(t0, b0, {"a": spikes[t0:t0 + (2 if t0 == 0 else 3), b0:b0 + 2]}))
        f.save()
    with np.load(tmp_path / "o.npz") as data:
        assert np.array_equal(data["spikes/a"], np.swapaxes(spikes, 0, 1))


@pytest.mark.parametrize("recurrent", [False, True])
def test_verify_analysis_in_time_windows_equals_one_window(recurrent, monkeypatch):
    """verify's analysis cut into windows of a few steps (float model, float graph and the
    quantized run carry their state) gives the same numbers as one window."""
    import torch

    import snncc.nn as snn
    from snncc.compiler import compile_model
    from snncc.report import analysis

    torch.manual_seed(1)
    last = snn.RLIF(5, threshold=0.4) if recurrent else snn.CubaLIF(5, threshold=0.3)
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), snn.LIF(16, beta=0.8, threshold=0.4),
                                torch.nn.Linear(16, 5), last)
    compiled = compile_model(model, (12,))
    x = (np.random.default_rng(2).random((30, 7, 12)) < 0.4).astype(np.uint8)
    y = np.arange(7) % 5
    whole = analysis.analyze(model, compiled, x, y, batch_size=4)
    monkeypatch.setattr(analysis, "WINDOW_BYTES", 1)           # one step per window
    windowed = analysis.analyze(model, compiled, x, y, batch_size=4)
    for name, layer in whole.layers.items():      # sums in another order: float rounding
        other = dict(windowed.layers[name])
        mem = other.pop("membrane_error")
        assert {k: v for k, v in layer.items() if k != "membrane_error"} == other
        assert (mem is None) == (layer["membrane_error"] is None)
        if mem is not None:
            assert mem == pytest.approx(layer["membrane_error"], rel=1e-9)
    for key in ("output_agreement", "prediction_agreement", "accuracy_float", "accuracy_quant"):
        assert getattr(whole, key) == getattr(windowed, key), key
    assert any(layer["spikes_per_sample"]["quant"] for layer in whole.layers.values())
