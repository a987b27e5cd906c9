"""Binary-input convs by pattern tables: one table row per 8 inputs of a window, not per spike.

A conv output at position ``p`` sums, over the ``K = C_in/groups * kh * kw`` inputs of its
window (im2col column order ``(c, dy, dx)``), the weights of the inputs that spiked.  Cut
the ``K`` columns into chunks of at most 8 (:func:`chunking`); the spikes of one chunk are
a bit pattern and the chunk's contribution to all ``C_out/groups`` outputs is a row of a
precomputed table ``lut[chunk, pattern]`` (the sum of the chunk's weight rows selected by
the pattern).  Where ``C_in/groups`` is a multiple of 8 the columns go in ``(dy, dx, c)``
order and a chunk is the byte of 8 channels of one pixel, packed once per image.
An output position costs ``ceil(K / 8)`` table-row adds per group, whatever the spike
density (with 8 or more outputs a group, 8 to 32 outputs at a time in vector registers,
:func:`lut_conv_blocks`): cheaper than the event loop (``events_jit.spike_conv``, one weight-row add per
spike and tap) once more than about one input in eight of a window spikes, and than
im2col + GEMM on small channel counts.  (The method of the "Four Russians" for boolean
matrix products.)

Exactness is the matmul's argument (``exact.py``): every table entry and every partial sum
is a sum of a subset of one output's weights (times the kernel's power of two), so bounded
by ``max_j sum_i |W_ij|``: exact in float32 below ``2**24`` and float64 below ``2**53``, in
any order.  The tables are built in float64 from the integer weights (exact) and cast.
"""
from __future__ import annotations

import numpy as np

from .jit import specialized

BITS = 8                         # bits a chunk (packed: always; else up to MAX_BITS)
MAX_BITS = 10
MAX_TABLE_BYTES = 1 << 18        # tables beyond this leave L2: the event loop or GEMM instead


def layout(c_in: int, groups: int, kw: int, w: int, pw: int) -> str:
    """How chunk patterns are read: ``"packed"`` where ``C_in / groups`` is a multiple of 8
    (a chunk is the byte of 8 channels of one pixel, the image packed channel-wise once),
    ``"rows"`` where a kernel row fits a chunk and a padded image row (``W + 2 pw``) fits
    63 bits (a chunk is whole kernel rows, each a shift and mask of an image row packed
    into an int64 once), else ``"gather"`` (a chunk's bits loaded one by one).  Each works
    on any conv where its condition holds; the order is that of their measured speed."""
    if (c_in // groups) % BITS == 0:
        return "packed"
    if kw <= BITS and w + 2 * pw <= 63:
        return "rows"
    return "gather"


def chunking(cig: int, kh: int, kw: int, mode: str) -> tuple[int, int]:
    """``(n_chunks, bits)`` for a ``(cig, kh, kw)`` window read as ``mode`` (:func:`layout`):
    8-bit chunks where packed; where rows, as many whole kernel rows as fit 10 bits; else
    as few chunks of at most 8 bits (one of up to 10 where K <= 10) as cover the
    columns, cut evenly so that no chunk gathers padding it does not need."""
    k_cols = cig * kh * kw
    if mode == "packed":
        return k_cols // BITS, BITS
    if mode == "rows":
        per = max(1, MAX_BITS // kw)
        return -(-(cig * kh) // per), per * kw
    n_chunks = 1 if k_cols <= MAX_BITS else -(-k_cols // BITS)
    return n_chunks, -(-k_cols // n_chunks)


def table_bytes(cig: int, kh: int, kw: int, mode: str, c_out: int, itemsize: int = 4,
                groups: int = 1) -> int:
    """Bytes of the tables of a conv (``C_out`` outputs in ``groups``) read as ``mode``
    (rows padded as :func:`block_width` pads them)."""
    n_chunks, bits = chunking(cig, kh, kw, mode)
    cog = c_out // groups
    block = block_width(cog)
    cogp = -(-cog // block) * block if block else cog
    return n_chunks * (1 << bits) * cogp * groups * itemsize


def tables(weight: np.ndarray, exp: int, in_shape: tuple[int, int, int],
           out_hw: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
           groups: int, dtype, mode: str, block: int = 0
           ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(lut, gather, n_chunks, bits)`` for :func:`lut_conv_blocks` (``mode``:
    :func:`layout`).

    ``weight``: (C_out, C_in/groups, kh, kw) integers, ``exp`` its exponent (folded in as
    ``2**exp``).  ``lut``: flat (groups, n_chunks, 2**bits, C_out/groups) in ``dtype``
    (:func:`chunking`), the last axis zero-padded to a multiple of ``block`` when given
    (:func:`block_width`, for :func:`lut_conv_blocks`).
    Columns are taken in ``(c, dy, dx)`` order, or ``(dy, dx, c)`` where packed.
    ``gather``: flat (Ho*Wo, groups, n_chunks*bits) int64 input indices (flat (C, H, W)),
    where packed (Ho*Wo, groups, n_chunks) indices of the packed bytes (flat (C/8, H, W)),
    where rows (Ho*Wo, groups, n_chunks*rows a chunk) indices of the packed rows (flat
    (C, H)); one past the last input, byte or row (a zero pad) where the window leaves the
    image or past the last column.
    """
    c_out, cig, kh, kw = (int(s) for s in weight.shape)
    c_in, h, w = in_shape
    (ho, wo), (sh, sw), (ph, pw) = out_hw, stride, padding
    cog, k_cols = c_out // groups, cig * kh * kw
    packed = mode == "packed"
    n_chunks, bits = chunking(cig, kh, kw, mode)
    scaled = np.asarray(weight, np.float64).reshape(groups, cog, cig, kh, kw) * 2.0 ** exp
    if packed:
        scaled = scaled.transpose(0, 1, 3, 4, 2)                  # columns (dy, dx, c)
    cogp = -(-cog // block) * block if block else cog
    rows = np.zeros((groups, n_chunks * bits, cogp))
    rows[:, :k_cols, :cog] = scaled.reshape(groups, cog, k_cols).transpose(0, 2, 1)
    select = ((np.arange(1 << bits)[:, None] >> np.arange(bits)) & 1).astype(np.float64)
    lut = np.einsum("pb,gcbj->gcpj", select, rows.reshape(groups, n_chunks, bits, cogp))
    oy, ox = np.divmod(np.arange(ho * wo), wo)
    if mode == "rows":                   # one entry per kernel row (c, dy), chunk-padded
        per = bits // kw
        t = np.arange(n_chunks * per)
        c, dy = t // kh, t % kh
        y = oy[:, None] * sh - ph + dy.reshape(1, -1)
        ok = (y >= 0) & (y < h) & (t < cig * kh).reshape(1, -1)
        gather = np.full((ho * wo, groups, n_chunks * per), c_in * h, np.int64)
        for g in range(groups):
            gather[:, g] = np.where(ok, (g * cig + c.reshape(1, -1)) * h + y, c_in * h)
        return (np.ascontiguousarray(lut.reshape(-1), dtype=dtype), gather.reshape(-1),
                n_chunks, bits)
    if packed:                           # one column per (dy, dx, channel byte)
        dy, dx, c = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(cig // BITS),
                                indexing="ij")
        c_first, c_n, width = 0, c_in // BITS, n_chunks
    else:
        c, dy, dx = np.meshgrid(np.arange(cig), np.arange(kh), np.arange(kw), indexing="ij")
        c_first, c_n, width = 0, c_in, n_chunks * bits
    y = oy[:, None] * sh - ph + dy.reshape(1, -1)                  # (n_pos, columns)
    x = ox[:, None] * sw - pw + dx.reshape(1, -1)
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    pad = c_n * h * w
    gather = np.full((ho * wo, groups, width), pad, np.int64)
    per_group = c.size
    for g in range(groups):
        flat = ((c_first + g * (c_n // groups) + c.reshape(1, -1)) * h + y) * w + x
        gather[:, g, :per_group] = np.where(inside, flat, pad)
    return (np.ascontiguousarray(lut.reshape(-1), dtype=dtype), gather.reshape(-1), n_chunks,
            bits)


def block_width(cog: int) -> int:
    """Outputs a group that :func:`lut_conv_blocks` sums at once in registers: 8, 16, 24 or
    32, the table rows zero-padded to a multiple of it; 0 below 8 outputs a group (then one
    output at a time, tables unpadded: padding them would cost more table than it saves)."""
    return 0 if cog < 8 else min(32, -(-cog // 8) * 8)


MODES = {"gather": 0, "packed": 1, "rows": 2}


@specialized(slp=True)
def lut_conv_blocks(mode: int, cog: int, bits: int, kw: int, per: int):
    """The table conv for ``C_out / groups == cog`` outputs a group, the tables read as
    ``mode`` (:data:`MODES`, :func:`layout`) with chunks of ``bits`` (rows: ``per``
    kernel rows of ``kw`` taps); all compile-time constants.

    ``run(x, x64, lut, gather, out, groups, n_chunks, n_pos, hw, w, pw, w_out, stride_x)``
    writes the conv sums of spikes ``x`` (M, C_in*H*W) uint8 0/1 into ``out`` (M,
    C_out*Ho*Wo), both (C, H, W) order, from the :func:`tables` (built with ``block =
    block_width(cog)``).  ``x64``: ``x``'s bytes read as uint64, used where packed and
    ``hw = H * W`` is a multiple of 8 (8 pixels of 8 channels pack as 8 words shifted and
    or-ed; else byte by byte); ``w``, ``pw``: image width and left padding; ``w_out``,
    ``stride_x``: output width and horizontal stride (rows).  Each image is first packed:
    the bytes of 8 channels of a pixel (packed), int64 rows with bit ``x + pw`` = input
    ``(c, y, x)`` (rows), or the inputs themselves (gather); one past the last, a zero pad
    that ``gather`` points to where a window leaves the image.

    Output-stationary: per position it finds each chunk's table row, then sums the rows
    ``S = block_width(cog)`` outputs at a time in ``S`` scalar locals that LLVM's SLP
    vectorizer (on for this kernel, :func:`.jit.specialized`) keeps in vector registers
    (about twice the speed of one output at a time on the packed conv of
    ``bench/nets.py``); below 8 outputs a group, one output at a time.  Constant flags
    fold the unused branches and accumulators away."""
    mask, S = (1 << kw) - 1, block_width(cog)
    SB = max(S, 1)

    def run(x, x64, lut, gather, out, groups, n_chunks, n_pos, hw, w, pw, w_out, stride_x):
        m_rows, n_in = x.shape
        cogp = lut.shape[0] // (groups * n_chunks << bits)
        lut3 = lut.reshape(-1, cogp // SB, SB)                # S outputs a row block
        acc = np.empty(cog, lut.dtype)                        # S == 0: the sums
        idx, tmp = np.empty(n_chunks, np.int64), np.empty(32, lut.dtype)
        z = lut[0] * 0
        n_slots = n_in // BITS if mode == 1 else n_in // w if mode == 2 else n_in
        slots = np.zeros(n_slots + 1, np.int64)        # bytes / rows / inputs; last: the pad
        for m in range(m_rows):
            xm, om = x[m], out[m]
            if mode == 0:
                for i in range(n_in):
                    slots[i] = xm[i]
            elif mode == 1 and hw % BITS == 0:        # 8 pixels x 8 channels: 8 words
                xw, wph = x64[m], hw // BITS
                for c8 in range(n_slots // hw):
                    for q in range(wph):
                        word = np.uint64(0)
                        for b in range(BITS):       # bytes are 0/1: no shift carries
                            word |= xw[(c8 * BITS + b) * wph + q] << np.uint64(b)
                        for i in range(BITS):
                            slots[c8 * hw + q * BITS + i] = np.int64(
                                (word >> np.uint64(BITS * i)) & np.uint64(255))
            elif mode == 1:
                for c8 in range(n_slots // hw):
                    for p in range(hw):
                        byte = 0
                        for b in range(BITS):
                            byte |= np.int64(xm[(c8 * BITS + b) * hw + p]) << b
                        slots[c8 * hw + p] = byte
            else:
                for r in range(n_slots):
                    v = 0
                    for i in range(w):
                        v |= np.int64(xm[r * w + i]) << (i + pw)
                    slots[r] = v
            ox = 0
            for p in range(n_pos):
                shift = ox * stride_x
                for g in range(groups):
                    for c in range(n_chunks):
                        if mode == 0:
                            base, pattern = ((p * groups + g) * n_chunks + c) * bits, 0
                            for b in range(bits):
                                pattern |= slots[gather[base + b]] << b
                        elif mode == 1:
                            pattern = slots[gather[(p * groups + g) * n_chunks + c]]
                        else:
                            base, pattern = ((p * groups + g) * n_chunks + c) * per, 0
                            for k in range(per):
                                pattern |= ((slots[gather[base + k]] >> shift) & mask) \
                                    << (k * kw)
                        idx[c] = ((g * n_chunks + c) << bits) + pattern
                    if S == 0:                      # fewer than 8 outputs: one at a time
                        for j in range(cog):
                            acc[j] = z
                        for c in range(n_chunks):
                            row = idx[c] * cog
                            for j in range(cog):
                                acc[j] += lut[row + j]
                        for j in range(cog):
                            om[(g * cog + j) * n_pos + p] = acc[j]
                        continue
                    for jb in range(0, cog, S):
                        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = a12 = a13 = a14 = a15 = a16 = a17 = a18 = a19 = a20 = a21 = a22 = a23 = a24 = a25 = a26 = a27 = a28 = a29 = a30 = a31 = z
                        for c in range(n_chunks):
                            lr = lut3[idx[c], jb // S]
                            a0, a1, a2, a3 = a0 + lr[0], a1 + lr[1], a2 + lr[2], a3 + lr[3]
                            a4, a5, a6, a7 = a4 + lr[4], a5 + lr[5], a6 + lr[6], a7 + lr[7]
                            if S > 8:
                                a8, a9, a10, a11 = a8 + lr[8], a9 + lr[9], a10 + lr[10], a11 + lr[11]
                                a12, a13, a14, a15 = a12 + lr[12], a13 + lr[13], a14 + lr[14], a15 + lr[15]
                            if S > 16:
                                a16, a17, a18, a19 = a16 + lr[16], a17 + lr[17], a18 + lr[18], a19 + lr[19]
                                a20, a21, a22, a23 = a20 + lr[20], a21 + lr[21], a22 + lr[22], a23 + lr[23]
                            if S > 24:
                                a24, a25, a26, a27 = a24 + lr[24], a25 + lr[25], a26 + lr[26], a27 + lr[27]
                                a28, a29, a30, a31 = a28 + lr[28], a29 + lr[29], a30 + lr[30], a31 + lr[31]
                        tmp[0], tmp[1], tmp[2], tmp[3] = a0, a1, a2, a3
                        tmp[4], tmp[5], tmp[6], tmp[7] = a4, a5, a6, a7
                        if S > 8:
                            tmp[8], tmp[9], tmp[10], tmp[11] = a8, a9, a10, a11
                            tmp[12], tmp[13], tmp[14], tmp[15] = a12, a13, a14, a15
                        if S > 16:
                            tmp[16], tmp[17], tmp[18], tmp[19] = a16, a17, a18, a19
                            tmp[20], tmp[21], tmp[22], tmp[23] = a20, a21, a22, a23
                        if S > 24:
                            tmp[24], tmp[25], tmp[26], tmp[27] = a24, a25, a26, a27
                            tmp[28], tmp[29], tmp[30], tmp[31] = a28, a29, a30, a31
                        for k in range(min(S, cog - jb)):
                            om[(g * cog + jb + k) * n_pos + p] = tmp[k]
                ox = 0 if ox + 1 == w_out else ox + 1
    return run
