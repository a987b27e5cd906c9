"""Variants of the handed fault cases, as a demanding new user types them.

Each bad input must give one ``error:`` line naming the cause, a ``fix:`` line and exit 2
(no traceback, no silent wrong answer); each good one must compile.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import run_cli
from snncc.compiler import compile_model
from snncc.errors import SnnccError


def _one_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, err
    assert "fix:" in err
    return err


# -- Norse cells called without their state (plain nn.Sequential, custom forward) ---------

def _norse_models():
    norse = pytest.importorskip("norse.torch")

    class CellNoState(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.cell = norse.LIFBoxCell()

        def forward(self, x):
            return self.cell(self.fc(x))[0]

    return norse, {
        "last": nn.Sequential(nn.Linear(8, 8), norse.LIFCell()),
        "middle": nn.Sequential(nn.Linear(8, 8), norse.LIFCell(), nn.Linear(8, 4),
                                norse.LIFBoxCell()),
        "custom": CellNoState(),
    }


@pytest.mark.parametrize("which", ["last", "middle", "custom"])
def test_norse_cell_without_state_refused_by_cause(which):
    norse, models = _norse_models()
    with pytest.raises(SnnccError) as exc:
        compile_model(models[which])
    assert "without its state" in exc.value.cause and "Cell" in exc.value.cause
    assert "SequentialState" in exc.value.fix
    # the same layers in SequentialState compile
    compile_model(norse.SequentialState(nn.Linear(8, 8), norse.LIFCell()))


def test_norse_cell_in_plain_sequential_cli(tmp_path, capsys, monkeypatch):
    pytest.importorskip("norse")
    (tmp_path / "nmodel.py").write_text(
        "import torch, norse.torch as norse\n"
        "def build():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(8, 6), norse.LIFCell(),\n"
        "                               torch.nn.Linear(6, 3), norse.LIFCell())\n")
    monkeypatch.chdir(tmp_path)
    for verb in ("compile", "inspect"):
        args = ("-o", "build") if verb == "compile" else ()
        code, out, err = run_cli(capsys, monkeypatch, verb, "nmodel.py:build", *args)
        assert "SequentialState" in _one_error(code, err)
    assert not (tmp_path / "build").exists()


# -- data files of the wrong rank or layout: one error line, from the header --------------

@pytest.fixture
def lif_files(tmp_path):
    import numpy as np
    import snncc.nn as snn
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Linear(8, 6), snn.LIF(6), nn.Linear(6, 3), snn.LIF(3)),
               tmp_path / "model.pt")
    np.savez(tmp_path / "scalar.npz", x=np.float32(1))
    np.savez(tmp_path / "layout.npz", x=np.zeros((4, 5, 2, 4), np.float32))
    np.savez(tmp_path / "flat.npz", x=np.zeros((4, 5, 8), np.uint8), y=np.array([0, 1, 2, 9]))
    return tmp_path


@pytest.mark.parametrize("data, words", [("scalar.npz", "shape ()"),
                                         ("layout.npz", "input shape (2, 4)")])
@pytest.mark.parametrize("verb", ["verify", "run"])
def test_bad_data_rank_or_layout_one_error(lif_files, capsys, monkeypatch, data, words, verb):
    monkeypatch.chdir(lif_files)
    if verb == "run":
        assert run_cli(capsys, monkeypatch, "compile", "model.pt", "-o", "build")[0] == 0
        args = ("run", "build", "--input", data, "-o", "out.npz")
    else:
        args = ("verify", "model.pt", "--data", data)
    code, out, err = run_cli(capsys, monkeypatch, *args)
    assert words in _one_error(code, err)
    assert not (lif_files / "out.npz").exists()


def test_labels_past_the_output_layer_are_flagged(lif_files, capsys, monkeypatch):
    from snncc import api
    monkeypatch.chdir(lif_files)
    result = api.verify("model.pt", "flat.npz")
    assert any("labels are >= 3" in w for w in result.warnings)
    code, out, err = run_cli(capsys, monkeypatch, "verify", "model.pt", "--data", "flat.npz")
    assert code == 0 and "1 of 4 labels are >= 3" in out + err


# -- two-branch concat / subtraction: refused with the rewrite that compiles ----------------

class TwoBranchCat(nn.Module):
    def __init__(self):
        super().__init__()
        import snncc.nn as snn
        self.a, self.la = nn.Linear(8, 5), snn.LIF(5)
        self.b, self.lb = nn.Linear(8, 4), snn.RCubaLIF(4)
        self.out, self.lo = nn.Linear(9, 3), snn.LIF(3)

    def forward(self, x):
        return self.lo(self.out(torch.cat([self.la(self.a(x)), self.lb(self.b(x))], dim=-1)))


class TwoBranchSplit(TwoBranchCat):
    """The rewrite the refusal names: the Linear after the concat split by columns."""

    def __init__(self):
        super().__init__()
        self.out_a, self.out_b = nn.Linear(5, 3), nn.Linear(4, 3, bias=False)

    def forward(self, x):
        return self.lo(self.out_a(self.la(self.a(x))) + self.out_b(self.lb(self.b(x))))


def test_concat_refusal_names_the_rewrite_and_the_rewrite_compiles(tmp_path, capsys, monkeypatch):
    (tmp_path / "two.py").write_text(
        "from test_user_variants import TwoBranchCat, TwoBranchSplit\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = run_cli(capsys, monkeypatch, "compile", "two.py:TwoBranchCat", "-o", "b")
    assert "fc_a(a) + fc_b(b)" in _one_error(code, err) and "'cat'" in err
    assert not (tmp_path / "b").exists()
    for verb, args in (("compile", ("-o", "b")), ("inspect", ())):
        code, out, err = run_cli(capsys, monkeypatch, verb, "two.py:TwoBranchSplit", *args)
        assert code == 0, err


# -- netx files whose structure is not lava-dl's: one error line, no traceback -------------

def _netx_variant(path, how: str):
    import h5py
    import numpy as np
    from netx_files import cuba, write
    w = np.random.default_rng(0).integers(-60, 80, (5, 16)).astype(np.float32)
    write(path, [{"type": "input", "shape": np.array([16])},
                 {"type": "dense", "shape": np.array([5]), "weight": w,
                  "neuron": lambda g: cuba(g, 3000, 512, 30)}])
    with h5py.File(path, "a") as f:
        if how == "layer-dataset":
            del f["layer"]
            f["layer"] = 1
        elif how == "block-dataset":
            del f["layer/1"]
            f["layer/1"] = 3
    return path


@pytest.mark.parametrize("how", ["layer-dataset", "block-dataset"])
@pytest.mark.parametrize("verb", ["compile", "inspect"])
def test_netx_structure_variants_one_error(tmp_path, capsys, monkeypatch, how, verb):
    monkeypatch.chdir(tmp_path)
    _netx_variant(tmp_path / "net.net", how)
    args = ("-o", "build") if verb == "compile" else ()
    code, out, err = run_cli(capsys, monkeypatch, verb, "net.net", *args)
    assert "net.net" in _one_error(code, err)
    assert not (tmp_path / "build").exists()


# -- NIR neurons with time constants that are not positive ---------------------------------

@pytest.mark.parametrize("tau", [-0.01, 0.0, float("nan")])
def test_nir_nonpositive_tau_named(tmp_path, capsys, monkeypatch, tau):
    import nir
    import numpy as np
    n = 4
    w = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)
    nir.write(tmp_path / "m.nir", nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([3])), "fc": nir.Linear(weight=w),
        "n": nir.LIF(tau=np.full(n, tau, np.float32), r=np.ones(n, np.float32),
                     v_leak=np.zeros(n, np.float32), v_threshold=np.ones(n, np.float32)),
        "output": nir.Output(output_type=np.array([n]))},
        edges=[("input", "fc"), ("fc", "n"), ("n", "output")]))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, monkeypatch, "compile", "m.nir", "--dt", "1e-4", "-o", "b")
    assert "tau holds 4 zero, negative or NaN" in _one_error(code, err)
    assert "Norse" not in err


# -- dtypes: bfloat16 models compile; a model of mixed dtypes is refused by cause ----------

def _lif_net():
    import snncc.nn as snn
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 6), snn.LIF(6), nn.Linear(6, 3), snn.LIF(3))


def test_bfloat16_model_through_every_verb(tmp_path, capsys, monkeypatch):
    import numpy as np
    torch.save(_lif_net().to(torch.bfloat16), tmp_path / "bf16.pt")
    np.savez(tmp_path / "d.npz", x=(np.random.default_rng(0).random((4, 6, 8)) < .3)
             .astype(np.uint8))
    monkeypatch.chdir(tmp_path)
    for args in (("compile", "bf16.pt", "-o", "b"), ("inspect", "bf16.pt"),
                 ("verify", "bf16.pt", "--data", "d.npz"),
                 ("export-nir", "bf16.pt", "-o", "m.nir")):
        code, out, err = run_cli(capsys, monkeypatch, *args)
        assert code == 0, (args, err)
    assert compile_model(_lif_net().to(torch.bfloat16)).self_check.dtype == "bfloat16"


def test_mixed_dtype_model_refused_by_cause(tmp_path, capsys, monkeypatch):
    m = _lif_net()
    m[0].double()
    torch.save(m, tmp_path / "mixed.pt")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, monkeypatch, "compile", "mixed.pt", "-o", "b")
    assert "mixes parameter dtypes float64" in _one_error(code, err)
    assert "model.float()" in err


# -- a model that warns (SpikingJelly step_mode="m" warns torch.jit.script deprecation) ----

def test_cli_prints_model_warnings_and_exits(tmp_path):
    import subprocess
    import sys
    (tmp_path / "warns.py").write_text(
        "import warnings, torch\n"
        "import snncc.nn as snn\n"
        "def build():\n"
        "    warnings.warn('a library warning while building the model', UserWarning)\n"
        "    return torch.nn.Sequential(torch.nn.Linear(8, 6), snn.LIF(6))\n")
    proc = subprocess.run([sys.executable, "-m", "snncc", "compile", "warns.py:build", "-o", "b"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("UserWarning: a library warning") == 1
    assert (tmp_path / "b" / "network.json").exists()
