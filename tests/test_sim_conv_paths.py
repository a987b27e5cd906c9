"""The binary-input conv paths of the fast simulator against the stepper, bit for bit.

Each path (event loop ``events_jit.spike_conv``, pattern tables ``conv_lut.py`` in each
of their layouts, im2col + matmul) is forced on random convs over kernel sizes, strides, paddings, groups and spike
densities, on kernels whose sums wrap at 24 bits, and the automatic choice is checked to
pick the tables or the events from the measured density.
"""
from __future__ import annotations

import numpy as np
import pytest

from test_sim_fast import assert_same, random_neuron
from snncc.backends.sim import Plan, conv_lut, jit, simulate, simulate_fast, spatial
from snncc.backends.sim.xp import get_ops
from snncc.ir import FxConv, Graph, Input, Output

needs_numba = pytest.mark.skipif(not jit.available(), reason="numba not installed")
PATHS = ["events", "lut", "lut-gather", "lut-rows", "lut-packed", "matmul"]


def conv_net(seed: int, wrap: bool = False) -> tuple[Graph, np.ndarray]:
    """input -> conv -> neuron -> output with a random kernel size, stride, padding, groups
    (1-16 channels per group: several table chunks; multiples of 8 take the packed
    tables; 1-19 outputs per group: the tables sum blocks of 8 outputs, then the rest), bias
    and density; ``wrap``: 3x3 kernels over 64-75 channels per group with large
    same-sign weights and a high exponent, so the sums pass 2**23 and wrap."""
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 2] if wrap else [1, 2, 4]))
    cig = int(rng.choice([64, 67, 72, 75])) if wrap else int(rng.choice([1, 2, 3, 5, 8, 16]))
    c_in, c_out = groups * cig, groups * int(rng.choice([1, 2, 3, 5, 8, 11, 16, 19]))
    kh, kw = (3, 3) if wrap else (int(rng.integers(1, 6)), int(rng.integers(1, 4)))
    h, w = int(rng.integers(kh, 10)), int(rng.integers(kw, 10))
    shape = (c_in, h, w)
    if wrap:
        weight = rng.integers(150, 256, (c_out, c_in // groups, kh, kw)) * \
            rng.choice([-1, 1], (c_out, 1, 1, 1))
        exp = 7
    else:
        weight, exp = rng.integers(-255, 256, (c_out, c_in // groups, kh, kw)), \
            int(rng.integers(0, 8))
    conv = FxConv("c", weight=weight, weight_exp=exp,
                  stride=(int(rng.integers(1, 4)), int(rng.integers(1, 3))),
                  padding=(int(rng.integers(0, kh)), int(rng.integers(0, kw))),
                  groups=groups, in_shape=shape)
    if rng.random() < 0.5:
        conv.bias = rng.integers(-255, 256, int(np.prod(conv.out_shape)))
        conv.bias_exp, conv.bias_start = int(rng.integers(0, 6)), int(rng.integers(0, 3))
    g = Graph()
    g.add(Input("input", shape=shape))
    g.add(conv, ["input"])
    steps = int(rng.integers(2, 8))
    neuron = random_neuron(rng, "n", int(np.prod(conv.out_shape)), steps, extreme=wrap)
    neuron.shape = conv.out_shape
    g.add(neuron, ["c"])
    g.add(Output("output"), ["n"])
    x = rng.random((steps, int(rng.integers(1, 6))) + shape) < \
        rng.uniform(0.6 if wrap else 0.02, 0.98)
    return g, x.astype(np.uint8)


@needs_numba
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("wrap", [False, True], ids=["random", "wrap"])
def test_every_conv_path_matches_the_stepper(path, seed, wrap, monkeypatch):
    """``lut-<layout>`` forces the tables read in that layout (``conv_lut.layout``)."""
    g, x = conv_net(1000 * wrap + seed, wrap)
    conv = g.node("c")
    if path.startswith("lut-"):
        layout = path[4:]
        if layout == "packed" and (conv.in_shape[0] // conv.groups) % 8:
            pytest.skip("channels per group not a multiple of 8")
        monkeypatch.setattr(conv_lut, "layout", lambda *args: layout)
    monkeypatch.setattr(spatial, "CONV_PATH", path[:3] if path.startswith("lut") else path)
    ref = simulate(g, x, record_states=True)
    assert_same(ref, simulate_fast(g, x, record_states=True), path)
    assert_same(ref, simulate_fast(g, x, window=1), f"{path}, one-step windows")


@pytest.mark.parametrize("seed", range(16))
def test_wrapping_nets_do_wrap(seed):
    g, x = conv_net(1000 + seed, True)
    kernel = Plan(g, get_ops("numpy")).kernels["c"]
    assert kernel._sum_bound(1) >= spatial.HALF
    flat = x.reshape(len(x) * x.shape[1], -1).astype(bool)
    raw, _ = kernel._sums(flat, 1)                        # im2col + matmul, unwrapped
    assert np.abs(raw).max() >= spatial.HALF              # the sums do pass 2**23 ...
    assert np.abs(kernel.synapse(flat, 1)).max() <= spatial.HALF     # ... and wrap


@needs_numba
def test_the_path_follows_the_measured_density():
    g = Graph()
    g.add(Input("input", shape=(8, 8, 8)))
    g.add(FxConv("c", weight=np.ones((16, 8, 3, 3), int), stride=2, padding=1,
                 in_shape=(8, 8, 8)), ["input"])
    kernel = Plan(g, get_ops("numpy")).kernels["c"]
    x = np.zeros((100, 512), bool)
    x[:, ::64] = True                                     # 1/64 of the inputs spike
    assert kernel._binary_path(x, 1) == "events"
    x[:, ::4] = True                                      # 1/4: the tables win
    assert kernel._binary_path(x, 1) == "lut"
    assert kernel._binary_path(x.astype(np.int8), 1) is None     # not binary: matmul


@needs_numba
@pytest.mark.parametrize("case", [((8, 8, 8), 16, 1, 2, 0), ((16, 4, 6), 22, 2, 1, 1),
                                  ((8, 5, 5), 9, 1, 1, 2), ((24, 8, 4), 8, 1, 2, None)])
def test_packed_tables_with_bias_match_the_stepper(case, monkeypatch):
    """The packed tables (H*W a multiple of 8 or not, 8-22 outputs per group, grouped),
    with the bias axon from step 1 or later, match the stepper at every density."""
    shape, c_out, groups, stride, bias_start = case
    rng = np.random.default_rng(sum(shape) + c_out)
    conv = FxConv("c", weight=rng.integers(-255, 256, (c_out, shape[0] // groups, 3, 3)),
                  weight_exp=2, stride=stride, padding=1, groups=groups, in_shape=shape)
    if bias_start is not None:
        conv.bias = rng.integers(-255, 256, int(np.prod(conv.out_shape)))
        conv.bias_exp, conv.bias_start = 3, bias_start
    g = Graph()
    g.add(Input("input", shape=shape))
    g.add(conv, ["input"])
    neuron = random_neuron(rng, "n", int(np.prod(conv.out_shape)), 6)
    neuron.shape = conv.out_shape
    g.add(neuron, ["c"])
    g.add(Output("output"), ["n"])
    monkeypatch.setattr(spatial, "CONV_PATH", "lut")
    assert Plan(g, get_ops("numpy")).kernels["c"]._layout == "packed"
    for density in (0.05, 0.3, 0.9):
        x = (rng.random((6, 5) + shape) < density).astype(np.uint8)
        ref = simulate(g, x, record_states=True)
        assert_same(ref, simulate_fast(g, x, record_states=True), f"density {density}")
        assert_same(ref, simulate_fast(g, x, window=2), f"density {density}, windows")
