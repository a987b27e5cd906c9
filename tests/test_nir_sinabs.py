"""Sinabs's NIR files read as Sinabs means them (sinabs 3.1.3, ``sinabs/nir.py``): taus in
steps (dt = 1), IF as one unit per input per step, LIF as exact exponential integration
(``norm_input=True``), spikes on ``>=``, subtractive reset, several spikes per step unless the
model was built with ``SingleSpike`` (``--max-spikes-per-dt 1``); ``--producer`` where an
IF-only graph cannot tell."""
from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest

from helpers import run_cli
from snncc.backends.nir import read_nir
from snncc.backends.nir.conventions import CONVENTIONS
from snncc.errors import SnnccError
from snncc.passes import lower_neurons
from snncc.passes.float_sim import simulate_float

torch = pytest.importorskip("torch")
sinabs = pytest.importorskip("sinabs")


def _net(lif: bool):
    import sinabs.layers as sl
    from sinabs.activation import SingleSpike
    torch.manual_seed(0)
    first = (sl.LIF(tau_mem=torch.tensor([4.0, 30.0]), spike_threshold=torch.ones(2),
                    spike_fn=SingleSpike) if lif else
             sl.IAF(spike_threshold=torch.tensor(1.0), spike_fn=SingleSpike))
    net = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), first)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.5, 0.25], [1.0, 0.125]]))
    return net


def _export(net, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            graph = sinabs.to_nir(net, torch.zeros((1, 1, 2)))
        sinabs.reset_states(net)
    nir.write(path, graph)
    return path


def _run(net, x):
    sinabs.reset_states(net)
    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(x.swapaxes(0, 1)))).numpy().swapaxes(0, 1)


def _ours(graph, x):
    lowered = lower_neurons(graph)[0]
    return simulate_float(lowered, x)[lowered.inputs_of(lowered.output_names[0])[0]]


def test_zoh_is_the_exact_step_of_the_ode():
    zoh = CONVENTIONS["zoh"]
    tau, dt = np.array([4.0]), 1.0
    np.testing.assert_allclose(zoh.decay(tau, dt), np.exp(-0.25))
    np.testing.assert_allclose(zoh.v_gain(np.ones(1), tau, dt), 1 - np.exp(-0.25))


def test_if_only_graph_needs_producer_and_then_matches_ties(tmp_path, monkeypatch, capsys):
    net = _net(lif=False)
    path = _export(net, tmp_path / "iaf.nir")
    x = np.zeros((8, 1, 2), np.float32)
    x[0:2, 0, 0] = 1                      # 0.5 + 0.5: exactly the threshold, Sinabs fires
    x[2:6, 0, 1] = 1
    theirs = _run(net, x)
    assert theirs[1, 0, 0] == 1
    plain = read_nir(path)                # IF with r = 1: Norse's or Sinabs's, unknown
    assert plain.meta["nir_import"]["producer"] is None
    graph = read_nir(path, producer="sinabs", max_spikes_per_dt=1)
    info = graph.meta["nir_import"]
    assert info["producer"] == "Sinabs" and set(info["resets"].values()) == {"subtract"}
    np.testing.assert_array_equal(_ours(graph, x), theirs)
    assert read_nir(path, producer="sinabs").node("1").max_spikes == 2 ** 16   # MultiSpike
    with pytest.raises(SnnccError, match="unknown NIR producer"):
        read_nir(path, producer="brian2")
    code, out, err = run_cli(capsys, monkeypatch, "inspect", path, "--producer", "sinabs",
                             "--max-spikes-per-dt", "1")
    assert code == 0, err
    assert "NIR import: Sinabs (--producer)" in out and "unit-pulse" in out


def test_lif_taus_in_steps_are_detected_and_integrated_exactly(tmp_path, monkeypatch, capsys):
    net = _net(lif=True)
    path = _export(net, tmp_path / "lif.nir")
    x = (np.random.default_rng(1).random((60, 3, 2)) < 0.6).astype(np.float32) * 3
    theirs = _run(net, x)
    assert theirs.sum() > 10
    code, out, err = run_cli(capsys, monkeypatch, "inspect", path)    # Loihi: one spike
    assert code == 2 and "--max-spikes-per-dt 1" in err and "Sinabs's default" in err
    graph = read_nir(path, max_spikes_per_dt=1)
    info = graph.meta["nir_import"]
    assert info["producer"] == "Sinabs" and info["dt"] == 1.0
    assert set(info["conventions"].values()) == {"zoh"}
    np.testing.assert_array_equal(_ours(graph, x), theirs)
    # the Euler reading of the same file (Norse's) differs: the convention matters
    euler = read_nir(path, max_spikes_per_dt=1, convention="unit-pulse")
    assert not np.array_equal(_ours(euler, x), theirs)
