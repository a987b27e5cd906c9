"""The 24-bit current overflow analysis (snncc/targets/loihi/overflow.py) against the simulator.

Handed cases turned into tests: cuba-alpha1-current-wrap (compile warns), current-wrap-not-
reported (verify counts the wraps).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import snncc.nn as snn
from helpers import fx_chain, run_cli
from snncc.backends import get_runner
from snncc.targets.loihi import fixedpoint as fx
from snncc.targets.loihi.overflow import count_wraps, current_bounds


def _simulate(graph, steps):
    x = np.ones((steps, 1, 1), np.uint8)
    return get_runner("sim")(graph, x, record_states=True)


def _first_wrap(u: np.ndarray, du: int):
    """First step whose u is not decay(u[t-1]) + input (the simulator's own wrap)."""
    u = u[:, 0, 0].astype(np.int64)
    for t in range(1, len(u)):
        if abs(u[t] - int(fx.decay_rtz(np.array([u[t - 1]]), np.array([du + 1]))[0])) > fx.MAX_UV:
            return t
    return None


def test_no_decay_wraps_exactly_when_predicted():
    g = fx_chain([np.array([[254]])], [dict(du=-1, dv=0, vth=fx.VTH_MAX)], weight_exp=3)
    cb = current_bounds(g)["n0"]
    assert cb.no_decay and cb.can_wrap and cb.bound == float("inf")
    drive = 254 << (3 + fx.ACT_SHIFT)
    assert cb.drive == drive and cb.first_wrap_step == fx.MAX_UV // drive + 1
    res = _simulate(g, cb.first_wrap_step + 10)
    # one Dense delay: step t holds t inputs, so the wrap is at step first_wrap_step exactly
    assert _first_wrap(res.u["n0"], -1) == cb.first_wrap_step
    assert count_wraps(res.u["n0"], np.zeros((1, 1)), np.array([-1])) == 1
    assert "overflow" in cb.message() and str(cb.first_wrap_step) in cb.message()


@pytest.mark.parametrize("du, exp", [(0, -1), (0, 0), (3, 1), (4095, 7), (100, 7)])
def test_decaying_current_bound_is_safe(du, exp):
    g = fx_chain([np.array([[255]])], [dict(du=du, dv=0, vth=fx.VTH_MAX)], weight_exp=exp)
    cb = current_bounds(g)["n0"]
    steps = 20000 if cb.first_wrap_step is None else min(cb.first_wrap_step + 50, 20000)
    res = _simulate(g, steps)
    actual = _first_wrap(res.u["n0"], du)
    if cb.can_wrap:
        assert actual is None or actual >= cb.first_wrap_step     # never later than it can
    else:
        assert actual is None and np.abs(res.u["n0"]).max() <= cb.bound
    if du == 0 and exp <= 0:                                  # du = 0 (4095/4096) is bounded
        assert cb.bound == pytest.approx(cb.drive * 4096) and not cb.no_decay


def test_cli_compile_warns_and_verify_counts_wraps(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    m = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False),
                            snn.CubaLIF(1, alpha=1.0, beta=0.0, threshold=1000.0))
    with torch.no_grad():
        m[0].weight[:] = 1.0
    torch.save(m, "uwrap.pt")
    np.savez("uwrap.npz", x=np.ones((1, 5000, 1), np.uint8))
    code, out, err = run_cli(capsys, monkeypatch, "compile", "uwrap.pt", "-o", "b")
    assert code == 0 and "24-bit current overflow" in out and "4229 steps" in out
    code, out, err = run_cli(capsys, monkeypatch, "verify", "uwrap.pt", "--data", "uwrap.npz",
                             "--json", "r.json")
    assert code == 0 and "wrapped" in out
    layer = json.loads(open("r.json").read())["layers"][-1]
    assert layer["saturation"]["u_wraps"] >= 1
    assert layer["saturation"]["worst_case_current"] > 1
    assert any("overflow" in w for w in layer["warnings"])
    from snncc.report.build import validate
    validate(json.loads(open("r.json").read()))


def test_trained_models_prove_no_wrap():
    """An ordinary model (decaying current) is proven safe: no warning."""
    from snncc.compiler import compile_model
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(8, 6), snn.CubaLIF(6, alpha=0.9, beta=0.8),
                            torch.nn.Linear(6, 3), snn.LIF(3))
    c = compile_model(m)
    assert not any(cb.can_wrap for cb in current_bounds(c.fixed).values())
    assert not any("overflow" in w for l in c.quant.layers for w in l.warnings)
