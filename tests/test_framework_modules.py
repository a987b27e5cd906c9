"""Framework modules added for issue #11: snnTorch Lapicque, RSynaptic, all-to-all RLeaky
(recurrent synapses), Alpha (refused with the reason), SpikingJelly SeqToANNContainer and
multi-step mode.  Each is checked against the framework's own forward pass, spike for spike,
on more data than the compile-time self-check uses, and quantized."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from snncc.compiler import compile_model
from snncc.errors import SnnccError
from snncc.frontend.frameworks import run_native
from snncc.passes.float_sim import simulate_float
from snncc.verify import verify

STEPS, BATCH = 40, 24


def _x(shape, seed=0):
    return (np.random.default_rng(seed).random((STEPS, BATCH) + tuple(shape)) < 0.3).astype(np.uint8)


def _exact_and_quantized(model, shape, agreement=0.97):
    compiled = compile_model(model, input_shape=shape)
    x = _x(shape)
    layers = [m.name for m in compiled.mapping]
    native = run_native(model, x, layers)
    ours = simulate_float(compiled.lowered, x)
    for name in layers:
        np.testing.assert_array_equal(ours[name], native[name], err_msg=name)
    assert any(native[n].any() for n in layers), "test is not informative"
    report = verify(model, compiled, x)
    assert report.layers[0].spike_agreement >= agreement, report.layers
    return compiled


def _seed(model, seed, gain=1.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.4 * gain)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)
    return model


def test_snntorch_lapicque_from_beta_and_from_rc():
    snn = pytest.importorskip("snntorch")
    model = _seed(nn.Sequential(nn.Linear(12, 20), snn.Lapicque(beta=0.9, init_hidden=True),
                                nn.Linear(20, 6), snn.Lapicque(R=5.0, C=0.004, time_step=0.01,
                                                               init_hidden=True)), 1, 2.0)
    compiled = _exact_and_quantized(model, (12,))
    assert compiled.mapping[0].source_kind == "snntorch_lapicque"


@pytest.mark.parametrize("all_to_all", [True, False])
def test_snntorch_rsynaptic_recurrence_enters_the_current(all_to_all):
    snn = pytest.importorskip("snntorch")
    kw = dict(linear_features=20) if all_to_all else dict(all_to_all=False, V=0.4)
    model = _seed(nn.Sequential(nn.Linear(12, 20), snn.RSynaptic(alpha=0.6, beta=0.85,
                                                                   init_hidden=True, **kw),
                                nn.Linear(20, 6), snn.Leaky(beta=0.9, init_hidden=True)), 2)
    compiled = _exact_and_quantized(model, (12,))
    assert compiled.float_graph.recurrent_inputs_of("1") == ["1.recurrent"]


def test_snntorch_all_to_all_rleaky_linear_and_conv():
    snn = pytest.importorskip("snntorch")
    model = _seed(nn.Sequential(nn.Linear(12, 20), snn.RLeaky(beta=0.9, linear_features=20,
                                                                init_hidden=True),
                                nn.Linear(20, 6), snn.Leaky(beta=0.9, init_hidden=True)), 3)
    _exact_and_quantized(model, (12,))
    conv = _seed(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1),
                               snn.RLeaky(beta=0.9, conv2d_channels=4, kernel_size=3,
                                          init_hidden=True),
                               nn.Flatten(), nn.Linear(4 * 6 * 6, 5),
                               snn.Leaky(beta=0.9, init_hidden=True)), 4)
    _exact_and_quantized(conv, (2, 6, 6), agreement=0.95)


@pytest.mark.parametrize("reset, why", [("zero", "refractory"), ("subtract", "syn_exc"),
                                        ("none", "one step later")])
def test_snntorch_alpha_is_refused_with_the_reason(reset, why):
    snn = pytest.importorskip("snntorch")
    model = nn.Sequential(nn.Linear(6, 4), snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True,
                                                      reset_mechanism=reset))
    with pytest.raises(SnnccError) as err:
        compile_model(model)
    assert "Alpha" in err.value.cause and why in err.value.cause and "Synaptic" in err.value.fix


@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_spikingjelly_seq_to_ann_container_and_layer_wrappers(step_mode):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron
    model = nn.Sequential(layer.SeqToANNContainer(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6)),
                          neuron.LIFNode(tau=2.0),
                          layer.SeqToANNContainer(nn.Flatten(), nn.Linear(6 * 6 * 6, 8)),
                          neuron.LIFNode(tau=2.0), layer.Linear(8, 4), neuron.IFNode())
    if step_mode == "s":     # the same layers as single-step wrappers
        model = nn.Sequential(layer.Conv2d(1, 6, 3, padding=1), layer.BatchNorm2d(6),
                              neuron.LIFNode(tau=2.0), layer.Flatten(), layer.Linear(6 * 6 * 6, 8),
                              neuron.LIFNode(tau=2.0), layer.Linear(8, 4), neuron.IFNode())
    functional.set_step_mode(model, step_mode)
    _seed(model, 5, 3.0)
    model.eval()
    compiled = _exact_and_quantized(model, (1, 6, 6), agreement=0.95)
    assert compiled.self_check.reference == "SpikingJelly's own forward pass"
