"""Loihi 2 partitioner and placer: figures by hand, every per-core limit met exactly and
exceeded by one, chips, routes, and clear errors where nothing can fit."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import fx_chain
from snncc.errors import SnnccError
from snncc.ir import FxDense, FxNeuron, Graph, Input, Output
from snncc.ir.fixed_spatial import FxConv
from snncc.targets.loihi.mapping import (LOIHI2, SYNAPSE_ESTIMATORS, SYSTEMS, core_rows,
                                         layer_rows, map_loihi2, register_synapse_estimator)


def _neuron(name, shape, **vary):
    n = int(np.prod(shape))
    z = np.zeros(n, np.int64)
    params = dict(du=z + 4095, dv=z, vth=z + 10, bias_mant=z, bias_exp=z, reset_mult=z,
                  reset_sub=z)
    params.update({k: np.asarray(v, np.int64) for k, v in vary.items()})
    return FxNeuron(name, shape=tuple(shape), **params)


def _flat(n: int, n_in: int = 1, bias: bool = False, **vary) -> Graph:
    """input (n_in) -> dense -> n neurons -> output."""
    g = Graph()
    g.add(Input("input", shape=(n_in,)))
    b = np.ones(n, np.int64) if bias else None
    g.add(FxDense("d", weight=np.ones((n, n_in), np.int64), bias=b), ["input"])
    g.add(_neuron("n", (n,), **vary), ["d"])
    g.add(Output("output"), ["n"])
    return g


def _cores(g, name="n", **kw):
    return map_loihi2(g, **kw).layer(name).cores


def test_small_network_by_hand():
    # 10 inputs -> 20 neurons -> 5 neurons (split sign, a bias axon, per-neuron thresholds)
    rng = np.random.default_rng(0)
    g = fx_chain([rng.integers(1, 100, (20, 10)), rng.integers(-100, 100, (5, 20))],
                 [{"vth": 100}, {"vth": [10, 20, 30, 40, 50]}])
    from dataclasses import replace
    g.replace(replace(g.node("d1"), split_sign=True, bias=np.ones(5, np.int64)))
    p = map_loihi2(g)
    assert (p.cores, p.chips) == (2, 1)
    rows = {r["layer"]: r for r in layer_rows(p)}
    # n0: 20 neurons, 2 slots each; 10 axons x ceil(20 x 16 / 64) = 5 words
    assert rows["n0"]["synapse_words"] == 10 * 5 and rows["n0"]["axons_in"] == 10
    assert rows["n0"]["neurons_per_core"] == 20 and rows["n0"]["axons_out"] == 20
    assert rows["n0"]["slots_util"] == pytest.approx(40 / 8192)
    # n1: split sign doubles the axons (20 x 2) plus the bias axon; 3 slots (vth varies)
    assert rows["n1"]["axons_in"] == 41
    assert rows["n1"]["synapse_words"] == 41 * 2            # ceil(5 x 16 / 64) = 2 per axon
    assert rows["n1"]["slots_util"] == pytest.approx(5 * 3 / 8192)
    assert rows["n1"]["axons_out"] == 0 and rows["n1"]["core_range"] == [1, 1]
    cores = core_rows(p)
    assert [c["layer"] for c in cores] == ["n0", "n1"]
    assert cores[1]["position"] == [0, 1] and cores[1]["box"] == [[0, 5], [0, 1], [0, 1]]


# ---- every per-core limit: met exactly -> one core, exceeded by one -> split or refused ----

def test_neuron_slots_exactly_full_is_split_like_intels_compiler():
    # 2 slots per LIF neuron, 8,192 per core, never filled to the last slot
    assert _cores(_flat(4095)) == 1
    assert _cores(_flat(4096)) == 2
    # a threshold per neuron costs one more slot: 2,730 x 3 = 8,190 fits, 2,731 x 3 = 8,193
    assert _cores(_flat(2730, vth=np.arange(2730) % 7 + 1)) == 1
    assert _cores(_flat(2731, vth=np.arange(2731) % 7 + 1)) == 2


def test_synapse_words_met_exactly_and_exceeded_by_one():
    # 4,000 axons x ceil(12 x 16 / 64) = 3 words = 12,000 = the SynMem budget
    assert _cores(_flat(12, 4000)) == 1
    # with a bias axon: (1,090 + 1) axons x ceil(44 x 16 / 64) = 11 words = 12,001
    p = map_loihi2(_flat(44, 1090, bias=True))
    assert p.layer("n").cores == 2
    assert layer_rows(p)[0]["synapse_words"] == 1091 * 6      # 22 neurons per core


def test_input_axons_met_exactly_then_fan_in_is_split_not_refused():
    assert _cores(_flat(4, 4096)) == 1
    p = map_loihi2(_flat(4, 4097))
    rows = {r["layer"]: r for r in layer_rows(p)}
    partial = rows["n.fan_in"]
    assert partial["kind"] == "fan_in_split" and partial["shape"] == [4, 2, 1]
    assert partial["axons_in"] == 2049 and partial["cores"] == 2      # one core per group
    assert rows["n"]["encoding"] == "graded" and rows["n"]["axons_in"] == 4 * 2
    assert rows["n"]["fan_in_groups"] == 2


def test_output_axons_met_exactly_and_exceeded_by_one():
    def fan_out(n, consumers):
        g = Graph()
        g.add(Input("input", shape=(1,)))
        g.add(FxDense("d", weight=np.ones((n, 1), np.int64)), ["input"])
        g.add(_neuron("n", (n,)), ["d"])
        for k in range(consumers):
            g.add(FxDense(f"r{k}", weight=np.ones((1, n), np.int64)), ["n"])
            g.add(_neuron(f"m{k}", (1,)), [f"r{k}"])
            g.add(Output(f"o{k}"), [f"m{k}"])
        return g
    assert _cores(fan_out(256, 16)) == 1                 # 256 neurons x 16 layers = 4,096
    p = map_loihi2(fan_out(241, 17))                     # 241 x 17 = 4,097
    assert p.layer("n").cores == 2 and layer_rows(p)[0]["axons_out"] == 121 * 17


def test_cores_per_chip_met_exactly_then_second_chip_or_refused():
    # 128 flat layers of one core each; the 129th goes to a second chip
    def layers(k):
        g = Graph()
        g.add(Input("input", shape=(1,)))
        prev = "input"
        for i in range(k):
            g.add(FxDense(f"d{i}", weight=np.ones((1, 1), np.int64)), [prev])
            g.add(_neuron(f"n{i}", (1,)), [f"d{i}"])
            prev = f"n{i}"
        g.add(Output("output"), [prev])
        return g
    p = map_loihi2(layers(128), system="oheo-gulch")
    assert (p.cores, p.chips) == (128, 1)
    p = map_loihi2(layers(129))
    assert (p.cores, p.chips) == (129, 2)
    assert p.core_list[128].chip == 1 and p.core_list[128].position == (0, 0)
    assert p.core_list[127].position == (7, 15)
    with pytest.raises(SnnccError, match=r"layer 'n128' does not fit oheo-gulch \(1 chip\(s\)\)"
                                         r".*129 exceed the limit of 128 by 1"):
        map_loihi2(layers(129), system="oheo-gulch")
    assert map_loihi2(layers(129), system="kapoho-point").chips == 2


def _conv_graph(c_in, c_out, hw, k=3, pad=1):
    g = Graph()
    g.add(Input("input", shape=(c_in, hw, hw)))
    conv = g.add(FxConv("conv", weight=np.ones((c_out, c_in, k, k), np.int64), padding=(pad, pad),
                        in_shape=(c_in, hw, hw)), ["input"])
    g.add(_neuron("lif", conv.out_shape), ["conv"])
    g.add(Output("output"), ["lif"])
    return g


def test_conv_tiles_are_power_of_two_columns_and_kernel_words_by_hand():
    p = map_loihi2(_conv_graph(3, 24, 64))
    (row,) = layer_rows(p)
    # 24 x 64 = 1,536 neurons per column: 2 columns (3,072) fit, 4 (6,144) do not
    assert row["tile"] == [24, 64, 2] and row["cores"] == 32
    # ones kernel: 1 bit (+1) x 24 channels -> 1 word per (c_in, ky, kx) row: 27 words
    assert row["synapse_words"] == 27 and row["axons_in"] == 1 and row["encoding"] == "conv"


def test_conv_row_band_over_the_fan_in_is_tiled_finer_not_refused():
    # sparse conv: a core reads its tile's receptive field; 64 channels x 10 padded rows x 64
    # columns would be 40,960 axons for a whole-width band
    p = map_loihi2(_conv_graph(64, 64, 64), conv_encoding="sparse")
    row = layer_rows(p)[0]
    assert row["axons_in"] <= LOIHI2.input_axons_per_core and row["encoding"] == "sparse"
    # with weight reuse the same layer needs 1 axon per core (stride 1)
    assert layer_rows(map_loihi2(_conv_graph(64, 64, 64)))[0]["axons_in"] == 1


def test_conv_kernel_over_synapse_memory_halves_channels_or_is_refused():
    # 256 input channels x 9 taps = 2,304 rows; 64 output channels x 2 bits -> 2 words each:
    # 4,608 words fit; 512 input channels x 9 x 4 words (128 channels) = 18,432 do not
    row = layer_rows(map_loihi2(_conv_graph(512, 128, 4)))[0]
    assert row["tile"][0] == 64 and row["synapse_words"] == 512 * 9 * 2
    # one output channel alone over the budget: 1,500 x 9 = 13,500 words -> refused by name
    with pytest.raises(SnnccError, match=r"layer 'lif' does not fit Loihi 2: synapse memory "
                                         r"\(words\) 13,500 exceeds the limit of 12,000 by 1,500"):
        map_loihi2(_conv_graph(1500, 1, 2))


def test_routes_and_inter_chip_traffic():
    from snncc.targets.loihi.energy import Activity, estimate
    p = map_loihi2(_conv_graph(3, 24, 64))
    edge = p.edges[0]                                     # host input -> the conv's 32 cores
    assert set(edge.src) == {-1} and len(edge.dst) == 32
    # every core reads its 2 columns +-1 (kernel 3, pad 1): 3 x 64 x (3 or 4) values
    assert sorted(set(edge.count)) == [3 * 64 * 3, 3 * 64 * 4]
    e = estimate(p, Activity({"input": 1.0}), steps=4)
    assert e.inter_chip_messages == 0 and e.messages == edge.count.sum()
    # conv taps counted exactly: sum over outputs of valid taps x 3 channels x 24 outputs
    taps = (np.minimum(np.arange(64) + 2, 64) - np.maximum(np.arange(64) - 1, 0)).sum()
    assert e.synops == pytest.approx(24 * 3 * taps * taps)


def test_unknown_synapse_kind_asks_for_an_estimator_and_registry_extends():
    g = _flat(3)
    saved = SYNAPSE_ESTIMATORS.pop("fx_dense")
    try:
        with pytest.raises(SnnccError, match="no Loihi 2 resource estimator for 'fx_dense'"):
            map_loihi2(g)
        register_synapse_estimator("fx_dense")(saved)
        assert map_loihi2(g).cores == 1
    finally:
        SYNAPSE_ESTIMATORS["fx_dense"] = saved


def test_limits_and_systems_carry_their_sources():
    sources = " ".join(v for _, v in LOIHI2.SOURCES)
    for figure in ("128 neuro-cores", "12000", "4,096", "8x16"):
        assert figure in sources
    assert LOIHI2.neuron_slots_per_core == 8192 and LOIHI2.cores_per_chip == 128
    assert {s.name: s.chips for s in SYSTEMS.values()} == {
        "oheo-gulch": 1, "kapoho-point": 8, "hala-point": 1152}
    with pytest.raises(SnnccError, match="unknown Loihi 2 system 'loihi9'"):
        map_loihi2(_flat(2), system="loihi9")
    with pytest.raises(SnnccError, match="unknown conv encoding"):
        map_loihi2(_flat(2), conv_encoding="csr")


def test_deep_models_map_with_delay_lines_as_relay_layers():
    import deep_models as dm
    from snncc.compiler import compile_model
    for model in (dm.vgg(grid=True), dm.sew(grid=True)):
        fixed = compile_model(model, (2, 8, 8)).fixed
        p = map_loihi2(fixed)
        assert p.cores >= len(p.layers) > 0
        # every core within every budget
        for c in core_rows(p):
            assert c["words_util"] <= 1 and c["axons_in_util"] <= 1 and c["slots_util"] < 1
    kinds = {r["kind"] for r in layer_rows(map_loihi2(fixed))}
    assert kinds == {"fx_neuron", "fx_delay"}


def _sew_resnet18_mapping(size):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from compile_sew_resnet18 import _stages, build, map_once
    fixed, _, _ = _stages(build(size), size)
    return map_once(fixed)


def test_sew_resnet18_64_partitions_over_a_kapoho_point():
    m = _sew_resnet18_mapping(64)
    # measured: 982 cores on 8 chips; 500 of them the readout's fan-in split (its avg pool
    # composed into the Linear: 3 sources x 2,048 positions x 2 signs = 12,289 axons)
    assert m["fits"] and m["chips"] == 8 and m["smallest_system"] == "kapoho-point"
    assert m["cores"] == 982 and m["fan_in_split_cores"] == {"sn_out.fan_in": 500}
    assert m["estimate"]["inter_chip_messages_per_step"] > 0


@pytest.mark.slow
def test_sew_resnet18_224_partitions_over_a_hala_point():
    m = _sew_resnet18_mapping(224)
    assert m["fits"] and m["chips"] == 63 and m["smallest_system"] == "hala-point"
    assert m["cores"] == 7968 and m["fan_in_split_cores"] == {"sn_out.fan_in": 4875}


def _tilings(cores_per_layer):
    """Tiled layers of the given core counts, for the placer alone (1 neuron per core)."""
    from snncc.targets.loihi.mapping_tiling import CoreTile, LayerSpec, LayerTiling
    out = []
    for i, n in enumerate(cores_per_layer):
        spec = LayerSpec(f"l{i}", "fx_neuron", (n, 1, 1), 2, [])
        cores = [CoreTile(spec.name, ((k, k + 1), (0, 1), (0, 1)), 1, 2, 0, 0, 0)
                 for k in range(n)]
        out.append(LayerTiling(spec, (1, 1, 1), ([(k, k + 1) for k in range(n)], [(0, 1)],
                                                 [(0, 1)]), cores))
    return out


@pytest.mark.parametrize("system, chips", [("kapoho-point", 8), ("hala-point", 1152)])
def test_system_chips_met_exactly_and_exceeded_by_one(system, chips):
    from snncc.targets.loihi.mapping_place import place
    full = chips * 128
    p = place(_tilings([full - 5, 5]), LOIHI2, SYSTEMS[system], {})
    assert (p.cores, p.chips) == (full, chips)
    with pytest.raises(SnnccError, match=rf"layer 'l1' does not fit {system} \({chips} chip\(s\)\)"
                                         rf": cores used up to this layer {full + 1:,} exceed the "
                                         rf"limit of {full:,} by 1"):
        place(_tilings([full - 5, 6]), LOIHI2, SYSTEMS[system], {})


def test_sparse_receptive_field_met_exactly_and_exceeded_by_one():
    # one output neuron reading c_in x 1 x 1: its fan-in cannot be split further
    g = _conv_graph(4096, 1, 1, k=1, pad=0)
    assert layer_rows(map_loihi2(g, conv_encoding="sparse"))[0]["axons_in"] == 4096
    with pytest.raises(SnnccError, match=r"layer 'lif' does not fit Loihi 2: fan-in \(input "
                                         r"axons per core\) 4,097 exceeds the limit of 4,096 by 1"):
        map_loihi2(_conv_graph(4097, 1, 1, k=1, pad=0), conv_encoding="sparse")
