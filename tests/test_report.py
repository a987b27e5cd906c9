"""report.json follows its schema and its numbers are right; report.html renders with its plots."""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
jsonschema = pytest.importorskip("jsonschema")
from torch import nn  # noqa: E402

import snncc.nn as snn  # noqa: E402
from snncc.compiler import compile_model  # noqa: E402
from snncc.targets.loihi.quantize import QuantConfig  # noqa: E402
from snncc.report.analysis import analyze  # noqa: E402
from snncc.report.build import schema, validate  # noqa: E402
from snncc.report.html import render_html  # noqa: E402
from snncc.report.write import make_report, write_artifacts  # noqa: E402
from snncc.verify import verify  # noqa: E402

T, B, N_IN = 12, 40, 16


def small_model() -> nn.Sequential:
    """Random weights, a third of them zero (so effective SynOps < dense), firing at a few %."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(N_IN, 24), snn.LIF(24, beta=0.8, threshold=1.0),
                          nn.Linear(24, 5), snn.LIF(5, beta=0.9, threshold=1.0))
    with torch.no_grad():
        for lin in (model[0], model[2]):
            lin.weight.mul_(3.0)
            lin.weight[torch.rand(lin.weight.shape) < 0.33] = 0.0
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2)
    x = (rng.random((T, B, N_IN)) < 0.3).astype(np.uint8)
    y = rng.integers(0, 5, B)
    return x, y


@pytest.fixture(scope="module")
def report(data):
    model = small_model()
    x, y = data
    return make_report(model, compile_model(model), x, y, inputs={"model": "<m>.pt"})


def test_report_validates_against_schema(report):
    validate(report)
    jsonschema.Draft202012Validator.check_schema(schema())
    assert json.loads(json.dumps(report)) == report       # plain JSON, round-trips


def test_schema_rejects_broken_reports(report):
    broken = json.loads(json.dumps(report))
    broken["layers"][0]["spike_agreement"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)
    missing = json.loads(json.dumps(report))
    del missing["layers"][0]["saturation"]["v_rail_hits"]
    with pytest.raises(jsonschema.ValidationError):
        validate(missing)
    extra = json.loads(json.dumps(report))
    extra["summary"]["undocumented"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validate(extra)


def test_schema_documents_every_layer_field():
    layer = schema()["properties"]["layers"]["items"]
    assert layer["additionalProperties"] is False
    for name in ("spike_agreement", "membrane_error", "synops_per_sample", "saturation"):
        assert layer["properties"][name].get("description"), name


def test_agreement_matches_verify(report, data):
    model = small_model()
    x, y = data
    old = verify(model, compile_model(model), x, y)
    for ours, theirs in zip(report["layers"], old.layers):
        assert ours["name"] == theirs.name
        assert ours["spike_agreement"] == pytest.approx(theirs.spike_agreement)
        assert ours["rate_float"] == pytest.approx(theirs.rate_float)
        assert ours["rate_quant"] == pytest.approx(theirs.rate_quant)
        assert ours["first_divergence"] == theirs.first_divergence
    assert report["summary"]["output_agreement"] == pytest.approx(old.output_agreement)
    assert report["summary"]["accuracy_quant"] == pytest.approx(old.accuracy_quant)
    assert 0 < report["layers"][0]["rate_float"] < 0.5          # the model does spike


def test_synops_count_fanout_of_every_spike(report, data):
    """Effective SynOps, counted spike by spike (NeuroBench: spikes x non-zero fan-out)."""
    from snncc.reference import run_float
    model = small_model()
    x, _ = data
    hidden = run_float(model, x, ["1"])["1"]
    fan0 = (model[0].weight != 0).sum(dim=0).numpy()
    fan2 = (model[2].weight != 0).sum(dim=0).numpy()
    first = sum(fan0[n] for t, b, n in np.argwhere(x))
    second = sum(fan2[n] for t, b, n in np.argwhere(hidden))
    layers = {l["name"]: l for l in report["layers"]}
    assert layers["1"]["synops_per_sample"]["float"] == pytest.approx(first / B)
    assert layers["3"]["synops_per_sample"]["float"] == pytest.approx(second / B)
    assert layers["1"]["synops_per_sample"]["dense"] == N_IN * 24 * T
    assert layers["1"]["synops_per_sample"]["float"] < layers["1"]["synops_per_sample"]["dense"] * 0.5
    assert layers["3"]["spikes_per_sample"]["float"] == pytest.approx(
        run_float(model, x, ["3"])["3"].sum() / B)


def test_batches_do_not_change_the_numbers(data):
    model = small_model()
    x, y = data
    compiled = compile_model(model)
    whole = analyze(model, compiled, x, y, batch_size=256)
    pieces = analyze(model, compiled, x, y, batch_size=7)
    for name in whole.layers:
        a, b = whole.layers[name], pieces.layers[name]
        assert a["first_divergence"] == b["first_divergence"]
        for key in ("spike_agreement", "rate_float", "rate_quant", "v_rail_hits"):
            assert a[key] == pytest.approx(b[key])
        assert a["membrane_error"]["mean"] == pytest.approx(b["membrane_error"]["mean"])
        assert a["membrane_error"]["max"] == pytest.approx(b["membrane_error"]["max"])
    assert whole.raster["sample"] == pieces.raster["sample"]


def test_membrane_error_is_small_by_default_and_saturation_is_counted(report, data):
    for layer in report["layers"]:
        assert 0 <= layer["membrane_error"]["mean"] < 0.05
        assert layer["saturation"]["v_rail_hits"] == 0
        assert layer["saturation"]["thresholds_clipped"] == 0
    model = small_model()
    x, y = data
    blown = compile_model(model, config=QuantConfig(scale_factor={"1": 4000.0}))
    bad = make_report(model, blown, x, y)
    validate(bad)
    first = bad["layers"][0]
    assert first["saturation"]["thresholds_clipped"] == 24
    assert first["saturation"]["weights_clipped"] > 0
    assert first["spike_agreement"] < report["layers"][0]["spike_agreement"]
    assert first["membrane_error"]["mean"] > report["layers"][0]["membrane_error"]["mean"]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def test_html_embeds_every_plot_as_decodable_png(report, tmp_path):
    from PIL import Image
    page = _Page()
    page.feed(render_html(report))
    assert len(page.images) == 5                 # 4 plots + the per-core utilisation plot
    for img in page.images:
        head, data = img["src"].split(",", 1)
        assert head == "data:image/png;base64"
        picture = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        picture.load()
        assert picture.format == "PNG" and picture.width > 200 and picture.height > 150
        pixels = np.asarray(picture.convert("L"))
        assert pixels.min() < 100 and pixels.max() > 200       # drawn on, not blank
    text = "".join(page.text)
    assert "<m>.pt" in text                                     # escaped in the markup
    assert "Calibration" not in text


def test_artifacts_are_written_together(report, tmp_path):
    written = write_artifacts(report, tmp_path / "r.json", tmp_path / "r.html")
    assert [p.name for p in written] == ["r.json", "r.html"]
    assert json.loads((tmp_path / "r.json").read_text()) == report
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    broken = dict(report, layers=None)                      # rendering fails: nothing written
    with pytest.raises(TypeError):
        write_artifacts(broken, tmp_path / "s.json", tmp_path / "s.html")
    assert not (tmp_path / "s.json").exists() and not (tmp_path / "s.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.json"]


def _chromium() -> str | None:
    for name in (os.environ.get("SNNCC_CHROMIUM"), "chromium", "chromium-browser",
                 "google-chrome", "google-chrome-stable"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium on PATH (Debian: apt-get "
                    "install chromium; `make test` installs it when run as root): the HTML is still "
                    "checked by test_html_embeds_every_plot_as_decodable_png")
def test_html_renders_in_headless_chromium(report, tmp_path):
    page = tmp_path / "report.html"
    # the report has no scripts; this copy adds one that writes what Chromium decoded
    probe = ("<script>window.onload = () => { document.body.setAttribute('data-probe', "
             "JSON.stringify([...document.images].map(i => [i.complete, i.naturalWidth, "
             "i.naturalHeight]))); };</script></body>")
    page.write_text(render_html(report).replace("</body>", probe))
    base = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(base + ["--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    probe_json = dom.stdout.split('data-probe="', 1)[1].split('"', 1)[0].replace("&quot;", '"')
    images = json.loads(probe_json)
    assert len(images) == 4
    assert all(done and w > 200 and h > 150 for done, w, h in images), images
    shot = tmp_path / "shot.png"
    res = subprocess.run(base + ["--window-size=1200,2400", f"--screenshot={shot}", page.as_uri()],
                         capture_output=True, text=True, timeout=90)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    from PIL import Image
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2400, 1200)
    assert (pixels < 128).mean() > 0.01                        # text and plots are on the page


def test_cli_verify_writes_json_and_html(tmp_path, capsys, monkeypatch, data):
    from test_cli_errors import cli
    x, y = data
    torch.save(small_model(), tmp_path / "m.pt")
    np.savez(tmp_path / "d.npz", x=np.swapaxes(x, 0, 1), y=y)
    code, out, err = cli(capsys, monkeypatch, "verify", tmp_path / "m.pt", "--data", tmp_path / "d.npz",
                         "--json", tmp_path / "r.json", "--html", tmp_path / "r.html")
    assert code == 0, err
    assert "output spike agreement" in out and f"wrote {tmp_path / 'r.html'}" in out.replace("\n", "")
    validate(json.loads((tmp_path / "r.json").read_text()))
    assert "data:image/png;base64," in (tmp_path / "r.html").read_text()
