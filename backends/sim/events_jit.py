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

from .jit import kernel, specialized

# below this spike density the event loops beat a float32 GEMM (incl. casting the spikes),
# measured (one thread, AVX-512 Xeon) on Dense layers of 64-256 inputs and 10-128 outputs,
# and on 3x3 convs of 8-16 output channels; a conv with more output channels gives the
# GEMM more to reuse: its limit shrinks as 16 / C_out (measured at 64 and 128 channels:
# crossovers near 0.1 and 0.06).  A wrong choice costs time only, never exactness.
DENSE_EVENT_DENSITY = 0.2
CONV_EVENT_DENSITY = 0.5


def conv_event_density(c_out: int) -> float:
    """The density below which a conv with ``c_out`` output channels runs event-driven."""
    return CONV_EVENT_DENSITY * min(1.0, 16 / max(c_out, 1))


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


def taps(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
         padding: tuple[int, int], out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """Where a spike at input position ``(y, x)`` lands, for every kernel tap that reaches
    an output, as a CSR table over the H * W positions: ``(starts (H*W + 1), out_pos,
    tap)``, with ``out_pos = oy * Wo + ox`` and ``tap = dy * kw + dx`` for
    ``oy = (y + ph - dy) / sh`` (exact division, in range), and the same for x."""
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = kernel, stride, padding, out_hw
    starts, pos, tap = [0], [], []
    for y in range(h):
        for x in range(w):
            for dy in range(kh):
                for dx in range(kw):
                    oy, ox = y + ph - dy, x + pw - dx
                    if oy >= 0 and ox >= 0 and oy % sh == 0 and ox % sw == 0 and \
                            oy // sh < ho and ox // sw < wo:
                        pos.append(oy // sh * wo + ox // sw)
                        tap.append(dy * kw + dx)
            starts.append(len(pos))
    return (np.asarray(starts, np.int64), np.asarray(pos, np.int64),
            np.asarray(tap, np.int64))


def conv_tables(taps_csr: tuple[np.ndarray, np.ndarray, np.ndarray], c_in: int, hw: int,
                c_out: int, groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each input ``q = ci * H * W + p`` (flat, (C, H, W) order) adds, as a CSR table
    over the ``C_in * H * W`` inputs: ``(starts (C_in*H*W + 1), out_off, w_off)``, one entry
    per kernel tap that reaches an output: the spike adds the ``C_out / groups`` weights at
    ``w_off`` of the flat ``(kh * kw, C_in, C_out / groups)`` kernel to the channel-last
    accumulator at ``out_off = out_pos * C_out + first output channel of ci's group``.
    ``taps_csr``: :func:`taps`; all int64."""
    starts, pos, tap = taps_csr
    cog, cig = c_out // groups, c_in // groups
    counts = np.diff(starts)                                   # taps per position (hw,)
    ci = np.repeat(np.arange(c_in, dtype=np.int64), counts.sum())
    entry = np.tile(np.arange(len(pos), dtype=np.int64), c_in)
    out_off = pos[entry] * c_out + (ci // cig) * cog
    w_off = (tap[entry] * c_in + ci) * cog
    q_starts = np.concatenate([[0], np.cumsum(np.tile(counts, c_in))]).astype(np.int64)
    return q_starts, out_off.astype(np.int64), w_off.astype(np.int64)


@specialized
def spike_conv(cog: int):
    """The event-driven conv for ``C_out / groups == cog`` (a compile-time constant, so the
    weight-row add is a few unrolled vector adds): ``run(x, w, out, starts, out_off, w_off,
    c_out, n_pos)`` writes the conv sums of spikes x (M, C_in * H * W) uint8 0/1 ((C, H, W)
    order) into out (M, C_out * Ho * Wo) ((C, H, W) order, ``n_pos = Ho * Wo``), for the
    flat scaled kernel w (:func:`conv_tables` gives its layout and the tables).

    Per image: the spiking inputs are gathered branch-free (an index is written at every
    input, the count advances only on a spike), each adds its weight rows to a channel-last
    accumulator that stays in L1, which is then written out channel-first.
    """
    def run(x, w, out, starts, out_off, w_off, c_out, n_pos):
        m_rows, n_in = x.shape
        idx = np.empty(n_in, np.int64)
        acc = np.empty(n_pos * c_out, w.dtype)
        for m in range(m_rows):
            xm = x[m]
            count = 0
            for q in range(n_in):
                idx[count] = q
                count += xm[q]
            acc[:] = 0
            for i in range(count):
                q = idx[i]
                for e in range(starts[q], starts[q + 1]):
                    o, k = out_off[e], w_off[e]
                    for j in range(cog):
                        acc[o + j] += w[k + j]
            om = out[m]
            for p in range(n_pos):
                for co in range(c_out):
                    om[co * n_pos + p] = acc[p * c_out + co]
    return run
