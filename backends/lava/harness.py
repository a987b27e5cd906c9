"""Run a compiled build directory on real Lava (Python 3.10 env): ``python -m
snncc.backends.lava.harness BUILD STIMULUS.npz OUT.npz [--states]``.

Imports the generated ``lava_network.py``, probes every neuron's spikes (and u, v with
``--states``) with Lava ``Monitor`` processes and runs each sample under
``Loihi2SimCfg(select_tag="fixed_pt")``.  Lava simulates one sample at a time, so the
network is built and run once per sample.  Needs lava-nc and numpy only (no torch).

netx files are run by :mod:`snncc.backends.lava.netx_harness`.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np


def load_module(build_dir: Path):
    spec = importlib.util.spec_from_file_location("lava_network", Path(build_dir) / "lava_network.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_sample(module, stimulus: np.ndarray, states: bool) -> dict[str, np.ndarray]:
    """One sample: stimulus (steps, n_inputs) -> {"<layer>/s|u|v": (steps, n)}."""
    from .netx_harness import run_probed    # LIF: u, v; sigma-delta: sigma, act
    net = module.build(stimulus.T)
    return run_probed(net["source"], net["neurons"], stimulus.shape[0], states)


def run(build_dir: Path, stimulus: np.ndarray, states: bool = False) -> dict[str, np.ndarray]:
    """Stimulus (steps, batch, n_inputs) -> {"<layer>/s|u|v": (steps, batch, n)}."""
    from .netx_harness import stack_samples
    module = load_module(build_dir)
    return stack_samples(stimulus, lambda x: run_sample(module, x, states))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", type=Path)
    parser.add_argument("stimulus", type=Path, help=".npz with x: (steps, batch, n_inputs)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--states", action="store_true", help="also record u and v")
    args = parser.parse_args(argv)
    with np.load(args.stimulus) as f:
        x = f["x"]
    from .netx_harness import save
    save(run(args.build, x, args.states), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
