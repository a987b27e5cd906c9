"""Assemble report.json: the analysis, the quantizer's own numbers, calibration, bit-exactness.

The layout is fixed by ``schema.json`` beside this file (format ``snncc.verify-report``,
``version`` 2): fields are only ever added in a new version, never renamed, so scripts that
read reports keep working (version 2 added ``resources`` and the optional ``attribution``;
a version 1 report still validates).  :func:`validate` checks a report against it.
"""
from __future__ import annotations

import dataclasses
import json
from importlib import resources
from typing import Optional

from ..compiler import Compiled
from .analysis import Analysis

FORMAT, VERSION = "snncc.verify-report", 2


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("snncc")
    except Exception:         # running from a source tree without metadata
        return "unknown"


def build_report(analysis: Analysis, compiled: Compiled, *, target: str = "loihi",
                 backend: str = "sim", inputs: Optional[dict] = None,
                 calibration: Optional[dict] = None, bit_exact: Optional[dict] = None,
                 resources: Optional[dict] = None,
                 attribution: Optional[dict] = None) -> dict:
    """The report as a JSON-ready dict (see ``schema.json`` for every field's meaning)."""
    from ..targets.loihi.overflow import current_bounds
    from ..verify import synaptic_depth
    depth = synaptic_depth(compiled.fixed)
    quant = {l.name: l for l in compiled.quant.layers}
    mapping = {m.name: m for m in compiled.mapping}
    # the 24-bit current bound over this run's steps (finite even without current decay)
    current = {n: cb.bound_over(analysis.steps) for n, cb in current_bounds(compiled.fixed).items()}
    layers = []
    for name, a in analysis.layers.items():
        q, m = quant[name], mapping.get(name)
        layers.append({
            "name": name, "depth": depth[name],
            "mapping": m.mapping if m else None, "source_kind": m.source_kind if m else None,
            "weight_exp": q.weight_exp, "sign_mode": q.sign_mode,
            "scale_min": q.scale_min, "scale_max": q.scale_max,
            **{k: a[k] for k in ("neurons", "fan_in", "spike_agreement", "rate_float", "rate_quant",
                                 "rate_error_max", "rates_float", "rates_quant", "membrane_error",
                                 "first_divergence", "spikes_per_sample", "synops_per_sample")},
            "saturation": {"v_rail_hits": a["v_rail_hits"], "u_wraps": a["u_wraps"],
                           "weights_clipped": q.clipped.get("weight", 0),
                           "thresholds_clipped": q.clipped.get("threshold", 0),
                           "biases_clipped": q.clipped.get("bias", 0),
                           "worst_case_current": current.get(name, 0.0)},
            "params": [dataclasses.asdict(e) for e in q.errors],
            "warnings": list(q.warnings),
        })
    total = {k: sum(l[key][k] for l in layers) for key, ks in
             (("spikes_per_sample", ("float", "quant")),) for k in ks}
    synops = {k: sum(l["synops_per_sample"][k] for l in layers if l["synops_per_sample"])
              for k in ("float", "quant", "dense")}
    return {
        "format": FORMAT, "version": VERSION, "snncc_version": _version(),
        "target": target, "backend": backend,
        "inputs": {"model": None, "data": None, "calibration_data": None, **(inputs or {})},
        "samples": analysis.samples, "steps": analysis.steps,
        "summary": {
            "output_layer": analysis.output_layer,
            "output_agreement": analysis.output_agreement,
            "prediction_agreement": analysis.prediction_agreement,
            "accuracy_float": analysis.accuracy_float,
            "accuracy_quant": analysis.accuracy_quant,
            "min_spike_agreement": min((l["spike_agreement"] for l in layers), default=1.0),
            "spikes_per_sample": total,
            "synops_per_sample": synops,
        },
        "layers": layers,
        "calibration": calibration,
        "bit_exact": bit_exact,
        "raster": analysis.raster,
        "resources": resources,
        "attribution": attribution,
    }


# optional top-level sections of version 2, each described by its own schema file beside
# schema.json: written by every report (null when not requested), not required of reports
# that predate them
SECTIONS = {"attribution": "schema_attribution.json"}


def schema() -> dict:
    """The JSON Schema of report.json (shipped in the package): ``schema.json`` plus one file
    per section in :data:`SECTIONS`."""
    files = resources.files(__package__)
    full = json.loads(files.joinpath("schema.json").read_text())
    for key, name in SECTIONS.items():
        full["properties"][key] = json.loads(files.joinpath(name).read_text())
    return full


def validate(report: dict) -> None:
    """Raise ``jsonschema.ValidationError`` if ``report`` does not follow the schema.

    Needs the ``jsonschema`` package (snncc's test extra); reports are written without it.
    """
    import jsonschema
    jsonschema.validate(report, schema(), cls=jsonschema.Draft202012Validator)
