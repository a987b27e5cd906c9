"""Lava backend: generated lava-nc process graphs, run in the Python 3.10 Lava env.

lava-nc 0.10.0 runs only on Python 3.10, so the compiler (3.11, torch) drives it as a
subprocess: the fixed-point graph and the generated ``lava_network.py`` go to a directory,
``python -m snncc.backends.lava.harness`` runs them there, and the spikes (and states) come
back as an npz.  Which Python: ``$SNNCC_LAVA_PYTHON`` if set, else ``.venv-lava`` in the
source checkout (``make lava-env`` creates it), else the current interpreter if it can
import lava itself (then it runs in-process).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from snncc.errors import SnnccError
from snncc.ir import FxGradedNeuron, FxNeuron, Graph, serialize
from snncc.ir.sigma_delta import GRADED_KINDS

from .. import register_runner
from ..sim import SimResult
from . import codegen

ENV_VAR = "SNNCC_LAVA_PYTHON"
HOW_TO = ("run `make lava-env` in the snncc checkout (creates .venv-lava with Python 3.10 "
          "and lava-nc 0.10.0), or point SNNCC_LAVA_PYTHON at a Python 3.10 that has "
          "lava-nc 0.10.0 and snncc (`pip install --no-deps -e .`) installed; no Python 3.10? "
          "`pyenv install 3.10`")


def _lava_importable_here() -> bool:
    import importlib.util
    return importlib.util.find_spec("lava") is not None


def find_lava_python() -> Optional[str]:
    """The interpreter that runs Lava, or None to run in-process."""
    env = os.environ.get(ENV_VAR)
    if env:
        if not Path(env).exists():
            raise SnnccError(f"{ENV_VAR}={env} does not exist", HOW_TO)
        return env
    checkout = Path(__file__).resolve().parents[2] / ".venv-lava" / "bin" / "python"
    if checkout.exists():
        return str(checkout)
    if _lava_importable_here():
        return None
    raise SnnccError("no Python environment with lava-nc 0.10.0 was found", HOW_TO)


def run_build_dir(build: Path, stimulus: np.ndarray, states: bool = False,
                  timeout: Optional[float] = None) -> dict[str, np.ndarray]:
    """Run ``build/lava_network.py`` on stimulus (T, B, ...): {"<layer>/s|u|v": (T, B, n)}."""
    return _run_harness(Path(build), stimulus, states, timeout, netx=False)


def run_netx_file(path: Path, stimulus: np.ndarray, states: bool = False,
                  timeout: Optional[float] = None, options: Optional[dict] = None
                  ) -> dict[str, np.ndarray]:
    """Load a netx HDF5 file with lava-dl's own ``netx.hdf5.Network`` (``options``: its
    keyword arguments) and run it: {"<layer>/s|u|v": (T, B, n)} under snncc's layer names
    (see :mod:`snncc.backends.lava.netx_harness`)."""
    return _run_harness(Path(path), stimulus, states, timeout, netx=True, options=options)


def _run_harness(target: Path, stimulus: np.ndarray, states: bool, timeout: Optional[float],
                 netx: bool, options: Optional[dict] = None) -> dict[str, np.ndarray]:
    import json
    stimulus = np.asarray(stimulus).reshape(stimulus.shape[0], stimulus.shape[1], -1)
    python = find_lava_python()
    if python is None:
        if netx:
            from .netx_harness import run as run_netx
            return run_netx(target, stimulus, states, options)
        from .harness import run
        return run(target, stimulus, states)
    with tempfile.TemporaryDirectory(prefix="snncc-lava-") as tmp:
        stim, out = Path(tmp) / "stimulus.npz", Path(tmp) / "out.npz"
        graded = not np.all((stimulus == 0) | (stimulus == 1))
        np.savez(stim, x=stimulus.astype(np.int32 if graded else np.uint8))
        module = "snncc.backends.lava.netx_harness" if netx else "snncc.backends.lava.harness"
        cmd = [python, "-m", module, str(target), str(stim), str(out)]
        cmd += (["--states"] if states else [])
        cmd += (["--options", json.dumps(options or {})] if netx else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-6:])
            if netx and "No module named" in proc.stderr and ("lava.lib" in proc.stderr
                                                              or "h5py" in proc.stderr):
                raise SnnccError(f"the Lava Python ({python}) cannot load netx:\n{tail}",
                                 "install lava-dl 0.6.0 (pip install --no-deps lava-dl==0.6.0) "
                                 "and h5py into it")
            if "No module named" in proc.stderr and ("lava" in proc.stderr or "snncc" in proc.stderr):
                raise SnnccError(f"the Lava Python ({python}) lacks lava-nc or snncc:\n{tail}", HOW_TO)
            raise SnnccError(f"the Lava run failed ({python}):\n{tail}",
                             "check the build directory; re-run `snncc compile`")
        with np.load(out) as f:
            return {k: f[k] for k in f.files}


def _to_chw(shape):
    """Lava records a (C, H, W) layer in its (W, H, C) layout: back to snncc's flat order."""
    if len(shape) != 3:
        return lambda a: a
    c, h, w = (int(s) for s in shape)
    return lambda a: a.reshape(a.shape[:2] + (w, h, c)).transpose(0, 1, 4, 3, 2).reshape(a.shape)


@register_runner("lava")
def run_lava(graph: Graph, stimulus: np.ndarray, record_states: bool = False,
             neuron: str = "auto") -> SimResult:
    """Run a fixed-point graph on real Lava; same result type as the simulator."""
    with tempfile.TemporaryDirectory(prefix="snncc-build-") as tmp:
        serialize.save(graph, tmp)
        codegen.write(graph, Path(tmp), neuron)
        raw = run_build_dir(Path(tmp), stimulus, record_states)
    result = SimResult(spikes={"input": np.asarray(stimulus).reshape(
        stimulus.shape[0], stimulus.shape[1], -1).astype(bool)})
    for node in graph.nodes():
        if not isinstance(node, (FxNeuron, FxGradedNeuron)):
            continue
        chw = _to_chw(node.shape)
        spikes = chw(raw[f"{node.name}/s"])
        result.spikes[node.name] = spikes.astype(np.int32 if node.kind in GRADED_KINDS else bool)
        if record_states:
            result.u[node.name] = chw(raw[f"{node.name}/u"]).astype(np.int32)
            result.v[node.name] = chw(raw[f"{node.name}/v"]).astype(np.int32)
    for name in graph.output_names:
        result.outputs[name] = result.spikes[graph.inputs_of(name)[0]]
    return result
