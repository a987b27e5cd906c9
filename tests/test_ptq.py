"""Post-training quantization that acts on what attribution finds: drift-minimising per-neuron
scales, bias correction, precise biases, decays chosen with thresholds, recipes on data."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc.compiler import compile_model
from snncc.report.attribution import twins_of
from snncc.report.runs import run_quantized
from snncc.passes.float_sim import simulate_float
from snncc.targets.loihi.calibrate import calibrate
from snncc.targets.loihi.partial import CLASSES, run_partial
from snncc.targets.loihi.ptq import _window_gain, dc_gain
from snncc.targets.loihi.quantize import QuantConfig
from snncc.verify import verify

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deep_models as dm  # noqa: E402
from fidelity_helpers import mlp  # noqa: E402


def _mlp(neuron):
    return mlp(neuron, n_in=12, hidden=10, n_out=5, bias=0.2)


CONFIGS = {
    "drift+bc": dict(scale_search="drift", bias_correction=True),
    "precise": dict(bias="precise", scale_search="drift"),
    "dc both": dict(match_dc_gain="both", drift_window=40),
    "everything": dict(bias="precise", weight_precision="extended", scale_search="drift",
                       bias_correction=True, match_dc_gain="current"),
}
NEURONS = {"lif": lambda n: snn.LIF(n, beta=torch.rand(n) * 0.3 + 0.65),
           "cuba": lambda n: snn.CubaLIF(n, alpha=torch.rand(n) * 0.3 + 0.69, beta=0.9)}


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("config", CONFIGS)
def test_every_tool_keeps_the_twins_exact_at_both_ends(neuron, config):
    """Corrections are deviations from the float model: with every class float the network
    is still the float model, with every class quantized still the simulator."""
    m = _mlp(NEURONS[neuron])
    x = dm.spikes(20, 8, (12,), rate=0.4, seed=1)
    rates = {"input": [0.4] * 12}
    c = compile_model(m, config=QuantConfig(input_rates=rates, **CONFIGS[config]))
    fixed, twins = twins_of(c)
    quant = run_quantized(c.fixed, x).spikes
    part = run_partial(fixed, twins, {}, x)
    assert all(np.array_equal(quant[n], part[n]) for n in quant)
    floats = run_partial(fixed, twins, {n: CLASSES for n in quant}, x)
    ref = simulate_float(c.lowered, x)
    assert all(np.mean(floats[n] == ref[n]) >= 0.999 for n in quant)


def test_scale_search_stays_under_the_rule_and_lowers_the_drift():
    m = _mlp(NEURONS["lif"])
    default = compile_model(m)
    searched = compile_model(m, config=QuantConfig(scale_search="drift"))
    for name, s in searched.quant.scales.items():
        d = default.quant.scales[name]
        assert np.all(s <= d * (1 + 1e-12)) and np.all(s >= d / 2 * (1 - 1e-12))
    # expected coherent drift per step (prior rates): smaller or equal for every neuron
    w, fixed_d, fixed_s = m[0].weight.detach().double().numpy(), default.fixed, searched.fixed
    def drift(c, fixed):
        s = c.quant.scales["1"]
        eff = fixed.node("0").weight * 2.0 ** (fixed.node("0").weight_exp + 6) / s[:, None]
        return np.abs((eff - w).sum(axis=1))
    assert np.mean(drift(searched, fixed_s)) < np.mean(drift(default, fixed_d))


def test_bias_correction_removes_the_mean_weight_drift():
    m = _mlp(NEURONS["lif"])
    rates = {"input": list(np.linspace(0.05, 0.6, 12))}
    c = compile_model(m, config=QuantConfig(bias_correction=True, input_rates=rates,
                                            weight_precision="single"))
    plain = compile_model(m, config=QuantConfig(weight_precision="single"))
    r = np.asarray(rates["input"])
    s = c.quant.scales["1"]

    def mean_drift(cc):
        d = cc.fixed.node("0")
        w_eff = d.weight * 2.0 ** (d.weight_exp + 6) / s[:, None]
        bias = d.bias * 2.0 ** (d.bias_exp + 6) / s
        return (w_eff @ r + bias) - (m[0].weight.detach().double().numpy() @ r
                                     + m[0].bias.detach().double().numpy())
    assert np.abs(mean_drift(c)).mean() < 0.5 * np.abs(mean_drift(plain)).mean()


def test_window_gain_and_dc_factors():
    assert _window_gain(np.array([1.0]), 10)[0] == 5.0
    assert _window_gain(np.array([0.5]), 2)[0] == pytest.approx(1.0)
    neuron = snn.CubaLIF(3, alpha=torch.tensor([0.0, 0.5, 0.999]), beta=0.9).to_ir("n").lower().neuron
    du = np.round(4096 * (1 - neuron.alpha.astype(np.float64))) - 1
    dv = np.round(4096 * (1 - neuron.beta.astype(np.float64)))
    g_thr, g_bias = dc_gain(neuron, du, dv, "current", window=1e6)
    assert g_thr[0] == 1.0 and g_thr[1] == pytest.approx(1.0)          # exact decays
    # alpha 0.999 -> du = 3: (1 - alpha_q) = 4/4096; the DC gain ratio is 0.001 / (4/4096)
    assert 1.0 / g_thr[2] == pytest.approx(0.001 / (4 / 4096), rel=1e-3)
    assert np.array_equal(g_thr, g_bias)
    assert np.all(dc_gain(neuron, du, dv, "none")[0] == 1.0)


def slow_cuba():
    """CUBA with alpha 0.99..0.999 and a constant drive: 12-bit decays shift the spike train."""
    m = nn.Sequential(nn.Linear(4, 16), snn.CubaLIF(16, alpha=torch.linspace(0.99, 0.999, 16),
                                                    beta=0.9, threshold=1.0))
    with torch.no_grad():
        m[0].weight.zero_()
        m[0].bias.copy_(torch.linspace(0.0003, 0.0015, 16))
    return m.eval()


def test_calibration_matches_decays_with_thresholds_for_a_slow_current():
    m = slow_cuba()
    x = np.zeros((300, 4, 4), np.uint8)
    c, cal = calibrate(m, x, ratios=(1.0,))
    default = verify(m, compile_model(m), x).output_agreement
    tuned = verify(m, c, x).output_agreement
    chosen = next(e["recipe"] for e in cal.extra["recipes"] if e["chosen"])
    assert default < 0.96 and tuned >= 0.99 and "dc-" in chosen


def test_precise_bias_carries_a_cuba_axon_residual_on_the_neuron():
    m = _mlp(NEURONS["cuba"])
    c = compile_model(m, config=QuantConfig(bias="precise"))
    n1 = c.fixed.node("1")
    assert c.fixed.node("0").bias is not None and np.any(n1.bias_mant)
    assert n1.bias_start == 1 and not n1.is_stock_lif
    x = dm.spikes(40, 32, (12,), rate=0.3, seed=4)
    assert verify(m, c, x).output_agreement >= verify(m, compile_model(m), x).output_agreement - 1e-3


def test_netx_calibration_stays_expressible_in_netx():
    from snncc.backends.lava.netx import netx_problems
    from snncc.targets.loihi.quantize import netx_config
    m = mlp(lambda n: snn.LIF(n, beta=0.8, threshold=0.7), bias=0.1)
    x = dm.spikes(12, 32, (10,), rate=0.4, seed=0)
    c, cal = calibrate(m, x, base=netx_config(), ratios=(1.0, 2.0))
    assert netx_problems(c.fixed) == []
    tried = {e["recipe"] for e in cal.extra["recipes"]}
    assert "drift" in tried and not any("extended" in r or "precise" in r for r in tried)
