"""Small lava-dl netx HDF5 files written the way lava-dl's slayer exports them, for tests."""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import h5py
import numpy as np


def _text(g, key, value):
    g.create_dataset(key, (1,), "S10", [value.encode()])


def cuba(g, i_decay=4096, v_decay=1024, vth=10, **extra):
    n = g.create_group("neuron")
    _text(n, "type", "CUBA")
    n["iDecay"], n["vDecay"], n["vThMant"] = i_decay, v_decay, vth
    n["refDelay"] = 1
    for k, v in extra.items():
        n[k] = v


def sdnn(g, vth=3, sigma_output=False):
    n = g.create_group("neuron")
    _text(n, "type", "SDNN")
    n["vThMant"] = vth
    n.create_dataset("activation", data="relu", dtype=h5py.string_dtype())
    if sigma_output:
        n["sigma_output"] = True


def write(path: Path, layers: list[dict]) -> Path:
    """``layers``: dicts with ``type`` and datasets; ``neuron``: a callable(group)."""
    with h5py.File(path, "w") as f:
        root = f.create_group("layer")
        for i, spec in enumerate(layers):
            g = root.create_group(str(i))
            spec = dict(spec)
            _text(g, "type", spec.pop("type"))
            neuron = spec.pop("neuron", None)
            for k, v in spec.items():
                g[k] = v
            if neuron is not None:
                neuron(g)
    return path


def conv_net(path: Path, seed: int = 0, input_neuron: bool = True, delay: bool = False) -> Path:
    """input (2, 8, 8) [LIF] -> conv 3x3/2 pad 1 -> conv 3x3 -> flatten -> dense 5 [delays]."""
    rng = np.random.default_rng(seed)
    inp = {"type": "input", "shape": np.array([2, 8, 8])}
    if input_neuron:
        inp["neuron"] = lambda g: cuba(g, 4096, 1024, 20)
    dense = {"type": "dense", "shape": np.array([5]),
             "weight": rng.integers(-60, 80, (5, 32)).astype(np.float32),
             "bias": rng.integers(-3, 8, 5).astype(np.float32),
             "neuron": lambda g: cuba(g, 3000, 512, 30)}
    if delay:
        dense["delay"] = rng.integers(0, 4, 5).astype(np.float32)
    return write(path, [
        inp,
        {"type": "conv", "shape": np.array([4, 4, 4]), "stride": np.array([2, 2]),
         "padding": np.array([1, 1]), "dilation": np.array([1, 1]), "groups": 1,
         "weight": rng.integers(-20, 30, (4, 2, 3, 3)).astype(np.float32),
         "bias": rng.integers(-4, 10, 4).astype(np.float32), "neuron": lambda g: cuba(g, 2048, 800, 15)},
        {"type": "conv", "shape": np.array([8, 2, 2]), "stride": 1, "padding": 0,
         "dilation": 1, "groups": 1,
         "weight": rng.integers(-30, 40, (8, 4, 3, 3)).astype(np.float32),
         "neuron": lambda g: cuba(g, 4096, 100, 8)},
        {"type": "flatten", "shape": np.array([32, 1, 1])},
        dense,
    ])


def sdnn_net(path: Path, seed: int = 0) -> Path:
    """input (2, 6, 6) [Delta] -> conv 3x3 [SigmaDelta] -> flatten -> dense [Sigma]."""
    rng = np.random.default_rng(seed)
    return write(path, [
        {"type": "input", "shape": np.array([2, 6, 6]), "neuron": lambda g: sdnn(g, 1)},
        {"type": "conv", "shape": np.array([3, 4, 4]), "stride": 1, "padding": 0,
         "dilation": 1, "groups": 1, "weight": rng.integers(-40, 40, (3, 2, 3, 3)).astype(np.float32),
         "bias": rng.integers(-5, 5, 3).astype(np.float32), "neuron": lambda g: sdnn(g, 2)},
        {"type": "flatten", "shape": np.array([48, 1, 1])},
        {"type": "dense", "shape": np.array([6]), "weight": rng.integers(-50, 50, (6, 48)).astype(np.float32),
         "bias": rng.integers(0, 6, 6).astype(np.float32), "neuron": lambda g: sdnn(g, 1)},
        {"type": "dense", "shape": np.array([2]), "weight": rng.integers(-20, 20, (2, 6)).astype(np.float32),
         "neuron": lambda g: sdnn(g, 1, sigma_output=True)},
    ])


@functools.lru_cache(maxsize=1)
def lavadl_tests() -> Path | None:
    """lava-dl 0.6.0's netx test folder in the Lava env (networks and ground truths), or None."""
    from snncc.backends.lava import find_lava_python
    from snncc.errors import SnnccError
    try:
        python = find_lava_python()
    except SnnccError:
        return None
    if python is None:
        import sysconfig
        purelib = sysconfig.get_paths()["purelib"]
    else:
        proc = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True)
        if proc.returncode:
            return None
        purelib = proc.stdout.strip()
    folder = Path(purelib) / "tests" / "lava" / "lib" / "dl" / "netx"
    return folder if (folder / "gts").is_dir() else None
