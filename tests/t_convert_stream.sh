#!/bin/sh
# tools/convert.py streams: a tensor is read, quantised and written a block
# of rows at a time (tools/mambafile.py write_encoded, LazyTensor.rows), and
# the file must be byte-identical to encoding each tensor whole, as the
# converter did before. For every test checkpoint (state-spaces .bin,
# safetensors single and sharded, f32/f16/bf16 sources, tied and untied) and
# every dtype, the file written in blocks of one row, of about 1 KB and of
# about 20 KB of rows is compared
# byte for byte with the one written by the whole-tensor encoder (kept in
# this test as the oracle: mambafile.encode of the whole array). Then the
# memory: a tensor bigger than a block (3 MB of f32 through 256 KB blocks)
# is written with its peak traced allocation below half its size, and a
# torch .bin tensor (no row reader) is read once, not once a block. Last, the
# 4-bit quantiser (tools/q4.py, made faster) against the one before it, kept
# here as the oracle: the same bytes on assorted shapes, scales, zero blocks
# and outliers, and its nearest-level search against a binary search on
# midpoints and the values just beside them.
#   env: PYTHON (tests/lib.sh)
. tests/lib.sh
t_tmp
"$PYTHON" -c "import numpy" 2>/dev/null || t_skip_test "the converter" "$PYTHON has no numpy"
if "$PYTHON" - "$TMP" >"$TMP/out" 2>&1 <<'EOF'
import glob, hashlib, io, os, sys, tracemalloc
sys.path.insert(0, "tools")
import numpy as np
import convert
import mambafile as mf
import q4

tmp = sys.argv[1]
whole_encoder = lambda f, arr, shape, dtype: f.write(mf.encode(np.asarray(arr, dtype=np.float32).reshape(shape), dtype))
streaming = mf.write_encoded
fails = n = 0
for ckpt in sorted(glob.glob("tests/data/ckpt/*/")):
    name = os.path.basename(ckpt.rstrip("/"))
    for dt in ("f32", "f16", "bf16", "q8", "q4_0", "iq4_nl", "q4_k"):
        outs = []
        for chunk in (None, 1, 1000, 20000):   # 1: a row a block; then about 1 KB and 20 KB of rows
            out = os.path.join(tmp, "%s-%s-%s.mamba" % (name, dt, chunk))
            if chunk is None:
                mf.write_encoded = whole_encoder
            else:
                mf.write_encoded = streaming
                mf.CHUNK_BYTES = chunk
            err = io.StringIO()
            old, sys.stderr = sys.stderr, err
            try:
                rc = convert.main([ckpt, out, "--dtype", dt])
            finally:
                sys.stderr = old
            if rc != 0:
                print("FAIL: %s --dtype %s (blocks of %s bytes): %s" % (name, dt, chunk, err.getvalue().strip()))
                fails += 1
            outs.append(out)
        want = open(outs[0], "rb").read()
        for out in outs[1:]:
            n += 1
            if open(out, "rb").read() != want:
                print("FAIL: %s differs from the whole-tensor encoding" % out)
                fails += 1
mf.write_encoded = streaming
mf.CHUNK_BYTES = 16 << 20

# memory: a 768 x 1024 f32 safetensors matrix (3 MB), q8 and bf16, through 256 KB blocks
a = np.random.RandomState(5).standard_normal((768, 1024)).astype(np.float32)
st = os.path.join(tmp, "big.safetensors")
mf.write_safetensors(st, {"w": a})
t = mf.read_safetensors(st)["w"]
mf.CHUNK_BYTES = 256 << 10
class Digest(object):   # a file that keeps only a hash of what is written
    def __init__(self):
        self.h = hashlib.sha256()
    def write(self, b):
        self.h.update(b)
for dt in ("q8", "bf16"):
    buf = Digest()
    tracemalloc.start()
    mf.write_encoded(buf, t, a.shape, dt)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    n += 1
    if buf.h.digest() != hashlib.sha256(mf.encode(a, dt)).digest():
        print("FAIL: %s of the big matrix differs" % dt); fails += 1
    elif peak > a.nbytes // 2:
        print("FAIL: %s: peak %d bytes for a %d-byte matrix in 256 KB blocks" % (dt, peak, a.nbytes)); fails += 1
    else:
        print("%s: peak %.2f MB of Python allocations for a %.1f MB matrix" % (dt, peak / 1e6, a.nbytes / 1e6))
# a torch .bin tensor cannot be read by rows: it must be read once, not once a block
import torchzip
loads = [0]
plain = mf.LazyTensor.numpy
def counted(self):
    loads[0] += 1
    return plain(self)
mf.LazyTensor.numpy = counted
mf.CHUNK_BYTES = 1
t = torchzip.read("tests/data/ckpt/ss_long/pytorch_model.bin")["backbone.embedding.weight"]
blocks = len(list(mf.row_chunks(t, t.shape)))
mf.LazyTensor.numpy = plain
mf.CHUNK_BYTES = 16 << 20
n += 1
if loads[0] != 1:
    print("FAIL: a .bin tensor of %d blocks was read %d times" % (blocks, loads[0])); fails += 1

# the 4-bit quantiser against the one before it was made faster (kept here
# verbatim as the oracle: a binary search per value, a mask on every block)
def oracle_nearest(v, lv):
    mid = (lv[1:] + lv[:-1]) * 0.5
    return np.searchsorted(mid, v, side="left").astype(np.uint8)
def oracle_sse(x, mask, d, lv):
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(d[:, None] != 0, x / d[:, None], 0.0)
    idx = oracle_nearest(v, lv)
    err = ((x - d[:, None] * lv[idx]) ** 2 * mask).sum(axis=1)
    return idx, err
def oracle_quantize(a, kind):
    a = np.asarray(a, dtype=np.float32)
    lv = q4.LEVELS[kind]
    rows, cols = a.shape
    nb = (cols + q4.BLOCK - 1) // q4.BLOCK
    p = np.zeros((rows, nb * q4.BLOCK), np.float32)
    p[:, :cols] = a
    mask = np.zeros(nb * q4.BLOCK, np.float32)
    mask[:cols] = 1
    q = np.empty((rows, nb * q4.BLOCK), np.uint8)
    d = np.empty((rows, nb), np.float16)
    step = max(1, (1 << 18) // (nb * q4.BLOCK))
    for r0 in range(0, rows, step):
        x = p[r0:r0 + step].reshape(-1, q4.BLOCK).astype(np.float64)
        m = np.broadcast_to(mask.reshape(nb, q4.BLOCK), (x.shape[0] // nb, nb, q4.BLOCK)).reshape(-1, q4.BLOCK)
        i = np.argmax(np.abs(x) * m, axis=1)
        ext = x[np.arange(x.shape[0]), i]
        best_d = np.zeros(x.shape[0])
        best_i = np.full(x.shape, q4.ZERO[kind], np.uint8)
        best_e = (x * x * m).sum(axis=1)
        cands = [ext / t for t in np.concatenate([lv[:4], lv[-4:]]) if t != 0]
        for c in cands:
            dc = c.astype(np.float16).astype(np.float64)
            idx, e = oracle_sse(x, m, dc, lv)
            better = e < best_e
            best_e = np.where(better, e, best_e)
            best_d = np.where(better, dc, best_d)
            best_i[better] = idx[better]
        for _ in range(2):
            L = lv[best_i].astype(np.float64) * m
            den = (L * L).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                dc = np.where(den > 0, (x * L).sum(axis=1) / den, 0.0)
            dc = dc.astype(np.float16).astype(np.float64)
            idx, e = oracle_sse(x, m, dc, lv)
            better = e < best_e
            best_e = np.where(better, e, best_e)
            best_d = np.where(better, dc, best_d)
            best_i[better] = idx[better]
        k = x.shape[0] // nb
        best_i = best_i.reshape(k, nb * q4.BLOCK)
        best_i[:, cols:] = q4.ZERO[kind]
        q[r0:r0 + k] = best_i
        d[r0:r0 + k] = best_d.reshape(k, nb).astype(np.float16)
    return q4.pack(q, rows, nb), d

rs = np.random.RandomState(17)
for kind, lv in q4.LEVELS.items():
    mid = ((lv[1:] + lv[:-1]) * 0.5).astype(np.float64)
    v = np.concatenate([mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf), lv.astype(np.float64),
                        rs.standard_normal(20000) * 50, rs.standard_normal(1000) * 1e6, [-1e300, 1e300, 0.0, -0.0]])
    n += 1
    if not np.array_equal(oracle_nearest(v, lv), q4._nearest(v, lv)):
        print("FAIL: %s nearest level differs from a binary search" % kind); fails += 1
for shape in ((300, 64), (37, 96), (5, 50), (64, 1536), (3, 33), (40, 3072)):
    for scale in (1.0, 0.03, 1e-4):
        a = (rs.standard_normal(shape) * scale).astype(np.float32)
        a[0, :40] = 0                    # a zero block (and part of one)
        a[1, 3] = 60 * scale             # an outlier
        for kind in ("q4_0", "iq4_nl"):
            x, y = oracle_quantize(a, kind), q4.quantize(a, kind)
            n += 1
            if not (np.array_equal(x[0], y[0]) and np.array_equal(x[1].view(np.uint16), y[1].view(np.uint16))):
                print("FAIL: %s %s x %g: the quantiser's bytes changed" % (kind, shape, scale)); fails += 1
print("%d comparisons, %d failures" % (n, fails))
sys.exit(1 if fails else 0)
EOF
then
    grep -v FAIL "$TMP/out" | sed "s/^/$T_NAME: /"
else
    grep FAIL "$TMP/out" | head -n 10
    t_fail "$(tail -n 1 "$TMP/out")"
fi
t_end "ok: streamed files byte-identical to whole-tensor encoding (every checkpoint, every dtype, three block sizes)"
