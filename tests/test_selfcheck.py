"""No silent misconversion: exact-class converters, subclass refusals, the differential
self-check on every compile, and refusals that name the module and the fix."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc.compiler import compile_model
from snncc.errors import SnnccError
from snncc.frontend import CONVERTERS, register_converter
from snncc.frontend.selfcheck import self_check


def _refused(model, *, input_shape=None) -> str:
    with pytest.raises(SnnccError) as info:
        compile_model(model, input_shape=input_shape)
    return str(info.value)


# ------------------------------------------------------------------ subclasses of converted classes

def test_framework_subclasses_with_other_dynamics_are_refused_by_name():
    """SpikingJelly ILIFNode / LIAFNode and snnTorch DeltaLeaky subclass converted neurons
    and override their step: compiled as the parent they gave ~thousands of wrong spikes."""
    sjn = pytest.importorskip("spikingjelly.activation_based.neuron")
    snt = pytest.importorskip("snntorch")
    cases = [(sjn.ILIFNode(), "ILIFNode", "single_step_functional_forward"),
             (sjn.LIAFNode(torch.relu, False, tau=2.0), "LIAFNode", "single_step_functional_forward"),
             (snt.DeltaLeaky(beta=0.9, init_hidden=True), "DeltaLeaky", "forward")]
    for neuron, name, method in cases:
        msg = _refused(nn.Sequential(nn.Linear(8, 6), neuron))
        assert name in msg and method in msg and "overrides" in msg, msg


def test_subclass_that_only_changes_construction_is_converted():
    class MyLIF(snn.LIF):
        """Only a different default: the parent's dynamics and to_ir apply."""

        def __init__(self, n):
            super().__init__(n, beta=0.8, reset="subtract")

    model = nn.Sequential(nn.Linear(8, 6), MyLIF(6))
    compiled = compile_model(model)
    assert compiled.self_check is not None and compiled.self_check.layers == ["1"]


def test_snncc_neuron_subclass_overriding_forward_is_refused():
    class Leakier(snn.LIF):
        def forward(self, x):
            return super().forward(0.5 * x)

    msg = _refused(nn.Sequential(nn.Linear(8, 6), Leakier(6)))
    assert "Leakier" in msg and "forward" in msg


# ------------------------------------------------------------------ the differential self-check

class _Halved(snn.LIF):
    """A neuron whose forward halves its input: registered below with LIF's converter, i.e.
    a converter that is wrong on purpose."""

    def forward(self, x):
        return super().forward(0.5 * x)


def test_self_check_catches_a_wrong_converter_and_names_layer_step_neuron():
    register_converter(_Halved)(lambda m, name, shapes: snn.LIF.to_ir(m, name))
    try:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(10, 12), snn.LIF(12), nn.Linear(12, 6), _Halved(6))
        with torch.no_grad():
            model[2].weight.mul_(3.0)
        msg = _refused(model)
    finally:
        CONVERTERS.pop(_Halved, None)
    assert "self-check failed" in msg and "layer '3' (_Halved)" in msg
    assert "step" in msg and "neuron" in msg and "sample" in msg


def test_self_check_passes_on_every_supported_seed_neuron():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(10, 16), snn.PLIF(16), nn.Linear(16, 12), snn.CubaLIF(12),
                          nn.Linear(12, 8), snn.DALIF(8), nn.Linear(8, 8), snn.GLIF(8, T=16), nn.Linear(8, 4), snn.RLIF(4))
    result = compile_model(model).self_check
    assert result.layers == ["1", "3", "5", "7", "9"]
    assert sum(result.spikes.values()) > 0
    assert result.ties <= 2      # float rounding only


def test_self_check_rejects_non_spike_outputs():
    """A layer emitting values other than 0/1 where snncc compiles spikes is refused at once."""
    class Doubled(snn.LIF):
        def forward(self, x):
            return 2.0 * super().forward(x)

    register_converter(Doubled)(lambda m, name, shapes: snn.LIF.to_ir(m, name))
    try:
        torch.manual_seed(0)
        msg = _refused(nn.Sequential(nn.Linear(10, 12), Doubled(12)))
    finally:
        CONVERTERS.pop(Doubled, None)
    assert "emits 2" in msg and "not a spike" in msg


def test_self_check_uses_calibration_data(tmp_path):
    from snncc import api
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), snn.LIF(5))
    x = (np.random.default_rng(0).random((4, 10, 6)) < 0.5).astype(np.uint8)   # (B, T, n)
    np.savez(tmp_path / "cal.npz", x=x)
    result = api.compile(model, calibrate=tmp_path / "cal.npz").compiled.self_check
    assert result.samples == 8 + 4


def test_self_check_on_lowered_graph_directly_reports_coverage():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), snn.LIF(5))
    compiled = compile_model(model, check=False)
    result = self_check(model, compiled.lowered)
    assert "self-check: float graph == the model's own forward pass" in result.summary()


# ------------------------------------------------------------------ refusals that name the cause

def test_time_loop_inside_forward_is_refused_with_the_fix():
    snt = pytest.importorskip("snntorch")

    class LoopNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.lif = nn.Linear(8, 4), snt.Leaky(beta=0.9)

        def forward(self, x):
            mem = self.lif.init_leaky()
            out = []
            for step in range(5):
                spk, mem = self.lif(self.fc(x[step]), mem)
                out.append(spk)
            return torch.stack(out)

    msg = _refused(LoopNet())
    assert "time loop" in msg and "'lif' 5 times" in msg and "outside the model" in msg


def test_unknown_framework_neuron_is_named_not_traced_into():
    sjn = pytest.importorskip("spikingjelly.activation_based.neuron")
    msg = _refused(nn.Sequential(nn.Linear(8, 4), sjn.QIFNode()))
    assert "QIFNode" in msg and "no snncc converter" in msg and "time loop" not in msg


def test_zero_width_layer_and_absurd_declared_shape_are_one_clean_error():
    msg = _refused(nn.Sequential(nn.Linear(4, 0), snn.LIF(1)))
    assert "zero width" in msg
    lif = snn.LIF(3)
    lif.shape = (100000, 100000)           # as a hand-edited file could declare it
    msg = _refused(nn.Sequential(nn.Linear(4, 3), lif))
    assert "declares shape" in msg


def test_layer_wide_threshold_compiles():
    """A 0-d threshold (one value for the layer) broadcasts, as in the module's forward."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), snn.LIF(3))
    model[1].threshold = nn.Parameter(torch.tensor(0.7))
    compiled = compile_model(model)
    assert compiled.lowered.node("1").threshold.shape == (3,)
