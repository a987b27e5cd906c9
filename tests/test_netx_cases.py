"""The handed [loihi] cases as tests: a netx file given as the model, and the --netx hint.

* netx-file-input-trust-hint: a lava-dl netx HDF5 file is never treated as a pickle (no
  ``--trust`` advice, never "corrupt"), whatever its suffix, through every verb;
* conv-netx-hint-misleading: compile suggests ``--netx`` only where ``--netx`` writes it.
"""
import h5py
import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from helpers import run_cli as cli


def tiny_dense(path):
    """input 4 -> dense 3 CUBA, the layout lava-dl netx 0.6.0 reads (the case's file)."""
    with h5py.File(path, "w") as f:
        layer = f.create_group("layer")
        g = layer.create_group("0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g["shape"] = np.array([4])
        g = layer.create_group("1")
        g.create_dataset("type", (1,), "S10", [b"dense"])
        g["shape"] = np.array([3])
        g["weight"] = np.array([[2, -4, 6, 8], [10, 0, -2, 4], [0, 2, 2, 2]], np.float32)
        n = g.create_group("neuron")
        n.create_dataset("type", (1,), "S10", [b"CUBA"])
        n["iDecay"] = np.array([4096])
        n["vDecay"] = np.array([1024])
        n["vThMant"] = np.array([10])
    return path


def _ok(code, out, err):
    assert code == 0 and "Traceback" not in out + err, out + err
    assert "--trust" not in err and "corrupt" not in err.lower(), err


@pytest.mark.parametrize("suffix", [".net", ".h5", ".pt"])
def test_netx_file_as_model_is_read_never_unpickled(tmp_path, capsys, monkeypatch, suffix):
    net = tiny_dense(tmp_path / f"tiny{suffix}")
    np.savez(tmp_path / "x.npz", x=np.ones((1, 5, 4), np.uint8))
    for args in (("inspect", net), ("compile", net, "-o", tmp_path / "o1"),
                 ("compile", net, "-o", tmp_path / "o2", "--trust"),
                 ("export-nir", net, "-o", tmp_path / "x.nir"),
                 ("run", net, "--input", tmp_path / "x.npz"),
                 ("run", tmp_path / "o1", "--input", tmp_path / "x.npz")):
        _ok(*cli(capsys, monkeypatch, *args))



def test_network_net_written_by_snncc_is_a_model_input(tmp_path, capsys, monkeypatch):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 6, bias=False), snn.LIF(6, beta=0.9, threshold=1.0),
                      nn.Linear(6, 3, bias=False), snn.LIF(3, beta=0.85, threshold=0.8))
    torch.save(m, tmp_path / "mlp.pt")
    _ok(*cli(capsys, monkeypatch, "compile", tmp_path / "mlp.pt", "--netx", "-o", tmp_path / "b"))
    code, out, err = cli(capsys, monkeypatch, "inspect", tmp_path / "b" / "network.net")
    _ok(code, out, err)
    assert "read lava-dl netx file network.net as is" in out


def test_a_file_that_is_neither_build_folder_nor_netx_is_named(tmp_path, capsys, monkeypatch):
    (tmp_path / "notes.txt").write_text("hello")
    np.savez(tmp_path / "x.npz", x=np.ones((1, 5, 4), np.uint8))
    code, out, err = cli(capsys, monkeypatch, "run", tmp_path / "notes.txt", "--input",
                         tmp_path / "x.npz")
    assert code == 2 and "build folder" in err and "Traceback" not in err


@pytest.mark.lava
def test_verify_of_a_netx_file_checks_it_against_lava_dl(tmp_path, capsys, monkeypatch):
    net = tiny_dense(tmp_path / "tiny.net")
    np.savez(tmp_path / "x.npz", x=np.ones((1, 5, 4), np.uint8))
    code, out, err = cli(capsys, monkeypatch, "verify", net, "--data", tmp_path / "x.npz")
    _ok(code, out, err)
    assert "bit-exact: yes" in out


def conv_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), snn.LIF((4, 6, 6)), nn.Flatten(),
                         nn.Linear(144, 5, bias=False), snn.LIF(5))


def test_no_netx_hint_where_netx_cannot_write_it(tmp_path, capsys, monkeypatch):
    torch.save(conv_model(), tmp_path / "conv.pt")
    shape = ["--input-shape", "1", "--input-shape", "8", "--input-shape", "8"]
    code, out, err = cli(capsys, monkeypatch, "compile", tmp_path / "conv.pt", *shape,
                         "-o", tmp_path / "b")
    assert code == 0, err
    hinted = "--netx" in out
    code2, _, err2 = cli(capsys, monkeypatch, "compile", tmp_path / "conv.pt", *shape, "--netx",
                         "-o", tmp_path / "b2")
    writes = code2 == 0 and (tmp_path / "b2" / "network.net").exists()
    assert writes or not hinted, (out, err2)
