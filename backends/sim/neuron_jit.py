"""The fixed-point neuron as one compiled loop: the stepper's operations, fused.

Per sample and step it performs exactly what :class:`snncc.backends.sim.stepper.NeuronExec`
does, in the same order and in int64 (two's complement, wrapping as numpy does), so the
results are the stepper's bit for bit with no bound to prove: Lava's ``PyLifModelBitAcc``
(lava-nc 0.10.0, ``lava/proc/lif/models.py``) generalised by snncc's per-step input gain,
reset flavours and floor.  Rounding toward zero, ``sign(p) * (|p| >> 12)``, is written
branch-free as ``((|p| >> 12) ^ s) - s`` with ``s = p >> 63``: equal for every int64
(``INT64_MIN`` included, where both wrap).

Where ``NeuronKernel.float_safe`` proves every value below ``2**40``, the same steps run
in float64 instead (:func:`lif_window_f64`, one variant compiled per combination of the
layer's flags, so unused branches vanish): fewer and cheaper operations per neuron-step.

State (``u``, ``v``, last spikes) lives in caller-owned (B, n) arrays, so a run can be cut
into time windows (``t0`` = the window's first step) without changing any value.
"""
from __future__ import annotations

import numpy as np

from snncc.targets.loihi import fixedpoint as fx

from .jit import kernel, specialized

_SHIFT, _ACT, _MAX_UV, _V_MAX = fx.DECAY_SHIFT, fx.ACT_SHIFT, fx.MAX_UV, fx.V_MAX


@kernel
def lif_window(a, t0, fu, fv, mult, sub, bias, vth, gain, gain_start, bias_start,
               delayed, floor, has_floor, u, v, fired, spikes, u_rec, v_rec, record, b_lo, b_hi):
    """Steps ``t0 .. t0 + T - 1`` of a neuron layer, for samples ``b_lo .. b_hi - 1``.

    a: (T, B, n) summed synaptic input (exact integers, any numeric dtype);
    fu, fv, mult, sub, bias, vth: (n,) int64 (factors ``4096 - du``, ``4096 - dv``, the
    reset's multiplier and subtrahend, ``bias_mant << bias_exp``, ``vth << 6``);
    gain: (R, n) int64 per-step input gains (R = 0: none);
    u, v: (B, n) int64 and fired: (B, n) bool, the state, updated in place;
    spikes: (T, B, n) bool out; u_rec, v_rec: (T, B, n) int32 out when ``record``.
    """
    steps, n = a.shape[0], a.shape[2]
    rows = gain.shape[0]
    for b in range(b_lo, b_hi):
        ub, vb, fb = u[b], v[b], fired[b]
        for t in range(steps):
            tg = t0 + t
            row = min(max(tg - gain_start, 0), rows - 1)
            biased = tg >= bias_start
            at, st = a[t, b], spikes[t, b]
            for i in range(n):
                syn = np.int64(at[i]) << _ACT
                if rows > 0:
                    p = syn * gain[row, i]
                    s = p >> 63
                    syn = (((p ^ s) - s) >> _SHIFT ^ s) - s
                p = ub[i] * fu[i]
                s = p >> 63
                uu = ((((p ^ s) - s) >> _SHIFT ^ s) - s) + syn
                w = uu - 2 * _MAX_UV if uu > _MAX_UV else uu
                uu = uu + 2 * _MAX_UV if w <= -_MAX_UV else w
                p = vb[i] * fv[i]
                s = p >> 63
                vv = (((p ^ s) - s) >> _SHIFT ^ s) - s
                if delayed and fb[i]:
                    p = vv * mult[i]
                    s = p >> 63
                    vv = ((((p ^ s) - s) >> _SHIFT ^ s) - s) - sub[i]
                vv = vv + uu
                if biased:
                    vv = vv + bias[i]
                vv = min(max(vv, -_V_MAX), _V_MAX)
                if has_floor:
                    vv = max(vv, floor)
                f = vv > vth[i]
                if f and not delayed:
                    p = vv * mult[i]
                    s = p >> 63
                    vv = ((((p ^ s) - s) >> _SHIFT ^ s) - s) - sub[i]
                ub[i], vb[i], fb[i], st[i] = uu, vv, f, f
            if record:                   # apart, so that the loop above vectorises
                for i in range(n):
                    u_rec[t, b, i] = np.int32(ub[i])
                    v_rec[t, b, i] = np.int32(vb[i])


U_CLEARED, U_KEPT, U_DECAY = 0, 1, 2             # current: u = syn, u + syn, decay(u) + syn
RESET_ZERO, RESET_SUBTRACT, RESET_GENERAL = 0, 1, 2   # v = 0, v - sub, rtz(v * mult) - sub


@specialized
def lif_window_f64(u_mode: int, reset: int, has_gain: bool, delayed: bool, wraps: bool):
    """The float64 neuron loop, specialised by flags (constants folded at compile time).

    Exact where :meth:`snncc.backends.sim.neuron.NeuronKernel.float_safe` proves every value
    below ``2**40``: then each product of an integer with a factor ``f / 4096`` (``|f| <=
    2**13``) is exact in float64 and ``trunc`` rounds toward zero as the int64
    ``sign(p) * (|p| >> 12)`` does (see ``neuron.py``).  Per step and neuron, the stepper's
    operations in its order; ``u_mode``: :data:`U_CLEARED` (``du + 1 == 4096`` everywhere),
    :data:`U_KEPT` (``du == -1``) or :data:`U_DECAY`; ``reset``: :data:`RESET_ZERO`
    (mult = sub = 0), :data:`RESET_SUBTRACT` (mult = 4096) or :data:`RESET_GENERAL`;
    ``wraps``: whether the 24-bit current wrap can happen (else it is skipped).  Floors and
    late biases cost one operation each and are not specialised.

    Arguments as :func:`lif_window` but in float64: ``fu, fv, mult`` the factors divided by
    4096, ``sub, bias, vth`` (n,), ``gain`` (R, n) divided by 4096 (R = 0: none), ``floor``
    (-(2**23 - 1) when there is none: the clip's own lower end).  The state ``u, v`` stays
    int64 and ``fired`` bool in the caller's arrays (converted per sample, exactly).
    """
    def run(a, t0, fu, fv, mult, sub, bias, vth, gain, gain_start, bias_start, floor,
            u, v, fired, spikes, u_rec, v_rec, record, b_lo, b_hi):
        steps, n = a.shape[0], a.shape[2]
        rows = gain.shape[0]
        uf = np.empty(n)
        vf = np.empty(n)
        ff = np.empty(n, np.bool_)
        zeros = np.zeros(n)
        top, wrap = float(_V_MAX), float(2 * _MAX_UV)
        for b in range(b_lo, b_hi):
            ub, vb, fb = u[b], v[b], fired[b]
            for i in range(n):
                uf[i] = ub[i]
                vf[i] = vb[i]
                ff[i] = fb[i]
            for t in range(steps):
                tg = t0 + t
                gr = gain[min(max(tg - gain_start, 0), rows - 1)] if has_gain else zeros
                bt = bias if tg >= bias_start else zeros
                at, st = a[t, b], spikes[t, b]
                for i in range(n):
                    syn = np.float64(at[i]) * 64.0
                    if has_gain:
                        syn = np.trunc(syn * gr[i])
                    if u_mode == 0:
                        uu = syn
                    elif u_mode == 1:
                        uu = uf[i] + syn
                    else:
                        uu = np.trunc(uf[i] * fu[i]) + syn
                    if wraps:
                        w = uu - wrap if uu > _MAX_UV else uu
                        uu = uu + wrap if w <= -_MAX_UV else w
                    vv = np.trunc(vf[i] * fv[i])
                    if delayed:
                        if reset == 0:
                            r = 0.0
                        elif reset == 1:
                            r = vv - sub[i]
                        else:
                            r = np.trunc(vv * mult[i]) - sub[i]
                        vv = r if ff[i] else vv
                    vv = max(min(max(vv + uu + bt[i], -top), top), floor)
                    f = vv > vth[i]
                    if not delayed:
                        if reset == 0:
                            r = 0.0
                        elif reset == 1:
                            r = vv - sub[i]
                        else:
                            r = np.trunc(vv * mult[i]) - sub[i]
                        vv = r if f else vv
                    uf[i] = uu
                    vf[i] = vv
                    ff[i] = f
                    st[i] = f
                if record:
                    for i in range(n):
                        u_rec[t, b, i] = np.int32(np.int64(uf[i]))
                        v_rec[t, b, i] = np.int32(np.int64(vf[i]))
            for i in range(n):
                ub[i] = np.int64(uf[i])
                vb[i] = np.int64(vf[i])
                fb[i] = ff[i]
    return run
