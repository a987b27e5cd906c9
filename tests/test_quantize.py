"""The quantizer keeps every parameter inside Loihi's formats and its error small."""
import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc.targets.loihi import fixedpoint as fx
from snncc.compiler import compile_model
from snncc.targets.loihi.quantize import QuantConfig
from snncc.ir import FxDense, FxNeuron


def model(seed=0, positive=False):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(16, 12), snn.LIF(12, beta=torch.rand(12), threshold=torch.rand(12) + 0.2),
                      nn.Linear(12, 4), snn.CubaLIF(4, alpha=torch.rand(4), beta=torch.rand(4)))
    if positive:
        with torch.no_grad():
            m[0].weight.abs_()
    return m


@pytest.mark.parametrize("split", [True, False])
def test_fixed_point_parameters_fit_their_bit_widths(split):
    c = compile_model(model(), config=QuantConfig(split_sign=split))
    for d in c.fixed.of_type(FxDense):
        assert d.split_sign == split
        parts = fx.split_by_sign(d.weight) if split else (d.weight,)
        for part in parts:                                       # Lava changes nothing
            assert np.array_equal(fx.lava_effective_weights(part), part)
        assert -8 <= d.weight_exp <= 7
    for n in c.fixed.of_type(FxNeuron):
        assert n.dv.min() >= 0 and n.dv.max() <= 4095
        assert n.du.min() >= -1 and n.du.max() <= 4095
        assert n.vth.min() >= 1 and n.vth.max() <= fx.VTH_MAX
        assert n.bias_mant.min() >= -4096 and n.bias_mant.max() <= 4095
        assert ((n.vth << 6) * 4 <= fx.V_MAX + 4 * 64).all()               # headroom kept


def test_mixed_weights_are_even_and_excitatory_use_all_bits():
    mixed = compile_model(model(), config=QuantConfig(split_sign=False)).fixed.node("0").weight
    assert np.all(mixed % 2 == 0) and mixed.min() < 0
    split = compile_model(model()).fixed.node("0").weight
    assert np.any(split % 2 == 1) and split.min() < 0 and np.abs(split).max() == 255
    pos = compile_model(model(positive=True)).fixed.node("0").weight
    assert pos.min() >= 0 and np.any(pos % 2 == 1) and pos.max() == 255


def test_each_neuron_row_uses_the_full_weight_range():
    w = compile_model(model()).fixed.node("0").weight
    assert np.all(np.abs(w).max(axis=1) >= 250)


def test_quantization_errors_are_reported_and_small():
    c = compile_model(model())
    for layer in c.quant.layers:
        err = {e.name: e for e in layer.errors}
        assert err["weight"].max_rel <= 0.5 / 255 + 1e-9     # half a step of 8-bit magnitude
        assert err["threshold"].max_rel < 1e-3
        assert err["beta"].max_abs <= 0.5 / 4096 + 1e-7
    assert "synaptic_bias" in {e.name for e in c.quant.layers[1].errors}  # CUBA keeps bias in current


def test_bias_travels_on_an_axon_that_starts_with_the_data():
    c = compile_model(model())
    first, second = c.fixed.node("0"), c.fixed.node("2")
    assert first.bias is not None and first.bias_start == 0      # depth 1: data arrives at step 1
    assert second.bias is not None and second.bias_start == 1    # depth 2: data arrives at step 2
    for n in c.fixed.of_type(FxNeuron):
        assert not n.bias_mant.any()                             # no early-charging neuron bias


def test_biased_deep_layer_stays_silent_until_its_data_arrives():
    from snncc.backends.sim import simulate
    torch.manual_seed(1)
    m = nn.Sequential(nn.Linear(4, 4), snn.LIF(4, beta=0.9), nn.Linear(4, 3), snn.LIF(3, beta=0.9))
    with torch.no_grad():
        m[0].bias.fill_(0.6)
        m[2].bias.fill_(0.6)          # drives layer 2 to fire on bias alone after two steps
    r = simulate(compile_model(m).fixed, np.zeros((8, 1, 4), np.uint8), record_states=True)
    assert not r.v["3"][:2].any()     # nothing before step 2 (Lava timing: depth 2)
    assert r.v["3"][2].all()
