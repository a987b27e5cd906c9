"""Peak memory of one simulator run, measured in a fresh process.

``python bench/memory.py KIND WORKDIR [THREADS]``: WORKDIR holds the compiled graph
(``network.json``, ``params.npz``), ``x.npz`` (the stimulus, (T, B, *input_shape)) and ``model.pt``
(the float model).
KIND is ``fast-numpy``, ``fast-torch-cpu``, ``fast-torch-cuda``, ``stepper`` or ``float``;
``stream`` runs one sample of ``STEPS`` (4th argument, default 1e6) random spikes (density
0.3) through the fast runner streaming over time (``snncc run``'s path: output counts
kept, every window dropped), to show that memory does not grow with T.
Everything is loaded first; then Linux's peak-RSS counter is reset (``/proc/self/clear_refs``)
and the run's peak is reported above the resident size before it, so imports and loading
do not count.  Prints one JSON line: ``{"peak_mib": ..., "cuda_peak_mib": ...}``.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

THREADS = int(sys.argv[3]) if len(sys.argv) > 3 else (os.cpu_count() or 1)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def backend_needs_torch(kind: str) -> bool:
    return kind.startswith("fast-torch")


def _runner(kind: str, workdir: Path):
    """A no-argument callable doing one run, with everything it needs already loaded."""
    if kind == "stream":
        from snncc.backends.sim.stream import StreamedRun
        from snncc.ir import serialize
        graph = serialize.load(workdir)
        steps = int(sys.argv[4]) if len(sys.argv) > 4 else 10 ** 6
        n_in = int(np.prod(graph.node(graph.input_names[0]).shape))
        x = (np.random.default_rng(0).random((steps, 1, n_in)) < 0.3).astype(np.uint8)
        output = graph.inputs_of(graph.output_names[0])[0]

        def run():
            with StreamedRun(graph, x, "fast", output, keep_bytes=0) as streamed:
                return streamed.counts
        return run, None
    x = np.load(workdir / "x.npz")["x"]
    if kind == "float":
        import torch
        torch.set_num_threads(THREADS)

        import snncc.nn as snn

        model = torch.load(workdir / "model.pt", weights_only=False)
        xt = torch.from_numpy(x).float()

        @torch.no_grad()
        def run():
            snn.reset(model)
            return [model(xt[t]) for t in range(xt.shape[0])]
        return run, None
    from snncc.backends.sim import Plan, simulate, simulate_fast
    from snncc.backends.sim.xp import get_ops
    from snncc.ir import serialize

    graph = serialize.load(workdir)
    if backend_needs_torch(kind):
        import torch
        torch.set_num_threads(THREADS)
    if kind == "stepper":
        return (lambda: simulate(graph, x)), None
    backend, device = {"fast-numpy": ("numpy", None), "fast-torch-cpu": ("torch", "cpu"),
                       "fast-torch-cuda": ("torch", "cuda")}[kind]
    plan = Plan(graph, get_ops(backend, device), threads=THREADS)
    return (lambda: simulate_fast(graph, x, plan=plan)), device


def main(argv: list[str]) -> int:
    kind, workdir = argv[0], Path(argv[1])
    run, device = _runner(kind, workdir)
    if device == "cuda":
        import torch
        torch.cuda.reset_peak_memory_stats()
    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")       # reset the peak (VmHWM) to now
    start = time.perf_counter()
    run()
    out = {"peak_mib": max(_status_kib("VmHWM") - before, 0) / 1024,
           "seconds": time.perf_counter() - start}
    if device == "cuda":
        import torch
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
