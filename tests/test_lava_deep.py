"""Deep networks on real Lava (lava-nc 0.10.0, fixed_pt): zero mismatches against the simulator.

Compiled with continuous random weights and per-neuron decays and thresholds (the realistic
case, not the grid models), each network runs in the generated ``lava_network.py``: Lava
``Conv`` for convolutions (pools composed into them), several ``Dense``/``Conv`` into one
neuron for residual adds, ``Sparse``/``DelaySparse`` + relay ``LIF`` delay lines for the
shortcuts, a ``Dense`` from a neuron's ``s_out`` into its own ``a_in`` for recurrence.
Every spike, u and v of every neuron layer must equal the simulator's.
"""
from __future__ import annotations

import numpy as np
import pytest

import deep_models as dm
from snncc.backends.lava import codegen
from snncc.compiler import compile_model
from snncc.ir import FxConv, FxDelay
from snncc.verify import cross_check
from test_conv import fxconv_graph

pytestmark = pytest.mark.lava

SHAPE = (2, 8, 8)


def _check(graph, x):
    layers = cross_check(graph, x, "lava")
    assert layers
    for layer in layers:
        assert (layer.spike_mismatches, layer.u_mismatches, layer.v_mismatches) == (0, 0, 0), layer
    return layers


def _active(graph, x, fraction=0.8):
    """Most neuron layers spike in the run (the check saw real activity)."""
    from snncc.backends import get_runner
    sim = get_runner("sim")(graph, x)
    names = [n for n in sim.spikes if n != "input"]
    assert sum(sim.spikes[n].any() for n in names) >= fraction * len(names)


def test_vgg_with_batchnorm_and_pooling_matches_lava():
    fixed = compile_model(dm.vgg(grid=False), SHAPE).fixed
    assert len(fixed.of_type(FxConv)) == 3
    source = codegen.generate(fixed)
    assert "Conv(weight=conv_kernel(" in source and "groups=2" in source
    x = dm.spikes(10, 2, SHAPE, 0.35)
    _active(fixed, x)
    _check(fixed, x)


def test_sew_resnet_blocks_match_lava():
    fixed = compile_model(dm.sew(grid=False), SHAPE).fixed
    assert {n.delay for n in fixed.of_type(FxDelay)} == {2, 4}
    source = codegen.generate(fixed)
    assert "DelaySparse(" in source
    x = dm.spikes(12, 2, SHAPE, 0.35, seed=1)
    _active(fixed, x)
    _check(fixed, x)


def test_spiking_resnet_with_max_pool_matches_lava():
    fixed = compile_model(dm.spiking_resnet(grid=False), SHAPE).fixed
    assert "Sparse(weights=sparse.identity(" in codegen.generate(fixed)   # a 1-step delay line
    x = dm.spikes(10, 2, SHAPE, 0.35, seed=2)
    _active(fixed, x)
    _check(fixed, x)


def test_recurrent_cuba_network_matches_lava():
    fixed = compile_model(dm.recurrent(grid=False), (12,)).fixed
    assert fixed.recurrent_inputs_of("1") == ["1.recurrent"]
    x = dm.spikes(12, 2, (12,), 0.35, seed=3)
    _active(fixed, x, 1.0)
    _check(fixed, x)


def test_conv_output_wraps_at_24_bits_in_lava_as_in_the_simulator():
    rng = np.random.default_rng(2)
    w = rng.integers(150, 256, size=(3, 48, 3, 3)) * np.array([1, -1, 1])[:, None, None, None]
    graph = fxconv_graph(w, 7, (48, 4, 5), padding=(1, 0), stride=(1, 2))
    x = (rng.random((3, 1, 48, 4, 5)) < 0.9).astype(np.uint8)
    layers = _check(graph, x)
    assert layers[0].name == "n"
