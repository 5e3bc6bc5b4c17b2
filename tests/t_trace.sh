#!/bin/sh
# t_trace.sh - check build/trace on converted test checkpoints (a Mamba-1 and a
# Falcon-Mamba one): the program agrees with mamba_step() (it checks this itself
# and fails otherwise), its CSV parses with n_tokens x n_layer rows, the values
# are in range (Delta > 0, kept in (0,1), |h| >= 0), and every statistic equals
# an independent float64 numpy recomputation of the block (tools/reference.py's
# checkpoint reader and elementwise helpers, with its own loop that keeps Delta).
# Run from the repo root:  PYTHON=/usr/bin/python3 BUILD=build sh tests/t_trace.sh
# TRACE_BIN overrides the program under test (to show the test can fail).
set -eu
. tests/lib.sh
BIN=${TRACE_BIN:-$BUILD/trace}
[ -x "$BIN" ] || { echo "t_trace: FAIL: $BIN missing (make)"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/t_trace.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

fail=0
for name in hf_intermediate falcon_default; do
    ckpt=tests/data/ckpt/$name
    "$PYTHON" tools/convert.py "$ckpt" "$TMP/$name.mamba" >"$TMP/convert.log" 2>&1 ||
        { echo "t_trace: FAIL: convert $name: $(tail -n 1 "$TMP/convert.log")"; fail=1; continue; }
    ids="3 17 0 25 9 9 9 30 1 12 44 7"
    if ! "$BIN" "$TMP/$name.mamba" --tokens "$ids" --csv "$TMP/$name.csv" >"$TMP/$name.out" 2>&1; then
        echo "t_trace: FAIL: $name: trace failed: $(tail -n 1 "$TMP/$name.out")"; fail=1; continue
    fi
    grep -q "bit for bit" "$TMP/$name.out" || { echo "t_trace: FAIL: $name: no bit-for-bit line"; fail=1; }
    "$PYTHON" - "$ckpt" "$TMP/$name.csv" "$ids" "$TMP/$name.out" <<'EOF' || fail=1
import csv
import sys

import numpy as np

sys.path.insert(0, "tools")
from reference import load_checkpoint, rms_norm, silu, softplus  # noqa: E402

ckpt, csv_path, ids, screen = sys.argv[1], sys.argv[2], [int(v) for v in sys.argv[3].split()], sys.argv[4]
name = ckpt.rstrip("/").split("/")[-1]
params, arch, norm_eps, mixer_eps = load_checkpoint(ckpt)
p = {k.replace("backbone.embeddings.", "backbone.embedding."): v for k, v in params.items()}
n_layer = 0
while "backbone.layers.%d.norm.weight" % n_layer in p:
    n_layer += 1

# --- independent recomputation: one token at a time, keeping Delta per layer ---
want = {}  # (token index, layer) -> (mean_delta, max_delta, kept, state_norm)
conv = [None] * n_layer
ssm = [None] * n_layer
for t, tok in enumerate(ids):
    r = p["backbone.embedding.weight"][tok].copy()
    for li in range(n_layer):
        m = "backbone.layers.%d.mixer." % li
        u = rms_norm(r, p["backbone.layers.%d.norm.weight" % li], norm_eps)
        xz = p[m + "in_proj.weight"] @ u
        if m + "in_proj.bias" in p:
            xz = xz + p[m + "in_proj.bias"]
        di = xz.shape[0] // 2
        x, z = xz[:di], xz[di:]
        w = p[m + "conv1d.weight"].reshape(di, -1)
        if conv[li] is None:
            conv[li] = np.zeros_like(w)
            ssm[li] = np.zeros_like(p[m + "A_log"])
        conv[li] = np.concatenate([conv[li][:, 1:], x[:, None]], axis=1)
        x = (conv[li] * w).sum(axis=1)
        if m + "conv1d.bias" in p:
            x = x + p[m + "conv1d.bias"]
        x = silu(x)
        dbc = p[m + "x_proj.weight"] @ x
        rank = p[m + "dt_proj.weight"].shape[1]
        N = ssm[li].shape[1]
        dt, B, C = dbc[:rank], dbc[rank:rank + N], dbc[rank + N:]
        if arch == "falcon_mamba":
            dt, B, C = (rms_norm(v, None, mixer_eps) for v in (dt, B, C))
        delta = softplus(p[m + "dt_proj.weight"] @ dt + p[m + "dt_proj.bias"])
        A = -np.exp(p[m + "A_log"])
        dA = np.exp(delta[:, None] * A)
        ssm[li] = dA * ssm[li] + (delta * x)[:, None] * B[None, :]
        y = (ssm[li] @ C + p[m + "D"] * x) * silu(z)
        out = p[m + "out_proj.weight"] @ y
        if m + "out_proj.bias" in p:
            out = out + p[m + "out_proj.bias"]
        r = r + out
        want[(t, li)] = (delta.mean(), delta.max(), dA.mean(), np.sqrt((ssm[li] ** 2).sum()))

# --- the CSV ------------------------------------------------------------------
fails = []
with open(csv_path, newline="") as f:
    rows = list(csv.DictReader(f))
cols = ["token_index", "token_id", "text", "layer", "mean_delta", "max_delta", "kept", "state_norm"]
if not rows or list(rows[0].keys()) != cols:
    fails.append("header %s" % (list(rows[0].keys()) if rows else "missing"))
if len(rows) != len(ids) * n_layer:
    fails.append("%d rows, want %d x %d" % (len(rows), len(ids), n_layer))
seen = set()
worst = 0.0
for row in rows:
    t, li = int(row["token_index"]), int(row["layer"])
    seen.add((t, li))
    if int(row["token_id"]) != ids[t]:
        fails.append("row %d/%d: token_id %s" % (t, li, row["token_id"]))
    md, xd, kept, hn = (float(row[k]) for k in cols[4:])
    if not (0 < md <= xd and 0 < kept < 1 and hn >= 0):
        fails.append("row %d/%d out of range: %s" % (t, li, row))
    for got, ref, what in zip((md, xd, kept, hn), want[(t, li)], cols[4:]):
        err = abs(got - ref) / max(1.0, abs(ref))
        worst = max(worst, err)
        if err > 1e-4:
            fails.append("token %d layer %d %s: got %.9g want %.9g" % (t, li, what, got, ref))
if len(seen) != len(ids) * n_layer:
    fails.append("duplicate (token, layer) rows")
# the one number the brief names: mean Delta of layer 0 at token 0
m00 = [r for r in rows if r["token_index"] == "0" and r["layer"] == "0"]
if not m00 or abs(float(m00[0]["mean_delta"]) - want[(0, 0)][0]) > 1e-5 * max(1.0, want[(0, 0)][0]):
    fails.append("mean Delta, layer 0, token 0")

# --- the screen: one line per token, with one shade per layer between bars -----
lines = [ln for ln in open(screen).read().splitlines() if ln[:5].strip().isdigit() and "|" in ln]
if len(lines) != len(ids):
    fails.append("%d token lines on screen, want %d" % (len(lines), len(ids)))
for ln in lines:
    bar = ln.split("|")[1]
    if len(bar) != n_layer:
        fails.append("screen bar %r has %d shades, want %d" % (bar, len(bar), n_layer))
        break

for f_ in fails[:10]:
    print("t_trace: FAIL: %s: %s" % (name, f_))
if fails:
    sys.exit(1)
print("t_trace: %s: %d rows (%d tokens x %d layers) match numpy, worst rel err %.2g"
      % (name, len(rows), len(ids), n_layer, worst))
EOF
done

# every stored dtype: trace must stay bit-identical to mamba_step() (q8
# included, whose matvecs round their input to int16 in the state's scratch)
for dt in f16 bf16 q8; do
    if ! "$PYTHON" tools/convert.py tests/data/ckpt/hf_intermediate "$TMP/hf_$dt.mamba" --dtype "$dt" \
            >"$TMP/convert.log" 2>&1; then
        echo "t_trace: FAIL: convert $dt: $(tail -n 1 "$TMP/convert.log")"; fail=1; continue
    fi
    if "$BIN" "$TMP/hf_$dt.mamba" --tokens "1 2 3 4 5 6 7 8" >"$TMP/$dt.out" 2>&1 &&
            grep -q "bit for bit" "$TMP/$dt.out"; then
        echo "t_trace: $dt: $(grep 'bit for bit' "$TMP/$dt.out")"
    else
        echo "t_trace: FAIL: $dt: $(tail -n 1 "$TMP/$dt.out")"; fail=1
    fi
done

# misuse must fail cleanly, not crash
if "$BIN" "$TMP/hf_intermediate.mamba" --tokens "1 99999" >/dev/null 2>&1; then
    echo "t_trace: FAIL: an out-of-range token id was accepted"; fail=1
fi
if "$BIN" "$TMP/missing.mamba" --tokens "1" >/dev/null 2>&1; then
    echo "t_trace: FAIL: a missing model was accepted"; fail=1
fi
[ $fail = 0 ] && echo "t_trace: PASS" || exit 1
