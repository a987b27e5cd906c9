"""Sharded simulation under torchrun (2 processes, gloo) equals a single-process run."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from snncc.backends.sim import simulate_fast
from snncc.backends.sim.distributed import shard
from snncc.ir import serialize
from test_sim_fast import random_chain, recurrent_graph

pytest.importorskip("torch.distributed")


@pytest.mark.parametrize("batch, world", [(7, 2), (1, 3), (10, 4), (0, 2)])
def test_shards_cover_the_batch_in_order(batch, world):
    parts = [shard(batch, world, r) for r in range(world)]
    assert [i for p in parts for i in range(p.start, p.stop)] == list(range(batch))
    sizes = [p.stop - p.start for p in parts]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("make, backend", [(lambda: random_chain(11), "numpy"),
                                           (lambda: recurrent_graph(2), "torch")])
def test_torchrun_two_processes_match_one(tmp_path, make, backend):
    graph, x = make()
    x = np.concatenate([x] * 3, axis=1)[:, :7]          # 7 samples: shards of 4 and 3
    serialize.save(graph, tmp_path)
    np.savez(tmp_path / "data.npz", x=np.swapaxes(x, 0, 1))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "snncc.backends.sim.distributed", str(tmp_path), str(tmp_path / "data.npz"),
           str(tmp_path / "out.npz"), "--states", "--backend", backend, "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = simulate_fast(graph, x, record_states=True)
    with np.load(tmp_path / "out.npz") as out:
        for name, spikes in ref.spikes.items():
            assert np.array_equal(out[f"{name}/s"], spikes), name
        for name in ref.u:
            assert np.array_equal(out[f"{name}/u"], ref.u[name]), name
            assert np.array_equal(out[f"{name}/v"], ref.v[name]), name


def test_recurrent_graphs_survive_serialization(tmp_path):
    graph, x = recurrent_graph(4)
    serialize.save(graph, tmp_path)
    loaded = serialize.load(tmp_path)
    assert sorted(loaded.edges()) == sorted(graph.edges())
    ref, got = simulate_fast(graph, x), simulate_fast(loaded, x)
    assert all(np.array_equal(ref.spikes[n], got.spikes[n]) for n in ref.spikes)
