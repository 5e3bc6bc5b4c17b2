#!/bin/sh
# Golden-logit test: every checkpoint in tests/data/ckpt is converted with
# tools/convert.py, run token by token with build/logits from a zero state,
# and compared with the float64 numpy reference's logits in tests/data/golden
# (made by tools/make_testdata.py). Run from the repo root; needs no torch.
#   env: PYTHON (default /usr/bin/python3), BUILD (default build)
. tests/lib.sh
DATA=tests/data

# first make sure the reference itself is right (its torch cross-check needs torch)
"$PYTHON" tools/test_reference.py || { echo "t_golden: FAIL: tools/test_reference.py"; exit 1; }
if ! t_have_torch; then
    t_skip "the reference's torch float64 cross-check" "no torch for $PYTHON: apt-get install python3-torch"
fi

if [ ! -f tools/convert.py ]; then echo "t_golden: FAIL: tools/convert.py missing"; exit 1; fi
if [ ! -x "$BUILD/logits" ]; then echo "t_golden: FAIL: $BUILD/logits missing (make)"; exit 1; fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/t_golden.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

fail=0
count=0
for dir in "$DATA"/ckpt/*/; do
    name=$(basename "$dir")
    gold="$DATA/golden/$name.logits"
    toks="$DATA/golden/$name.tokens"
    count=$((count + 1))
    if ! "$PYTHON" tools/convert.py "$DATA/ckpt/$name" "$TMP/$name.mamba" >"$TMP/$name.log" 2>&1; then
        echo "$name: FAIL: convert.py: $(tail -n 1 "$TMP/$name.log")"; fail=1; continue
    fi
    if ! "$BUILD/logits" "$TMP/$name.mamba" --tokens-file "$toks" --out "$TMP/$name.out" \
            >"$TMP/$name.log" 2>&1; then
        echo "$name: FAIL: logits: $(tail -n 1 "$TMP/$name.log")"; fail=1; continue
    fi
    # row width = golden floats / golden rows
    rows_opt=""
    if [ -f "$DATA/golden/$name.rows" ]; then
        nrows=$(wc -w < "$DATA/golden/$name.rows")
        rows_opt="--rows $DATA/golden/$name.rows"
    else
        nrows=$(wc -w < "$toks")
    fi
    vocab=$(( $(wc -c < "$gold") / 4 / nrows ))
    # shellcheck disable=SC2086
    if out=$("$PYTHON" tools/compare_logits.py "$gold" "$TMP/$name.out" --vocab "$vocab" $rows_opt --quiet); then
        echo "$name: $out"
    else
        echo "$name: $out"; fail=1
    fi
done

if [ "$count" -eq 0 ]; then echo "t_golden: FAIL: no checkpoints in $DATA/ckpt"; exit 1; fi
[ "$fail" -eq 0 ] || t_fail "see above"
t_end "all $count checkpoints match"
