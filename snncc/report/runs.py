"""Running the quantized network on the float model's time base (shared by report and calibration).

Every Dense delays by one step on Loihi, so a layer at synaptic depth ``k`` emits at
``t + k`` what the float layer emits at ``t``: the stimulus gets ``max depth`` zero steps
appended and each layer's record is cut back to ``[k, k + T)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir import FxNeuron, Graph, XyNeuron
from ..verify import synaptic_depth


@dataclass
class QuantRun:
    """Aligned spikes (bool) and, when recorded, u and v (int) per neuron layer, (T, B, n)."""

    spikes: dict[str, np.ndarray]
    depth: dict[str, int]
    u: dict[str, np.ndarray] = field(default_factory=dict)
    v: dict[str, np.ndarray] = field(default_factory=dict)


def neuron_names(fixed: Graph) -> list[str]:
    return [n.name for n in fixed.of_type((FxNeuron, XyNeuron))]


def output_layer(fixed: Graph) -> str:
    """The neuron layer that feeds the graph's (first) output."""
    return fixed.inputs_of(fixed.output_names[0])[0]


def run_quantized(fixed: Graph, stimulus: np.ndarray, record_states: bool = False) -> QuantRun:
    """Simulate ``fixed`` bit-accurately on ``stimulus`` (T, B, ...) and realign to the float time base."""
    from ..backends import get_runner
    names = neuron_names(fixed)
    steps = stimulus.shape[0]
    depth = synaptic_depth(fixed)
    pad = max(depth[n] for n in names)
    padded = np.concatenate([stimulus, np.zeros((pad,) + stimulus.shape[1:], stimulus.dtype)])
    from ..targets import target_of
    res = get_runner(target_of(fixed).runners[0])(fixed, padded, record_states=record_states)

    def cut(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {n: arrays[n][depth[n]:depth[n] + steps] for n in names if n in arrays}
    return QuantRun(cut(res.spikes), {n: depth[n] for n in names}, cut(res.u), cut(res.v))


def agreement(float_spikes: dict[str, np.ndarray], quant: dict[str, np.ndarray]) -> dict[str, float]:
    """Fraction of equal spike values per layer."""
    return {n: float(np.mean(float_spikes[n] == quant[n])) for n in quant}


def predictions(spikes: np.ndarray) -> np.ndarray:
    """Class = the output neuron with the most spikes (spikes shaped (T, B, n))."""
    return np.argmax(spikes.sum(axis=0), axis=1)
