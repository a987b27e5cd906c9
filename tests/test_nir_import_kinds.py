"""NIR files as other tools write them: cycles, IF gains, one-value layers, Flatten(start_dim=1),
recurrent biases.  Each test is the right value of a handed case (../shared/cases/nir-*),
generalised to its kind."""
from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
import torch

from helpers import run_cli
from snncc.backends.nir import read_nir
from snncc.compiler import compile_graph
from snncc.passes import lower_neurons
from snncc.passes.float_sim import simulate_float

warnings.filterwarnings("ignore", category=DeprecationWarning)


def _cuba(n, dt, ts=2.5e-4, tm=5e-4):
    ts, tm = np.full(n, ts), np.full(n, tm)
    return nir.CubaLIF(tau_syn=ts, tau_mem=tm, r=tm / dt, w_in=ts / dt, v_leak=np.zeros(n),
                       v_threshold=np.ones(n), v_reset=np.zeros(n))


def _rnn(tmp_path, feedback_from_later_layer=False):
    """input -> fc1 -> lif1 -> fc2 -> lif2, with a cycle lif1 -> w_rec -> lif1 (or, with
    ``feedback_from_later_layer``, lif2 -> w_back -> lif1), no delays marked."""
    rng = np.random.default_rng(0)
    dt, n_in, n_h, n_out = 1e-4, 3, 4, 2
    w1, wr, w2 = (rng.normal(0, 1.5, (n_h, n_in)), rng.normal(0, 0.8, (n_h, n_h)),
                  rng.normal(0, 1.5, (n_out, n_h)))
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc1": nir.Affine(weight=w1, bias=np.zeros(n_h)), "lif1": _cuba(n_h, dt),
             "fc2": nir.Affine(weight=w2, bias=np.zeros(n_out)), "lif2": _cuba(n_out, dt),
             "output": nir.Output(output_type={"output": np.array([n_out])})}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"),
             ("lif2", "output")]
    if feedback_from_later_layer:
        wr = rng.normal(0, 0.8, (n_h, n_out))
        nodes["w_back"] = nir.Linear(weight=wr)
        edges += [("lif2", "w_back"), ("w_back", "lif1")]
    else:
        nodes["w_rec"] = nir.Linear(weight=wr)
        edges += [("lif1", "w_rec"), ("w_rec", "lif1")]
    nir.write(tmp_path / "rnn.nir", nir.NIRGraph(nodes=nodes, edges=edges))
    x = (rng.random((40, 4, n_in)) < 0.5).astype(np.float32)      # (T, B, n)
    # the reference: only the cycle's edge is one step late
    alpha, beta = 1 - dt / 2.5e-4, 1 - dt / 5e-4
    st = {k: np.zeros((4, n)) for k, n in (("i1", n_h), ("v1", n_h), ("s1", n_h),
                                             ("i2", n_out), ("v2", n_out), ("s2", n_out))}
    ref1, ref2 = [], []
    for t in range(40):
        back = st["s2"] if feedback_from_later_layer else st["s1"]
        st["i1"] = alpha * st["i1"] + x[t] @ w1.T + back @ wr.T
        st["v1"] = beta * st["v1"] + st["i1"]
        st["s1"] = (st["v1"] > 1).astype(float)
        st["v1"][st["s1"] > 0] = 0
        st["i2"] = alpha * st["i2"] + st["s1"] @ w2.T
        st["v2"] = beta * st["v2"] + st["i2"]
        st["s2"] = (st["v2"] > 1).astype(float)
        st["v2"][st["s2"] > 0] = 0
        ref1.append(st["s1"].copy())
        ref2.append(st["s2"].copy())
    return tmp_path / "rnn.nir", x, np.stack(ref1), np.stack(ref2)


@pytest.mark.parametrize("later", [False, True], ids=["self-loop", "feedback-from-layer-2"])
def test_only_the_edge_closing_a_cycle_is_delayed(tmp_path, later):
    path, x, ref1, ref2 = _rnn(tmp_path, later)
    g = read_nir(path)                          # dt = 1e-4 implied by r = tau/dt
    assert g.meta["nir_recurrent_inferred"] == [["w_back" if later else "w_rec", "lif1"]]
    out = simulate_float(lower_neurons(g)[0], x)
    assert ref2.sum() > 10
    np.testing.assert_array_equal(out["lif1"], ref1)
    np.testing.assert_array_equal(out["lif2"], ref2)


def test_cli_verify_runs_on_a_recurrent_nir_file(tmp_path, monkeypatch):
    path, x, _, _ = _rnn(tmp_path)
    np.savez(tmp_path / "x.npz", x=x.swapaxes(0, 1))
    code, out, err = run_cli(None, monkeypatch, "verify", path, "--data", tmp_path / "x.npz")
    assert code == 0


def _snntorch_recurrent(kind: str, reset: str):
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(12, 20)
            kw = dict(beta=torch.rand(20) * 0.5 + 0.4, threshold=torch.ones(20),
                      linear_features=20, reset_mechanism=reset, init_hidden=True)
            self.lif1 = (snn.RLeaky(**kw) if kind == "rleaky" else
                         snn.RSynaptic(alpha=torch.rand(20) * 0.5 + 0.3, **kw))
            self.fc2 = torch.nn.Linear(20, 5)
            self.lif2 = snn.Leaky(beta=torch.full((5,), 0.8), threshold=torch.ones(5),
                                  reset_mechanism=reset, init_hidden=True, output=True)
            with torch.no_grad():
                self.fc1.weight.mul_(3)
                self.fc2.weight.mul_(3)

        def forward(self, x):
            return self.lif2(self.fc2(self.lif1(self.fc1(x))))
    return Net()


def _snntorch_spikes(net, x):
    import snntorch as snn
    for m in net.modules():
        if isinstance(m, snn.SpikingNeuron):
            m.reset_mem()
    with torch.no_grad():
        outs = [net(torch.from_numpy(x[t])) for t in range(len(x))]
    return np.stack([(o[0] if isinstance(o, tuple) else o).numpy() for o in outs]).astype(bool)


@pytest.mark.parametrize("kind", ["rleaky", "rsynaptic"])
def test_snntorch_recurrent_exports_reproduce_snntorch(tmp_path, kind):
    """snnTorch's own RLeaky/RSynaptic export (all-to-all recurrence with a bias) read as
    snnTorch means it: the recurrent bias from step 0, its subtract reset one step late."""
    from snntorch.export_nir import export_to_nir
    net = _snntorch_recurrent(kind, "subtract")
    nir.write(tmp_path / "r.nir", export_to_nir(net, torch.zeros(12)))
    x = (np.random.default_rng(0).random((50, 8, 12)) < 0.3).astype(np.float32)
    g = read_nir(tmp_path / "r.nir", reset="subtract")
    assert g.meta["nir_import"]["producer"] == "snnTorch"
    assert g.meta["nir_import"]["dt"] == 1e-4
    theirs = _snntorch_spikes(net, x)
    assert theirs.sum() > 50
    np.testing.assert_array_equal(simulate_float(lower_neurons(g)[0], x)["lif2"], theirs)
    compile_graph(g)                           # and it compiles for Loihi


def _if_file(tmp_path):
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([1])}),
        "fc": nir.Linear(weight=np.array([[0.0625]])),
        "if": nir.IF(r=np.array([1.0]), v_threshold=np.array([1.0]), v_reset=np.array([0.0])),
        "output": nir.Output(output_type={"output": np.array([1])})},
        edges=[("input", "fc"), ("fc", "if"), ("if", "output")])
    nir.write(tmp_path / "if.nir", g)
    np.savez(tmp_path / "x.npz", x=np.ones((1, 40, 1), np.float32))
    return tmp_path / "if.nir"


@pytest.mark.parametrize("dt", ["1e-3", "1e-4", "1"])
def test_if_with_unit_r_integrates_one_input_per_step_at_any_dt(tmp_path, monkeypatch, dt):
    path = _if_file(tmp_path)
    assert run_cli(None, monkeypatch, "compile", path, "--dt", dt, "-o", tmp_path / "b")[0] == 0
    assert run_cli(None, monkeypatch, "run", tmp_path / "b", "--input", tmp_path / "x.npz",
                   "-o", tmp_path / "o.npz")[0] == 0
    spikes = np.load(tmp_path / "o.npz")["spikes/if"][0, :, 0]
    assert np.nonzero(spikes)[0].tolist() == [17, 34]   # 0.0625 per step, one step of synapse


def test_if_convention_can_be_forced(tmp_path):
    path = _if_file(tmp_path)
    g = read_nir(path, dt=1e-3, convention="unit-pulse")
    assert g.node("fc").weight.ravel().tolist() == [0.0625]
    g = read_nir(path, dt=1e-3, convention="euler")          # r*dt per step
    np.testing.assert_allclose(g.node("fc").weight.ravel(), [0.0625e-3])
    assert g.meta["nir_conventions"] == {"if": "euler"}


def test_one_value_layers_broadcast_and_reproduce_snntorch(tmp_path):
    snn = pytest.importorskip("snntorch")
    import nirtorch
    from snntorch import utils
    from snntorch.export_nir import _extract_snntorch_module
    torch.manual_seed(0)
    heav = snn.surrogate.Heaviside.apply
    net = torch.nn.Sequential(
        torch.nn.Linear(16, 8), snn.Leaky(beta=0.9, init_hidden=True, spike_grad=heav,
                                          reset_mechanism="zero"),
        torch.nn.Linear(8, 4), snn.Leaky(beta=0.9, init_hidden=True, output=True,
                                         spike_grad=heav, reset_mechanism="zero"))
    with torch.no_grad():
        net[0].weight.mul_(3)
        net[2].weight.mul_(3)
    g = nirtorch.extract_nir_graph(net, _extract_snntorch_module, torch.zeros(1, 16),
                                   model_name="snntorch")
    for n in g.nodes.values():                 # snnTorch writes 0-d values: one per layer
        for a, v in list(vars(n).items()):
            if isinstance(v, torch.Tensor):
                v = v.detach().numpy()
            if isinstance(v, (np.ndarray, np.generic)) and a not in ("input_type", "output_type"):
                setattr(n, a, np.asarray(v).reshape(1) if np.ndim(v) == 0 else np.asarray(v))
    nir.write(tmp_path / "s.nir", g)
    x = (np.random.default_rng(0).random((30, 4, 16)) < 0.4).astype(np.float32)
    utils.reset(net)
    with torch.no_grad():
        theirs = np.stack([net(torch.from_numpy(x[t]))[0].numpy() for t in range(30)])
    graph = read_nir(tmp_path / "s.nir", dt=1e-4)
    assert graph.node("1").shape == (8,)
    assert any("one-value" in n for n in graph.meta["nir_import"]["notes"])
    ours = simulate_float(lower_neurons(graph)[0], x)["3"]
    assert theirs.sum() > 10
    np.testing.assert_array_equal(ours, theirs.astype(bool))


def test_flatten_start_dim_1_through_every_verb(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    dt = 1e-3
    tau = dt / 0.5

    def lif(shape):
        return nir.LIF(tau=np.full(shape, tau), r=np.full(shape, tau / dt),
                       v_leak=np.zeros(shape), v_threshold=np.ones(shape),
                       v_reset=np.zeros(shape))
    nodes = {"input": nir.Input(input_type={"input": np.array([2, 4, 4])}),
             "flat": nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=1,
                                 end_dim=-1),
             "fc": nir.Linear(weight=rng.normal(0, 1, (3, 32))), "lif": lif((3,)),
             "output": nir.Output(output_type={"output": np.array([3])})}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "flat"), ("flat", "fc"), ("fc", "lif"),
                                         ("lif", "output")], type_check=False)
    nir.write(tmp_path / "m.nir", g)
    np.savez(tmp_path / "x.npz", x=(rng.random((2, 10, 2, 4, 4)) < 0.4).astype(np.float32))
    for args in (("compile", "-o", tmp_path / "b"), ("verify", "--data", tmp_path / "x.npz"),
                 ("inspect",)):
        assert run_cli(None, monkeypatch, args[0], tmp_path / "m.nir", *args[1:])[0] == 0, args


def test_recurrent_affine_bias_acts_from_step_0_and_reaches_the_chip(tmp_path, monkeypatch):
    n_in, n = 2, 3
    cuba = nir.CubaLIF(tau_syn=np.full(n, 2e-4), tau_mem=np.full(n, 1e-3), r=np.full(n, 10.0),
                       v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                       w_in=np.full(n, 2.0))
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([n_in])),
        "fc1": nir.Linear(weight=np.full((n, n_in), 0.01)), "lif1": cuba,
        "w_rec": nir.Affine(weight=np.full((n, n), -0.01), bias=np.full(n, 0.5)),
        "output": nir.Output(output_type=np.array([n]))},
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "w_rec"), ("w_rec", "lif1"),
               ("lif1", "output")])
    nir.write(tmp_path / "rb.nir", g)
    graph = read_nir(tmp_path / "rb.nir")
    # reference: i = alpha*i + W1 x + Wr s[t-1] + b, the bias from step 0
    alpha, beta = 1 - 1e-4 / 2e-4, 1 - 1e-4 / 1e-3
    i = v = s = np.zeros(n)
    ref = []
    for _ in range(100):
        i = alpha * i + s @ np.full((n, n), -0.01).T + 0.5
        v = beta * v + i
        s = (v > 1).astype(float)
        v = np.where(s > 0, 0.0, v)
        ref.append(s)
    fl = simulate_float(lower_neurons(graph)[0], np.zeros((100, 1, n_in)))["lif1"][:, 0]
    np.testing.assert_array_equal(fl, np.stack(ref))
    assert compile_graph(graph).fixed is not None
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 100, n_in), np.float32))
    assert run_cli(None, monkeypatch, "verify", tmp_path / "rb.nir", "--data",
                   tmp_path / "x.npz", "--json", tmp_path / "r.json")[0] == 0
    import json
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["output_agreement"] > 0.9
