#!/usr/bin/env python3
"""A/B of the compiled neuron loops: `fast` with the float64 loop vs with the int64 loop.

On each bench network (``bench/nets.py``) it times, interleaved in one process on one
thread, the float PyTorch model, the ``fast`` runner as shipped (float64 loop where
``NeuronKernel.float_safe`` proves it exact) and the ``fast`` runner with every layer forced
onto the int64 loop (the loop before the float64 one existed).  Prints the median paired
ratios ``fast time / float time`` (wall and CPU) per network as Markdown rows, and checks
both loops give the same spikes on the whole batch and the stepper's spikes, u and v on
256 samples (any difference exits 1).  numba required.

Usage: ``.venv/bin/python bench/neuron_ab.py [--batch 8192] [--repeats 7] [--only conv]``
(``--only``: the networks whose name contains the word; ``--conv-path events|lut|matmul``
forces that path on every binary-input conv, ``spatial.CONV_PATH``, default: chosen per call).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from nets import digits_inputs, networks  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=8192)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--only", default="", help="run only networks whose name contains this")
    ap.add_argument("--conv-path", choices=["events", "lut", "matmul"], default=None)
    args = ap.parse_args(argv)
    import torch

    import snncc.nn as snn
    from snncc.backends.sim import Plan, jit, simulate, simulate_fast
    from snncc.backends.sim import neuron as neuron_mod
    from snncc.backends.sim import neuron_jit as nj
    from snncc.backends.sim import spatial
    from snncc.backends.sim.xp import get_ops

    if not jit.available():
        print("error: numba is not installed (or SNNCC_SIM_JIT=0): nothing to compare")
        return 2
    torch.set_num_threads(1)
    spatial.CONV_PATH = args.conv_path
    force_int = [False]
    pick = neuron_mod.NeuronKernel._jit_loop

    def loop(self, *a):
        return (nj.lif_window, self.jit_args) if force_int[0] else pick(self, *a)
    neuron_mod.NeuronKernel._jit_loop = loop

    steps, batch = args.steps, args.batch
    x = digits_inputs(batch, steps)
    print(f"batch {batch}, T {steps}, {args.repeats} rounds, 1 thread, conv path "
          f"{args.conv_path or 'chosen per call'}; load average "
          f"{' / '.join(open('/proc/loadavg').read().split()[:3])} at the start")
    print("| network | fast/float wall, float64 loop | int64 loop | "
          "fast/float CPU, float64 loop | int64 loop | identical |")
    print("|---|---|---|---|---|---|")
    ok = True
    for net in (n for n in networks() if args.only in n.name):
        xt = torch.from_numpy(x).float().reshape((steps, batch) + net.input_shape)
        plan = Plan(net.fixed, get_ops("numpy"), threads=1)

        @torch.no_grad()
        def float_run():
            snn.reset(net.model)
            return [net.model(xt[t]) for t in range(steps)]

        def fast(as_int: bool):
            force_int[0] = as_int
            return simulate_fast(net.fixed, x, plan=plan)
        runs = {"float": float_run, "f64": lambda: fast(False), "i64": lambda: fast(True)}
        a, b = fast(False), fast(True)
        float_run()
        same = all(np.array_equal(a.spikes[k], b.spikes[k]) for k in a.spikes)
        xs = np.ascontiguousarray(x[:, :256])
        ref, force_int[0] = simulate(net.fixed, xs, record_states=True), False
        got = simulate_fast(net.fixed, xs, record_states=True)
        same = same and all(np.array_equal(getattr(ref, f)[k], getattr(got, f)[k])
                            for f in ("spikes", "u", "v") for k in ref.u)
        ok = ok and same
        wall: dict[str, list[float]] = {k: [] for k in runs}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):
            for k, fn in runs.items():
                start, c0 = time.perf_counter(), time.process_time()
                fn()
                wall[k].append(time.perf_counter() - start)
                cpu[k].append(time.process_time() - c0)
        ratio = lambda d, k: float(np.median(np.divide(d[k], d["float"])))  # noqa: E731
        print(f"| {net.name} | {ratio(wall, 'f64'):.2f} | {ratio(wall, 'i64'):.2f} | "
              f"{ratio(cpu, 'f64'):.2f} | {ratio(cpu, 'i64'):.2f} | {same} |", flush=True)
    print(f"load average {' / '.join(open('/proc/loadavg').read().split()[:3])} at the end")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
