#!/bin/sh
# make bench: the speed table of mamba.h beside the machine's limits.
# Generates (once; not committed) a random model with mamba-130m's shapes in
# every dtype under $BUILD, runs build/bench on each at 1 and 2 threads, then
# on the shipped model if it exists. Numbers are medians of $ROUNDS rounds,
# each round re-measuring the bandwidth and FMA peak beside the model.
# Then the same for Mamba-2: mamba2-130m's shapes in every dtype and
# mamba2-780m's (whose weights do not fit in the last-level cache) in
# $M2_BIG_DTYPES; MAMBA2=0 leaves them out.
#   env: PYTHON, BUILD (build), BENCH_ARGS (extra args for build/bench),
#        DTYPES (f32 f16 bf16 q8), THREADS (1 2), MODEL (models/tinystories.mamba),
#        MAMBA2 (1), M2_BIG_DTYPES (f16)
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=${BUILD:-build}
DTYPES=${DTYPES:-f32 f16 bf16 q8}
THREADS=${THREADS:-1 2}
MODEL=${MODEL:-models/tinystories.mamba}
BENCH_ARGS=${BENCH_ARGS:-}
PREFIX="$BUILD/bench130m"

missing=""
for d in $DTYPES; do [ -f "$PREFIX-$d.mamba" ] || missing="$missing,$d"; done
if [ -n "$missing" ]; then
    echo "bench: generating the mamba-130m-shaped random model ($PREFIX-*.mamba)"
    "$PYTHON" tools/make_bench_model.py "$PREFIX" --dtype "${missing#,}" || exit 1
fi

LOG="$BUILD/bench.log"
: > "$LOG"
run() { # model threads
    # shellcheck disable=SC2086
    "$BUILD/bench" "$1" --threads "$2" $BENCH_ARGS > "$BUILD/bench.out" 2>&1 || { cat "$BUILD/bench.out"; exit 1; }
    cat "$BUILD/bench.out" >> "$LOG"
    grep '^row:' "$BUILD/bench.out" | sed 's/^row: *//'
}
header() {
    echo "| $1 | threads | prompt tok/s | decode tok/s | MB/token | % of bandwidth | bandwidth GB/s | % of FMA peak (prompt) | FMA peak GFLOP/s | VmHWM MB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}

echo
echo "mamba-130m shapes (random weights), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'), $(nproc 2>/dev/null) cores"
header dtype
for t in $THREADS; do
    for d in $DTYPES; do run "$PREFIX-$d.mamba" "$t"; done
done
if [ "${MAMBA2:-1}" != 0 ]; then
    for shapes in mamba2-130m mamba2-780m; do
        P2="$BUILD/bench$(echo "$shapes" | tr -d -)"
        dts=$DTYPES
        [ "$shapes" = mamba2-780m ] && dts=${M2_BIG_DTYPES:-f16}
        missing=""
        for d in $dts; do [ -f "$P2-$d.mamba" ] || missing="$missing,$d"; done
        if [ -n "$missing" ]; then
            echo "bench: generating the $shapes-shaped random model ($P2-*.mamba)"
            "$PYTHON" tools/make_bench_model.py "$P2" --shape "$shapes" --dtype "${missing#,}" || exit 1
        fi
        echo
        echo "Mamba-2: $shapes shapes (random weights)"
        header dtype
        for t in $THREADS; do
            for d in $dts; do run "$P2-$d.mamba" "$t"; done
        done
    done
fi
if [ -f "$MODEL" ]; then
    echo
    echo "shipped model $MODEL"
    header dtype
    for t in $THREADS; do run "$MODEL" "$t"; done
else
    echo
    echo "($MODEL does not exist: skipped)"
fi

# busy neighbour: a CPU-bound process pinned to one core while the same runs use
# 1 and 2 threads (issue 19: 2 threads must never be slower than 1 here). The
# shipped model and the f16 mamba-130m shapes; BUSY=0 leaves these rows out.
if [ "${BUSY:-1}" != 0 ] && command -v taskset >/dev/null 2>&1 && [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]; then
    echo
    echo "busy neighbour: awk 'BEGIN { for (;;); }' pinned to core 1 (taskset -c 1) during these runs"
    header model
    for m in "$MODEL" "$PREFIX-f16.mamba"; do
        [ -f "$m" ] || continue
        for t in 1 2; do
            taskset -c 1 awk 'BEGIN { for (;;); }' &
            hog=$!
            row=$(run "$m" "$t")
            kill "$hog"; wait "$hog" 2>/dev/null
            echo "$row" | sed "s/^| /| $(basename "$m"), busy: /"
        done
    done
fi
echo
echo "full output of every run: $LOG"
