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
# is written with its peak traced allocation below half its size.
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

tmp = sys.argv[1]
whole_encoder = lambda f, arr, shape, dtype: f.write(mf.encode(np.asarray(arr, dtype=np.float32).reshape(shape), dtype))
streaming = mf.write_encoded
fails = n = 0
for ckpt in sorted(glob.glob("tests/data/ckpt/*/")):
    name = os.path.basename(ckpt.rstrip("/"))
    for dt in ("f32", "f16", "bf16", "q8", "q4_0", "iq4_nl"):
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
