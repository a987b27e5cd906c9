"""Residual and recurrent networks: SEW-ResNet ADD of spike tensors, spiking-ResNet adds on
the synaptic input, recurrent neuron layers; tracing, synapse composition, delay lines,
float exactness against torch, quantized agreement, and NIR round trips."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

import deep_models as dm
import snncc.nn as snn
from snncc.backends import get_runner
from snncc.backends.nir import from_nir, read_nir, to_nir, write_nir
from snncc.compiler import compile_model
from snncc.errors import SnnccError
from snncc.frontend import trace
from snncc.ir import (Add, Affine, Conv2d, CubaLIF, FxDelay, FxDense, FxNeuron, Graph, Input,
                      Output)
from snncc.ir.nodes import NeuronNode
from snncc.passes import lower_neurons
from snncc.targets.loihi.quantize import quantize
from snncc.passes.compose import compose_synapses
from snncc.passes.float_sim import simulate_float
from snncc.verify import synaptic_depth, verify

SHAPE = (2, 8, 8)
MODELS = {"sew": (dm.sew, SHAPE), "spiking_resnet": (dm.spiking_resnet, SHAPE),
          "recurrent": (dm.recurrent, (12,))}


def _neuron_names(graph):
    return [n.name for n in graph.of_type(NeuronNode)] + \
        [n.name for n in graph.nodes() if n.kind == "maxpool2d"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("grid", [True, False])
def test_float_reference_equals_torch(name, grid):
    make, shape = MODELS[name]
    model = make(grid=grid)
    graph = trace(model, shape)
    lowered = lower_neurons(graph)[0]
    x = dm.spikes(10, 6, shape, 0.35, seed=1)
    layers = _neuron_names(graph)
    ref = dm.torch_spikes(model, x, layers)
    assert all(ref[k].any() for k in layers)
    for g in (graph, lowered, compose_synapses(lowered)):
        out = simulate_float(g, x.astype(np.float64))
        for k in layers:
            if k in out:
                np.testing.assert_array_equal(out[k], ref[k], err_msg=f"{k} in {g.meta}")


def test_sew_add_becomes_one_synapse_per_spike_source():
    lowered = lower_neurons(trace(dm.sew(), SHAPE))[0]
    assert len(lowered.of_type(Add)) == 2
    composed = compose_synapses(lowered)
    assert not composed.of_type(Add)
    # block 1 reads block 0's output = blocks.0.sn2 + sn (the stem): two conv synapses
    feeds = {composed.inputs_of(s)[0]: s for s in composed.inputs_of("blocks.1.sn1")}
    assert sorted(feeds) == ["blocks.0.sn2", "sn"]
    w = [composed.node(s).weight for s in feeds.values()]
    assert w[0] is w[1]                                   # one composed kernel, shared
    # the readout averages blocks.1.sn2 + blocks.0.sn2 + sn: three Linear synapses, and the
    # Linear's bias is carried once, not three times
    fc = composed.inputs_of("out")
    assert len(fc) == 3 and all(isinstance(composed.node(s), Affine) for s in fc)
    assert sum(composed.node(s).bias is not None for s in fc) == 1


def test_sew_delay_lines_align_the_shortcuts():
    fixed = compile_model(dm.sew(), SHAPE).fixed
    delays = {n.name: n.delay for n in fixed.of_type(FxDelay)}
    # the stem's spikes skip two (block 0) and four (both blocks) synaptic steps
    assert delays == {"sn.delay2": 2, "sn.delay4": 4, "blocks.0.sn2.delay2": 2}
    depth = synaptic_depth(fixed)
    for neuron in fixed.of_type(FxNeuron):
        arrivals = {depth[s] for s in fixed.inputs_of(neuron.name)}
        assert arrivals == {depth[neuron.name]}, neuron.name     # all synapses arrive together


def test_spiking_resnet_adds_an_identity_synapse_and_a_shortcut_conv():
    composed = compose_synapses(lower_neurons(trace(dm.spiking_resnet(), SHAPE))[0])
    skip = composed.node("b1.sn2.skip:sn")
    assert isinstance(skip, Conv2d) and skip.groups == 4 and skip.weight.shape == (4, 1, 1, 1)
    assert np.all(skip.weight == 1.0)
    short = composed.node("b2.short")
    assert short.stride == (2, 2) and composed.inputs_of("b2.short") == ["b1.sn2"]
    assert sorted(composed.inputs_of("b2.sn2")) == ["b2.conv2", "b2.short"]


@pytest.mark.parametrize("name", MODELS)
def test_quantized_residual_and_recurrent_networks_agree_with_float(name):
    make, shape = MODELS[name]
    model = make(grid=True)
    compiled = compile_model(model, shape)
    report = verify(model, compiled, dm.spikes(12, 16, shape, 0.35, seed=2))
    assert report.output_agreement >= 0.99
    for layer in report.layers:
        assert layer.spike_agreement >= 0.99 and 0.02 < layer.rate_float < 0.95, layer


# --- recurrence ---------------------------------------------------------------------------

def test_recurrent_layer_traces_into_a_recurrent_edge_and_a_recurrent_dense():
    model = dm.recurrent(grid=False)
    graph = trace(model, (12,))
    assert graph.recurrent_inputs_of("1") == ["1.recurrent"]
    assert graph.inputs_of("1.recurrent") == ["1"] and graph.inputs_of("1") == ["0"]
    np.testing.assert_array_equal(graph.node("1.recurrent").weight,
                                  model[1].recurrent.weight.detach().numpy())
    fixed = compile_model(model, (12,)).fixed
    assert isinstance(fixed.node("1.recurrent"), FxDense)
    assert fixed.recurrent_inputs_of("1") == ["1.recurrent"] and fixed.inputs_of("1") == ["0"]
    layer = next(l for l in compile_model(model, (12,)).quant.layers if l.name == "1")
    assert {"weight:0", "weight:1.recurrent"} <= {e.name for e in layer.errors}


def test_recurrent_feedback_arrives_exactly_one_step_later():
    """One neuron exciting itself: an input spike at step 0 keeps it firing; in fixed point
    the pattern is the float one, one (feed-forward) synapse later."""
    model = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False),
                                snn.RLIF(1, beta=0.0, threshold=0.5, recurrent_weight=[[1.0]]))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    x = np.zeros((6, 1, 1), np.uint8)
    x[0] = 1
    ref = dm.torch_spikes(model, x, ["1"])["1"][:, 0, 0]
    assert ref.tolist() == [True] * 6
    fixed = compile_model(model, (1,)).fixed
    res = get_runner("sim")(fixed, np.concatenate([x, np.zeros_like(x)]))
    assert res.spikes["1"][:, 0, 0].tolist() == [False] + [True] * 11
    with torch.no_grad():                                  # inhibitory feedback: fire once
        model[1].recurrent.weight.fill_(-1.0)
    res = get_runner("sim")(compile_model(model, (1,)).fixed, x)
    assert res.spikes["1"][:, 0, 0].tolist() == [False, True, False, False, False, False]


def test_feedback_from_a_deeper_layer_is_refused():
    g = Graph({"dt": 1e-3})
    g.add(Input("input", shape=(3,)))
    zeros = np.zeros(3, np.float32)
    neuron = lambda name: CubaLIF(name, shape=(3,), alpha=zeros, beta=zeros,
                                  threshold=np.ones(3, np.float32), bias=zeros)
    g.add(Affine("a", weight=np.eye(3, dtype=np.float32)), ["input"])
    g.add(neuron("n1"), ["a"])
    g.add(Affine("b", weight=np.eye(3, dtype=np.float32)), ["n1"])
    g.add(neuron("n2"), ["b"])
    g.add(Affine("back", weight=np.eye(3, dtype=np.float32)), ["n2"])
    g.add_recurrent("back", "n1")
    g.add(Output("output"), ["n2"])
    with pytest.raises(SnnccError, match="feedback from a deeper layer"):
        quantize(g)


# --- NIR ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["vgg", "sew", "spiking_resnet", "recurrent"])
def test_nir_round_trip_keeps_the_float_behaviour(name, tmp_path):
    make, shape = {"vgg": (dm.vgg, SHAPE), **MODELS}[name]
    lowered = lower_neurons(trace(make(grid=False), shape, dt=1e-3))[0]
    nir_graph = to_nir(lowered)
    kinds = {type(n).__name__ for n in nir_graph.nodes.values()}
    if name != "recurrent":
        assert "Conv2d" in kinds
    if name == "vgg":
        assert {"AvgPool2d", "SumPool2d", "Flatten"} <= kinds
    write_nir(lowered, tmp_path / "m.nir")
    back = read_nir(tmp_path / "m.nir")
    assert "nir_repairs" not in back.meta
    x = dm.spikes(10, 4, shape, 0.35, seed=4).astype(np.float64)
    a, b = simulate_float(lowered, x), simulate_float(back, x)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    if name == "recurrent":
        assert back.recurrent_inputs_of("1") == ["1.recurrent"]


def test_nir_cycle_without_snncc_metadata_is_read_as_recurrence():
    """Another tool's recurrent graph: Input -> Linear -> LIF <-> Linear (a cycle, no delay
    recorded): the edge into the neuron that closes the cycle becomes a recurrent edge."""
    n = 3
    lif = lambda: nir.LIF(tau=np.full(n, 0.01), r=np.full(n, 10.0), v_leak=np.zeros(n),
                          v_threshold=np.ones(n), v_reset=np.zeros(n))
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([n])}),
                                "w": nir.Linear(weight=np.eye(n)), "lif": lif(),
                                "rec": nir.Linear(weight=0.5 * np.eye(n)),
                                "output": nir.Output(output_type={"output": np.array([n])})},
                         edges=[("input", "w"), ("w", "lif"), ("lif", "rec"), ("rec", "lif"),
                                ("lif", "output")], type_check=False)
    g = from_nir(graph, dt=1e-3)
    assert g.recurrent_inputs_of("lif") == ["rec"] and g.inputs_of("lif") == ["w"]
    assert g.meta["nir_recurrent_inferred"] == [["rec", "lif"]]
    fixed = compile_model.__globals__["compile_graph"](g).fixed
    assert fixed.recurrent_inputs_of("lif") == ["rec"]
