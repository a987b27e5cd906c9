"""The ways people save models, and every model-file message (issue #11, #10 item 7)."""
from __future__ import annotations

import io
import pickle
import resource
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

import snncc.nn as snn
from snncc import api
from snncc.errors import SnnccError
from snncc.modelfile import load_model
from helpers import run_cli  # noqa: E402

SCRIPT = textwrap.dedent('''
    import torch, snncc.nn as snn
    from torch import nn

    class Net(nn.Module):
        def __init__(self, hidden=6, beta=0.9):
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(8, hidden), snn.LIF(hidden, beta=beta)
            self.fc2, self.lif2 = nn.Linear(hidden, 3), snn.LIF(3)

        def forward(self, x):
            return self.lif2(self.fc2(self.lif1(self.fc1(x))))

    def make(hidden):
        return Net(hidden=hidden)

    if __name__ == "__main__":
        torch.manual_seed(0)
        net = Net(hidden=5)
        torch.save(net.state_dict(), "state.pt")
        torch.save({"epoch": 3, "model_state_dict": net.state_dict()}, "ckpt.pt")
        torch.save(net, "pickled_main.pt")
''')


@pytest.fixture(scope="module")
def _project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    (root / "train.py").write_text(SCRIPT)
    subprocess.run([sys.executable, "train.py"], cwd=root, check=True)
    return root


@pytest.fixture
def project(_project, monkeypatch):
    monkeypatch.chdir(_project)
    return _project


def _err(capsys, monkeypatch, *args) -> tuple[int, str]:
    code, out, err = run_cli(capsys, monkeypatch, *args)
    assert "Traceback" not in out + err
    return code, err


def test_state_dict_with_its_class_from_a_script(project, capsys, monkeypatch):
    code, out, err = run_cli(capsys, monkeypatch, "compile", "train.py:Net", "--weights",
                             "state.pt", "--model-args", '{"hidden": 5}', "-o", "build")
    assert code == 0, err
    assert (project / "build" / "network.json").exists() and "self-check" in out
    import shutil
    shutil.rmtree(project / "build")
    model = load_model("train.py:Net", weights="state.pt", model_args='{"hidden": 5}')
    saved = torch.load(project / "state.pt")
    assert torch.equal(model.fc1.weight, saved["fc1.weight"])


def test_checkpoint_dict_factory_and_positional_args(project):
    model = load_model("train.py:make", weights="ckpt.pt", model_args="[5]")
    assert model.fc1.out_features == 5
    sys.path.insert(0, str(project))
    try:
        model = load_model("train:Net", weights="state.pt", model_args='{"hidden": 5}')
    finally:
        sys.path.remove(str(project))
    assert model.fc1.out_features == 5


@pytest.mark.parametrize("args, needle", [
    (["train.py:Net", "--weights", "state.pt"], "does not fit Net"),           # hidden 6 vs 5
    (["train.py:Nope", "--weights", "state.pt"], "has no 'Nope'"),
    (["train.py:Net", "--model-args", "{hidden: 5}"], "not valid JSON"),
    (["train.py:Net", "--model-args", '{"width": 5}'], "cannot be called"),
    (["missing.py:Net"], "does not exist"),
    (["no_such_pkg.models:Net"], "no module named 'no_such_pkg'"),
    (["state.pt"], "holds a state_dict"),
    (["pickled_main.pt"], "defined in the training script"),
    (["pickled_main.pt", "--trust"], "defined in the training script"),
])
def test_load_path_failures_are_one_clear_line(project, capsys, monkeypatch, args, needle):
    code, err = _err(capsys, monkeypatch, "inspect", *args)
    assert code == 2 and needle in err and err.count("error:") == 1, err
    if needle == "holds a state_dict" or "training script" in needle:
        assert "train.py:Net --weights" in err


def test_model_pickled_by_the_script_loads_through_the_script(project):
    """torch.save(model) in train.py records __main__.Net: naming train.py resolves it."""
    model = load_model("train.py:Net", weights="pickled_main.pt", model_args='{"hidden": 5}')
    saved = torch.load(project / "state.pt")
    assert torch.equal(model.fc2.weight, saved["fc2.weight"])


def test_main_class_message_never_calls_the_file_corrupt(project, capsys, monkeypatch):
    _, err = _err(capsys, monkeypatch, "inspect", "pickled_main.pt", "--trust")
    assert "corrupt" not in err and "re-save" not in err


def test_norse_models_reach_the_cli_through_their_state_dict(tmp_path, capsys, monkeypatch):
    pytest.importorskip("norse")
    (tmp_path / "nmodel.py").write_text(textwrap.dedent('''
        import torch, norse.torch as norse
        def build(n=6):
            return norse.SequentialState(torch.nn.Linear(8, n), norse.LIFCell(),
                                         torch.nn.Linear(n, 3), norse.LIFCell())
    '''))
    monkeypatch.chdir(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        import nmodel
        torch.manual_seed(0)
        torch.save(nmodel.build().state_dict(), tmp_path / "norse_state.pt")
    finally:
        sys.path.remove(str(tmp_path))
    code, out, err = run_cli(capsys, monkeypatch, "compile", "nmodel.py:build", "--weights",
                             "norse_state.pt", "-o", "b")
    assert code == 0, err
    assert "Norse's own forward pass" in out


def test_spikingjelly_converter_classes_load_without_trust(tmp_path):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import layer, neuron, surrogate
    model = nn.Sequential(layer.Linear(8, 4), neuron.LIFNode(tau=2.0),
                          nn.Linear(4, 3), neuron.IFNode(surrogate_function=surrogate.ATan()))
    torch.save(model, tmp_path / "sj.pt")
    loaded = load_model(tmp_path / "sj.pt")
    assert type(loaded[1]).__name__ == "LIFNode"
    api.compile(tmp_path / "sj.pt")


# ----------------------------------------------------------------- #10 item 7: hostile model files

class _Alloc:
    """Pickles as a call of an allow-listed class with absurd arguments."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


@pytest.mark.parametrize("func, args", [
    (nn.Linear, (60000, 60000)),              # 14 GB of weights
    (bytearray, (10 ** 10,)),                 # in torch's own default allow-list
    (torch.FloatTensor, (60000, 60000)),
    (snn.LIF, ((40000, 40000),)),
])
def test_allow_listed_constructors_cannot_allocate(tmp_path, func, args):
    path = tmp_path / "bomb.pt"
    torch.save(nn.Sequential(nn.Linear(2, 2)), path)
    buf = io.BytesIO()
    torch.save({"x": _Alloc(func, args)}, buf)
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 100_000
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2 ** 30, hard))    # the call would need > 4 GiB
    try:
        with pytest.raises(SnnccError) as err:
            load_model(path)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert "torch.save never writes" in err.value.cause and "--trust" not in str(err.value)


def _torch_zip(tmp_path, data_pkl: bytes):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("m/data.pkl", data_pkl)
        zf.writestr("m/byteorder", "little")
        zf.writestr("m/version", "3\n")
    path = tmp_path / "m.pt"
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("kind", ["random", "pickle4", "pickle5", "legacy", "hdf5", "text",
                                  "zip-without-pickle"])
def test_non_torch_files_are_never_told_to_use_trust(tmp_path, kind):
    path = tmp_path / "m.pt"
    model = nn.Sequential(nn.Linear(3, 2), snn.LIF(2))
    if kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind.startswith("pickle"):
        path.write_bytes(pickle.dumps(model, protocol=int(kind[-1])))
    elif kind == "legacy":
        torch.save(model, path, _use_new_zipfile_serialization=False)
    elif kind == "hdf5":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    elif kind == "text":
        path.write_text("def forward(x): return x\n")
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("notes.txt", "hello")
        path.write_bytes(buf.getvalue())
    with pytest.raises(SnnccError) as err:
        load_model(path)
    assert "--trust" not in str(err.value) and err.value.fix
    assert {"legacy": "legacy format", "pickle4": "protocol 4", "pickle5": "protocol 5",
            "hdf5": "HDF5"}.get(kind, "") in err.value.cause


def test_unknown_class_is_told_about_trust_and_the_state_dict_path(tmp_path):
    path = _torch_zip(tmp_path, pickle.dumps(_Alloc(print, ("hi",)), protocol=2))
    with pytest.raises(SnnccError) as err:
        load_model(path)
    assert "builtins.print" in err.value.cause and "--trust" in err.value.fix
    assert "--weights" in err.value.fix
