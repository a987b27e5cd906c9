"""lava-dl netx files as model input: read as is into the fixed-point IR, run by every runner,
checked against lava-dl's own netx loading in Lava, refused by name where netx would not
build them, and read as hostile input (HDF5 external storage, links, declared sizes).
"""
import h5py
import numpy as np
import pytest

from helpers import run_cli as cli
from netx_files import conv_net, cuba, sdnn_net, write
from snncc import api
from snncc.backends import get_runner
from snncc.backends.lava.netx_model import NetxOptions
from snncc.backends.lava.netx_read import read_netx
from snncc.errors import SnnccError

lava = pytest.mark.lava


def _graded(steps, batch, shape, hi=50, seed=0):
    return np.random.default_rng(seed).integers(0, hi, (steps, batch, int(np.prod(shape))))


def _all_runners_agree(graph, x):
    ref = get_runner("sim")(graph, x, record_states=True)
    for name in ("fast", "torch"):
        other = get_runner(name)(graph, x, record_states=True)
        for layer in graph.meta["netx"]["blocks"]:
            assert np.array_equal(np.asarray(ref.spikes[layer]).astype(np.int64),
                                  np.asarray(other.spikes[layer]).astype(np.int64)), (name, layer)
            assert np.array_equal(ref.u[layer], other.u[layer]), (name, layer)
            assert np.array_equal(ref.v[layer], other.v[layer]), (name, layer)
    return ref


def test_conv_file_reads_as_netx_builds_it(tmp_path):
    g = read_netx(conv_net(tmp_path / "c.net"))
    kinds = [g.node(n).kind for n in g.order()]
    assert kinds == ["input", "fx_neuron", "fx_conv", "fx_neuron", "fx_conv", "fx_neuron",
                     "fx_dense", "fx_neuron", "output"]
    conv = g.node("conv1_syn")
    assert conv.stride == (2, 2) and conv.padding == (1, 1) and conv.in_shape == (2, 8, 8)
    inp = g.node("input0")       # netx's input neuron: no synapse, no bias, du = iDecay - 1
    assert g.inputs_of("input0") == ["input"] and inp.du[0] == 4095 and not inp.bias_mant.any()
    assert g.meta["graded_input"] and g.meta["netx"]["blocks"] == ["input0", "conv1", "conv2",
                                                                   "dense4"]
    bias = g.node("conv1").bias_mant.reshape(4, 4, 4)   # per channel, broadcast in (C, H, W)
    assert np.all(bias == bias[:, :1, :1])
    ref = _all_runners_agree(g, _graded(12, 3, (2, 8, 8)))
    assert all(np.any(ref.spikes[b]) for b in g.meta["netx"]["blocks"])


def test_delays_sdnn_and_reset_run_the_same_in_every_runner(tmp_path):
    g = read_netx(conv_net(tmp_path / "d.net", seed=2, delay=True), NetxOptions(reset_interval=7))
    assert g.node("dense4_syn").kind == "fx_delay_dense"
    assert [g.node(b).reset_offset for b in g.meta["netx"]["blocks"]] == [1, 2, 3, 4]
    _all_runners_agree(g, _graded(20, 2, (2, 8, 8), seed=1))
    s = read_netx(sdnn_net(tmp_path / "s.net"))
    assert [s.node(b).kind for b in s.meta["netx"]["blocks"]] == \
        ["fx_delta", "fx_sigma_delta", "fx_sigma_delta", "fx_sigma"]
    ref = _all_runners_agree(s, _graded(10, 2, (2, 6, 6), hi=30, seed=3) - 15)
    assert ref.spikes["conv1"].dtype == np.int32 and np.abs(ref.spikes["conv1"]).max() > 1


def test_options_are_lava_dl_network_arguments():
    assert NetxOptions.parse(["num_layers=5", "reset_interval=16"]) == \
        NetxOptions(num_layers=5, reset_interval=16)
    for bad in (["sparse_fc_layer=1"], ["num_layers"], ["spike_exp=x"], ["reset_interval=0"]):
        with pytest.raises(SnnccError):
            NetxOptions.parse(bad)


# --- what netx itself would not build the same way: refused by name --------------------------

def _dense(n_out=3, n_in=4, **extra):
    return {"type": "dense", "shape": np.array([n_out]), "neuron": lambda g: cuba(g),
            "weight": np.arange(n_out * n_in, dtype=np.float32).reshape(n_out, n_in) - 5, **extra}


@pytest.mark.parametrize("layers, needle", [
    ([{"type": "input", "shape": np.array([4])}, _dense(), {"type": "average",
                                                          "shape": np.array([1])}],
     "num_layers=2"),
    ([{"type": "input", "shape": np.array([4])}, {"type": "pool", "shape": np.array([4])}],
     "'pool' layers"),
    ([{"type": "input", "shape": np.array([4])}, _dense(weight=np.zeros((3, 4), np.float32))],
     "cannot load"),
    ([{"type": "input", "shape": np.array([4])}, _dense(n_in=5)], "5 inputs"),
    ([{"type": "input", "shape": np.array([1, 4, 4])},
      {"type": "conv", "shape": np.array([2, 2, 2]), "weight": np.ones((2, 1, 3, 3), np.float32),
       "dilation": np.array([2, 2]), "stride": 1, "padding": 0, "groups": 1,
       "neuron": lambda g: cuba(g)}], "dilat"),
    ([{"type": "input", "shape": np.array([4])}, _dense(delay=np.array([-1, 0, 1], np.float32))],
     "negative delays"),
    ([{"type": "input", "shape": np.array([4])}, {"type": "dense", "shape": np.array([3]),
                                                  "weight": np.ones((3, 4), np.float32),
                                                  "neuron": lambda g: g.create_group("neuron")}],
     "malformed"),
])
def test_refusals_name_the_layer_and_cause(tmp_path, layers, needle):
    with pytest.raises(SnnccError) as err:
        read_netx(write(tmp_path / "x.net", layers))
    assert needle in err.value.cause and "netx layer" in err.value.cause


def test_hdf5_without_layers_is_not_netx(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["nodes"] = np.zeros(3)
    with pytest.raises(SnnccError, match="not a lava-dl netx network"):
        read_netx(tmp_path / "other.h5")


# --- hostile HDF5 -------------------------------------------------------------------------------

def _base(path):
    return write(path, [{"type": "input", "shape": np.array([4])}, _dense()])


def test_external_link_storage_virtual_and_sizes_are_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(12, dtype=np.float32).tobytes())
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["w"] = np.ones((3, 4), np.float32)
    cases = {}
    p = _base(tmp_path / "link.net")
    with h5py.File(p, "a") as f:
        del f["layer/1/weight"]
        f["layer/1/weight"] = h5py.ExternalLink(str(other), "w")
    cases[p] = "external link"
    p = _base(tmp_path / "external.net")
    with h5py.File(p, "a") as f:
        del f["layer/1/weight"]
        f.create_dataset("layer/1/weight", (3, 4), np.float32, external=[(str(secret), 0, 48)])
    cases[p] = "external storage"
    p = _base(tmp_path / "virtual.net")
    with h5py.File(p, "a") as f:
        del f["layer/1/weight"]
        layout = h5py.VirtualLayout((3, 4), np.float32)
        layout[...] = h5py.VirtualSource(str(other), "w", shape=(3, 4))
        f.create_virtual_dataset("layer/1/weight", layout)
    cases[p] = "virtual dataset"
    p = _base(tmp_path / "huge.net")
    with h5py.File(p, "a") as f:
        f.create_dataset("layer/1/junk", (2 ** 20, 2 ** 12), np.float64, chunks=(1, 64),
                         compression="gzip")
    cases[p] = "decoded"
    p = _base(tmp_path / "ref.net")
    with h5py.File(p, "a") as f:
        f.create_dataset("layer/1/refs", (1,), h5py.ref_dtype)
    cases[p] = "only numbers"
    for path, needle in cases.items():
        with pytest.raises(SnnccError) as err:
            read_netx(path)
        assert needle in err.value.cause, (path.name, err.value.cause)


def test_declared_neurons_are_capped_before_allocating(tmp_path):
    p = write(tmp_path / "many.net", [{"type": "input", "shape": np.array([2 ** 14, 2 ** 14]),
                                       "neuron": lambda g: cuba(g)}])
    with pytest.raises(SnnccError, match="neurons"):
        read_netx(p)


# --- the CLI, as a user types it -------------------------------------------------------------

def test_every_verb_on_a_netx_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)           # the default -o build lands here, never in the repo
    net = conv_net(tmp_path / "conv.net")
    np.savez(tmp_path / "x.npz", x=np.swapaxes(_graded(10, 2, (2, 8, 8)), 0, 1)
             .reshape(2, 10, 2, 8, 8))
    code, out, err = cli(capsys, monkeypatch, "inspect", net)
    assert code == 0 and "read lava-dl netx file conv.net as is" in out, err
    code, out, err = cli(capsys, monkeypatch, "compile", net, "-o", tmp_path / "b")
    assert code == 0 and (tmp_path / "b" / "lava_network.py").exists(), err
    code, out, err = cli(capsys, monkeypatch, "run", tmp_path / "b", "--input", tmp_path / "x.npz",
                         "-o", tmp_path / "s1.npz")
    assert code == 0, err
    code, out, err = cli(capsys, monkeypatch, "run", net, "--input", tmp_path / "x.npz",
                         "--backend", "fast", "-o", tmp_path / "s2.npz")
    assert code == 0, err
    a, b = np.load(tmp_path / "s1.npz"), np.load(tmp_path / "s2.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a.files)
    code, out, err = cli(capsys, monkeypatch, "export-nir", net, "-o", tmp_path / "n.nir")
    assert code == 0 and (tmp_path / "n.nir").exists(), err
    code, out, err = cli(capsys, monkeypatch, "compile", net, "--calibrate", tmp_path / "x.npz")
    assert code == 2 and "already quantized" in err
    code, out, err = cli(capsys, monkeypatch, "inspect", net, "--netx-arg", "bogus=1")
    assert code == 2 and "--netx-arg" in err


def test_binary_data_for_a_netx_file_without_input_neuron(tmp_path, capsys, monkeypatch):
    net = conv_net(tmp_path / "c.net", input_neuron=False)
    np.savez(tmp_path / "x.npz", x=np.full((1, 4, 2, 8, 8), 3))
    code, out, err = cli(capsys, monkeypatch, "run", net, "--input", tmp_path / "x.npz")
    assert code == 2 and "not binary" in err
    code, out, err = cli(capsys, monkeypatch, "run", net, "--input", tmp_path / "x.npz",
                         "--netx-arg", "input_message_bits=16")
    assert code == 0, err


def test_export_nir_float_network_runs_close_to_the_integers(tmp_path):
    """The NIR export is the float network the integers stand for: snncc reading it back and
    simulating it in float reproduces the first layer's spikes of the integer network on a
    short run (the float model has no rounding toward zero and no synapse latency)."""
    from snncc.backends.lava.netx_model import float_graph
    from snncc.passes.float_sim import simulate_float
    g = read_netx(conv_net(tmp_path / "c.net"))
    fg = float_graph(g, 1e-3)
    x = _graded(8, 2, (2, 8, 8), seed=4)
    ref = get_runner("sim")(g, x)
    flt = simulate_float(fg, x.astype(np.float64))
    assert np.array_equal(flt["input0"], ref.spikes["input0"])     # no synapse: same timing
    api.export_nir(tmp_path / "c.net", tmp_path / "c.nir")
    assert (tmp_path / "c.nir").stat().st_size > 0


@lava
def test_verify_compares_every_runner_with_lava_dl_netx(tmp_path, capsys, monkeypatch):
    net = conv_net(tmp_path / "conv.net", seed=5, delay=True)
    x = _graded(9, 1, (2, 8, 8), seed=6)
    np.savez(tmp_path / "x.npz", x=np.swapaxes(x, 0, 1))
    code, out, err = cli(capsys, monkeypatch, "verify", net, "--data", tmp_path / "x.npz",
                         "--backend", "fast", "--json", tmp_path / "r.json",
                         "--netx-arg", "reset_interval=5")
    assert code == 0, err
    import json
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["format"] == "snncc.netx-verify-report" and report["backend"] == "fast"
    assert report["summary"] == {"mismatches": 0, "bit_exact": True}, report["bit_exact"]
    assert all(l["spikes_per_sample"]["reference"] > 0 for l in report["layers"])
    assert "bit-exact: yes" in out


@lava
def test_sdnn_file_matches_lava_in_activations(tmp_path):
    net = sdnn_net(tmp_path / "s.net", seed=1)
    x = _graded(8, 1, (2, 6, 6), hi=40, seed=2) - 20
    np.savez(tmp_path / "x.npz", x=np.swapaxes(x, 0, 1))
    report = api.verify(net, tmp_path / "x.npz", backend="lava").report
    assert report["summary"]["bit_exact"], report["bit_exact"]
    assert all(l["spikes_per_sample"]["snncc"] > 0 for l in report["layers"])
