"""The fixed-point neuron as one compiled loop: the stepper's int64 operations, fused.

Per sample and step it performs exactly what :class:`snncc.backends.sim.stepper.NeuronExec`
does, in the same order and in int64 (two's complement, wrapping as numpy does), so the
results are the stepper's bit for bit with no bound to prove: Lava's ``PyLifModelBitAcc``
(lava-nc 0.10.0, ``lava/proc/lif/models.py``) generalised by snncc's per-step input gain,
reset flavours and floor.  Rounding toward zero, ``sign(p) * (|p| >> 12)``, is written
branch-free as ``((|p| >> 12) ^ s) - s`` with ``s = p >> 63``: equal for every int64
(``INT64_MIN`` included, where both wrap).

State (``u``, ``v``, last spikes) lives in caller-owned (B, n) arrays, so a run can be cut
into time windows (``t0`` = the window's first step) without changing any value.
"""
from __future__ import annotations

import numpy as np

from snncc.targets.loihi import fixedpoint as fx

from .jit import kernel

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
