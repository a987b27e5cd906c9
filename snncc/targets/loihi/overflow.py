"""Can the 24-bit current ``u`` wrap?  A per-layer proof, or the step at which it can.

Lava's fixed-point LIF (``lava/proc/lif/models.py``, ``AbstractPyLifModelFixed.
subthr_dynamics``) updates the current as

    u[t] = wrap24( trunc(u[t-1] * (4096 - (du + 1)) / 4096) + (a_in[t] << 6) )

(``ds_offset = 1``; snncc's generalised neuron also allows ``du = -1``: no decay at all, the
float model's alpha = 1).  ``wrap24`` is lopsided: a value above 2**23 loses 2**24, one at
or below -2**23 gains it, flipping the sign of u: the neuron then falls silent (or fires)
for good, far from the float model.  Bounds, per neuron, with ``S`` the largest synaptic
input one step can bring (every source spiking, every bias on, in u units) and
``r = (4096 - (du + 1)) / 4096``:

* ``du >= 0`` (``r < 1``): ``|u| <= S / (1 - r) = S * 4096 / (du + 1)`` for ever (truncation
  toward zero only shrinks |u|).  ``du = 0`` is the slowest Lava decay, 4095/4096, still bounded.
* ``du = -1`` (``r = 1``, alpha = 1): ``|u|`` grows by up to ``S`` per step **without bound**
  under a constant drive: u can wrap after ``floor(2**23 / S) + 1`` steps.

A layer whose bound stays below 2**23 provably never wraps; otherwise compile warns with
the layer, the bound and the first step (counted from the layer's first input) at which u
can wrap.  :func:`count_wraps` counts the wraps that actually happened in a recorded run.
Sources: ``fixedpoint.py`` (the same arithmetic), lava-nc 0.10.0 ``lava/proc/lif/models.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import fixedpoint as fx
from ...ir import FxDense, FxNeuron, Graph
from ...ir.fixed_spatial import FxConv

CONV_HALF = 2 ** 23          # Lava's Conv output wraps to 24 bits: |a| <= 2**23


@dataclass
class CurrentBound:
    """The 24-bit current bound of one neuron layer (its worst neuron).

    ``drive``: largest |synaptic input| one step can bring to u (u units, i.e. << 6);
    ``bound``: sup |u| over any run (``math.inf`` when ``du = -1`` and drive > 0);
    ``first_wrap_step``: steps of maximal input after which u can first wrap (None: never);
    ``neuron``: index of the neuron that wraps first (or has the largest bound).
    """

    layer: str
    drive: float
    bound: float
    first_wrap_step: Optional[int]
    neuron: int
    no_decay: bool

    @property
    def can_wrap(self) -> bool:
        return self.first_wrap_step is not None

    def bound_over(self, steps: int) -> float:
        """sup |u| within ``steps`` steps of input, as a fraction of the wrap limit 2**23."""
        if self.no_decay:
            return self.drive * max(steps, 0) / fx.MAX_UV
        return min(self.bound, self.drive * max(steps, 0)) / fx.MAX_UV

    def message(self) -> str:
        if not self.can_wrap:
            return ""
        if self.no_decay:
            how = (f"du = -1 (alpha = 1, no current decay): the current u has no bound and grows "
                   f"by up to {self.drive:.0f} per step")
        else:
            how = f"|u| can reach {self.bound:.4g}, over the 24-bit limit {fx.MAX_UV}"
        return (f"24-bit current overflow: {how}; u can wrap (flip sign) after "
                f"{self.first_wrap_step} steps of maximal input (neuron {self.neuron})")


def _shift(x: np.ndarray, exp: int) -> np.ndarray:
    return fx.shift_activation(np.asarray(x, np.int64), int(exp))


def _dense_drive(node: FxDense) -> tuple[np.ndarray, np.ndarray]:
    """(largest positive, largest negative) ``a`` per output neuron of an FxDense."""
    parts = fx.split_by_sign(node.weight) if node.split_sign else (node.weight,)
    pos = np.zeros(node.weight.shape[0], np.int64)
    neg = np.zeros(node.weight.shape[0], np.int64)
    for part in parts:
        w = fx.lava_effective_weights(part)
        pos += _shift(np.maximum(w, 0).sum(axis=1), node.weight_exp)
        neg += _shift(np.minimum(w, 0).sum(axis=1), node.weight_exp)
    return pos, neg


def _conv_drive(node: FxConv, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output neuron (channel-major (C, H, W)): every input position spiking."""
    w = np.asarray(node.weight, np.int64) << max(int(node.weight_exp), 0)
    per_ch_pos = np.minimum(np.maximum(w, 0).reshape(w.shape[0], -1).sum(axis=1), CONV_HALF)
    per_ch_neg = np.maximum(np.minimum(w, 0).reshape(w.shape[0], -1).sum(axis=1), -CONV_HALF)
    reps = max(n // max(w.shape[0], 1), 1)
    return np.repeat(per_ch_pos, reps)[:n], np.repeat(per_ch_neg, reps)[:n]


def _bias_drive(node, n: int) -> np.ndarray:
    if getattr(node, "bias", None) is None:
        return np.zeros(n, np.int64)
    b = _shift(np.asarray(node.bias, np.int64).reshape(-1), node.bias_exp)
    return np.broadcast_to(b, (n,)) if b.size in (1, n) else np.zeros(n, np.int64)


def _layer_drive(graph: Graph, neuron: FxNeuron) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """Largest positive and negative synaptic input to u per step (u units), or None when a
    synapse kind is unknown (no proof)."""
    n = int(np.prod(neuron.shape))
    pos, neg = np.zeros(n, np.float64), np.zeros(n, np.float64)
    for src in graph.inputs_of(neuron.name):
        syn = graph.node(src)
        if isinstance(syn, FxDense):
            p, q = _dense_drive(syn)
        elif isinstance(syn, FxConv):
            p, q = _conv_drive(syn, n)
        else:
            return None
        b = _bias_drive(syn, n)
        pos += p + np.maximum(b, 0)
        neg += q + np.minimum(b, 0)
    gain = neuron.input_gain
    g = 1.0 if gain is None else np.abs(np.asarray(gain, np.float64)).max(axis=0).reshape(-1) / fx.DECAY_UNITY
    scale = float(1 << fx.ACT_SHIFT)
    return pos * scale * g, -neg * scale * g


def _first_step(drive: np.ndarray, r: np.ndarray, limit: float) -> np.ndarray:
    """Smallest t with ``drive * (1 + r + ... + r**(t-1)) > limit`` (inf where never)."""
    out = np.full(drive.shape, np.inf)
    live = drive > 0
    flat = live & (r >= 1.0)
    out[flat] = np.floor(limit / drive[flat]) + 1
    dec = live & (r < 1.0)
    sup = np.where(dec, drive / np.maximum(1.0 - r, 1e-300), 0.0)
    reach = dec & (sup > limit)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = 1.0 - limit * (1.0 - r[reach]) / drive[reach]
        t = np.where(r[reach] > 0, np.log(np.maximum(frac, 1e-300)) / np.log(np.maximum(r[reach], 1e-300)), 0.0)
    out[reach] = np.maximum(np.floor(t) + 1, 1)
    return out


def current_bound(graph: Graph, neuron: FxNeuron) -> Optional[CurrentBound]:
    """The current bound of one FxNeuron layer (None when its synapses are not analysable)."""
    drives = _layer_drive(graph, neuron)
    if drives is None:
        return None
    pos, neg = drives
    du = np.broadcast_to(np.asarray(neuron.du, np.int64).reshape(-1), pos.shape)
    r = (fx.DECAY_UNITY - (du + fx.DU_OFFSET)).astype(np.float64) / fx.DECAY_UNITY
    drive = np.maximum(pos, neg)
    no_decay = r >= 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(no_decay, np.where(drive > 0, np.inf, 0.0),
                         drive / np.maximum(1.0 - r, 1e-300))
    # positive side wraps above 2**23, negative side at -2**23
    first = np.minimum(_first_step(pos, r, fx.MAX_UV), _first_step(neg, r, fx.MAX_UV - 1))
    if np.all(np.isinf(first)):
        i = int(np.argmax(bound)) if bound.size else 0
        return CurrentBound(neuron.name, float(drive.max(initial=0.0)), float(bound.max(initial=0.0)),
                            None, i, bool(no_decay[i]) if bound.size else False)
    i = int(np.argmin(first))
    return CurrentBound(neuron.name, float(drive[i]), float(bound[i]), int(first[i]), i,
                        bool(no_decay[i]))


def current_bounds(graph: Graph) -> dict[str, CurrentBound]:
    """:func:`current_bound` of every analysable neuron layer of a fixed-point graph."""
    out = {}
    for node in graph.of_type(FxNeuron):
        cb = current_bound(graph, node)
        if cb is not None:
            out[node.name] = cb
    return out


def annotate(graph: Graph, report) -> None:
    """Add the overflow warning of every layer whose u can wrap to its quantizer report."""
    bounds = current_bounds(graph)
    for layer in report.layers:
        cb = bounds.get(layer.name)
        if cb is not None and cb.can_wrap:
            msg = cb.message()
            if msg not in layer.warnings:
                layer.warnings.append(msg)


def count_wraps(u: np.ndarray, u_before: np.ndarray, du: np.ndarray) -> int:
    """Wraps of u in a recorded run: u (T, B, n) int, u_before (B, n) the value before.

    Without a wrap, ``u[t] - decay(u[t-1])`` is the step's synaptic input, below 2**23 in
    magnitude whenever one step cannot wrap u on its own; a wrap adds or removes 2**24, so
    the difference exceeds 2**23.  (When one step's input alone can exceed 2**23 the
    compile warning already says so.)
    """
    u = np.asarray(u, np.int64)
    if u.size == 0:
        return 0
    prev = np.concatenate([np.asarray(u_before, np.int64)[None], u[:-1]], axis=0)
    du = np.asarray(du, np.int64).reshape(-1) + fx.DU_OFFSET
    diff = u - fx.decay_rtz(prev, du if du.size in (1, u.shape[-1]) else du[:1])
    return int(np.count_nonzero(np.abs(diff) > fx.MAX_UV))
