"""``snncc verify``: compile, then compare the float model with the quantized network."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from pathlib import Path
from typing import Optional, Sequence

from ..errors import SnnccError
from ..progress import Progress
from .common import (_backend_for, _check_on, _input_shape, _is_netx, _load, _memory_check,
                     PathLike, _paths, _streams)
from .compiling import _calibrate, compile, CompileResult


@dataclass
class VerifyResult:
    """``report``: report.json's content (schema ``snncc/report/schema.json``);
    ``written``: the report files written; ``compile``: the compile it verified;
    ``warnings``: silent or saturated layers on the data, zero activity compared."""

    report: dict
    written: list[Path]
    compile: CompileResult
    warnings: list[str] = field(default_factory=list)

    def _repr_html_(self) -> str:
        from ..notebook import report_html
        return report_html(self.report)


def verify(model, data: PathLike, *, target: str = "loihi", backend: str = "sim",
           json_out: Optional[PathLike] = None, html_out: Optional[PathLike] = None,
           calibrate: Optional[PathLike] = None, check_samples: int = 16, trust: bool = False,
           weights: Optional[PathLike] = None, model_args: Optional[str] = None,
           input_shape: Optional[Sequence[int]] = None, dt: Optional[float] = None,
           progress: Optional[Progress] = None, convention: Optional[str] = None,
           reset: Optional[str] = None, max_spikes_per_dt: Optional[int] = None,
           producer: Optional[str] = None, force: bool = False,
           netx_args: Optional[Sequence[str]] = None, attribution: int = 0) -> VerifyResult:
    """Compile ``model`` and compare the float model with the quantized network on ``data``.

    A lava-dl netx file has no float model: snncc's ``backend`` runner is compared value by
    value with lava-dl's own netx loading of the file in Lava
    (:mod:`snncc.backends.lava.netx_verify`); a sigma-delta network by its activations
    (:mod:`snncc.verify_sdnn`).

    ``backend`` other than ``sim`` adds a value-by-value check of the simulator against it
    on the first ``check_samples`` samples.  ``attribution`` > 0 adds error attribution on
    that many samples (report section ``attribution``, :mod:`snncc.report.attribution`).
    The JSON and HTML reports are both rendered before either is written (both or neither);
    options and outputs are checked before any work (see :mod:`snncc.atomic` for the output
    policy and ``force``).
    """
    from ..loaders import load_data, peek_data
    from ..report.write import check_artifacts, make_report, write_artifacts
    from ..sanity import verify_warnings
    model_arg, model = model, _load(model, trust, convention, reset, dt, weights, model_args,
                                    max_spikes_per_dt, producer, netx_args)
    if _is_netx(model):
        from ..backends.lava.netx_verify import verify_netx_file
        return VerifyResult(*verify_netx_file(model, data, target, backend, json_out, html_out,
                                              calibrate, check_samples))
    backend = _backend_for(target, backend)
    if isinstance(check_samples, bool) or not isinstance(check_samples, int) or check_samples < 1:
        raise SnnccError(f"--check-samples {check_samples!r}: the bit-exact check needs at least "
                         "one sample", "pass --check-samples 1 or more (default 16)")
    inputs = _paths(model_arg, data, calibrate, weights)
    check_artifacts(json_out, html_out, inputs, force)
    peek_data(data)                       # a bad data file is refused before the compile
    if calibrate is not None:
        peek_data(calibrate)
    compiled_result = compile(model, target=target, trust=trust, input_shape=input_shape, dt=dt,
                              convention=convention, reset=reset,
                              max_spikes_per_dt=max_spikes_per_dt, producer=producer)
    compiled = compiled_result.compiled
    x, y = load_data(data, _input_shape(compiled), graded=bool(compiled.fixed.meta.get("graded_input")),
                     memory=_memory_check(compiled.fixed, "verify", data,
                                          record_states=backend != "sim",
                                          streaming=backend == "sim" and _streams(compiled_result.model)))
    label_warnings = _label_warnings(y, compiled.fixed)
    if calibrate is not None:
        compiled, compiled_result.calibration, xc = _calibrate(
            compiled_result.model, compiled, calibrate, input_shape, dt, None, progress)
        compiled.self_check = _check_on(compiled_result.model, compiled, xc)
        compiled_result.compiled = compiled
    from ..targets.loihi.quantize_sdnn import is_sdnn
    if is_sdnn(compiled.lowered):     # graded spikes: compared by activations
        from ..verify_sdnn import render_sdnn_html, verify_sdnn
        report = verify_sdnn(compiled_result.model, compiled, x, y, backend, check_samples,
                             {"model": str(model_arg), "data": str(data)})
        return VerifyResult(report, write_artifacts(report, json_out, html_out, inputs, force,
                                                    render_html=render_sdnn_html), compiled_result)
    report = make_report(compiled_result.model, compiled, x, y, target=target, backend=backend,
                         check_samples=check_samples, calibration=compiled_result.calibration,
                         progress=progress, attribution=attribution,
                         inputs={"model": str(model_arg) if isinstance(model_arg, (str, os.PathLike))
                                 else type(model_arg).__name__, "data": str(data),
                                 "calibration_data": None if calibrate is None else str(calibrate)})
    written = write_artifacts(report, json_out, html_out, inputs, force)
    return VerifyResult(report, written, compiled_result,
                        label_warnings + verify_warnings(report, compiled.float_graph))


def _label_warnings(y, fixed) -> list[str]:
    """Labels past the output layer's last neuron (the prediction is the argmax over its
    neurons) can never be predicted: they count as misses and lower both accuracies, so the
    verify output says so instead of reporting them silently."""
    if y is None or not y.size:
        return []
    from ..report.runs import output_layer
    classes = int(np.prod(fixed.node(output_layer(fixed)).shape))
    wrong = int(np.count_nonzero(y >= classes))
    if not wrong:
        return []
    return [f"{wrong} of {y.size} labels are >= {classes}, the output layer's size (largest "
            f"{int(y.max())}): those samples count as misses in both accuracies -- check that "
            "the data belongs to this model"]
