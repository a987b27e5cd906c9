"""Event-driven synapses as compiled loops: only the inputs that spiked cost work.

A Dense or Conv fed by binary spikes sums, for each output, the weights of its inputs that
spiked.  Instead of a matmul over every input (dense BLAS, the default), these loops visit
the spikes of each row and add their weight rows, so the work is proportional to the number
of spikes: cheaper than a matmul below some spike density, which ``dense.py`` and
``spatial.py`` measure per call and per layer (:func:`prefer_events`).

Exactness is the matmul's argument (``exact.py``): every partial sum is an integer (times
the power of two folded into the weights) bounded by ``max_j sum_i |W_ij|``, so float32
adds are exact below ``2**24`` and float64 adds below ``2**53``, in any order.
"""
from __future__ import annotations

import numpy as np

from .jit import kernel

# below this spike density the event loops beat a float32 GEMM (incl. casting the spikes)
# on the benchmark's layers (bench/run_all.py, AVX-512 Xeon, one thread): measured, not
# derived; a wrong choice costs time only, never exactness.
DENSE_EVENT_DENSITY = 0.25
CONV_EVENT_DENSITY = 0.6


def density(x: np.ndarray) -> float:
    """Fraction of non-zero entries of a bool array (one pass over its bytes)."""
    return np.count_nonzero(x) / max(x.size, 1)


def prefer_events(x: np.ndarray, limit: float) -> bool:
    """Whether the event loops should run on spikes ``x`` (bool): measured density < limit."""
    return x.dtype == np.bool_ and x.size > 0 and density(x) < limit


@kernel
def spike_matmul(x, w, out):
    """``out = x @ w`` for spikes x (M, K) uint8 0/1, weights w (K, N), out (M, N).

    The spiking inputs of a row are gathered branch-free (an index is written at every
    input, the count advances only on a spike), then their weight rows are summed.
    """
    m_rows, k_in = x.shape
    n = w.shape[1]
    idx = np.empty(k_in, np.int64)
    acc = np.empty(n, w.dtype)
    for m in range(m_rows):
        count = 0
        xm = x[m]
        for k in range(k_in):
            idx[count] = k
            count += xm[k]
        acc[:] = 0
        for i in range(count):
            wk = w[idx[i]]
            for j in range(n):
                acc[j] += wk[j]
        out[m, :] = acc


@kernel
def spike_conv(x, w, out, c_in, h, wd, ho, wo, sh, sw, ph, pw, groups):
    """Channel-last conv sums of spikes: out (M * Ho * Wo, C_out) for x (M, C_in * H * W).

    x: uint8 0/1 in (C, H, W) order; w: (kh, kw, C_in, C_out / groups), the weight of input
    channel ``ci`` to output ``g * C_out/groups + j`` where ``g`` is ``ci``'s group.  Every
    spike at ``(ci, y, x)`` adds its weights to the outputs whose window covers it:
    ``oy = (y + ph - dy) / sh`` for each kernel row ``dy`` where that divides exactly.
    """
    m_rows = x.shape[0]
    kh, kw, _, cog = w.shape
    c_out = cog * groups
    cig = c_in // groups
    for m in range(m_rows):
        base_m = m * ho * wo
        for p in range(ho * wo):
            for j in range(c_out):
                out[base_m + p, j] = 0
        for ci in range(c_in):
            co0 = (ci // cig) * cog
            for y in range(h):
                for xx in range(wd):
                    if x[m, (ci * h + y) * wd + xx] == 0:
                        continue
                    for dy in range(kh):
                        oy = y + ph - dy
                        if oy < 0 or oy % sh != 0 or oy // sh >= ho:
                            continue
                        oy //= sh
                        for dx in range(kw):
                            ox = xx + pw - dx
                            if ox < 0 or ox % sw != 0 or ox // sw >= wo:
                                continue
                            ox //= sw
                            row = out[base_m + oy * wo + ox]
                            wr = w[dy, dx, ci]
                            for j in range(cog):
                                row[co0 + j] += wr[j]
