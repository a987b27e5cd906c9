"""Loihi 2 resource mapping: placements computed by hand, clear errors when a net does not fit."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from helpers import fx_chain
from snncc.errors import SnnccError
from snncc.targets.loihi.mapping import LOIHI2, map_loihi2, register_synapse_estimator
from snncc.targets.loihi.mapping import SYNAPSE_ESTIMATORS


def _small():
    """10 inputs -> 20 neurons (one sign, shared parameters) -> 5 neurons (split sign, a bias
    axon, per-neuron thresholds)."""
    rng = np.random.default_rng(0)
    g = fx_chain([rng.integers(1, 100, (20, 10)), rng.integers(-100, 100, (5, 20))],
                 [{"vth": 100}, {"vth": [10, 20, 30, 40, 50]}])
    g.replace(replace(g.node("d1"), split_sign=True, bias=np.ones(5, np.int64)))
    return g


def test_small_network_utilisation_by_hand():
    p = map_loihi2(_small())
    assert p.cores == 2
    l0, l1 = p.layers
    # layer n0: 20 neurons x (10 one-byte weights + 6 state bytes) on one core
    assert (l0.neurons, l0.estimate.cores, l0.first_core) == (20, 1, 0)
    assert l0.utilisation["memory_util"] == pytest.approx(20 * 16 / (128 * 1024))
    assert l0.utilisation["neuron_util"] == pytest.approx(20 / 8192)
    assert l0.utilisation["fan_in_util"] == pytest.approx(10 / 4096)
    assert l0.estimate.fan_out == 20            # each neuron -> the one core of n1
    # layer n1: 5 x (20 x 2 split-sign bytes + 1 bias-axon byte + 6 state + 3 for its vth)
    assert (l1.estimate.cores, l1.first_core, l1.estimate.fan_in) == (1, 1, 21)
    assert l1.utilisation["memory_util"] == pytest.approx(5 * 50 / (128 * 1024))
    assert l1.estimate.fan_out == 0
    assert [r["core range"] for r in p.rows()] == ["0-0", "1-1"]


def test_large_layer_is_split_over_cores_by_memory():
    # 4000 inputs: 4006 bytes per neuron -> 32 neurons per 128 KiB core -> 2000/32 = 63 cores
    g = fx_chain([np.ones((2000, 4000), np.int64)], [{}])
    layer = map_loihi2(g).layers[0]
    assert layer.estimate.cores == 63
    assert layer.estimate.neurons_per_core == 32
    assert layer.utilisation["memory_util"] == pytest.approx(2000 * 4006 / (63 * 128 * 1024))


def test_network_larger_than_a_chip_names_layer_limit_and_excess():
    # 63 cores for 4000 inputs, 31 for 2000: 63 + 31 + 31 = 125 fits, 63 + 31 + 63 does not
    g = fx_chain([np.ones((2000, 4000), np.int64), np.ones((2000, 2000), np.int64),
                  np.ones((2000, 2000), np.int64)], [{}, {}, {}])
    # 2000 inputs: 2006 B/neuron -> 65 per core -> 31 cores; 63 + 31 + 31 = 125 fits
    assert map_loihi2(g).cores == 125
    g = fx_chain([np.ones((2000, 4000), np.int64)] * 1 + [np.ones((2000, 2000), np.int64),
                                                         np.ones((2000, 4000), np.int64)],
                 [{}, {}, {}], n_in=4000)
    with pytest.raises(SnnccError) as exc:
        map_loihi2(g)
    msg = str(exc.value)
    assert "layer 'n2'" in msg and "limit of 128" in msg and "by 29" in msg


def test_fan_in_over_the_axon_limit_is_reported():
    g = fx_chain([np.ones((4, 5000), np.int64)], [{}])
    with pytest.raises(SnnccError, match=r"layer 'n0'.*fan-in .*5,000 exceeds the limit of "
                                         r"4,096 by 904"):
        map_loihi2(g)


def test_unknown_synapse_kind_asks_for_an_estimator_and_registry_extends():
    g = _small()
    saved = SYNAPSE_ESTIMATORS.pop("fx_dense")
    try:
        with pytest.raises(SnnccError, match="no Loihi 2 resource estimator for 'fx_dense'"):
            map_loihi2(g)
        register_synapse_estimator("fx_dense")(saved)
        assert map_loihi2(g).cores == 2
    finally:
        SYNAPSE_ESTIMATORS["fx_dense"] = saved


def test_limits_carry_their_sources():
    sources = dict(LOIHI2.SOURCES)
    assert any("128" in v for v in sources.values())
    assert LOIHI2.neurons_per_core == 8192 and LOIHI2.cores_per_chip == 128


def test_conv_and_delay_layers_map_with_kernel_reuse():
    """Deep nets place on cores; a conv layer's figures follow the kernel-reuse estimate."""
    import deep_models as dm
    from snncc.compiler import compile_model
    from snncc.ir.fixed_spatial import FxConv, FxDelay

    for model in (dm.vgg(grid=True), dm.sew(grid=True)):
        fixed = compile_model(model, (2, 8, 8)).fixed
        placement = map_loihi2(fixed)
        assert placement.cores >= len(placement.layers) > 0
        convs = [n for n in fixed.nodes() if isinstance(n, FxConv)]
        assert convs
    # the SEW stack has residual delay lines; they are costed, not refused
    fixed = compile_model(dm.sew(grid=True), (2, 8, 8)).fixed
    assert any(isinstance(n, FxDelay) for n in fixed.nodes())
    first = next(n for n in fixed.nodes() if isinstance(n, FxConv))
    layer = next(l for l in map_loihi2(fixed).layers if l.name in fixed.consumers_of(first.name))
    c_out, c_in_g, kh, kw = first.weight.shape          # (4, 2, 3, 3) on 2x8x8 input, pad 1
    n = c_out * 8 * 8
    kernel_per_neuron = c_in_g * kh * kw / 64
    bias = 1 if first.bias is not None else 0
    assert layer.estimate.fan_in == 2 * 10 * 8 + bias     # all 8 output rows read 10 padded rows
    assert layer.synapse_bytes == round(n * (kernel_per_neuron + bias))


def test_conv_layer_too_wide_for_a_core_names_the_fan_in():
    from snncc.ir import Graph, Input, Output, FxNeuron
    from snncc.ir.fixed_spatial import FxConv
    g = Graph()
    g.add(Input("input", shape=(64, 64, 64)))
    g.add(FxConv("conv", weight=np.ones((64, 64, 3, 3), np.int64), padding=(1, 1),
                 in_shape=(64, 64, 64)), ["input"])
    n = 64 * 64 * 64
    z = np.zeros(n, np.int64)
    g.add(FxNeuron("lif", shape=(64, 64, 64), du=z + 4095, dv=z, vth=z + 10, bias_mant=z,
                   bias_exp=z, reset_mult=z, reset_sub=z), ["conv"])
    g.add(Output("output"), ["lif"])
    with pytest.raises(SnnccError, match=r"layer 'lif' .*fan-in .* exceeds the limit of 4,096"):
        map_loihi2(g)
