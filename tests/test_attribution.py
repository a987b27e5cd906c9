"""Error attribution: the partially quantized simulator is exact at both ends, and the
attribution names the parameter class a network was broken in."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc.compiler import compile_model
from snncc.passes.float_sim import simulate_float
from snncc.report.attribution import _bisect, attribute, twins_of
from snncc.report.runs import run_quantized
from snncc.targets.loihi.partial import CLASSES, run_partial
from snncc.targets.loihi.quantize import QuantConfig, netx_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deep_models as dm  # noqa: E402
from fidelity_helpers import mlp  # noqa: E402
from helpers import run_cli  # noqa: E402


def _mlp(neuron):
    return mlp(neuron, hidden=8)


NETS = {   # name: (model, input shape, config)
    "lif": (lambda: _mlp(lambda n: snn.LIF(n, beta=torch.rand(n), threshold=torch.rand(n) + 0.3)), (10,), {}),
    "cuba bias": (lambda: _mlp(lambda n: snn.CubaLIF(n, alpha=torch.rand(n), beta=torch.rand(n))), (10,), {}),
    "subtract extended": (lambda: _mlp(lambda n: snn.LIF(n, beta=0.9, reset="subtract")), (10,), {}),
    "plif soft": (lambda: _mlp(lambda n: snn.PLIF(n, v_reset=None)), (10,), {}),
    "klif floor": (lambda: _mlp(lambda n: snn.KLIF(n, init_k=1.2)), (10,), {}),
    "glif gain": (lambda: _mlp(lambda n: snn.GLIF(n, T=12)), (10,), {}),
    "netx": (lambda: _mlp(lambda n: snn.LIF(n, beta=0.8, threshold=0.7)), (10,), "netx"),
    "recurrent": (lambda: dm.recurrent(grid=False), (12,), {}),
    "sew conv": (lambda: dm.sew(grid=False), (2, 8, 8), {}),
    "spiking resnet": (lambda: dm.spiking_resnet(grid=False), (2, 8, 8), {}),
}


def _compiled(name):
    make, shape, cfg = NETS[name]
    model = make()
    config = netx_config() if cfg == "netx" else QuantConfig(**cfg)
    return model, compile_model(model, shape, config=config), shape


@pytest.mark.parametrize("name", NETS)
def test_partial_simulator_is_exact_at_both_ends(name):
    model, c, shape = _compiled(name)
    x = dm.spikes(12, 6, shape, rate=0.4, seed=1)
    fixed, twins = twins_of(c)
    quant = run_quantized(c.fixed, x).spikes
    part = run_partial(fixed, twins, {}, x)
    assert quant.keys() == part.keys()
    for n in quant:                                  # every class quantized: bit for bit
        assert np.array_equal(quant[n], part[n]), n
    assert any(s.any() for s in quant.values())
    floats = run_partial(fixed, twins, {n: CLASSES for n in quant}, x)
    ref = simulate_float(c.lowered, x)
    for n in quant:                                  # every class float: the float model
        assert np.mean(floats[n] == ref[n]) >= 0.999, n


def test_float_twins_round_to_the_integers():
    _, c, _ = _compiled("cuba bias")
    fixed, twins = twins_of(c)
    for name, tw in twins.items():
        node = fixed.node(name)
        if hasattr(node, "vth"):
            assert np.all(np.abs(tw["vth"] - node.vth) <= 0.5)
            assert np.all(np.abs(tw["dv"] - node.dv) <= 0.5)
        else:
            lo = np.abs(tw["weight"] - node.weight)
            assert np.all(lo <= 0.5 + 1e-9)          # split-sign grid: step 1


def _decay_broken():
    """LIF neurons whose voltage decays sit 0.45 of a 12-bit step off Loihi's grid, while
    the weights (equal: each row maps to exactly 255 at exponent 4) are exact."""
    g = torch.Generator().manual_seed(0)
    beta = (torch.randint(3700, 4000, (32,), generator=g).double() + 0.45) / 4096
    thr = torch.randint(2, 6, (32,), generator=g) * 255 / 2550.0
    m = nn.Sequential(nn.Linear(4, 32, bias=False), snn.LIF(32, beta=beta.float(), threshold=thr))
    with torch.no_grad():
        m[0].weight.fill_(0.1)
    return m.eval()


def test_attribution_names_the_class_that_was_broken():
    m = _decay_broken()
    c = compile_model(m)
    x = dm.spikes(100, 16, (4,), rate=0.3, seed=0)
    a = attribute(m, c, x, samples=16)
    assert a["quantized"] < 0.999 and a["float"] == 1.0
    assert a["cause"]["class"] == "decays" and a["cause"]["layer"] == "1"
    assert a["cause"]["gain"] == pytest.approx(a["cause"]["loss"])   # all of it comes back
    by = {c["class"]: c for c in a["by_class"]}
    assert by["weights"]["exact"] and by["weights"]["gain"] == 0
    assert by["decays"]["alone"] == pytest.approx(a["quantized"])
    assert by["decays"]["gain"] == pytest.approx(a["cause"]["loss"])
    layer = a["layers"][0]
    assert layer["classes"]["reset"] is None and layer["classes"]["input_gains"] is None
    assert layer["classes"]["biases"] is None
    assert layer["isolated"]["output_agreement"] == pytest.approx(a["quantized"])
    fd = a["first_divergence"]
    assert fd["layer"] == "1" and fd["classes"] == ["decays"]
    assert fd["spike_float"] != fd["spike_quant"]
    assert (fd["v_float"] > 1) == fd["spike_float"] and (fd["v_quant"] > 1) == fd["spike_quant"]


def test_isolated_and_cumulative_errors_per_layer():
    model, c, shape = _compiled("lif")
    x = dm.spikes(16, 32, shape, rate=0.4, seed=3)
    a = attribute(model, c, x, samples=32)
    first, last = a["layers"]
    assert last["cumulative"]["output_agreement"] == pytest.approx(a["quantized"])
    assert first["isolated"] == first["cumulative"]
    assert all(l["classes"]["rounding"] is not None for l in a["layers"])


def test_bisection_finds_a_minimal_set():
    calls = []

    def fixes(cs):
        calls.append(list(cs))
        return {"decays", "rounding"} <= set(cs)
    assert sorted(_bisect(list(CLASSES), fixes)) == ["decays", "rounding"]
    assert _bisect(["weights"], lambda cs: False) == []
    assert _bisect(list(CLASSES), lambda cs: "weights" in cs) == ["weights"]


def test_attribution_refuses_a_network_the_quantizer_did_not_make():
    from snncc.errors import SnnccError
    model, c, _ = _compiled("lif")
    c.fixed.node("1").vth = c.fixed.node("1").vth + 1
    with pytest.raises(SnnccError, match="not what the quantizer makes"):
        twins_of(c)


def test_cli_verify_attribution_json_html_and_console(tmp_path, capsys, monkeypatch):
    from snncc.report.build import validate
    m = _decay_broken()
    torch.save(m, tmp_path / "model.pt")
    x = dm.spikes(60, 16, (4,), rate=0.3, seed=0)
    np.savez(tmp_path / "d.npz", x=np.swapaxes(x, 0, 1), y=np.zeros(16, np.int64))
    code, out, err = run_cli(capsys, monkeypatch, "verify", tmp_path / "model.pt", "--data",
                             tmp_path / "d.npz", "--attribution", "--attribution-samples", "8",
                             "--json", tmp_path / "r.json", "--html", tmp_path / "r.html")
    assert code == 0, err
    assert "error attribution" in out and "cause:" in out and "first divergence" in out
    report = json.loads((tmp_path / "r.json").read_text())
    validate(report)
    assert report["attribution"]["samples"] == 8
    page = (tmp_path / "r.html").read_text()
    assert "Error attribution" in page and 'id="plot-attribution"' in page
    code, out, err = run_cli(capsys, monkeypatch, "verify", tmp_path / "model.pt", "--data",
                             tmp_path / "d.npz", "--json", tmp_path / "plain.json")
    assert code == 0 and json.loads((tmp_path / "plain.json").read_text())["attribution"] is None
