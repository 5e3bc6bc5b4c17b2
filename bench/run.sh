#!/bin/sh
# make bench: the speed table of mamba.h beside the machine's limits and
# beside llama.cpp, all measured in this one run.
# Generates (once; not committed) random models with mamba-130m's and
# mamba-790m's shapes in every dtype under $BUILD, runs build/bench on each
# at 1 and 2 threads (every run re-measures the read bandwidth, a triad and
# the FMA peak beside the model), then llama.cpp's llama-bench on GGUF files
# of the same weights when LLAMA_BENCH names it, then the shipped model and
# a busy-neighbour set (with build/busy: 2 threads against 1 call by call
# beside the same neighbour). Figures are medians of $ROUNDS rounds with their
# spread (min..max); "cores" is CPU time / wall time / threads: below 0.9
# another program held a core and the figure is not the machine's.
#   env: PYTHON, BUILD (build), BENCH_ARGS (extra args for build/bench),
#        SHAPES (130m 790m), DTYPES (f32 f16 bf16 q8), THREADS (1 2), ROUNDS (5),
#        PROMPT (512), GEN (64), MODEL (models/tinystories.mamba), BUSY (1),
#        LLAMA_BENCH (a llama-bench binary; none: its columns say "n/a"),
#        GGUF_DIR ($BUILD): where bench130m-f32.gguf ... bench790m-q8_0.gguf are,
#        MAMBA2 (1): also mamba2-130m's shapes in every dtype and mamba2-780m's
#        (whose weights do not fit in the last-level cache) in M2_BIG_DTYPES (f16).
# The GGUF files are made from the same weights with llama.cpp's own
# converter (README, "Speed"): make_bench_model.py --hf DIR writes the
# transformers checkpoint, then convert_hf_to_gguf.py DIR --outtype f32|f16|bf16|q8_0.
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=${BUILD:-build}
SHAPES=${SHAPES:-130m 790m}
DTYPES=${DTYPES:-f32 f16 bf16 q8}
THREADS=${THREADS:-1 2}
ROUNDS=${ROUNDS:-5}
PROMPT=${PROMPT:-512}
GEN=${GEN:-64}
MODEL=${MODEL:-models/tinystories.mamba}
BENCH_ARGS=${BENCH_ARGS:-}
GGUF_DIR=${GGUF_DIR:-$BUILD}
LLAMA_BENCH=${LLAMA_BENCH:-}

for shape in $SHAPES; do
    missing=""
    for d in $DTYPES; do [ -f "$BUILD/bench$shape-$d.mamba" ] || missing="$missing,$d"; done
    if [ -n "$missing" ]; then
        echo "bench: generating the mamba-$shape-shaped random model ($BUILD/bench$shape-*.mamba)"
        "$PYTHON" tools/make_bench_model.py "$BUILD/bench$shape" --shape "$shape" --dtype "${missing#,}" || exit 1
    fi
done

LOG="$BUILD/bench.log"
: > "$LOG"
# build/bench MODEL THREADS -> its row: line (fields: see bench.c)
ours() {
    # shellcheck disable=SC2086
    "$BUILD/bench" "$1" --threads "$2" --rounds "$ROUNDS" --prompt "$PROMPT" --gen "$GEN" $BENCH_ARGS \
        > "$BUILD/bench.out" 2>&1 || { cat "$BUILD/bench.out"; exit 1; }
    cat "$BUILD/bench.out" >> "$LOG"
    grep '^row:' "$BUILD/bench.out" | sed 's/^row: *//'
}
# llama-bench GGUF THREADS -> "pp_median pp_min pp_max tg_median tg_min tg_max share", or "n/a"
theirs() {
    if [ -z "$LLAMA_BENCH" ] || [ ! -x "$LLAMA_BENCH" ] || [ ! -f "$1" ]; then echo "n/a"; return; fi
    # `times` (the shell's own, so that no fork hides the child) before and after
    w0=$(date +%s.%N)
    times > "$BUILD/times.0"
    "$LLAMA_BENCH" -m "$1" -t "$2" -p "$PROMPT" -n "$GEN" -r "$ROUNDS" -o jsonl > "$BUILD/llama.out" 2>> "$LOG" ||
        { echo "n/a"; return; }
    times > "$BUILD/times.1"
    w1=$(date +%s.%N)
    c0=$(tail -n 1 "$BUILD/times.0")
    c1=$(tail -n 1 "$BUILD/times.1")
    { echo "llama-bench $1 -t $2:"; cat "$BUILD/llama.out"; } >> "$LOG"
    "$PYTHON" - "$BUILD/llama.out" "$2" "$w0" "$w1" "$c0" "$c1" <<'EOF'
import json, re, sys
path, threads, w0, w1, c0, c1 = sys.argv[1:7]
def secs(s):  # the shell's `times` line of the children: "0m1.50s 0m0.20s"
    return sum(int(m) * 60 + float(x) for m, x in re.findall(r"(\d+)m([\d.]+)s", s))
fig = {}
for line in open(path):
    r = json.loads(line)
    s = sorted(r.get("samples_ts") or [r["avg_ts"]])
    med = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    fig["pp" if r["n_prompt"] > 0 else "tg"] = (med, s[0], s[-1])
share = (secs(c1) - secs(c0)) / ((float(w1) - float(w0)) * int(threads))
pp, tg = fig.get("pp", (0, 0, 0)), fig.get("tg", (0, 0, 0))
print("%.1f %.1f %.1f %.2f %.2f %.2f %.2f" % (pp + tg + (share,)))
EOF
}
# one table row from our row: fields and theirs
line() { # label ours theirs
    echo "$2 | $3" | awk -v label="$1" '
    function sp(m, lo, hi, f) { return sprintf(f " (" f "-" f ")", m, lo, hi) }
    { split($0, h, "|"); n = split(h[1], a, " "); m = split(h[2], b, " ")
      pr = sp(a[3], a[4], a[5], "%.1f"); de = sp(a[6], a[7], a[8], "%.2f")
      if (m >= 7) { lp = sp(b[1], b[2], b[3], "%.1f"); ld = sp(b[4], b[5], b[6], "%.2f")
                    rp = b[1] > 0 ? sprintf("%.2f", a[3] / b[1]) : "n/a"; rd = b[4] > 0 ? sprintf("%.2f", a[6] / b[4]) : "n/a"
                    ls = sprintf("%.2f", b[7]) }
      else { lp = ld = rp = rd = ls = "n/a" }
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f / %.1f | %.0f%% | %.0f | %.0f%% (%.0f%%) | %.2f / %.2f / %.2f / %s |\n",
             label, a[1], a[2], pr, lp, rp, de, ld, rd, a[9], a[10], a[12], a[11], a[13], a[14], a[16], a[18], a[19], ls }'
}
header() {
    echo "| model | dtype | threads | prompt tok/s | llama.cpp | ratio | decode tok/s | llama.cpp | ratio |" \
         "read / triad GB/s | decode % of read | FMA GFLOP/s | prompt % of FMA (per CPU s) | cores: probe / prompt / decode / llama.cpp |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}
gguf_type() { case $1 in q8) echo q8_0 ;; *) echo "$1" ;; esac; }

echo
echo "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'), $(nproc 2>/dev/null) cores, $(date -u '+%Y-%m-%d %H:%M UTC');" \
     "prompt $PROMPT, decode $GEN tokens, medians (min-max) of $ROUNDS rounds"
if [ -n "$LLAMA_BENCH" ] && [ -x "$LLAMA_BENCH" ]; then
    echo "llama.cpp: $LLAMA_BENCH on $GGUF_DIR/bench<shape>-<type>.gguf (a missing file: n/a)"
else
    echo "llama.cpp: not measured (set LLAMA_BENCH=/path/to/llama-bench and GGUF_DIR; see README, Speed)"
fi
header
for shape in $SHAPES; do
    for t in $THREADS; do
        for d in $DTYPES; do
            line "$shape" "$(ours "$BUILD/bench$shape-$d.mamba" "$t")" \
                 "$(theirs "$GGUF_DIR/bench$shape-$(gguf_type "$d").gguf" "$t")"
        done
    done
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
        for t in $THREADS; do
            for d in $dts; do
                line "$shapes" "$(ours "$P2-$d.mamba" "$t")" "$(theirs "$GGUF_DIR/$(basename "$P2")-$(gguf_type "$d").gguf" "$t")"
            done
        done
    done
fi
if [ -f "$MODEL" ]; then
    for t in $THREADS; do line "$(basename "$MODEL")" "$(ours "$MODEL" "$t")" "n/a"; done
else
    echo
    echo "($MODEL does not exist: skipped)"
fi

# busy neighbour: a CPU-bound process on one core (taskset -c 1) while the
# same runs use 1 and 2 threads (issue 19: 2 threads must never be slower
# than 1 here). The shipped model and the f16 mamba-130m shapes; BUSY=0
# leaves these rows out.
if [ "${BUSY:-1}" != 0 ] && command -v taskset >/dev/null 2>&1 && [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]; then
    echo
    echo "busy neighbour: awk 'BEGIN { for (;;); }' pinned to core 1 (taskset -c 1) during these runs"
    header
    for m in "$MODEL" "$BUILD/bench130m-f16.mamba"; do
        [ -f "$m" ] || continue
        for t in 1 2; do
            taskset -c 1 awk 'BEGIN { for (;;); }' &
            hog=$!
            row=$(ours "$m" "$t")
            kill "$hog"; wait "$hog" 2>/dev/null
            line "$(basename "$m" .mamba), busy" "$row" "n/a"
        done
    done
    # the rows above run 1 and then 2 threads, minutes apart on a shared host;
    # build/busy alternates a 2-thread and a 1-thread state call by call in one
    # process, so both see the same neighbour and the same load
    if [ -x "$BUILD/busy" ]; then
        echo
        echo "the same neighbour, 2 threads and 1 alternating in one process (build/busy):"
        for m in "$MODEL" "$BUILD/bench130m-f16.mamba"; do
            [ -f "$m" ] || continue
            taskset -c 1 awk 'BEGIN { for (;;); }' &
            hog=$!
            "$BUILD/busy" "$m" --rounds "$ROUNDS" --prompt "$PROMPT" --gen "$GEN" 2>&1 | grep -v '^ratio:' | tee -a "$LOG"
            kill "$hog"; wait "$hog" 2>/dev/null
        done
    fi
fi
echo
echo "full output of every run: $LOG"
