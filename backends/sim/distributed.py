"""Sharded simulation over processes and machines with ``torch.distributed`` (gloo).

Samples are independent, so a large verification run splits its batch into one contiguous
shard per rank; every rank runs the vectorized simulator on its shard and the shards are
gathered back in order.  The result is identical to a single-process run, bit for bit.
torch's own launcher starts the processes and its gloo backend moves the data (CPU tensors,
TCP between machines); nothing here re-implements either.

Launch (one machine, 4 processes)::

    torchrun --standalone --nproc-per-node 4 -m snncc.backends.sim.distributed \\
        build/digits inputs.npz spikes.npz [--backend torch] [--states]

Many machines: the same command on each, with ``--nnodes N --node-rank i
--rdzv-backend c10d --rdzv-endpoint HOST:PORT`` instead of ``--standalone``; every node
reads the compiled graph and the data file (a shared or copied path).  Rank 0 writes the
output npz: ``"<layer>/s"`` spikes (T, B, n) and with ``--states`` ``"<layer>/u"``,
``"<layer>/v"`` — the Lava harness's layout.  torch is imported only when used.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from snncc.ir import Graph

from .stepper import SimResult
from .vectorized import simulate_fast


def shard(batch: int, world: int, rank: int) -> slice:
    """The contiguous samples of ``rank``: sizes differ by at most one, in rank order."""
    base, extra = divmod(batch, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def _gather(dist: Any, array: np.ndarray, sizes: list[int], dst: int) -> Optional[np.ndarray]:
    """Concatenate every rank's (T, b_rank, n) array along the batch axis on ``dst``."""
    import torch

    rank, world = dist.get_rank(), dist.get_world_size()
    wire = array.view(np.uint8) if array.dtype == np.bool_ else array   # gloo has no bool
    padded = np.zeros((wire.shape[0], max(sizes), wire.shape[2]), dtype=wire.dtype)
    padded[:, :wire.shape[1]] = wire
    tensor = torch.from_numpy(padded)
    buffers = [torch.empty_like(tensor) for _ in range(world)] if rank == dst else None
    dist.gather(tensor, gather_list=buffers, dst=dst)
    if rank != dst:
        return None
    joined = np.concatenate([b.numpy()[:, :n] for b, n in zip(buffers, sizes)], axis=1)
    return joined.view(np.bool_) if array.dtype == np.bool_ else joined


def simulate_sharded(graph: Graph, stimulus: np.ndarray, record_states: bool = False,
                     input_name: Optional[str] = None, *, dst: int = 0,
                     **kwargs: Any) -> Optional[SimResult]:
    """Run ``stimulus`` (T, B, ...) sharded over the initialised process group.

    Every rank passes the same graph and stimulus and simulates only its shard; rank
    ``dst`` returns the whole :class:`SimResult` (others return None).  ``kwargs`` go to
    :func:`simulate_fast` (``backend``, ``device``, ``batch_chunk``, ...).
    """
    import torch.distributed as dist

    stimulus = np.asarray(stimulus)
    world, rank = dist.get_world_size(), dist.get_rank()
    batch = int(stimulus.shape[1]) if stimulus.ndim >= 2 else 0
    sizes = [shard(batch, world, r).stop - shard(batch, world, r).start for r in range(world)]
    local = simulate_fast(graph, stimulus[:, shard(batch, world, rank)], record_states,
                          input_name, **kwargs)
    result = SimResult(spikes={})
    for field in ("spikes", "u", "v", "outputs"):
        for name, array in sorted(getattr(local, field).items()):
            joined = _gather(dist, array, sizes, dst)
            if joined is not None:
                getattr(result, field)[name] = joined
    return result if rank == dst else None


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point for ``torchrun ... -m snncc.backends.sim.distributed``."""
    import torch.distributed as dist

    from snncc.atomic import atomic_file
    from snncc.ir import serialize
    from snncc.loaders import load_data

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", type=Path, help="directory written by `snncc compile`")
    ap.add_argument("data", type=Path, help=".npz with x: (samples, time, *input_shape) spikes")
    ap.add_argument("out", type=Path, help="output .npz (written by rank 0)")
    ap.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    ap.add_argument("--device", default=None, help="torch device, e.g. cuda (default: cuda if any)")
    ap.add_argument("--states", action="store_true", help="also gather u and v")
    args = ap.parse_args(argv)
    dist.init_process_group("gloo")
    try:
        graph = serialize.load(args.build)
        x, _ = load_data(args.data)
        start = time.perf_counter()
        result = simulate_sharded(graph, x, args.states, backend=args.backend, device=args.device)
        seconds = time.perf_counter() - start
        if result is not None:
            arrays = {f"{n}/s": s for n, s in result.spikes.items()}
            for key, field in (("u", result.u), ("v", result.v)):
                arrays.update({f"{n}/{key}": a for n, a in field.items()})
            with atomic_file(args.out) as tmp:
                np.savez(tmp, **arrays)
            print(f"{x.shape[1]} samples x {x.shape[0]} steps on {dist.get_world_size()} "
                  f"processes in {seconds:.3f} s -> {args.out}")
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
