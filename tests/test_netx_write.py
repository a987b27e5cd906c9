"""snncc's netx writer for conv, pooling, flatten, delays, input neurons and periodic resets:
lava-dl's netx reads what snncc writes and agrees with the simulator bit for bit.

Pooling reaches the writer as the depthwise conv synapse it composes into (netx 0.6.0 cannot
load its own ``pool`` layers), so a pooled network is written with conv layers only.
"""
import dataclasses

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from helpers import run_cli as cli
from netx_files import conv_net, lavadl_tests, sdnn_net
from snncc.backends import get_runner
from snncc.backends.lava.netx import NETX_FILE, netx_problems, run_netx, write_netx
from snncc.backends.lava.netx_emit import _same_network
from snncc.backends.lava.netx_model import NetxOptions
from snncc.backends.lava.netx_read import read_netx
from snncc.backends.lava.netx_write import plan
from snncc.compiler import compile_model
from snncc.errors import SnnccError
from snncc.ir import FxDelayDense, FxLIFReset
from snncc.targets.loihi.quantize import netx_config

lava = pytest.mark.lava
SHAPE = (1, 8, 8)


def pooled_conv_model(seed=0):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), snn.LIF((4, 8, 8), beta=0.8, threshold=0.6),
                      nn.AvgPool2d(2), nn.Conv2d(4, 6, 3, stride=2, bias=True),
                      snn.LIF((6, 1, 1), beta=0.9, threshold=0.5), nn.Flatten(),
                      nn.Linear(6, 5, bias=False), snn.LIF(5, beta=0.85, threshold=0.4))
    with torch.no_grad():
        m[0].weight.mul_(3.0)
        m[3].weight.mul_(2.0)
    return m


def _stim(steps, batch, n, rate=0.4, seed=0):
    return (np.random.default_rng(seed).random((steps, batch, n)) < rate).astype(np.uint8)


def _roundtrip(graph, tmp_path, options=None):
    path = write_netx(graph, tmp_path / NETX_FILE)
    back = read_netx(path, options)
    assert _same_network(graph, back, plan(graph).blocks) == []
    return path, back


def test_pooled_conv_model_is_written_as_conv_layers(tmp_path):
    c = compile_model(pooled_conv_model(), SHAPE, config=netx_config())
    assert netx_problems(c.fixed) == []
    path, back = _roundtrip(c.fixed, tmp_path)
    with h5py.File(path) as f:
        types = [f[f"layer/{i}/type"][0].decode() for i in range(len(f["layer"]))]
    assert types == ["input", "conv", "conv", "flatten", "dense"]
    x = _stim(10, 2, 64)
    a, b = get_runner("sim")(c.fixed, x), get_runner("sim")(back, x)
    for node in c.fixed.of_type(type(c.fixed.node("1"))):
        assert np.array_equal(a.spikes[node.name], b.spikes[node.name])


@pytest.mark.parametrize("name, options", [("tiny.net", {}), ("tiny.net", {"reset_interval": 9}),
                                           ("gts/pilotnet_sdnn/network.net", {}),
                                           ("gts/ntidigits/ntidigits.net", {"num_layers": 5})])
def test_lava_dl_files_read_write_read_identically(tmp_path, name, options):
    root = lavadl_tests()
    if root is None:
        pytest.skip("lava-dl's netx test files are not installed")
    graph = read_netx(root / name, NetxOptions(**options))
    path, back = _roundtrip(graph, tmp_path, None)      # the file says which options it needs
    meaning = {k: v for k, v in options.items() if k not in ("num_layers", "skip_layers")}
    assert back.meta["netx"]["options"] == dataclasses.asdict(NetxOptions(**meaning))


def test_hand_written_conv_delay_and_sdnn_files_roundtrip(tmp_path):
    for i, (path, options) in enumerate([(conv_net(tmp_path / "a.net", delay=True), {}),
                                         (conv_net(tmp_path / "b.net", input_neuron=False),
                                          {"reset_interval": 4, "reset_offset": 2}),
                                         (sdnn_net(tmp_path / "c.net"), {"spike_exp": 3})]):
        graph = read_netx(path, NetxOptions(**options))
        out = tmp_path / f"out{i}"
        out.mkdir()
        _roundtrip(graph, out)


def test_what_netx_cannot_hold_is_refused_by_name(tmp_path):
    graph = read_netx(conv_net(tmp_path / "a.net"), NetxOptions(reset_interval=6))
    node = graph.node("conv2")
    graph.replace(dataclasses.replace(node, reset_offset=node.reset_offset + 1))
    assert any("netx's rule" in p for p in netx_problems(graph))
    s = read_netx(sdnn_net(tmp_path / "s.net"))
    s.replace(dataclasses.replace(s.node("conv1"), act_mode="unit"))
    assert any("ReLU" in p for p in netx_problems(s))
    d = read_netx(conv_net(tmp_path / "d.net", delay=True))
    syn = d.node("dense4_syn")
    d.replace(dataclasses.replace(syn, weight_exp=2))
    assert any("weight exponent 2" in p for p in netx_problems(d))
    with pytest.raises(SnnccError, match="cannot be written"):
        write_netx(d, tmp_path / "x.net")
    assert not (tmp_path / "x.net").exists()


def test_cli_hints_and_writes_netx_for_a_pooled_conv_model(tmp_path, capsys, monkeypatch):
    torch.save(pooled_conv_model(), tmp_path / "conv.pt")
    shape = ["--input-shape", "1", "--input-shape", "8", "--input-shape", "8"]
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "conv.pt", *shape, "-o", tmp_path / "a")
    assert code == 0 and "try --netx" in out, err
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "conv.pt", *shape, "--netx",
                         "-o", tmp_path / "b")
    assert code == 0 and (tmp_path / "b" / NETX_FILE).exists(), err


# --- lava-dl's netx runs what snncc writes, bit for bit ---------------------------------------

def _mismatches(graph, x, **kw):
    sim = get_runner("sim")(graph, x, record_states=True)
    nx = run_netx(graph, x, record_states=True, **kw)
    bad = {}
    for name in sim.u:
        assert np.any(sim.spikes[name]), f"{name} never spiked: the check would be vacuous"
        for key, a, b in (("s", sim.spikes, nx.spikes), ("u", sim.u, nx.u), ("v", sim.v, nx.v)):
            n = int(np.sum(np.asarray(a[name]).astype(np.int64) != np.asarray(b[name]).astype(np.int64)))
            if n:
                bad[f"{name}/{key}"] = n
    return bad


@lava
def test_pooled_conv_model_runs_in_lava_dl_netx_bit_for_bit():
    c = compile_model(pooled_conv_model(1), SHAPE, config=netx_config())
    assert _mismatches(c.fixed, _stim(12, 1, 64, 0.5, seed=2)) == {}


@lava
def test_delays_input_neuron_and_reset_written_run_in_lava_dl_netx(tmp_path):
    graph = read_netx(conv_net(tmp_path / "a.net", seed=3, delay=True), NetxOptions(reset_interval=5))
    assert any(isinstance(n, FxDelayDense) for n in graph.nodes())
    assert any(isinstance(n, FxLIFReset) for n in graph.nodes())
    x = np.random.default_rng(4).integers(0, 40, (14, 1, 128))
    assert _mismatches(graph, x) == {}


@lava
def test_sdnn_written_runs_in_lava_dl_netx_bit_for_bit(tmp_path):
    graph = read_netx(sdnn_net(tmp_path / "s.net", seed=4), NetxOptions(spike_exp=4))
    x = np.random.default_rng(5).integers(-30, 30, (8, 1, 72))
    assert _mismatches(graph, x) == {}
