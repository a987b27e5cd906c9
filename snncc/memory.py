"""How much memory a run will take, estimated before any array is decoded, and the refusal.

A data file is checked member by member (:mod:`snncc.loaders`), but a small, valid file can
still ask for a run far larger than the machine: 1 sample x 10**6 steps is 1 MB of spikes
and gigabytes of recorded states.  :func:`estimate` adds up the decoded data and the
simulator's working set from the network's neuron count and the data's shape; :func:`require`
refuses, with the numbers and a fix, when that exceeds the memory available to the process
(the least of MemAvailable, the cgroup limit and RLIMIT_AS, or ``SNNCC_MAX_MEMORY``).

The per-cell byte counts are upper bounds measured on the simulator (``bench/`` runs
re-measure them): a runner that streams time in chunks passes ``time_chunk`` and the
working set scales with the chunk instead of the whole run.
"""
from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .errors import SnnccError

MEMORY_ENV = "SNNCC_MAX_MEMORY"
# bytes per (time step x sample x neuron), measured upper bounds (see module docstring)
RUN_RECORD = 2           # bool spike record + its copy for the output file
RUN_WORK = 16            # a runner's per-layer int64/float64 temporaries (one layer at a time)
VERIFY_CELL = 40         # float model, float64 membranes, u and v, diffs (17 measured on an MLP)
SIM_SAMPLES = 1024       # samples the vectorised simulator holds at once
VERIFY_SAMPLES = 128     # samples verify analyses at once
BASE = 512 * 2 ** 20     # the interpreter, torch and the libraries themselves
# streaming runners (snncc.backends.sim.stream, report.analysis): what they hold at most
STREAM_KEEP = 256 * 2 ** 20      # every layer's spikes kept in memory (StreamedRun.keep_bytes)
STREAM_WINDOW = 128 * 2 ** 20    # one simulator window
STREAM_VERIFY = 64 * 2 ** 20     # one verify analysis window (report.analysis.WINDOW_BYTES)


@dataclass
class MemoryEstimate:
    """Bytes a run needs, by part (``parts``: name -> bytes); ``total`` is their sum."""

    what: str
    parts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        return ", ".join(f"{k} {_gib(v)}" for k, v in self.parts.items() if v)


def _gib(n: float) -> str:
    return f"{n / 2 ** 30:.2f} GiB" if n >= 2 ** 28 else f"{n / 2 ** 20:.0f} MiB"


def neuron_count(graph) -> tuple[int, int]:
    """(values every step produces, the largest node): every node but inputs and outputs
    (neurons, synapse outputs, delay lines) counted by its output shape."""
    shapes = graph.shapes()
    sizes = [int(np.prod(shapes[n.name], dtype=np.int64)) for n in graph.nodes()
             if n.kind not in ("input", "output")]
    return sum(sizes), max(sizes, default=0)


def estimate(graph, x_shape: tuple[int, ...], x_itemsize: int = 1, mode: str = "run",
             time_chunk: Optional[int] = None, record_states: bool = False,
             streaming: bool = False) -> MemoryEstimate:
    """Estimate the peak memory of ``mode`` ("run" or "verify") on data ``x`` of ``x_shape``
    (samples, time, *features) and dtype size ``x_itemsize`` through ``graph``.

    ``time_chunk``: the runner streams time in chunks of that many steps (working set per
    chunk, records still whole).  ``streaming``: the run goes window by window (``run`` on
    the Loihi simulators, ``verify`` of models whose float reference streams): records and
    working sets are capped at what those windows hold.  Returns a :class:`MemoryEstimate`.
    """
    samples, steps = int(x_shape[0]), int(x_shape[1]) if len(x_shape) > 1 else 1
    features = int(np.prod(x_shape[2:])) if len(x_shape) > 2 else 1
    total, largest = neuron_count(graph)
    work_steps = min(steps, time_chunk) if time_chunk else steps
    est = MemoryEstimate(mode)
    est.parts["data"] = samples * steps * features * (x_itemsize + 1)
    rec = RUN_RECORD + (16 if record_states else 0)
    est.parts["spike records"] = samples * steps * total * rec
    est.parts["simulator"] = work_steps * min(samples, SIM_SAMPLES) * max(largest, 1) * RUN_WORK
    if mode == "verify":
        est.parts["spike records"] = samples * steps * total * RUN_RECORD // 2
        est.parts["verify batch"] = steps * min(samples, VERIFY_SAMPLES) * total * VERIFY_CELL
    if streaming:
        caps = {"spike records": STREAM_KEEP, "simulator": STREAM_WINDOW,
                "verify batch": STREAM_VERIFY}
        for part, cap in caps.items():
            if part in est.parts:
                est.parts[part] = min(est.parts[part], cap)
    est.parts["libraries"] = BASE
    return est


def _cgroup_room() -> Optional[int]:
    try:
        limit = open("/sys/fs/cgroup/memory.max").read().strip()
        if limit == "max":
            return None
        used = int(open("/sys/fs/cgroup/memory.current").read().strip())
        return int(limit) - used
    except (OSError, ValueError):
        return None


def _meminfo_available() -> Optional[int]:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rlimit_room() -> Optional[int]:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        used = 0
    return soft - used


def available() -> tuple[int, str]:
    """(bytes this process may still use, where that number comes from)."""
    raw = os.environ.get(MEMORY_ENV)
    if raw:
        try:
            return int(float(raw)), MEMORY_ENV
        except ValueError:
            raise SnnccError(f"{MEMORY_ENV}={raw!r} is not a number of bytes",
                             f"set {MEMORY_ENV} to e.g. 8e9, or unset it") from None
    rooms = [(r, n) for r, n in ((_meminfo_available(), "available memory"),
                                 (_cgroup_room(), "the cgroup limit"),
                                 (_rlimit_room(), "RLIMIT_AS")) if r is not None]
    if not rooms:
        return 2 ** 62, "no limit found"
    return min(rooms)


def require(est: MemoryEstimate, data_name: str = "the data") -> None:
    """Refuse the run when ``est`` exceeds the memory available (numbers and a fix)."""
    room, source = available()
    if est.total <= room:
        return
    raise SnnccError(f"{est.what} on {data_name} would need about {_gib(est.total)} "
                     f"({est.describe()}); only {_gib(max(room, 0))} is available ({source})",
                     f"use fewer samples or time steps per file (split the data), or set "
                     f"{MEMORY_ENV} (bytes) if the estimate is too cautious")
