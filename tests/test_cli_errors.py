"""Every bad input gets one clear line (cause + fix), exit code 2, and no partial output."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from helpers import run_cli as cli  # noqa: F401 (other test modules import it from here)




def good_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 6), snn.LIF(6), nn.Linear(6, 3), snn.LIF(3))


@pytest.fixture
def files(tmp_path):
    m = good_model()
    torch.save(m, tmp_path / "model.pt")
    torch.save(m.state_dict(), tmp_path / "state.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04 definitely not a zip")
    (tmp_path / "empty.pt").write_bytes(b"")
    bad = good_model()
    with torch.no_grad():
        bad[0].weight[0, 0] = float("nan")
    torch.save(bad, tmp_path / "nan.pt")
    inf_thr = good_model()
    with torch.no_grad():
        inf_thr[1].threshold[2] = float("inf")
    torch.save(inf_thr, tmp_path / "inf.pt")
    torch.save(nn.Sequential(nn.Linear(8, 6), nn.GELU(), snn.LIF(6)), tmp_path / "gelu.pt")
    np.savez(tmp_path / "data.npz", x=np.random.randint(0, 2, (4, 5, 8)), y=np.arange(4))
    np.savez(tmp_path / "wrong_shape.npz", x=np.random.randint(0, 2, (4, 5, 9)))
    np.savez(tmp_path / "analog.npz", x=np.random.rand(4, 5, 8))
    np.savez(tmp_path / "nox.npz", spikes=np.zeros((4, 5, 8)))
    return tmp_path


@pytest.mark.parametrize("model, needle", [
    ("missing.pt", "does not exist"),
    ("corrupt.pt", "corrupt or not a torch file"),
    ("empty.pt", "is empty"),
    ("state.pt", "holds a state_dict"),
    ("nan.pt", "non-finite value(s) in weight"),
    ("inf.pt", "non-finite value(s) in threshold"),
    ("gelu.pt", "unsupported layer '1'"),
])
def test_bad_model_files(files, capsys, monkeypatch, model, needle):
    out_dir = files / "build"
    code, out, err = cli(capsys, monkeypatch, "compile", files / model, "-o", out_dir)
    assert code == 2
    assert needle in err and "fix:" in err
    assert "Traceback" not in err + out
    assert not out_dir.exists()
    assert not [p for p in files.iterdir() if p.name.startswith(".build")]   # no temp dir left


@pytest.mark.parametrize("data, needle", [
    ("wrong_shape.npz", "the model expects (8,)"),
    ("analog.npz", "not binary"),
    ("nox.npz", "has no array 'x'"),
    ("missing.npz", "does not exist"),
])
def test_bad_data_files(files, capsys, monkeypatch, data, needle):
    code, out, err = cli(capsys, monkeypatch, "verify", files / "model.pt", "--data",
                         files / data, "--json", files / "r.json")
    assert code == 2 and needle in err and "Traceback" not in err
    assert not (files / "r.json").exists()


def test_unknown_target(files, capsys, monkeypatch):
    code, _, err = cli(capsys, monkeypatch, "compile", files / "model.pt", "--target", "spinnaker")
    assert code == 2 and "unknown target 'spinnaker'" in err


class CustomNet(nn.Sequential):
    """A user class snncc has never seen: unpickling it would run its module's code."""


def test_untrusted_pickle_is_refused_without_trust(files, capsys, monkeypatch):
    torch.save(CustomNet(nn.Linear(8, 3), snn.LIF(3)), files / "odd.pt")
    code, _, err = cli(capsys, monkeypatch, "compile", files / "odd.pt", "-o", files / "b")
    assert code == 2 and "--trust" in err and "CustomNet" in err
    code, _, err = cli(capsys, monkeypatch, "compile", files / "odd.pt", "-o", files / "b", "--trust")
    assert code == 0 and (files / "b" / "network.json").exists()


def test_good_run_compiles_and_verifies(files, capsys, monkeypatch):
    code, out, _ = cli(capsys, monkeypatch, "compile", files / "model.pt", "-o", files / "build")
    assert code == 0 and (files / "build" / "network.json").exists()
    code, out, _ = cli(capsys, monkeypatch, "verify", files / "model.pt", "--data",
                       files / "data.npz", "--json", files / "r.json")
    assert code == 0 and "output spike agreement" in out
    code, out, _ = cli(capsys, monkeypatch, "run", files / "build", "--input", files / "data.npz",
                       "-o", files / "spikes.npz")
    assert code == 0 and (files / "spikes.npz").exists()


def test_console_script_exit_code_and_message(files):
    proc = subprocess.run([sys.executable, "-m", "snncc", "compile", str(files / "state.pt")],
                          capture_output=True, text=True, cwd=files)    # -o build: here
    assert proc.returncode == 2
    assert "state_dict" in proc.stderr and "Traceback" not in proc.stderr
