"""The spine's acceptance test: the `make demo` example (docs/results.md), trained with its default settings,
compiles and its quantized simulation agrees with the float model on >= 99% of output spikes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from snncc.compiler import compile_model  # noqa: E402
from snncc.loaders import load_data  # noqa: E402
from snncc.modelfile import load_model  # noqa: E402
from snncc.verify import verify  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "train_digits_mlp.py"),
                          "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return out


def test_example_mlp_float_vs_quantized(example):
    model = load_model(example / "model.pt")
    x, y = load_data(example / "inputs.npz", (64,))
    report = verify(model, compile_model(model), x, y)
    metrics = json.loads((example / "metrics.json").read_text())
    print(f"float {report.accuracy_float:.4f} quantized {report.accuracy_quant:.4f} "
          f"output agreement {report.output_agreement:.4f}")
    assert report.samples == 360 and report.steps == 16
    assert report.accuracy_float == pytest.approx(metrics["float_test_accuracy"], abs=1e-9)
    assert report.accuracy_float > 0.9
    assert report.output_agreement >= 0.99
    assert abs(report.accuracy_quant - report.accuracy_float) <= 0.02
    assert all(layer.spike_agreement >= 0.98 for layer in report.layers)
