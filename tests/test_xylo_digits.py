"""The trained Xylo digits example (examples/xylo_digits.py): per-neuron learned decays on
dash values, compiled for Xylo Audio 3, agreement with the float model, bit-exact vs xylosim."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from snncc import api

pytest.importorskip("xylosim.v2", reason="xylosim is installed by make venv")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import xylo_digits  # noqa: E402

# measured with the example's defaults (see docs/xylo.md); the goal is 0.99
MIN_OUTPUT_AGREEMENT = 0.96


@pytest.fixture(scope="module")
def trained():
    model, (_, _, x_te, y_te), acc = xylo_digits.train(log=None)
    return model, x_te, y_te, acc


def test_trained_digits_compile_to_xylo_and_agree(trained, tmp_path):
    model, x, y, acc = trained
    assert acc > 0.75
    per_neuron = {n.name: len(set(np.round(np.asarray(n.beta), 9).tolist()))
                  for n in api.compile(model, target="xylo-audio3").compiled.lowered.nodes()
                  if hasattr(n, "beta")}
    assert max(per_neuron.values()) > 1           # decays learned per neuron, not per layer
    np.savez(tmp_path / "d.npz", x=x, y=y)
    rep = api.verify(model, tmp_path / "d.npz", target="xylo-audio3", backend="xylosim",
                     check_samples=8).report
    assert rep["summary"]["output_agreement"] >= MIN_OUTPUT_AGREEMENT
    assert all(l["spike_mismatches"] + l["u_mismatches"] + l["v_mismatches"] == 0
               for l in rep["bit_exact"]["layers"])
    assert all(l["mapping"] == "exact" for l in rep["layers"])
