"""PilotNet LIF against Intel's published numbers (lava-dl's PilotNet notebooks): the mapper's
per-layer cores, and the time and energy model's frames/s and energy per inference."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import loihi2_pilotnet as pn  # noqa: E402
from snncc.targets.loihi.energy import LOIHI2_COSTS, Activity, estimate  # noqa: E402
from snncc.targets.loihi.mapping import layer_rows, map_loihi2  # noqa: E402

GTS = (Path(__file__).resolve().parent.parent / ".venv-lava/lib/python3.10/site-packages/tests"
       / "lava/lib/dl/netx/gts/pilotnet_lif")


@pytest.fixture(scope="module")
def placement():
    return map_loihi2(pn.build_pilotnet())


def test_pilotnet_maps_to_intels_core_table(placement):
    rows = {r["layer"]: r for r in layer_rows(placement)}
    assert list(rows) == list(pn.PUBLISHED_TABLE)
    assert abs(placement.cores - pn.PUBLISHED_CORES) <= 0.15 * pn.PUBLISHED_CORES
    within_one = [l for l, pub in pn.PUBLISHED_TABLE.items() if abs(rows[l]["cores"] - pub[0]) <= 1]
    assert len(within_one) == len(rows)
    # the measured result: every layer exact, and the conv tiles hold Intel's neuron counts
    assert placement.cores == 74
    for layer in ("input", "conv1", "conv2", "conv3", "conv4", "conv5"):
        assert rows[layer]["neurons_per_core"] == pn.PUBLISHED_TABLE[layer][1]
    assert placement.chips == 1
    # Intel's SynMem and AxonMap columns are per-core means: 8 of 10 exact, AxonMap 9 of 10
    # (the output layer's one axon is the host's read-out), input axons 9 of 10 (the input
    # layer's bias-driven neurons need none here, one in Intel's table)
    cmp = {r["layer"]: r for r in pn.compare_table(placement)}
    words = [l for l, r in cmp.items() if round(r["synapse_words"]) == r["published_words"]]
    assert sorted(set(cmp) - set(words)) == ["conv2", "conv3"]
    assert cmp["conv2"]["synapse_words"] == pytest.approx(864 * 0.75)     # 25% under
    assert cmp["conv3"]["synapse_words"] == pytest.approx(1620 * 0.8)     # 20% under
    axon_map = [l for l, r in cmp.items() if round(r["axons_out"]) == r["published_axon_map"]]
    assert sorted(set(cmp) - set(axon_map)) == ["fc4"]
    axons_in = [l for l, r in cmp.items() if r["axons_in"] == r["published_axons_in"]]
    assert sorted(set(cmp) - set(axons_in)) == ["input"]


@pytest.mark.skipif(not (GTS / "network.net").exists(), reason="lava-dl's PilotNet file absent")
def test_pilotnet_with_the_real_netx_weights_maps_the_same():
    p = map_loihi2(pn.build_pilotnet(netx=pn.read_netx_weights(GTS / "network.net")))
    assert [r["cores"] for r in layer_rows(p)] == [v[0] for v in pn.PUBLISHED_TABLE.values()]


@pytest.mark.skipif(not (GTS / "input.npy").exists(), reason="lava-dl's recordings absent")
def test_stored_rates_are_lava_dls_recorded_spikes():
    measured = pn.rates_from_gts(GTS)
    assert measured == pytest.approx(pn.RATES, abs=5e-5)


def test_time_and_energy_within_25_percent_of_the_anchor(placement):
    a = pn.agreement(placement)
    assert abs(a["fps_error"]) <= 0.25 and abs(a["energy_error"]) <= 0.25
    # the energy is not fitted: Loihi 1's published energies + the anchor's static power
    fitted = [k for k, v in LOIHI2_COSTS.SOURCES if v.startswith("fitted")]
    assert fitted == ["speed"]
    assert 0.10 <= a["energy_error"] <= 0.20          # measured: +16.4% (docs/loihi2-mapping.md)


def test_stored_speed_is_the_fit_to_the_anchor(placement):
    assert pn.fit_speed(placement) == pytest.approx(LOIHI2_COSTS.speed, rel=2e-3)
    # and the anchor is compute-bound on a core (no host I/O: the frame is the input bias)
    e = pn.predict(placement)
    assert e.bound == "core" and e.host_io_s == 0


def test_time_scales_with_activity_and_static_energy_with_time(placement):
    slow = pn.predict(placement, {k: 2 * v for k, v in pn.RATES.items()})
    fast = pn.predict(placement)
    assert slow.step_time_s > 1.5 * fast.step_time_s
    assert slow.static_energy_j / fast.static_energy_j == pytest.approx(
        slow.step_time_s / fast.step_time_s)
    assert slow.synops == pytest.approx(2 * fast.synops)


def test_host_io_dominates_a_small_network():
    from helpers import fx_chain
    g = fx_chain([np.ones((32, 64), np.int64), np.ones((10, 32), np.int64)], [{}, {}])
    e = estimate(map_loihi2(g), Activity(), steps=8)
    assert e.bound == "host I/O" and e.host_io_s > 10 * (e.step_time_s - e.host_io_s)
    # 64 inputs and 10 outputs at 0.1 spikes/step
    assert e.host_io_s == pytest.approx(LOIHI2_COSTS.host_s_per_value * (6.4 + 1.0))


def test_barrier_grows_with_chips_and_inter_chip_traffic_is_counted():
    from helpers import fx_chain
    g = fx_chain([np.ones((4000, 16), np.int64)] + [np.ones((4000, 4000), np.int64)] * 2,
                 [{}, {}, {}])
    p = map_loihi2(g)
    assert p.chips >= 2
    e = estimate(p, Activity(default=0.05))
    assert e.inter_chip_messages > 0 and e.energy_parts["inter-chip messages"] > 0
    one = estimate(map_loihi2(pn.build_pilotnet()), Activity(pn.RATES))
    assert e.barrier_s > one.barrier_s == LOIHI2_COSTS.t_barrier
    with_speed = estimate(p, Activity(default=0.05), costs=replace(LOIHI2_COSTS, speed=1.0))
    assert with_speed.step_time_s > e.step_time_s
