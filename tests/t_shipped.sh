#!/bin/sh
# The shipped models (models/*.mamba): each has its card in models/README.md
# (a "# NAME.mamba — model card" heading, and no card without its file), loads,
# and its C logits on a short TinyStories text (a committed excerpt,
# tests/data/tok/tinystories__27_0.in) match the float64 reference
# (tools/reference.py through tests/convert/golden_check.py reference_model,
# run on the weights as stored in the file: f16 widened by numpy, no C code)
# within 1e-4 of each row's largest |logit|, with the same argmax in every row
# (tools/compare_logits.py). The tokens come from build/tokenize with the
# file's own tokenizer, after id 0 (<|endoftext|>, the start of a document as
# the models were trained). Then `make run MODEL=models/NAME.mamba` must tell a
# story (at least 20 words).
#   env: PYTHON, BUILD
. tests/lib.sh
t_tmp
for p in logits tokenize generate; do
    [ -x "$BUILD/$p" ] || { t_fail "$BUILD/$p is missing (run make)"; t_end "-"; }
done
"$PYTHON" -c "import numpy" 2>/dev/null || t_skip_test "the shipped models against the reference" \
    "no numpy for $PYTHON: apt-get install python3-numpy"

# cards and files name each other
sed -n 's/^# \([A-Za-z0-9._-]*\.mamba\) — model card$/\1/p' models/README.md | sort >"$TMP/cards"
(cd models && ls -- *.mamba) | sort >"$TMP/files"
if ! cmp -s "$TMP/cards" "$TMP/files"; then
    t_fail "models/*.mamba and the cards in models/README.md differ: files $(tr '\n' ' ' <"$TMP/files")cards $(tr '\n' ' ' <"$TMP/cards")"
fi
[ -s "$TMP/files" ] || t_fail "no models/*.mamba"

head -c 400 tests/data/tok/tinystories__27_0.in >"$TMP/text.txt"
n=0
done_names=""
while read -r f; do
    m=models/$f
    name=${f%.mamba}
    if ! "$BUILD/tokenize" "$m" <"$TMP/text.txt" >"$TMP/$name.ids" 2>"$TMP/err"; then
        t_fail "$m: tokenize: $(tail -n 1 "$TMP/err")"; continue
    fi
    { printf '0 '; cat "$TMP/$name.ids"; } >"$TMP/$name.tokens"
    if ! OMP_NUM_THREADS=1 "$BUILD/logits" "$m" --tokens-file "$TMP/$name.tokens" --out "$TMP/$name.c" \
            >"$TMP/err" 2>&1; then
        t_fail "$m does not load or run: $(tail -n 1 "$TMP/err")"; continue
    fi
    if ! "$PYTHON" - "$m" "$TMP/$name.tokens" "$TMP/$name.ref" >"$TMP/vocab" 2>"$TMP/err" <<'PY'
import sys
sys.path.insert(0, "tests/convert")
import numpy as np
from golden_check import reference_model
path, toks, out = sys.argv[1:4]
h, model = reference_model(path)
rows = [model.step(int(t)) for t in open(toks).read().split()]
np.array(rows, dtype="<f4").tofile(out)
print(len(rows[0]), h["arch"])
PY
    then
        t_fail "$m: the reference: $(tail -n 1 "$TMP/err")"; continue
    fi
    read -r vocab arch <"$TMP/vocab"
    if "$PYTHON" tools/compare_logits.py "$TMP/$name.ref" "$TMP/$name.c" --vocab "$vocab" --quiet \
            >"$TMP/cmp" 2>&1; then
        echo "t_shipped: $m (arch $arch, $(wc -w <"$TMP/$name.tokens") tokens): $(tail -n 1 "$TMP/cmp")"
    else
        t_fail "$m: C logits differ from the reference: $(tail -n 2 "$TMP/cmp" | tr '\n' ' ')"; continue
    fi
    # the README's `make run MODEL=...` (the programs are built: this only runs generate)
    if ! make -s --no-print-directory run MODEL="$m" BUILD="$BUILD" >"$TMP/$name.story" 2>"$TMP/err"; then
        t_fail "make run MODEL=$m failed: $(tail -n 1 "$TMP/err")"; continue
    fi
    words=$(wc -w <"$TMP/$name.story")
    if [ "$words" -lt 20 ]; then t_fail "make run MODEL=$m printed $words words"; continue; fi
    echo "t_shipped: make run MODEL=$m: $words words: $(head -c 70 "$TMP/$name.story" | tr '\n' ' ')..."
    n=$((n + 1))
    done_names="$done_names $f"
done <"$TMP/files"
t_end "$n shipped model(s) ($done_names ) load, match the float64 reference, tell a story"
