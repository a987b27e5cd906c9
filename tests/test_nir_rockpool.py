"""Rockpool's NIR files read as Rockpool means them (rockpool 3.1.0, ``nn/modules/torch/nir.py``):
exponential Euler folded into ``r = tau*exp(-dt/tau)/dt``, spikes on ``v >= threshold``, the
subtractive reset at the spike step, and several spikes per step (``max_spikes_per_dt``,
which NIR does not record: Rockpool's default unless ``--max-spikes-per-dt`` says it);
SpikingJelly's ``>=`` on ties; the option on every verb."""
from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest

from helpers import run_cli
from snncc.backends.nir import read_nir
from snncc.backends.nir.producers import _exp_euler_dt
from snncc.errors import SnnccError
from snncc.passes import lower_neurons
from snncc.passes.float_sim import simulate_float

rockpool = pytest.importorskip("rockpool")
torch = pytest.importorskip("torch")


def _float_spikes(graph, x, layer):
    lowered = lower_neurons(graph)[0]
    return simulate_float(lowered, x)[layer]


def _tie_model(max_spikes=1):
    """Weights and thresholds chosen so that v lands *exactly* on the threshold."""
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFNeuronTorch, LinearTorch
    return Sequential(LinearTorch((2, 2), weight=torch.tensor([[1.0, 0.5], [0.25, 0.25]])),
                      LIFNeuronTorch(2, tau_mem=1e3, threshold=torch.tensor([1.0, 0.5]),
                                     dt=1e-3, max_spikes_per_dt=max_spikes))


def _export(net, path):
    from rockpool.nn.modules.torch.nir import to_nir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nir.write(path, to_nir(net))
    return path


def _rockpool_run(net, x):
    net.reset_state()
    with torch.no_grad():
        y, _, _ = net(torch.from_numpy(np.ascontiguousarray(x.swapaxes(0, 1))))
    return y.numpy().swapaxes(0, 1)


def test_exp_euler_dt_is_recovered_from_r():
    tau = np.array([1e-4, 1e-3, 0.02, 0.5, 10.0])
    for dt in (1e-4, 1e-3, 2.5e-3):
        r = (tau * np.exp(-dt / tau) / dt).astype(np.float32)
        np.testing.assert_allclose(_exp_euler_dt(r, tau.astype(np.float32)), dt, rtol=1e-6)


def test_threshold_ties_fire_as_in_rockpool(tmp_path):
    net = _tie_model()
    path = _export(net, tmp_path / "tie.nir")
    x = np.zeros((6, 1, 2), np.float32)
    x[0, 0, 0] = x[1, 0, 0] = x[3, 0, 1] = 1
    theirs = _rockpool_run(net, x)
    assert theirs[0].sum() == 2          # both neurons sit exactly on their thresholds at step 0
    graph = read_nir(path, max_spikes_per_dt=1)
    info = graph.meta["nir_import"]
    assert info["producer"] == "Rockpool" and info["dt"] == pytest.approx(1e-3)
    assert set(info["conventions"].values()) == {"exp-euler"}
    assert info["spike_rules"] == {"1_LIFNeuronTorch": ">="}
    # the unit gain of a float32 r is exactly 1: the folded weights are Rockpool's own
    np.testing.assert_array_equal(graph.node("0_LinearTorch").weight, [[1.0, 0.25], [0.5, 0.25]])
    np.testing.assert_array_equal(_float_spikes(graph, x, "1_LIFNeuronTorch"), theirs)


def test_several_spikes_per_step_as_rockpool_means_them(tmp_path, monkeypatch, capsys):
    """NIR does not record max_spikes_per_dt: Rockpool's default (65536) is read, counts and
    all; Loihi refuses such a layer by name, pointing at --max-spikes-per-dt."""
    net = _tie_model(max_spikes=2 ** 16)
    path = _export(net, tmp_path / "m.nir")
    x = np.zeros((4, 1, 2), np.float32)
    x[0, 0, 0] = 3.0                      # v = 3 and 1.5: 3 and 3 spikes in one step
    theirs = _rockpool_run(net, x)
    assert theirs.max() == 3
    graph = read_nir(path)
    assert graph.node("1_LIFNeuronTorch").max_spikes == 2 ** 16
    assert "up to 65536 (Rockpool's default" in graph.meta["nir_import"]["spikes_per_step"]
    np.testing.assert_array_equal(_float_spikes(graph, x, "1_LIFNeuronTorch"), theirs)
    one = read_nir(path, max_spikes_per_dt=1)              # a model built with one
    assert one.node("1_LIFNeuronTorch").max_spikes == 1
    code, out, err = run_cli(capsys, monkeypatch, "compile", path, "-o", tmp_path / "b")
    assert code == 2 and "spikes per step" in err and "--max-spikes-per-dt 1" in err, err
    assert "Traceback" not in err and not (tmp_path / "b").exists()
    code, out, err = run_cli(capsys, monkeypatch, "inspect", path, "--max-spikes-per-dt", "0")
    assert code == 2 and "not a whole number >= 1" in err
    code, out, err = run_cli(capsys, monkeypatch, "compile", path, "-o", tmp_path / "b",
                             "--max-spikes-per-dt", "1")
    assert code == 0, err
    line = next(l for l in out.splitlines() if l.startswith("NIR import:"))
    assert "Rockpool" in line and "exp-euler" in line and "reset: subtract" in line
    assert "v >= threshold" in line and "spikes per step" not in line


def test_several_spikes_need_the_subtract_reset_and_a_multi_spike_producer(tmp_path):
    path = _export(_tie_model(), tmp_path / "m.nir")
    with pytest.raises(SnnccError, match="subtracts one threshold"):
        read_nir(path, reset="zero")                    # Rockpool's default count, zero reset
    assert read_nir(path, reset="zero", max_spikes_per_dt=1).node("1_LIFNeuronTorch").reset \
        == "zero"
    with pytest.raises(SnnccError, match="SpikingJelly's neurons emit at most one"):
        read_nir(path, producer="spikingjelly", max_spikes_per_dt=4)


@pytest.mark.parametrize("verb, extra", [("verify", "data"), ("export-nir", "out"),
                                         ("inspect", None)])
def test_every_verb_takes_the_option(tmp_path, monkeypatch, capsys, verb, extra):
    path = _export(_tie_model(), tmp_path / "m.nir")
    np.savez(tmp_path / "x.npz", x=(np.random.default_rng(0).random((4, 20, 2)) < 0.4)
             .astype(np.float32))
    args = {"data": ["--data", tmp_path / "x.npz"], "out": ["-o", tmp_path / "n.nir"],
            None: []}[extra]
    code, out, err = run_cli(capsys, monkeypatch, verb, path, *args, "--max-spikes-per-dt", "1")
    assert code == 0, err
    assert "NIR import: Rockpool" in out


def test_option_refused_for_torch_models(tmp_path, monkeypatch, capsys):
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    torch.save(model, tmp_path / "m.pt")
    code, out, err = run_cli(capsys, monkeypatch, "inspect", tmp_path / "m.pt",
                             "--input-shape", "2", "--max-spikes-per-dt", "1")
    assert code == 2 and "not a .nir file" in err


def test_spikingjelly_ties_fire_as_in_spikingjelly(tmp_path):
    """SpikingJelly fires on v >= v_threshold too: an IF layer whose inputs add up to the
    threshold exactly spikes in SpikingJelly and in snncc's reading of its export."""
    sj = pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import functional, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir
    net = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), neuron.IFNode(v_reset=0.0))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.5, 0.25], [0.25, 0.25]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_to_nir(net, torch.zeros(1, 2), save_path=tmp_path / "sj.nir")
    x = np.zeros((6, 1, 2), np.float32)
    x[0:2, 0, 0] = 1                       # 0.5 + 0.5 = 1.0: a tie at step 1
    x[2:6, 0, 1] = 1                       # 4 x 0.25 = 1.0: a tie at step 5
    functional.reset_net(net)
    with torch.no_grad():
        theirs = np.stack([net(torch.from_numpy(x[t])).numpy() for t in range(len(x))])
    assert theirs.sum() >= 2
    graph = read_nir(tmp_path / "sj.nir")
    assert graph.meta["nir_import"]["producer"] == "SpikingJelly"
    np.testing.assert_array_equal(_float_spikes(graph, x, graph.output_names[0]), theirs)
    del sj


def test_export_nir_keeps_the_spike_count(tmp_path, monkeypatch, capsys):
    """snncc's own NIR says how many spikes per step in its metadata (NIR cannot)."""
    path = _export(_tie_model(max_spikes=2 ** 16), tmp_path / "m.nir")
    code, out, err = run_cli(capsys, monkeypatch, "export-nir", path, "-o", tmp_path / "n.nir")
    assert code == 0, err
    back = read_nir(tmp_path / "n.nir")
    assert back.meta["nir_import"]["producer"] == "snncc"
    assert back.node("1_LIFNeuronTorch").max_spikes == 2 ** 16
    x = np.zeros((4, 1, 2), np.float32)
    x[0, 0, 0] = 3.0
    np.testing.assert_array_equal(_float_spikes(back, x, "1_LIFNeuronTorch"),
                                  _float_spikes(read_nir(path), x, "1_LIFNeuronTorch"))
