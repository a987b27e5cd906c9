"""NIR's non-spiking nodes (LI, CubaLI, I) read as non-spiking readouts (``CubaLIF`` with
``spiking=False``, snncc/ir/readout.py): their membrane is the output, under each
producer's convention."""
from __future__ import annotations

import nir
import numpy as np

from snncc.backends.nir import from_nir
from snncc.passes import lower_neurons
from snncc.passes.float_sim import simulate_float

def _graph(node, n=2):
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([n])}),
                               "fc": nir.Linear(weight=np.eye(n)),
                               "out": node,
                               "output": nir.Output(output_type={"output": np.array([n])})},
                        edges=[("input", "fc"), ("fc", "out"), ("out", "output")])


def _v(graph, x):
    states: dict = {}
    lowered = lower_neurons(graph)[0]
    spikes = simulate_float(lowered, x, states=states)
    assert not spikes["out"].any()                  # a readout never spikes
    return states["out"]


def test_li_euler_readout_integrates_as_the_ode():
    tau, dt = 1e-2, 1e-3                              # r = tau/dt: Euler unit gain
    li = nir.LI(tau=np.full(2, tau), r=np.full(2, tau / dt), v_leak=np.zeros(2))
    graph = from_nir(_graph(li), dt=dt)
    assert graph.node("out").spiking is False
    x = np.zeros((5, 1, 2), np.float32)
    x[0] = 1.0
    v = _v(graph, x)[:, 0, 0]
    np.testing.assert_allclose(v, [0.9 ** t for t in range(5)], rtol=1e-6)


def test_integrator_and_cuba_readouts():
    i_node = nir.I(r=np.ones(2))                      # unit pulses: v += x per step
    x = np.ones((4, 1, 2), np.float32)
    np.testing.assert_allclose(_v(from_nir(_graph(i_node), dt=1e-3), x)[:, 0, 0], [1, 2, 3, 4])
    dt = 1e-3
    cuba = nir.CubaLI(tau_syn=np.full(2, 2e-3), tau_mem=np.full(2, 1e-2), r=np.full(2, 10.0),
                      v_leak=np.zeros(2), w_in=np.full(2, 2.0))
    graph = from_nir(_graph(cuba), dt=dt)
    node = graph.node("out")
    np.testing.assert_allclose(node.alpha, 0.5, rtol=1e-6)
    np.testing.assert_allclose(node.beta, 0.9, rtol=1e-6)
    x = np.zeros((3, 1, 2), np.float32)
    x[0] = 1.0
    # i: 1, 0.5, 0.25; v: 1, 0.9 + 0.5, 0.9*1.4 + 0.25
    np.testing.assert_allclose(_v(graph, x)[:, 0, 0], [1.0, 1.4, 1.51], rtol=1e-6)
