"""A quantized NIR file: the float graph as plain NIR, plus the target's integer program in
namespaced graph metadata, which snncc reads back bit for bit.

NIR has no notion of quantization (nir 1.0.8: any dtype round-trips, but integers mean
nothing in the spec), so no other tool carries it.  snncc writes, under the graph metadata key
``snncc.quantized``:

* ``format`` (``"snncc.fx"``), ``version``, ``target`` (e.g. ``"loihi"``), ``dt``;
* ``rules``: JSON of the arithmetic every value obeys (bit widths, wrap or saturate, the spike
  rule, the reset, the synapse's delay and shift), from :mod:`snncc.targets.loihi.fixedpoint`;
* ``network``: JSON of the fixed-point graph (snncc's ``network.json``: nodes, scalars,
  edges), and ``arrays``: one integer dataset per node field (``<node>.<field>``: weights,
  weight exponents, ``du``/``dv`` decays, ``vth`` thresholds, bias mantissas and exponents,
  reset multipliers and subtrahends).

On read the program goes through the same checks as a build folder
(:func:`snncc.ir.check.check_loaded`: types, bit ranges, shapes, one dry run).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from ...atomic import atomic_file
from ...errors import SnnccError
from ...ir import Graph
from .neurons import scalar

KEY = "snncc.quantized"
FORMAT, VERSION = "snncc.fx", 1


def rules(target: str) -> dict:
    """The integer arithmetic of ``target``'s program, as a reader needs it spelled out."""
    if target != "loihi":
        return {"target": target}
    from ...targets.loihi import fixedpoint as fx
    return {
        "widths": {"weight": fx.WEIGHT_BITS, "weight_sign": "mixed: 8-bit two's complement "
                   "with the LSB dropped; excitatory/inhibitory: 8-bit magnitude",
                   "u": fx.STATE_BITS, "v": fx.STATE_BITS, "vth": 17, "bias_mant": 13,
                   "bias_exp": 3, "du": 12, "dv": 12},
        "overflow": {"u": "wrap to 24 bits (Lava's: > 2**23 loses 2**24, <= -2**23 gains it)",
                     "v": f"saturate to [-{fx.V_MAX}, {fx.V_MAX}]"},
        "synapse": "a_in(t+1) = (W @ s(t)) << weight_exp (Lava Dense: one step late); "
                   "bias axon: a column of W fed by an always-on input from bias_start",
        "neuron": "u = u*(4096-du)/4096 (toward zero) + (a_in << 6); "
                  "v = v*(4096-dv)/4096 (toward zero) + u + bias_mant << bias_exp",
        "spike": "v > vth << 6 (strict)",
        "reset": "v = (v*reset_mult)/4096 - reset_sub at the spike (or the next step if "
                 "reset_delayed)",
        "source": "lava-nc 0.10.0 lava/proc/lif/models.py, lava/proc/dense/models.py; "
                  "snncc.targets.loihi.fixedpoint"}


def quantized_metadata(fixed: Graph, target: str) -> dict:
    """The ``snncc.quantized`` metadata entry of a fixed-point graph."""
    from ...ir.serialize import _json_default, to_dicts
    desc, arrays = to_dicts(fixed)
    for key in arrays:
        if "/" in key:
            raise SnnccError(f"node name {key.split('.')[0]!r} contains '/', which HDF5 cannot "
                             "name a dataset with", "rename the layer")
    return {"format": FORMAT, "version": VERSION, "target": target,
            "dt": float(fixed.meta.get("dt", 0.0)),
            "rules": json.dumps(rules(target)),
            "network": json.dumps(desc, default=_json_default),
            "arrays": {k: np.asarray(v) for k, v in arrays.items()}}


def write_quantized_nir(compiled, path: str | Path) -> Path:
    """Write ``compiled`` (a :class:`snncc.compiler.Compiled`) as NIR: the lowered float
    graph as NIR nodes, the fixed-point program under ``snncc.quantized``; atomically."""
    import nir

    from .export import to_nir
    nir_graph = to_nir(compiled.lowered)
    nir_graph.metadata = dict(nir_graph.metadata, **{KEY: quantized_metadata(
        compiled.fixed, compiled.target)})
    path = Path(path)
    with atomic_file(path) as tmp:
        nir.write(tmp, nir_graph)
    return path


def read_quantized(meta: dict, where: str, target: Optional[str] = None) -> Optional[Graph]:
    """The fixed-point graph stored in a NIR graph's metadata, or None if there is none.

    Raises :class:`SnnccError` when it is malformed, out of its bit ranges, or for another
    ``target``."""
    from ...ir.check import check_loaded
    from ...ir.serialize import from_dicts
    entry = meta.get(KEY)
    if entry is None:
        return None
    fix = "re-export it with snncc export-nir --quantized"
    if not isinstance(entry, dict) or scalar(entry.get("format")) != FORMAT \
            or int(scalar(entry.get("version", 0))) != VERSION:
        raise SnnccError(f"{where}: malformed '{KEY}' metadata (not {FORMAT} version {VERSION})", fix)
    stored = str(scalar(entry.get("target")))
    if target is not None and stored != target:
        raise SnnccError(f"{where} carries an integer program for target {stored!r}, not "
                         f"{target!r}", f"compile it with --target {stored}, or export the "
                         "float graph without --quantized")
    try:
        desc = json.loads(scalar(entry["network"]))
        arrays = {str(k): np.asarray(v) for k, v in dict(entry.get("arrays", {})).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise SnnccError(f"{where}: malformed '{KEY}' metadata ({type(exc).__name__})", fix) from None
    fixed = from_dicts(desc, arrays)
    check_loaded(fixed, f"{where} (its integer program)")
    return fixed
