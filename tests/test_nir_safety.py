"""Hostile NIR files (issue #10, item 4): nothing outside the file is read, nothing is
allocated before its declared size is checked, every refusal is one ``error:`` line.

Each case goes through ``snncc compile`` as a user types it (exit 2, one error line, no
traceback, no build folder); the size bombs also run in a subprocess under RLIMIT_AS."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from helpers import run_cli
from snncc.backends.nir import read_nir, write_nir
from snncc.errors import SnnccError
from snncc.ir import Affine, CubaLIF, Graph, Input, Output

SECRET = bytes(range(256)) * 8


def _good(tmp_path: Path) -> Path:
    g = Graph({"dt": 1e-3})
    g.add(Input("input", shape=(4,)))
    g.add(Affine("fc", weight=np.ones((2, 4), np.float32)), ["input"])
    g.add(CubaLIF("lif", shape=(2,), alpha=np.zeros(2, np.float32), beta=np.full(2, 0.5, np.float32),
                  threshold=np.ones(2, np.float32), bias=np.zeros(2, np.float32)), ["fc"])
    g.add(Output("output"), ["lif"])
    return write_nir(g, tmp_path / "good.nir")


def _replace_weight(path: Path, make) -> None:
    with h5py.File(path, "r+") as f:
        nodes = f["node"]["nodes"]
        del nodes["fc"]["weight"]
        make(f, nodes["fc"], "weight")


def _external_storage(tmp_path):
    (tmp_path / "secret.bin").write_bytes(SECRET)
    return lambda f, grp, name: grp.create_dataset(
        name, shape=(2, 4), dtype="u1", external=[(str(tmp_path / "secret.bin"), 0, 8)])


def _external_link(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as g:
        g["w"] = np.frombuffer(SECRET[:8], np.uint8).reshape(2, 4).astype(np.float32)

    def make(f, grp, name):
        grp[name] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/w")
    return make


def _virtual(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as g:
        g["w"] = np.ones((2, 4), np.float32)

    def make(f, grp, name):
        layout = h5py.VirtualLayout(shape=(2, 4), dtype="f4")
        layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "w", shape=(2, 4))
        grp.create_virtual_dataset(name, layout)
    return make


def _soft_link(tmp_path):
    def make(f, grp, name):
        f["elsewhere"] = np.ones((2, 4), np.float32)
        grp[name] = h5py.SoftLink("/elsewhere")
    return make


@pytest.mark.parametrize("kind, message", [
    (_external_storage, "external storage"), (_external_link, "external link"),
    (_virtual, "virtual dataset"), (_soft_link, "SoftLink")])
def test_data_outside_the_file_is_refused(tmp_path, monkeypatch, capsys, kind, message):
    path = _good(tmp_path)
    _replace_weight(path, kind(tmp_path))
    code, out, err = run_cli(capsys, monkeypatch, "compile", path, "-o", tmp_path / "b")
    assert code == 2
    assert err.count("error:") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "b").exists()


def _bomb(path: Path, kind: str) -> None:
    """A small file declaring a 20000 x 20000 weight, or 1e8 edges (chunked, never written)."""
    with h5py.File(path, "r+") as f:
        node = f["node"]
        if kind == "weight":
            del node["nodes"]["fc"]["weight"]
            node["nodes"]["fc"].create_dataset("weight", shape=(20000, 20000), dtype="f4",
                                               chunks=(1000, 1000), compression="gzip")
        else:
            del node["edges"]
            node.create_dataset("edges", shape=(10 ** 8, 2), dtype=h5py.string_dtype(),
                                chunks=(4096, 2), compression="gzip")


@pytest.mark.parametrize("kind, message", [("weight", "400,000,000 values"),
                                           ("edges", "100,000,000 edges")])
def test_declared_size_bombs_are_refused_before_reading(tmp_path, kind, message):
    path = _good(tmp_path)
    _bomb(path, kind)
    assert path.stat().st_size < 200_000
    start = time.perf_counter()
    with pytest.raises(SnnccError, match=message):
        read_nir(path)
    assert time.perf_counter() - start < 5


def test_size_bomb_in_bounded_memory_through_the_cli(tmp_path):
    """The CLI process, capped at 2 GiB of address space, refuses the 1.6 GB weight."""
    path = _good(tmp_path)
    _bomb(path, "weight")
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
            "sys.argv = ['snncc', 'compile', sys.argv[1], '-o', sys.argv[2]]; "
            "from snncc.cli import main; main()")
    run = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "b")],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("error:") == 1 and "SNNCC_NIR_MAX_DATASET_ELEMENTS" in run.stderr
    assert not (tmp_path / "b").exists()


def test_limits_come_from_the_environment(tmp_path, monkeypatch):
    path = _good(tmp_path)
    read_nir(path)
    monkeypatch.setenv("SNNCC_NIR_MAX_NODES", "3")
    with pytest.raises(SnnccError, match="more than 3 nodes"):
        read_nir(path)
    monkeypatch.setenv("SNNCC_NIR_MAX_NODES", "many")
    with pytest.raises(SnnccError, match="not an integer"):
        read_nir(path)


def test_unknown_node_type_is_named(tmp_path, monkeypatch, capsys):
    path = _good(tmp_path)
    with h5py.File(path, "r+") as f:
        del f["node"]["nodes"]["lif"]["type"]
        f["node"]["nodes"]["lif"]["type"] = np.bytes_("Resonator")
    code, out, err = run_cli(capsys, monkeypatch, "compile", path, "-o", tmp_path / "b")
    assert code == 2 and err.count("error:") == 1
    assert "'lif' has type 'Resonator', which is not a NIR node type" in err
    assert "AssertionError" not in err


def test_not_a_nir_graph(tmp_path):
    with h5py.File(tmp_path / "x.nir", "w") as f:
        f["data"] = np.ones(3)
    with pytest.raises(SnnccError, match="no 'node' group"):
        read_nir(tmp_path / "x.nir")
