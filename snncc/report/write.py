"""Produce a report end to end and write its artifacts; nothing is written unless all succeed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from ..compiler import Compiled
from ..progress import Progress


def make_report(model, compiled: Compiled, stimulus: np.ndarray, labels: Optional[np.ndarray] = None,
                *, target: str = "loihi", backend: str = "sim", check_samples: int = 16,
                calibration=None, inputs: Optional[dict] = None,
                progress: Optional[Progress] = None, attribution: int = 0) -> dict:
    """Analyse ``stimulus`` (T, B, ...) and return report.json's content.

    ``calibration`` (a :class:`snncc.calibrate.Calibration`) adds its section, including the
    default rule vs the calibrated network on this data.  A ``backend`` other than ``sim``
    adds the bit-exact cross-check on the first ``check_samples`` samples.  ``attribution``
    > 0 adds error attribution on that many samples (:mod:`snncc.report.attribution`).
    """
    from .analysis import analyze
    from .build import build_report
    analysis = analyze(model, compiled, stimulus, labels, progress=progress)
    cal = None
    if calibration is not None:
        cal = calibration.to_dict()
        if hasattr(calibration, "gain_on"):     # a target's own comparison (Xylo)
            gain = calibration.gain_on(model, compiled, stimulus, labels)
        else:
            from ..targets.loihi.calibrate import gain_on
            gain = gain_on(model, compiled, calibration, stimulus, labels)
        cal["extra"]["verify_data"] = gain
    bit_exact = None
    from ..targets import target_of
    if backend != target_of(compiled.fixed).runners[0]:
        from ..verify import cross_check
        from .runs import neuron_names
        from ..verify import synaptic_depth
        depth = synaptic_depth(compiled.fixed)
        pad = max(depth[n] for n in neuron_names(compiled.fixed))
        subset = stimulus[:, :check_samples]
        subset = np.concatenate([subset, np.zeros((pad,) + subset.shape[1:], subset.dtype)])
        layers = cross_check(compiled.fixed, subset, backend)
        from dataclasses import asdict
        bit_exact = {"backend": backend, "samples": int(subset.shape[1]),
                     "layers": [asdict(l) for l in layers]}
    from .resources import resources_section
    resources = resources_section(compiled, analysis, stimulus, target)
    attributed = None
    if attribution > 0:
        from .attribution import attribute
        attributed = attribute(model, compiled, stimulus, samples=attribution, progress=progress)
    return build_report(analysis, compiled, target=target, backend=backend, inputs=inputs,
                        calibration=cal, bit_exact=bit_exact, resources=resources,
                        attribution=attributed)


def _targets(json_path, html_path) -> tuple[dict, dict]:
    kinds, options = {}, {}
    for path, kind, option in ((json_path, "json", "--json"), (html_path, "html", "--html")):
        if path is not None:
            kinds[Path(path)] = kind
            options[Path(path)] = option
    return kinds, options


def check_artifacts(json_path: Optional[Path], html_path: Optional[Path], inputs=(),
                    force: bool = False) -> None:
    """Refuse unusable report paths before any work (see :mod:`snncc.atomic`)."""
    from ..atomic import check_file_target
    from ..errors import SnnccError
    kinds, options = _targets(json_path, html_path)
    if json_path is not None and html_path is not None \
            and Path(json_path).resolve() == Path(html_path).resolve():
        raise SnnccError(f"--json and --html name the same file {json_path}",
                         "give each report its own path")
    for path, kind in kinds.items():
        check_file_target(path, kind, inputs, force, options[path])


def write_artifacts(report: dict, json_path: Optional[Path] = None,
                    html_path: Optional[Path] = None, inputs=(), force: bool = False,
                    render_html=None) -> list[Path]:
    """Render everything first, then write both files or neither; returns the paths written.

    ``render_html``: the HTML renderer for another report format (default: verify's)."""
    from ..atomic import output_files
    if render_html is None:
        from .html import render_html
    kinds, options = _targets(json_path, html_path)
    texts = {}
    if json_path is not None:
        texts[Path(json_path)] = json.dumps(report, indent=1)
    if html_path is not None:
        texts[Path(html_path)] = render_html(report)
    if not texts:
        return []
    with output_files(kinds, inputs, force, options) as temps:
        for path, text in texts.items():
            temps[path].write_text(text, encoding="utf-8")
    return list(texts)
