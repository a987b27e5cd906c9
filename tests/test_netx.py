"""lava-dl netx export: the network.net snncc writes, loaded by lava-dl 0.6.0's own
``netx.hdf5.Network`` and run under Lava's fixed_pt models, spikes (and u, v) exactly as
snncc's simulator does.

Timing: no offset to account for.  The file's input layer holds only a shape, so netx
creates no input neuron and ``Network.inp`` is layer 1's Dense input; every netx block is
Dense -> LIF, so each layer adds the same one-step Dense delay as in snncc's simulator and
generated Lava network (a layer at depth k answers input step t at step t + k in both).
Spikes and states are therefore compared step by step, unshifted.  (Had the file's input
layer carried a ``neuron`` group, netx would put an input LIF in front, which re-thresholds
the input before the first Dense.)
"""
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from helpers import fx_chain
from snncc.targets.loihi import fixedpoint as fx
from snncc.backends import get_runner
from snncc.backends.lava import find_lava_python, run_netx_file
from snncc.backends.lava.netx import (NETX_FILE, netx_loaded_weights, netx_problems, run_netx,
                                      write_netx)
from snncc.compiler import compile_model
from snncc.errors import SnnccError
from snncc.ir import FxNeuron, serialize
from snncc.targets.loihi.quantize import netx_config

lava = pytest.mark.lava


def _stim(steps, batch, n, rate, seed=0):
    return (np.random.default_rng(seed).random((steps, batch, n)) < rate).astype(np.uint8)


def mismatches(graph, x, neuron_arrays=False) -> dict[str, int]:
    """Values differing between the simulator and netx, per layer and quantity (s, u, v)."""
    sim = get_runner("sim")(graph, x, record_states=True)
    nx = run_netx(graph, x, record_states=True, neuron_arrays=neuron_arrays)
    out = {}
    for node in graph.of_type(FxNeuron):
        name = node.name
        assert sim.spikes[name].any(), f"layer {name} never spiked: the check would be vacuous"
        out[f"{name}/s"] = int(np.sum(sim.spikes[name] != nx.spikes[name]))
        out[f"{name}/u"] = int(np.sum(sim.u[name] != nx.u[name]))
        out[f"{name}/v"] = int(np.sum(sim.v[name] != nx.v[name]))
    return out


# --- models compiled with the netx preset --------------------------------------------------

def mlp(seed, layers, sizes=(24, 16, 6), bias=True):
    """Linear -> neuron chain with one decay and threshold per layer (netx's granularity)."""
    torch.manual_seed(seed)
    mods = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods += [nn.Linear(n_in, n_out, bias=bias[k] if isinstance(bias, tuple) else bias),
                 layers[k](n_out)]
    m = nn.Sequential(*mods)
    with torch.no_grad():
        m[0].weight.mul_(2.0)
    return m


LIF = lambda n: snn.LIF(n, beta=0.8, threshold=0.7)
LIF_SLOW = lambda n: snn.LIF(n, beta=0.95, threshold=1.1)
CUBA = lambda n: snn.CubaLIF(n, alpha=0.6, beta=0.85, threshold=0.6)

MODELS = {
    # Linear biases become neuron biases (mantissa << 6), acting from step 0
    "uniform LIF, biases": lambda: mlp(0, [LIF, LIF]),
    "uniform LIF, three layers": lambda: mlp(1, [LIF, LIF_SLOW, LIF], (24, 20, 12, 5)),
    "CUBA, no bias": lambda: mlp(2, [CUBA, CUBA], bias=False),
    # a CUBA layer (current decay) feeding a biased LIF layer
    "CUBA then biased LIF": lambda: mlp(3, [CUBA, LIF], bias=(False, True)),
}


@lava
@pytest.mark.parametrize("name", MODELS)
def test_compiled_netx_file_matches_simulator_bit_for_bit(name):
    c = compile_model(MODELS[name](), config=netx_config())
    assert netx_problems(c.fixed) == []
    weights = [d.weight for d in c.fixed.nodes() if d.kind == "fx_dense"]
    assert any(w.min() < 0 for w in weights)                 # negative weights are exercised
    x = _stim(16, 3, 24, 0.4, seed=len(name))
    bad = mismatches(c.fixed, x)
    assert sum(bad.values()) == 0, bad


# --- hand-built fixed-point networks: sign modes, netx's re-scaling, biases, CUBA -----------

def _rng_weights(rng, shape, lo, hi, step=1):
    return rng.integers(lo // step, hi // step + 1, shape) * step


@lava
def test_sign_modes_rescaling_and_cuba_bias_match_simulator():
    rng = np.random.default_rng(7)
    # layer 0: mixed, small even weights (netx scales them by 2**sb, exponent -sb);
    # layer 1: strictly negative (inhibitory); layer 2: excitatory, odd weights
    w0 = _rng_weights(rng, (10, 12), -40, 40, 2)
    w1 = -_rng_weights(rng, (8, 10), 3, 200)
    w2 = _rng_weights(rng, (4, 8), 1, 255)
    layers = [dict(du=1500, dv=200, vth=15, bias_mant=9, bias_exp=6),
              # negative weights only: a positive bias keeps it firing
              dict(du=4095, dv=50, vth=40, bias_mant=[700, -3, 900, 650, 800, 500, 720, 610],
                   bias_exp=6),
              dict(du=-1, dv=0, vth=3000, bias_mant=-2, bias_exp=7)]  # du = -1: no current decay
    g = fx_chain([w0, w1, w2], layers)
    assert netx_problems(g) == []
    loaded = [netx_loaded_weights(w) for w in (w0, w1, w2)]
    assert loaded[0][1] < 0 and loaded[1][1] == 0 == loaded[2][1]   # netx re-scales layer 0
    bad = mismatches(g, _stim(20, 2, 12, 0.5, seed=3))
    assert sum(bad.values()) == 0, bad


@lava
def test_per_neuron_parameters_as_arrays_run_in_netx_python_model():
    rng = np.random.default_rng(1)
    g = fx_chain([_rng_weights(rng, (6, 8), -128, 127, 2), _rng_weights(rng, (3, 6), -100, 100, 2)],
                 [dict(du=rng.integers(-1, 4096, 6), dv=rng.integers(0, 1000, 6),
                       vth=rng.integers(20, 200, 6), bias_mant=rng.integers(-20, 20, 6), bias_exp=6),
                  dict(du=[0, 100, 4095], dv=[10, 100, 1000], vth=[30, 60, 90])])
    assert any("per-neuron du/dv/vth" in p for p in netx_problems(g))
    assert netx_problems(g, neuron_arrays=True) == []
    bad = mismatches(g, _stim(16, 2, 8, 0.5, seed=1), neuron_arrays=True)
    assert sum(bad.values()) == 0, bad


# --- the loader mirror: what netx + Lava make of a weight matrix ---------------------------

REAL_LOADER = r"""
import contextlib, io, sys, warnings
import numpy as np
from snncc.backends.lava.netx_import import import_netx
import_netx()
from lava.lib.dl.netx.utils import optimize_weight_bits
from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights
mats = np.load(sys.argv[1])
out = {}
for k in mats.files:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w, bits, exp, _ = optimize_weight_bits(mats[k].astype(np.float32).astype(int))
    mode = determine_sign_mode(w)            # Lava's Dense: netx does not pass its sign mode
    out[k] = truncate_weights(clip_weights(w, mode, num_bits=8), mode, bits)
    out[k + ".exp"] = np.array(exp)
np.savez(sys.argv[2], **out)
"""


@lava
def test_loader_mirror_agrees_with_real_netx_and_lava(tmp_path):
    rng = np.random.default_rng(0)
    mats = {}
    for i in range(400):
        shape = tuple(rng.integers(1, 6, 2))
        kind = i % 5
        w = [rng.integers(-256, 255, shape), rng.integers(0, 256, shape),
             -rng.integers(1, 256, shape), -rng.integers(0, 256, shape),
             rng.integers(-8, 8, shape) << rng.integers(0, 6)][kind]
        w = fx.lava_effective_weights(w)
        if w.any():
            mats[f"m{i}"] = w
    mats["pow2"] = np.array([[-128, -64], [-3, -128]])     # clipped by one LSB in netx
    np.savez(tmp_path / "mats.npz", **mats)
    proc = subprocess.run([find_lava_python() or sys.executable, "-c", REAL_LOADER,
                           tmp_path / "mats.npz", tmp_path / "real.npz"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    real = np.load(tmp_path / "real.npz")
    inexact = 0
    for k, w in mats.items():
        mine, exp = netx_loaded_weights(w)
        assert np.array_equal(mine, real[k]) and exp == int(real[k + ".exp"]), k
        inexact += not np.array_equal(mine, w << -exp)
    assert inexact > 0                      # the mirror also predicts where netx is lossy
    assert not np.array_equal(netx_loaded_weights(mats["pow2"])[0], mats["pow2"] << 1)


# --- what netx cannot express: a clear error, nothing written -------------------------------

def per_neuron_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 6), snn.LIF(6, beta=torch.rand(6)), nn.Linear(6, 3),
                         snn.LIF(3, reset="subtract"))


def test_default_compilation_lists_every_problem():
    problems = netx_problems(compile_model(per_neuron_model()).fixed)
    text = "\n".join(problems)
    for needle in ("split-sign", "weight exponent", "a bias axon", "per-neuron dv",
                   "a non-zero reset"):
        assert needle in text, (needle, text)


def test_generalised_neurons_recurrence_and_inexact_weights_are_problems():
    g = fx_chain([np.array([[40, -10], [30, 20]]), np.array([[-128, -64]])],
                 [dict(reset="custom", reset_mult=[2048, 0], reset_sub=[5, 0], reset_delayed=True,
                       floor=0), dict(dv=-100)])
    g.add_recurrent("n1", "d0")
    text = "\n".join(netx_problems(g))
    for needle in ("recurrent", "a delayed reset", "a membrane floor", "a non-zero reset",
                   "weights netx would load differently", "a growing membrane"):
        assert needle in text, (needle, text)


def test_bias_needs_exponent_six_mantissa():
    ok = fx_chain([np.array([[10]])], [dict(bias_mant=5, bias_exp=7)])    # 5 << 7 = 10 << 6
    bad = fx_chain([np.array([[10]])], [dict(bias_mant=5, bias_exp=3)])   # 40: not a multiple of 64
    assert netx_problems(ok) == []
    assert any("13-bit mantissa << 6" in p for p in netx_problems(bad))


def test_write_refuses_with_the_problems_and_leaves_nothing(tmp_path):
    g = compile_model(per_neuron_model()).fixed
    with pytest.raises(SnnccError) as err:
        write_netx(g, tmp_path / NETX_FILE)
    assert "split-sign" in err.value.cause and "netx" in err.value.fix
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_write_keeps_the_old_file_and_no_temporaries(tmp_path, monkeypatch):
    import snncc.backends.lava.netx_emit as netx
    good = compile_model(mlp(0, [LIF, LIF]), config=netx_config()).fixed
    path = write_netx(good, tmp_path / NETX_FILE)
    before = path.read_bytes()

    def boom(*args, **kwargs):      # fails after layer 1's weights are in the file
        raise RuntimeError("disk full")
    monkeypatch.setattr(netx, "_param", boom)
    with pytest.raises(RuntimeError):
        write_netx(good, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [NETX_FILE]


def test_file_layout_is_what_netx_reads(tmp_path):
    import h5py
    c = compile_model(mlp(0, [CUBA, LIF], bias=(False, True)), config=netx_config())
    path = write_netx(c.fixed, tmp_path / NETX_FILE)
    neurons = c.fixed.of_type(FxNeuron)
    with h5py.File(path) as f:
        layers = f["layer"]
        assert sorted(layers) == ["0", "1", "2"]
        assert layers["0/type"][0] == b"input" and list(layers["0/shape"][()]) == [24]
        assert "neuron" not in layers["0"]       # no input neuron: no extra layer in netx
        for i, node in enumerate(neurons, start=1):
            nrn = layers[f"{i}/neuron"]
            assert layers[f"{i}/type"][0] == b"dense" and nrn["type"][0] == b"CUBA"
            assert nrn["iDecay"][()].tolist() == [int(node.du[0]) + 1]     # netx: du = iDecay - 1
            assert nrn["vDecay"][()].tolist() == [int(node.dv[0])]
            assert nrn["vThMant"][()].tolist() == [int(node.vth[0])]
            assert np.array_equal(layers[f"{i}/bias"][()],
                                  fx.effective_bias(node.bias_mant, node.bias_exp) / 64)
        assert neurons[0].du[0] != 4095 and np.any(layers["2/bias"][()] != 0)


# --- the CLI ----------------------------------------------------------------------------------

from helpers import run_cli as cli  # noqa: E402


@lava
def test_cli_netx_writes_network_net_that_netx_runs_exactly(tmp_path, capsys, monkeypatch):
    torch.save(mlp(4, [CUBA, LIF], bias=(False, True)), tmp_path / "model.pt")
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "model.pt", "-o",
                         tmp_path / "build", "--netx")
    assert code == 0, err
    build = tmp_path / "build"
    assert (build / NETX_FILE).exists() and "network.net" in out
    graph = serialize.load(build)                  # the fixed-point graph of the same run
    x = _stim(12, 2, 24, 0.4, seed=9)
    sim = get_runner("sim")(graph, x)
    raw = run_netx_file(build / NETX_FILE, x)
    for node in graph.of_type(FxNeuron):
        assert sim.spikes[node.name].any()
        assert np.array_equal(sim.spikes[node.name], raw[f"{node.name}/s"].astype(bool))


def test_cli_without_netx_says_why_no_network_net(tmp_path, capsys, monkeypatch):
    torch.save(per_neuron_model(), tmp_path / "model.pt")
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "model.pt", "-o", tmp_path / "b")
    assert code == 0, err
    assert not (tmp_path / "b" / NETX_FILE).exists() and (tmp_path / "b" / "params.npz").exists()
    lines = [l for l in out.splitlines() if l.startswith(f"no {NETX_FILE}")]
    # per-neuron decays and a subtractive reset: the netx preset cannot write them either,
    # so the note must not send the user to --netx
    assert len(lines) == 1 and "split-sign" in lines[0] and "--netx" not in lines[0]


def test_cli_hints_netx_only_where_the_preset_writes_it(tmp_path, capsys, monkeypatch):
    torch.save(mlp(0, [LIF, LIF]), tmp_path / "model.pt")   # default: split-sign, exponents
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "model.pt", "-o", tmp_path / "b")
    assert code == 0, err
    lines = [l for l in out.splitlines() if l.startswith(f"no {NETX_FILE}")]
    assert len(lines) == 1 and lines[0].endswith("try --netx")
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "model.pt", "-o",
                         tmp_path / "b2", "--netx")
    assert code == 0 and (tmp_path / "b2" / NETX_FILE).exists(), err


def test_cli_without_netx_writes_network_net_when_expressible(tmp_path, capsys, monkeypatch):
    # excitatory weights, every row peaking at 1.0, shared beta and a threshold 100x that
    # peak: the default quantizer picks weight exponent 0 and one scale for all neurons, so
    # the default compilation is netx-expressible as it stands
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 4, bias=False), snn.LIF(4, beta=0.5, threshold=100.0))
    with torch.no_grad():
        m[0].weight.uniform_(0.0, 1.0)
        m[0].weight[:, 0] = 1.0
    torch.save(m, tmp_path / "model.pt")
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "model.pt", "-o", tmp_path / "b")
    assert code == 0, err
    assert netx_problems(serialize.load(tmp_path / "b")) == []
    assert (tmp_path / "b" / NETX_FILE).exists() and f"no {NETX_FILE}" not in out


def test_cli_netx_refuses_per_neuron_model_and_writes_nothing(tmp_path, capsys, monkeypatch):
    torch.save(per_neuron_model(), tmp_path / "model.pt")
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "model.pt", "-o",
                         tmp_path / "b", "--netx")
    assert code == 2
    assert "--netx" in err and "per-neuron" in err and "fix:" in err
    assert not (tmp_path / "b").exists()


def test_cli_netx_refuses_cuba_with_linear_bias(tmp_path, capsys, monkeypatch):
    torch.save(mlp(0, [CUBA, CUBA]), tmp_path / "model.pt")
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "model.pt", "-o",
                         tmp_path / "b", "--netx")
    assert code == 2 and "CUBA current" in err and "neuron bias" in err
    assert not (tmp_path / "b").exists()
