"""What a Xylo build folder holds besides the fixed-point graph: ``xylo_spec.json``.

The chip specification in Rockpool's mapper format (the keyword arguments of Rockpool's
``XyloSim.from_specification`` / ``config_from_specification``: ``weights_in`` (inputs,
hidden, synapses), ``weights_rec``, ``weights_out``, dashes, thresholds, biases, weight
shifts, aliases), plus snncc's map of layers to hidden ids.  :func:`load_spec` reads it back;
``snncc run BUILD --backend xylosim`` runs it on SynSense's simulator.
"""
from __future__ import annotations

import json
from pathlib import Path

from ...errors import SnnccError
from .mapping import XyloConfig, resources, to_config

SPEC_FILE = "xylo_spec.json"


def emit(compiled, directory: Path, **_options) -> tuple[list[str], list[str]]:
    """Write ``xylo_spec.json`` for ``compiled`` into ``directory``; return (files, notes)."""
    cfg = to_config(compiled.fixed)
    (Path(directory) / SPEC_FILE).write_text(json.dumps(cfg.to_spec()))
    res = resources(compiled.fixed)
    used = ", ".join(f"{r['resource']} {r['used']}/{r['available']}" for r in res.rows())
    return [SPEC_FILE], [f"{res.chip.title}: {used}"]


def load_spec(path) -> XyloConfig:
    """Read a ``xylo_spec.json`` (a build folder or the file) as a :class:`XyloConfig`."""
    path = Path(path)
    if path.is_dir():
        path = path / SPEC_FILE
    try:
        return XyloConfig.from_spec(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise SnnccError(f"cannot read Xylo spec {path}: {exc}",
                         "pass a build folder written by snncc compile --target xylo") from None
