"""Float model vs quantized simulator (vs Lava), layer by layer.

The quantized network runs on Loihi's timing: every Dense adds one step of delay, so a
layer at synaptic depth ``k`` emits at step ``t + k`` what the float layer emits at ``t``.
The fixed-point run is fed ``T + depth`` steps (zeros appended) and realigned before comparing.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from .compiler import Compiled
from .ir import FxDense, FxNeuron, Graph, XyNeuron


@dataclass
class LayerAgreement:
    name: str
    depth: int
    neurons: int
    spike_agreement: float        # fraction of (step, sample, neuron) spike values equal
    rate_float: float             # spikes per neuron per step
    rate_quant: float
    first_divergence: Optional[dict] = None   # {"step", "sample", "neuron"} or None


@dataclass
class BitExactLayer:
    """Simulator vs another backend for one layer: counts of differing values."""

    name: str
    spike_mismatches: int
    u_mismatches: int
    v_mismatches: int
    mismatches_per_step: list[int]            # spikes + u + v, per time step
    first_mismatch: Optional[dict] = None     # {"step", "sample", "neuron", "what"}


@dataclass
class VerifyReport:
    samples: int
    steps: int
    layers: list[LayerAgreement]
    output_agreement: float
    prediction_agreement: float
    accuracy_float: Optional[float] = None
    accuracy_quant: Optional[float] = None
    backend: str = "sim"
    bit_exact: list[BitExactLayer] = field(default_factory=list)   # sim vs backend
    bit_exact_samples: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def synaptic_depth(graph: Graph) -> dict[str, int]:
    """Number of synapse delays between the input and each node (longest feed-forward path).

    Each node says how many steps it adds (``Node.delay_steps``: 1 for a Dense or Conv
    synapse, ``delay`` for a delay line, 0 otherwise)."""
    depth: dict[str, int] = {}
    for name in graph.order():
        node = graph.node(name)
        base = max((depth[s] for s in graph.inputs_of(name)), default=0)
        depth[name] = base + node.delay_steps
    return depth


def predictions(spikes: np.ndarray) -> np.ndarray:
    """Class = the output neuron with the most spikes (spikes shaped (T, B, n))."""
    return np.argmax(spikes.sum(axis=0), axis=1)


def align(result_spikes: dict[str, np.ndarray], depth: dict[str, int], steps: int) -> dict:
    """Cut each layer's fixed-point spikes to the float model's time base."""
    return {n: s[depth[n]:depth[n] + steps] for n, s in result_spikes.items()}


def compare_layers(float_spikes: dict[str, np.ndarray], quant_spikes: dict[str, np.ndarray],
                   depth: dict[str, int]) -> list[LayerAgreement]:
    layers = []
    for name, f in float_spikes.items():
        q = quant_spikes[name]
        diff = np.argwhere(f != q)
        first = None
        if len(diff):
            t, b, n = (int(v) for v in diff[np.lexsort((diff[:, 2], diff[:, 1], diff[:, 0]))][0])
            first = {"step": t, "sample": b, "neuron": n}
        layers.append(LayerAgreement(name, depth[name], int(f.shape[2]),
                                     float(np.mean(f == q)), float(f.mean()), float(q.mean()),
                                     first))
    return layers


def cross_check(graph: Graph, stimulus: np.ndarray, backend: str = "lava") -> list[BitExactLayer]:
    """Run the target's simulator (Loihi: ``sim``, Xylo: ``xylo``) and ``backend`` on the same
    stimulus; count every differing spike, u and v of every neuron layer, per time step."""
    from snncc.backends import get_runner
    from .targets import target_of
    ref = get_runner(target_of(graph).runners[0])(graph, stimulus, record_states=True)
    other = get_runner(backend)(graph, stimulus, record_states=True)
    layers = []
    for name in ref.v:
        diffs = {"spike": ref.spikes[name] != other.spikes[name],
                 "u": ref.u[name] != other.u[name], "v": ref.v[name] != other.v[name]}
        per_step = sum(d.sum(axis=(1, 2)) for d in diffs.values())
        first = None
        for what, d in diffs.items():
            hits = np.argwhere(d)
            if len(hits) and (first is None or tuple(hits[0]) < (first["step"], first["sample"],
                                                                   first["neuron"])):
                t, b, n = (int(v) for v in hits[0])
                first = {"step": t, "sample": b, "neuron": n, "what": what}
        layers.append(BitExactLayer(name, int(diffs["spike"].sum()), int(diffs["u"].sum()),
                                    int(diffs["v"].sum()), [int(c) for c in per_step], first))
    return layers


def verify(model, compiled: Compiled, stimulus: np.ndarray, labels: Optional[np.ndarray] = None,
           backend: str = "sim", batch_size: int = 256,
           cross_check_samples: int = 16) -> VerifyReport:
    """Run the float model and the fixed-point graph on ``stimulus`` (T, B, ...) and compare.

    The float comparison uses the bit-accurate simulator on every sample.  With another
    ``backend`` (e.g. ``"lava"``), its run on the first ``cross_check_samples`` samples is
    compared with the simulator value by value (spikes, u, v): the bit-exactness check.
    """
    from snncc.backends import get_runner

    from .reference import run_float
    fixed = compiled.fixed
    neurons = [n.name for n in fixed.of_type((FxNeuron, XyNeuron))]
    steps, batch = stimulus.shape[:2]
    depth = synaptic_depth(fixed)
    pad = max(depth[n] for n in neurons)
    padded = np.concatenate([stimulus, np.zeros((pad,) + stimulus.shape[1:], stimulus.dtype)])
    from .targets import target_of
    result = get_runner(target_of(fixed).runners[0])(fixed, padded)
    quant = align({n: result.spikes[n] for n in neurons}, depth, steps)
    flt = run_float(model, stimulus, neurons, batch_size)
    layers = compare_layers(flt, quant, depth)
    out_name = fixed.inputs_of(fixed.output_names[0])[0]
    pf, pq = predictions(flt[out_name]), predictions(quant[out_name])
    report = VerifyReport(batch, steps, layers,
                          output_agreement=float(np.mean(flt[out_name] == quant[out_name])),
                          prediction_agreement=float(np.mean(pf == pq)), backend=backend)
    if backend != "sim":
        subset = padded[:, :cross_check_samples]
        report.bit_exact = cross_check(fixed, subset, backend)
        report.bit_exact_samples = int(subset.shape[1])
    if labels is not None:
        report.accuracy_float = float(np.mean(pf == labels))
        report.accuracy_quant = float(np.mean(pq == labels))
    return report
