"""The simulator against fixed-point traces computed by hand from Lava's update rules."""
import numpy as np
import pytest

from helpers import fx_chain, spikes_at
from snncc.targets.loihi import fixedpoint as fx
from snncc.backends.sim import simulate


def run(graph, x):
    return simulate(graph, x, record_states=True)


def test_voltage_decay_rounds_toward_zero_for_negative_v():
    # no input, bias -5, dv = 1024 (keep 3/4): -5, -3.75->-3 (not -4) -5 = -8, -6-5 = -11, -8.25->-8 -5 = -13
    g = fx_chain([np.zeros((1, 1))], [dict(dv=1024, bias_mant=-5, vth=100)])
    r = run(g, np.zeros((4, 1, 1), np.uint8))
    assert r.v["n0"][:, 0, 0].tolist() == [-5, -8, -11, -13]


def test_current_decay_uses_du_plus_one_and_synaptic_delay():
    # du = 2047 -> factor (4096 - 2048)/4096 = 1/2; input spike at t=0 arrives at t=1 (Dense delay)
    g = fx_chain([np.array([[10]])], [dict(du=2047, dv=4095, vth=1000)])
    r = run(g, spikes_at(5, [0]))
    assert r.u["n0"][:, 0, 0].tolist() == [0, 640, 320, 160, 80]
    # v decays by (4096-4095)/4096 then adds u: 640, 640/4096->0 +320, 0+160, 0+80
    assert r.v["n0"][:, 0, 0].tolist() == [0, 640, 320, 160, 80]


@pytest.mark.parametrize("weight, spikes", [(10, False), (11, True)])
def test_threshold_is_strict(weight, spikes):
    # vth = 10 -> 640 in v units; weight 10 gives v = 640 exactly: no spike (v > vth << 6 only)
    g = fx_chain([np.array([[weight]])], [dict(vth=10, dv=4095)])
    r = run(g, spikes_at(3, [0]))
    assert bool(r.spikes["n0"][1, 0, 0]) is spikes
    assert r.v["n0"][1, 0, 0] == (0 if spikes else 640)


def test_subtract_reset_keeps_the_excess():
    g = fx_chain([np.array([[11]])], [dict(vth=10, dv=4095, reset="subtract")])
    r = run(g, spikes_at(3, [0]))
    assert r.spikes["n0"][1, 0, 0] and r.v["n0"][1, 0, 0] == 704 - 640


def test_voltage_saturates_at_24_bits():
    # bias 4095 << 7 = 524160 per step, no decay: step 16 gives 8386560; step 17 would be
    # 8910720 but saturates to 2**23 - 1 = 8388607, which exceeds vth=131071<<6=8388544.
    g = fx_chain([np.zeros((1, 1))], [dict(dv=0, bias_mant=4095, bias_exp=7, vth=fx.VTH_MAX,
                                           reset="subtract")])
    r = run(g, np.zeros((17, 1, 1), np.uint8))
    assert r.v["n0"][15, 0, 0] == 16 * 524160
    assert r.spikes["n0"][16, 0, 0]
    assert r.v["n0"][16, 0, 0] == 8388607 - 8388544


def test_current_wraps_once_at_24_bits():
    # w=254, exp=3: a = 2032, u += 130048 per step with no decay (du = -1). After 64 steps
    # u = 8323072; the 65th step gives 8453120 > 2**23, which Lava wraps to 8453120 - 2**24.
    g = fx_chain([np.array([[254]])], [dict(du=-1, dv=0, vth=fx.VTH_MAX)], weight_exp=3)
    x = np.ones((66, 1, 1), np.uint8)
    r = run(g, x)
    u = r.u["n0"][:, 0, 0]
    assert u[64] == 64 * 130048
    assert u[65] == 65 * 130048 - 2 ** 24


def test_negative_weight_exponent_floors_the_sum():
    # sum = -3 -> -3 >> 1 = -2 (toward minus infinity), then << 6
    g = fx_chain([np.array([[-3]])], [dict(vth=100, dv=4095)], weight_exp=-1)
    r = run(g, spikes_at(2, [0]))
    assert r.u["n0"][1, 0, 0] == -2 * 64


def test_each_dense_adds_one_step_of_delay():
    g = fx_chain([np.array([[20]]), np.array([[20]])], [dict(vth=10, dv=4095)] * 2)
    r = run(g, spikes_at(4, [0]))
    assert r.spikes["input"][:, 0, 0].tolist() == [1, 0, 0, 0]
    assert r.spikes["n0"][:, 0, 0].tolist() == [0, 1, 0, 0]
    assert r.spikes["n1"][:, 0, 0].tolist() == [0, 0, 1, 0]


def test_per_neuron_parameters_and_batch_are_independent():
    w = np.array([[30], [30], [30]])
    g = fx_chain([w], [dict(vth=[10, 20, 40], dv=[0, 2048, 4095])])
    x = np.zeros((3, 2, 1), np.uint8)
    x[0, 1] = 1                       # only sample 1 gets the spike
    r = run(g, x)
    assert not r.spikes["n0"][:, 0].any()
    assert r.spikes["n0"][1, 1].tolist() == [True, True, False]


def test_floor_clamps_the_membrane():
    g = fx_chain([np.array([[-50]])], [dict(vth=10, dv=0, floor=0)])
    r = run(g, spikes_at(3, [0]))
    assert r.v["n0"][1, 0, 0] == 0


def test_lava_weight_truncation_is_identity_on_quantized_grids():
    w = np.array([[39, -3, 255, -256]])
    assert fx.lava_effective_weights(w).tolist() == [[38, -4, 254, -256]]
    assert fx.lava_effective_weights(np.array([[39, 3]])).tolist() == [[39, 3]]
    assert fx.lava_effective_weights(np.array([[300, -300]])).tolist() == [[254, -256]]


def test_delayed_custom_reset_applies_after_the_next_decay():
    # GLIF/snnTorch style: spike at step 1 (v = 704 > 640); at step 2 the decayed v
    # (dv = 2048 -> 352) is scaled by 2048/4096 -> 176 and reduced by 100 -> 76; no input.
    g = fx_chain([np.array([[11]])], [dict(vth=10, dv=2048, reset="custom", reset_mult=2048,
                                           reset_sub=100, reset_delayed=True)])
    r = run(g, spikes_at(3, [0]))
    assert r.spikes["n0"][1, 0, 0] and r.v["n0"][1, 0, 0] == 704     # not reset at the spike step
    assert r.v["n0"][2, 0, 0] == 76


def test_immediate_multiplicative_reset_rounds_toward_zero():
    g = fx_chain([np.array([[11]])], [dict(vth=10, dv=4095, reset="custom", reset_mult=1365,
                                           reset_sub=0)])
    r = run(g, spikes_at(3, [0]))
    assert r.v["n0"][1, 0, 0] == (704 * 1365) >> 12           # 234.6 -> 234


def test_simulator_applies_lavas_weight_truncation_to_any_dense():
    # an odd weight in a mixed-sign matrix: Lava uses -6 for -5, and so must the simulator
    g = fx_chain([np.array([[40, -5]])], [dict(vth=1000, dv=4095)])
    r = run(g, spikes_at(2, [0], n=2))
    assert r.u["n0"][1, 0, 0] == (40 - 6) * 64
