"""NIR graphs written by other tools: snnTorch's export read by snncc, snncc's export read
by snnTorch, the three r conventions, legacy-file repair and ``snncc compile x.nir``."""
from __future__ import annotations


import h5py
import nir
import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn_nn
from snncc.backends.nir import from_nir, read_nir, write_nir
from snncc.backends.nir.conventions import CONVENTIONS
from snncc.errors import SnnccError
from snncc.frontend import trace
from snncc.frontend.frameworks import run_native
from snncc.passes import lower_neurons
from snncc.passes.float_sim import simulate_float

SNNTORCH_DT = 1e-4       # snnTorch's export and import hard-code dt = 1e-4 s


def _x(n_in: int, steps: int = 60, batch: int = 16, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((steps, batch, n_in)) < 0.3).astype(np.uint8)


def _snntorch_net(reset: str, gain: float = 3.0):
    snn = pytest.importorskip("snntorch")
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(
        nn.Linear(8, 16), snn.Leaky(beta=torch.rand(16, generator=g) * 0.6 + 0.3,
                                    threshold=torch.rand(16, generator=g) + 0.5,
                                    reset_mechanism=reset, init_hidden=True),
        nn.Linear(16, 4), snn.Leaky(beta=torch.rand(4, generator=g) * 0.6 + 0.3,
                                    threshold=torch.rand(4, generator=g) + 0.5,
                                    reset_mechanism=reset, init_hidden=True))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(gain)
    return net


def test_snntorch_export_imported_by_snncc_reproduces_its_spikes(tmp_path):
    pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir
    net = _snntorch_net("zero", gain=5.0)
    path = tmp_path / "snntorch.nir"
    nir.write(path, export_to_nir(net, torch.rand(1, 8), ignore_dims=[0]))
    graph = read_nir(path, dt=SNNTORCH_DT)                 # NIR has no dt: snnTorch's is 1e-4
    assert set(graph.meta["nir_conventions"].values()) == {"euler"}
    x = _x(8)
    theirs = run_native(net, x, ["1", "3"])
    ours = simulate_float(lower_neurons(graph)[0], x)
    assert theirs["3"].mean() > 0.02
    for layer in ("1", "3"):
        np.testing.assert_array_equal(ours[layer], theirs[layer], err_msg=layer)
    # read at snncc's default dt instead, the same taus are shorter than a step
    with pytest.raises(SnnccError, match="tau_mem < dt"):
        read_nir(path, dt=1e-3)


def test_snntorch_default_subtract_reset_is_lost_in_its_export(tmp_path):
    """snnTorch exports v_reset = 0 for its default (delayed subtract) reset: a recorded trap."""
    pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir
    net = _snntorch_net("subtract")
    path = tmp_path / "snntorch.nir"
    nir.write(path, export_to_nir(net, torch.rand(1, 8), ignore_dims=[0]))
    x = _x(8)
    theirs = run_native(net, x, ["1"])["1"]
    ours = simulate_float(lower_neurons(read_nir(path, dt=SNNTORCH_DT))[0], x)["1"]
    assert ours.sum() != theirs.sum()          # zero reset read from v_reset = 0
    traced = simulate_float(lower_neurons(trace(net, (8,)))[0], x)["1"]
    np.testing.assert_array_equal(traced, theirs)   # tracing the model itself is exact


def test_snncc_export_imported_by_snntorch_reproduces_spikes(tmp_path):
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir
    torch.manual_seed(3)
    # snnTorch's importer wants one threshold per layer, zero reset, no v_leak
    model = nn.Sequential(nn.Linear(8, 16), snn_nn.LIF(16, beta=torch.rand(16) * 0.6 + 0.3,
                                                        threshold=0.7, learn_threshold=False),
                          nn.Linear(16, 4), snn_nn.LIF(4, beta=torch.rand(4) * 0.6 + 0.3))
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.mul_(3.0)
    lowered = lower_neurons(trace(model, (8,), dt=SNNTORCH_DT))[0]
    path = write_nir(lowered, tmp_path / "snncc.nir")
    theirs_model = import_from_nir(nir.read(path))
    x = _x(8)
    ours = simulate_float(lowered, x)
    theirs = run_native(theirs_model, x, ["1", "3"])
    assert ours["3"].mean() > 0.02
    for layer in ("1", "3"):
        np.testing.assert_array_equal(ours[layer], theirs[layer], err_msg=layer)


def _foreign(r, tau=0.02, w_in=None):
    """Input -> Linear -> neuron (LIF, or CubaLIF with w_in) -> Output, no snncc metadata."""
    n = 2
    neuron = (nir.LIF(tau=np.full(n, tau), r=np.asarray(r, float), v_leak=np.zeros(n),
                      v_threshold=np.ones(n), v_reset=np.zeros(n)) if w_in is None else
              nir.CubaLIF(tau_syn=np.full(n, tau / 2), tau_mem=np.full(n, tau),
                          r=np.asarray(r, float), w_in=np.full(n, w_in), v_leak=np.zeros(n),
                          v_threshold=np.ones(n), v_reset=np.zeros(n)))
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}),
                               "fc": nir.Linear(weight=np.ones((n, 3))),
                               "lif": neuron,
                               "output": nir.Output(output_type={"output": np.array([n])})},
                        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


@pytest.mark.parametrize("name, r, beta, gain", [
    ("euler", 20.0, 1 - 0.05, 1.0),                               # r = tau/dt
    ("unit-pulse", 1.0, 1 - 0.05, 0.05),                          # Norse: r = 1, gain dt/tau
    ("exp-euler", 0.02 * np.exp(-0.05) / 1e-3, np.exp(-0.05), 1.0),   # Rockpool
])
def test_the_three_r_conventions_are_detected_and_folded(name, r, beta, gain):
    # exp-euler at a round dt is Rockpool's (up to 65536 spikes per step unless told)
    graph = from_nir(_foreign(np.full(2, r)), dt=1e-3, max_spikes_per_dt=1)
    assert graph.meta["nir_conventions"] == {"lif": name}
    np.testing.assert_allclose(graph.node("lif").beta, beta, rtol=1e-6)
    np.testing.assert_allclose(graph.node("fc").weight, gain, rtol=1e-6)


def test_convention_can_be_forced_and_current_gains_differ():
    cuba = _foreign(np.ones(2), w_in=1.0)                          # Norse LIFCell style
    norse = from_nir(cuba, dt=1e-3)
    assert norse.meta["nir_conventions"] == {"lif": "unit-pulse"}
    # unit pulse: the current jumps by w_in*x, v gains dt/tau_mem = 0.05
    np.testing.assert_allclose(norse.node("fc").weight, 0.05, rtol=1e-6)
    forced = from_nir(cuba, dt=1e-3, convention="euler")          # w_in read as dt*w_in/tau_syn
    np.testing.assert_allclose(forced.node("fc").weight, 0.05 * 0.1, rtol=1e-6)
    assert set(CONVENTIONS) == {"euler", "unit-pulse", "exp-euler", "exp-syn", "zoh", "exp-pulse"}


def test_legacy_file_is_repaired_and_the_repairs_are_listed(tmp_path):
    path = tmp_path / "legacy.nir"
    nir.write(path, _foreign(np.full(2, 20.0)))
    with h5py.File(path, "r+") as f:          # what older exports look like
        nodes = f["node"]["nodes"]
        del nodes["input"]["shape"]
        nodes["input"]["shape"] = np.array([1, 3])     # a batch dimension
        del nodes["lif"]["v_threshold"]
        nodes["lif"]["v_threshold"] = np.array(1.0)   # a scalar parameter
    with pytest.raises(Exception):
        nir.read(path)                         # nir's strict reader refuses it
    graph = read_nir(path, dt=1e-3)
    repairs = " | ".join(graph.meta["nir_repairs"])
    assert "strict read failed" in repairs and "batch dimension" in repairs
    assert "broadcast scalar v_threshold" in repairs
    assert graph.node("lif").threshold.shape == (2,)


def test_cli_compiles_inspects_and_verifies_a_nir_file(tmp_path, monkeypatch, capsys):
    from helpers import run_cli

    def cli(*args):
        return run_cli(None, monkeypatch, *args)[0]

    path = tmp_path / "m.nir"
    nir.write(path, _foreign(np.ones(2)))               # no dt anywhere in the file
    assert cli("compile", path, "--target", "loihi", "-o", tmp_path / "b") == 2
    assert "time step" in capsys.readouterr().err
    assert cli("compile", path, "--target", "loihi", "-o", tmp_path / "b", "--dt", 0.001) == 0
    assert (tmp_path / "b").is_dir()
    assert cli("inspect", path, "--dt", 0.001) == 0
    out = capsys.readouterr().out
    assert "unit-pulse" in out and "Loihi 2 resources" in out
    np.savez(tmp_path / "x.npz", x=_x(3).swapaxes(0, 1))
    assert cli("verify", path, "--dt", 0.001, "--data", tmp_path / "x.npz") == 0
