"""Time Lava's fixed_pt simulation of a compiled network (runs in the Python 3.10 Lava env).

``python bench/lava_worker.py BUILD STIMULUS.npz OUT.npz``: BUILD holds ``lava_network.py``
and ``params.npz`` (snncc's Lava codegen).  Lava simulates one sample at a time, so every
sample builds, compiles and starts its own network.  ``create_runtime`` compiles the network
and starts Lava's runtime first, so that the one ``run`` of all ``T`` steps can be timed
apart from the start-up: ``step_seconds`` is the time of those runs only, the most
favourable number for Lava; ``total_seconds`` is everything.  Spikes are stored as Lava
records them (a (C, H, W) layer in Lava's (W, H, C) order; ``run_all.py`` reorders).
Writes every neuron's spikes ``<name>/s`` (T, B, n), the timings and the peak memory.
"""
from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np


def run_sample(module, stimulus: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
    """One sample (T, n_in): spikes per neuron and the seconds of the run of its T steps."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.monitor.process import Monitor

    steps = stimulus.shape[0]
    net = module.build(stimulus.T)
    probes = []
    for name, proc in net["neurons"].items():
        mon = Monitor()
        mon.probe(target=proc.s_out, num_steps=steps)
        probes.append((name, mon, proc))
    source, cfg = net["source"], Loihi2SimCfg(select_tag="fixed_pt")
    try:
        source.create_runtime(run_cfg=cfg)              # compile, start the processes
        start = time.perf_counter()
        source.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
        stepping = time.perf_counter() - start
        out = {}
        for name, mon, proc in probes:
            (series,) = mon.get_data()[proc.name].values()
            out[f"{name}/s"] = np.asarray(series).reshape(steps, -1)
    finally:
        source.stop()
    return out, stepping


def main(argv: list[str]) -> int:
    build, stim_path, out_path = (Path(a) for a in argv[:3])
    from snncc.backends.lava.harness import load_module

    with np.load(stim_path) as f:
        x = f["x"]
    module = load_module(build)
    begin = time.perf_counter()
    samples, stepping = [], 0.0
    for b in range(x.shape[1]):
        spikes, seconds = run_sample(module, x[:, b].reshape(x.shape[0], -1))
        samples.append(spikes)
        stepping += seconds
    total = time.perf_counter() - begin
    result = {k: np.stack([s[k] for s in samples], axis=1) for k in samples[0]}
    peak_kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    np.savez(out_path, **result, step_seconds=stepping, total_seconds=total,
             peak_rss_kib=peak_kib)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
