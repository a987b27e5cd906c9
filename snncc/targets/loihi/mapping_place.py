"""Place tiles on cores and chips, and work out which core sends spikes to which (the placer).

Cores are numbered in layer order and packed onto chips of ``cores_per_chip`` in that order
(a layer larger than what is left of a chip continues on the next one); inside a chip, core
``i`` sits at mesh row ``i // columns``, column ``i % columns`` of the published 8 x 16 mesh.
A network beyond one chip spans several; with a ``system`` (e.g. Kapoho Point, 8 chips) a
network that needs more chips than it has is refused by name.

*Traffic*: for every synaptic input, which source cores send to which destination cores and
how many of the source tile's neurons each destination reads (``count``): a spike of a
source neuron is one message to every core that reads it (multicast, one output-axon entry
per destination core).  Reads are separable per axis (channels, rows, columns), so the pairs
come from per-axis interval overlaps.  A spike crossing from one chip to another is
inter-chip traffic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ...errors import SnnccError
from .mapping_limits import Loihi2Limits, System
from .mapping_synapses import SynapseModel
from .mapping_tiling import LayerTiling, CoreTile, _limit


@dataclass
class CorePlacement:
    """One core: global index, chip, mesh position and the tile it holds."""

    index: int
    chip: int
    position: tuple[int, int]
    tile: CoreTile

    def utilisation(self, limits: Loihi2Limits) -> dict[str, float]:
        """Fraction of each per-core budget used (neuron slots, synapse words, axons)."""
        return {r: v / _limit(r, limits) for r, v in self.tile.usage().items()}


@dataclass
class Edge:
    """Spike routes of one synaptic input: ``count[i]`` neurons of core ``src[i]`` are read by
    core ``dst[i]`` (``src`` is -1 for a host input)."""

    source: str
    layer: str
    synapse: str
    src: np.ndarray
    dst: np.ndarray
    count: np.ndarray


@dataclass
class LayerPlacement:
    """A tiled layer and the global indices of its cores."""

    tiling: LayerTiling
    first_core: int

    @property
    def name(self) -> str:
        return self.tiling.name

    @property
    def cores(self) -> int:
        return len(self.tiling.cores)

    @property
    def neurons(self) -> int:
        return self.tiling.spec.neurons

    def core_range(self) -> range:
        return range(self.first_core, self.first_core + self.cores)


@dataclass
class Placement:
    """Where a network sits on Loihi 2: layers, cores, chips and spike routes."""

    layers: list[LayerPlacement]
    core_list: list[CorePlacement]
    edges: list[Edge]
    limits: Loihi2Limits
    system: Optional[System] = None
    host_inputs: dict[str, int] = field(default_factory=dict)   # input name -> values

    @property
    def cores(self) -> int:
        return len(self.core_list)

    @property
    def chips(self) -> int:
        return max((c.chip for c in self.core_list), default=0) + 1

    def layer(self, name: str) -> LayerPlacement:
        return next(l for l in self.layers if l.name == name)

    def chips_of(self, layer: LayerPlacement) -> list[int]:
        return sorted({self.core_list[i].chip for i in layer.core_range()})


def place(tilings: list[LayerTiling], limits: Loihi2Limits, system: Optional[System],
          host_shapes: dict[str, int]) -> Placement:
    """Number the cores, put them on chips and the mesh, and route the spikes."""
    layers, cores, nxt = [], [], 0
    capacity = None if system is None else system.chips * limits.cores_per_chip
    cols = limits.mesh[1]
    for t in tilings:
        layers.append(LayerPlacement(t, nxt))
        for tile in t.cores:
            chip, local = divmod(nxt, limits.cores_per_chip)
            cores.append(CorePlacement(nxt, chip, divmod(local, cols), tile))
            nxt += 1
        if capacity is not None and nxt > capacity:
            raise SnnccError(
                f"layer {t.name!r} does not fit {system.name} ({system.chips} chip(s)): "
                f"cores used up to this layer {nxt:,} exceed the limit of {capacity:,} by "
                f"{nxt - capacity:,} ({nxt / capacity:.2f}x)",
                "map onto a larger system (--system), or shrink the network")
    placement = Placement(layers, cores, [], limits, system, dict(host_shapes))
    by_name = {l.name: l for l in layers}
    for dst in layers:
        for model in dst.tiling.spec.synapses:
            placement.edges.append(_route(model, by_name.get(model.source), dst))
    return placement


def _overlap(src_iv: list[tuple[int, int]], reads: list[tuple[int, int]]) -> np.ndarray:
    """(n_src, n_dst) overlap lengths of source intervals and destination read intervals."""
    s = np.asarray(src_iv, dtype=np.int64).reshape(-1, 2)
    r = np.asarray(reads, dtype=np.int64).reshape(-1, 2)
    lo = np.maximum(s[:, None, 0], r[None, :, 0])
    hi = np.minimum(s[:, None, 1], r[None, :, 1])
    return np.maximum(hi - lo, 0)


def _route(model: SynapseModel, src: Optional[LayerPlacement], dst: LayerPlacement) -> Edge:
    grid = dst.tiling.grid
    first = tuple(g[0] for g in grid)
    # per-axis read intervals: vary one axis of the destination tile at a time (separable)
    reads = []
    for axis in range(3):
        row = []
        for iv in grid[axis]:
            box = list(first)
            box[axis] = iv
            row.append(model.reads(tuple(box))[axis])
        reads.append(row)
    if src is None:           # a host input: one "source core" holding all of it
        src_grid = tuple([(0, n)] for n in model.source_shape)
        base = -1
    else:
        src_grid, base = src.tiling.grid, src.first_core
    per_axis = [_overlap(src_grid[a], reads[a]) for a in range(3)]
    nz = [np.nonzero(o) for o in per_axis]
    if any(len(i) == 0 for i, _ in nz):
        empty = np.zeros(0, np.int64)
        return Edge(model.source, dst.name, model.name, empty, empty, empty)
    # all combinations of per-axis nonzero pairs
    ic, ih, iw = (np.arange(len(i)) for i, _ in nz)
    mc, mh, mw = (m.ravel() for m in np.meshgrid(ic, ih, iw, indexing="ij"))
    (sc, dc), (sh, dh), (sw, dw) = nz
    ns = [len(g) for g in src_grid]
    nd = [len(g) for g in grid]
    s_idx = (sc[mc] * ns[1] + sh[mh]) * ns[2] + sw[mw]
    d_idx = (dc[mc] * nd[1] + dh[mh]) * nd[2] + dw[mw]
    count = (per_axis[0][sc[mc], dc[mc]] * per_axis[1][sh[mh], dh[mh]]
             * per_axis[2][sw[mw], dw[mw]])
    boxes = [c.box for c in dst.tiling.cores]
    fraction = np.array([model.read_fraction(b) for b in boxes])
    count = count * fraction[d_idx]
    src_cores = np.full_like(s_idx, -1) if base < 0 else s_idx + base
    return Edge(model.source, dst.name, model.name, src_cores.astype(np.int64),
                (d_idx + dst.first_core).astype(np.int64), count.astype(np.float64))


def mesh_hops(placement: Placement, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Router hops of each (src, dst) message on its chip's mesh; inter-chip pairs count the
    hops to and from the chip edge (X-Y routing, one router per core)."""
    if src.size == 0:
        return np.zeros(0, np.int64)
    pos = np.array([c.position for c in placement.core_list], dtype=np.int64).reshape(-1, 2)
    chip = np.array([c.chip for c in placement.core_list], dtype=np.int64)
    ok = src >= 0
    s = np.where(ok, src, dst)
    hops = np.abs(pos[s] - pos[dst]).sum(axis=1)
    cross = ok & (chip[s] != chip[dst])
    rows, cols = placement.limits.mesh
    return np.where(cross, pos[s, 1] + (cols - 1 - pos[dst, 1]) + 1, hops)


def inter_chip(placement: Placement, edge: Edge) -> np.ndarray:
    """Bool per route: source and destination on different chips."""
    if edge.src.size == 0:
        return np.zeros(0, bool)
    chip = np.array([c.chip for c in placement.core_list], dtype=np.int64)
    ok = edge.src >= 0
    return ok & (chip[np.where(ok, edge.src, 0)] != chip[edge.dst])


def cores_needed(tilings: list[LayerTiling], limits: Loihi2Limits) -> tuple[int, int]:
    """(cores, chips) a list of tiled layers needs."""
    n = sum(len(t.cores) for t in tilings)
    return n, max(1, math.ceil(n / limits.cores_per_chip))
