"""The hostile corpus: inputs built at test time to crash, exhaust or trick snncc, one kind each.

Every case asserts what a user is promised: exit code 2, exactly one ``error:`` line with a
``fix:``, no traceback, nothing written and nothing deleted in the workspace.  Cases that
could hang or allocate run in a subprocess under RLIMIT_AS and a timeout (bounded memory
and time); the rest run in-process (tests/helpers.run_cli) to keep the suite fast.
Kinds owned by other areas (model pickles: frontends; NIR/HDF5 external storage: nir) are
listed in docs/reliability.md.
"""
from __future__ import annotations

import io
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from helpers import run_cli

N_IN = 8
GIB = 2 ** 30


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(N_IN, 6), snn.LIF(6), nn.Linear(6, 3), snn.LIF(3))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """model.pt, data.npz and a compiled build folder, made once and copied per case."""
    root = tmp_path_factory.mktemp("hostile-base")
    torch.save(_model(), root / "model.pt")
    np.savez(root / "data.npz", x=np.random.default_rng(0).integers(0, 2, (2, 5, N_IN)).astype(np.uint8))
    from snncc import api
    api.compile(root / "model.pt", out=root / "build")
    return root


@pytest.fixture
def ws(base, tmp_path, monkeypatch):
    for name in ("model.pt", "data.npz"):
        shutil.copy(base / name, tmp_path / name)
    shutil.copytree(base / "build", tmp_path / "build")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(root.rglob("*")):
        st = os.lstat(p)
        out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns,
                                         p.read_bytes() if p.is_file() and not p.is_symlink() else None)
    return out


def assert_refused(code, out, err, needle=None):
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    assert [l for l in err.splitlines() if l.startswith("error:")].__len__() == 1, err
    assert "fix:" in err
    if needle:
        assert needle in err, err


def npy_header(shape, descr="|u1") -> bytes:
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (descr, tuple(shape))
    h += " " * (64 - (10 + len(h) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode()


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _params_with(ws: Path, mutate) -> None:
    """Rewrite build/params.npz with ``mutate(arrays)`` applied (manifest removed: a user
    who edits on purpose; the load checks must still catch it)."""
    with np.load(ws / "build" / "params.npz") as f:
        arrays = {k: f[k] for k in f.files}
    mutate(arrays)
    np.savez(ws / "build" / "params.npz", **arrays)
    (ws / "build" / "snncc-manifest.json").unlink()


def _graph_with(ws: Path, mutate) -> None:
    desc = json.loads((ws / "build" / "network.json").read_text())
    mutate(desc)
    (ws / "build" / "network.json").write_text(json.dumps(desc))
    (ws / "build" / "snncc-manifest.json").unlink()


def _key(arrays, suffix):
    return next(k for k in arrays if k.endswith(suffix))


def _set(arrays, suffix, value):
    k = _key(arrays, suffix)
    arrays[k] = np.full_like(arrays[k], value)


# kind -> (setup(ws) -> CLI args, needle in the error line)
CASES = {
    # data files
    "data: member 'x' shadows 'x.npy' (raw bytes)": (
        lambda ws: write_zip(ws / "d.npz", {"x.npy": npy_header((1, 2, N_IN)) + bytes(2 * N_IN),
                                            "x": b"hello"}), "members named 'x'"),
    "data: 'x' without .npy declaring 64 TB": (
        lambda ws: write_zip(ws / "d.npz", {"x": npy_header((10 ** 6, 10 ** 6, 64))}), "MiB limit"),
    "data: 'x' not an array": (lambda ws: write_zip(ws / "d.npz", {"x": b"not numpy"}), "not a numpy array"),
    "data: truncated member": (
        lambda ws: write_zip(ws / "d.npz", {"x.npy": npy_header((2, 5, N_IN)) + b"\x01"}), "truncated"),
    "data: object dtype (pickle inside)": (
        lambda ws: write_zip(ws / "d.npz", {"x.npy": npy_header((1,), "|O") + b"\x80\x04N."}), "dtype"),
    "data: not a zip": (lambda ws: (ws / "d.npz").write_bytes(b"\x93NUMPY garbage"), "not an .npz"),
    "data: empty file": (lambda ws: (ws / "d.npz").write_bytes(b""), "is empty"),
    "data: a folder": (lambda ws: (ws / "d.npz").mkdir(), "folder"),
    "data: a FIFO (would block)": (lambda ws: os.mkfifo(ws / "d.npz"), "FIFO"),
    "data: missing": (lambda ws: None, "does not exist"),
    "data: not binary": (lambda ws: np.savez(ws / "d.npz", x=np.full((1, 3, N_IN), 7)), "not binary"),
    "data: wrong width": (lambda ws: np.savez(ws / "d.npz", x=np.zeros((1, 3, N_IN + 1), np.uint8)), "expects"),
    "data: negative labels": (lambda ws: np.savez(ws / "d.npz", x=np.zeros((2, 3, N_IN), np.uint8),
                                                  y=np.array([-1, 0])), "class indices"),
    # compiled folders
    "build: weight beyond 8 bits": (
        lambda ws: _params_with(ws, lambda a: _set(a, "d0.weight" if any(k.endswith("d0.weight") for k in a)
                                                   else ".weight", 4000)), "hardware range"),
    "build: du beyond 12 bits": (lambda ws: _params_with(ws, lambda a: _set(a, ".du", 99999)), "hardware range"),
    "build: vth beyond 17 bits": (lambda ws: _params_with(ws, lambda a: _set(a, ".vth", 2 ** 20)), "hardware range"),
    "build: bias mantissa beyond 13 bits": (
        lambda ws: _params_with(ws, lambda a: _set(a, ".bias_mant", 10 ** 6)), "hardware range"),
    "build: weight exponent out of range": (
        lambda ws: _graph_with(ws, lambda d: next(n for n in d["nodes"] if n["kind"] == "fx_dense")
                               .__setitem__("weight_exp", 40)), "hardware range"),
    "build: non-recurrent self edge": (
        lambda ws: _graph_with(ws, lambda d: d["edges"].append(
            {"src": d["nodes"][1]["name"], "dst": d["nodes"][1]["name"], "port": 1, "recurrent": False})),
        "feeds itself"),
    "build: feed-forward cycle": (
        lambda ws: _graph_with(ws, lambda d: d["edges"].append(
            {"src": d["nodes"][2]["name"], "dst": d["nodes"][1]["name"], "port": 1, "recurrent": False})),
        "cycle"),
    "build: edge to an unknown node": (
        lambda ws: _graph_with(ws, lambda d: d["edges"].append(
            {"src": "ghost", "dst": d["nodes"][1]["name"], "port": 1, "recurrent": False})), "unknown"),
    "build: params bomb member without .npy": (
        lambda ws: (write_zip(ws / "build" / "params.npz",
                              {**{n: zipfile.ZipFile(ws / "build" / "params.npz").read(n)
                                  for n in zipfile.ZipFile(ws / "build" / "params.npz").namelist()},
                               "bomb": npy_header((2 ** 20, 2 ** 20), "<i8")}),
                    (ws / "build" / "snncc-manifest.json").unlink()), "GiB of parameters"),
    "build: network.json is a FIFO (would block)": (
        lambda ws: ((ws / "build" / "network.json").unlink(), os.mkfifo(ws / "build" / "network.json"),
                    (ws / "build" / "snncc-manifest.json").unlink()), "FIFO"),
    "build: network.json links outside the build": (
        lambda ws: ((ws / "build" / "network.json").unlink(),
                    (ws / "build" / "network.json").symlink_to("/etc/hostname"),
                    (ws / "build" / "snncc-manifest.json").unlink()), "symbolic link"),
    "build: params.npz missing": (lambda ws: (ws / "build" / "params.npz").unlink(), "params.npz is missing"),
    "build: network.json missing": (lambda ws: (ws / "build" / "network.json").unlink(), "network.json is missing"),
    "build: tampered after compile": (
        lambda ws: (ws / "build" / "params.npz").write_bytes((ws / "build" / "params.npz").read_bytes() + b"\0"),
        "changed after snncc compiled it"),
    "build: manifest garbage": (lambda ws: (ws / "build" / "snncc-manifest.json").write_text("[1"), "manifest"),
    "build: not a folder": (lambda ws: (shutil.rmtree(ws / "build"), (ws / "build").write_text("x")),
                            "not a build folder"),
    "build: interrupted compile": (
        lambda ws: (ws / "build" / "snncc-manifest.json").write_text(
            (ws / "build" / "snncc-manifest.json").read_text().replace('"complete"', '"pending"')),
        "incomplete build"),
    "build: wide JSON nesting": (
        lambda ws: ((ws / "build" / "network.json").write_text("[" * 100000 + "]" * 100000),
                    (ws / "build" / "snncc-manifest.json").unlink()), "corrupt"),
}

RUN_CASES = {k for k in CASES if k.startswith("build:")}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_hostile_input_is_refused_cleanly(ws, monkeypatch, capsys, kind):
    setup, needle = CASES[kind]
    setup(ws)
    before = snapshot(ws)
    if kind in RUN_CASES:
        args = ["run", "build", "--input", "data.npz", "-o", "out.npz"]
    else:
        args = ["run", "build", "--input", "d.npz", "-o", "out.npz"]
    if "FIFO" in kind:       # could block: run it in a subprocess with a timeout
        proc = subprocess.run([sys.executable, "-m", "snncc", *args], capture_output=True,
                              text=True, timeout=120)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        code, out, err = run_cli(capsys, monkeypatch, *args)
    assert_refused(code, out, err, needle)
    assert snapshot(ws) == before                   # nothing written, nothing deleted


OPTION_CASES = {
    "verify --backend bogus": (["verify", "model.pt", "--data", "data.npz", "--backend", "bogus"], "bogus"),
    "verify --check-samples 0": (["verify", "model.pt", "--data", "data.npz", "--backend", "fast",
                                  "--check-samples", "0"], "check-samples"),
    "verify bad data before compile": (["verify", "model.pt", "--data", "nope.npz"], "does not exist"),
    "compile --lava-neuron bogus": (["compile", "model.pt", "-o", "b2", "--lava-neuron", "bogus"], "policy"),
    "run --backend bogus": (["run", "build", "--input", "data.npz", "--backend", "bogus"], "bogus"),
    "compile -o the model file": (["compile", "model.pt", "-o", "model.pt"], "is the input"),
    "compile -o .": (["compile", "model.pt", "-o", "."], "current folder"),
    "compile -o ..": (["compile", "model.pt", "-o", ".."], "current folder"),
    "compile -o a user folder": (["compile", "model.pt", "-o", "userdir"], "--force"),
    "compile -o a path through a file": (["compile", "model.pt", "-o", "data.npz/b"], "not a folder"),
    "compile -o a long name": (["compile", "model.pt", "-o", "x" * 300], "too long"),
    "run -o a folder": (["run", "build", "--input", "data.npz", "-o", "userdir"], "folder"),
    "run -o a device": (["run", "build", "--input", "data.npz", "-o", "/dev/null"], "device"),
    "run -o the data file": (["run", "build", "--input", "data.npz", "-o", "data.npz"], "is the input"),
    "export-nir -o a foreign file": (["export-nir", "model.pt", "-o", "userdir/notes.txt"], "--force"),
    "verify --json == --html": (["verify", "model.pt", "--data", "data.npz", "--json", "r", "--html", "r"],
                                "same file"),
    "model: a folder": (["compile", "userdir", "-o", "b3"], "folder"),
    "model: missing": (["inspect", "missing.pt"], "does not exist"),
}


@pytest.mark.parametrize("kind", sorted(OPTION_CASES))
def test_hostile_options_and_outputs_are_refused_before_work(ws, monkeypatch, capsys, kind):
    (ws / "userdir").mkdir()
    (ws / "userdir" / "notes.txt").write_text("mine")
    before = snapshot(ws)
    args, needle = OPTION_CASES[kind]
    assert_refused(*run_cli(capsys, monkeypatch, *args), needle)
    assert snapshot(ws) == before


# -- bounded memory: the largest refused inputs, in a subprocess under RLIMIT_AS -----------
def _limited(limit_bytes):
    def pre():
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    return pre


def _run_limited(ws: Path, args, limit=3 * GIB, env=None):
    """(exit code, stderr, peak RSS in MiB) of ``snncc args`` under RLIMIT_AS = ``limit``."""
    proc = subprocess.Popen([sys.executable, "-m", "snncc", *args], cwd=ws, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_limited(limit),
                            env=dict(os.environ, **(env or {})))
    out, err = proc.communicate(timeout=300)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc.returncode, out, err, ru.ru_maxrss / 1024


def _long_run(ws: Path) -> None:
    """1 sample x 10**6 steps: 8 MB decoded, 8 KB on disk; the run's records need GiBs."""
    with zipfile.ZipFile(ws / "d.npz", "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("x.npy", "w", force_zip64=True) as fh:
            fh.write(npy_header((1, 10 ** 6, N_IN)))
            fh.write(bytes(10 ** 6 * N_IN))


def _decodes_to_2gib(ws: Path) -> None:
    """A ~2 MB file whose 'x' (no .npy suffix) decodes to 2 GiB: inside the data cap."""
    with zipfile.ZipFile(ws / "d.npz", "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("x", "w", force_zip64=True) as fh:
            fh.write(npy_header((2 ** 11, 2 ** 17, N_IN)))
            chunk = bytes(2 ** 24)
            for _ in range(2 * GIB // len(chunk)):
                fh.write(chunk)


@pytest.mark.parametrize("make, needle", [(_long_run, "would need about"),
                                          (_decodes_to_2gib, "would need about")],
                         ids=["1e6-steps", "2GiB-decoded"])
def test_runs_that_do_not_fit_are_refused_before_decoding(ws, make, needle):
    make(ws)
    before = snapshot(ws)
    code, out, err, peak = _run_limited(ws, ["run", "build", "--input", "d.npz", "-o", "s.npz"],
                                        env={"SNNCC_MAX_MEMORY": str(GIB // 2)})
    assert_refused(code, out, err, needle)
    print(f"peak RSS {make.__name__}: {peak:.0f} MiB")   # pytest -s shows the measurement
    assert peak < 700, peak                       # nothing large was decoded
    assert snapshot(ws) == before


def test_bomb_under_rlimit(ws):
    write_zip(ws / "d.npz", {"x": npy_header((10 ** 6, 10 ** 6, 64))})
    code, out, err, peak = _run_limited(ws, ["run", "build", "--input", "d.npz"], limit=2 * GIB)
    assert_refused(code, out, err, "MiB limit")
    print(f"peak RSS 64 TB bomb: {peak:.0f} MiB")
    assert peak < 700


# -- OS errors: read-only and full file systems (private mount namespace) ----------------
def _unshare() -> list[str]:
    if not shutil.which("unshare"):
        return []
    cmd = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    ok = subprocess.run(cmd + ["sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
                        capture_output=True).returncode == 0
    return cmd if ok else []


@pytest.mark.parametrize("mount, verb", [
    ("ro,size=64k", "compile"), ("size=4k", "compile"), ("size=4k", "run"),
    ("size=8k", "export-nir"), ("size=12k", "verify")])
def test_full_and_read_only_disks_give_one_error_line(ws, mount, verb):
    ns = _unshare()
    if not ns:
        pytest.skip("no private mount namespace here")
    (ws / "fs").mkdir()
    model = ws / "m095.pt"
    m = _model()
    torch.save(m, model)
    args = {"compile": ["compile", str(model), "-o", "fs/b"],
            "run": ["run", "build", "--input", "data.npz", "-o", "fs/s.npz"],
            "export-nir": ["export-nir", str(model), "-o", "fs/m.nir"],
            "verify": ["verify", str(model), "--data", "data.npz", "--json", "fs/r.json",
                       "--html", "fs/r.html"]}[verb]
    fill = "echo x > fs/.fill && " if verb == "run" else ""     # one page: the disk is full
    script = (f"mount -t tmpfs -o {mount} tmpfs fs && {fill}{sys.executable} -m snncc "
              + " ".join(f"'{a}'" for a in args) + "; rc=$?; ls -A fs; exit $rc")
    proc = subprocess.run(ns + ["sh", "-c", script], cwd=ws, capture_output=True, text=True,
                          timeout=300)
    assert_refused(proc.returncode, "", proc.stderr)
    assert ("ENOSPC" in proc.stderr) or ("EROFS" in proc.stderr)
    assert not any(l.strip() in ("r.json", "r.html", "s.npz", "m.nir", "b")
                   or "snncc-tmp" in l
                   for l in proc.stdout.splitlines())
