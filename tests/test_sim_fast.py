"""The vectorized simulator (numpy and torch) against the stepping golden model, bit for bit.

Random networks cover every FxDense/FxNeuron feature: split-sign matrices, mixed-sign
truncation, weight exponents of both signs, bias axons, per-neuron decays (cleared, kept,
growing membranes), generalised resets (subtract, custom, delayed), floors, input gains and
late neuron biases; conv layers (stride, padding, groups, 24-bit wrap) with delay lines;
recurrent cycles; the compiled deep models.  Saturation cases drive the 24-bit current wrap
and voltage clip, and values far beyond 24 bits take the int64 and limb paths.  A few cases
run on real Lava too (marked ``lava``).
"""
from __future__ import annotations

import numpy as np
import pytest

from helpers import fx_chain
from snncc.targets.loihi import fixedpoint as fx
from snncc.backends import get_runner
from snncc.backends.sim import simulate, simulate_fast
from snncc.backends.sim.exact import ExactMatmul
from snncc.backends.sim.xp import NumpyOps
from snncc.errors import SnnccError
from snncc.ir import FxConv, FxDelay, FxDense, FxNeuron, Graph, Input, Output

torch = pytest.importorskip("torch")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def assert_same(ref, got, what=""):
    assert ref.spikes.keys() == got.spikes.keys()
    for name in ref.spikes:
        assert np.array_equal(ref.spikes[name], got.spikes[name]), f"{what} spikes differ in {name}"
    for name in (ref.u if got.u else ()):
        assert got.u[name].dtype == ref.u[name].dtype
        assert np.array_equal(ref.u[name], got.u[name]), f"{what} u differs in {name}"
        assert np.array_equal(ref.v[name], got.v[name]), f"{what} v differs in {name}"
    for name in ref.outputs:
        assert np.array_equal(ref.outputs[name], got.outputs[name]), f"{what} output {name}"


def check_all(graph, x, **kwargs):
    """Stepper vs numpy vs torch (every device), with states; returns the reference."""
    ref = simulate(graph, x, record_states=True)
    assert_same(ref, simulate_fast(graph, x, record_states=True, **kwargs), "numpy")
    assert_same(ref, simulate_fast(graph, x, record_states=False, **kwargs), "numpy (no states)")
    for device in DEVICES:
        got = simulate_fast(graph, x, record_states=True, backend="torch", device=device, **kwargs)
        assert_same(ref, got, f"torch/{device}")
    return ref


def random_neuron(rng, name, n, steps, extreme=False) -> FxNeuron:
    pick = lambda *opts: opts[rng.integers(len(opts))]        # noqa: E731
    vec = lambda lo, hi: rng.integers(lo, hi + 1, n)          # noqa: E731
    du = pick(np.full(n, 4095), np.full(n, -1), vec(0, 4095), vec(-1, 4095))
    dv = pick(np.zeros(n, int), vec(0, 4095), vec(-4096, 4095), np.full(n, 4095))
    reset = pick("zero", "subtract", "custom", "custom")
    vth = vec(0, 2000) if not extreme else vec(0, fx.VTH_MAX)
    mult = {"zero": np.zeros(n, int), "subtract": np.full(n, 4096)}.get(reset, vec(-4096, 8192))
    sub = {"zero": np.zeros(n, int), "subtract": vth << 6}.get(reset, vec(-5000, 50000))
    gain = None
    if rng.random() < 0.3:
        gain = rng.integers(0, 8192, (int(rng.integers(1, steps + 2)), n))
    return FxNeuron(name, shape=(n,), du=du, dv=dv, vth=vth,
                    bias_mant=vec(-4096, 4095) if rng.random() < 0.5 else np.zeros(n, int),
                    bias_exp=vec(0, 7), reset_mult=mult, reset_sub=sub,
                    reset_delayed=bool(reset != "zero" and rng.random() < 0.5),
                    floor=pick(None, None, 0, int(rng.integers(-5000, 100))),
                    input_gain=gain, gain_start=int(rng.integers(0, 3)),
                    bias_start=int(rng.integers(0, 4)))


def random_dense(rng, name, n_out, n_in, extreme=False) -> FxDense:
    w = rng.integers(-255, 256, (n_out, n_in))
    mode = rng.integers(4)
    if mode == 1:
        w = np.abs(w)
    elif mode == 2:
        w = -np.abs(w)
    w[rng.random(w.shape) < 0.3] = 0
    has_bias = rng.random() < 0.4
    exp = rng.integers(-4, 4)
    if extreme:   # current wrap and voltage clip; beyond 2**40, the int64 path
        exp = rng.integers(4, 12) if rng.random() < 0.6 else rng.integers(20, 40)
    return FxDense(name, weight=w, weight_exp=int(exp),
                   split_sign=bool(rng.random() < 0.5),
                   bias=rng.integers(-255, 256, n_out) if has_bias else None,
                   bias_exp=int(rng.integers(-2, 8)), bias_start=int(rng.integers(0, 4)))


def random_chain(seed: int, extreme: bool = False) -> tuple[Graph, np.ndarray]:
    rng = np.random.default_rng(seed)
    steps, batch = int(rng.integers(1, 20)), int(rng.integers(1, 9))
    sizes = [int(rng.integers(1, 24)) for _ in range(int(rng.integers(2, 5)))]
    g = Graph()
    g.add(Input("input", shape=(sizes[0],)))
    prev = "input"
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        g.add(random_dense(rng, f"d{i}", n_out, n_in, extreme), [prev])
        g.add(random_neuron(rng, f"n{i}", n_out, steps, extreme), [f"d{i}"])
        prev = f"n{i}"
    g.add(Output("output"), [prev])
    x = (rng.random((steps, batch, sizes[0])) < rng.uniform(0.05, 0.9)).astype(np.uint8)
    return g, x


@pytest.mark.parametrize("seed", range(40))
def test_random_networks_match_the_stepper(seed):
    check_all(*random_chain(seed))


@pytest.mark.parametrize("seed", range(100, 120))
def test_saturating_networks_match_the_stepper(seed):
    check_all(*random_chain(seed, extreme=True))


def test_saturation_wrap_and_clip_really_happen():
    # u wraps at 2**23 (w=254, exp=3: +130048 per step, du = -1); the wrapped, negative
    # current then drives v to its clip at -(2**23 - 1)
    g = fx_chain([np.array([[254], [254]])], [dict(du=-1, dv=[0, 0], vth=fx.VTH_MAX)],
                 weight_exp=3)
    ref = check_all(g, np.ones((80, 3, 1), np.uint8))
    u, v = ref.u["n0"], ref.v["n0"]
    assert u.max() == 64 * 130048 and u[65].max() == 65 * 130048 - 2 ** 24
    assert v.min() == -fx.V_MAX


def test_huge_exponents_take_the_exact_integer_paths():
    # weight_exp 30: a_in ~ 2**38, u far beyond float64-safe bounds -> int64 path in the neuron
    g = fx_chain([np.array([[200, -150], [100, 3]])], [dict(du=-1, dv=-4096, vth=5)],
                 weight_exp=30)
    x = (np.random.default_rng(1).random((12, 4, 2)) < 0.6).astype(np.uint8)
    check_all(g, x)


def test_dense_on_dense_uses_exact_limbs():
    # Input -> Dense(exp 40) -> Dense: the second product exceeds 2**53 (float64 would round)
    g = Graph()
    g.add(Input("input", shape=(3,)))
    g.add(FxDense("d0", weight=np.array([[255, 255, 255], [-255, 7, 1]]), weight_exp=40), ["input"])
    g.add(FxDense("d1", weight=np.array([[255, -255], [3, 255]]), weight_exp=0), ["d0"])
    n = dict(du=np.full(2, 4095), dv=np.zeros(2, int), vth=np.full(2, 10),
             bias_mant=np.zeros(2, int), bias_exp=np.zeros(2, int),
             reset_mult=np.zeros(2, int), reset_sub=np.zeros(2, int))
    g.add(FxNeuron("n0", shape=(2,), **n), ["d1"])
    g.add(Output("output"), ["n0"])
    x = np.ones((4, 2, 3), np.uint8)
    ref = simulate_fast(g, x, record_states=True)
    for device in DEVICES:
        assert_same(ref, simulate_fast(g, x, record_states=True, backend="torch", device=device))
    # d1 at step 2 = W1 @ (d0 at step 1): compare the synaptic sum with Python integers
    a0 = [sum(int(w) * 1 for w in row) << 40 for row in g.node("d0").weight]
    a1 = [sum(int(w) * a for w, a in zip(row, a0)) for row in g.node("d1").weight]
    to_int64 = lambda z: (z + 2 ** 63) % 2 ** 64 - 2 ** 63                # noqa: E731
    u = [fx.wrap_current(np.array([to_int64(to_int64(a) << 6)], dtype=np.int64))[0] for a in a1]
    assert simulate_fast(g, x, record_states=True).u["n0"][2, 0].tolist() == \
        np.array(u, dtype=np.int64).astype(np.int32).tolist()


@pytest.mark.parametrize("x_bound, path", [(1, "float32"), (300, "float64"), (2 ** 50, "limbs")])
def test_exact_matmul_paths(x_bound, path):
    rng = np.random.default_rng(x_bound % 1000)
    w = rng.integers(-256, 256, (50, 7))
    mm = ExactMatmul(NumpyOps(), w)
    assert mm.path(x_bound) == path
    x = rng.integers(-x_bound, x_bound + 1, (9, 50), dtype=np.int64)
    exact = [[sum(int(a) * int(b) for a, b in zip(row, col)) for col in w.T] for row in x]
    y, scaled = mm(x, x_bound)
    assert scaled == (path != "limbs")
    got = np.asarray(y).astype(np.int64)
    assert got.tolist() == (np.array(exact, dtype=object) % 2 ** 64).astype(np.uint64) \
        .astype(np.int64).tolist()


def recurrent_graph(seed: int) -> tuple[Graph, np.ndarray]:
    """input -> d0 -> n0 <-> r0 (n0's spikes back into n0 through r0) -> d1 -> n1."""
    rng = np.random.default_rng(seed)
    steps, batch, n_in, n = 15, 5, 6, 9
    g = Graph()
    g.add(Input("input", shape=(n_in,)))
    g.add(random_dense(rng, "d0", n, n_in), ["input"])
    g.add(random_neuron(rng, "n0", n, steps), ["d0"])
    g.add(random_dense(rng, "r0", n, n), ["n0"])
    g.add_recurrent("r0", "n0")
    g.add(random_dense(rng, "d1", 4, n), ["n0"])
    g.add(random_neuron(rng, "n1", 4, steps), ["d1"])
    g.add(Output("output"), ["n1"])
    x = (rng.random((steps, batch, n_in)) < 0.5).astype(np.uint8)
    return g, x


@pytest.mark.parametrize("seed", range(8))
def test_recurrent_layers_match_the_stepper(seed):
    check_all(*recurrent_graph(seed))


def test_batch_chunks_do_not_change_results():
    g, x = random_chain(7)
    x = np.repeat(x, 5, axis=1)
    ref = simulate(g, x, record_states=True)
    for chunk in (1, 3, 1000):
        assert_same(ref, simulate_fast(g, x, record_states=True, batch_chunk=chunk))
        assert_same(ref, simulate_fast(g, x, record_states=True, backend="torch", device="cpu",
                                       batch_chunk=chunk))


def test_compiled_mlp_matches_the_stepper():
    import snncc.nn as snn
    from snncc.compiler import compile_model

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 32), snn.LIF(32, threshold=0.3),
                                torch.nn.Linear(32, 5), snn.CubaLIF(5, threshold=0.3))
    fixed = compile_model(model, (20,)).fixed
    x = (np.random.default_rng(0).random((16, 30, 20)) < 0.4).astype(np.uint8)
    ref = check_all(fixed, x)
    assert any(s.any() for s in ref.spikes.values())


def test_runners_are_registered_and_checked():
    g, x = random_chain(3)
    ref = simulate(g, x)
    assert_same(ref, get_runner("fast")(g, x))
    assert_same(ref, get_runner("torch")(g, x, device="cpu"))
    with pytest.raises(SnnccError, match="input shape"):
        get_runner("fast")(g, np.zeros((3, 1, 99)))


def test_cycle_without_synaptic_delay_is_refused():
    g = fx_chain([np.array([[10]])], [dict(vth=10)])
    g.add(FxNeuron("loop", shape=(1,), du=np.array([4095]), dv=np.array([0]), vth=np.array([1]),
                   bias_mant=np.array([0]), bias_exp=np.array([0]), reset_mult=np.array([0]),
                   reset_sub=np.array([0])), ["n0"])
    g.add_recurrent("loop", "n0")
    with pytest.raises(SnnccError, match="no synaptic delay"):
        simulate_fast(g, np.zeros((2, 1, 1)))


@pytest.mark.parametrize("make", [lambda: random_chain(1), lambda: recurrent_graph(1)])
def test_an_empty_batch_gives_empty_results(make):
    g, x = make()
    ref = simulate_fast(g, x, record_states=True)
    for backend in ("numpy", "torch"):
        got = simulate_fast(g, x[:, :0], record_states=True, backend=backend, device="cpu")
        for name, spikes in ref.spikes.items():
            assert got.spikes[name].shape == (x.shape[0], 0) + spikes.shape[2:]


def random_conv_net(seed: int) -> tuple[Graph, np.ndarray]:
    """input -> conv -> neuron -> delay -> conv (grouped) -> neuron, random arithmetic."""
    rng = np.random.default_rng(seed)
    steps, batch = int(rng.integers(2, 12)), int(rng.integers(1, 5))
    shape = (int(rng.integers(1, 4)) * 2, int(rng.integers(3, 8)), int(rng.integers(3, 8)))
    g = Graph()
    g.add(Input("input", shape=shape))
    prev, in_shape = "input", shape
    for i, groups in enumerate((1, 2)):
        k, c_out = int(rng.integers(1, 4)), 2 * int(rng.integers(1, 4))
        w = rng.integers(-255, 256, (c_out, in_shape[0] // groups, k, k))
        conv = FxConv(f"c{i}", weight=w, weight_exp=int(rng.integers(0, 8)),
                      stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, 2)),
                      groups=groups, in_shape=in_shape)
        if rng.random() < 0.5:
            conv.bias = rng.integers(-255, 256, int(np.prod(conv.out_shape)))
            conv.bias_exp, conv.bias_start = int(rng.integers(0, 6)), int(rng.integers(0, 3))
        g.add(conv, [prev])
        neuron = random_neuron(rng, f"n{i}", int(np.prod(conv.out_shape)), steps, extreme=True)
        neuron.shape = conv.out_shape
        g.add(neuron, [f"c{i}"])
        prev, in_shape = f"n{i}", conv.out_shape
        if i == 0:
            g.add(FxDelay("delay", delay=int(rng.integers(1, 4)), shape=in_shape), [prev])
            prev = "delay"
    g.add(Output("output"), [prev])
    x = (rng.random((steps, batch) + shape) < rng.uniform(0.1, 0.9)).astype(np.uint8)
    return g, x


@pytest.mark.parametrize("seed", range(12))
def test_random_conv_nets_with_delay_lines_match_the_stepper(seed, monkeypatch):
    if seed % 2:        # tiny im2col blocks: many blocks per layer
        monkeypatch.setattr("snncc.backends.sim.spatial.IM2COL_ELEMENTS", 50)
    check_all(*random_conv_net(seed))


def test_conv_sums_wrap_at_24_bits():
    rng = np.random.default_rng(2)
    w = rng.integers(150, 256, size=(3, 48, 3, 3)) * np.array([1, -1, 1])[:, None, None, None]
    g = Graph()
    g.add(Input("input", shape=(48, 5, 5)))
    g.add(FxConv("c", weight=w, weight_exp=7, padding=1, in_shape=(48, 5, 5)), ["input"])
    g.add(FxNeuron("n", shape=(3, 5, 5), du=np.full(75, 4095), dv=np.full(75, 4095),
                   vth=np.full(75, fx.VTH_MAX), bias_mant=np.zeros(75, int),
                   bias_exp=np.zeros(75, int), reset_mult=np.zeros(75, int),
                   reset_sub=np.zeros(75, int)), ["c"])
    g.add(Output("output"), ["n"])
    ref = check_all(g, (rng.random((3, 2, 48, 5, 5)) < 0.9).astype(np.uint8))
    assert np.abs(ref.u["n"]).max() < 2 ** 23 * 64 and ref.u["n"].min() < 0 < ref.u["n"].max()


@pytest.mark.parametrize("name", ["vgg", "sew", "spiking_resnet", "recurrent"])
def test_compiled_deep_networks_match_the_stepper(name):
    import deep_models as dm
    from snncc.compiler import compile_model

    model = getattr(dm, name)()
    shape = (12,) if name == "recurrent" else (2, 8, 8)
    fixed = compile_model(model, shape).fixed
    ref = check_all(fixed, dm.spikes(12, 5, shape, 0.35, seed=3))
    assert all(s.any() for s in ref.spikes.values())


def test_bias_axon_is_truncated_like_any_lava_dense():
    # a mixed-sign bias column [-3, 5]: Lava's Dense drops an LSB (-> -4, 4), checked on Lava
    g = fx_chain([np.array([[10], [10]])], [dict(vth=1000, dv=4095)])
    g.replace(FxDense("d0", weight=g.node("d0").weight, bias=np.array([-3, 5])))
    ref = check_all(g, np.zeros((3, 1, 1), np.uint8))
    assert ref.u["n0"][1, 0].tolist() == [-4 * 64, 4 * 64]


@pytest.mark.lava
@pytest.mark.parametrize("make", [lambda: random_chain(4), lambda: random_chain(9),
                                  lambda: recurrent_graph(0), lambda: random_conv_net(3)])
def test_fast_matches_lava(make):
    g, x = make()
    x = x[:, :2]
    lava = get_runner("lava")(g, x, record_states=True)
    for backend in ("numpy", "torch"):
        fast = simulate_fast(g, x, record_states=True, backend=backend, device="cpu")
        for name in fast.u:
            assert np.array_equal(fast.spikes[name], lava.spikes[name]), name
            assert np.array_equal(fast.u[name], lava.u[name]), name
            assert np.array_equal(fast.v[name], lava.v[name]), name
