#!/usr/bin/env python3
"""snncc simulator benchmark: throughput, ratios and peak memory, bit-identical results checked.

For each digits network (MLPs 64-128-10 trained and 64-128-128-10 random, a small random
conv net; see ``bench/nets.py``) it times, in one run and one process where possible:

* snncc's vectorized simulator on numpy, on torch (CPU) and on CUDA when present; on a
  multi-core machine numpy once more on all its cores (``Plan(threads=...)``: neuron blocks
  and conv row blocks on worker threads), the machine against Lava's runtime, which runs
  each Lava process as an OS process on every core;
* the stepping golden model (``sim``), on a smaller batch;
* the float PyTorch model (``torch.no_grad``, one step per call) on the same batch;
* Lava's fixed_pt simulation (lava-nc 0.10.0, Python 3.10 env, ``bench/lava_worker.py``):
  the workload itself (``--lava-samples`` samples of T steps, one at a time, as Lava runs)
  and one long sample (``--lava-long-steps``) for Lava's steady stepping rate, the most
  favourable Lava number and the one the ratios use.

Throughput is samples x steps per second (median of ``--repeats`` interleaved rounds), on
``--threads`` CPU threads (default 1) for snncc and the float model alike; the ratio to the
float model is the median of the per-round ratios (paired: a burst of load from other jobs
hits both runs of a round).  Also: SEW-ResNet-18 at 64x64 simulated (``bench/deep.py``)
and the peak memory of a 1e6-step run streamed (``bench/memory.py stream``).  Every result is compared
spike for spike (and u, v against the stepper); any difference fails the run.  Peak memory is
measured per simulator in a fresh process (``bench/memory.py``).  Writes the numbers to
``build/bench/results.json``.  Usage: ``make bench`` or ``.venv/bin/python bench/run_all.py``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional


def _threads_from_argv(argv: list[str]) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=1)
    return max(1, pre.parse_known_args(argv)[0].threads)


# BLAS and OpenMP read their thread counts once, at import: set them before numpy/torch load
THREADS = _threads_from_argv(sys.argv[1:])
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import numpy as np  # noqa: E402

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from nets import CACHE, ROOT, Net, digits_inputs, networks  # noqa: E402

TARGET_VS_LAVA, TARGET_VS_FLOAT = 2000.0, 1.0
# every core of the machine, as Lava's runtime (one OS process per Lava process) has them
ALL_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
    (os.cpu_count() or 1)
FAST_ALL = f"snncc fast (numpy, all {ALL_CORES} cores)"


def blas_threads(n: int, fn: Callable[[], object]) -> object:
    """``fn()`` with BLAS on ``n`` threads (threadpoolctl; else as the process started)."""
    if n == THREADS:
        return fn()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return fn()
    with threadpool_limits(n):
        return fn()


def timed_rounds(runs: dict[str, tuple[Callable[[], object], Callable[[], None]]], repeats: int
                 ) -> dict[str, list[float]]:
    """``repeats`` timed calls of each ``(run, sync)`` after one warm-up call: seconds per
    round, per label.

    The runs are interleaved (a, b, c, a, b, c, ...) so that a burst of load from other
    processes on a shared machine hits all of them alike and the paired ratios stay
    meaningful.
    """
    for fn, sync in runs.values():
        fn()
        sync()
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(repeats):
        for label, (fn, sync) in runs.items():
            start, cpu = time.perf_counter(), time.process_time()
            fn()
            sync()
            times[label].append(time.perf_counter() - start)
            CPU_SECONDS.setdefault(label, []).append(time.process_time() - cpu)
    return times


# CPU seconds of each timed call (one thread: the work done, whatever else the machine runs)
CPU_SECONDS: dict[str, list[float]] = {}


def best_times(runs, repeats: int) -> dict[str, float]:
    """Median seconds of each run over interleaved rounds (see :func:`timed_rounds`)."""
    return {k: float(np.median(v)) for k, v in timed_rounds(runs, repeats).items()}


def same_spikes(ref, got, names=None, states: bool = False) -> bool:
    names = names or ref.spikes.keys()
    ok = all(np.array_equal(ref.spikes[n], got.spikes[n]) for n in names)
    if states:
        ok = ok and all(np.array_equal(ref.u[n], got.u[n]) and np.array_equal(ref.v[n], got.v[n])
                        for n in ref.u)
    return ok


def run_lava(net: Net, x: np.ndarray, workdir: Path) -> dict:
    """Lava on stimulus (T, B, n) in the 3.10 env: spikes, timings and peak memory."""
    from snncc.backends.lava import codegen, find_lava_python

    python = find_lava_python() or sys.executable
    build = workdir / "lava"
    build.mkdir(exist_ok=True)
    from snncc.ir import serialize
    serialize.save(net.fixed, build)
    codegen.write(net.fixed, build)
    np.savez(workdir / "lava_x.npz", x=x)
    proc = subprocess.run([python, str(BENCH / "lava_worker.py"), str(build),
                           str(workdir / "lava_x.npz"), str(workdir / "lava_out.npz")],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"Lava run failed:\n{proc.stderr[-3000:]}")
    with np.load(workdir / "lava_out.npz") as f:
        return {k: f[k] for k in f.files}


def lava_spikes(net: Net, raw: dict, name: str) -> np.ndarray:
    """A layer's Lava spikes (T, B, n) in snncc's order: Lava lays (C, H, W) out as (W, H, C)."""
    spikes = raw[f"{name}/s"].astype(bool)
    shape = tuple(net.fixed.node(name).shape)
    if len(shape) != 3:
        return spikes
    c, h, w = shape
    return spikes.reshape(spikes.shape[:2] + (w, h, c)).transpose(0, 1, 4, 3, 2) \
        .reshape(spikes.shape)


def lava_matches(net: Net, x: np.ndarray, raw: dict) -> bool:
    from snncc.backends.sim import simulate_fast
    ref = simulate_fast(net.fixed, x)
    names = [k[:-2] for k in raw if k.endswith("/s")]
    return bool(names) and all(np.array_equal(ref.spikes[n], lava_spikes(net, raw, n))
                               for n in names)


def peak_memory(kind: str, workdir: Path, *extra: str) -> Optional[dict]:
    cmd = [sys.executable, str(BENCH / "memory.py"), kind, str(workdir), str(THREADS), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        print(f"  (memory of {kind} not measured: {proc.stderr.strip().splitlines()[-1:]})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_net(net: Net, args, cuda: bool, console) -> dict:
    import torch

    import snncc.nn as snn
    from snncc.backends.sim import Plan, simulate, simulate_fast
    from snncc.backends.sim.xp import get_ops
    from snncc.ir import serialize

    steps, batch = args.steps, args.batch
    x = digits_inputs(batch, steps)
    sample_steps = batch * steps
    rows: dict[str, dict] = {}
    console.print(f"[bold]{net.name}[/] ({net.origin}): {batch} samples x {steps} steps")

    # the float PyTorch model on the same batch
    xt = torch.from_numpy(x).float().reshape((steps, batch) + net.input_shape)

    @torch.no_grad()
    def float_run():
        snn.reset(net.model)
        return [net.model(xt[t]) for t in range(steps)]

    # snncc's vectorized simulator, timed interleaved with the float model
    impls = [("snncc fast (numpy)", "numpy", None, THREADS),
             ("snncc torch (CPU)", "torch", "cpu", THREADS)]
    if ALL_CORES > THREADS:              # the machine against Lava's runtime on the machine
        impls.append((FAST_ALL, "numpy", None, ALL_CORES))
    runs = {"float PyTorch (CPU)": (float_run, lambda: None)}
    if cuda:
        impls.append(("snncc torch (CUDA)", "torch", "cuda", THREADS))
        model_gpu, xt_gpu = copy.deepcopy(net.model).cuda(), xt.cuda()

        @torch.no_grad()
        def float_gpu():
            snn.reset(model_gpu)
            return [model_gpu(xt_gpu[t]) for t in range(steps)]
        runs["float PyTorch (CUDA)"] = (float_gpu, torch.cuda.synchronize)
    plans = {}
    for label, backend, device, threads in impls:
        ops = get_ops(backend, device)
        plans[label] = plan = Plan(net.fixed, ops, threads=threads)
        runs[label] = (lambda plan=plan, n=threads: blas_threads(
            n, lambda: simulate_fast(net.fixed, x, plan=plan)), ops.synchronize)
    CPU_SECONDS.clear()
    rounds = timed_rounds(runs, args.repeats)
    cpu = {k: v[1:] for k, v in CPU_SECONDS.items()}           # drop the warm-up call
    for label, seconds in rounds.items():
        rows[label] = {"seconds": float(np.median(seconds)), "sample_steps": sample_steps,
                       "rounds": seconds, "cpu_rounds": cpu[label],
                       "paired_vs_float": float(np.median(np.divide(
                           seconds, rounds["float PyTorch (CPU)"]))),
                       "cpu_vs_float": float(np.median(np.divide(
                           cpu[label], cpu["float PyTorch (CPU)"])))}
        console.print(f"  {label}: {sample_steps / rows[label]['seconds']:,.0f} samples x "
                      f"steps / s (median of {len(seconds)}), time / float "
                      f"{rows[label]['paired_vs_float']:.2f} wall, "
                      f"{rows[label]['cpu_vs_float']:.2f} CPU (paired)")
    results = {label: simulate_fast(net.fixed, x, plan=plans[label]) for label, *_ in impls}

    # the stepping golden model: speed on a smaller batch, and bit-exactness (spikes, u, v)
    nb = min(batch, args.stepper_batch)
    xs = np.ascontiguousarray(x[:, :nb])
    t_step = best_times({"stepper": (lambda: simulate(net.fixed, xs), lambda: None)}, 1)["stepper"]
    rows["snncc sim (stepper, reference)"] = {"seconds": t_step, "sample_steps": nb * steps}
    ref = simulate(net.fixed, xs, record_states=True)
    for label, backend, device, threads in impls:
        states = simulate_fast(net.fixed, xs, record_states=True, backend=backend, device=device,
                               threads=threads)
        rows[label]["identical_to_stepper"] = same_spikes(ref, states, states=True)
        rows[label]["identical_full_batch"] = same_spikes(results[impls[0][0]], results[label])
    rows["snncc sim (stepper, reference)"]["identical_to_stepper"] = True

    with tempfile.TemporaryDirectory(prefix="snncc-bench-") as tmp:
        work = Path(tmp)
        if not args.no_lava:
            xl = np.ascontiguousarray(x[:, :args.lava_samples])
            raw = run_lava(net, xl, work)
            n = xl.shape[1]
            rows["Lava fixed_pt, workload (end to end)"] = {
                "seconds": float(raw["total_seconds"]), "sample_steps": n * steps,
                "identical_to_fast": lava_matches(net, xl, raw),
                "peak_mib": float(raw["peak_rss_kib"]) / 1024, "peak_absolute": True}
            same = rows["Lava fixed_pt, workload (end to end)"]["identical_to_fast"]
            rows["Lava fixed_pt, workload (stepping only)"] = {
                "seconds": float(raw["step_seconds"]), "sample_steps": n * steps,
                "identical_to_fast": same}
            xlong = digits_inputs(1, args.lava_long_steps)
            raw = run_lava(net, xlong, work)
            rows["Lava fixed_pt, steady stepping"] = {
                "seconds": float(raw["step_seconds"]), "sample_steps": args.lava_long_steps,
                "identical_to_fast": lava_matches(net, xlong, raw)}
            steady = rows["Lava fixed_pt, steady stepping"]
            console.print(f"  Lava steady: {steady['sample_steps'] / steady['seconds']:,.0f} steps / s")
        if not args.no_memory:
            serialize.save(net.fixed, work)
            np.savez(work / "x.npz", x=x.reshape((steps, batch) + net.input_shape))
            torch.save(net.model, work / "model.pt")
            kinds = {"float PyTorch (CPU)": "float", "snncc fast (numpy)": "fast-numpy",
                     "snncc torch (CPU)": "fast-torch-cpu"}
            if cuda:
                kinds["snncc torch (CUDA)"] = "fast-torch-cuda"
            for label, kind in kinds.items():
                mem = peak_memory(kind, work)
                if mem:
                    rows[label]["peak_mib"] = mem["peak_mib"]
                    if "cuda_peak_mib" in mem:
                        rows[label]["cuda_peak_mib"] = mem["cuda_peak_mib"]
    for row in rows.values():
        row["throughput"] = row["sample_steps"] / row["seconds"]
    return {"network": net.name, "origin": net.origin, "batch": batch, "steps": steps,
            "rows": rows}


def extra_runs(mlp: Net, args, console) -> dict:
    """SEW-ResNet-18 simulated (``bench/deep.py``) and the streamed long runs' memory."""
    extra: dict = {}
    if not args.no_deep:
        from deep import sew
        console.print("[bold]SEW-ResNet-18[/] 64x64 ...")
        extra["deep"] = sew(64, 4, args.deep_batch, 3, 2, 0.2, THREADS)
    if not args.no_memory:
        from snncc.ir import serialize
        with tempfile.TemporaryDirectory(prefix="snncc-bench-") as tmp:
            serialize.save(mlp.fixed, tmp)
            extra["stream"] = {}
            for steps in args.long_steps:
                mem = peak_memory("stream", Path(tmp), str(steps))
                if mem:
                    extra["stream"][steps] = mem
    return extra


def table(result: dict):
    from rich.table import Table

    rows = result["rows"]
    lava = rows.get("Lava fixed_pt, steady stepping", {}).get("throughput")
    lava_e2e = rows.get("Lava fixed_pt, workload (end to end)", {}).get("throughput")
    t_float = rows["float PyTorch (CPU)"]["seconds"] / rows["float PyTorch (CPU)"]["sample_steps"]
    tab = Table(title=f"{result['network']}, T = {result['steps']}, batch {result['batch']} "
                      f"({result['origin']})")
    for col in ("simulator", "samples x steps / s", "µs / sample-step", "x Lava (steady)",
                "x Lava (end to end)", "time / float", "peak MiB", "bit-identical"):
        tab.add_column(col, justify="left" if col == "simulator" else "right")
    for label, row in rows.items():
        per = row["seconds"] / row["sample_steps"]
        same = row.get("identical_to_stepper", row.get("identical_to_fast"))
        ok = "" if same is None else ("yes" if same else "[red]NO[/]")
        if "identical_full_batch" in row:
            ok += "" if row["identical_full_batch"] else " [red](batch differs)[/]"
        mem = row.get("peak_mib")
        mem_s = "" if mem is None else f"{mem:,.0f}"
        if mem is not None and row.get("peak_absolute"):
            mem_s += " (process)"
        if "cuda_peak_mib" in row:
            mem_s += f" + {row['cuda_peak_mib']:,.0f} GPU"
        ratio = row.get("paired_vs_float", per / t_float)
        tab.add_row(label, f"{row['throughput']:,.0f}", f"{per * 1e6:,.2f}",
                    f"{row['throughput'] / lava:,.0f}" if lava else "",
                    f"{row['throughput'] / lava_e2e:,.0f}" if lava_e2e else "",
                    f"{ratio:.2f}", mem_s, ok)
    return tab


def verdict(result: dict) -> list[str]:
    """The issue's targets, checked on the numpy simulator."""
    rows = result["rows"]
    fast = rows["snncc fast (numpy)"]
    lines = []
    lava = rows.get("Lava fixed_pt, steady stepping")
    if lava:
        ratio = fast["throughput"] / lava["throughput"]
        same = all(r.get("identical_to_fast", True) for r in rows.values())
        all_cores = rows.get(FAST_ALL)
        best = max(ratio, all_cores["throughput"] / lava["throughput"] if all_cores else 0)
        cores = (f", {all_cores['throughput'] / lava['throughput']:,.0f}x on all {ALL_CORES} "
                 "cores (as Lava's runtime runs)") if all_cores else ""
        lines.append(f"{result['network']}: fast/Lava = {ratio:,.0f}x on {THREADS} thread(s)"
                     f"{cores} (target >= {TARGET_VS_LAVA:,.0f}x: "
                     f"{'met' if best >= TARGET_VS_LAVA else 'NOT met'}), "
                     f"Lava spikes {'identical' if same else 'DIFFER'}")
    ratio, cpu = fast["paired_vs_float"], fast.get("cpu_vs_float", fast["paired_vs_float"])
    lines.append(f"{result['network']}: fast time / float time = {ratio:.2f} wall, {cpu:.2f} "
                 f"CPU, medians of paired rounds (target <= {TARGET_VS_FLOAT:.1f}: wall "
                 f"{'met' if ratio <= TARGET_VS_FLOAT else 'NOT met'}, CPU "
                 f"{'met' if cpu <= TARGET_VS_FLOAT else 'NOT met'})")
    return lines


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=8192, help="samples per run (default %(default)s)")
    ap.add_argument("--steps", type=int, default=16, help="time steps T (default %(default)s)")
    ap.add_argument("--repeats", type=int, default=7, help="timed repeats, best kept")
    ap.add_argument("--stepper-batch", type=int, default=1024)
    ap.add_argument("--lava-samples", type=int, default=8, help="workload samples run on Lava")
    ap.add_argument("--lava-long-steps", type=int, default=400,
                    help="steps of the long Lava run (steady stepping rate)")
    ap.add_argument("--no-lava", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-deep", action="store_true", help="skip SEW-ResNet-18 (bench/deep.py)")
    ap.add_argument("--deep-batch", type=int, default=64)
    ap.add_argument("--long-steps", type=int, nargs="+", default=[100_000, 1_000_000],
                    help="steps of the streamed long runs (peak memory vs T)")
    ap.add_argument("--docs", type=Path, help="also write the tables as Markdown here "
                    "(docs/speed.md)")
    ap.add_argument("--json", type=Path, default=CACHE / "results.json")
    ap.add_argument("--threads", type=int, default=THREADS,
                    help="CPU threads for every snncc simulator and the float model (BLAS, "
                         "torch, neuron loops); default 1: per-core numbers, steady on shared "
                         "machines (Lava runs its processes as it always does)")
    args = ap.parse_args(argv)

    import torch
    from rich.console import Console

    console = Console(width=max(Console().width, 150))
    cuda = torch.cuda.is_available()
    torch.set_num_threads(THREADS)
    machine = {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
               "load_average_start": os.getloadavg(), "torch": torch.__version__,
               "numpy": np.__version__, "threads": THREADS,
               "cuda": torch.cuda.get_device_name() if cuda else None}
    console.print(f"machine: {machine}")
    nets = networks()
    results = [bench_net(net, args, cuda, console) for net in nets]
    extra = extra_runs(nets[0], args, console)
    machine["load_average_end"] = os.getloadavg()
    for result in results:
        console.print(table(result))
    failed = False
    for result in results:
        for line in verdict(result):
            console.print(line)
        for label, row in result["rows"].items():
            if row.get("identical_to_stepper") is False or row.get("identical_to_fast") is False \
                    or row.get("identical_full_batch") is False:
                console.print(f"[red]{result['network']}: {label} is not bit-identical[/]")
                failed = True
    deep = extra.get("deep")
    if deep:
        console.print(f"{deep['network']} (T = {deep['steps']}, batch {deep['batch']}, "
                      f"{deep['neurons']:,} neurons): fast {deep['fast_sample_steps_per_s']:,.1f}"
                      f" vs float {deep['float_sample_steps_per_s']:,.1f} samples x steps / s, "
                      f"fast time / float time {deep['fast_time_over_float']:.2f}; stepper-"
                      f"identical: {deep['identical_to_stepper']}")
        failed = failed or not deep["identical_to_stepper"]
    for steps, mem in sorted(extra.get("stream", {}).items()):
        console.print(f"{nets[0].name} streamed over {steps:,} steps: peak "
                      f"{mem['peak_mib']:,.0f} MiB above the loaded data, {mem['seconds']:.1f} s")
    console.print(f"load average (1, 5, 15 min) at start {machine['load_average_start']}, "
                  f"at end {machine['load_average_end']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine, "args": {k: str(v) for k, v in
                                                                 vars(args).items()},
                                     "results": results, "extra": extra}, indent=1))
    console.print(f"wrote {args.json}")
    if args.docs:
        from speed_doc import write_markdown
        write_markdown(args.json, args.docs)
        console.print(f"wrote {args.docs}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
