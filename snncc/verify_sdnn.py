"""``snncc verify`` of a sigma-delta network: the float torch model against its fixed point.

A sigma-delta layer's spikes are graded, so "spike agreement" is not the measure: each layer
is compared by its *activation* (``act`` of a Delta/SigmaDelta, ``sigma`` of a Sigma read-out),
the quantity the network exists to carry, on the float model's time base (a layer at
synaptic depth k answers at t + k in fixed point), in float units (the fixed-point value
divided by the layer's scale ``K``, see :mod:`snncc.targets.loihi.quantize_sdnn`):

* ``activation_error``: mean and max ``|act_quant / K - act_float|``, and the mean relative to
  the mean ``|act_float|``;
* ``messages``: graded spikes sent per neuron and step, float and quantized, and the fraction
  of (step, sample, neuron) where both send or both stay silent;
* the output layer's error and, for classification, the agreement of ``argmax`` of its last
  step (and accuracy with labels).

With ``backend="lava"`` the simulator is also compared with Lava value by value on the first
samples (``bit_exact``, the same section as in ``snncc.verify-report``).  Report format
``snncc.sdnn-verify-report``, version 1.
"""
from __future__ import annotations

import html
from dataclasses import asdict
from typing import Optional

import numpy as np

FORMAT, VERSION = "snncc.sdnn-verify-report", 1


def run_float_sdnn(model, stimulus: np.ndarray, names: list[str],
                   input_shape: tuple[int, ...]) -> tuple[dict, dict]:
    """(graded spikes, activations) of each named sigma-delta module, (T, B, n) float64,
    for ``stimulus`` (T, B, ...) fed as (B, *input_shape) per step."""
    import torch

    from .nn import reset
    modules = dict(model.named_modules())
    steps = stimulus.shape[0]
    spikes = {n: [] for n in names}
    acts = {n: [] for n in names}
    hooks = [modules[n].register_forward_hook(
        lambda m, i, o, n=n: spikes[n].append(o.detach().reshape(o.shape[0], -1).double().numpy()))
        for n in names]
    model.eval()
    try:
        reset(model)
        with torch.no_grad():
            for t in range(steps):
                frame = np.asarray(stimulus[t]).reshape((stimulus.shape[1],) + tuple(input_shape))
                model(torch.as_tensor(frame, dtype=torch.float32))
                for n in names:
                    m = modules[n]
                    a = getattr(m, "act", None) if hasattr(m, "residue") else getattr(m, "sigma")
                    acts[n].append(a.detach().reshape(a.shape[0], -1).double().numpy())
    finally:
        for h in hooks:
            h.remove()
    return ({n: np.stack(v) for n, v in spikes.items()}, {n: np.stack(v) for n, v in acts.items()})


def verify_sdnn(model, compiled, x: np.ndarray, labels: Optional[np.ndarray] = None,
                backend: str = "sim", check_samples: int = 16,
                inputs: Optional[dict] = None) -> dict:
    """The sigma-delta verify report (see the module docstring) for stimulus ``x`` (T, B, ...)."""
    from .backends import get_runner
    from .ir import FxGradedNeuron
    from .report.build import _version
    from .verify import cross_check, synaptic_depth
    fixed = compiled.fixed
    names = [n.name for n in fixed.nodes() if isinstance(n, FxGradedNeuron)]
    scale = {l.name: l.scale_min for l in compiled.quant.layers}
    depth = synaptic_depth(fixed)
    steps, batch = x.shape[:2]
    pad = max(depth[n] for n in names)
    padded = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)])
    q = get_runner("sim")(fixed, padded, record_states=True)
    s_f, a_f = run_float_sdnn(model, x, names, tuple(fixed.node(fixed.input_names[0]).shape))
    layers = []
    for n in names:
        d, k = depth[n], scale[n]
        act_q = q.v[n][d:d + steps].astype(np.float64) / k
        sent_q = q.spikes[n][d:d + steps] != 0
        sent_f = s_f[n] != 0
        err = np.abs(act_q - a_f[n])
        mean_f = float(np.mean(np.abs(a_f[n])))
        layers.append({"name": n, "kind": fixed.node(n).kind, "depth": int(d), "scale": float(k),
                       "neurons": int(a_f[n].shape[2]),
                       "activation_error": {"mean": float(err.mean()), "max": float(err.max()),
                                            "relative": float(err.mean() / mean_f) if mean_f else 0.0},
                       "messages": {"float": float(sent_f.mean()), "quant": float(sent_q.mean()),
                                    "agreement": float(np.mean(sent_f == sent_q))}})
    out = fixed.inputs_of(fixed.output_names[0])[0]
    last_f = a_f[out][-1]
    last_q = q.v[out][depth[out] + steps - 1].astype(np.float64) / scale[out]
    pf, pq = np.argmax(last_f, axis=1), np.argmax(last_q, axis=1)
    report = {
        "format": FORMAT, "version": VERSION, "snncc_version": _version(), "target": "loihi",
        "backend": backend, "inputs": {"model": None, "data": None, **(inputs or {})},
        "samples": int(batch), "steps": int(steps), "layers": layers,
        "summary": {"output_layer": out,
                    "output_error": next(l["activation_error"] for l in layers if l["name"] == out),
                    "prediction_agreement": float(np.mean(pf == pq)),
                    "accuracy_float": None if labels is None else float(np.mean(pf == labels)),
                    "accuracy_quant": None if labels is None else float(np.mean(pq == labels))},
        "bit_exact": None,
    }
    if backend != "sim":
        subset = padded[:, :check_samples]
        report["bit_exact"] = {"backend": backend, "samples": int(subset.shape[1]),
                               "layers": [asdict(l) for l in cross_check(fixed, subset, backend)]}
    return report


def table_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of the per-layer table the CLI prints."""
    headers = ["layer", "kind", "depth", "act error mean", "relative", "max",
               "messages float / quant", "send agreement"]
    rows = [[l["name"], l["kind"], str(l["depth"]), f"{l['activation_error']['mean']:.4g}",
             f"{l['activation_error']['relative']:.3%}", f"{l['activation_error']['max']:.4g}",
             f"{l['messages']['float']:.4f} / {l['messages']['quant']:.4f}",
             f"{l['messages']['agreement']:.4%}"] for l in report["layers"]]
    return headers, rows


def summary_lines(report: dict) -> list[str]:
    s = report["summary"]
    lines = [f"prediction agreement (argmax of the last output): {s['prediction_agreement']:.4%}"]
    if s["accuracy_float"] is not None:
        lines.append(f"accuracy: float {s['accuracy_float']:.4%}   quantized {s['accuracy_quant']:.4%}")
    return lines


def render_sdnn_html(report: dict) -> str:
    """A self-contained HTML page of a sigma-delta verify report."""
    rows = "".join(
        f"<tr><td>{html.escape(l['name'])}</td><td>{l['kind']}</td><td>{l['depth']}</td>"
        f"<td>{l['activation_error']['mean']:.4g}</td><td>{l['activation_error']['relative']:.3%}</td>"
        f"<td>{l['messages']['float']:.4f}</td><td>{l['messages']['quant']:.4f}</td></tr>"
        for l in report["layers"])
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>snncc SDNN verify</title>"
            f"</head><body><h1>{html.escape(str(report['inputs'].get('model')))}</h1>"
            "<table border='1'><tr><th>layer</th><th>kind</th><th>depth</th><th>act error</th>"
            "<th>relative</th><th>messages float</th><th>messages quant</th></tr>"
            f"{rows}</table><p>prediction agreement "
            f"{report['summary']['prediction_agreement']:.2%}</p></body></html>")
