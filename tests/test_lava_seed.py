"""The seed neurons (PLIF, DA-LIF, KLIF, GLIF) on real Lava (lava-nc 0.10.0, fixed_pt models).

Each neuron type is trained briefly on digits (so its parameters are learned, per neuron where
the paper learns them per neuron or channel), compiled, written to a build directory as
``snncc compile`` writes it, and run by the generated ``lava_network.py`` in the Lava env.
Spikes, u and v of every layer must equal the bit-accurate simulator's, value for value.  Layers
that Lava's stock LIF expresses also run on that stock process (``lif-arrays``): there Lava's own
model is the oracle.  The generalised neuron's new terms (per-step input gain, late bias,
growing membrane) are checked on a hand-computed trace first.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc.backends import get_runner
from snncc.backends.lava import codegen, run_build_dir
from snncc.compiler import compile_model
from snncc.ir import FxDense, FxNeuron, Graph, Input, Output, serialize
from snncc.ir.nodes import EXACT, EXACT_AFTER_FOLDING, GENERALISED
from snncc.verify import cross_check

pytestmark = pytest.mark.lava
torch.set_num_threads(2)
T, HIDDEN, SAMPLES = 16, 16, 3


def _lava(graph: Graph, x: np.ndarray, neuron: str = "auto") -> dict[str, np.ndarray]:
    """Write the build directory exactly as ``snncc compile`` does, run it on Lava."""
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory(prefix="snncc-seed-") as tmp:
        serialize.save(graph, tmp)
        codegen.write(graph, Path(tmp), neuron)
        return run_build_dir(Path(tmp), x, states=True)


def _mismatches(graph: Graph, x: np.ndarray, neuron: str = "auto") -> dict[str, int]:
    sim = get_runner("sim")(graph, x, record_states=True)
    lava = _lava(graph, x, neuron)
    counts = {}
    for node in graph.of_type(FxNeuron):
        n = node.name
        counts[f"{n}/s"] = int((sim.spikes[n] != lava[f"{n}/s"].astype(bool)).sum())
        counts[f"{n}/u"] = int((sim.u[n] != lava[f"{n}/u"]).sum())
        counts[f"{n}/v"] = int((sim.v[n] != lava[f"{n}/v"]).sum())
        assert sim.spikes[n].any(), f"layer {n} never spiked: the check saw no activity"
    return counts


# --- the generalised neuron's new terms, hand-computed, on Lava's FxNeuron ---------------------
def test_gain_table_late_bias_and_growth_hand_trace_on_lava():
    g = Graph()
    g.add(Input("input", shape=(1,)))
    g.add(FxDense("d", weight=np.array([[10]])), ["input"])
    one = lambda v: np.array([v], dtype=np.int64)       # noqa: E731
    g.add(FxNeuron("n", shape=(1,), du=one(4095), dv=one(-2048), vth=one(1000), bias_mant=one(5),
                   bias_exp=one(0), reset_mult=one(0), reset_sub=one(0),
                   input_gain=np.array([[2048], [4096], [1024]]), gain_start=1, bias_start=2),
          ["d"])
    g.add(Output("output"), ["n"])
    x = np.ones((6, 1, 1), np.uint8)
    # u: a_in = 10 from step 1 (Dense delay), << 6 = 640, times gain row clip(t-1, 0, 2)
    # v: v * 6144/4096 rounded toward zero + u + (5 from step 2)
    want_u, want_v = [0, 320, 640, 160, 160, 160], [0, 320, 1125, 1852, 2943, 4579]
    sim = get_runner("sim")(g, x, record_states=True)
    lava = _lava(g, x)
    for got_u, got_v in ((sim.u["n"], sim.v["n"]), (lava["n/u"], lava["n/v"])):
        assert got_u[:, 0, 0].tolist() == want_u and got_v[:, 0, 0].tolist() == want_v


# --- briefly trained networks of each neuron type ---------------------------------------------
NEURONS = {
    "plif": (lambda n: snn.PLIF(n), EXACT_AFTER_FOLDING),
    "plif_undecayed_input": (lambda n: snn.PLIF(n, decay_input=False, v_reset=-0.2), EXACT),
    "plif_soft": (lambda n: snn.PLIF(n, v_reset=None), GENERALISED),
    "dalif_per_neuron": (lambda n: snn.DALIF(n, granularity="neuron"), EXACT_AFTER_FOLDING),
    "klif": (lambda n: snn.KLIF(n), GENERALISED),
    "klif_soft_scaled": (lambda n: snn.KLIF(n, v_reset=None, scale_reset=True), GENERALISED),
    "glif": (lambda n: snn.GLIF(n, T=T), GENERALISED),
    "glif_hard": (lambda n: snn.GLIF(n, T=T, gates="hard"), GENERALISED),
}


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    from examples.digits import load_digits_spikes
    return load_digits_spikes(T, seed=0)


def _trained(kind: str, digits) -> nn.Sequential:
    from examples.digits import N_IN, N_OUT, TrainConfig, train
    torch.manual_seed(1)
    make = NEURONS[kind][0]
    model = nn.Sequential(nn.Linear(N_IN, HIDDEN), make(HIDDEN), nn.Linear(HIDDEN, N_OUT),
                          make(N_OUT))
    train(model, digits[0], digits[1], TrainConfig(epochs=2, lr=1e-2, seed=1), log=None)
    return model


def _stimulus(digits) -> np.ndarray:
    """The first test samples, time-major, with 2 zero steps for the layers' synaptic delay."""
    x = np.transpose(digits[2][:SAMPLES], (1, 0, 2))
    return np.concatenate([x, np.zeros((2,) + x.shape[1:], x.dtype)]).astype(np.uint8)


def _learned_per_neuron(model: nn.Sequential, kind: str) -> None:
    """The parameters moved away from their initial values (and vary per neuron where the
    paper learns them per neuron or channel)."""
    layer = model[1]
    if isinstance(layer, snn.PLIF):
        assert abs(float(layer.reciprocal_tau().detach()) - 0.5) > 1e-3
    elif isinstance(layer, snn.KLIF):
        assert abs(float(layer.k.detach()) - 1.0) > 1e-3
    elif isinstance(layer, snn.DALIF):
        assert len(torch.unique(layer.spatial_decay())) == HIDDEN
    else:       # GLIF: Vth enters every step (tau, leak... only where a gate lets them)
        assert len(torch.unique(layer.vth_logit)) > HIDDEN // 2


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_trained_seed_network_matches_lava_bit_for_bit(kind, digits):
    model = _trained(kind, digits)
    _learned_per_neuron(model, kind)
    compiled = compile_model(model)
    assert {m.mapping for m in compiled.mapping} == {NEURONS[kind][1]}
    x = _stimulus(digits)
    policies = ["auto"] + (["lif-arrays"] if all(n.is_stock_lif for n in
                                                compiled.fixed.of_type(FxNeuron)) else [])
    for policy in policies:
        counts = _mismatches(compiled.fixed, x, policy)
        assert not any(counts.values()), (kind, policy, counts)


def test_glif_gain_table_reaches_lava_and_cross_check_reports_zero(digits):
    """The soft GLIF really uses the per-step gain table and the late bias on Lava; verify's
    cross_check (what ``snncc verify --backend lava`` runs) counts zero mismatches."""
    model = _trained("glif", digits)
    fixed = compile_model(model).fixed
    hidden = fixed.node("1")
    assert hidden.input_gain is not None and len(np.unique(hidden.input_gain)) > HIDDEN
    assert hidden.bias_start == 1 and hidden.reset_delayed
    layers = cross_check(fixed, _stimulus(digits), "lava")
    assert [l.name for l in layers] == ["1", "3"]
    assert all(l.spike_mismatches == l.u_mismatches == l.v_mismatches == 0 for l in layers)


def test_growing_klif_membrane_matches_lava(digits):
    model = _trained("klif", digits)
    with torch.no_grad():
        model[1].k.fill_(2.6)            # k (1 - 1/tau) = 1.3: v grows between steps
        model[3].k.fill_(2.2)
    compiled = compile_model(model)
    assert np.all(compiled.fixed.node("1").dv < 0) and np.all(compiled.fixed.node("3").dv < 0)
    counts = _mismatches(compiled.fixed, _stimulus(digits))
    assert not any(counts.values()), counts
