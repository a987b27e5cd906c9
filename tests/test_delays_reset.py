"""Synaptic/axonal delays and periodic resets from PyTorch (snncc.nn.DelayedLinear,
snncc.nn.CubaLIFReset): float model vs quantized network, every runner, Lava (DelayDense,
LIFReset), lava-dl netx out, and NIR (nir.Delay; a periodic reset is refused by name).
"""
import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from helpers import run_cli as cli
from snncc import api
from snncc.backends import get_runner
from snncc.backends.lava.netx import NETX_FILE, netx_problems, run_netx
from snncc.compiler import compile_model
from snncc.errors import SnnccError
from snncc.ir import FxDelayDense, FxLIFReset, serialize
from snncc.targets.loihi.quantize import netx_config
from snncc.verify import verify

lava = pytest.mark.lava


def model(delay, reset_all=False, seed=0):
    torch.manual_seed(seed)
    last = (snn.CubaLIFReset(4, reset_interval=9, beta=0.9, threshold=0.3) if reset_all
            else snn.LIF(4, beta=0.9, threshold=0.3))
    m = nn.Sequential(nn.Linear(10, 8, bias=False),
                      snn.CubaLIFReset(8, reset_interval=9, alpha=0.5, beta=0.8, threshold=0.3),
                      snn.DelayedLinear(8, 4, delay=delay), last)
    with torch.no_grad():
        m[2].weight.mul_(2.0)
    return m


def _stim(steps=30, batch=12, seed=0):
    return (np.random.default_rng(seed).random((steps, batch, 10)) < 0.4).astype(np.uint8)


def test_modules_step_as_documented():
    lif = snn.CubaLIFReset(3, reset_interval=4, reset_offset=1, alpha=0.0, beta=1.0, threshold=100.0)
    snn.reset(lif)
    with torch.no_grad():
        v = [float(lif(torch.ones(1, 3))[0, 0]) or float(lif.v[0, 0]) for _ in range(8)]
    assert v == [1.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0]    # cleared at t = 1, 5 before input
    d = snn.DelayedLinear(2, 2, delay=[[0, 2], [1, 1]])
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[1.0, 10.0], [100.0, 1000.0]]))
        snn.reset(d)
        ys = [d(torch.tensor([[1.0, 1.0]]) if t == 0 else torch.zeros(1, 2))[0].tolist()
              for t in range(4)]
    assert ys == [[1.0, 0.0], [0.0, 1100.0], [10.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("delay", [np.arange(8) % 4,                       # axonal (per input)
                                   np.random.default_rng(1).integers(0, 5, (4, 8))])
def test_float_and_quantized_agree_and_every_runner_is_the_same(delay):
    m = model(delay)
    c = compile_model(m)
    kinds = {n.name: n.kind for n in c.fixed.nodes()}
    assert kinds["1"] == FxLIFReset.kind and kinds["2"] == FxDelayDense.kind
    assert c.fixed.node("1").reset_offset == 0 + 1 + 1      # float offset + 1 + depth
    x = _stim()
    report = verify(m, c, x)
    for layer in report.layers:
        assert layer.spike_agreement > 0.99 and layer.rate_quant > 0, layer
    ref = get_runner("sim")(c.fixed, x, record_states=True)
    for runner in ("fast", "torch"):
        other = get_runner(runner)(c.fixed, x, record_states=True)
        assert all(np.array_equal(ref.v[k], other.v[k]) and np.array_equal(ref.spikes[k], other.spikes[k])
                   for k in ref.v), runner


def test_nir_carries_axonal_delays_and_refuses_what_it_cannot(tmp_path):
    axonal = model(np.arange(8) % 4)
    # the neuron reset is what NIR cannot hold: export the same network without it
    plain = nn.Sequential(axonal[0], snn.CubaLIF(8, alpha=0.5, beta=0.8, threshold=0.3),
                          axonal[2], axonal[3])
    api.export_nir(plain, tmp_path / "d.nir")
    import nir
    kinds = {type(n).__name__ for n in nir.read(tmp_path / "d.nir").nodes.values()}
    assert "Delay" in kinds
    fixed = api.compile(tmp_path / "d.nir").compiled.fixed
    (dd,) = [n for n in fixed.nodes() if isinstance(n, FxDelayDense)]
    assert np.array_equal(dd.delay, np.broadcast_to(np.arange(8) % 4, (4, 8)))
    with pytest.raises(SnnccError, match="periodic reset"):
        api.export_nir(axonal, tmp_path / "x.nir")
    per_synapse = nn.Sequential(axonal[0], plain[1], snn.DelayedLinear(8, 4, delay=np.eye(4, 8, dtype=int)),
                                snn.LIF(4))
    with pytest.raises(SnnccError, match="vary per synapse"):
        api.export_nir(per_synapse, tmp_path / "y.nir")


def test_netx_needs_one_reset_rule_and_writes_it_into_the_file(tmp_path, capsys, monkeypatch):
    assert any("some LIF layers only" in p for p in
               netx_problems(compile_model(model(2), config=netx_config()).fixed))
    c = compile_model(model(np.arange(8) % 4, reset_all=True), config=netx_config())
    assert netx_problems(c.fixed) == []
    torch.save(model(np.arange(8) % 4, reset_all=True), tmp_path / "m.pt")
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "m.pt", "--netx", "-o", tmp_path / "b")
    assert code == 0 and "reset_interval=9" in out, err
    back = api.compile(tmp_path / "b" / NETX_FILE).compiled.fixed     # the file says reset_interval
    assert {n.kind for n in back.nodes()} >= {FxLIFReset.kind, FxDelayDense.kind}
    graph = serialize.load(tmp_path / "b")
    x = _stim(16, 2, seed=3)
    a, b = get_runner("sim")(graph, x), get_runner("sim")(back, x)
    for name in ("1", "3"):
        assert np.array_equal(a.spikes[name], b.spikes[name])


@lava
def test_lava_runs_delaydense_and_lifreset_bit_exact():
    c = compile_model(model(np.random.default_rng(2).integers(0, 5, (4, 8))))
    from snncc.verify import cross_check
    layers = cross_check(c.fixed, _stim(20, 2, seed=4), "lava")
    assert all(l.spike_mismatches + l.u_mismatches + l.v_mismatches == 0 for l in layers), layers


@lava
def test_lava_dl_netx_runs_written_delays_and_resets_bit_exact():
    c = compile_model(model(np.arange(8) % 4, reset_all=True, seed=1), config=netx_config())
    x = _stim(20, 1, seed=5)
    sim = get_runner("sim")(c.fixed, x, record_states=True)
    nx = run_netx(c.fixed, x, record_states=True)
    for name in sim.v:
        assert np.any(sim.spikes[name])
        assert np.array_equal(sim.spikes[name], nx.spikes[name]) and np.array_equal(sim.v[name], nx.v[name])
        assert np.array_equal(sim.u[name], nx.u[name])
