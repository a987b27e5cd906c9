"""Models written with snnTorch, SpikingJelly and Norse, traced by snncc directly.

Each model (Linear layers + that framework's neurons, per-neuron parameters drawn at
random where the framework learns them) is run by the framework itself; snncc's lowered
float graph must reproduce every spike of every layer exactly, and the compiled
fixed-point network (bit-accurate simulator) must agree on >= 99% of them.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from snncc.compiler import compile_graph
from snncc.errors import SnnccError
from snncc.frontend import trace
from snncc.frontend.frameworks import run_native
from snncc.backends import get_runner
from snncc.ir import Graph, Input, Output
from snncc.ir.nodes import EXACT, EXACT_AFTER_FOLDING, GENERALISED
from snncc.passes import lower_neurons
from snncc.passes.float_sim import simulate_float
from snncc.verify import align, synaptic_depth, verify

N_IN, STEPS, BATCH = 20, 50, 32


def _init_linears(model: nn.Module, seed: int, sigma: float = 0.5) -> None:
    """Weights N(0, sigma), small biases: moderate firing in every layer."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * sigma)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g) * (hi - lo) + lo


def _stimulus(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((STEPS, BATCH, N_IN)) < 0.3).astype(np.uint8)


def _layer_alone(lowered: Graph, name: str) -> Graph:
    """Input -> the Affine feeding neuron ``name`` -> the neuron: one layer on its own."""
    affine = lowered.node(lowered.inputs_of(name)[0])
    g = Graph(dict(lowered.meta))
    g.add(Input("input", shape=(affine.weight.shape[1],)))
    g.add(affine, ["input"])
    g.add(lowered.node(name), [affine.name])
    g.add(Output("output"), [name])
    return g


def _check(model: nn.Module, expected_mapping: dict[str, str], dtype=np.float64) -> dict:
    """Float spikes equal the framework's; quantized agree >= 99% layer by layer.

    Layer by layer: each quantized layer is compared with the float layer fed the same
    (quantized) input spikes, as ``snncc verify`` reports depth by depth.  End to end, a
    flipped spike in one layer changes the next layer's input, and random untrained
    networks amplify that (measured 98.2-99.9% on deeper layers); the first layer, whose
    input is the data, must agree >= 99% end to end too.
    """
    x = _stimulus()
    graph = trace(model, (N_IN,))
    lowered, table = lower_neurons(graph)
    assert {m.name: m.mapping for m in table} == expected_mapping
    layers = list(expected_mapping)
    native = run_native(model, x, layers)
    ours = simulate_float(lowered, x, dtype=dtype)
    for name in layers:
        rate = native[name].mean()
        assert 0.02 < rate < 0.6, f"layer {name} fires at rate {rate:.3f}: test is not informative"
        np.testing.assert_array_equal(ours[name], native[name], err_msg=f"layer {name}")

    compiled = compile_graph(graph)
    report = verify(model, compiled, x)
    end_to_end = {l.name: l.spike_agreement for l in report.layers}
    assert end_to_end[layers[0]] >= 0.99, end_to_end
    depth = synaptic_depth(compiled.fixed)
    padded = np.concatenate([x, np.zeros((len(layers),) + x.shape[1:], x.dtype)])
    quant = align(get_runner("sim")(compiled.fixed, padded).spikes, depth, STEPS)
    own = {}
    for prev, name in zip([None] + layers[:-1], layers):
        feed = x if prev is None else quant[prev].astype(np.uint8)
        alone = simulate_float(_layer_alone(lowered, name), feed, dtype=dtype)[name]
        own[name] = float(np.mean(alone == quant[name]))
        assert own[name] >= 0.99, f"layer {name}: quantized agreement {own[name]:.4f}"
    print(type(model).__name__, "layer by layer", {k: round(v, 4) for k, v in own.items()},
          "end to end", {k: round(v, 4) for k, v in end_to_end.items()})
    return own


# ---------------------------------------------------------------------------- snnTorch

def test_snntorch_leaky_synaptic_exact_in_float():
    snn = pytest.importorskip("snntorch")
    g = torch.Generator().manual_seed(1)
    model = nn.Sequential(
        nn.Linear(N_IN, 32),
        snn.Leaky(beta=_uniform(32, 0.3, 0.95, g), threshold=_uniform(32, 0.5, 1.5, g),
                  learn_beta=True, learn_threshold=True, init_hidden=True),   # subtract, delayed
        nn.Linear(32, 10),
        snn.Synaptic(alpha=_uniform(10, 0.1, 0.6, g), beta=_uniform(10, 0.3, 0.9, g),
                     threshold=_uniform(10, 0.5, 1.5, g), learn_alpha=True, learn_beta=True,
                     learn_threshold=True, init_hidden=True))
    _init_linears(model, 1)
    _check(model, {"1": GENERALISED, "3": GENERALISED})


def test_snntorch_tuple_outputs_rleaky_and_zero_reset():
    """``spk, mem = lif(x)`` in a custom forward; RLeaky's V folds into the delayed reset."""
    snn = pytest.importorskip("snntorch")
    g = torch.Generator().manual_seed(2)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(N_IN, 24)
            self.rlif = snn.RLeaky(beta=_uniform(24, 0.3, 0.95, g), V=_uniform(24, -0.5, 0.5, g),
                                   all_to_all=False, threshold=_uniform(24, 0.5, 1.5, g),
                                   learn_beta=True, learn_threshold=True)
            self.fc2 = nn.Linear(24, 10)
            self.lif = snn.Leaky(beta=_uniform(10, 0.3, 0.95, g), reset_mechanism="zero",
                                 learn_beta=True)

        def forward(self, x):
            spk1, mem1 = self.rlif(self.fc1(x))
            spk2, mem2 = self.lif(self.fc2(spk1))
            return spk2, mem2

    model = Net()
    _init_linears(model, 2)
    _check(model, {"rlif": GENERALISED, "lif": EXACT})


def test_snntorch_unsupported_variants_are_refused_with_the_reason():
    snn = pytest.importorskip("snntorch")
    for neuron, needle in [
        (snn.Synaptic(alpha=0.5, beta=0.9, reset_mechanism="zero", init_hidden=True), "refractory"),
        (snn.RLeaky(beta=0.9, linear_features=4, reset_mechanism="zero", init_hidden=True),
         "refractory"),     # all-to-all itself compiles: tests/test_framework_modules.py
        (snn.Leaky(beta=0.9, inhibition=True, init_hidden=True), "inhibition"),
        (snn.Leaky(beta=0.9, reset_delay=False, init_hidden=True), "double reset"),
    ]:
        with pytest.raises(SnnccError, match=needle):
            trace(nn.Sequential(nn.Linear(3, 4), neuron), (3,))

    class UsesMembrane(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.lif, self.out = nn.Linear(3, 4), snn.Leaky(beta=0.9), nn.Linear(4, 2)
            self.lif2 = snn.Leaky(beta=0.9)

        def forward(self, x):
            spk, mem = self.lif(self.fc(x))
            return self.lif2(self.out(mem))[0]

    with pytest.raises(SnnccError, match="state .*output of neuron 'lif'"):
        trace(UsesMembrane(), (3,))


# ------------------------------------------------------------------------- SpikingJelly

@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_spikingjelly_lif_plif_exact_in_float(step_mode):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, layer
    from spikingjelly.activation_based import neuron as sjn
    plif = sjn.ParametricLIFNode(init_tau=2.0, v_reset=None)        # soft reset
    with torch.no_grad():
        plif.w.fill_(0.4)                                             # learned 1/tau = sigmoid(w)
    model = nn.Sequential(layer.Linear(N_IN, 32), sjn.LIFNode(tau=3.0),
                          layer.Linear(32, 24), plif,
                          layer.Linear(24, 10), sjn.LIFNode(tau=2.5, decay_input=False,
                                                            v_reset=-0.2))
    functional.set_step_mode(model, step_mode)
    _init_linears(model, 3, sigma=0.9)
    _check(model, {"1": EXACT_AFTER_FOLDING, "3": GENERALISED, "5": EXACT_AFTER_FOLDING},
           dtype=np.float32)


# -------------------------------------------------------------------------------- Norse

def test_norse_lif_cell_and_box_cell_exact_in_float():
    norse = pytest.importorskip("norse.torch")
    g = torch.Generator().manual_seed(4)
    p1 = norse.LIFParameters(tau_syn_inv=_uniform(32, 300, 600, g),
                             tau_mem_inv=_uniform(32, 100, 300, g),
                             v_th=_uniform(32, 0.3, 0.8, g))
    p2 = norse.LIFBoxParameters(tau_mem_inv=_uniform(10, 50, 250, g),
                                v_th=_uniform(10, 0.3, 0.8, g))
    model = norse.SequentialState(nn.Linear(N_IN, 32), norse.LIFCell(p1),
                                  nn.Linear(32, 10), norse.LIFBoxCell(p2))
    _init_linears(model, 4)
    _check(model, {"1": EXACT_AFTER_FOLDING, "3": EXACT_AFTER_FOLDING})


def test_snncc_never_imports_the_frameworks_itself():
    """Importing and using snncc on a plain model loads none of them (they are optional)."""
    import subprocess
    import sys
    code = ("import sys, torch, snncc, snncc.compiler, snncc.frontend, snncc.cli\n"
            "import snncc.nn as snn\n"
            "from snncc.frontend import trace\n"
            "trace(torch.nn.Sequential(torch.nn.Linear(3, 2), snn.LIF(2)))\n"
            "print(sorted(m for m in ('snntorch', 'spikingjelly', 'norse') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
