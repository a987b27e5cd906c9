"""Run a netx HDF5 file with lava-dl's own ``netx.hdf5.Network`` in the Lava env (Python 3.10):
``python -m snncc.backends.lava.netx_harness NET STIMULUS.npz OUT.npz [--states]
[--options JSON]``.

This is the reference ``verify`` compares snncc's simulator with for a netx input: the very
file, loaded by lava-dl 0.6.0 and run under Lava's ``fixed_pt`` models, one sample at a time.
The stimulus goes where the network takes input: the input block's neuron ``a_in`` when the
file has an input neuron (netx's ``Input`` block leaves its own port unconnected; lava-dl's
tests drive ``in_layer.neuron.a_in`` the same way), else ``Network.inp``.  Every block's
neuron is probed: spikes (graded payloads for SDNN) and, with ``--states``, its states
(LIF: u, v; SigmaDelta and Delta: sigma, act; Sigma: sigma twice).  Block names and shapes
come from :func:`snncc.backends.lava.netx_read.read_netx` on the same file, so they are
snncc's node names; (W, H, C) layers are returned in snncc's (C, H, W) order.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np


def state_vars(proc) -> dict:
    """The Lava Vars that snncc records as u and v for a neuron process."""
    name = type(proc).__name__
    if name in ("SigmaDelta", "Delta"):
        return {"u": proc.sigma, "v": proc.act}
    if name == "Sigma":
        return {"u": proc.sigma}
    return {"u": proc.u, "v": proc.v}


def _whc_to_chw(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(T, W, H, C) Lava layout -> (T, C*H*W) in snncc's order; flat layers unchanged."""
    steps = a.shape[0]
    if len(shape) != 3:
        return a.reshape(steps, -1)
    c, h, w = shape
    return a.reshape(steps, w, h, c).transpose(0, 3, 2, 1).reshape(steps, -1)


def run_sample(path: Path, options: dict, stimulus: np.ndarray, states: bool) -> dict:
    """One sample: stimulus (steps, n_inputs) in (C, H, W) order -> {"<layer>/s|u|v": (steps, n)}."""
    from lava.proc.io.source import RingBuffer

    from .netx_import import import_netx
    from .netx_read import NetxOptions, read_netx

    hdf5 = import_netx()
    warnings.filterwarnings("ignore", message=".*sequential_modules.*")
    graph = read_netx(path, NetxOptions(**options))
    blocks = graph.meta["netx"]["blocks"]
    steps = stimulus.shape[0]
    net = hdf5.Network(net_config=str(path), **{k: v for k, v in options.items()})
    if len(net.layers) != len(blocks):
        raise RuntimeError(f"lava-dl built {len(net.layers)} blocks, snncc read {len(blocks)}")
    first = net.layers[0]
    port = first.neuron.a_in if type(first).__name__ == "Input" else net.inp
    data = np.asarray(stimulus, dtype=np.int32)
    in_shape = tuple(graph.node(graph.input_names[0]).shape)
    if len(port.shape) == 3:
        c, h, w = in_shape
        data = data.reshape(steps, c, h, w).transpose(3, 2, 1, 0)
    else:
        data = data.reshape(steps, -1).T
    source = RingBuffer(data=data)
    source.s_out.connect(port)
    neurons = {name: block.neuron for name, block in zip(blocks, net.layers)}
    return run_probed(source, neurons, steps, states, lambda name, a: _whc_to_chw(
        a, tuple(graph.node(name).shape)))


def run_probed(source, neurons: dict, steps: int, states: bool, layout=None) -> dict:
    """Probe every neuron process (spikes, and with ``states`` :func:`state_vars`) with Lava
    Monitors, run ``steps`` under ``Loihi2SimCfg(select_tag="fixed_pt")`` from ``source``
    and return ``{"<name>/s|u|v": (steps, n)}`` (``layout(name, series)`` reorders a record;
    default: flattened).  Shared by the netx harness and the build-folder harness."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.monitor.process import Monitor
    layout = layout or (lambda name, a: np.asarray(a).reshape(steps, -1))
    probes = []
    for name, proc in neurons.items():
        targets = [("s", proc.s_out)] + (list(state_vars(proc).items()) if states else [])
        for key, target in targets:
            mon = Monitor()
            mon.probe(target=target, num_steps=steps)
            probes.append((name, key, mon, proc))
    out = {}
    try:
        source.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        for name, key, mon, proc in probes:
            (series,) = mon.get_data()[proc.name].values()
            out[f"{name}/{key}"] = layout(name, np.asarray(series))
    finally:
        source.stop()
    for name in neurons:          # Lava's Sigma has one state: recorded as u and as v
        if states and f"{name}/v" not in out:
            out[f"{name}/v"] = out[f"{name}/u"]
    return out


def stack_samples(stimulus: np.ndarray, one) -> dict:
    """``one(x)`` for each sample ``x`` (steps, n_inputs) of ``stimulus`` (steps, batch, ...),
    its arrays (steps, n) stacked into (steps, batch, n): Lava runs one sample at a time."""
    per_sample = [one(stimulus[:, b].reshape(stimulus.shape[0], -1))
                  for b in range(stimulus.shape[1])]
    return {k: np.stack([s[k] for s in per_sample], axis=1) for k in per_sample[0]}


def save(result: dict, out: Path) -> None:
    """Write ``result`` to ``out`` (.npz) atomically: the caller never reads half a file."""
    tmp = out.with_name(out.name + ".part.npz")
    np.savez(tmp, **result)
    tmp.replace(out)


def run(path: Path, stimulus: np.ndarray, states: bool = False, options: dict | None = None) -> dict:
    """Stimulus (steps, batch, n_inputs) -> {"<layer>/s|u|v": (steps, batch, n)}."""
    return stack_samples(stimulus, lambda x: run_sample(Path(path), options or {}, x, states))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("net", type=Path)
    parser.add_argument("stimulus", type=Path, help=".npz with x: (steps, batch, n_inputs)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--states", action="store_true", help="also record the neuron states")
    parser.add_argument("--options", default="{}", help="netx Network keyword arguments (JSON)")
    args = parser.parse_args(argv)
    with np.load(args.stimulus) as f:
        x = f["x"]
    save(run(args.net, x, args.states, json.loads(args.options)), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
