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


class _Padded:
    """The stimulus (T, B, ...) followed by ``pad`` zero steps, sliced lazily in time."""

    def __init__(self, stimulus: np.ndarray, pad: int) -> None:
        self.x, self.pad = stimulus, pad
        self.shape = (stimulus.shape[0] + pad,) + tuple(stimulus.shape[1:])
        self.ndim, self.dtype = stimulus.ndim, stimulus.dtype

    def __getitem__(self, key: slice) -> np.ndarray:
        t0, t1, _ = key.indices(self.shape[0])
        real = self.x[t0:min(t1, self.x.shape[0])]
        zeros = np.zeros((max(t1 - max(t0, self.x.shape[0]), 0),) + self.shape[1:], self.dtype)
        return np.concatenate([real, zeros]) if len(zeros) else real


class QuantStream:
    """The quantized run of a batch on the float time base, handed out window by window.

    Layer ``n`` at synaptic depth ``d`` emits at ``t + d`` what the float layer emits at
    ``t``: :meth:`take` ``(t0, t1)`` returns steps ``t0 + d .. t1 + d`` of every layer, from
    the stepper run in windows over the stimulus and ``max depth`` zero steps (memory: a
    window plus the depth).  Targets whose simulator does not stream run once, whole.
    """

    def __init__(self, fixed: Graph, stimulus: np.ndarray, window: int) -> None:
        from ..targets import target_of
        self.names = neuron_names(fixed)
        self.depth = synaptic_depth(fixed)
        self.pad = max(self.depth[n] for n in self.names)
        self.steps = stimulus.shape[0]
        runner = target_of(fixed).runners[0]
        self.whole = None
        if runner != "sim" or window >= self.steps:
            self.whole = run_quantized(fixed, stimulus, record_states=True)
            return
        from ..backends.sim.stepper import simulate_steps
        self.windows = simulate_steps(fixed, _Padded(stimulus, self.pad), True, window=window)
        self.start = self.end = 0
        self.have: dict[str, dict[str, np.ndarray]] = {"spikes": {}, "u": {}, "v": {}}

    def take(self, t0: int, t1: int) -> QuantRun:
        if self.whole is not None:
            w = self.whole
            return QuantRun({n: a[t0:t1] for n, a in w.spikes.items()}, w.depth,
                            {n: a[t0:t1] for n, a in w.u.items()},
                            {n: a[t0:t1] for n, a in w.v.items()})
        need = min(t1 + self.pad, self.steps + self.pad)
        while self.end < need:
            win = next(self.windows)
            for kind, table in self.have.items():
                for n in self.names:
                    new = getattr(win, kind)[n]
                    table[n] = np.concatenate([table[n], new]) if n in table else new
            self.end += next(iter(win.spikes.values())).shape[0]
        cut = {kind: {n: table[n][t0 + self.depth[n] - self.start:t1 + self.depth[n] - self.start]
                      for n in self.names} for kind, table in self.have.items()}
        for table in self.have.values():          # the next window starts at t1 or later
            for n in self.names:
                table[n] = table[n][t1 - self.start:]
        self.start = t1
        return QuantRun(cut["spikes"], {n: self.depth[n] for n in self.names}, cut["u"], cut["v"])
