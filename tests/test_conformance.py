"""Conformance (issue #11): every row of the table in docs/conformance.md is a test, and every
model family of the zoo goes through every CLI verb as a user types it.

The table: ``python bench/conformance.py`` (rows and their evaluation live there).  The zoo:
``bench/zoo.py``.  Families whose modules cannot be pickled (snnTorch's default surrogates,
Norse cells) go through the CLI the way their users save them: ``torch.save(model.state_dict())``
and ``snncc compile bench/zoo.py:<builder> --weights state.pt --model-args '{...}'``.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench import conformance
from bench.zoo import FAMILIES, Family
from helpers import run_cli

ROWS = conformance.rows()


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_conformance_row(row):
    result = conformance.evaluate(row)
    if row.expect == "exact":
        assert result.status == "exact", (result.float_mismatches, result.readout_error)
        assert result.float_mismatches == 0
        # quantized, end to end, random weights: a flipped spike is amplified downstream
        assert result.quantized >= 0.95, result.quantized
    else:
        needle = row.expect.split(":", 1)[1]
        assert result.status == "refused" and needle in result.reason, result.reason


@pytest.fixture
def saved(tmp_path):
    """Save a family's model as its users do; returns the CLI words naming the model."""
    def save(family: Family) -> list[str]:
        model = family.build()
        if family.save == "pickle":
            torch.save(model, tmp_path / "model.pt")
            return [str(tmp_path / "model.pt")]
        torch.save(model.state_dict(), tmp_path / "state.pt")
        spec = f"{conformance.ROOT / 'bench' / 'zoo.py'}:{family.builder}"
        return [spec, "--weights", str(tmp_path / "state.pt"), "--model-args",
                json.dumps(family.args)]
    return save


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_every_cli_verb_on_every_family(family, saved, tmp_path, capsys, monkeypatch):
    if family.framework != "snncc.nn":
        pytest.importorskip({"snnTorch": "snntorch", "SpikingJelly": "spikingjelly",
                             "Norse": "norse"}[family.framework])
    model = saved(family)
    shape = (["--input-shape", ",".join(map(str, family.input_shape))]
             if len(family.input_shape) > 1 else [])
    x = (np.random.default_rng(0).random((6, 12) + family.input_shape) < 0.3).astype(np.uint8)
    np.savez(tmp_path / "x.npz", x=x)                      # (samples, time, ...)
    build = tmp_path / "build"
    verbs = [["compile", *model, *shape, "-o", build],
             ["inspect", *model, *shape],
             ["verify", *model, *shape, "--data", tmp_path / "x.npz", "--json", tmp_path / "r.json"],
             ["run", build, "--input", tmp_path / "x.npz", "-o", tmp_path / "out.npz"],
             ["export-nir", *model, *shape, "-o", tmp_path / "model.nir"]]
    for args in verbs:
        code, out, err = run_cli(capsys, monkeypatch, *args)
        assert code == 0, f"snncc {args[0]}: {err}"
        assert "Traceback" not in out + err
        if args[0] in ("compile", "inspect", "verify"):
            assert "self-check: float graph ==" in out
    assert (build / "network.json").exists() and (tmp_path / "model.nir").exists()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["output_agreement"] > 0.5
    with np.load(tmp_path / "out.npz") as f:
        assert any(k.startswith("spikes/") for k in f.files)
