"""--dt, --convention, --reset on every verb that reads a .nir; the one-line summary of
what was assumed; the sanity warnings that make a wrong reading loud; export-nir of a .nir."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from helpers import run_cli
from snncc import api
from snncc.backends.nir import read_nir
from snncc.errors import SnnccError
from snncc.passes import lower_neurons
from snncc.passes.float_sim import simulate_float
from test_nir_import_kinds import _if_file


def _lif_file(path, r=None, tau=1e-3, dt=1e-4, n=3, weight=0.6, v_leak=0.0):
    r = np.full(n, tau / dt) if r is None else np.full(n, r)
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2])}),
        "fc": nir.Linear(weight=np.full((n, 2), weight)),
        "lif": nir.LIF(tau=np.full(n, tau), r=r, v_leak=np.full(n, v_leak), v_threshold=np.ones(n),
                       v_reset=np.zeros(n)),
        "output": nir.Output(output_type={"output": np.array([n])})},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    nir.write(path, g)
    return path


@pytest.mark.parametrize("verb", ["compile", "verify", "inspect", "export-nir"])
def test_every_verb_prints_one_summary_and_takes_the_options(tmp_path, monkeypatch, capsys, verb):
    path = _lif_file(tmp_path / "m.nir")
    np.savez(tmp_path / "x.npz", x=np.ones((2, 20, 2), np.float32))
    extra = {"compile": ["-o", tmp_path / "b"], "verify": ["--data", tmp_path / "x.npz"],
             "inspect": [], "export-nir": ["-o", tmp_path / "n.nir"]}[verb]
    code, out, err = run_cli(capsys, monkeypatch, verb, path, *extra, "--reset", "subtract",
                             "--convention", "euler")
    assert code == 0, err
    lines = [l for l in out.splitlines() if l.startswith("NIR import:")]
    assert len(lines) == 1
    assert "dt = 0.0001 s (the gains r = tau/dt)" in lines[0]
    assert "r convention: euler" in lines[0] and "reset: subtract" in lines[0]


def test_options_are_refused_for_torch_models_and_bad_values(tmp_path):
    import torch
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), tmp_path / "m.pt")
    with pytest.raises(SnnccError, match="not a .nir file"):
        api.compile(tmp_path / "m.pt", reset="subtract")
    path = _lif_file(tmp_path / "m.nir")
    with pytest.raises(SnnccError, match="unknown reset flavour 'soft'"):
        api.compile(path, reset="soft")
    with pytest.raises(SnnccError, match="unknown NIR convention"):
        api.compile(path, convention="rk4")


def test_dt_minus_one_has_its_own_message(tmp_path, monkeypatch, capsys):
    path = _lif_file(tmp_path / "m.nir")
    for verb, extra in (("compile", ["-o", tmp_path / "b"]), ("inspect", [])):
        code, out, err = run_cli(capsys, monkeypatch, verb, path, "--dt", "-1", *extra)
        assert code == 2 and "--dt -1 is not a positive time step" in err
        assert "records no time step" not in err


def test_a_dt_that_contradicts_the_file_is_a_warning(tmp_path, monkeypatch, capsys):
    path = _lif_file(tmp_path / "m.nir")           # r = tau/dt written for dt = 1e-4
    g = read_nir(path, dt=5e-5)
    assert any("--dt 5e-05 differs from the 0.0001 s" in w
               for w in g.meta["nir_import"]["warnings"])
    code, out, err = run_cli(capsys, monkeypatch, "inspect", path, "--dt", "5e-5")
    assert code == 0 and "warning:" in err and "drop --dt to use 0.0001" in err
    with pytest.raises(SnnccError, match="tau_mem < dt"):          # 20x too coarse
        read_nir(path, dt=2e-3)


def test_reset_flavours(tmp_path):
    path = _lif_file(tmp_path / "m.nir", dt=1e-3, tau=1e-2)     # no producer recognised
    assert read_nir(path).node("lif").reset == "zero"
    sub = read_nir(path, reset="subtract").node("lif")
    assert sub.reset == "subtract" and not sub.reset_delayed   # NIR's reading: immediate
    assert read_nir(path, reset="subtract-delayed").node("lif").reset_delayed
    # Euler at 1e-4 is snnTorch's or SpikingJelly's; only snnTorch exports a subtract reset,
    # and its subtract acts one step late
    snt = read_nir(_lif_file(tmp_path / "s.nir"), reset="subtract")
    assert snt.meta["nir_import"]["producer"] == "snnTorch or SpikingJelly"
    assert snt.node("lif").reset_delayed


def test_silent_layer_and_zero_activity_are_warned(tmp_path, monkeypatch, capsys):
    """The IF with r = 1 forced to Euler at dt = 1e-3 integrates 0.0625e-3 per step: silent."""
    path = _if_file(tmp_path)              # + x.npz: one input spike per step
    result = api.compile(path, dt=1e-3, convention="euler")
    assert any("never fire on a random probe" in w and "--convention" in w
               for w in result.warnings)
    code, out, err = run_cli(capsys, monkeypatch, "verify", path, "--dt", "1e-3",
                             "--convention", "euler", "--data", tmp_path / "x.npz")
    assert code == 0
    assert "never fire on the data" in err and "verify compared zero activity" in err
    assert api.compile(path, dt=1e-3).warnings == []      # read right: no warning


def test_always_firing_layer_is_warned(tmp_path):
    path = _lif_file(tmp_path / "m.nir", v_leak=100.0)      # a drive of 10 per step
    result = api.compile(path)
    assert any("fire at nearly every step" in w for w in result.warnings)


def test_export_nir_normalises_a_foreign_file(tmp_path, monkeypatch, capsys):
    path = _lif_file(tmp_path / "m.nir", r=1.0, tau=2e-3, weight=20.0)      # Norse style
    x = (np.random.default_rng(0).random((40, 4, 2)) < 0.5).astype(np.float32)
    first = read_nir(path, dt=1e-4)
    code, out, err = run_cli(capsys, monkeypatch, "export-nir", path, "--dt", "1e-4",
                             "-o", tmp_path / "n.nir")
    assert code == 0 and "NIR import:" in out
    again = read_nir(tmp_path / "n.nir")                 # no --dt needed any more
    assert again.meta["nir_import"]["producer"] == "snncc"
    a = simulate_float(lower_neurons(first)[0], x)["lif"]
    b = simulate_float(lower_neurons(again)[0], x)["lif"]
    assert a.sum() > 0
    np.testing.assert_array_equal(a, b)


def test_threshold_node_is_a_memoryless_spike(tmp_path):
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2])}),
        "fc": nir.Linear(weight=np.array([[1.0, 0.0], [0.5, 0.5]])),
        "thr": nir.Threshold(threshold=np.array([0.5, 0.5])),
        "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "fc"), ("fc", "thr"), ("thr", "output")])
    nir.write(tmp_path / "t.nir", g)
    graph = read_nir(tmp_path / "t.nir", dt=1e-3)
    x = np.array([[[1, 0]], [[0, 1]], [[1, 1]], [[0, 0]]], np.float32)
    out = simulate_float(lower_neurons(graph)[0], x)["thr"][:, 0]
    np.testing.assert_array_equal(out, [[1, 0], [0, 0], [1, 1], [0, 0]])


def test_quantized_export_reads_back_bit_exactly(tmp_path, monkeypatch, capsys):
    """export-nir --quantized carries the integer program; compile of the file uses it: the
    same fixed-point arrays and the same simulator spikes as compiling the model itself."""
    import h5py
    import torch

    import snncc.nn as snn
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 10), snn.LIF(10, beta=0.8, reset="subtract"),
                                torch.nn.Linear(10, 3), snn.CubaLIF(3, alpha=0.5, beta=0.9))
    with torch.no_grad():
        for m in model:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(3.0)
    torch.save(model, tmp_path / "m.pt")
    x = (np.random.default_rng(0).random((4, 30, 6)) < 0.4).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)

    def cli(*args):
        code, out, err = run_cli(capsys, monkeypatch, *args)
        assert code == 0, err
        return out

    cli("export-nir", tmp_path / "m.pt", "--quantized", "-o", tmp_path / "q.nir")
    with h5py.File(tmp_path / "q.nir") as f:
        meta = f["node"]["metadata"]["snncc.quantized"]
        assert meta["format"][()] == b"snncc.fx" and "spike" in meta["rules"][()].decode()
    nir.read(tmp_path / "q.nir")                        # still plain NIR for other tools
    cli("compile", tmp_path / "m.pt", "-o", tmp_path / "b0")
    cli("compile", tmp_path / "q.nir", "-o", tmp_path / "b1")
    for b in ("b0", "b1"):
        cli("run", tmp_path / b, "--input", tmp_path / "x.npz", "-o", tmp_path / f"{b}.npz")
    p0, p1 = np.load(tmp_path / "b0" / "params.npz"), np.load(tmp_path / "b1" / "params.npz")
    assert sorted(p0.files) == sorted(p1.files)
    for k in p0.files:
        np.testing.assert_array_equal(p0[k], p1[k], err_msg=k)
    s0, s1 = np.load(tmp_path / "b0.npz"), np.load(tmp_path / "b1.npz")
    assert s0["spikes/3"].sum() > 0
    for k in s0.files:
        np.testing.assert_array_equal(s0[k], s1[k], err_msg=k)


def test_quantized_program_is_checked_on_read(tmp_path):
    import h5py
    import torch

    import snncc.nn as snn
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), snn.LIF(3))
    torch.save(model, tmp_path / "m.pt")
    api.export_nir(tmp_path / "m.pt", tmp_path / "q.nir", quantized=True)
    with h5py.File(tmp_path / "q.nir", "r+") as f:
        arrays = f["node"]["metadata"]["snncc.quantized"]["arrays"]
        key = next(k for k in arrays if k.endswith(".weight"))
        data = arrays[key][()]
        del arrays[key]
        arrays[key] = data[:, :2]                      # no longer fits its input
    with pytest.raises(SnnccError, match="integer program"):
        api.compile(tmp_path / "q.nir")
    api.export_nir(tmp_path / "m.pt", tmp_path / "q2.nir", quantized=True)
    with pytest.raises(SnnccError, match="would change the float model"):
        api.compile(tmp_path / "q2.nir", dt=5e-4)
