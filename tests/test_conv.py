"""Convolutional networks: conv arithmetic and composition, tracing, the float reference
against torch, batch-norm folding, quantization of conv layers, Lava Conv arithmetic in the
simulator, max pooling as an OR neuron, and (slow) the SEW-ResNet-18-size compile."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import deep_models as dm
import snncc.nn as snn
from snncc import convmath
from snncc.targets.loihi import fixedpoint as fx
from snncc.backends import get_runner
from snncc.compiler import compile_model
from snncc.errors import SnnccError
from snncc.frontend import trace
from snncc.ir import (BatchNorm, Conv2d, CubaLIF, Flatten, FxConv, FxNeuron, Graph, Input,
                      Output, Pool2d)
from snncc.ir.nodes import NeuronNode
from snncc.passes import lower_neurons
from snncc.passes.compose import compose_synapses
from snncc.passes.float_sim import simulate_float
from snncc.verify import verify

SHAPE = (2, 8, 8)


# --- conv arithmetic -----------------------------------------------------------------------

@pytest.mark.parametrize("ci, co, groups, k, stride, pad, hw", [
    (3, 4, 1, 3, 1, 1, (8, 9)), (4, 6, 2, 3, 2, 1, (9, 8)), (4, 4, 4, 2, 2, 0, (8, 8)),
    (2, 3, 1, 1, 1, 0, (5, 5)), (4, 8, 4, 3, 1, 1, (6, 7))])
def test_conv2d_and_its_adjoint_match_torch(ci, co, groups, k, stride, pad, hw):
    rng = np.random.default_rng(0)
    spec = convmath.ConvSpec(rng.normal(size=(co, ci // groups, k, k)), (stride, stride),
                             (pad, pad), groups)
    x = rng.normal(size=(2, ci) + hw)
    y = convmath.conv2d(x, spec)
    ref = F.conv2d(torch.tensor(x), torch.tensor(spec.weight), stride=stride, padding=pad,
                   groups=groups).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    rows = rng.normal(size=(5,) + y.shape[1:])            # <rows, conv(x)> = <conv^T(rows), x>
    back = convmath.conv2d_transpose_rows(rows, spec, hw)
    np.testing.assert_allclose(np.einsum("ochw,bchw->bo", rows, y),
                               np.einsum("ochw,bchw->bo", back, x), rtol=1e-10)


def _composition_cases(rng):
    full = lambda co, ci, k, s=1, p=0, g=1: convmath.ConvSpec(rng.normal(size=(co, ci // g, k, k)),
                                                              (s, s), (p, p), g)
    return [
        (convmath.depthwise(3, (2, 2), 0.25, (2, 2)), full(4, 3, 3, p=1), (8, 8)),   # pool, conv
        (full(4, 3, 3, p=1), convmath.depthwise(4, (2, 2), 0.25, (2, 2)), (8, 8)),   # conv, pool
        (full(4, 3, 3, p=1), convmath.depthwise(4, (1, 1), rng.normal(size=4)), (7, 7)),  # bn
        (full(4, 3, 3, s=2, p=1), full(6, 4, 3, g=2), (9, 9)),
        (convmath.depthwise(3, (3, 3), 1.0, (2, 2), (1, 1)), full(4, 3, 1), (9, 9)),
        (full(4, 4, 3, p=1, g=2), full(6, 4, 3, g=2), (6, 6)),
    ]


def test_composed_conv_equals_the_pair():
    rng = np.random.default_rng(1)
    for first, second, hw in _composition_cases(rng):
        x = rng.normal(size=(2, first.in_channels()) + hw)
        both = convmath.conv2d(convmath.conv2d(x, first), second)
        one = convmath.conv2d(x, convmath.compose(first, second, hw))
        assert one.shape == both.shape
        np.testing.assert_allclose(one, both, rtol=1e-10, atol=1e-12)


def test_composition_that_would_read_real_inputs_as_padding_is_refused():
    pool = convmath.depthwise(3, (2, 2), 1.0, (2, 2))
    conv = convmath.ConvSpec(np.ones((4, 3, 3, 3)), (1, 1), (1, 1), 1)
    convmath.compose(pool, conv, (8, 8))                  # even size: the pool covers it
    with pytest.raises(convmath.CompositionError, match="zero padding"):
        convmath.compose(pool, conv, (9, 9))              # row 8 is dropped by the pool


# --- tracing -------------------------------------------------------------------------------

def test_vgg_traces_into_conv_nodes():
    g = trace(dm.vgg(grid=False), SHAPE)
    kinds = [n.kind for n in g.nodes()]
    assert kinds == ["input", "conv2d", "batchnorm", "lif", "conv2d", "batchnorm", "lif", "pool2d",
                     "conv2d", "batchnorm", "cuba_lif", "pool2d", "flatten", "affine", "lif",
                     "output"]
    shapes = g.shapes()
    assert shapes["5"] == (8, 8, 8) and shapes["6"] == (8, 4, 4) and shapes["11"] == (8,)
    conv = g.node("3")
    assert conv.groups == 2 and conv.weight.shape == (8, 2, 3, 3)
    assert g.node("7").stride == (2, 2) and g.node("10").mode == "sum"
    assert g.inputs_of("13") == ["11"]                   # dropout removed


class _MaxOfCurrents(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.pool, self.sn = nn.Conv2d(2, 2, 3, padding=1), nn.MaxPool2d(2), snn.LIF((2, 4, 4))

    def forward(self, x):
        return self.sn(self.pool(self.conv(x)))


@pytest.mark.parametrize("model, needle", [
    (nn.Sequential(nn.Conv2d(2, 2, 3, dilation=2), snn.LIF((2, 4, 4))), "dilation"),
    (nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), snn.LIF((2, 8, 8)),
                   nn.AvgPool2d(2, padding=1, count_include_pad=False)), "count_include_pad"),
    (nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), snn.LIF((2, 8, 8)), nn.Flatten(0),
                   nn.Linear(128, 2), snn.LIF(2)), "batch axis"),
])
def test_unsupported_conv_layers_name_the_culprit(model, needle):
    with pytest.raises(SnnccError, match=needle):
        trace(model, SHAPE)


def test_max_pooling_of_currents_is_refused():
    with pytest.raises(SnnccError, match="max of currents is not linear"):
        lower_neurons(trace(_MaxOfCurrents(), SHAPE))


# --- float reference -----------------------------------------------------------------------

@pytest.mark.parametrize("grid", [True, False])
def test_float_reference_of_traced_lowered_and_composed_graphs_equals_torch(grid):
    model = dm.vgg(grid=grid)
    x = dm.spikes(10, 6, SHAPE, 0.35)
    graph = trace(model, SHAPE)
    lowered = lower_neurons(graph)[0]
    composed = compose_synapses(lowered)
    layers = [n.name for n in graph.of_type(NeuronNode)]
    ref = dm.torch_spikes(model, x, layers)
    assert all(0.02 < ref[k].mean() < 0.9 for k in layers)
    for g in (graph, lowered, composed):
        out = simulate_float(g, x.astype(np.float64))
        for k in layers:
            np.testing.assert_array_equal(out[k], ref[k], err_msg=k)
    # the avg pool went into the strided conv after it, the sum pool into the Linear
    assert isinstance(composed.node("7"), Conv2d) and composed.node("7").weight.shape[2:] == (6, 6)
    assert composed.node("13").weight.shape == (10, 8 * 2 * 2)
    assert not any(isinstance(n, (Pool2d, Flatten, BatchNorm)) for n in composed.nodes())


def test_batchnorm_fold_is_exact():
    model = dm.vgg(grid=False)
    graph = trace(model, SHAPE)
    lowered = lower_neurons(graph)[0]
    assert not lowered.of_type(BatchNorm) and len(graph.of_type(BatchNorm)) == 3
    bn, conv = graph.node("1"), graph.node("0")
    folded = lowered.node("0")
    np.testing.assert_array_equal(folded.weight, conv.weight.astype(np.float64)
                                  * bn.scale[:, None, None, None])
    np.testing.assert_array_equal(folded.bias, bn.shift)          # conv had no bias
    assert folded.weight.dtype == np.float64                        # no float32 rounding
    x = dm.spikes(12, 4, SHAPE, 0.35, seed=3)
    v_ref, v_fold = {}, {}
    s_ref = simulate_float(graph, x.astype(np.float64), states=v_ref)
    s_fold = simulate_float(lowered, x.astype(np.float64), states=v_fold)
    for k in s_ref:
        np.testing.assert_array_equal(s_ref[k], s_fold[k], err_msg=k)
    for k in v_ref:
        np.testing.assert_allclose(v_fold[k], v_ref[k], rtol=1e-12, atol=1e-12, err_msg=k)


# --- quantization -------------------------------------------------------------------------

def test_quantized_vgg_agrees_with_float():
    model = dm.vgg(grid=True)
    compiled = compile_model(model, SHAPE)
    report = verify(model, compiled, dm.spikes(12, 16, SHAPE, 0.35, seed=5))
    assert report.output_agreement >= 0.99
    for layer in report.layers:
        assert layer.spike_agreement >= 0.99 and 0.02 < layer.rate_float < 0.95, layer
    # random continuous weights: agreement is limited by 8-bit weights, but no layer breaks
    model = dm.vgg(grid=False)
    report = verify(model, compile_model(model, SHAPE), dm.spikes(12, 16, SHAPE, 0.35, seed=5))
    assert min(layer.spike_agreement for layer in report.layers) >= 0.9


def test_conv_layers_are_quantized_on_the_weight_grid_with_a_report():
    compiled = compile_model(dm.vgg(grid=True), SHAPE)
    convs = compiled.fixed.of_type(FxConv)
    assert [c.name for c in convs] == ["0", "3", "7"]
    for conv in convs:
        assert conv.weight_exp >= 0                       # baked into Lava's kernel
        assert np.abs(conv.weight).max() <= 255 and np.abs(conv.weight).max() > 127
        assert conv.in_shape == compiled.fixed.shapes()[compiled.fixed.inputs_of(conv.name)[0]]
    for neuron in compiled.fixed.of_type(FxNeuron)[:3]:      # thresholds uniform per channel
        vth = neuron.vth.reshape(neuron.shape[0], -1)
        assert np.all(vth == vth[:, :1])
    for layer in compiled.quant.layers:
        errors = {e.name: e for e in layer.errors}
        assert {"weight", "threshold", "beta", "alpha", "bias"} <= set(errors)
        assert errors["weight"].max_rel <= 1 / 254 + 1e-12, layer.name
        assert errors["threshold"].max_rel < 1e-3


def fxconv_graph(w: np.ndarray, weight_exp: int, in_shape, padding=(1, 1), stride=(1, 1),
                 groups: int = 1) -> Graph:
    """input -> FxConv -> FxNeuron (no decay, huge threshold) -> output."""
    g = Graph()
    g.add(Input("input", shape=in_shape))
    conv = FxConv("c", weight=w, weight_exp=weight_exp, padding=padding, stride=stride,
                  groups=groups, in_shape=in_shape)
    g.add(conv, ["input"])
    n = int(np.prod(conv.out_shape))
    zeros = np.zeros(n, np.int64)
    g.add(FxNeuron("n", shape=conv.out_shape, du=np.full(n, 4095), dv=np.full(n, 4095),
                   vth=np.full(n, fx.VTH_MAX), bias_mant=zeros, bias_exp=zeros,
                   reset_mult=zeros, reset_sub=zeros), ["c"])
    g.add(Output("output"), ["n"])
    return g


def test_fxconv_is_lavas_conv_arithmetic():
    """Kernel with its exponent baked in, 24-bit wrap of the output, one step of delay."""
    from snncc.backends.sim.stepper import ConvExec
    rng = np.random.default_rng(2)
    w = rng.integers(150, 256, size=(3, 48, 3, 3)) * np.array([1, -1, 1])[:, None, None, None]
    node = fxconv_graph(w, 7, (48, 5, 5)).node("c")
    x = (rng.random((2, 48, 5, 5)) < 0.9).astype(np.uint8)
    ex = ConvExec(node, 2)
    assert not ex.emit(0, []).any()                       # nothing before the first input
    ex.accumulate(0, [x.reshape(2, -1)])
    exact = F.conv2d(torch.tensor(x, dtype=torch.float64),
                     torch.tensor(w << 7, dtype=torch.float64), padding=1).numpy().astype(np.int64)
    wrapped = (exact + 2 ** 23) % 2 ** 24 - 2 ** 23
    assert np.any(wrapped != exact)                       # the test reaches the wrap
    np.testing.assert_array_equal(ex.emit(1, []), wrapped.reshape(2, -1))
    # the Lava kernel layout: flipped and transposed to (C_out, kW, kH, C_in), exponent baked
    k = node.lava_kernel()
    assert k.shape == (3, 3, 3, 48) and k[1, 0, 2, 5] == w[1, 5, 0, 2] << 7


def test_max_pool_of_spikes_is_an_exact_or_neuron_in_fixed_point():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), snn.LIF((4, 8, 8), threshold=0.4),
                          nn.MaxPool2d(3, 2, 1), nn.Flatten(), nn.Linear(64, 5), snn.LIF(5))
    compiled = compile_model(model, SHAPE)
    assert isinstance(compiled.lowered.node("2"), CubaLIF)
    x = dm.spikes(10, 4, SHAPE, 0.4)
    res = get_runner("sim")(compiled.fixed, x)
    conv_spikes = torch.tensor(res.spikes["1"][:-1].reshape(-1, 4, 8, 8), dtype=torch.float64)
    pooled = F.max_pool2d(conv_spikes, 3, 2, 1).numpy().reshape(9, 4, -1) > 0
    assert pooled.mean() > 0.05
    np.testing.assert_array_equal(res.spikes["2"][1:], pooled)     # one synapse later
    report = verify(model, compiled, x)
    assert report.layers[1].name == "2" and report.layers[1].depth == 2


@pytest.mark.slow
def test_sew_resnet18_compiles_in_seconds():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from compile_sew_resnet18 import compile_once
    result = compile_once(224)
    assert result["neurons"] > 2_500_000 and result["layers"] == 22
    assert result["seconds"]["total"] < 60
    assert result["delay_lines"] > 0 and result["conv_synapses"] >= 20
