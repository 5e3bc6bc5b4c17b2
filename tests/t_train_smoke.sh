#!/bin/sh
# Smoke run of the training tools on a tiny slice of TinyStories (< 60 s):
# train_bpe.py -> tokenizer.json, train.py (checks its chunked scan against the
# per-token loop, then a few steps of a tiny model) -> a state-spaces checkpoint,
# whose config and tensor names/shapes are then checked.
# Needs torch (a SKIP without it, a failure under CI=true). The text: the
# TinyStories excerpts committed with the tokenizer vectors (CDLA-Sharing-1.0,
# see tests/data/tok/README.md), or TINYSTORIES_DIR/tinystories_sample_2MiB.txt and
# tinystories_valid_prefix.txt when TINYSTORIES_DIR names a folder that has them
# (README: "Where the TinyStories text comes from").
set -eu
. tests/lib.sh
W=$BUILD/train_smoke
if ! t_have_torch; then
    t_skip_test "the training tools" "no torch for $PYTHON: apt-get install python3-torch"
fi
DATA=${TINYSTORIES_DIR:-}
TRAIN=$DATA/tinystories_sample_2MiB.txt
VALID=$DATA/tinystories_valid_prefix.txt
if [ -z "$DATA" ] || [ ! -r "$TRAIN" ] || [ ! -r "$VALID" ]; then
    mkdir -p "$W.data"
    cat tests/data/tok/tinystories*.in > "$W.data/train.txt"
    cp tests/data/tok/tinystories__27_0.in "$W.data/valid.txt"
    TRAIN=$W.data/train.txt
    VALID=$W.data/valid.txt
    echo "t_train_smoke: training on the committed TinyStories excerpts"
fi
rm -rf "$W"
mkdir -p "$W"
head -c 60000 "$TRAIN" > "$W/train.txt"
head -c 8000 "$VALID" > "$W/valid.txt"

"$PYTHON" tools/train_bpe.py --vocab-size 400 --out "$W/tokenizer.json" "$W/train.txt"
"$PYTHON" tools/train.py --tokenizer "$W/tokenizer.json" --out "$W/ckpt" \
    --train "$W/train.txt" --valid "$W/valid.txt" \
    --d-model 32 --n-layer 2 --d-state 4 --seq-len 40 --batch 2 --steps 4 --warmup 2 \
    --log-every 1 --samples 1 --threads 1 > "$W/log.txt" 2>&1 || { cat "$W/log.txt"; exit 1; }
grep -q "scan check" "$W/log.txt"
grep -q "VALID" "$W/log.txt"

"$PYTHON" - "$W" <<'EOF'
import json, sys, torch
w = sys.argv[1]
tok = json.load(open(w + "/tokenizer.json"))
assert tok["normalizer"] == {"type": "NFC"}, tok["normalizer"]
for k in ("pre_tokenizer", "post_processor", "decoder"):
    assert tok[k] == {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True}, (k, tok[k])
assert tok["model"]["type"] == "BPE"
assert tok["added_tokens"][0]["id"] == 0 and tok["added_tokens"][0]["content"] == "<|endoftext|>"
vocab = tok["model"]["vocab"]
assert len(vocab) == 400 and sorted(vocab.values()) == list(range(400)), len(vocab)
for m in tok["model"]["merges"]:
    a, b = m.split(" ")
    assert a in vocab and b in vocab and a + b in vocab, m

cfg = json.load(open(w + "/ckpt/config.json"))
for k, v in {"d_model": 32, "n_layer": 2, "vocab_size": 400, "rms_norm": True, "tie_embeddings": True,
             "pad_vocab_size_multiple": 8}.items():
    assert cfg[k] == v, (k, cfg[k])
assert cfg["ssm_cfg"]["d_state"] == 4 and cfg["ssm_cfg"]["d_conv"] == 4 and cfg["ssm_cfg"]["expand"] == 2
sd = torch.load(w + "/ckpt/pytorch_model.bin")
di, N, R = 64, 4, 2
want = {"backbone.embedding.weight": (400, 32), "backbone.norm_f.weight": (32,), "lm_head.weight": (400, 32)}
for i in range(2):
    p = "backbone.layers.%d." % i
    want.update({p + "norm.weight": (32,), p + "mixer.A_log": (di, N), p + "mixer.D": (di,),
                 p + "mixer.in_proj.weight": (2 * di, 32), p + "mixer.conv1d.weight": (di, 1, 4),
                 p + "mixer.conv1d.bias": (di,), p + "mixer.x_proj.weight": (R + 2 * N, di),
                 p + "mixer.dt_proj.weight": (di, R), p + "mixer.dt_proj.bias": (di,),
                 p + "mixer.out_proj.weight": (32, di)})
assert set(sd) == set(want), sorted(set(sd) ^ set(want))
for k, s in want.items():
    assert tuple(sd[k].shape) == s, (k, tuple(sd[k].shape), s)
assert torch.equal(sd["lm_head.weight"], sd["backbone.embedding.weight"])
print("checkpoint layout ok")
EOF

# Mamba-2 (--arch mamba2: chunked SSD, checked against the per-token recurrence
# at start-up): the checkpoint is in the state-spaces Mamba2 layout, converts
# with tools/convert.py unchanged, and the C logits of the file match
# tools/reference.py's float64 run of the checkpoint itself.
"$PYTHON" tools/train.py --arch mamba2 --tokenizer "$W/tokenizer.json" --out "$W/ckpt2" \
    --train "$W/train.txt" --valid "$W/valid.txt" \
    --d-model 32 --n-layer 2 --d-state 8 --headdim 16 --ngroups 2 --chunk 16 --seq-len 40 --batch 2 \
    --steps 4 --warmup 2 --log-every 1 --samples 1 --threads 1 > "$W/log2.txt" 2>&1 || { cat "$W/log2.txt"; exit 1; }
grep -q "scan check: chunked SSD" "$W/log2.txt" || t_fail "no SSD check in the Mamba-2 log"
grep -q "VALID" "$W/log2.txt" || t_fail "no validation in the Mamba-2 log"
"$PYTHON" - "$W" <<'EOF' || t_fail "the Mamba-2 checkpoint layout"
import json, sys, torch
w = sys.argv[1]
cfg = json.load(open(w + "/ckpt2/config.json"))
ssm = cfg["ssm_cfg"]
assert ssm["layer"] == "Mamba2" and ssm["d_state"] == 8 and ssm["headdim"] == 16 and ssm["ngroups"] == 2, ssm
assert cfg["pad_vocab_size_multiple"] == 16 and cfg["tie_embeddings"] is True and cfg["d_intermediate"] == 0
sd = torch.load(w + "/ckpt2/pytorch_model.bin")
di, N, G, H = 64, 8, 2, 4
want = {"backbone.embedding.weight": (400, 32), "backbone.norm_f.weight": (32,), "lm_head.weight": (400, 32)}
for i in range(2):
    p = "backbone.layers.%d." % i
    want.update({p + "norm.weight": (32,), p + "mixer.in_proj.weight": (2 * di + 2 * G * N + H, 32),
                 p + "mixer.conv1d.weight": (di + 2 * G * N, 1, 4), p + "mixer.conv1d.bias": (di + 2 * G * N,),
                 p + "mixer.dt_bias": (H,), p + "mixer.A_log": (H,), p + "mixer.D": (H,),
                 p + "mixer.norm.weight": (di,), p + "mixer.out_proj.weight": (32, di)})
assert set(sd) == set(want), sorted(set(sd) ^ set(want))
for k, s in want.items():
    assert tuple(sd[k].shape) == s, (k, tuple(sd[k].shape), s)
print("Mamba-2 checkpoint layout ok")
EOF
# --cpu-seconds: the budget, not --steps, ends the run, and the training CPU
# time it reports is at least the budget (evals and saves are outside it).
"$PYTHON" tools/train.py --tokenizer "$W/tokenizer.json" --out "$W/ckpt3" \
    --train "$W/train.txt" --d-model 32 --n-layer 2 --d-state 4 --seq-len 40 --batch 2 \
    --steps 20000 --cpu-seconds 1 --warmup 2 --log-every 50 --eval-every 0 --save-every 5 --samples 0 \
    --threads 1 > "$W/log3.txt" 2>&1 || { cat "$W/log3.txt"; t_fail "train.py --cpu-seconds 1"; }
"$PYTHON" - "$W/log3.txt" <<'EOF' || t_fail "train.py --cpu-seconds 1 did not stop at its budget"
import re, sys
m = re.search(r"training done: (\d+) steps.*; (\d+) s in training steps", open(sys.argv[1]).read())
assert m, "no 'training done' line"
steps, cpu = int(m.group(1)), int(m.group(2))
assert 2 < steps < 20000 and cpu >= 1, (steps, cpu)
print("--cpu-seconds 1: stopped after %d steps" % steps)
EOF
if [ -x "$BUILD/logits" ]; then
    printf '0 5 17 200 399 3 3 3 42 7 0 100 250 12 13 14 15 16 300 1\n' > "$W/m2.tokens"
    if ! "$PYTHON" tools/convert.py "$W/ckpt2" "$W/m2.mamba" > "$W/conv2.txt" 2>&1; then
        t_fail "convert.py on the Mamba-2 checkpoint: $(tail -n 1 "$W/conv2.txt")"
    elif ! "$PYTHON" tools/reference.py "$W/ckpt2" --tokens-file "$W/m2.tokens" --out "$W/m2.ref" 2> "$W/err"; then
        t_fail "reference.py on the Mamba-2 checkpoint: $(tail -n 1 "$W/err")"
    elif ! OMP_NUM_THREADS=1 "$BUILD/logits" "$W/m2.mamba" --tokens-file "$W/m2.tokens" --out "$W/m2.c" \
            > "$W/err" 2>&1; then
        t_fail "logits on the converted Mamba-2 model: $(tail -n 1 "$W/err")"
    elif "$PYTHON" tools/compare_logits.py "$W/m2.ref" "$W/m2.c" --vocab 400 --quiet > "$W/cmp" 2>&1; then
        echo "t_train_smoke: trained Mamba-2 -> convert.py -> C vs reference.py: $(tail -n 1 "$W/cmp")"
    else
        t_fail "trained Mamba-2: C logits differ from reference.py: $(tail -n 2 "$W/cmp" | tr '\n' ' ')"
    fi
else
    t_fail "$BUILD/logits is missing (run make)"
fi
t_end "ok (Mamba-1 and Mamba-2)"
