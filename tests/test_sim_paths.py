"""Every path of the fast simulator against the stepper, bit for bit (spikes, u, v).

The paths: numba's compiled loops or plain numpy (``SNNCC_SIM_JIT``), event-driven synapses
or matmuls (forced by the density thresholds), and time windows of any length (the state
carried from one window to the next), on random, saturating, recurrent and conv networks
with delay lines, and readouts (``spiking=False``).  ``test_sim_fast.py`` covers the
arithmetic itself on the default paths; ``test_sim_neuron_jit.py`` each compiled neuron loop.
"""
from __future__ import annotations

import numpy as np
import pytest

from test_sim_fast import assert_same, random_chain, random_conv_net, recurrent_graph
from snncc.backends.sim import Plan, simulate, simulate_fast, simulate_windows
from snncc.backends.sim import events_jit, jit, spatial
from snncc.backends.sim.xp import get_ops


def readout_chain(seed: int):
    """A random chain whose last layer is a non-spiking readout (``spiking=False``)."""
    g, x = random_chain(seed)
    g.node(g.inputs_of("output")[0]).spiking = False
    return g, x


NETS = {"random": lambda s: random_chain(200 + s),
        "saturating": lambda s: random_chain(300 + s, extreme=True),
        "recurrent": lambda s: recurrent_graph(400 + s),
        "conv": lambda s: random_conv_net(500 + s),
        "readout": lambda s: readout_chain(600 + s)}

needs_numba = pytest.mark.skipif(not jit.available(), reason="numba not installed")


@pytest.fixture(params=["events", "lut", "matmul"])
def synapses(request, monkeypatch):
    """Force every binary Dense/Conv onto the event loops (convs: or the pattern tables),
    or onto the matmuls."""
    limit = -1.0 if request.param == "matmul" else 2.0
    monkeypatch.setattr(events_jit, "DENSE_EVENT_DENSITY", limit)
    monkeypatch.setattr(events_jit, "CONV_EVENT_DENSITY", limit)
    monkeypatch.setattr(spatial, "CONV_PATH", request.param)
    return request.param


@needs_numba
@pytest.mark.parametrize("net", sorted(NETS))
@pytest.mark.parametrize("seed", range(3))
def test_compiled_loops_match_the_stepper(net, seed, synapses):
    g, x = NETS[net](seed)
    ref = simulate(g, x, record_states=True)
    assert Plan(g, get_ops("numpy")).kernels          # sanity: kernels were made
    assert_same(ref, simulate_fast(g, x, record_states=True), f"jit/{synapses}")
    assert_same(ref, simulate_fast(g, x), f"jit/{synapses} (no states)")


@pytest.mark.parametrize("net", sorted(NETS))
def test_numpy_without_numba_matches_the_stepper(net, monkeypatch):
    monkeypatch.setenv(jit.ENV, "0")
    assert not jit.available()
    for seed in range(2):
        g, x = NETS[net](seed)
        assert_same(simulate(g, x, record_states=True), simulate_fast(g, x, record_states=True))


@pytest.mark.parametrize("backend", ["numpy", "numpy-nojit", "torch"])
@pytest.mark.parametrize("net", sorted(NETS))
def test_time_windows_do_not_change_results(net, backend, monkeypatch):
    if backend == "numpy-nojit":
        monkeypatch.setenv(jit.ENV, "0")
    options = {"backend": backend.split("-")[0]}
    if backend == "torch":
        pytest.importorskip("torch")
        options["device"] = "cpu"
    for seed in range(2):
        g, x = NETS[net](seed)
        ref = simulate(g, x, record_states=True)
        for window in (1, 2, 5):
            got = simulate_fast(g, x, record_states=True, window=window, **options)
            assert_same(ref, got, f"{backend} window {window}")


def test_windows_stream_in_order_and_cover_the_run():
    g, x = random_chain(11)
    x = np.repeat(x, 3, axis=1)
    seen = []
    for win in simulate_windows(g, x, window=4, batch_chunk=2):
        steps = next(iter(win.spikes.values())).shape[0]
        seen.append((win.b0, win.t0, steps))
        assert all(a.shape[:2] == (steps, min(2, x.shape[1] - win.b0))
                   for a in win.spikes.values())
    chunks = sorted({b for b, _, _ in seen})
    assert chunks == list(range(0, x.shape[1], 2))
    for b0 in chunks:
        times = [(t, n) for b, t, n in seen if b == b0]
        assert [t for t, _ in times] == list(range(0, x.shape[0], 4))
        assert sum(n for _, n in times) == x.shape[0]


def test_a_small_budget_cuts_time_into_windows():
    g, x = random_chain(5)
    x = np.repeat(x, 40, axis=0)              # a long run
    plan = Plan(g, get_ops("numpy"))
    chunk, window = plan.sizes(x.shape[0], x.shape[1], False, max_bytes=plan.step_bytes(False) * 8)
    assert window < x.shape[0]
    assert_same(simulate(g, x), simulate_fast(g, x, max_bytes=plan.step_bytes(False) * 8))


def test_long_run_memory_does_not_grow_with_time():
    """A run 16x longer keeps the same window size (memory bounded by the budget)."""
    g, x = random_chain(6)
    plan = Plan(g, get_ops("numpy"))
    budget = plan.step_bytes(False) * 64
    sizes = [plan.sizes(steps, 4, False, max_bytes=budget) for steps in (1000, 16000)]
    assert sizes[0] == sizes[1] and sizes[0][0] * sizes[0][1] * plan.step_bytes(False) <= budget


def test_event_threshold_follows_the_measured_density():
    dense, sparse = np.ones((4, 100), bool), np.zeros((4, 100), bool)
    sparse[0, :3] = True
    assert events_jit.prefer_events(sparse, 0.25) and not events_jit.prefer_events(dense, 0.25)
    assert not events_jit.prefer_events(sparse.astype(np.float32), 0.25)   # not binary


@pytest.mark.parametrize("net", sorted(NETS))
@pytest.mark.parametrize("synapses", ["events", "lut", "matmul"], indirect=True)
def test_synapse_rows_on_worker_threads_match_the_stepper(net, synapses, monkeypatch):
    """``Plan(threads=N)`` cuts each conv's rows among N threads (here parts of one row and
    up; a Dense stays one product): results identical, whatever the path."""
    from snncc.backends.sim.dense import SynapseKernel
    monkeypatch.setattr(SynapseKernel, "MIN_PART_ROWS", 1)
    for seed in range(2):
        g, x = NETS[net](seed)
        plan = Plan(g, get_ops("numpy"), threads=3)
        assert all(k.pool is not None for k in plan.kernels.values()
                   if isinstance(k, SynapseKernel))
        assert_same(simulate(g, x, record_states=True),
                     simulate_fast(g, x, record_states=True, plan=plan), f"threads/{synapses}")
