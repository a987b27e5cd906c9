"""Map a fixed-point network onto Loihi 2: tiles, cores, chips, and what each core uses.

The mapper follows the published per-core resources and the rules Intel's own compiler
applied to lava-dl's PilotNet (``mapping_limits.py`` has every figure and its source):

1. ``mapping_tiling``: each layer is cut into tiles that fit a core's neuron memory,
   synapse memory (by encoding: ``mapping_synapses`` dense/identity, ``mapping_conv``
   weight reuse or sparse) and input/output axons; conv layers by output region;
2. ``mapping_place``: tiles get cores, cores get chips (several for a network beyond one)
   and mesh positions, and every synaptic input its spike routes (for traffic and the time
   and energy model in ``energy.py``).

What it reports is an estimate of Intel's compiler, checked against the per-core table
that lava-dl's PilotNet notebook prints (``bench/loihi2_pilotnet.py``, docs/loihi2-mapping.md),
not the output of Intel's (closed) compiler.
"""
from __future__ import annotations

import math
from typing import Optional

from ...ir import Graph
from .mapping_limits import LOIHI2, SYSTEMS, Loihi2Limits, System, get_system  # noqa: F401
from .mapping_place import Placement, place
from .mapping_synapses import SYNAPSE_ESTIMATORS, register_synapse_estimator  # noqa: F401
from .mapping_tiling import RESOURCES, tile_layers
from . import mapping_conv  # noqa: F401  (registers the conv estimator)

ENCODINGS = ("conv", "sparse")


def map_loihi2(graph: Graph, limits: Loihi2Limits = LOIHI2, *,
               system: Optional[str | System] = None, conv_encoding: str = "conv") -> Placement:
    """Tile, place and route every layer of a fixed-point graph on Loihi 2.

    ``system``: a name of :data:`SYSTEMS` (``oheo-gulch`` 1 chip, ``kapoho-point`` 8,
    ``hala-point`` 1,152) to refuse networks larger than it; ``None`` uses as many chips as
    the network needs.  ``conv_encoding``: ``conv`` (weight reuse, Intel's netx default) or
    ``sparse``.  Raises :class:`SnnccError` naming the layer, the resource, its need and
    the limit when a layer cannot be tiled to fit or the system is too small.
    """
    from ...errors import SnnccError
    if conv_encoding not in ENCODINGS:
        raise SnnccError(f"unknown conv encoding {conv_encoding!r}",
                         "use one of: " + ", ".join(ENCODINGS))
    if isinstance(system, str):
        system = get_system(system)
    tilings = tile_layers(graph, limits, {"conv_encoding": conv_encoding})
    hosts = {name: math.prod(graph.node(name).shape) for name in graph.input_names}
    return place(tilings, limits, system, hosts)


def layer_rows(placement: Placement) -> list[dict]:
    """One dict per layer: size, cores, tile, chips and its worst core's use of each budget."""
    limits, rows = placement.limits, []
    for lp in placement.layers:
        t = lp.tiling
        cores = [placement.core_list[i] for i in lp.core_range()]
        util = {r: max(c.utilisation(limits)[r] for c in cores) for r in RESOURCES}
        encodings = sorted({m.encoding for m in t.spec.synapses})
        chips = placement.chips_of(lp)
        rows.append({
            "layer": lp.name, "kind": t.spec.kind, "shape": list(t.spec.shape),
            "neurons": lp.neurons, "cores": lp.cores,
            "core_range": [lp.first_core, lp.first_core + lp.cores - 1],
            "chips": [chips[0], chips[-1]], "tile": list(t.tile),
            "encoding": "+".join(encodings) or "none",
            "fan_in_groups": t.spec.fan_in_groups,
            "neurons_per_core": max(c.tile.neurons for c in cores),
            "synapse_words": max(c.tile.words for c in cores),
            "axons_in": max(c.tile.axons_in for c in cores),
            "axons_out": max(c.tile.axons_out for c in cores),
            **{f"{r}_util": v for r, v in util.items()}})
    return rows


def core_rows(placement: Placement) -> list[dict]:
    """One dict per core: chip, mesh position, layer, tile box and its use of each budget."""
    limits = placement.limits
    return [{"core": c.index, "chip": c.chip, "position": list(c.position),
             "layer": c.tile.layer, "box": [list(iv) for iv in c.tile.box],
             "neurons": c.tile.neurons, **c.tile.usage(),
             **{f"{r}_util": v for r, v in c.utilisation(limits).items()}}
            for c in placement.core_list]
