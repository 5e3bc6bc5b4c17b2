#!/bin/sh
# fuzz/fuzz.sh - build every fuzz/fuzz_*.c harness with clang's libFuzzer
# (+ AddressSanitizer + UndefinedBehaviorSanitizer), replay the committed
# corpus and every file in fuzz/regressions/, then fuzz each harness for
# FUZZ_SECONDS seconds. Exits non-zero on any crash, hang, leak or OOM.
#
#   env: FUZZ_SECONDS  seconds of fuzzing per harness (default 180; 0 = replay only)
#        FUZZ_CC       clang (default clang)
#        BUILD         build directory (default build)
#        FUZZ_MERGE=1  merge the new interesting inputs back into
#                      fuzz/corpus/<harness>/ (libFuzzer -merge=1, which keeps
#                      only inputs that add coverage)
#        FUZZ_ONLY     run only this harness (e.g. fuzz_model)
#        FUZZ_OUT      where binaries, logs and scratch corpora go (default $BUILD/fuzz)
#
# Output per harness: one line "name: execs N, cov N, ft N, corpus N" taken
# from libFuzzer's -print_final_stats=1 and its last status line; the full
# logs are in $BUILD/fuzz/<name>.log, crashing inputs in $BUILD/fuzz/artifacts/.
# Exit code 77 (not an error for tests/t_fuzz.sh): the fuzzer runtime is missing.
FUZZ_SECONDS=${FUZZ_SECONDS:-180}
FUZZ_CC=${FUZZ_CC:-clang}
BUILD=${BUILD:-build}
OUT=${FUZZ_OUT:-$BUILD/fuzz}
FLAGS="-g -O1 -std=c99 -Wall -Wextra -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

mkdir -p "$OUT/artifacts" || exit 1
# Is the libFuzzer runtime there? (Debian ships it with clang; other
# distributions split it into a separate package.)
if ! command -v "$FUZZ_CC" >/dev/null 2>&1 ||
   ! printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}\n' |
     "$FUZZ_CC" -fsanitize=fuzzer,address,undefined -x c - -o "$OUT/probe" >/dev/null 2>&1; then
    echo "fuzz: SKIP: $FUZZ_CC with -fsanitize=fuzzer is not available (install clang with its libFuzzer runtime)"
    exit 77
fi

# fixed data for fuzz_tokenizer: the GPT-NeoX tokenizer packed (or, without
# it, the small one), and a small section trained on the test texts
TOKJSON=${MAMBA_FUZZ_TOKENIZER_JSON:-tests/data/tok/neox/tokenizer.json}
PYTHON=${PYTHON:-/usr/bin/python3}
if [ ! -s "$OUT/tokenizer_small.bin" ]; then
    "$PYTHON" - "$OUT/tokin.txt" <<'PY' || exit 1
import glob, sys
with open(sys.argv[1], "w", encoding="utf-8") as out:
    for f in sorted(glob.glob("tests/data/tok/*.in")):
        try:
            out.write(open(f, "rb").read().decode("utf-8"))
        except UnicodeDecodeError:
            pass  # the invalid-UTF-8 cases cannot train a tokenizer
PY
    "$PYTHON" tools/train_bpe.py --vocab-size 320 --out "$OUT/tokenizer_small.json" "$OUT/tokin.txt" >"$OUT/train_bpe.log" 2>&1 &&
    "$PYTHON" tools/tokpack.py "$OUT/tokenizer_small.json" "$OUT/tokenizer_small.bin" >/dev/null || exit 1
fi
if [ ! -s "$OUT/tokenizer.bin" ]; then
    if [ -f "$TOKJSON" ]; then "$PYTHON" tools/tokpack.py "$TOKJSON" "$OUT/tokenizer.bin" >/dev/null || exit 1
    else cp "$OUT/tokenizer_small.bin" "$OUT/tokenizer.bin"; fi
fi
# the other designs: Mistral v3 (SentencePiece-style, byte fallback), cl100k
# (GPT-4 regex), and a small SentencePiece-style section to damage
# (tests/data/tok/small_sp: the first 600 ids of Mistral v1 and their merges)
for pair in sp:mistral_v3 split:cl100k; do
    name=${pair%%:*} dir=${pair#*:}
    if [ ! -s "$OUT/tokenizer_$name.bin" ]; then
        "$PYTHON" tools/tokpack.py "tests/data/tok/$dir/tokenizer.json" "$OUT/tokenizer_$name.bin" >/dev/null || exit 1
    fi
done
if [ ! -s "$OUT/tokenizer_small_sp.bin" ]; then
    "$PYTHON" tools/tokpack.py tests/data/tok/small_sp/tokenizer.json "$OUT/tokenizer_small_sp.bin" >/dev/null || exit 1
fi
export MAMBA_FUZZ_TOKENIZER="$OUT/tokenizer.bin" MAMBA_FUZZ_TOKENIZER_SMALL="$OUT/tokenizer_small.bin"
export MAMBA_FUZZ_TOKENIZER_SP="$OUT/tokenizer_sp.bin" MAMBA_FUZZ_TOKENIZER_SPLIT="$OUT/tokenizer_split.bin"
export MAMBA_FUZZ_TOKENIZER_SMALL_SP="$OUT/tokenizer_small_sp.bin"

fail=0
for src in fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    [ -n "$FUZZ_ONLY" ] && [ "$FUZZ_ONLY" != "$name" ] && continue
    bin="$OUT/$name"
    if ! $FUZZ_CC $FLAGS "$src" -o "$bin" -lm >"$OUT/$name.build.log" 2>&1; then
        echo "$name: FAIL: build"; cat "$OUT/$name.build.log"; fail=1; continue
    fi
    corpus="fuzz/corpus/$name"
    mkdir -p "$corpus"
    # 1. replay: every committed input, including the regressions found so far
    regs=""
    [ -d "fuzz/regressions/$name" ] && regs=$(find "fuzz/regressions/$name" -type f | sort)
    # shellcheck disable=SC2046
    if ! "$bin" -runs=0 -timeout=10 $(find "$corpus" -type f | sort) $regs >"$OUT/$name.replay.log" 2>&1; then
        echo "$name: FAIL: replaying the corpus and regressions (see $OUT/$name.replay.log)"
        tail -n 30 "$OUT/$name.replay.log"; fail=1; continue
    fi
    nrep=$(grep -a -c "^Running: " "$OUT/$name.replay.log")
    [ "$FUZZ_SECONDS" -gt 0 ] || { echo "$name: replayed $nrep inputs"; continue; }
    # 2. fuzz from a scratch copy of the corpus (the committed one stays small)
    work="$OUT/work/$name"
    mkdir -p "$work"
    cp "$corpus"/* "$work"/ 2>/dev/null
    [ -n "$regs" ] && cp $regs "$work"/
    if ! "$bin" "$work" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
            -malloc_limit_mb=1024 -artifact_prefix="$OUT/artifacts/$name-" >"$OUT/$name.log" 2>&1; then
        echo "$name: FAIL: libFuzzer found a problem (log $OUT/$name.log; input in $OUT/artifacts/)"
        grep -a -E "ERROR|SUMMARY|Test unit written" "$OUT/$name.log" | head -n 10
        fail=1; continue
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$name.log" | tail -n 1)
    last=$(grep -a -E "^#[0-9]+" "$OUT/$name.log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    crp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    echo "$name: replayed $nrep, ${FUZZ_SECONDS}s: execs $execs, cov $cov, ft $ft, corpus $crp"
    if [ "$FUZZ_MERGE" = 1 ]; then
        "$bin" -merge=1 "$corpus" "$work" >"$OUT/$name.merge.log" 2>&1 || { echo "$name: FAIL: merge"; fail=1; }
        echo "$name: corpus now $(ls "$corpus" | wc -l) files, $(du -sk "$corpus" | cut -f1) KB"
    fi
done
exit $fail
