"""NIR export/import: files nir.read accepts, exact round trips, conventions, clear errors."""
from __future__ import annotations

import dataclasses

import nir
import numpy as np
import pytest
import torch

import snncc.nn as snn
from snncc.backends.nir import from_nir, read_nir, to_nir, write_nir
from snncc.compiler import compile_graph
from snncc.errors import SnnccError
from snncc.frontend import trace
from snncc.ir import Affine, CubaLIF, Graph, Input, Output
from snncc.passes import lower_neurons
from snncc.passes.float_sim import simulate_float

DT = 1e-3


def _lowered(model, n_in):
    return lower_neurons(trace(model, (n_in,), DT))[0]


def _models():
    torch.manual_seed(0)
    lif = torch.nn.Sequential(torch.nn.Linear(12, 20), snn.LIF(20, beta=0.9),
                              torch.nn.Linear(20, 5), snn.LIF(5, reset="subtract"))
    cuba = torch.nn.Sequential(torch.nn.Linear(12, 16), snn.CubaLIF(16, alpha=0.7, beta=0.85),
                               torch.nn.Linear(16, 4, bias=False), snn.CubaLIF(4))
    for m in (lif, cuba):   # per-neuron learned values, not defaults
        for mod in m.modules():
            for name, p in mod.named_parameters(recurse=False):
                if name in ("beta", "alpha"):
                    p.data = torch.rand_like(p) * 0.9 + 0.05
                elif name == "threshold":
                    p.data = torch.rand_like(p) + 0.5
    return {"lif": lif, "cuba": cuba}


def _assert_graphs_equal(a: Graph, b: Graph) -> None:
    assert a.order() == b.order()
    assert sorted(a.edges()) == sorted(b.edges())
    for name in a.order():
        na, nb = a.node(name), b.node(name)
        assert type(na) is type(nb), name
        for f in dataclasses.fields(na):
            va, vb = getattr(na, f.name), getattr(nb, f.name)
            if isinstance(va, np.ndarray):
                assert va.dtype == vb.dtype, (name, f.name)
                np.testing.assert_array_equal(va, vb, err_msg=f"{name}.{f.name}")
            else:
                assert (tuple(va) if isinstance(va, (list, tuple)) else va) == \
                       (tuple(vb) if isinstance(vb, (list, tuple)) else vb), (name, f.name)


@pytest.mark.parametrize("kind", ["lif", "cuba"])
def test_round_trip_through_file_is_exact(kind, tmp_path):
    graph = _lowered(_models()[kind], 12)
    path = write_nir(graph, tmp_path / "m.nir")
    back = read_nir(path)
    _assert_graphs_equal(graph, back)
    assert back.meta["dt"] == DT
    # the same parameters compile to the very same fixed-point network
    fa, fb = compile_graph(graph).fixed, compile_graph(back).fixed
    for name in fa.order():
        for k, v in fa.node(name).arrays().items():
            np.testing.assert_array_equal(v, fb.node(name).arrays()[k])


def test_file_is_plain_nir_with_conventions_in_metadata(tmp_path):
    graph = _lowered(_models()["lif"], 12)
    path = write_nir(graph, tmp_path / "m.nir")
    g = nir.read(path)      # nir's own reader, type checks on
    kinds = {name: type(n).__name__ for name, n in g.nodes.items()}
    assert kinds["input"] == "Input" and kinds["output"] == "Output"
    assert sorted(set(kinds.values())) == ["Affine", "Input", "LIF", "Output"]
    assert float(g.metadata["dt"]) == DT
    assert "euler" in str(g.metadata["integrator"])
    lif = [n for n in g.nodes.values() if isinstance(n, nir.LIF)]
    resets = sorted(str(n.metadata["reset"]) for n in lif)
    assert resets == ["subtract", "zero"]
    for n in lif:          # full-shape arrays, Euler convention r = tau/dt
        assert n.tau.shape == n.v_threshold.shape == n.r.shape
        np.testing.assert_allclose(n.r, n.tau / DT)


def test_imported_graph_simulates_like_the_original():
    graph = _lowered(_models()["cuba"], 12)
    back = from_nir(to_nir(graph))
    x = (np.random.default_rng(1).random((30, 4, 12)) < 0.3).astype(np.float32)
    a, b = simulate_float(graph, x), simulate_float(back, x)
    assert sum(v.sum() for v in a.values()) > 0
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def _tiny_graph(**neuron):
    g = Graph({"dt": DT})
    g.add(Input("input", shape=(3,)))
    g.add(Affine("fc", weight=np.array([[1.0, 0.5, -0.25], [0.3, 0.2, 0.1]], np.float32)), ["input"])
    fields = dict(alpha=np.zeros(2, np.float32), beta=np.full(2, 0.5, np.float32),
                  threshold=np.ones(2, np.float32), bias=np.zeros(2, np.float32))
    fields.update(neuron)
    g.add(CubaLIF("lif", shape=(2,), **fields), ["fc"])
    g.add(Output("output"), ["lif"])
    return g


def test_generalised_resets_and_if_round_trip():
    custom = _tiny_graph(reset="custom", reset_mult=np.array([0.5, 0.25], np.float32),
                         reset_sub=np.array([0.1, 0.0], np.float32), reset_delayed=True, floor=0.0)
    _assert_graphs_equal(custom, from_nir(to_nir(custom)))
    if_graph = _tiny_graph(beta=np.ones(2, np.float32))
    n = to_nir(if_graph)
    assert isinstance(n.nodes["lif"], nir.IF)
    _assert_graphs_equal(if_graph, from_nir(n))


def test_foreign_unit_pulse_convention_is_folded_into_weights():
    """Norse/Sinabs style r = 1: each step adds dt/tau * I, which import folds into weights."""
    tau = np.array([0.01, 0.02])
    w = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                            "fc": nir.Linear(weight=w),
                            "lif": nir.LIF(tau=tau, r=np.ones(2), v_leak=np.zeros(2),
                                           v_threshold=np.full(2, 0.5), v_reset=np.zeros(2)),
                            "output": nir.Output(output_type={"output": np.array([2])})},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    graph = from_nir(g, dt=DT)
    lif = graph.node("lif")
    np.testing.assert_allclose(lif.beta, 1 - DT / tau, rtol=1e-6)
    np.testing.assert_allclose(graph.node("fc").weight, w * (DT / tau)[:, None], rtol=1e-6)


def test_dt_comes_from_the_gains_or_is_a_clear_error():
    n = to_nir(_tiny_graph())
    n.metadata = {}                     # r = tau/dt still says dt
    graph = from_nir(n)
    assert graph.meta["dt"] == DT and graph.meta["nir_import"]["dt_source"] == "the gains r = tau/dt"
    n.nodes["lif"].r = np.ones(2)      # the physical ODE: no step in the file at all
    with pytest.raises(SnnccError, match="records no time step"):
        from_nir(n)
    with pytest.raises(SnnccError, match="not a positive time step"):
        from_nir(n, dt=-1)


def test_unsupported_node_and_delay_beyond_the_chip_are_named():
    def graph(node, shape=(2,)):
        return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array(shape)}),
                                   "x": node,
                                   "output": nir.Output(output_type={"output": np.array(shape)})},
                            edges=[("input", "x"), ("x", "output")], type_check=False)
    with pytest.raises(SnnccError, match="'x': a delay of 1000 steps .* up to 62 steps"):
        from_nir(graph(nir.Delay(delay=np.ones(2))), dt=DT)
    with pytest.raises(SnnccError, match="'x' is a .*snncc does not import"):
        from_nir(graph(nir.Conv1d(input_shape=2, weight=np.ones((2, 2, 1)), stride=1,
                                  padding=0, dilation=1, groups=1, bias=np.zeros(2)), (2, 2)), dt=DT)


def test_leaky_integrator_nodes_import_as_readouts():
    """LI / CubaLI / I have no threshold: non-spiking readouts (snncc.ir.readout)."""
    for node in (nir.LI(tau=np.full(2, 0.01), r=np.full(2, 10.0), v_leak=np.zeros(2)),
                 nir.CubaLI(tau_syn=np.full(2, 0.005), tau_mem=np.full(2, 0.01),
                            r=np.full(2, 10.0), v_leak=np.zeros(2)),
                 nir.I(r=np.full(2, 1 / DT))):
        n = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                                "w": nir.Linear(weight=np.eye(2)), "li": node,
                                "output": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("input", "w"), ("w", "li"), ("li", "output")])
        assert from_nir(n, dt=DT).node("li").spiking is False


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(SnnccError, match="does not exist"):
        read_nir(tmp_path / "missing.nir")
    path = write_nir(_tiny_graph(), tmp_path / "ok.nir")
    data = path.read_bytes()
    for i, blob in enumerate((data[: len(data) // 2], b"not hdf5 at all", b"")):
        bad = tmp_path / f"bad{i}.nir"
        bad.write_bytes(blob)
        with pytest.raises(SnnccError, match="cannot read NIR file"):
            read_nir(bad)


def test_inexpressible_graph_fails_and_writes_nothing(tmp_path):
    g = _tiny_graph(beta=np.ones(2, np.float32), alpha=np.full(2, 0.5, np.float32),
                    bias=np.full(2, 0.1, np.float32))
    with pytest.raises(SnnccError, match="beta = 1"):
        write_nir(g, tmp_path / "x.nir")
    assert list(tmp_path.iterdir()) == []


def test_cli_export_nir(tmp_path, monkeypatch, capsys):
    from helpers import run_cli

    def cli(*args):
        return run_cli(None, monkeypatch, *args)[0]

    model = _models()["cuba"]
    torch.save(model, tmp_path / "model.pt")
    assert cli("export-nir", tmp_path / "model.pt", "-o", tmp_path / "m.nir", "--dt", 0.002) == 0
    back = read_nir(tmp_path / "m.nir")
    assert back.meta["dt"] == 0.002
    expected = lower_neurons(trace(model, (12,), 0.002))[0]
    _assert_graphs_equal(expected, back)

    torch.save(model.state_dict(), tmp_path / "state.pt")
    assert cli("export-nir", tmp_path / "state.pt", "-o", tmp_path / "s.nir") == 2
    assert "state_dict" in capsys.readouterr().err
    assert not (tmp_path / "s.nir").exists()
