"""The seed neurons (PLIF, DA-LIF, KLIF, GLIF): paper equations, gradients, exact lowering, quantization.

1. forward passes match the papers' / reference code's equations: hand-computed traces (exact
   binary fractions) and independent straight-line reimplementations of each formula;
2. BPTT reaches every learnable parameter, with each neuron's own surrogate;
3. the lowered canonical CUBA-LIF graph, run by the float reference stepper
   (:func:`snncc.passes.float_sim.simulate_float`), reproduces the torch model's spikes exactly,
   for every variant, including GLIF's time-varying conductance;
4. the quantized simulator agrees with the float model on >= 99% of output spikes, on
   calibrated random networks and on briefly trained digits models.
The Lava cross-check of the same neurons is in test_lava_seed.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc.compiler import compile_model
from snncc.errors import SnnccError
from snncc.frontend import trace
from snncc.ir import FxDense, FxNeuron, serialize
from snncc.ir.nodes import EXACT, EXACT_AFTER_FOLDING, GENERALISED
from snncc.nn.surrogate import SURROGATES, spike
from snncc.passes import lower_neurons
from snncc.passes.float_sim import simulate_float
from snncc.reference import run_float
from snncc.verify import verify

torch.set_num_threads(2)
T, B, N_IN, N_HID, N_OUT = 16, 64, 64, 32, 10


def run_steps(neuron: nn.Module, xs) -> tuple[np.ndarray, list[np.ndarray]]:
    """Step ``neuron`` over xs (T, batch, n); spikes (T, batch, n) and the state after each step."""
    snn.reset(neuron)
    spikes, states = [], []
    with torch.no_grad():
        for x in xs:
            spikes.append(neuron(torch.as_tensor(np.asarray(x), dtype=torch.float32)).numpy())
            states.append(next(getattr(neuron, n) for n in ("v", "u") if hasattr(neuron, n))
                          .detach().numpy().copy())
    return np.stack(spikes), states


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def col(values) -> np.ndarray:
    """A (steps, 1, 1) float32 input from a list."""
    return np.array(values, dtype=np.float32)[:, None, None]


# 1. forward = paper equations ----------------------------------------------------------------
# Hand-computed traces (tau = 2 so 1/tau = sigmoid(0) = 0.5 exactly; threshold 1).
@pytest.mark.parametrize("kwargs, x, spikes, v_after", [
    # h = v + (x - v)/2: 0.75 | 1.125 fire -> 0 | 0.25 | 1.625 fire -> 0
    ({}, [1.5, 1.5, 0.5, 3.0], [0, 1, 0, 1], [0.75, 0.0, 0.25, 0.0]),
    # soft: 0.75 | 1.125 fire -> 0.125 | 0.3125 | 1.65625 fire -> 0.65625
    ({"v_reset": None}, [1.5, 1.5, 0.5, 3.0], [0, 1, 0, 1], [0.75, 0.125, 0.3125, 0.65625]),
    # h = v/2 + x: 0.6 | 0.9 | 1.05 fire -> 0 | 0.2
    ({"decay_input": False}, [0.6, 0.6, 0.6, 0.2], [0, 0, 1, 0], [0.6, 0.9, 0.0, 0.2]),
    # h == threshold exactly does not fire (strict, unlike SpikingJelly's >=)
    ({"decay_input": False}, [1.0, 0.6], [0, 1], [1.0, 0.0]),
    # V_reset = -0.5, V starts there: h = v + (x - (v + 0.5))/2: 0.25 | 1.375 fire -> -0.5 | 0
    ({"v_reset": -0.5}, [1.5, 3.0, 1.0], [0, 1, 0], [0.25, -0.5, 0.0]),
])
def test_plif_hand_trace(kwargs, x, spikes, v_after):
    n = snn.PLIF(1, init_tau=2.0, **kwargs)
    assert float(n.reciprocal_tau().detach()) == 0.5
    s, v = run_steps(n, col(x))
    assert s.ravel().tolist() == spikes
    assert np.allclose(np.ravel(v), v_after, atol=1e-7)


def test_dalif_hand_trace():
    # alpha = 1/tau_a = 0.5, beta = 1 - 1/tau_b = 0.75: V = 0.75 H + 0.5 X
    n = snn.DALIF(1, tau_a=2.0, tau_b=4.0)
    assert n.alpha_logit.shape == () and n.beta_logit.shape == ()      # per layer (the paper)
    s, v = run_steps(n, col([1.0, 1.0, 1.0, 4.0]))
    # 0.5 | 0.875 | 1.15625 fire -> 0 | 2.0 fire -> 0
    assert s.ravel().tolist() == [0, 0, 1, 1]
    assert np.allclose(np.ravel(v), [0.5, 0.875, 0.0, 0.0], atol=1e-6)


def test_dalif_per_neuron_hand_trace():
    n = snn.DALIF(2, granularity="neuron")
    with torch.no_grad():      # neuron 0: alpha .5, beta .5; neuron 1: alpha 1 (tanh-free), beta 0
        n.alpha_logit.copy_(torch.tensor([0.0, 30.0]))
        n.beta_logit.copy_(torch.tensor([0.0, -30.0]))
    x = np.array([[0.8, 0.8], [0.8, 0.8], [1.6, 1.2]], np.float32)[:, None, :]
    s, v = run_steps(n, x)
    # n0: 0.4 | 0.6 | 1.1 fire;   n1: 0.8 | 0.8 | 1.2 fire
    assert s[:, 0].tolist() == [[0, 0], [0, 0], [1, 1]]
    assert np.allclose(np.stack(v)[:, 0], [[0.4, 0.8], [0.6, 0.8], [0.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("kwargs, x, spikes, v_after", [
    # k = 1.5: h = v + (x - v)/2, F = relu(1.5 h): F 0.75 | h .875 F 1.3125 fire | h -1 F 0 | F 1.5 fire
    ({}, [1.0, 1.0, -2.0, 2.0], [0, 1, 0, 1], [0.75, 0.0, 0.0, 0.0]),
    # scale_reset keeps F/k: v .5 | h .65 F .975 (no spike, where plain KLIF fires)
    ({"scale_reset": True}, [1.0, 0.8], [0, 0], [0.5, 0.65]),
    ({}, [1.0, 0.8], [0, 1], [0.75, 0.0]),          # h .775, F 1.1625 fires
    # soft: F .75 | F 1.3125 fire -> .3125 | h .15625 F .234375
    ({"v_reset": None}, [1.0, 1.0, 0.0], [0, 1, 0], [0.75, 0.3125, 0.234375]),
])
def test_klif_hand_trace(kwargs, x, spikes, v_after):
    n = snn.KLIF(1, tau=2.0, init_k=1.5, **kwargs)
    s, v = run_steps(n, col(x))
    assert s.ravel().tolist() == spikes
    assert np.allclose(np.ravel(v), v_after, atol=1e-6)


def test_klif_growing_membrane_hand_trace():
    # k = 3, tau = 2: F = relu(3 (v/2 + x/2)) = relu(1.5 v + 1.5 x); the membrane grows 1.5x
    n = snn.KLIF(1, tau=2.0, init_k=3.0)
    s, v = run_steps(n, col([0.25, 0.0, 0.0, 0.0]))
    # F .375 | .5625 | .84375 | 1.265625 fire -> 0
    assert s.ravel().tolist() == [0, 0, 0, 1]
    assert np.allclose(np.ravel(v), [0.375, 0.5625, 0.84375, 0.0], atol=1e-7)


def _glif_logits(n: snn.GLIF, **values):
    with torch.no_grad():
        for name, v in values.items():
            p = getattr(n, f"{name}_logit")
            p.copy_(torch.as_tensor(v, dtype=torch.float32).expand_as(p))


def test_glif_hand_trace_hard_gates_plain_lif():
    # alpha=1, beta=0, gamma=1 (hard): u = tau u (1 - o) + x; tau = Vth = 0.5
    n = snn.GLIF(1, T=4, gates="hard")
    _glif_logits(n, alpha=3.0, beta=-3.0, gamma=3.0, tau=0.0, vth=0.0)
    s, u = run_steps(n, col([0.3, 0.3, 0.3, 0.1]))
    # 0.3 | 0.45 | 0.525 fire | 0.5 * 0.525 * 0 + 0.1
    assert s.ravel().tolist() == [0, 0, 1, 0]
    assert np.allclose(np.ravel(u), [0.3, 0.45, 0.525, 0.1], atol=1e-6)


def test_glif_hand_trace_linear_leak_soft_reset_and_conduct():
    # alpha=0, gamma=0, beta=1: u = u - leak + conduct[t] x - reVth o[t-1]; leak = reVth = Vth = 0.5
    n = snn.GLIF(1, T=2, gates="hard")
    _glif_logits(n, alpha=-3.0, beta=3.0, gamma=-3.0, leak=0.0, revth=0.0, vth=0.0)
    with torch.no_grad():
        n.conduct_logit.copy_(torch.tensor([[0.0], [30.0]]))     # conduct = 0.5, then 1.0
    s, u = run_steps(n, col([3.0, 0.5, 0.5]))
    # t0: -0.5 + 1.5 = 1.0 fire | t1: 1.0 - 0.5 + 0.5 - 0.5 = 0.5 (not > 0.5) | t2: conduct held
    # at conduct[T-1] = 1: 0.5 - 0.5 + 0.5 = 0.5
    assert s.ravel().tolist() == [1, 0, 0]
    assert np.allclose(np.ravel(u), [1.0, 0.5, 0.5], atol=1e-6)


def test_glif_hand_trace_soft_gates():
    # every logit 0: alpha = beta = gamma = tau = Vth = leak = reVth = conduct = 0.5, so
    # D = 0.75, bias = -0.25, gain = 0.75, reset: u (1 - 0.5 o) and -0.25 o
    n = snn.GLIF(1, T=4)
    _glif_logits(n, alpha=0.0, beta=0.0, gamma=0.0, tau=0.0, vth=0.0, leak=0.0, revth=0.0,
                 conduct=0.0)
    s, u = run_steps(n, col([1.0, 1.0, 0.0, 2.0]))
    # 0.5 (== Vth, no spike) | 0.875 fire | 0.75*0.875*0.5 - 0.25 - 0.25 = -0.171875 |
    # 0.75*(-0.171875) - 0.25 + 1.5 = 1.12109375 fire
    assert s.ravel().tolist() == [0, 1, 0, 1]
    assert np.allclose(np.ravel(u), [0.5, 0.875, -0.171875, 1.12109375], atol=1e-7)


def test_glif_defaults_follow_the_official_code():
    torch.manual_seed(0)
    n = snn.GLIF(8, T=6)
    for g in (n.alpha_logit, n.beta_logit, n.gamma_logit):       # --randomgate
        assert g.abs().max() <= 0.1 and len(torch.unique(g)) == 8
    assert torch.allclose(n.tau_logit.sigmoid(), torch.tensor(0.25))
    assert torch.allclose(n.vth_logit.sigmoid(), torch.tensor(0.5))
    assert torch.allclose(n.leak_logit.sigmoid(), torch.tensor(0.0625))   # Vth / (2 * 4)
    assert torch.allclose(n.revth_logit.sigmoid(), torch.tensor(0.5))
    assert n.conduct_logit.shape == (6, 8)
    fixed = snn.GLIF(2, T=6, gate_init=(0.6, 0.8, 0.6))
    assert torch.allclose(fixed.beta_logit.sigmoid(), torch.tensor(0.65))  # (0.8-.5)*.5+.5


# Straight-line numpy reimplementations of the papers' / reference code's formulas.
def ref_plif(x, r, vth, decay_input, soft, v_reset=0.0):
    v, out = np.full(x.shape[1:], 0.0 if soft else v_reset), []
    for xt in x:
        h = v + r * (xt - (v - v_reset)) if decay_input else v - r * (v - v_reset) + xt
        s = (h > vth).astype(float)
        v = h - vth * s if soft else h * (1 - s) + v_reset * s
        out.append(s)
    return np.stack(out)


def ref_dalif(x, alpha, beta, vth):
    h, out = np.zeros(x.shape[1:]), []
    for xt in x:
        v = beta * h + alpha * xt
        s = (v > vth).astype(float)
        h = v * (1 - s)
        out.append(s)
    return np.stack(out)


def ref_klif(x, k, tau, vth, decay_input, soft, scale_reset):
    v, out = np.zeros(x.shape[1:]), []
    for xt in x:
        h = v + (xt - v) / tau if decay_input else v - v / tau + xt
        f = np.maximum(k * h, 0.0)
        s = (f > vth).astype(float)
        v = (f - vth * s) if soft else f * (1 - s)
        if scale_reset:
            v = v / k
        out.append(s)
    return np.stack(out)


def ref_glif(x, p, hard):
    gate = (lambda z: (z > 0).astype(float)) if hard else sigmoid
    al, be, ga = gate(p["alpha"]), gate(p["beta"]), gate(p["gamma"])
    tau, vth, leak, revth = (sigmoid(p[k]) for k in ("tau", "vth", "leak", "revth"))
    conduct = sigmoid(p["conduct"])
    u, o, out = np.zeros(x.shape[1:]), np.zeros(x.shape[1:]), []
    for t, xt in enumerate(x):
        i = xt * (1 - be * (1 - conduct[min(t, len(conduct) - 1)]))
        u = (1 - al * (1 - tau)) * u * (1 - ga * o) - (1 - al) * leak + i - (1 - ga) * revth * o
        o = (u > vth).astype(float)
        out.append(o)
    return np.stack(out)


def _drive(seed, n=6, steps=12, batch=16, scale=1.5):
    rng = np.random.default_rng(seed)
    return (rng.normal(0.3, 1.0, (steps, batch, n)) * scale).astype(np.float32)


@pytest.mark.parametrize("decay_input, soft, v_reset", [
    (True, False, 0.0), (False, False, 0.0), (True, True, 0.0), (True, False, -0.4),
    (False, False, 0.3)])
def test_plif_matches_reference_formula(decay_input, soft, v_reset):
    n = snn.PLIF(6, init_tau=3.0, decay_input=decay_input, v_reset=None if soft else v_reset)
    with torch.no_grad():
        n.w.fill_(0.3)
    x = _drive(1)
    s, _ = run_steps(n, x)
    expect = ref_plif(x.astype(np.float64), sigmoid(0.3), 1.0, decay_input, soft, v_reset)
    assert 0.05 < expect.mean() < 0.9 and np.array_equal(s, expect)


def test_plif_computes_spikingjelly_expressions_bit_for_bit():
    """The state equals SpikingJelly's ParametricLIFNode expressions evaluated in float32."""
    x = torch.as_tensor(_drive(6))
    for decay_input in (True, False):
        n = snn.PLIF(6, decay_input=decay_input)
        with torch.no_grad():
            n.w.fill_(-0.7)
        r = n.w.detach().sigmoid()
        snn.reset(n)
        v = torch.zeros(x.shape[1:])
        with torch.no_grad():
            for xt in x:
                s = n(xt)
                h = v + (xt - v) * r if decay_input else v * (1.0 - r) + xt   # v_reset = 0
                v = (1.0 - (h > 1.0).float()) * h
                assert torch.equal(s, (h > 1.0).float()) and torch.equal(n.v, v)


@pytest.mark.parametrize("granularity, squash", [("layer", "sigmoid"), ("neuron", "sigmoid"),
                                                 ("neuron", "tanh")])
def test_dalif_matches_reference_formula(granularity, squash):
    n = snn.DALIF(6, granularity=granularity, squash=squash)
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, n.alpha_logit.shape), rng.normal(1, 1, n.beta_logit.shape)
    with torch.no_grad():
        n.alpha_logit.copy_(torch.tensor(a)), n.beta_logit.copy_(torch.tensor(b))
    x = _drive(2)
    s, _ = run_steps(n, x)
    f = sigmoid if squash == "sigmoid" else np.tanh
    expect = ref_dalif(x.astype(np.float64), f(a), f(b), 1.0)
    assert 0.05 < expect.mean() < 0.9 and np.array_equal(s, expect)


@pytest.mark.parametrize("decay_input, soft, scale_reset, k", [
    (True, False, False, 1.3), (True, True, False, 1.3), (True, False, True, 1.3),
    (False, True, True, 1.3), (True, False, False, 2.8)])
def test_klif_matches_reference_formula(decay_input, soft, scale_reset, k):
    n = snn.KLIF(6, tau=2.0, decay_input=decay_input, v_reset=None if soft else 0.0,
                 scale_reset=scale_reset, init_k=k)
    x = _drive(3)
    s, _ = run_steps(n, x)
    expect = ref_klif(x.astype(np.float64), np.float64(np.float32(k)), 2.0, 1.0,
                      decay_input, soft, scale_reset)
    assert 0.05 < expect.mean() < 0.9 and np.array_equal(s, expect)


@pytest.mark.parametrize("hard", [False, True])
def test_glif_matches_reference_formula(hard):
    steps = 8
    n = snn.GLIF(6, T=steps, gates="hard" if hard else "soft")
    rng = np.random.default_rng(4)
    p = {}
    with torch.no_grad():
        for name in ("alpha", "beta", "gamma", "tau", "vth", "leak", "revth", "conduct"):
            logit = getattr(n, f"{name}_logit")
            logit.add_(torch.tensor(rng.normal(0, 1, tuple(logit.shape)), dtype=torch.float32))
            p[name] = logit.numpy().astype(np.float64)
    x = _drive(5, steps=steps + 3, scale=0.8)       # 3 steps beyond T: conduct held at T-1
    s, _ = run_steps(n, x)
    expect = ref_glif(x.astype(np.float64), p, hard)
    assert 0.05 < expect.mean() < 0.9 and np.array_equal(s, expect)


# 2. gradients reach every learnable parameter ------------------------------------------------
@pytest.mark.parametrize("name, x, grad", [
    ("fast_sigmoid", 0.2, 1 / (5 * 0.2 + 1) ** 2), ("sigmoid", 0.0, 1.0), ("atan", 0.0, 1.0),
    ("rectangle", 0.49, 1.0), ("rectangle", 0.51, 0.0), ("rectangle", -0.49, 1.0)])
def test_surrogates_hand_values(name, x, grad):
    xs = torch.tensor([x], requires_grad=True)
    out = spike(xs, surrogate=name)
    out.sum().backward()
    assert float(out.detach()) == float(x > 0) and math.isclose(float(xs.grad), grad, rel_tol=1e-6)


def test_neurons_default_to_their_papers_surrogate():
    assert snn.PLIF(2).surrogate == snn.KLIF(2).surrogate == "sigmoid"     # SpikingJelly
    assert snn.GLIF(2, T=2).surrogate == "rectangle"                       # SpikeAct_extended
    assert set(SURROGATES) >= {"fast_sigmoid", "sigmoid", "atan", "rectangle"}


NEURONS = {
    "plif": lambda n: snn.PLIF(n),
    "plif_input_undecayed": lambda n: snn.PLIF(n, decay_input=False),
    "plif_soft": lambda n: snn.PLIF(n, v_reset=None),
    "plif_vreset": lambda n: snn.PLIF(n, v_reset=-0.3),
    "dalif": lambda n: snn.DALIF(n),
    "dalif_neuron": lambda n: snn.DALIF(n, granularity="neuron"),
    "klif": lambda n: snn.KLIF(n),
    "klif_soft_scaled": lambda n: snn.KLIF(n, v_reset=None, scale_reset=True),
    "klif_growing": lambda n: snn.KLIF(n, init_k=3.0),
    "glif": lambda n: snn.GLIF(n, T=T),
    "glif_hard": lambda n: snn.GLIF(n, T=T, gates="hard"),
    "glif_tied": lambda n: snn.GLIF(n, T=T, tie_conduct=True),
}


@pytest.mark.parametrize("kind", sorted(set(NEURONS) - {"glif_hard"}))
def test_gradients_reach_every_parameter(kind):
    torch.manual_seed(0)
    neuron = NEURONS[kind](8)
    layer = nn.Linear(5, 8)
    # positive drive: every neuron fires (reset terms get a gradient) and KLIF's ReLU stays
    # open; GLIF's rectangle surrogate needs u within 0.5 of Vth = 0.5, so a weaker drive
    with torch.no_grad():
        layer.weight.uniform_(*((0.05, 0.2) if kind.startswith("glif") else (0.0, 0.5)))
        layer.bias.zero_()
    x = torch.rand(T, 64, 5) * 2.0
    readout = torch.randn(T, 1, 8)
    snn.reset(neuron)
    loss = sum((neuron(layer(x[t])) * readout[t]).sum() for t in range(T))
    loss.backward()
    params = dict(neuron.named_parameters())
    assert params, kind
    for name, p in params.items():
        assert p.grad is not None, f"{kind}.{name}: no gradient"
        assert torch.all(p.grad != 0), f"{kind}.{name}: zero gradient entries {p.grad}"
    assert torch.any(layer.weight.grad != 0)


def test_glif_hard_gates_gradients():
    """Hard gates pass a straight-through gradient; a parameter a gate switches off gets none."""
    torch.manual_seed(0)
    neuron, layer = snn.GLIF(8, T=T, gates="hard"), nn.Linear(5, 8)
    signs = torch.tensor([1.0, -1.0] * 4)
    with torch.no_grad():
        layer.weight.uniform_(0.05, 0.2)        # fires now and then, not every step
        layer.bias.zero_()
        neuron.alpha_logit.copy_(signs)         # alpha = 1, 0, 1, 0, ...
        neuron.beta_logit.copy_(-signs)
        neuron.gamma_logit.copy_(signs)
    x, readout = torch.rand(T, 64, 5) * 2.0, torch.randn(T, 1, 8)
    snn.reset(neuron)
    sum((neuron(layer(x[t])) * readout[t]).sum() for t in range(T)).backward()
    on, off = signs < 0, signs > 0
    for name, p in neuron.named_parameters():
        g = p.grad
        if name == "leak_logit":                # leak enters as (1 - alpha) leak
            assert torch.all(g[on] != 0) and torch.all(g[off] == 0)
        elif name == "revth_logit":             # reVth enters as (1 - gamma) reVth o
            assert torch.all(g[on] != 0) and torch.all(g[off] == 0)
        elif name == "tau_logit":               # tau enters as alpha (1 - tau)
            assert torch.all(g[off] != 0) and torch.all(g[on] == 0)
        elif name == "conduct_logit":           # conduct enters as beta (1 - conduct)
            assert torch.all(g[:, on] != 0) and torch.all(g[:, off] == 0)
        else:
            assert torch.all(g != 0), name


# 3 + 4. exact float lowering and quantized agreement ---------------------------------------------
def _randomize(model: nn.Module, rng: np.random.Generator) -> None:
    """Trained-like neuron parameters, drawn around each neuron's defaults (per step for GLIF's
    conductance, so its input gain really varies over time)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, snn.PLIF):
                m.w.fill_(float(rng.normal(0, 1)))
            elif isinstance(m, snn.DALIF):
                m.alpha_logit.copy_(torch.tensor(rng.normal(0, 1, m.alpha_logit.shape)))
                m.beta_logit.copy_(torch.tensor(rng.normal(1, 1, m.beta_logit.shape)))
            elif isinstance(m, snn.KLIF):
                m.k.mul_(float(rng.uniform(0.7, 1.3)))
            elif isinstance(m, snn.GLIF):
                for name, p in m.named_parameters():
                    p.add_(torch.tensor(rng.normal(0, 1, tuple(p.shape)), dtype=torch.float32))


def _calibrate(model: nn.Sequential, stim: np.ndarray, target: float = 0.1) -> None:
    """Scale each Linear's weights so the neuron layer after it fires at about ``target``."""
    for lin, name in ((model[0], "1"), (model[2], "3")):
        w0, lo, hi = lin.weight.detach().clone(), 0.05, 20.0
        for _ in range(14):
            g = math.sqrt(lo * hi)
            with torch.no_grad():
                lin.weight.copy_(w0 * g)
            rate = run_float(model, stim, [name])[name].mean()
            lo, hi = (g, hi) if rate < target else (lo, g)


def _net(kind: str, seed: int, stim: np.ndarray, n_in: int = N_IN) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(n_in, N_HID), NEURONS[kind](N_HID),
                          nn.Linear(N_HID, N_OUT), NEURONS[kind](N_OUT))
    with torch.no_grad():
        for lin in (model[0], model[2]):
            lin.bias.uniform_(-0.05, 0.1)
    _randomize(model, np.random.default_rng(seed))
    _calibrate(model, stim)
    return model


@pytest.fixture(scope="module")
def stim():
    return (np.random.default_rng(7).random((T, B, N_IN)) < 0.2).astype(np.uint8)


EXPECTED_MAPPING = {"plif": EXACT_AFTER_FOLDING, "plif_input_undecayed": EXACT,
                    "plif_soft": GENERALISED, "plif_vreset": EXACT_AFTER_FOLDING,
                    "dalif": EXACT_AFTER_FOLDING, "dalif_neuron": EXACT_AFTER_FOLDING,
                    "klif": GENERALISED, "klif_soft_scaled": GENERALISED,
                    "klif_growing": GENERALISED, "glif": GENERALISED, "glif_hard": GENERALISED,
                    "glif_tied": GENERALISED}


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_lowered_float_graph_reproduces_spikes_exactly(kind, stim):
    for seed in (0, 1):
        model = _net(kind, seed, stim)
        lowered, table = lower_neurons(trace(model))
        assert {row.mapping for row in table} == {EXPECTED_MAPPING[kind]}
        ref = run_float(model, stim, ["1", "3"])
        for dtype in (np.float64, np.float32):
            got = simulate_float(lowered, stim, dtype=dtype)
            for name in ("1", "3"):
                assert 0.05 < ref[name].mean() < 0.3, (kind, name, ref[name].mean())
                assert np.array_equal(got[name], ref[name]), \
                    (kind, seed, name, dtype, int((got[name] != ref[name]).sum()))
            assert np.array_equal(got["output"], ref["3"])


def test_glif_time_varying_conductance_is_a_gain_table_not_an_approximation(stim):
    model = _net("glif", 0, stim)
    lowered, table = lower_neurons(trace(model))
    gain = model[1].to_ir("1").input_gain()
    assert float((gain.max(axis=0) - gain.min(axis=0)).max()) > 0.05      # it really varies
    node = lowered.node("1")
    assert node.input_gain is not None and np.array_equal(node.input_gain, gain)
    assert "per-step gain table" in table[0].note
    # the incoming weights are not scaled, and the leak stays a neuron bias (not gained)
    assert np.array_equal(lowered.node("0").weight, trace(model).node("0").weight)
    assert np.any(node.bias != 0)
    fixed = compile_model(model).fixed.node("1")
    assert fixed.input_gain.shape == (T, N_HID) and fixed.gain_start == fixed.bias_start == 1
    assert np.abs(fixed.input_gain / 4096 - gain.reshape(T, -1)).max() <= 0.5 / 4096
    # one conductance for all steps (tie_conduct): the gain is folded into the weights
    tied = lower_neurons(trace(_net("glif_tied", 0, stim)))[0]
    assert tied.node("1").input_gain is None


def test_glif_hard_gamma_one_is_stock_lif_exactly(stim):
    model = _net("glif_hard", 2, stim)
    with torch.no_grad():
        for m in (model[1], model[3]):
            m.gamma_logit.fill_(2.0)                        # gamma = 1: hard reset to 0
            m.beta_logit.fill_(-2.0)                        # beta = 0: input gain 1
            m.conduct_logit.normal_()                       # ...so conduct[t] is irrelevant
    lowered, table = lower_neurons(trace(model))
    assert {row.mapping for row in table} == {EXACT_AFTER_FOLDING}
    assert lowered.node("1").is_stock
    assert all(n.is_stock_lif for n in compile_model(model).fixed.of_type(FxNeuron))
    ref = run_float(model, stim, ["1", "3"])
    got = simulate_float(lowered, stim)
    assert all(np.array_equal(got[n], ref[n]) for n in ("1", "3"))


def test_klif_growth_uses_a_negative_voltage_decay():
    model = nn.Sequential(nn.Linear(4, 3), snn.KLIF(3, tau=2.0, init_k=2.5))
    c = compile_model(model)
    assert c.mapping[0].mapping == GENERALISED and "growing membrane" in c.mapping[0].note
    assert np.all(c.fixed.node("1").dv == round(4096 * (1 - 1.25)))        # 2.5 * (1 - 1/2)
    assert not c.fixed.node("1").is_stock_lif


def test_klif_growth_beyond_two_is_rejected_with_layer_and_value():
    model = nn.Sequential(nn.Linear(4, 3), snn.KLIF(3, tau=2.0, init_k=4.5))
    with pytest.raises(SnnccError) as err:
        compile_model(model)
    msg = str(err.value)
    assert "'1'" in msg and "2.25" in msg and "> 2" in msg      # 4.5 * (1 - 1/2)


def test_dalif_negative_temporal_decay_is_rejected():
    model = nn.Sequential(nn.Linear(4, 3), snn.DALIF(3, squash="tanh"))
    with torch.no_grad():
        model[1].beta_logit.fill_(-0.5)
    with pytest.raises(SnnccError, match=r"'1'.*-0\.46"):
        compile_model(model)


def test_generalised_layers_carry_their_drive_as_a_neuron_bias_in_step_with_the_data(stim):
    """bias='auto': a generalised neuron's constant drive is a per-neuron 13-bit bias that starts
    at the layer's depth; a stock layer keeps the always-on axon."""
    c = compile_model(_net("plif_soft", 0, stim))
    for dense, neuron, depth in (("0", "1", 1), ("2", "3", 2)):
        assert c.fixed.node(dense).bias is None
        assert c.fixed.node(neuron).bias_start == depth and np.any(c.fixed.node(neuron).bias_mant)
    stock = compile_model(_net("plif", 0, stim)).fixed
    assert stock.node("0").bias is not None and stock.node("1").bias_start == 0
    assert all(n.is_stock_lif for n in stock.of_type(FxNeuron))
    assert isinstance(stock.node("0"), FxDense)


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_float_ir_round_trips_through_the_file_format(kind):
    torch.manual_seed(0)
    graph = trace(nn.Sequential(nn.Linear(4, 3), NEURONS[kind](3)))
    again = serialize.from_dicts(*serialize.to_dicts(graph))
    a, b = graph.node("1"), again.node("1")
    assert type(a) is type(b) and a.reset == b.reset
    for key, arr in a.arrays().items():
        assert np.array_equal(arr, b.arrays()[key])
    assert lower_neurons(again)[1][0].mapping == lower_neurons(graph)[1][0].mapping


def test_fixed_point_graph_with_gain_table_round_trips(stim, tmp_path):
    fixed = compile_model(_net("glif", 1, stim)).fixed
    serialize.save(fixed, tmp_path)
    again = serialize.load(tmp_path).node("1")
    assert np.array_equal(again.input_gain, fixed.node("1").input_gain)
    assert (again.gain_start, again.bias_start) == (1, 1)


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_quantized_simulator_agrees_with_float_model(kind, stim):
    agree = []
    for seed in (0, 1):
        model = _net(kind, seed, stim)
        report = verify(model, compile_model(model), stim)
        assert 0.05 < report.layers[-1].rate_float < 0.3
        agree.append(report.output_agreement)
    assert np.mean(agree) >= 0.99, (kind, agree)


# trained on digits (tiny and short here; examples/train_seed_neurons.py trains the full ones)
@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    from examples.digits import load_digits_spikes
    return load_digits_spikes(T, seed=0)


def _train_digits(kind: str, digits, epochs: int, hidden: int, lr: float = 2e-3):
    from examples.digits import TrainConfig, evaluate, train
    from examples.train_seed_neurons import build
    x_tr, y_tr, x_te, y_te = digits
    model = build(kind, hidden, T, seed=0)
    train(model, x_tr, y_tr, TrainConfig(epochs=epochs, seed=0, lr=lr), log=None)
    return model, evaluate(model, x_te, y_te)


@pytest.mark.parametrize("kind", ["plif", "dalif", "klif", "glif"])
def test_briefly_trained_digits_model_agrees_after_quantization(kind, digits):
    model, acc = _train_digits(kind, digits, epochs=4, hidden=64, lr=1e-2)
    x_te, y_te = digits[2], digits[3]
    stimulus = np.ascontiguousarray(np.transpose(x_te, (1, 0, 2)))
    compiled = compile_model(model)
    lowered = simulate_float(compiled.lowered, stimulus)["3"]
    assert np.array_equal(lowered, run_float(model, stimulus, ["3"])["3"])   # exact lowering
    report = verify(model, compiled, stimulus, labels=y_te)
    assert acc > 0.5 and report.layers[-1].rate_float > 0.01, (kind, acc)   # it learned something
    assert report.output_agreement >= 0.99, (kind, report.output_agreement)
    assert abs(report.accuracy_quant - report.accuracy_float) <= 0.02


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["plif", "dalif", "klif", "glif", "glif_hard", "glif_tied"])
def test_fully_trained_digits_model_agrees_after_quantization(kind, digits):
    """The models of the table in docs/concepts/neurons.md (examples/train_seed_neurons.py settings)."""
    flush = torch.set_flush_denormal(True)      # as the example: hard-gate GLIF hits subnormals
    try:
        model, acc = _train_digits(kind, digits, epochs=30, hidden=128)
    finally:
        torch.set_flush_denormal(False)
    assert flush
    x_te, y_te = digits[2], digits[3]
    stimulus = np.ascontiguousarray(np.transpose(x_te, (1, 0, 2)))
    report = verify(model, compile_model(model), stimulus, labels=y_te)
    floor = 0.5 if kind == "glif_hard" else 0.9      # hard gates learn slowly at this budget
    assert acc > floor and report.output_agreement >= 0.99, (kind, acc, report.output_agreement)


def test_example_writes_models_that_snncc_compile_reports_per_layer(tmp_path, capsys, monkeypatch):
    """examples/train_seed_neurons.py end to end (1 epoch), then ``snncc compile`` on its model
    files: every layer's mapping class and its measured quantization errors are printed."""
    import json
    import sys

    from examples.train_seed_neurons import main as train_main
    from snncc import cli
    assert train_main(["--out", str(tmp_path), "--epochs", "1", "--hidden", "16",
                       "--neurons", "plif", "klif", "glif"]) == 0
    rows = {r["neuron"]: r for r in json.loads((tmp_path / "seed_table.json").read_text())["rows"]}
    assert {k: rows[k]["mapping"] for k in rows} == {"plif": EXACT_AFTER_FOLDING,
                                                     "klif": GENERALISED, "glif": GENERALISED}
    assert all(r["lowered_float_agreement"] == 1.0 for r in rows.values())
    table = (tmp_path / "seed_table.md").read_text()
    assert "| glif |" in table and "generalised" in table
    capsys.readouterr()
    monkeypatch.setattr(cli.console, "width", 400)
    for kind, mapping in (("plif", EXACT_AFTER_FOLDING), ("klif", GENERALISED),
                          ("glif", GENERALISED)):
        monkeypatch.setattr(sys, "argv", ["snncc", "compile", str(tmp_path / kind / "model.pt"),
                                          "-o", str(tmp_path / f"build_{kind}")])
        try:
            cli.main()
        except SystemExit as exc:
            assert exc.code in (0, None)
        out = capsys.readouterr().out
        layer_rows = [line for line in out.splitlines() if f"│ {kind} " in line]
        assert len(layer_rows) == 2 and all(mapping in line for line in layer_rows), out
        assert all(line.count("%") >= 4 for line in layer_rows)      # weight/thr/decay/other err
