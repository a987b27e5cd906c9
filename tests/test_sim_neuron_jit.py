"""The compiled neuron loops (``neuron_jit.py``) against the stepper, bit for bit.

Two loops: the stepper's int64 operations (exact with no bound) and a float64 loop
specialised by flags (current mode, reset flavour, input gain, delayed reset, wrap), taken
where ``NeuronKernel.float_safe`` proves float64 exact.  Every combination of the flags that
shapes the loop is run here (and readouts, floors, late biases), the wrap really happening
where it is on; saturating inputs take the int64 loop.  A later time window whose state
came from much larger inputs must not trust a bound computed from zero.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from snncc.backends.sim import jit, simulate, simulate_fast
from snncc.backends.sim import neuron as neuron_mod
from snncc.backends.sim import neuron_jit as nj
from snncc.backends.sim.stepper import NeuronExec
from snncc.backends.sim.xp import get_ops
from snncc.ir import FxDense, FxNeuron, Graph, Input, Output
from snncc.targets.loihi import fixedpoint as fx
from test_sim_fast import assert_same

needs_numba = pytest.mark.skipif(not jit.available(), reason="numba not installed")
U_MODES = {nj.U_CLEARED: 4095, nj.U_KEPT: -1, nj.U_DECAY: None}     # du per mode
RESETS = (nj.RESET_ZERO, nj.RESET_SUBTRACT, nj.RESET_GENERAL)


@pytest.fixture
def loops(monkeypatch):
    """The loops the compiled runner picks: a list of ``"int64"`` or the float64 flags."""
    taken: list = []
    pick = neuron_mod.NeuronKernel._jit_loop

    def spy(self, *args):
        fn, head = pick(self, *args)
        flags = [k for k, f in nj.lif_window_f64.variants.items() if f is fn]
        taken.append(flags[0] if flags else "int64")
        return fn, head
    monkeypatch.setattr(neuron_mod.NeuronKernel, "_jit_loop", spy)
    return taken


def one_layer(rng, u_mode: int, reset: int, gain: bool, delayed: bool, wrap: bool,
              spiking: bool = True, n_in: int = 5, n: int = 7, steps: int = 12):
    """Input -> Dense -> FxNeuron with the given loop flags; ``wrap``: weights large enough
    that the 24-bit current wrap can (and, for the all-ones input, does) happen."""
    vec = lambda lo, hi: rng.integers(lo, hi + 1, n)          # noqa: E731
    du = U_MODES[u_mode]
    du = np.full(n, du) if du is not None else vec(0, 4094)
    vth = vec(0, 3000)
    mult, sub = {nj.RESET_ZERO: (np.zeros(n, int), np.zeros(n, int)),
                 nj.RESET_SUBTRACT: (np.full(n, 4096), vth << 6)}.get(
        reset, (vec(-4096, 8192), vec(-5000, 50000)))
    g = Graph()
    g.add(Input("input", shape=(n_in,)))
    w = rng.integers(200, 256, (n, n_in)) if wrap else rng.integers(-40, 41, (n, n_in))
    g.add(FxDense("d0", weight=w, weight_exp=8 if wrap else 0), ["input"])
    g.add(FxNeuron("n0", shape=(n,), du=du, dv=vec(0, 4095), vth=vth,
                   bias_mant=vec(-500, 500), bias_exp=np.full(n, 2), reset_mult=mult,
                   reset_sub=sub, reset_delayed=delayed,
                   floor=int(rng.integers(-5000, 0)) if rng.random() < 0.5 else None,
                   input_gain=rng.integers(0, 8193, (4, n)) if gain else None,
                   gain_start=1, bias_start=int(rng.integers(0, 3)), spiking=spiking), ["d0"])
    g.add(Output("output"), ["n0"])
    x = np.ones((steps, 3, n_in), np.uint8) if wrap else \
        (rng.random((steps, 3, n_in)) < 0.6).astype(np.uint8)
    return g, x


@needs_numba
@pytest.mark.parametrize("u_mode, reset, delayed",
                         list(itertools.product(sorted(U_MODES), RESETS, (False, True))))
def test_every_float64_loop_matches_the_stepper(u_mode, reset, delayed, loops):
    for gain, wrap in ((False, False), (True, True), (True, False), (False, True)):
        rng = np.random.default_rng(1000 * u_mode + 100 * reset + 10 * delayed + 2 * gain + wrap)
        g, x = one_layer(rng, u_mode, reset, gain, delayed, wrap, spiking=not (gain and wrap))
        ref = simulate(g, x, record_states=True)
        loops.clear()
        assert_same(ref, simulate_fast(g, x, record_states=True), f"{u_mode, reset, gain, wrap}")
        assert loops == [(u_mode, reset, gain, delayed, wrap)]
        if wrap:                                     # the wrap really changed the current
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(fx, "wrap_current", lambda u: u)
                assert not np.array_equal(simulate(g, x, record_states=True).u["n0"], ref.u["n0"])


@needs_numba
@pytest.mark.parametrize("seed", range(6))
def test_saturating_layers_take_the_int64_loop(seed, loops):
    """Inputs far beyond 2**40 (weight_exp 30): float64 would round; int64 is exact."""
    rng = np.random.default_rng(seed)
    spiking = bool(seed % 3)
    g, x = one_layer(rng, int(rng.integers(3)), int(rng.integers(3)), bool(seed % 2),
                     bool(seed % 3 == 1), True, spiking=spiking)
    g.node("d0").weight_exp = 30
    ref = simulate(g, x, record_states=True)
    assert_same(ref, simulate_fast(g, x, record_states=True))
    assert loops == ["int64"]
    if not spiking:                                    # a readout shows the voltage clip
        assert np.abs(ref.v["n0"]).max() == fx.V_MAX


@pytest.mark.parametrize("backend", ["numpy", "numpy-nojit", "torch"])
def test_a_later_window_does_not_trust_a_bound_from_zero(backend, monkeypatch):
    """Window 1 drives u far past 2**23 (Lava's wrap moves it by 2**24 only once a step);
    window 2 has tiny inputs, so a bound from zero would say "never wraps", but u is still
    large and must keep wrapping as the stepper does."""
    if backend == "numpy-nojit":
        monkeypatch.setenv(jit.ENV, "0")
    if backend == "torch":
        pytest.importorskip("torch")
    ops = get_ops(backend.split("-")[0], **({"device": "cpu"} if backend == "torch" else {}))
    n, batch = 3, 2
    node = FxNeuron("n0", shape=(n,), du=np.full(n, -1), dv=np.zeros(n, int),
                    vth=np.full(n, fx.VTH_MAX), bias_mant=np.zeros(n, int),
                    bias_exp=np.zeros(n, int), reset_mult=np.zeros(n, int),
                    reset_sub=np.zeros(n, int))
    a = np.zeros((10, batch, n), np.int64)
    a[:3] = 2 ** 21                                           # u: 2**27 a step
    kernel = neuron_mod.NeuronKernel(ops, node)
    state = kernel.new_state(batch)
    got = [kernel.run(ops.asarray(a[t0:t1]), bound, True, t0=t0, state=state, total_steps=10)
           for t0, t1, bound in ((0, 3, 2 ** 21), (3, 10, 1))]
    ref, u_ref = NeuronExec(node, batch), []
    for t in range(10):
        ref.emit(t, [a[t]])
        u_ref.append(ref.u.copy())
    u_got = np.concatenate([ops.to_numpy(u) for _, u, _ in got])
    assert np.array_equal(u_got, np.array(u_ref).astype(np.int32))
    assert len(set(u_got[3:, 0, 0].tolist())) == 7           # it kept wrapping in window 2


@pytest.mark.parametrize("seed", range(4))
def test_readout_layers_match_the_stepper(seed):
    """A non-spiking readout (``spiking=False``: never fires, v is the output) behind
    spiking layers, on every arithmetic path of the default runner."""
    rng = np.random.default_rng(seed)
    g, x = one_layer(rng, seed % 3, int(rng.integers(3)), bool(seed % 2), False, False,
                     spiking=False)
    ref = simulate(g, x, record_states=True)
    assert not ref.spikes["n0"].any() and ref.v["n0"].any()
    assert_same(ref, simulate_fast(g, x, record_states=True))
