"""The output policy (snncc/atomic.py, snncc/manifest.py) through the CLI, as a user types it.

Handed cases turned into tests: output-dir-overwrites-user-files, output-special-file-replaced,
output-path-errors-traceback (the directory / ``.`` / ``..`` parts; the read-only and
disk-full parts run in tests/test_hostile.py, which needs a private mount namespace).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from helpers import run_cli
from snncc import atomic
from snncc.manifest import MANIFEST, read_manifest


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 6), snn.LIF(6), nn.Linear(6, 3), snn.LIF(3))


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save(_model(), tmp_path / "model.pt")
    np.savez(tmp_path / "data.npz", x=np.random.default_rng(0).integers(0, 2, (3, 6, 8)),
             y=np.arange(3))
    return tmp_path


def cli(monkeypatch, capsys, *args):
    code, out, err = run_cli(capsys, monkeypatch, *args)
    assert "Traceback" not in out + err
    if code == 2:
        assert sum(line.startswith("error:") for line in err.splitlines()) == 1, err
        assert "fix:" in err
    return code, out, err


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_new_build_folder_has_manifest_and_umask_mode(ws, monkeypatch, capsys):
    old = os.umask(0o022)
    try:
        code, _, _ = cli(monkeypatch, capsys, "compile", "model.pt", "-o", "b")
    finally:
        os.umask(old)
    assert code == 0
    assert (ws / "b").stat().st_mode & 0o777 == 0o755
    assert (ws / "b" / "network.json").stat().st_mode & 0o777 == 0o644
    m = read_manifest(ws / "b")
    assert m is not None and m.state == "complete"
    assert {"network.json", "params.npz", "quantization.json", "lava_network.py"} <= set(m.files)
    assert m.meta["lava_neuron"] == "auto"
    assert not [p for p in ws.iterdir() if ".snncc-tmp-" in p.name]


def test_existing_user_folder_is_refused_and_force_keeps_user_files(ws, monkeypatch, capsys):
    (ws / "user" / "sub").mkdir(parents=True)
    (ws / "user" / "thesis.txt").write_text("precious")
    (ws / "user" / "sub" / "data.csv").write_text("1,2")
    before = tree(ws / "user")
    code, _, err = cli(monkeypatch, capsys, "compile", "model.pt", "-o", "user")
    assert code == 2 and "--force" in err and tree(ws / "user") == before
    code, _, _ = cli(monkeypatch, capsys, "compile", "model.pt", "-o", "user", "--force")
    assert code == 0
    after = tree(ws / "user")
    assert {k: after[k] for k in before} == before          # nothing of the user's touched
    assert MANIFEST in after and "network.json" in after
    # a file of the user's named like one snncc writes is never replaced, even with --force
    (ws / "user2").mkdir()
    (ws / "user2" / "network.json").write_text("mine")
    code, _, err = cli(monkeypatch, capsys, "compile", "model.pt", "-o", "user2", "--force")
    assert code == 2 and "not written by snncc" in err
    assert (ws / "user2" / "network.json").read_text() == "mine"


def test_rebuild_replaces_only_snncc_files(ws, monkeypatch, capsys):
    assert cli(monkeypatch, capsys, "compile", "model.pt", "-o", "b")[0] == 0
    (ws / "b" / "notes.md").write_text("my notes")        # the user's file in the build
    assert cli(monkeypatch, capsys, "compile", "model.pt", "-o", "b")[0] == 0
    assert (ws / "b" / "notes.md").read_text() == "my notes"
    # an edited snncc file: refused without --force, replaced with it
    (ws / "b" / "lava_network.py").write_text("# edited")
    code, _, err = cli(monkeypatch, capsys, "compile", "model.pt", "-o", "b")
    assert code == 2 and "changed after snncc wrote it" in err
    assert (ws / "b" / "lava_network.py").read_text() == "# edited"
    assert cli(monkeypatch, capsys, "compile", "model.pt", "-o", "b", "--force")[0] == 0
    assert (ws / "b" / "lava_network.py").read_text() != "# edited"
    assert (ws / "b" / "notes.md").read_text() == "my notes"


@pytest.mark.parametrize("where", ["model", "parent", "dot", "dotdot", "cwd"])
def test_outputs_never_name_inputs_or_their_folders(ws, monkeypatch, capsys, where):
    (ws / "proj").mkdir()
    torch.save(_model(), ws / "proj" / "m.pt")
    (ws / "proj" / "README").write_text("notes")
    before = tree(ws)
    out = {"model": "proj/m.pt", "parent": "proj", "dot": ".", "dotdot": "..",
           "cwd": str(ws)}[where]
    code, _, err = cli(monkeypatch, capsys, "compile", "proj/m.pt", "-o", out, "--force")
    assert code == 2
    assert tree(ws) == before


def test_file_outputs_refuse_folders_devices_and_foreign_files(ws, monkeypatch, capsys):
    assert cli(monkeypatch, capsys, "compile", "model.pt", "-o", "b")[0] == 0
    (ws / "adir").mkdir()
    (ws / "adir" / "marker").write_text("x")
    for args in (["run", "b", "--input", "data.npz", "-o", "adir"],
                 ["verify", "model.pt", "--data", "data.npz", "--json", "adir"],
                 ["export-nir", "model.pt", "-o", "adir"],
                 ["run", "b", "--input", "data.npz", "-o", "/dev/null"],
                 ["run", "b", "--input", "data.npz", "-o", "data.npz"],
                 ["verify", "model.pt", "--data", "data.npz", "--json", "r.x", "--html", "r.x"]):
        code, _, _ = cli(monkeypatch, capsys, *args)
        assert code == 2, args
    assert (ws / "adir" / "marker").exists() and not (ws / "r.x").exists()
    (ws / "thesis.tex").write_text("words")
    code, _, err = cli(monkeypatch, capsys, "run", "b", "--input", "data.npz", "-o", "thesis.tex")
    assert code == 2 and "--force" in err and (ws / "thesis.tex").read_text() == "words"
    # snncc's own outputs are replaced on a rerun
    for _ in range(2):
        assert cli(monkeypatch, capsys, "run", "b", "--input", "data.npz", "-o", "s.npz")[0] == 0
        assert cli(monkeypatch, capsys, "verify", "model.pt", "--data", "data.npz",
                   "--json", "r.json", "--html", "r.html")[0] == 0


def test_fifo_output_is_written_through(ws, monkeypatch, capsys):
    assert cli(monkeypatch, capsys, "compile", "model.pt", "-o", "b")[0] == 0
    os.mkfifo(ws / "out.fifo")
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("data", (ws / "out.fifo").read_bytes()))
    reader.start()
    time.sleep(0.2)
    code, _, _ = cli(monkeypatch, capsys, "run", "b", "--input", "data.npz", "-o", "out.fifo")
    reader.join(30)
    assert code == 0 and (ws / "out.fifo").is_fifo()
    assert got["data"][:2] == b"PK"                       # the .npz came through
    # no reader: refused, not blocked
    code, _, err = cli(monkeypatch, capsys, "run", "b", "--input", "data.npz", "-o", "out.fifo")
    assert code == 2 and "no process is reading" in err


def test_run_refuses_a_tampered_or_interrupted_build(ws, monkeypatch, capsys):
    assert cli(monkeypatch, capsys, "compile", "model.pt", "-o", "b")[0] == 0
    desc = json.loads((ws / "b" / "network.json").read_text())
    desc["meta"]["note"] = "edited"
    (ws / "b" / "network.json").write_text(json.dumps(desc))
    code, _, err = cli(monkeypatch, capsys, "run", "b", "--input", "data.npz")
    assert code == 2 and "changed after snncc compiled it" in err
    (ws / "b" / MANIFEST).unlink()                        # a user who edits on purpose
    assert cli(monkeypatch, capsys, "run", "b", "--input", "data.npz")[0] == 0
    assert cli(monkeypatch, capsys, "compile", "model.pt", "-o", "c")[0] == 0
    m = json.loads((ws / "c" / MANIFEST).read_text())
    m["state"] = "pending"
    (ws / "c" / MANIFEST).write_text(json.dumps(m))
    code, _, err = cli(monkeypatch, capsys, "run", "c", "--input", "data.npz")
    assert code == 2 and "incomplete build" in err


def test_stale_temporaries_of_dead_runs_are_removed_others_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".b.snncc-tmp-{atomic._HOST}-{dead.pid}-abcd"
    stale.mkdir()
    (stale / "network.json").write_text("{}")
    live = tmp_path / f".b.snncc-tmp-{atomic._HOST}-{os.getppid()}-abcd"
    live.mkdir()
    other_host = tmp_path / f".b.snncc-tmp-00000000-{dead.pid}-abcd"
    other_host.mkdir()
    user = tmp_path / ".b.old"
    user.mkdir()
    assert atomic.clean_stale(tmp_path, "b") == [stale]
    assert live.exists() and other_host.exists() and user.exists()


_WRITER = """
import os, sys, time
from pathlib import Path
from snncc.atomic import output_dir
with output_dir(sys.argv[1]) as tmp:
    (tmp / "a.txt").write_text(str(os.getpid()))
    (tmp / "b.txt").write_text(str(os.getpid()))
    if len(sys.argv) > 2:
        print("ready", flush=True)
        time.sleep(60)
"""


def test_sigterm_leaves_no_temporaries(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path / "out"), "wait"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writers_of_one_output_all_succeed(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path / "out")],
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        assert p.wait(120) == 0, p.stderr.read()
    out = tmp_path / "out"
    a, b = (out / "a.txt").read_text(), (out / "b.txt").read_text()
    assert a == b                                          # one writer's complete set
    assert read_manifest(out).state == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
