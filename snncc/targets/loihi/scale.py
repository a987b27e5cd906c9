"""The per-neuron scale ``S`` (float membrane units -> integer v units) and weight exponents.

See :mod:`snncc.targets.loihi.quantize` for what ``S`` ties together.  The default rule
("max-abs") gives every neuron's weight row the full 8 bits at a shared exponent, capped per
neuron so that its threshold, bias, membrane and current fit their bit widths.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from . import fixedpoint as fx
from ...errors import SnnccError
from ...ir import CubaLIF
from ...passes.synapse_stats import Synapse, channel_min

if TYPE_CHECKING:
    from .quantize import QuantConfig

NETX_BIAS_EXP = 6          # lava-dl netx builds every LIF with bias_exp = 6


def bias_home(neuron: CubaLIF, cfg: QuantConfig) -> str:
    """Where a layer's Linear bias goes: "axon" or "neuron" (see ``QuantConfig.bias``)."""
    if cfg.bias not in ("auto", "axon", "neuron", "precise"):
        raise SnnccError(f"unknown bias mode {cfg.bias!r}",
                         "use 'auto', 'axon', 'neuron' or 'precise'")
    if cfg.bias in ("auto", "precise"):
        # "precise" also moves a stock LIF's bias to its 13-bit neuron bias (generalised neuron)
        delayed_ok = (cfg.bias == "precise" or not neuron.is_stock) and neuron.input_gain is None
        return "neuron" if delayed_ok and not np.any(neuron.alpha != 0) else "axon"
    return cfg.bias


def choose_scale(syns: list[Synapse], modes: list[str], syn_bias: Optional[np.ndarray],
                  neuron: CubaLIF, cfg: QuantConfig) -> tuple[np.ndarray, list[int], list[str]]:
    """Pick per-neuron scales S (vector) and each synapse's weight exponent.

    Every neuron's row gets the full 8-bit weight range at the shared exponent, capped per
    neuron so its threshold, bias, membrane and current fit their bit widths.  With several
    synapses (residual, recurrent) the current cap covers all of them together, S is the
    smallest any of them allows, and each synapse's exponent is then re-picked so that it
    uses its full 8 bits at that S.  A neuron fed by a conv shares S across each output
    channel (the kernel is shared by every position).
    """
    warnings: list[str] = []
    w_int_max = [254 if mode == fx.SIGN_MIXED else 255 for mode in modes]  # mixed: even only
    row_max = [syn.row_max() for syn in syns]
    if neuron.spiking:
        thr = neuron.threshold.astype(np.float64)
        caps = [fx.V_MAX / (cfg.headroom * thr), fx.VTH_MAX * 64 / thr]
    else:       # a readout: no threshold; v itself must never saturate
        caps = [fx.V_MAX / readout_range(syns, syn_bias, neuron)]
    bias = np.abs(neuron.bias.astype(np.float64))
    bias_exp = fx.BIAS_EXP_MAX
    if bias_home(neuron, cfg) == "neuron":
        # the Linear bias joins the neuron bias, whose exponent is fixed (netx's convention)
        bias_exp = NETX_BIAS_EXP if cfg.bias == "neuron" else fx.BIAS_EXP_MAX
        if syn_bias is not None:
            bias = np.abs(neuron.bias.astype(np.float64).reshape(-1) + syn_bias.astype(np.float64))
    caps.append(np.where(bias > 0, fx.BIAS_MANT_MAX * 2 ** bias_exp / np.maximum(bias, 1e-300),
                         np.inf))
    # the current must not wrap even when every input spikes at once (worst case): a wrap
    # flips the sign of u, far worse than the precision this cap costs
    leak = np.maximum(1.0 - neuron.alpha.astype(np.float64), 1.0 / fx.DECAY_UNITY)
    on_axon = syn_bias is not None and bias_home(neuron, cfg) == "axon"
    drive = sum(syn.row_sum() for syn in syns) + (np.abs(syn_bias) if on_axon else 0.0)
    worst_u = drive / leak
    caps.append(np.where(worst_u > 0, (fx.MAX_UV - 1) / np.maximum(worst_u, 1e-300), np.inf))
    cap = np.min(np.stack(caps), axis=0)
    shared = any(syn.is_conv for syn in syns)
    if shared:
        cap = channel_min(cap, neuron.shape)
    if not any(np.any(r > 0) for r in row_max):
        return cap, [0] * len(syns), warnings + ["all weights are zero"]
    # shared exponent: the one that lets the most constrained neuron use its full 8 bits
    exps, full = [], np.full(cap.shape, np.inf)
    for syn, rmax, wmax in zip(syns, row_max, w_int_max):
        live = rmax > 0
        lo, hi = syn.exp_range(cfg.weight_exp_range)
        if not np.any(live):
            exps.append(int(np.clip(0, lo, hi)))
            continue
        exp = int(np.floor(np.log2(np.min(cap[live] * rmax[live]) / (wmax * 64.0))))
        exp = int(cfg.weight_exp.get(neuron.name, exp))
        if exp < lo:
            warnings.append("weights use fewer than 8 bits: threshold/bias range forces a "
                            "weight exponent below the minimum")
        exp = int(np.clip(exp, lo, hi))
        exps.append(exp)
        full = np.minimum(full, np.where(live, wmax * 2.0 ** (exp + 6) / np.where(live, rmax, 1.0),
                                         np.inf))
    full = np.where(np.isinf(full), cap, full)
    scale = np.minimum(full, cap)
    if shared:
        scale = channel_min(scale, neuron.shape)
    if cfg.scale == "layer":
        scale = np.full_like(scale, scale.min())
    elif cfg.scale != "neuron":
        raise SnnccError(f"unknown scale granularity {cfg.scale!r}", "use 'neuron' or 'layer'")
    if len(syns) > 1 or shared:
        for j, (syn, rmax, wmax) in enumerate(zip(syns, row_max, w_int_max)):
            if np.any(rmax > 0) and neuron.name not in cfg.weight_exp:
                need = int(np.ceil(np.log2(np.max(scale * rmax) / (wmax * 64.0))))
                exps[j] = int(np.clip(min(exps[j], need), *syn.exp_range(cfg.weight_exp_range)))
    return scale * cfg.scale_factor.get(neuron.name, 1.0), exps, list(dict.fromkeys(warnings))


def readout_range(syns: list[Synapse], syn_bias: Optional[np.ndarray],
                  neuron: CubaLIF) -> np.ndarray:
    """A bound on a non-spiking readout's ``|v|`` per neuron (float membrane units).

    Every input spiking at every step: ``|i| <= drive / (1 - alpha)``, ``|v| <= (|i| +
    |bias|) / (1 - beta)``, with ``1 - alpha`` at least one decay LSB (1/4096) and
    ``1 - beta`` at least 1/64 (a pure integrator, beta = 1, is sized for 64 steps of that
    worst case and saturates beyond).  Its scale then keeps ``v`` inside 24 bits.
    """
    drive = sum(syn.row_sum() for syn in syns)
    if syn_bias is not None:
        drive = drive + np.abs(syn_bias.astype(np.float64).reshape(-1))
    leak_u = np.maximum(1.0 - neuron.alpha.astype(np.float64).reshape(-1), 1.0 / fx.DECAY_UNITY)
    leak_v = np.maximum(1.0 - neuron.beta.astype(np.float64).reshape(-1), 1.0 / 64)
    worst = (drive / leak_u + np.abs(neuron.bias.astype(np.float64).reshape(-1))) / leak_v
    return np.maximum(worst, 1e-6)
