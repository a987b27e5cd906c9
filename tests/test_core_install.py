"""The core install: ``pip install snncc`` without the ``compiler`` extra (no torch).

``import snncc``, ``snncc --help`` and ``snncc run`` on a compiled network work without
torch; a command that needs torch ends in one ``error:`` line whose ``fix:`` names the extra.
torch is hidden from a fresh interpreter by a ``sys.meta_path`` finder, as if not installed.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

BLOCK = textwrap.dedent("""
    import sys
    class _NoTorch:
        BLOCKED = {"torch", "nir", "nirtorch", "h5py", "matplotlib", "sklearn", "snntorch",
                   "norse", "spikingjelly"}
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, _NoTorch())
""")


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "100", "PYTHONPATH": str(ROOT)})


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return _run(f"import sys; sys.argv = ['snncc'] + {args!r}\n"
                "from snncc.cli import main\nmain()", cwd)


def test_core_imports_without_torch(tmp_path):
    proc = _run("""
        import snncc, snncc.ir, snncc.backends.sim, snncc.cli
        assert "torch" not in sys.modules
        print(snncc.__version__)
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_help_without_torch(tmp_path):
    for args in (["--help"], ["compile", "--help"], ["--version"]):
        proc = _cli(args, tmp_path)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_torch_command_names_the_extra(tmp_path):
    torch = pytest.importorskip("torch")
    import snncc.nn as snn
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 2), snn.LIF(2)), tmp_path / "model.pt")
    proc = _cli(["compile", "model.pt", "-o", "out"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert lines[0].startswith("error: cannot run snncc compile: it needs torch"), proc.stderr
    assert "fix: pip install 'snncc[compiler]'" in lines[1]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_run_compiled_network_without_torch(tmp_path):
    pytest.importorskip("torch")
    from torch import nn

    import snncc.nn as snn
    from snncc import api
    model = nn.Sequential(nn.Linear(8, 6), snn.LIF(6), nn.Linear(6, 3), snn.LIF(3))
    api.compile(model, out=tmp_path / "build", input_shape=(8,))
    x = (np.random.default_rng(0).random((4, 10, 8)) < 0.5).astype(np.uint8)
    np.savez(tmp_path / "x.npz", x=x)
    proc = _cli(["run", "build", "--input", "x.npz", "-o", "spikes.npz"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "spikes.npz").exists()
