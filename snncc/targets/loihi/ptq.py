"""Post-training quantization that minimises membrane drift: per-neuron scale search and bias
correction, from the input spike rates (measured on calibration data, or a uniform prior).

Why: error attribution of trained digits models (``docs/fidelity.md``) puts most of the loss
on coherent rounding errors: a neuron's weights and bias round the same way on every sample,
so its membrane drifts by the same amount in every run and a neuron that sits near its
threshold flips on all of them.  Over a window of ``W`` steps with input rates ``r`` the
drift of neuron ``i`` is, in float membrane units,

    coherent_i = W * (e_bias_i + sum_j e_ij r_j) - e_thr_i        random_i = W * sum_j e_ij^2 r_j (1 - r_j)

(``e``: rounding error of each weight, of the bias and of the threshold, all divided by
the neuron's scale ``S``).  Both depend on ``S``, which is free per neuron (weights,
threshold and bias all scale with it), so :func:`refine_scales` tries scales in ``[S/2, S]``
(never above the caps the rule respects) and keeps, per neuron (per channel for a conv), the
one with the smallest ``coherent^2 + random``.  :func:`drift_correction` then removes the
mean weight drift ``-sum_j e_ij r_j`` through the bias (Nagel et al., "Data-Free Quantization
Through Weight Equalization and Bias Correction", ICCV 2019, section 4.2, for spiking rates).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import fixedpoint as fx
from ...passes.synapse_stats import Synapse
from .weights import SynapseWeights, to_grid

PRIOR_RATE = 0.15            # spikes per step assumed for every input without data
CANDIDATES = 33              # scales 2**(-k/32), k = 0..32: from S down to S/2


def source_rates(syn: Synapse, rates: Optional[dict]) -> np.ndarray:
    """Spike rate of every source neuron of ``syn`` (flat, (C, H, W) order), or the prior."""
    n = int(np.prod(syn.source_shape))
    r = None if rates is None else rates.get(syn.source)
    if r is None or np.size(r) != n:
        return np.full(n, PRIOR_RATE)
    return np.clip(np.asarray(r, np.float64).reshape(-1), 0.0, 1.0)


def _weight_drift(syn: Synapse, err: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum_j e_ij r_j, sum_j e_ij^2 r_j (1 - r_j)) per neuron of the synapse's target."""
    var = r * (1.0 - r)
    if not syn.is_conv:
        return err @ r, (err ** 2) @ var
    # a conv: channel-mean rates through the shared kernel, the same for every position
    c_in = int(syn.source_shape[0])
    groups = int(syn.node.groups)
    rc = r.reshape(c_in, -1).mean(axis=1)
    vc = var.reshape(c_in, -1).mean(axis=1)
    per_group = err.shape[1]
    c_out = err.shape[0]
    idx = (np.arange(c_out)[:, None] // (c_out // groups)) * per_group + np.arange(per_group)
    coh = np.einsum("oikl,oi->o", err, rc[idx])
    rnd = np.einsum("oikl,oi->o", err ** 2, vc[idx])
    hw = int(np.prod(syn.shape[1:]))
    return np.repeat(coh, hw), np.repeat(rnd, hw)


def refine_scales(syns: list[Synapse], modes: list[str], exps: list[int], scale: np.ndarray,
                  syn_bias: Optional[np.ndarray], axon_bias: bool, neuron_bias: np.ndarray,
                  threshold: np.ndarray, rates: Optional[dict], window: float,
                  extended: bool, shared: bool = False) -> np.ndarray:
    """Per-neuron scales in ``[scale/2, scale]`` with the least expected drift (see module);
    ``shared``: one factor for the whole layer (one scale per layer, e.g. for netx)."""
    n = scale.size
    best, best_metric = scale.copy(), np.full(n, np.inf)
    src = [source_rates(s, rates) for s in syns]
    bias_exp = None
    if axon_bias and syn_bias is not None and np.any(syn_bias):
        peak = float(np.max(np.abs(syn_bias * scale))) / 2.0 ** fx.ACT_SHIFT
        bias_exp = max(0, int(np.ceil(np.log2(peak / 255.0)))) if peak > 0 else 0
    conv = any(s.is_conv for s in syns)
    for k in range(CANDIDATES):
        s = scale * 2.0 ** (-k / (CANDIDATES - 1))
        coherent, random = np.zeros(n), np.zeros(n)
        for syn, mode, exp, r in zip(syns, modes, exps, src):
            if extended:
                continue               # a fine Dense leaves no weight error worth steering
            unit = 2.0 ** (exp + fx.ACT_SHIFT)
            col = syn.row_scale(s)
            target = syn.weight * col / unit
            err = (to_grid(target, mode) - target) * unit / col
            coh, rnd = _weight_drift(syn, err, r)
            coherent += coh
            random += rnd
        if bias_exp is not None:
            step = 2.0 ** (bias_exp + fx.ACT_SHIFT)
            tb = syn_bias * s / step
            coherent += (np.clip(np.round(tb), -255, 255) - tb) * step / s
        if np.any(neuron_bias):
            mant, bexp = fx.split_bias(neuron_bias * s)
            coherent += fx.effective_bias(mant, bexp) / s - neuron_bias
        vth = threshold * s / 2.0 ** fx.VTH_SHIFT
        e_thr = (np.round(vth) - vth) * 2.0 ** fx.VTH_SHIFT / s
        metric = (window * coherent - e_thr) ** 2 + window * random
        if shared:
            metric = np.full(n, metric.sum())
        elif conv:             # one scale per output channel: the shared kernel
            ch = metric.reshape(int(syns[0].shape[0]), -1).sum(axis=1)
            metric = np.repeat(ch, metric.size // ch.size)
        better = metric < best_metric
        best = np.where(better, s, best)
        best_metric = np.where(better, metric, best_metric)
    return best


def drift_correction(syns: list[Synapse], weights: list[SynapseWeights], scale: np.ndarray,
                     rates: Optional[dict]) -> np.ndarray:
    """``-sum_j e_ij r_j`` per neuron (float units per step): the mean drift the quantized
    weights add, to be subtracted through the bias."""
    total = np.zeros(scale.size)
    for syn, sw in zip(syns, weights):
        if syn.recurrent:
            continue
        unit = 2.0 ** (sw.exp + fx.ACT_SHIFT)
        col = syn.row_scale(scale)
        err = sw.effective(unit) / col - syn.weight
        total += _weight_drift(syn, err, source_rates(syn, rates))[0]
    return -total


DC_MODES = ("none", "current", "both")


def _window_gain(keep: np.ndarray, window: float) -> np.ndarray:
    """How much of a constant input a filter with decay factor ``keep`` has gathered half-way
    through a window of ``W`` steps: ``(1 - keep**(W/2)) / (1 - keep)``.  Spikes fall all over
    the window; matching the gain at its middle halves the worst mismatch at either end (at
    the start every decay looks alike, at the end the gain is nearly the DC gain)."""
    keep = np.asarray(keep, np.float64)
    t = float(window) / 2.0
    near_one = np.abs(1.0 - keep) < 1e-9
    k = np.where(near_one, 0.5, keep)
    return np.where(near_one, t, (1.0 - k ** t) / (1.0 - k))


def mean_gain(keep: np.ndarray, window: float) -> np.ndarray:
    """A filter's gain for a constant input averaged over the first ``W`` steps:
    ``mean_{t=1..W} (1 - keep**t) / (1 - keep)`` (``(W + 1) / 2`` at ``keep = 1``): what a
    constant error in the current adds to v per step, on average over a window."""
    keep = np.asarray(keep, np.float64)
    w = max(float(window), 1.0)
    near_one = np.abs(1.0 - keep) < 1e-9
    k = np.where(near_one, 0.5, keep)
    gain = (1.0 - k * (1.0 - k ** w) / (w * (1.0 - k))) / (1.0 - k)
    return np.where(near_one, (w + 1.0) / 2.0, gain)


def dc_gain(neuron, du: np.ndarray, dv: np.ndarray, mode: str,
            window: float = 16.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron factors (threshold side, neuron-bias side) that give the quantized neuron
    the float model's gain for a constant input over ``window`` steps.  A constant ``x``
    gathers ``i = x (1 - alpha**t) / (1 - alpha)`` in the current after ``t`` steps; with
    12-bit decays ``1 - alpha_q`` differs from ``1 - alpha`` by up to ``0.5 / 4096``, 12% of
    it at ``alpha = 0.999``: over long windows that shifts every spike of a periodic train.
    With ``G_W`` that gain half-way through the window (:func:`_window_gain`), dividing the
    threshold (and reset) by ``g = G_W(alpha_q) / G_W(alpha)`` (times the same
    for beta with ``"both"``) and a neuron bias (on v, not through the current) by the
    current's factor restores that gain relative to the threshold.  ``W -> inf`` is the DC
    gain; ``W`` much shorter than the time constant leaves the factor at 1 (the decay hardly
    matters there).  Factors outside [1/2, 2] are not applied."""
    from ...errors import SnnccError
    if mode not in DC_MODES:
        raise SnnccError(f"unknown DC-gain matching {mode!r}", "use " + ", ".join(DC_MODES))
    one = np.ones(np.shape(du), np.float64)
    if mode == "none":
        return one, one

    def ratio(keep: np.ndarray, keep_q: np.ndarray) -> np.ndarray:
        r = _window_gain(keep_q, window) / _window_gain(keep, window)
        return np.where((r >= 0.5) & (r <= 2.0) & (keep >= 0) & (keep <= 1), r, 1.0)
    alpha = np.broadcast_to(np.asarray(neuron.alpha, np.float64).reshape(-1), one.shape)
    beta = np.broadcast_to(np.asarray(neuron.beta, np.float64).reshape(-1), one.shape)
    g_a = ratio(alpha, 1.0 - (du + fx.DU_OFFSET) / fx.DECAY_UNITY)
    g_v = ratio(beta, 1.0 - dv / fx.DECAY_UNITY) if mode == "both" else one
    return 1.0 / (g_a * g_v), 1.0 / g_a
