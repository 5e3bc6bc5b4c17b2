#!/bin/sh
# tools/convert.py: every error case exits 1 with its one-line message, and
# good checkpoints in the published layouts convert and read back.
# Run from the repo root: sh tests/t_convert_errors.sh   (env PYTHON)
. tests/lib.sh
t_tmp
T=$TMP
MK="$PYTHON tests/convert/mkckpt.py"
CV="$PYTHON tools/convert.py"
CHECK="$PYTHON tests/convert/check.py"
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_error NAME "MESSAGE FRAGMENT" convert-args...
expect_error() {
    name=$1; msg=$2; shift 2
    $CV "$@" >"$T/out" 2>"$T/err"
    rc=$?
    lines=$(wc -l <"$T/err")
    if [ "$rc" -ne 1 ]; then
        bad "$name: exit status $rc, expected 1"; cat "$T/err"
    elif ! grep -F -q -- "$msg" "$T/err"; then
        bad "$name: stderr lacks '$msg':"; cat "$T/err"
    elif [ "$lines" -ne 1 ]; then
        bad "$name: $lines lines on stderr, expected 1:"; cat "$T/err"
    else
        ok
    fi
}

# expect_ok NAME convert-args... ; then check.py with header fields
convert_ok() {
    name=$1; shift
    if $CV "$@" >"$T/out" 2>"$T/err"; then ok; else bad "$name: convert failed"; cat "$T/err"; fi
}
check_ok() {
    name=$1; shift
    if $CHECK "$@"; then ok; else bad "$name: read-back differs"; fi
}

# ---- error cases
expect_error missing-dir "checkpoint directory $T/nope does not exist" "$T/nope" "$T/x.mamba"
$MK "$T/noconf" hf --break no-config
expect_error missing-config "missing $T/noconf/config.json" "$T/noconf" "$T/x.mamba"
$MK "$T/nowts" hf --break no-weights
expect_error missing-weights "no weights in $T/nowts" "$T/nowts" "$T/x.mamba"
$MK "$T/mt" hf --break model-type
expect_error model-type "unknown model_type 'mamba3'" "$T/mt" "$T/x.mamba"
$MK "$T/arch" hf --break architecture
expect_error architecture "unknown architecture LlamaForCausalLM" "$T/arch" "$T/x.mamba"
$MK "$T/miss" hf --break missing-tensor
expect_error missing-tensor "missing tensor backbone.layers.1.mixer.x_proj.weight" "$T/miss" "$T/x.mamba"
$MK "$T/shape" hf --break misshapen
expect_error misshapen "misshapen tensor backbone.layers.1.mixer.out_proj.weight: expected (16, 32), got (16, 33)" \
    "$T/shape" "$T/x.mamba"
$MK "$T/good" hf
expect_error unknown-dtype "unknown dtype 'f8'" "$T/good" "$T/x.mamba" --dtype f8
expect_error override-role "unknown role 'bogus'" "$T/good" "$T/x.mamba" --override bogus=f16
expect_error override-f32-only "A must be f32" "$T/good" "$T/x.mamba" --override A=bf16
$MK "$T/hdr" hf --break bad-header
expect_error bad-header "bad safetensors header" "$T/hdr" "$T/x.mamba"
$MK "$T/i8" hf --break bad-dtype
expect_error safetensors-dtype "unsupported dtype I32" "$T/i8" "$T/x.mamba"
$MK "$T/dis" hf --break config-disagrees
expect_error config-disagrees "says state_size=8 but backbone.layers.0.mixer.A_log gives 4" "$T/dis" "$T/x.mamba"
$MK "$T/bias" hf --break bias-disagrees
expect_error bias-disagrees "missing tensor backbone.layers.0.mixer.in_proj.bias" "$T/bias" "$T/x.mamba"
expect_error no-tokenizer-file "tokenizer $T/none.json does not exist" "$T/good" "$T/x.mamba" --tokenizer "$T/none.json"
# a pytorch_model.bin whose pickle would run a command: refused, nothing run (tools/torchzip.py)
mkdir -p "$T/evil" && cp tests/data/ckpt/ss_basic/config.json "$T/evil/"
$PYTHON - "$T/evil" <<'EOF'
import os, pickle, sys, zipfile
class Evil(object):
    def __reduce__(self):
        return (os.system, ("touch %s/ran" % sys.argv[1],))
with zipfile.ZipFile(sys.argv[1] + "/pytorch_model.bin", "w") as z:
    z.writestr("archive/data.pkl", pickle.dumps({"x": Evil()}, protocol=2))
EOF
expect_error evil-pickle "posix.system is not something a state dict holds (refused)" "$T/evil" "$T/x.mamba"
if [ -e "$T/evil/ran" ]; then bad "the checkpoint's pickle ran a command"; else ok; fi
if [ -e "$T/x.mamba" ]; then bad "an output file was left behind by a failed conversion"; else ok; fi

# ---- good checkpoints: convert, read back, compare with the source tensors
convert_ok hf-f32 "$T/good" "$T/good.mamba"
check_ok hf-f32 "$T/good.mamba" "$T/good" arch=1 flags=1 d_model=16 n_layer=2 d_inner=32 d_state=4 \
    d_conv=4 dt_rank=1 n_vocab_padded=56 n_vocab=56 eos_id=0 bos_id=0 pad_id=0 mixer_rms_eps=0.0 \
    norm_eps=1e-05 tokenizer_bytes=0
# the checker itself must be able to fail
if $CHECK "$T/good.mamba" "$T/good" n_vocab=57 >/dev/null; then bad "check.py accepted a wrong header"; else ok; fi
$MK "$T/other" hf --seed 2
if $CHECK "$T/good.mamba" "$T/other" >/dev/null; then bad "check.py accepted other tensors"; else ok; fi

convert_ok hf-f16 "$T/good" "$T/good16.mamba" --dtype f16 --no-tokenizer
check_ok hf-f16 "$T/good16.mamba" "$T/good" arch=1 flags=1
convert_ok hf-bf16 "$T/good" "$T/goodbf.mamba" --dtype bf16 --override x_proj=f32
check_ok hf-bf16 "$T/goodbf.mamba" "$T/good" arch=1 flags=1

# falcon_mamba, sharded bf16 safetensors, untied lm_head, in/out_proj biases
$MK "$T/falcon" falcon --shards --dtype BF16 --untied --bias
convert_ok falcon "$T/falcon" "$T/falcon.mamba"
check_ok falcon "$T/falcon.mamba" "$T/falcon" arch=2 flags=15 mixer_rms_eps=1e-06 n_vocab=56

# n_vocab and eos from a tokenizer.json in the checkpoint (50 ids, <|endoftext|> = 49)
$PYTHON - "$T/good/tokenizer.json" <<'EOF'
import json, sys
vocab = {chr(97 + i % 26) * (1 + i // 26): i for i in range(48)}
json.dump({"version": "1.0", "model": {"type": "BPE", "vocab": vocab, "merges": []},
           "added_tokens": [{"id": 48, "content": "<|padding|>", "special": True},
                            {"id": 49, "content": "<|endoftext|>", "special": True}]},
          open(sys.argv[1], "w"))
EOF
convert_ok hf-tokenizer "$T/good" "$T/tok.mamba" --no-tokenizer
check_ok hf-tokenizer "$T/tok.mamba" "$T/good" n_vocab=50 eos_id=0 tokenizer_bytes=0

# tokenizer packing (tools/tokpack.py): implicit failure warns, explicit failure is an error
$PYTHON - "$T/badtok.json" <<'EOF'
import json, sys
json.dump({"version": "1.0", "model": {"type": "WordLevel", "vocab": {"a": 0}}}, open(sys.argv[1], "w"))
EOF
if [ -f tools/tokpack.py ]; then
    expect_error tokenizer-explicit "cannot pack tokenizer $T/badtok.json" "$T/good" "$T/x.mamba" --tokenizer "$T/badtok.json"
    # a byte-level BPE tokenizer packs; the section must be exactly pack_tokenizer()'s bytes
    $PYTHON - "$T/good/tokenizer.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
t["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
t["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
json.dump(t, open(sys.argv[1], "w"))
EOF
    convert_ok hf-packed "$T/good" "$T/packed.mamba"
    if $PYTHON - "$T/packed.mamba" "$T/good/tokenizer.json" <<'EOF'
import sys
sys.path.insert(0, "tools")
import mambafile, tokpack
h, t = mambafile.read(sys.argv[1])
want = tokpack.pack_tokenizer(sys.argv[2])
sys.exit(0 if h["tokenizer"] == want and h["tokenizer_offset"] % 8 == 0 and h["n_vocab"] == 50 else 1)
EOF
    then ok; else bad "tokenizer section differs from pack_tokenizer()"; fi
    check_ok hf-packed "$T/packed.mamba" "$T/good" n_vocab=50
else
    expect_error tokenizer-explicit "tokpack.py is not available" "$T/good" "$T/x.mamba" --tokenizer "$T/badtok.json"
fi

# the test checkpoints of tools/make_testdata.py (real layouts): convert, then run the
# converted file through the float64 reference and compare with the golden logits
for dir in tests/data/ckpt/*/; do
    [ -d "$dir" ] || continue
    ck=$(basename "$dir")
    convert_ok "data-$ck" "$dir" "$T/$ck.mamba"
    if $PYTHON tests/convert/golden_check.py "$T/$ck.mamba" "$ck" >"$T/gc" 2>&1; then ok
    else bad "data-$ck: reference on the converted file differs from golden:"; cat "$T/gc"; fi
done
convert_ok data-bf16 tests/data/ckpt/hf_bias_untied "$T/hbu.mamba" --dtype bf16
if $PYTHON tests/convert/golden_check.py "$T/hbu.mamba" hf_bias_untied 0.15 >"$T/gc" 2>&1; then ok
else bad "data-bf16: reference on the bf16 file is off:"; cat "$T/gc"; fi

# state-spaces layout (pytorch_model.bin, tied lm_head saved alongside): needs torch
if t_have_torch; then
    # tools/torchzip.py (no torch) reads what torch.load reads: f32, f16, bf16, views with offsets
    if $PYTHON - "$T" <<'EOF'
import sys
import numpy as np
import torch
sys.path.insert(0, "tools")
import torchzip
t = {"f32": torch.randn(5, 7), "bf16": torch.randn(5, 7).to(torch.bfloat16), "f16t": torch.randn(4, 6).half().t(),
     "slice": torch.randn(10)[2:8], "scalar": torch.tensor(3.0)}
torch.save(t, sys.argv[1] + "/t.bin")
paths = [sys.argv[1] + "/t.bin"] + ["tests/data/ckpt/%s/pytorch_model.bin" % c for c in ("ss_basic", "ss_long")]
for p in paths:
    got, want = torchzip.read(p), torch.load(p, map_location="cpu")
    assert set(got) == set(want), p
    for k, v in want.items():
        assert np.array_equal(np.asarray(got[k]), v.float().numpy()), (p, k)
EOF
    then ok; else bad "tools/torchzip.py reads other tensors than torch.load"; fi
    $MK "$T/ss" ss
    cp "$T/good/tokenizer.json" "$T/ss/"
    convert_ok ss "$T/ss" "$T/ss.mamba" --dtype bf16 --no-tokenizer
    check_ok ss "$T/ss.mamba" "$T/ss" arch=1 flags=1 n_vocab=50 n_vocab_padded=56 eos_id=49 bos_id=-1
    $MK "$T/ss2" ss --untied --bias --seed 3
    convert_ok ss-untied "$T/ss2" "$T/ss2.mamba"
    check_ok ss-untied "$T/ss2.mamba" "$T/ss2" arch=1 flags=15 n_vocab=50 eos_id=0
else
    t_skip "converting checkpoints written by torch.save (state-spaces layout)" "no torch for $PYTHON: apt-get install python3-torch"
fi

[ "$fail" -eq 0 ] || t_fail "$fail of $((pass + fail)) checks"
t_end "$pass passed, $fail failed"
