#!/usr/bin/env python3
"""4-bit weights in blocks of 32 with one f16 scale (docs/format.md, dtypes
4 and 5): the quantisers, the dequantiser and the repacking of GGUF blocks.

    quantize(a, kind)           float (rows, cols) -> (q uint8 (rows, nb*16), d float16 (rows, nb))
    dequantize(q, d, cols, kind) -> float32 (rows, cols)
    from_ggml(raw, rows, cols)  GGUF Q4_0 / IQ4_NL blocks -> (q, d), bit for bit

kind is "q4_0" (levels -8..7, ggml's Q4_0 values) or "iq4_nl" (ggml's
IQ4_NL 16-level codebook, denser near zero where most weights are). A
weight is w = d * LEVELS[kind][nibble]. In a block's 16 bytes, byte j holds
value j in its low nibble and value j + 16 in its high nibble (ggml's
order, so GGUF Q4_0 and IQ4_NL blocks copy over as they are).

The quantiser, per block: for each candidate scale (the block's extreme
value mapped onto each of the levels near the ends, and a least-squares
refit), rounded to f16 first, each weight takes its nearest level; the
candidate with the smallest squared error over the block's real columns
wins. ggml's Q4_0 quantiser takes the first candidate only (d = max / -8),
which is why --dtype q4_0 here has less error than llama-quantize's Q4_0 at
the same bits.
"""
import numpy as np

BLOCK = 32
LEVELS = {
    "q4_0": np.arange(-8, 8, dtype=np.float32),
    "iq4_nl": np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113],
                       dtype=np.float32),
}
# the nibble a padding column gets: the level nearest zero
ZERO = {"q4_0": 8, "iq4_nl": 8}


def _midpoints(lv):
    """The midpoints between levels (exact halves), and for each unit cell
    [k, k+1) from lo on, how many midpoints lie below k."""
    mid = ((lv[1:] + lv[:-1]) * 0.5).astype(np.float64)
    lo, hi = int(np.floor(mid[0])) - 1, int(np.ceil(mid[-1])) + 1
    below = np.searchsorted(mid, np.arange(lo, hi + 1, dtype=np.float64), side="left").astype(np.uint8)
    return np.append(mid, np.inf)[below], lo, hi, below   # the next midpoint from each cell's start


_MIDS = {}
_LEVELS64 = {lv.tobytes(): lv.astype(np.float64) for lv in LEVELS.values()}


def _level_values(idx, lv):
    """lv[idx] as float64: evenly spaced integer levels (q4_0's -8..7) by
    exact arithmetic, idx * step + lv[0], faster than the gather the others
    take."""
    step = lv[1] - lv[0]
    if np.array_equal(lv, lv[0] + step * np.arange(lv.size, dtype=np.float32)):
        t = idx.astype(np.float64)
        if step != 1:
            t *= float(step)
        t += float(lv[0])
        return t
    return _LEVELS64[lv.tobytes()][idx]


def _nearest(v, lv):
    """Index of the nearest level for each v (ties to the lower level): the
    number of midpoints below v, which is np.searchsorted(mid, v, "left"),
    computed without a search per value. Midpoints are at least 1 apart
    (q4_0: 1, iq4_nl: 11.5), so the unit cell [floor(v), floor(v) + 1) holds
    at most one: the count below the cell's start (a table) plus one if
    that next midpoint is below v. Exact: every step compares or floors."""
    key = lv.tobytes()
    if key not in _MIDS:
        _MIDS[key] = _midpoints(lv)
    nextmid, lo, hi, below = _MIDS[key]
    k = np.floor(v)
    np.maximum(k, lo, out=k)
    np.minimum(k, hi, out=k)
    k -= lo
    c = k.astype(np.intp)
    idx = below.take(c)
    idx += nextmid.take(c) < v
    return idx


def _sse(x, mask, d, lv):
    """(index, squared error) of blocks x (B, 32) with scales d (B,); mask
    None when every column is real. A zero scale gives v = x / inf = 0 (the
    nearest level of 0 either way)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v = x / np.where(d != 0, d, np.inf)[:, None]
    if lv[0] == -8 and np.array_equal(lv, LEVELS["q4_0"]):
        # q4_0's levels are the integers -8..7 with midpoints at k + 0.5: the
        # nearest level (ties to the lower one) is ceil(v - 0.5), clamped, the
        # same index as _nearest gives (v - 0.5 is exact for |v| < 2^52, and
        # beyond that v is a whole number), without its table look-ups
        t = np.subtract(v, 0.5, out=v)
        np.ceil(t, out=t)
        np.maximum(t, -8.0, out=t)
        np.minimum(t, 7.0, out=t)
        idx = (t + 8.0).astype(np.uint8)
    else:
        idx = _nearest(v, lv)
        t = _level_values(idx, lv)
    t *= d[:, None]
    np.subtract(x, t, out=t)
    t *= t
    if mask is not None:
        t *= mask
    return idx, t.sum(axis=1)


def quantize(a, kind):
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError("%s needs a matrix, got shape %s" % (kind, a.shape))
    if not np.all(np.isfinite(a)):
        raise ValueError("%s: the matrix has a NaN or infinite weight" % kind)
    lv = LEVELS[kind]
    rows, cols = a.shape
    nb = (cols + BLOCK - 1) // BLOCK
    p = np.zeros((rows, nb * BLOCK), np.float32)
    p[:, :cols] = a
    mask = np.zeros(nb * BLOCK, np.float32)
    mask[:cols] = 1
    q = np.empty((rows, nb * BLOCK), np.uint8)
    d = np.empty((rows, nb), np.float16)
    step = max(1, (1 << 15) // (nb * BLOCK))
    for r0 in range(0, rows, step):
        x = p[r0:r0 + step].reshape(-1, BLOCK).astype(np.float64)
        # the mask is all ones when cols is whole blocks (every 4-bit matrix
        # convert.py writes): then left out, which changes no value
        m = None if cols % BLOCK == 0 else \
            np.broadcast_to(mask.reshape(nb, BLOCK), (x.shape[0] // nb, nb, BLOCK)).reshape(-1, BLOCK)
        i = np.argmax(np.abs(x) if m is None else np.abs(x) * m, axis=1)
        ext = x[np.arange(x.shape[0]), i]                     # signed value of largest |w|
        best_d = np.zeros(x.shape[0])
        best_i = np.full(x.shape, ZERO[kind], np.uint8)
        best_e = (x * x if m is None else x * x * m).sum(axis=1)   # d = 0
        # candidates: the extreme onto each of the 4 outermost levels of
        # either end, then a least-squares refit of the best assignment
        cands = [ext / t for t in np.concatenate([lv[:4], lv[-4:]]) if t != 0]
        for c in cands:
            dc = c.astype(np.float16).astype(np.float64)
            idx, e = _sse(x, m, dc, lv)
            better = e < best_e
            best_e = np.where(better, e, best_e)
            best_d = np.where(better, dc, best_d)
            np.copyto(best_i, idx, where=better[:, None])
        for _ in range(2):
            L = _level_values(best_i, lv)
            if m is not None:
                L *= m
            den = (L * L).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                dc = np.where(den > 0, (x * L).sum(axis=1) / den, 0.0)
            dc = dc.astype(np.float16).astype(np.float64)
            idx, e = _sse(x, m, dc, lv)
            better = e < best_e
            best_e = np.where(better, e, best_e)
            best_d = np.where(better, dc, best_d)
            np.copyto(best_i, idx, where=better[:, None])
        if not np.all(np.isfinite(best_d.astype(np.float16))):
            raise ValueError("%s: a weight is too large for an f16 block scale" % kind)
        n = x.shape[0] // nb
        best_i = best_i.reshape(n, nb * BLOCK)
        best_i[:, cols:] = ZERO[kind]
        q[r0:r0 + n] = best_i
        d[r0:r0 + n] = best_d.reshape(n, nb).astype(np.float16)
    return pack(q, rows, nb), d


def pack(idx, rows, nb):
    """(rows, nb*32) level indices -> (rows, nb*16) bytes, ggml's nibble order."""
    b = idx.reshape(rows, nb, 2, 16)
    return (b[:, :, 0, :] | (b[:, :, 1, :] << 4)).reshape(rows, nb * 16).astype(np.uint8)


def unpack(q, rows, nb):
    """(rows, nb*16) bytes -> (rows, nb*32) level indices."""
    b = q.reshape(rows, nb, 16)
    return np.concatenate([b & 0x0F, b >> 4], axis=2).reshape(rows, nb * BLOCK)


def dequantize(q, d, cols, kind):
    rows, nb = d.shape
    w = LEVELS[kind][unpack(q, rows, nb)].reshape(rows, nb, BLOCK) * d.astype(np.float32)[:, :, None]
    return w.reshape(rows, nb * BLOCK)[:, :cols]


def from_ggml(raw, rows, cols):
    """GGUF Q4_0 or IQ4_NL tensor bytes (blocks of {f16 d; u8 qs[16]}, rows
    of cols / 32 blocks) -> (q, d) in this layout: the same bits."""
    if cols % BLOCK:
        raise ValueError("a GGUF 4-bit row of %d columns" % cols)
    nb = cols // BLOCK
    b = np.frombuffer(raw, dtype=np.uint8, count=rows * nb * 18).reshape(rows, nb, 18)
    d = np.ascontiguousarray(b[:, :, :2]).view("<f2").reshape(rows, nb)
    q = np.ascontiguousarray(b[:, :, 2:]).reshape(rows, nb * 16)
    return q, d.astype(np.float16)


def encode(q, d):
    """The file bytes: every row's blocks, then every row's scales."""
    return np.ascontiguousarray(q, np.uint8).tobytes() + np.ascontiguousarray(d, dtype="<f2").tobytes()


def nbytes(rows, cols):
    return rows * ((cols + BLOCK - 1) // BLOCK) * (BLOCK // 2 + 2)
