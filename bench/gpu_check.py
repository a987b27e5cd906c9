#!/usr/bin/env python3
"""The torch runner on CUDA against numpy, bit for bit, on the benchmark networks.

For each network of ``bench/nets.py`` (and, with ``--deep``, SEW-ResNet-18 at 64x64) it runs
``--batch`` digits samples of T steps on numpy (``fast``) and on torch on the GPU, with u and
v recorded, compares every spike, u and v, times both (median of ``--repeats``), and writes
the device name, versions and results to ``build/bench/gpu_check.json``.  Exit code 0 when
every result is identical, 1 when any differs, 2 when no CUDA device is present (nothing
checked).  Usage: ``.venv/bin/python bench/gpu_check.py [--batch 1024] [--deep]``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nets import CACHE, digits_inputs, networks  # noqa: E402


def _median_seconds(fn, sync, repeats: int) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def check(name: str, graph, x: np.ndarray, repeats: int) -> dict:
    """numpy vs CUDA on one graph and stimulus: identical spikes/u/v and both timings."""
    from snncc.backends.sim import Plan, simulate_fast
    from snncc.backends.sim.xp import get_ops

    ops = {"numpy": get_ops("numpy"), "cuda": get_ops("torch", "cuda")}
    plans = {k: Plan(graph, o, threads=1 if k == "numpy" else None) for k, o in ops.items()}
    res = {k: simulate_fast(graph, x, record_states=True, plan=p) for k, p in plans.items()}
    same = {field: all(np.array_equal(getattr(res["numpy"], field)[n],
                                      getattr(res["cuda"], field)[n])
                       for n in getattr(res["numpy"], field))
            for field in ("spikes", "u", "v")}
    seconds = {k: _median_seconds(lambda p=p: simulate_fast(graph, x, plan=p),
                                  ops[k].synchronize, repeats) for k, p in plans.items()}
    steps_samples = int(x.shape[0]) * int(x.shape[1])
    return {"network": name, "identical": all(same.values()), "identical_by_field": same,
            "samples_steps_per_s": {k: steps_samples / s for k, s in seconds.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--deep", action="store_true", help="also SEW-ResNet-18 at 64x64")
    ap.add_argument("--json", type=Path, default=CACHE / "gpu_check.json")
    args = ap.parse_args(argv)
    import torch
    if not torch.cuda.is_available():
        print("no CUDA device: nothing checked (the check needs a GPU; CI never does)")
        return 2
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "numpy": np.__version__, "results": []}
    print(f"device: {out['device']} (torch {out['torch']}, CUDA {out['cuda']})")
    x = digits_inputs(args.batch, args.steps)
    cases = [(n.name, n.fixed, x.reshape((args.steps, args.batch) + n.input_shape))
             for n in networks()]
    if args.deep:
        from compile_sew_resnet18 import _stages, build
        fixed = _stages(build(64), 64)[0]
        xd = (np.random.default_rng(0).random((4, 16, 3, 64, 64)) < 0.2).astype(np.uint8)
        cases.append(("SEW-ResNet-18 64x64", fixed, xd))
    for name, graph, stim in cases:
        r = check(name, graph, stim, args.repeats)
        out["results"].append(r)
        rate = r["samples_steps_per_s"]
        print(f"{name}: identical {r['identical']} {r['identical_by_field']}; numpy "
              f"{rate['numpy']:,.0f}, CUDA {rate['cuda']:,.0f} samples x steps / s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.json}")
    return 0 if all(r["identical"] for r in out["results"]) else 1


if __name__ == "__main__":
    sys.exit(main())
