"""Loihi 2 resources shown everywhere: `snncc inspect` (API and CLI, as a user types it),
report.json's ``resources`` section (schema version 2) and the HTML with its per-core plot."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
jsonschema = pytest.importorskip("jsonschema")
from torch import nn  # noqa: E402

import snncc.nn as snn  # noqa: E402
from helpers import run_cli  # noqa: E402
from snncc import api  # noqa: E402
from snncc.report.build import validate  # noqa: E402

T, B = 10, 6
SHAPE = (2, 8, 8)
SHAPE_ARGS = ("--input-shape", 2, "--input-shape", 8, "--input-shape", 8)


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), snn.LIF((8, 8, 8), beta=0.8, threshold=0.5),
                         nn.Flatten(), nn.Linear(512, 10), snn.LIF(10, beta=0.9, threshold=0.5))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("res")
    torch.save(_model(), d / "m.pt")
    x = (np.random.default_rng(0).random((B, T, 2, 8, 8)) < 0.3).astype(np.uint8)
    np.savez(d / "d.npz", x=x, y=np.arange(B) % 10)
    return d


def test_api_inspect_per_layer_and_per_core(files):
    info = api.inspect(files / "m.pt", trust=True, input_shape=SHAPE, steps=8)
    res = info.resources
    assert res["fits"] and info.placement_error is None
    assert [l["layer"] for l in res["layers"]] == ["1", "4"]
    assert res["cores"] == sum(l["cores"] for l in res["layers"]) == len(res["cores_detail"])
    assert res["layers"][0]["encoding"] == "conv" and res["layers"][1]["encoding"] == "dense"
    assert res["activity"].startswith("assumed: 0.1")
    p = res["performance"]
    assert p["steps_per_inference"] == 8
    assert p["time_per_inference_s"] == pytest.approx(8 * p["step_time_s"])
    assert sum(c["synops"] for c in res["cores_detail"]) == pytest.approx(p["synops_per_step"])
    # measured rates: the fast simulator on the data, steps from the data
    measured = api.inspect(files / "m.pt", trust=True, input_shape=SHAPE,
                           data=files / "d.npz").resources
    assert measured["activity"] == f"measured: {B} sample(s) x {T} steps"
    assert measured["performance"]["steps_per_inference"] == T


def test_cli_inspect_prints_layers_cores_time_and_energy(files, capsys, monkeypatch):
    code, out, err = run_cli(capsys, monkeypatch, "inspect", files / "m.pt", "--trust", *SHAPE_ARGS)
    assert code == 0, err
    assert "Loihi 2 resources per layer" in out and "cores on 1 chip(s)" in out
    assert "per inference of 1 step(s)" in out and "mJ" in out and "-bound" in out
    assert "resources per core" not in out
    code, out, err = run_cli(capsys, monkeypatch, "inspect", files / "m.pt", "--trust", *SHAPE_ARGS,
                             "--per-core", "--data", files / "d.npz", "--system", "kapoho-point")
    assert code == 0, err
    assert "Loihi 2 resources per core" in out and "of kapoho-point" in out
    assert f"measured: {B} sample(s) x {T} steps" in out


@pytest.mark.parametrize("args, message", [
    (("--system", "loihi9"), "unknown Loihi 2 system 'loihi9'"),
    (("--rate", "1.5"), "--rate 1.5 is not a firing rate"),
    (("--steps", "0"), "--steps 0: an inference needs at least one step"),
])
def test_cli_inspect_bad_options_one_error_line(files, capsys, monkeypatch, args, message):
    code, out, err = run_cli(capsys, monkeypatch, "inspect", files / "m.pt", "--trust", *SHAPE_ARGS, *args)
    assert code == 2 and message in err and "fix:" in err and "Traceback" not in err


def test_verify_report_has_a_valid_resources_section_and_plot(files, capsys, monkeypatch):
    code, out, err = run_cli(capsys, monkeypatch, "verify", files / "m.pt", "--trust", *SHAPE_ARGS, "--data",
                             files / "d.npz", "--json", files / "r.json", "--html",
                             files / "r.html")
    assert code == 0, err
    report = json.loads((files / "r.json").read_text())
    validate(report)
    assert report["version"] == 2
    res = report["resources"]
    assert res["fits"] and res["activity"].startswith(f"measured by verify: {B} sample(s)")
    assert res["performance"]["steps_per_inference"] == report["steps"] == T
    assert [k for k, v in res["coefficient_sources"].items() if v.startswith("fitted")] == ["speed"]
    page = (files / "r.html").read_text()
    assert "Loihi 2 resources (estimate)" in page and 'id="plot-cores"' in page
    # version 1 reports (no resources) still validate; version 2 without it does not
    old = dict(report, version=1)
    del old["resources"]
    validate(old)
    with pytest.raises(jsonschema.ValidationError):
        validate(dict(old, version=2))
    broken = json.loads(json.dumps(report))
    broken["resources"]["cores_detail"][0]["undocumented"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_a_network_that_cannot_fit_reports_why(files):
    from snncc.ir import FxNeuron, Graph, Input, Output
    from snncc.ir.fixed_spatial import FxConv
    from snncc.report.resources import resources_html
    from snncc.targets.loihi.resources import resources, summary_lines
    g = Graph()
    g.add(Input("input", shape=(1500, 2, 2)))
    g.add(FxConv("conv", weight=np.ones((1, 1500, 3, 3), np.int64), padding=(1, 1),
                 in_shape=(1500, 2, 2)), ["input"])
    z = np.zeros(4, np.int64)
    g.add(FxNeuron("lif", shape=(1, 2, 2), du=z, dv=z, vth=z + 1, bias_mant=z, bias_exp=z,
                   reset_mult=z, reset_sub=z), ["conv"])
    g.add(Output("output"), ["lif"])
    res = resources(g)
    assert not res["fits"] and "synapse memory (words) 13,500" in res["error"]
    assert res["performance"] is None and res["cores_detail"] == []
    assert summary_lines(res)[0].startswith("Loihi 2: does not fit: layer 'lif'")
    assert "Does not fit" in resources_html(res)
