"""The seed neurons (PLIF, DA-LIF, KLIF, GLIF): paper equations, gradients, exact lowering, quantization.

1. forward passes match the papers' equations: hand-computed traces and an independent
   straight-line numpy reimplementation of each formula (never the module itself);
2. BPTT reaches every learnable parameter;
3. the lowered canonical CUBA-LIF graph, run by the float reference stepper
   (:func:`snncc.passes.float_sim.simulate_float`), reproduces the torch model's spikes exactly;
4. the quantized simulator agrees with the float model on >= 99% of output spikes.
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
from snncc.ir import serialize
from snncc.ir.nodes import APPROXIMATE, EXACT, EXACT_AFTER_FOLDING, GENERALISED
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
])
def test_plif_hand_trace(kwargs, x, spikes, v_after):
    n = snn.PLIF(1, init_tau=2.0, **kwargs)
    assert float(n.reciprocal_tau().detach()) == 0.5
    s, v = run_steps(n, np.array(x, dtype=np.float32)[:, None, None])
    assert s.ravel().tolist() == spikes
    assert np.allclose(np.ravel(v), v_after, atol=1e-7)


def test_dalif_hand_trace():
    # alpha = 1/tau_a = 0.5, beta = 1 - 1/tau_b = 0.75: V = 0.75 H + 0.5 X
    n = snn.DALIF(1, tau_a=2.0, tau_b=4.0)
    s, v = run_steps(n, np.array([1.0, 1.0, 1.0, 4.0], dtype=np.float32)[:, None, None])
    # 0.5 | 0.875 | 1.15625 fire -> 0 | 2.0 fire -> 0
    assert s.ravel().tolist() == [0, 0, 1, 1]
    assert np.allclose(np.ravel(v), [0.5, 0.875, 0.0, 0.0], atol=1e-6)


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
    s, v = run_steps(n, np.array(x, dtype=np.float32)[:, None, None])
    assert s.ravel().tolist() == spikes
    assert np.allclose(np.ravel(v), v_after, atol=1e-6)


def _glif_logits(n: snn.GLIF, **values):
    with torch.no_grad():
        for name, v in values.items():
            p = getattr(n, f"{name}_logit")
            p.copy_(torch.as_tensor(v, dtype=torch.float32).expand_as(p))


def test_glif_hand_trace_hard_gates_plain_lif():
    # alpha=1, beta=0, gamma=1 (hard): u = tau u (1 - o) + x; tau = Vth = 0.5
    n = snn.GLIF(1, T=4, gates="hard")
    _glif_logits(n, alpha=3.0, beta=-3.0, gamma=3.0, tau=0.0, vth=0.0)
    s, u = run_steps(n, np.array([0.3, 0.3, 0.3, 0.1], dtype=np.float32)[:, None, None])
    # 0.3 | 0.45 | 0.525 fire | 0.5 * 0.525 * 0 + 0.1
    assert s.ravel().tolist() == [0, 0, 1, 0]
    assert np.allclose(np.ravel(u), [0.3, 0.45, 0.525, 0.1], atol=1e-6)


def test_glif_hand_trace_linear_leak_soft_reset_and_conduct():
    # alpha=0, gamma=0, beta=1: u = u - leak + conduct[t] x - reVth o[t-1]; leak = reVth = Vth = 0.5
    n = snn.GLIF(1, T=2, gates="hard")
    _glif_logits(n, alpha=-3.0, beta=3.0, gamma=-3.0, leak=0.0, revth=0.0, vth=0.0)
    with torch.no_grad():
        n.conduct_logit.copy_(torch.tensor([[0.0], [30.0]]))     # conduct = 0.5, then 1.0
    s, u = run_steps(n, np.array([3.0, 0.5, 0.5], dtype=np.float32)[:, None, None])
    # t0: -0.5 + 1.5 = 1.0 fire | t1: 1.0 - 0.5 + 0.5 - 0.5 = 0.5 (not > 0.5) | t2: conduct held
    # at conduct[T-1] = 1: 0.5 - 0.5 + 0.5 = 0.5
    assert s.ravel().tolist() == [1, 0, 0]
    assert np.allclose(np.ravel(u), [1.0, 0.5, 0.5], atol=1e-6)


# Straight-line numpy reimplementations of the papers' / reference code's formulas.
def ref_plif(x, r, vth, decay_input, soft):
    v, out = np.zeros(x.shape[1:]), []
    for xt in x:
        h = v + r * (xt - v) if decay_input else v - r * v + xt
        s = (h > vth).astype(float)
        v = h - vth * s if soft else h * (1 - s)
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


@pytest.mark.parametrize("decay_input, soft", [(True, False), (False, False), (True, True)])
def test_plif_matches_reference_formula(decay_input, soft):
    n = snn.PLIF(6, init_tau=3.0, decay_input=decay_input, v_reset=None if soft else 0.0)
    with torch.no_grad():
        n.w.fill_(0.3)
    x = _drive(1)
    s, _ = run_steps(n, x)
    expect = ref_plif(x.astype(np.float64), sigmoid(0.3), 1.0, decay_input, soft)
    assert 0.05 < expect.mean() < 0.9 and np.array_equal(s, expect)


def test_dalif_matches_reference_formula():
    n = snn.DALIF(6)
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 6), rng.normal(1, 1, 6)
    with torch.no_grad():
        n.alpha_logit.copy_(torch.tensor(a)), n.beta_logit.copy_(torch.tensor(b))
    x = _drive(2)
    s, _ = run_steps(n, x)
    expect = ref_dalif(x.astype(np.float64), sigmoid(a), sigmoid(b), 1.0)
    assert 0.05 < expect.mean() < 0.9 and np.array_equal(s, expect)


@pytest.mark.parametrize("decay_input, soft, scale_reset", [
    (True, False, False), (True, True, False), (True, False, True), (False, True, True)])
def test_klif_matches_reference_formula(decay_input, soft, scale_reset):
    n = snn.KLIF(6, tau=2.0, decay_input=decay_input, v_reset=None if soft else 0.0,
                 scale_reset=scale_reset, init_k=1.3)
    x = _drive(3)
    s, _ = run_steps(n, x)
    expect = ref_klif(x.astype(np.float64), np.float64(np.float32(1.3)), 2.0, 1.0,
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
NEURONS = {
    "plif": lambda n: snn.PLIF(n),
    "plif_input_undecayed": lambda n: snn.PLIF(n, decay_input=False),
    "plif_soft": lambda n: snn.PLIF(n, v_reset=None),
    "dalif": lambda n: snn.DALIF(n),
    "klif": lambda n: snn.KLIF(n),
    "klif_soft_scaled": lambda n: snn.KLIF(n, v_reset=None, scale_reset=True),
    "glif": lambda n: snn.GLIF(n, T=T),
    "glif_hard": lambda n: snn.GLIF(n, T=T, gates="hard"),
    "glif_tied": lambda n: snn.GLIF(n, T=T, tie_conduct=True),
}


@pytest.mark.parametrize("kind", sorted(set(NEURONS) - {"glif_hard"}))
def test_gradients_reach_every_parameter(kind):
    torch.manual_seed(0)
    neuron = NEURONS[kind](8)
    layer = nn.Linear(5, 8)
    with torch.no_grad():
        layer.weight.uniform_(0.0, 0.5)     # positive drive: every neuron fires (reset terms get
    x = torch.rand(T, 16, 5) * 2.0          # a gradient) and KLIF's ReLU stays open
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
        layer.weight.uniform_(0.0, 0.2)         # fires now and then, not every step
        neuron.alpha_logit.copy_(signs)         # alpha = 1, 0, 1, 0, ...
        neuron.beta_logit.copy_(-signs)
        neuron.gamma_logit.copy_(signs)
    x, readout = torch.rand(T, 16, 5) * 2.0, torch.randn(T, 1, 8)
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
def _randomize(model: nn.Module, rng: np.random.Generator, tie_conduct: bool = True) -> None:
    """Trained-like neuron parameters, drawn around each neuron's defaults."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, snn.PLIF):
                m.w.fill_(float(rng.normal(0, 1)))
            elif isinstance(m, snn.DALIF):
                m.alpha_logit.copy_(torch.tensor(rng.normal(0, 1, m.shape)))
                m.beta_logit.copy_(torch.tensor(rng.normal(1, 1, m.shape)))
            elif isinstance(m, snn.KLIF):
                m.k.fill_(float(rng.uniform(0.7, 1.8)))
            elif isinstance(m, snn.GLIF):
                for name, p in m.named_parameters():
                    noise = rng.normal(0, 1, p.shape[-1])
                    if name != "conduct_logit" or tie_conduct:
                        p.add_(torch.tensor(noise, dtype=torch.float32))
                    else:
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


def _net(kind: str, seed: int, stim: np.ndarray, tie_conduct: bool = True) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(N_IN, N_HID), NEURONS[kind](N_HID),
                          nn.Linear(N_HID, N_OUT), NEURONS[kind](N_OUT))
    with torch.no_grad():
        for lin in (model[0], model[2]):
            lin.bias.uniform_(-0.05, 0.1)
    _randomize(model, np.random.default_rng(seed), tie_conduct)
    _calibrate(model, stim)
    return model


@pytest.fixture(scope="module")
def stim():
    return (np.random.default_rng(7).random((T, B, N_IN)) < 0.2).astype(np.uint8)


EXPECTED_MAPPING = {"plif": EXACT_AFTER_FOLDING, "plif_input_undecayed": EXACT,
                    "plif_soft": GENERALISED, "dalif": EXACT_AFTER_FOLDING,
                    "klif": GENERALISED, "klif_soft_scaled": GENERALISED,
                    "glif": GENERALISED, "glif_hard": GENERALISED, "glif_tied": GENERALISED}


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


def test_reference_stepper_on_the_spine_neurons(stim):
    """simulate_float against snncc's own LIF / CUBA-LIF (zero and subtract reset)."""
    for make in (lambda n: snn.LIF(n, beta=torch.rand(n), threshold=torch.rand(n) + 0.3),
                 lambda n: snn.LIF(n, beta=torch.rand(n), reset="subtract"),
                 lambda n: snn.CubaLIF(n, alpha=torch.rand(n), beta=torch.rand(n))):
        torch.manual_seed(3)
        model = nn.Sequential(nn.Linear(N_IN, N_HID), make(N_HID), nn.Linear(N_HID, N_OUT),
                              make(N_OUT))
        _calibrate(model, stim)
        got = simulate_float(lower_neurons(trace(model))[0], stim)
        ref = run_float(model, stim, ["1", "3"])
        for name in ("1", "3"):
            assert ref[name].mean() > 0.05 and np.array_equal(got[name], ref[name])


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
    ref = run_float(model, stim, ["1", "3"])
    got = simulate_float(lowered, stim)
    assert all(np.array_equal(got[n], ref[n]) for n in ("1", "3"))


def test_glif_time_varying_conduct_is_approximate_with_measured_spread(stim):
    model = _net("glif", 0, stim, tie_conduct=False)
    _, table = lower_neurons(trace(model))
    assert {row.mapping for row in table} == {APPROXIMATE}
    # ... unless conduct is learned once for all steps (tie_conduct), whatever its values
    tied = _net("glif_tied", 0, stim, tie_conduct=False)
    assert tied[1].conduct_logit.shape == (1, N_HID)
    assert {row.mapping for row in lower_neurons(trace(tied))[1]} == {GENERALISED}
    gain = model[1].to_ir("1").input_gain()
    spread = float((gain.max(axis=0) - gain.min(axis=0)).max())
    assert spread > 0 and f"{spread:.4g}" in table[0].note


def test_klif_growing_membrane_is_rejected_with_layer_and_value():
    model = nn.Sequential(nn.Linear(4, 3), snn.KLIF(3, tau=2.0, init_k=2.5))
    with pytest.raises(SnnccError) as err:
        compile_model(model)
    msg = str(err.value)
    assert "'1'" in msg and "1.25" in msg and "> 1" in msg      # 2.5 * (1 - 1/2)


def test_dalif_negative_temporal_decay_is_rejected():
    model = nn.Sequential(nn.Linear(4, 3), snn.DALIF(3, squash="tanh"))
    with torch.no_grad():
        model[1].beta_logit.fill_(-0.5)
    with pytest.raises(SnnccError, match=r"'1'.*-0\.46"):
        compile_model(model)


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


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_quantized_simulator_agrees_with_float_model(kind, stim):
    agree = []
    for seed in (0, 1):
        model = _net(kind, seed, stim)
        report = verify(model, compile_model(model), stim)
        assert 0.05 < report.layers[-1].rate_float < 0.3
        agree.append(report.output_agreement)
    assert np.mean(agree) >= 0.99, (kind, agree)
