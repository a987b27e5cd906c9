"""Bit-exactness against real Lava (lava-nc 0.10.0, Python 3.10 env, fixed_pt models).

Lava is the oracle: these tests run the generated lava_network.py in the Lava env and
require zero mismatches in spikes, u and v against the simulator, and check the
hand-computed traces directly on Lava's own stock LIF.
"""
import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from helpers import fx_chain, spikes_at
from snncc.targets.loihi import fixedpoint as fx
from snncc.backends import get_runner
from snncc.backends.lava import codegen
from snncc.compiler import compile_model
from snncc.ir import FxNeuron
from snncc.targets.loihi.quantize import QuantConfig
from snncc.verify import cross_check

pytestmark = pytest.mark.lava


def lava(graph, x, neuron="auto"):
    return get_runner("lava")(graph, x, record_states=True, neuron=neuron)


def assert_bit_exact(graph, x, neuron="auto"):
    sim = get_runner("sim")(graph, x, record_states=True)
    lv = lava(graph, x, neuron)
    for name in sim.v:
        assert np.array_equal(sim.spikes[name], lv.spikes[name]), f"spikes differ in {name}"
        assert np.array_equal(sim.u[name], lv.u[name]), f"u differs in {name}"
        assert np.array_equal(sim.v[name], lv.v[name]), f"v differs in {name}"
    return sim


# --- hand-computed traces, checked on Lava's stock LIF ---------------------------------

def test_lava_rounds_voltage_decay_toward_zero():
    g = fx_chain([np.zeros((1, 1))], [dict(dv=1024, bias_mant=-5, vth=100)])
    r = lava(g, np.zeros((4, 1, 1), np.uint8), "lif-arrays")
    assert r.v["n0"][:, 0, 0].tolist() == [-5, -8, -11, -13]


def test_lava_current_decay_and_dense_delay():
    g = fx_chain([np.array([[10]])], [dict(du=2047, dv=4095, vth=1000)])
    r = lava(g, spikes_at(5, [0]), "lif-arrays")
    assert r.u["n0"][:, 0, 0].tolist() == [0, 640, 320, 160, 80]


@pytest.mark.parametrize("weight, spikes", [(10, False), (11, True)])
def test_lava_threshold_is_strict(weight, spikes):
    r = lava(fx_chain([np.array([[weight]])], [dict(vth=10, dv=4095)]), spikes_at(3, [0]), "lif-arrays")
    assert bool(r.spikes["n0"][1, 0, 0]) is spikes


def test_lava_current_wraps_once():
    g = fx_chain([np.array([[254]])], [dict(du=-1, dv=0, vth=fx.VTH_MAX)], weight_exp=3)
    r = lava(g, np.ones((66, 1, 1), np.uint8), "lif-arrays")
    assert r.u["n0"][64, 0, 0] == 64 * 130048
    assert r.u["n0"][65, 0, 0] == 65 * 130048 - 2 ** 24


def test_lava_negative_weight_exponent_floors():
    g = fx_chain([np.array([[-3]])], [dict(vth=100, dv=4095)], weight_exp=-1)
    assert lava(g, spikes_at(2, [0]), "lif-arrays").u["n0"][1, 0, 0] == -128


def test_lava_mixed_sign_dense_drops_one_lsb_as_snncc_models_it():
    w = np.array([[39, -3]])                       # Lava: 38, -4 (mixed mode)
    g = fx_chain([w], [dict(vth=1000, dv=4095)])
    r = lava(g, spikes_at(2, [0], n=2), "lif-arrays")
    assert r.u["n0"][1, 0, 0] == (38 - 4) * 64


# --- the simulator vs Lava on many networks: zero mismatches ---------------------------

def _stim(steps, batch, n, rate, seed=0):
    return (np.random.default_rng(seed).random((steps, batch, n)) < rate).astype(np.uint8)


def test_extreme_activation_beyond_16_bits_and_saturation():
    # 200 inputs all at 255 with exponent 2: a = 204000 (> int16), u wraps, v saturates
    g = fx_chain([np.full((3, 200), 255)], [dict(du=[4095, 2000, -1], dv=[0, 100, 4095],
                                                 vth=[fx.VTH_MAX, 5000, 100])], weight_exp=2)
    sim = assert_bit_exact(g, _stim(12, 2, 200, 0.9), "lif-arrays")
    assert np.abs(sim.v["n0"]).max() == fx.V_MAX


@pytest.mark.parametrize("neuron", ["auto", "lif-arrays", "fx"])
def test_generalised_resets_and_floor(neuron):
    layers = [dict(vth=[10, 20, 30], dv=[100, 2000, 4000], reset="subtract"),
              dict(vth=[15, 25], dv=[0, 500], reset="custom", reset_mult=[2048, 1000],
                   reset_sub=[100, 700], reset_delayed=True, floor=0)]
    g = fx_chain([np.array([[40, -10], [30, 20], [-5, 60]]), np.array([[50, -30, 20], [-10, 40, 40]])],
                 layers)
    # the generalised neurons always become FxNeuron processes, whatever the policy
    assert_bit_exact(g, _stim(20, 3, 2, 0.5), neuron)


def lif_net(seed=0, cuba=False, reset="zero", uniform=False, n=(24, 16, 6)):
    torch.manual_seed(seed)
    def neuron(k):
        if uniform:
            return snn.LIF(k, beta=0.8, threshold=0.7, reset=reset)
        if cuba:
            return snn.CubaLIF(k, alpha=torch.rand(k), beta=torch.rand(k),
                               threshold=torch.rand(k) * 0.5 + 0.3, reset=reset)
        return snn.LIF(k, beta=torch.rand(k), threshold=torch.rand(k) * 0.5 + 0.3, reset=reset)
    m = nn.Sequential(nn.Linear(n[0], n[1]), neuron(n[1]), nn.Linear(n[1], n[2]), neuron(n[2]))
    with torch.no_grad():
        m[0].weight.mul_(2.0)
    return m


NETS = {
    "lif per-neuron, split-sign": (lambda: lif_net(0), {}),
    "lif per-neuron, one mixed Dense": (lambda: lif_net(1), dict(split_sign=False)),
    "lif uniform (stock LIF scalars)": (lambda: lif_net(2, uniform=True), dict(scale="layer")),
    "cuba per-neuron, synaptic bias": (lambda: lif_net(3, cuba=True), {}),
    "lif subtract reset": (lambda: lif_net(4, reset="subtract"), {}),
    "cuba subtract reset": (lambda: lif_net(5, cuba=True, reset="subtract"), {}),
}


@pytest.mark.parametrize("net", NETS)
def test_compiled_networks_match_lava_bit_for_bit(net):
    make, cfg = NETS[net]
    c = compile_model(make(), config=QuantConfig(**cfg))
    x = _stim(14, 3, 24, 0.4, seed=len(net))
    policies = ["auto"] + (["lif-arrays"] if all(n.is_stock_lif for n in c.fixed.of_type(FxNeuron)) else [])
    for policy in policies:
        sim = assert_bit_exact(c.fixed, x, policy)
    assert sim.spikes["3"].any() and sim.spikes["1"].any()     # the check saw real activity


def test_uniform_layer_is_emitted_as_stock_lif_and_per_neuron_as_fxneuron():
    uniform = compile_model(lif_net(2, uniform=True), config=QuantConfig(scale="layer")).fixed
    per_neuron = compile_model(lif_net(0)).fixed
    assert "LIF(shape=(16,), du=4095, dv=" in codegen.generate(uniform)
    assert "FxNeuron(" not in codegen.generate(uniform)
    assert "FxNeuron(shape=(16,)" in codegen.generate(per_neuron)
    assert "FxNeuron(" not in codegen.generate(per_neuron, "lif-arrays")


def test_cross_check_reports_zero_mismatches_per_step():
    c = compile_model(lif_net(0))
    layers = cross_check(c.fixed, _stim(10, 2, 24, 0.4), "lava")
    assert [l.name for l in layers] == ["1", "3"]
    for l in layers:
        assert l.spike_mismatches == l.u_mismatches == l.v_mismatches == 0
        assert len(l.mismatches_per_step) == 10 and not any(l.mismatches_per_step)
        assert l.first_mismatch is None
