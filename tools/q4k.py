#!/usr/bin/env python3
"""q4_k (docs/format.md, dtype 6): ggml's block_q4_K, byte for byte.

    quantize(a)                 float (rows, cols) -> uint8 (rows, ns * 144), ns = ceil(cols / 256)
    dequantize(raw, rows, cols) -> float32 (rows, cols)
    from_ggml(raw, rows, cols)  GGUF Q4_K tensor bytes -> the same bytes as (rows, ns * 144)
    nbytes(rows, cols)

A row is ns super-blocks of 256 columns, each 144 bytes: f16 d, f16 dmin,
12 bytes packing eight 6-bit scales sc[j] and minimums m[j] (one per
sub-block of 32 columns; ggml's get_scale_min_k4), and 128 bytes of
nibbles (for each 64 columns g: 32 bytes, columns 64g + l in the low
nibbles, 64g + 32 + l in the high ones). Column c of sub-block j is
    w = (d * sc[j]) * q - (dmin * m[j])      (float32, as dequantize_row_q4_K)
A row that is not whole super-blocks is padded with zero columns (GGUF
files never have one: llama.cpp needs rows of whole super-blocks).

The quantiser is ggml's quantize_row_q4_K_ref, written here for whole
matrices at once in numpy, then one search ggml does not make:
 1. per sub-block of 32, with weights av + |x| (av: the sub-block's RMS),
    make_qkx2_quants: a scale and a minimum from the range, then 21 trial
    inverse scales (15 - 1 + 0.1 i over the range), each rounding the
    sub-block and refitting scale and minimum by weighted least squares,
    the best weighted squared error kept;
 2. per super-block, d = max scale / 63 and dmin = max minimum / 63 in
    f16, each sub-block's scale and minimum rounded to 6 bits;
 3. (ours) for each sub-block, the 6-bit scale and minimum each one below,
    at and one above that rounding (9 pairs), every value rounded to its
    nearest level for the pair, and the pair with the least weighted
    squared error kept. The pair ggml takes is one of the nine, so no
    sub-block is worse than ggml's and most are better.
"""
import numpy as np

QK = 256          # columns per super-block
SUB = 32          # columns per sub-block
NSUB = QK // SUB
BYTES = 144       # bytes per super-block


def nbytes(rows, cols):
    return rows * ((cols + QK - 1) // QK) * BYTES


def _nearest(v):
    """ggml's nearest_int: round half to even (np.rint)."""
    return np.rint(v)


def _clamp(v, hi, out=None):
    """np.clip(v, 0, hi) (NaN stays NaN), without np.clip's slow check of its
    scalar bounds (numpy 1.24: a third of the quantiser's time)."""
    v = np.maximum(v, 0, out=out)
    return np.minimum(v, hi, out=v)


def _rowdot(a, b):
    """sum over the last axis of a * b, without the product's temporary."""
    return np.einsum("...i,...i->...", a, b)


def _qkx2(x, w):
    """make_qkx2_quants(32, 15, x, w, L, &min, Laux, -1, 0.1, 20, false) for
    every sub-block at once: x, w (N, 32) float32 -> (scale (N,), min (N,)
    as ggml's the_min: the value subtracted, >= 0). Each trial's weighted
    squared error is expanded in the sums the refit needs anyway,
        sum w (s l + m - x)^2 = s^2 Sll + 2 s m Sl - 2 s Sxl + m^2 Sw - 2 m Sx + Sxx,
    which saves a pass over the sub-block a trial. The work is done on the
    transposes (32, N): a sub-block's scalar then multiplies a whole row of
    N at a time and its sums add rows, both in long vector loops, where in
    (N, 32) each took a loop of 32 per sub-block (12% less time)."""
    x = np.ascontiguousarray(x.T)
    w = np.ascontiguousarray(w.T)
    mn = np.minimum(x.min(axis=0), 0.0)
    mx = x.max(axis=0)
    sum_w = w.sum(axis=0)
    wx = w * x
    sum_x = wx.sum(axis=0)
    sum_xx = (wx * x).sum(axis=0)
    rng = mx - mn
    flat = rng == 0
    rng_safe = np.where(flat, 1.0, rng).astype(np.float32)
    xm = x - mn
    La = np.empty_like(x)
    P = np.empty_like(x)

    # A trial's levels are rint(iscale * xm) clamped to 0..15. xm >= 0 and
    # iscale > 0, so they are never below 0; and as xm <= rng (rounding is
    # monotonic), iscale * xm <= (15 - 1 + 0.1 i) (1 + 2^-23)^2 < 15.5 for
    # the first trial (15 / rng) and trials i < 15: those never exceed 15
    # either, and skip the clamp (np.minimum is the slowest pass here).
    def trial(iscale, s=None, m=None, clamp=False):
        np.multiply(xm, iscale, out=La)
        np.rint(La, out=La)
        if clamp:
            np.minimum(La, 15, out=La)
        np.multiply(w, La, out=P)
        sl = P.sum(axis=0)
        np.multiply(P, La, out=P)
        sll = P.sum(axis=0)
        np.multiply(wx, La, out=P)
        sxl = P.sum(axis=0)
        if s is None:       # the trial's least-squares scale and minimum (a minimum above 0 is 0)
            D = sum_w * sll - sl * sl
            ok = D > 0
            Ds = np.where(ok, D, 1.0)
            s = (sum_w * sxl - sum_x * sl) / Ds
            m = (sll * sum_x - sl * sxl) / Ds
            pos = m > 0
            m = np.where(pos, 0.0, m)
            s = np.where(pos, sxl / np.where(sll > 0, sll, 1.0), s)
        else:
            ok = np.ones(x.shape[1], bool)
        e = s * s * sll + 2 * s * m * sl - 2 * s * sxl + m * m * sum_w - 2 * m * sum_x + sum_xx
        return ok, s, m, e

    iscale = np.float32(15.0) / rng_safe
    _, best_scale, best_min, best = trial(iscale, np.float32(1.0) / iscale, mn)
    for i in range(21):
        ok, ts, tm, cur = trial((np.float32(-1.0 + 0.1 * i) + np.float32(15.0)) / rng_safe, clamp=i >= 15)
        better = ok & (cur < best)
        best = np.where(better, cur, best)
        best_scale = np.where(better, ts, best_scale)
        best_min = np.where(better, tm, best_min)
    best_scale = np.where(flat, 0.0, best_scale).astype(np.float32)
    best_min = np.where(flat, mn, best_min)
    return best_scale, (-best_min).astype(np.float32)


def _f16(v):
    return np.asarray(v, np.float32).astype(np.float16).astype(np.float32)


def _quantize_blocks(x, search=True):
    """x (S, 256) float32 super-blocks -> (d, dmin f16 (S,), ls, lm (S, 8)
    6-bit, L (S, 256) nibbles in column order)."""
    S = x.shape[0]
    xs = x.reshape(S * NSUB, SUB)
    av = np.sqrt((xs * xs).sum(axis=1) / np.float32(SUB)).astype(np.float32)
    w = (av[:, None] + np.abs(xs)).astype(np.float32)
    sc, mn = _qkx2(xs, w)
    sc, mn = sc.reshape(S, NSUB), mn.reshape(S, NSUB)
    max_sc, max_mn = sc.max(axis=1), mn.max(axis=1)
    inv_s = np.where(max_sc > 0, np.float32(63.0) / np.where(max_sc > 0, max_sc, 1), 0).astype(np.float32)
    inv_m = np.where(max_mn > 0, np.float32(63.0) / np.where(max_mn > 0, max_mn, 1), 0).astype(np.float32)
    ls0 = np.minimum(63, _nearest(inv_s[:, None] * sc))
    lm0 = np.minimum(63, _nearest(inv_m[:, None] * mn))
    d = (max_sc / np.float32(63.0)).astype(np.float16)
    dmin = (max_mn / np.float32(63.0)).astype(np.float16)
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(dmin))):
        raise ValueError("q4_k: a weight is too large for an f16 super-block scale")
    df, dmf = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    xb = x.reshape(S, NSUB, SUB)
    wb = w.reshape(S, NSUB, SUB)
    wx = wb * xb
    sw, sx, sxx = wb.sum(axis=2), wx.sum(axis=2), _rowdot(wx, xb)
    L = np.empty_like(xb)
    best_e = best_ls = best_lm = None
    steps = (0, -1, 1) if search else (0,)
    for ds in steps:
        for dm in steps:
            ls = _clamp(ls0 + ds, 63)
            lm = _clamp(lm0 + dm, 63)
            d1 = (df * ls).astype(np.float32)            # (S, 8)
            m1 = (dmf * lm).astype(np.float32)
            with np.errstate(divide="ignore", invalid="ignore"):
                np.add(xb, m1[:, :, None], out=L)
                np.divide(L, d1[:, :, None], out=L)
            np.rint(L, out=L)
            _clamp(L, 15, out=L)                         # NaN (0 / 0) stays: a zero scale, below
            zero = d1 == 0
            sl, sll, sxl = _rowdot(wb, L), _rowdot(wb * L, L), _rowdot(wx, L)
            # sum w (d1 l - m1 - x)^2, expanded; a zero scale leaves -m1 whatever l is
            e = np.where(zero, 0.0, d1 * d1 * sll - 2 * d1 * m1 * sl - 2 * d1 * sxl) + m1 * m1 * sw + 2 * m1 * sx + sxx
            if best_e is None:
                best_e, best_ls, best_lm = e, ls, lm
                continue
            b = e < best_e
            best_e = np.where(b, e, best_e)
            best_ls = np.where(b, ls, best_ls)
            best_lm = np.where(b, lm, best_lm)
    # the levels of the pair kept, as ggml's last loop rounds them
    d1 = (df * best_ls).astype(np.float32)
    m1 = (dmf * best_lm).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        best_L = _clamp(np.rint((xb + m1[:, :, None]) / d1[:, :, None]), 15)
    best_L = np.where((d1 == 0)[:, :, None], 0, best_L)
    return d, dmin, best_ls.astype(np.uint8), best_lm.astype(np.uint8), best_L.astype(np.uint8).reshape(S, QK)


def _pack(d, dmin, ls, lm, L):
    """The 144-byte super-blocks (S, 144)."""
    S = d.shape[0]
    out = np.zeros((S, BYTES), np.uint8)
    out[:, 0:2] = np.ascontiguousarray(d.astype("<f2")).view(np.uint8).reshape(S, 2)
    out[:, 2:4] = np.ascontiguousarray(dmin.astype("<f2")).view(np.uint8).reshape(S, 2)
    sc = np.zeros((S, 12), np.uint8)
    sc[:, 0:4] = ls[:, 0:4] | ((ls[:, 4:8] >> 4) << 6)
    sc[:, 4:8] = lm[:, 0:4] | ((lm[:, 4:8] >> 4) << 6)
    sc[:, 8:12] = (ls[:, 4:8] & 0x0F) | ((lm[:, 4:8] & 0x0F) << 4)
    out[:, 4:16] = sc
    q = L.reshape(S, 4, 2, 32)
    out[:, 16:] = (q[:, :, 0, :] | (q[:, :, 1, :] << 4)).reshape(S, 128)
    return out


def _scales(b):
    """get_scale_min_k4 for j = 0..7 of super-blocks b (S, 144)."""
    s = b[:, 4:16]
    sc = np.empty((b.shape[0], 8), np.uint8)
    mn = np.empty((b.shape[0], 8), np.uint8)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def quantize(a, search=True):
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError("q4_k needs a matrix, got shape %s" % (a.shape,))
    if not np.all(np.isfinite(a)):
        raise ValueError("q4_k: the matrix has a NaN or infinite weight")
    rows, cols = a.shape
    ns = (cols + QK - 1) // QK
    out = np.empty((rows, ns * BYTES), np.uint8)
    step = max(1, (1 << 17) // (ns * QK))       # rows at a time: 128K weights (fewer small steps than 64K, still in cache)
    for r0 in range(0, rows, step):
        blk = a[r0:r0 + step]
        n = blk.shape[0]
        if cols % QK:
            p = np.zeros((n, ns * QK), np.float32)
            p[:, :cols] = blk
            blk = p
        out[r0:r0 + n] = _pack(*_quantize_blocks(np.ascontiguousarray(blk).reshape(n * ns, QK), search)).reshape(n, ns * BYTES)
    return out


def dequantize(raw, rows, cols):
    ns = (cols + QK - 1) // QK
    b = np.frombuffer(np.ascontiguousarray(raw, np.uint8).tobytes(), np.uint8).reshape(rows * ns, BYTES)
    d = np.ascontiguousarray(b[:, 0:2]).view("<f2").astype(np.float32)     # (S, 1)
    dmin = np.ascontiguousarray(b[:, 2:4]).view("<f2").astype(np.float32)
    sc, mn = _scales(b)
    qs = b[:, 16:].reshape(-1, 4, 32)
    q = np.stack([qs & 0x0F, qs >> 4], axis=2).reshape(-1, 8, 32).astype(np.float32)
    d1 = (d * sc.astype(np.float32))[:, :, None]
    m1 = (dmin * mn.astype(np.float32))[:, :, None]
    w = d1 * q - m1
    return w.reshape(rows, ns * QK)[:, :cols]


def from_ggml(raw, rows, cols):
    """GGUF Q4_K tensor bytes (rows of cols / 256 block_q4_K) -> (rows, ns * 144)."""
    if cols % QK:
        raise ValueError("a GGUF Q4_K row of %d columns" % cols)
    return np.frombuffer(raw, np.uint8, count=nbytes(rows, cols)).reshape(rows, (cols // QK) * BYTES)


def encode(raw):
    return np.ascontiguousarray(raw, np.uint8).tobytes()
