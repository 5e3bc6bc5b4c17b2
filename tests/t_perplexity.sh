#!/bin/sh
# build/perplexity against the numpy reference: a small random byte-level
# model (vocabulary 256, no tokenizer section, so ids are bytes) scores a
# text; tools/reference.py scores the same bytes in float64 and the two
# bits-per-byte figures must agree to 1e-4 relative.
set -e
. tests/lib.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
[ -x "$BUILD/perplexity" ] || { echo "t_perplexity: $BUILD/perplexity is missing (run make)"; exit 1; }
printf 'Once upon a time, there was a little cat named Tom. Tom liked to play in the sun.\n\nOne day, he saw a big red ball. "Can I play?" he asked.\n' > "$T/text.txt"
"$PYTHON" - "$T" <<'PY'
import os, sys
sys.path.insert(0, "tools")
import numpy as np
from make_testdata import make_weights, write_hf, store
from reference import MambaReference
d = sys.argv[1]
c = dict(name="ppl", seed=7, layout="hf", arch="mamba", dtype="f32", d_model=32, n_layer=2,
         d_state=8, d_conv=4, expand=2, d_inner=64, dt_rank=2, vocab=256, conv_bias=True,
         bias=False, tied=True, norm_eps=1e-5, ids=(0, 0, 0))
w, _ = make_weights(c, "backbone.embeddings.weight")
os.makedirs(os.path.join(d, "ckpt"))
raw, _vals = store(w, "f32")
write_hf(os.path.join(d, "ckpt"), c, raw)
text = open(os.path.join(d, "text.txt"), "rb").read()
ids = [0] + list(text)                  # start-of-document id (eos 0), then the bytes
ref = MambaReference(w, "mamba", 1e-5)
bits = 0.0
for i in range(len(text)):
    logits = ref.step(ids[i])[:256]
    m = logits.max()
    lse = m + np.log(np.exp(logits - m).sum())
    bits += (lse - logits[ids[i + 1]]) / np.log(2.0)
open(os.path.join(d, "expected"), "w").write("%.10f\n" % (bits / len(text)))
PY
"$PYTHON" tools/convert.py "$T/ckpt" "$T/m.mamba" --no-tokenizer > /dev/null 2>&1
"$BUILD/perplexity" "$T/m.mamba" "$T/text.txt" 2> "$T/err" > "$T/out"
# stderr is not a terminal here: no \r progress, only the one summary line
if tr '\r' '@' < "$T/err" | grep -q @; then echo "t_perplexity: FAIL: carriage-return progress written to a non-terminal"; exit 1; fi
if [ "$(wc -l < "$T/err")" -ne 1 ] || ! grep -q "tokens scored" "$T/err"; then
    echo "t_perplexity: FAIL: stderr is not one summary line:"; head -n 5 "$T/err"; exit 1
fi
got=$(sed -n 's/^bits_per_byte: //p' "$T/out")
want=$(cat "$T/expected")
"$PYTHON" -c "
import sys
g, w = float('$got'), float('$want')
ok = abs(g - w) <= 1e-4 * abs(w)
print('t_perplexity: bits/byte %s, reference %.6f: %s' % ('$got', w, 'ok' if ok else 'MISMATCH'))
sys.exit(0 if ok else 1)"
# a missing file and an empty file are clear errors
: > "$T/empty.txt"
if "$BUILD/perplexity" "$T/m.mamba" "$T/empty.txt" 2>/dev/null; then echo "t_perplexity: empty file accepted"; exit 1; fi
if "$BUILD/perplexity" "$T/m.mamba" "$T/none.txt" 2>/dev/null; then echo "t_perplexity: missing file accepted"; exit 1; fi
echo "t_perplexity: ok"
