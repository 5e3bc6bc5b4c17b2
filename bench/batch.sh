#!/bin/sh
# make bench-batch: batched decoding (mamba_step_batch) of N = 1, 2, 4, 8,
# 16, 32 sequences on the mamba-130m- and mamba-790m-shaped random models in
# every dtype, beside the machine's limits (read bandwidth, FMA peak) that
# build/bench --batch measures in the same process, and beside llama.cpp's
# parallel decoding of the same weights (llama-batched-bench: N sequences of
# one prompt token each, then GEN tokens each) when LLAMA_BATCHED_BENCH names
# its binary. One thread each.
# Figures: tokens/s summed over the N sequences, medians (min-max) over
# ROUNDS rounds, by the CPU time the process got (the host is shared: a
# neighbour on the core stretches the wall clock, not the CPU time); "xN=1"
# is the gain over one sequence within each round. llama.cpp's: its own
# S_TG (N x GEN decoded tokens over their wall time), by the wall clock and
# over the share of a core its process got (one process per N).
#   env: PYTHON, BUILD (build), SHAPES (130m 790m), DTYPES (f32 f16 bf16 q8 q4_0 q4_k),
#        NMAX (32), GEN (16), ROUNDS (3), MODEL_DIR ($BUILD): bench<shape>-<dtype>.mamba
#        (made by tools/make_bench_model.py when missing), GGUF_DIR ($BUILD):
#        bench<shape>-<f32|f16|bf16|q8_0|q4_0|q4_k>.gguf (README, "Speed"; a missing one: n/a),
#        LLAMA_BATCHED_BENCH (its binary; none: the llama.cpp columns say n/a).
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=${BUILD:-build}
SHAPES=${SHAPES:-130m 790m}
DTYPES=${DTYPES:-f32 f16 bf16 q8 q4_0 q4_k}
NMAX=${NMAX:-32}
GEN=${GEN:-16}
ROUNDS=${ROUNDS:-3}
MODEL_DIR=${MODEL_DIR:-$BUILD}
GGUF_DIR=${GGUF_DIR:-$BUILD}
LLAMA_BATCHED_BENCH=${LLAMA_BATCHED_BENCH:-}
LOG="$BUILD/bench-batch.log"
: > "$LOG"

for shape in $SHAPES; do
    missing=""
    P="$MODEL_DIR/bench$shape"
    for d in $DTYPES; do
        case $d in q4_0|iq4_nl|q4_k) [ -f "$P-$d.mamba" ] || [ -f "$P-f32.mamba" ] || missing="$missing,f32" ;;
                   *) [ -f "$P-$d.mamba" ] || missing="$missing,$d" ;; esac
    done
    if [ -n "$missing" ]; then
        echo "bench-batch: generating the mamba-$shape-shaped random model ($P-*.mamba)"
        "$PYTHON" tools/make_bench_model.py "$P" --shape "$shape" --dtype "${missing#,}" || exit 1
    fi
    for d in $DTYPES; do # the 4-bit types from the f32 weights (tools/requant.py)
        case $d in q4_0|iq4_nl|q4_k) [ -f "$P-$d.mamba" ] ||
            "$PYTHON" tools/requant.py "$P-f32.mamba" "$P-$d.mamba" --dtype "$d" >/dev/null || exit 1 ;; esac
    done
done
gguf_type() { case $1 in q8) echo q8_0 ;; *) echo "$1" ;; esac; }

# llama-batched-bench GGUF N -> "tok/s-per-CPU-s tok/s-wall share", or "n/a": one process per N
# (N sequences of one prompt token each, then GEN decoded tokens each). The wall figure is its
# own S_TG (speed_tg: N x GEN tokens over the decode's wall time); the CPU figure is S_TG over
# the share of a core the process got (its CPU time over its wall time, `times` of the children
# around it; at most 1), the same correction as the CPU figures of build/bench.
theirs() {
    if [ -z "$LLAMA_BATCHED_BENCH" ] || [ ! -x "$LLAMA_BATCHED_BENCH" ] || [ ! -f "$1" ]; then echo "n/a"; return; fi
    times > "$BUILD/times.0"
    w0=$(date +%s.%N)
    "$LLAMA_BATCHED_BENCH" -m "$1" -t 1 -tb 1 -c 8192 -b 2048 -ub 512 -np "$2" -npp 1 -ntg "$GEN" -npl "$2" \
        --output-format jsonl > "$BUILD/llama-batch.out" 2>> "$LOG" || { echo "n/a"; return; }
    w1=$(date +%s.%N)
    times > "$BUILD/times.1"
    { echo "llama-batched-bench $1 -npl $2 -ntg $GEN:"; cat "$BUILD/llama-batch.out"; } >> "$LOG"
    "$PYTHON" - "$BUILD/llama-batch.out" "$(tail -n 1 "$BUILD/times.0")" "$(tail -n 1 "$BUILD/times.1")" "$w0" "$w1" <<'EOF'
import json, re, sys
path, t0, t1, w0, w1 = sys.argv[1:6]
def secs(s):  # the shell's `times` line of the children: "0m1.50s 0m0.20s"
    return sum(int(m) * 60 + float(x) for m, x in re.findall(r"(\d+)m([\d.]+)s", s))
tg = [json.loads(l)["speed_tg"] for l in open(path) if l.startswith("{")]
wall = float(w1) - float(w0)
share = min(1.0, (secs(t1) - secs(t0)) / wall) if wall > 0 else 0.0
print("%.2f %.2f %.2f" % (tg[-1] / share, tg[-1], share) if tg and share > 0 else "n/a")
EOF
}

echo
echo "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'), $(nproc 2>/dev/null) cores, $(date -u '+%Y-%m-%d %H:%M UTC');" \
     "1 thread, $GEN steps, medians (min-max) of $ROUNDS rounds, tokens/s summed over the N sequences"
echo
echo "| model | dtype | N | tok/s per CPU s | x N=1 | limit (CPU s) | tok/s wall | llama.cpp tok/s per CPU s (wall) | ours / llama.cpp | read GB/s, FMA GFLOP/s per CPU s | CPU/wall ours, llama.cpp |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for shape in $SHAPES; do
    for d in $DTYPES; do
        m="$MODEL_DIR/bench$shape-$d.mamba"
        "$BUILD/bench" "$m" --batch "$NMAX" --gen "$GEN" --rounds "$ROUNDS" > "$BUILD/bench-batch.out" 2>&1 ||
            { cat "$BUILD/bench-batch.out"; exit 1; }
        cat "$BUILD/bench-batch.out" >> "$LOG"
        grep '^batchrow:' "$BUILD/bench-batch.out" | while read -r _ n w wlo whi _ c clo chi q qlo qhi _ limc _ _ bwc fmac sh; do
            l=$(theirs "$GGUF_DIR/bench$shape-$(gguf_type "$d").gguf" "$n")
            echo "$shape $d $n $c $clo $chi $q $qlo $qhi $limc $w $wlo $whi $bwc $fmac $sh $l"
        done | awk '{
            if (NF >= 19) { lc = $17; lt = sprintf("%.1f (%.1f)", lc, $18)
                            r = lc > 0 ? sprintf("%.2f", $4 / lc) : "n/a"; ls = sprintf("%.2f", $19) }
            else { lt = "n/a"; r = "n/a"; ls = "n/a" }
            printf "| %s | %s | %d | %.1f (%.1f-%.1f) | %.2f (%.2f-%.2f) | %.1f | %.1f (%.1f-%.1f) | %s | %s | %.1f, %.0f | %.2f, %s |\n",
                   $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, lt, r, $14, $15, $16, ls }'
    done
done
echo
echo "(every figure's log: $LOG)"
