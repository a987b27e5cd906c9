"""Run a compiled build directory on real Lava (Python 3.10 env): ``python -m
snncc.backends.lava.harness BUILD STIMULUS.npz OUT.npz [--states] [--netx]``.

Imports the generated ``lava_network.py``, probes every neuron's spikes (and u, v with
``--states``) with Lava ``Monitor`` processes and runs each sample under
``Loihi2SimCfg(select_tag="fixed_pt")``.  Lava simulates one sample at a time, so the
network is built and run once per sample.  Needs lava-nc and numpy only (no torch).

With ``--netx``, BUILD is a lava-dl netx HDF5 file (``network.net``) instead: lava-dl's own
``netx.hdf5.Network`` builds the network from it (see :func:`run_netx`).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np


def load_module(build_dir: Path):
    spec = importlib.util.spec_from_file_location("lava_network", Path(build_dir) / "lava_network.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_sample(module, stimulus: np.ndarray, states: bool) -> dict[str, np.ndarray]:
    """One sample: stimulus (steps, n_inputs) -> {"<layer>/s|u|v": (steps, n)}."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.monitor.process import Monitor

    steps = stimulus.shape[0]
    net = module.build(stimulus.T)
    probes = []
    for name, proc in net["neurons"].items():
        targets = [("s", proc.s_out)] + ([("u", proc.u), ("v", proc.v)] if states else [])
        for key, target in targets:
            mon = Monitor()
            mon.probe(target=target, num_steps=steps)
            probes.append((name, key, mon, proc))
    source = net["source"]
    try:
        source.run(condition=RunSteps(num_steps=steps),
                   run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = {}
        for name, key, mon, proc in probes:
            data = mon.get_data()
            (series,) = data[proc.name].values()
            out[f"{name}/{key}"] = np.asarray(series).reshape(steps, -1)
    finally:
        source.stop()
    return out


def run(build_dir: Path, stimulus: np.ndarray, states: bool = False) -> dict[str, np.ndarray]:
    """Stimulus (steps, batch, n_inputs) -> {"<layer>/s|u|v": (steps, batch, n)}."""
    module = load_module(build_dir)
    per_sample = [run_sample(module, stimulus[:, b].reshape(stimulus.shape[0], -1), states)
                  for b in range(stimulus.shape[1])]
    return {k: np.stack([s[k] for s in per_sample], axis=1) for k in per_sample[0]}


def _netx_names(path: Path) -> list[str]:
    """The snncc names of the file's dense layers (attribute written by snncc), else their index."""
    import h5py
    with h5py.File(path, "r") as f:
        layers = f["layer"]
        return [str(layers[k].attrs.get("snncc_name", k))
                for k in sorted(layers, key=int) if layers[k]["type"][0] != b"input"]


def run_netx_sample(path: Path, stimulus: np.ndarray, states: bool) -> dict[str, np.ndarray]:
    """One sample through lava-dl's netx: stimulus (steps, n_inputs) -> {"<layer>/s|u|v": (steps, n)}.

    A RingBuffer drives ``Network.inp`` (which is layer 1's Dense input: the file's input
    layer has only a shape, so netx adds no input neuron); every block's LIF is probed.
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    from .netx_import import import_netx

    hdf5 = import_netx()
    steps = stimulus.shape[0]
    # Lava's compiler imports every netx module while looking for ProcessModels and warns
    # about sequential_modules (it needs torch; netx_import stands in for it)
    warnings.filterwarnings("ignore", message=".*sequential_modules.*")
    net = hdf5.Network(net_config=str(path))
    source = RingBuffer(data=np.asarray(stimulus.T, dtype=np.int32))
    source.s_out.connect(net.inp)
    probes = []
    for name, block in zip(_netx_names(path), net.layers):
        targets = [("s", block.neuron.s_out)]
        if states:
            targets += [("u", block.neuron.u), ("v", block.neuron.v)]
        for key, target in targets:
            mon = Monitor()
            mon.probe(target=target, num_steps=steps)
            probes.append((name, key, mon, block.neuron))
    try:
        source.run(condition=RunSteps(num_steps=steps),
                   run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = {}
        for name, key, mon, proc in probes:
            (series,) = mon.get_data()[proc.name].values()
            out[f"{name}/{key}"] = np.asarray(series).reshape(steps, -1)
    finally:
        source.stop()
    return out


def run_netx(path: Path, stimulus: np.ndarray, states: bool = False) -> dict[str, np.ndarray]:
    """Stimulus (steps, batch, n_inputs) -> {"<layer>/s|u|v": (steps, batch, n)} via netx."""
    per_sample = [run_netx_sample(path, stimulus[:, b].reshape(stimulus.shape[0], -1), states)
                  for b in range(stimulus.shape[1])]
    return {k: np.stack([s[k] for s in per_sample], axis=1) for k in per_sample[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", type=Path)
    parser.add_argument("stimulus", type=Path, help=".npz with x: (steps, batch, n_inputs)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--states", action="store_true", help="also record u and v")
    parser.add_argument("--netx", action="store_true",
                        help="BUILD is a lava-dl netx HDF5 file, loaded by netx itself")
    args = parser.parse_args(argv)
    with np.load(args.stimulus) as f:
        x = f["x"]
    result = (run_netx if args.netx else run)(args.build, x, args.states)
    tmp = args.out.with_name(args.out.name + ".part.npz")
    np.savez(tmp, **result)
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
