#!/usr/bin/env python3
"""SEW-ResNet-18 simulated: snncc's fast runner against the float PyTorch model.

The model of ``bench/compile_sew_resnet18.py`` (random weights, per-neuron decays and
thresholds) at a 64x64 input, compiled by snncc, run on random spike inputs (``--density``)
for T steps and a batch: the float model (``torch.no_grad``, one step per call) and the
fast runner, timed in interleaved rounds (median, paired ratio).  The fast runner's spikes
are checked against the stepper (the golden model) on the first ``--check`` samples.

Usage: ``.venv/bin/python bench/deep.py [--size 64 --steps 4 --batch 64] [--json out.json]``
(``bench/run_all.py`` runs it too).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def sew(size: int, steps: int, batch: int, repeats: int, check: int, density: float,
        threads: int = 1) -> dict:
    import torch

    import snncc.nn as snn
    from compile_sew_resnet18 import _stages, build
    from snncc.backends.sim import Plan, simulate, simulate_fast
    from snncc.backends.sim.xp import get_ops
    from snncc.ir import FxNeuron

    torch.set_num_threads(threads)
    model = build(size)
    t0 = time.perf_counter()
    fixed, _, _ = _stages(model, size)
    compile_s = time.perf_counter() - t0
    x = (np.random.default_rng(0).random((steps, batch, 3, size, size)) < density) \
        .astype(np.uint8)
    xt = torch.from_numpy(x).float()

    @torch.no_grad()
    def float_run():
        snn.reset(model)
        return [model(xt[t]) for t in range(steps)]

    plan = Plan(fixed, get_ops("numpy"), threads=threads)
    fast_run = lambda: simulate_fast(fixed, x, plan=plan)       # noqa: E731
    float_run()
    result = fast_run()
    rounds: dict[str, list[float]] = {"float": [], "fast": []}
    for _ in range(repeats):
        for label, fn in (("float", float_run), ("fast", fast_run)):
            start = time.perf_counter()
            fn()
            rounds[label].append(time.perf_counter() - start)
    ref = simulate(fixed, x[:, :check])
    same = all(np.array_equal(ref.spikes[n], result.spikes[n][:, :check]) for n in ref.spikes)
    neurons = [n.name for n in fixed.of_type(FxNeuron)]
    sample_steps = steps * batch
    med = {k: float(np.median(v)) for k, v in rounds.items()}
    return {
        "network": f"SEW-ResNet-18 {size}x{size}", "steps": steps, "batch": batch,
        "neurons": int(sum(int(np.prod(fixed.node(n).shape)) for n in neurons)),
        "compile_seconds": compile_s,
        "float_sample_steps_per_s": sample_steps / med["float"],
        "fast_sample_steps_per_s": sample_steps / med["fast"],
        "fast_time_over_float": float(np.median(np.divide(rounds["fast"], rounds["float"]))),
        "rounds": rounds, "identical_to_stepper": bool(same), "checked_samples": check,
        "spike_rate": float(np.mean([result.spikes[n].mean() for n in neurons])),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--check", type=int, default=2, help="samples checked against the stepper")
    ap.add_argument("--density", type=float, default=0.2, help="input spike density")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    r = sew(args.size, args.steps, args.batch, args.repeats, args.check, args.density)
    print(f"{r['network']}: {r['neurons']:,} neurons, T = {r['steps']}, batch {r['batch']}: "
          f"float {r['float_sample_steps_per_s']:,.1f}, fast {r['fast_sample_steps_per_s']:,.1f} "
          f"samples x steps / s; fast time / float time {r['fast_time_over_float']:.2f}; "
          f"stepper-identical on {r['checked_samples']} samples: {r['identical_to_stepper']}")
    if args.json:
        args.json.write_text(json.dumps(r, indent=1))
    return 0 if r["identical_to_stepper"] else 1


if __name__ == "__main__":
    sys.exit(main())
