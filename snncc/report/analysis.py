"""Layer-by-layer comparison of the float model and the quantized network, batch by batch.

Three runs per batch of samples: the torch model (the user's ground truth for spikes),
the lowered float graph in float64 (the ground truth for membranes: same equations as the
model, with the canonical state exposed) and the bit-accurate simulator with its u and v.
Only running sums are kept across batches, so memory does not grow with the data set.

Definitions (all documented in ``schema.json``):

* spike agreement: fraction of (step, sample, neuron) spike values equal;
* membrane error: ``|v_float / threshold - v_quant / (vth << 6)|``, in thresholds;
* SynOps (NeuroBench's effective synaptic operations): every spike into a layer's synapses
  counts its number of non-zero outgoing weights; Dense SynOps count every synapse at every
  step; biases are not synaptic operations.  Reported per sample.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..targets.loihi import fixedpoint as fx
from ..compiler import Compiled
from ..errors import SnnccError
from ..ir import Affine, FxDense, Graph, XyDense
from ..passes.float_sim import simulate_float
from ..progress import Progress, or_quiet
from .runs import QuantStream, neuron_names, output_layer

RASTER_MAX_NEURONS = 256     # neurons per layer kept for the raster plot of one sample
# Long runs go window by window in time (float model, float graph and the quantized run
# carry their state across), so memory is bounded by a window, not by T: a window holds
# at most WINDOW_BYTES of per-neuron values, about STEP_BYTES per neuron and sample-step
# (float spikes and outputs, float membranes, quantized u, v and spikes, temporaries).
WINDOW_BYTES = 64 * 2 ** 20
STEP_BYTES = 48


@dataclass
class _Layer:
    """Running sums of one neuron layer."""

    n: int
    equal: int = 0
    total: int = 0
    spikes_f: np.ndarray = None
    spikes_q: np.ndarray = None
    mem_cells: int = 0              # -1: no float membrane reference for this graph
    mem_abs: float = 0.0
    mem_sq: float = 0.0
    mem_max: float = 0.0
    v_rail: int = 0
    synops_f: float = 0.0
    synops_q: float = 0.0
    first: Optional[tuple[int, int, int]] = None

    def __post_init__(self) -> None:
        self.spikes_f = np.zeros(self.n, np.int64)
        self.spikes_q = np.zeros(self.n, np.int64)


@dataclass
class Analysis:
    """Everything the report needs, gathered over all samples."""

    samples: int
    steps: int
    layers: dict[str, dict]
    output_layer: str
    output_agreement: float
    prediction_agreement: float
    accuracy_float: Optional[float]
    accuracy_quant: Optional[float]
    raster: dict = field(default_factory=dict)


def _fanout(weight: np.ndarray) -> np.ndarray:
    """Non-zero outgoing synapses of each source neuron: weight is (out, in)."""
    return np.count_nonzero(weight, axis=0).astype(np.float64)


def _synapses(fixed: Graph, lowered: Graph, layer: str) -> Optional[tuple[str, np.ndarray, np.ndarray]]:
    """The source feeding ``layer`` and the float / quantized fan-out of each source neuron.

    None where the layer is not fed by one Dense from a spiking source (convolutions, delays,
    sums): their SynOps are not counted yet, and the report says so with a null.
    """
    feeders = fixed.inputs_of(layer)
    dense = fixed.node(feeders[0]) if len(feeders) == 1 else None
    if not isinstance(dense, (FxDense, XyDense)) or len(fixed.inputs_of(dense.name)) != 1:
        return None
    source = fixed.inputs_of(dense.name)[0]
    affine = lowered.node(dense.name) if dense.name in lowered else None
    # a synapse composed across a pool/flatten/add reads another tensor than the Linear
    # of the same name in the lowered graph: then count the fixed-point synapses for both
    same = isinstance(affine, Affine) and np.shape(affine.weight) == np.shape(dense.weight)
    w_float = affine.weight if same else dense.weight
    return source, _fanout(np.asarray(w_float)), _fanout(dense.weight)


def _first(diff: np.ndarray, offset: int) -> Optional[tuple[int, int, int]]:
    hits = np.argwhere(diff)
    if not len(hits):
        return None
    t, b, n = hits[np.lexsort((hits[:, 2], hits[:, 1], hits[:, 0]))][0]
    return int(t), int(b) + offset, int(n)


def analyze(model, compiled: Compiled, stimulus: np.ndarray, labels: Optional[np.ndarray] = None,
            batch_size: int = 128, progress: Optional[Progress] = None) -> Analysis:
    """Compare float and quantized runs of ``stimulus`` (T, B, ...) layer by layer."""
    from ..reference import run_float, streams
    fixed, lowered = compiled.fixed, compiled.lowered
    names = neuron_names(fixed)
    out = output_layer(fixed)
    steps, total = stimulus.shape[:2]
    thr = {n: np.asarray(lowered.node(n).threshold, np.float64).reshape(-1) for n in names}
    from ..targets import target_of
    tgt = target_of(fixed)
    units = tgt.threshold_units or (lambda node: np.maximum(
        np.asarray(node.vth, np.int64) << fx.VTH_SHIFT, 1).astype(np.float64).reshape(-1))
    v_max = fx.V_MAX if tgt.v_max is None else tgt.v_max
    vth = {n: units(fixed.node(n)) for n in names}
    syn = {n: _synapses(fixed, lowered, n) for n in names}
    acc = {n: _Layer(int(thr[n].size)) for n in names}
    pred_f, pred_q = [], []
    worst = (-1, 0, None)                      # (mismatches, sample, spikes) for the raster
    task = or_quiet(progress).task("verifying", total)
    per_step = sum(a.n for a in acc.values()) * STEP_BYTES
    for start in range(0, total, batch_size):
        chunk = stimulus[:, start:start + batch_size]
        b = chunk.shape[1]
        window = max(1, WINDOW_BYTES // max(b * per_step, 1)) if streams(model) else steps
        window = min(window, steps)
        f_carry = {} if window < steps else None
        s_carry: Optional[dict] = {}
        quant = QuantStream(fixed, chunk, window)
        mismatches = np.zeros(b, np.int64)
        counts_f, counts_q = 0, 0
        for t0 in range(0, steps, window):
            t1 = min(t0 + window, steps)
            part = chunk[t0:t1]
            flt = run_float(model, part, names, batch_size, carry=f_carry)
            v_float: Optional[dict[str, np.ndarray]] = None
            if s_carry is not None:
                v_float = {}
                try:
                    simulate_float(lowered, part, states=v_float, carry=s_carry)
                except SnnccError:   # e.g. recurrent graphs: no float membrane reference
                    v_float = s_carry = None
            q = quant.take(t0, t1)
            _accumulate(acc, names, flt, q, v_float, thr, vth, v_max, syn, fixed, part,
                        mismatches, start, t0)
            counts_f = counts_f + flt[out].sum(axis=0)
            counts_q = counts_q + q.spikes[out].sum(axis=0)
            if t0 == 0:                  # the raster shows the first window's steps
                shown = {n: (flt[n][:, :, :RASTER_MAX_NEURONS], q.spikes[n][:, :, :RASTER_MAX_NEURONS])
                         for n in names}
        bw = int(np.argmax(mismatches))
        if mismatches[bw] > worst[0]:
            worst = (int(mismatches[bw]), start + bw,
                     {n: (f[:, bw], s_[:, bw]) for n, (f, s_) in shown.items()})
        pred_f.append(np.argmax(counts_f, axis=1))
        pred_q.append(np.argmax(counts_q, axis=1))
        task.advance(b)
    pf, pq = np.concatenate(pred_f), np.concatenate(pred_q)
    layers = {n: _summary(acc[n], steps, total, None if syn[n] is None else syn[n][1].size)
              for n in names}
    raster = {"sample": worst[1], "mismatches": worst[0],
              "layers": {n: {"float": np.argwhere(f).tolist(), "quant": np.argwhere(s).tolist(),
                             "neurons": int(f.shape[1])} for n, (f, s) in worst[2].items()}}
    report = Analysis(total, steps, layers, out, layers[out]["spike_agreement"],
                      float(np.mean(pf == pq)), None, None, raster)
    if labels is not None:
        report.accuracy_float = float(np.mean(pf == labels))
        report.accuracy_quant = float(np.mean(pq == labels))
    return report


def _accumulate(acc: dict, names: list[str], flt: dict, q, v_float: Optional[dict], thr: dict,
                vth: dict, v_max: int, syn: dict, fixed: Graph, part: np.ndarray,
                mismatches: np.ndarray, start: int, t0: int) -> None:
    """Add one window (steps ``t0 ..`` of samples ``start ..``) to the running sums."""
    steps, batch = part.shape[:2]
    inputs_f = {fixed.input_names[0]: part.reshape(steps, batch, -1)}
    inputs_f.update(flt)
    inputs_q = {fixed.input_names[0]: inputs_f[fixed.input_names[0]]}
    inputs_q.update(q.spikes)
    for n in names:
        a, f, s = acc[n], flt[n], q.spikes[n]
        diff = f != s
        mismatches += diff.sum(axis=(0, 2))
        a.equal += int(diff.size - diff.sum())
        a.total += int(diff.size)
        a.spikes_f += f.sum(axis=(0, 1))
        a.spikes_q += s.sum(axis=(0, 1))
        if v_float is None:
            a.mem_cells = -1
        elif a.mem_cells >= 0:
            err = np.abs(v_float[n] / thr[n] - q.v[n] / vth[n])
            a.mem_cells += err.size
            a.mem_abs += float(err.sum())
            a.mem_sq += float((err ** 2).sum())
            a.mem_max = max(a.mem_max, float(err.max(initial=0.0)))
        a.v_rail += int(np.sum(np.abs(q.v[n]) >= v_max))
        if syn[n] is not None and syn[n][0] in inputs_f:
            src, fan_f, fan_q = syn[n]
            a.synops_f += float(inputs_f[src].reshape(steps, batch, -1).sum(axis=(0, 1)) @ fan_f)
            a.synops_q += float(inputs_q[src].reshape(steps, batch, -1).sum(axis=(0, 1)) @ fan_q)
        else:
            syn[n] = None
        first = _first(diff, start)
        if first is not None:
            first = (first[0] + t0,) + first[1:]
            if a.first is None or first < a.first:
                a.first = first


def _summary(a: _Layer, steps: int, samples: int, fan_in: Optional[int]) -> dict:
    cells = max(a.total, 1)
    rate_f = a.spikes_f / max(steps * samples, 1)
    rate_q = a.spikes_q / max(steps * samples, 1)
    return {
        "neurons": a.n,
        "fan_in": None if fan_in is None else int(fan_in),
        "spike_agreement": a.equal / cells,
        "rate_float": float(rate_f.mean()) if a.n else 0.0,
        "rate_quant": float(rate_q.mean()) if a.n else 0.0,
        "rate_error_max": float(np.max(np.abs(rate_f - rate_q), initial=0.0)),
        "rates_float": rate_f.tolist(),
        "rates_quant": rate_q.tolist(),
        "membrane_error": None if a.mem_cells < 0 else
        {"mean": a.mem_abs / max(a.mem_cells, 1), "rms": float(np.sqrt(a.mem_sq / max(a.mem_cells, 1))),
         "max": a.mem_max},
        "v_rail_hits": a.v_rail,
        "first_divergence": None if a.first is None else
        dict(zip(("step", "sample", "neuron"), a.first)),
        "spikes_per_sample": {"float": float(a.spikes_f.sum()) / samples,
                              "quant": float(a.spikes_q.sum()) / samples},
        "synops_per_sample": None if fan_in is None else
        {"float": a.synops_f / samples, "quant": a.synops_q / samples,
         "dense": float(fan_in * a.n * steps)},
    }
