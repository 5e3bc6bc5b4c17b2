#!/bin/sh
# make bench: the speed table of mamba.h beside the machine's limits and
# beside llama.cpp, all measured in this one run.
# Generates (once; not committed) random models with the shapes of mamba-130m,
# mamba-790m, mamba2-130m and mamba2-780m in every dtype under $BUILD, runs
# build/bench on each at 1 and 2 threads (every run re-measures the read
# bandwidth, a triad and the FMA peak beside the model), right after it
# llama.cpp's llama-bench on a GGUF file of the same weights when LLAMA_BENCH
# names it, then the shipped model, and prints one table. Then a
# busy-neighbour set (with build/busy: 2 threads against 1 call by call beside
# the same neighbour). Figures are medians of $ROUNDS rounds with their spread
# (min-max); "cores" is CPU time / wall time / threads of the worst round:
# below 0.9 another program held a core and the figure is not the machine's.
#   env: PYTHON, BUILD (build), BENCH_ARGS (extra args for build/bench),
#        SHAPES (130m 790m mamba2-130m mamba2-780m), DTYPES (f32 f16 bf16 q8 q4_k),
#        M2_BIG_DTYPES (f16: the dtypes of mamba2-780m), MAMBA2 (1; 0 leaves the
#        Mamba-2 shapes out), THREADS (1 2), ROUNDS (5), PROMPT (512), GEN (64),
#        MODEL (models/tinystories.mamba; "none" leaves it out), BUSY (1),
#        LLAMA_BENCH (a llama-bench binary; none: its columns say "n/a"),
#        GGUF_DIR ($BUILD): where bench130m-f32.gguf ... benchmamba2780m-f16.gguf are
#        (q8 is bench<shape>-q8_0.gguf; a missing file: n/a).
# The GGUF files are made from the same weights with llama.cpp's own tools
# (README, "Speed"): make_bench_model.py PREFIX --shape S --hf DIR writes the
# transformers checkpoint, convert_hf_to_gguf.py DIR --outtype f32|f16|bf16|q8_0
# the GGUFs, llama-quantize the q4_k one (Q4_K_M with a Q8_0 embedding).
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=${BUILD:-build}
if [ "${MAMBA2:-1}" != 0 ]; then SHAPES=${SHAPES:-130m 790m mamba2-130m mamba2-780m}; else SHAPES=${SHAPES:-130m 790m}; fi
DTYPES=${DTYPES:-f32 f16 bf16 q8 q4_k}
M2_BIG_DTYPES=${M2_BIG_DTYPES:-f16}
THREADS=${THREADS:-1 2}
ROUNDS=${ROUNDS:-5}
PROMPT=${PROMPT:-512}
GEN=${GEN:-64}
MODEL=${MODEL:-models/tinystories.mamba}
BENCH_ARGS=${BENCH_ARGS:-}
GGUF_DIR=${GGUF_DIR:-$BUILD}
LLAMA_BENCH=${LLAMA_BENCH:-}

# the file name of a shape (mamba2-130m -> bench mamba2130m) and its dtypes
prefix() { echo "$BUILD/bench$(echo "$1" | tr -d -)"; }
dtypes_of() { if [ "$1" = mamba2-780m ]; then echo "$M2_BIG_DTYPES"; else echo "$DTYPES"; fi; }
gguf_type() { case $1 in q8) echo q8_0 ;; *) echo "$1" ;; esac; }

for shape in $SHAPES; do
    missing=""
    for d in $(dtypes_of "$shape"); do [ -f "$(prefix "$shape")-$d.mamba" ] || missing="$missing,$d"; done
    if [ -n "$missing" ]; then
        echo "bench: generating the $shape-shaped random model in ${missing#,} ($(prefix "$shape")-*.mamba)" >&2
        "$PYTHON" tools/make_bench_model.py "$(prefix "$shape")" --shape "$shape" --dtype "${missing#,}" || exit 1
    fi
done

LOG="$BUILD/bench.log"
TABLE="$BUILD/bench.table"
: > "$LOG"
: > "$TABLE"
load() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?"; }
# build/bench MODEL THREADS -> its row: line (fields: see bench.c)
ours() {
    # shellcheck disable=SC2086
    "$BUILD/bench" "$1" --threads "$2" --rounds "$ROUNDS" --prompt "$PROMPT" --gen "$GEN" $BENCH_ARGS \
        > "$BUILD/bench.out" 2>&1 || { cat "$BUILD/bench.out" >&2; exit 1; }
    { echo "$(date -u '+%H:%M:%S') load $(load): build/bench $1 --threads $2"; cat "$BUILD/bench.out"; } >> "$LOG"
    grep '^row:' "$BUILD/bench.out" | sed 's/^row: *//'
}
# llama-bench GGUF THREADS -> "pp_median pp_min pp_max tg_median tg_min tg_max share" (a figure it did not
# give is -1), or "n/a"
theirs() {
    if [ -z "$LLAMA_BENCH" ] || [ ! -x "$LLAMA_BENCH" ] || [ ! -f "$1" ]; then echo "n/a"; return; fi
    # `times` (the shell's own, so that no fork hides the child) before and after
    w0=$(date +%s.%N)
    times > "$BUILD/times.0"
    "$LLAMA_BENCH" -m "$1" -t "$2" -p "$PROMPT" -n "$GEN" -r "$ROUNDS" -o jsonl > "$BUILD/llama.out" 2>> "$LOG" ||
        { echo "llama-bench $1 -t $2 failed" >> "$LOG"; echo "n/a"; return; }
    times > "$BUILD/times.1"
    w1=$(date +%s.%N)
    c0=$(tail -n 1 "$BUILD/times.0")
    c1=$(tail -n 1 "$BUILD/times.1")
    { echo "$(date -u '+%H:%M:%S') load $(load): llama-bench $1 -t $2:"; cat "$BUILD/llama.out"; } >> "$LOG"
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
pp, tg = fig.get("pp", (-1, -1, -1)), fig.get("tg", (-1, -1, -1))
print("%.1f %.1f %.1f %.2f %.2f %.2f %.2f" % (pp + tg + (share,)))
EOF
}
# one table row from our row: fields and theirs; a figure llama.cpp did not give, and its ratio, say n/a
line() { # label ours theirs
    echo "$2 | $3" | awk -v label="$1" '
    function sp(m, lo, hi, f) { return m < 0 ? "n/a" : sprintf(f " (" f "-" f ")", m, lo, hi) }
    function ratio(x, y) { return y > 0 ? sprintf("%.2f", x / y) : "n/a" }
    { split($0, h, "|"); n = split(h[1], a, " "); m = split(h[2], b, " ")
      pr = sp(a[3], a[4], a[5], "%.1f"); de = sp(a[6], a[7], a[8], "%.2f")
      if (m >= 7) { lp = sp(b[1], b[2], b[3], "%.1f"); ld = sp(b[4], b[5], b[6], "%.2f")
                    rp = ratio(a[3], b[1]); rd = ratio(a[6], b[4]); ls = sprintf("%.2f", b[7]) }
      else { lp = ld = rp = rd = ls = "n/a" }
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %.0f%% | %.0f | %.0f%% | %.2f / %.2f / %.2f / %s |\n",
             label, a[1], a[2], de, ld, rd, pr, lp, rp, a[9], a[12], a[11], a[13], a[16], a[18], a[19], ls }'
}
header() {
    echo "| model | dtype | threads | decode tok/s | llama.cpp | ratio | prompt-$PROMPT tok/s | llama.cpp | ratio |" \
         "read GB/s | decode % of read | FMA GFLOP/s | prompt % of FMA | cores: probe / prompt / decode / llama.cpp |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}
# a row: measure both programs one right after the other, keep it for the table, say it on stderr as it comes
row() { # label ours-model gguf threads
    o=$(ours "$2" "$4") || exit 1
    r=$(line "$1" "$o" "$(theirs "$3" "$4")")
    echo "$r" >> "$TABLE"
    echo "bench: $(date -u '+%H:%M:%S') load $(load): $r" >&2
}

START="$(date -u '+%Y-%m-%d %H:%M') UTC, load average $(load)"
if [ -n "$LLAMA_BENCH" ] && [ -x "$LLAMA_BENCH" ]; then
    THEIRS="llama.cpp: $LLAMA_BENCH -p $PROMPT -n $GEN -r $ROUNDS on $GGUF_DIR/bench<shape>-<type>.gguf (a missing file: n/a)"
else
    THEIRS="llama.cpp: not measured (set LLAMA_BENCH=/path/to/llama-bench and GGUF_DIR; README, Speed)"
fi
for shape in $SHAPES; do
    for t in $THREADS; do
        for d in $(dtypes_of "$shape"); do
            row "$shape" "$(prefix "$shape")-$d.mamba" "$GGUF_DIR/$(basename "$(prefix "$shape")")-$(gguf_type "$d").gguf" "$t"
        done
    done
done
if [ "$MODEL" != none ] && [ -f "$MODEL" ]; then
    for t in $THREADS; do row "$(basename "$MODEL")" "$MODEL" none "$t"; done
elif [ "$MODEL" != none ]; then
    echo "bench: $MODEL does not exist: skipped" >&2
fi

echo
echo "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'), $(nproc 2>/dev/null) cores;" \
     "from $START to $(date -u '+%H:%M') UTC, load average $(load);" \
     "prompt $PROMPT tokens, decode $GEN, medians (min-max) of $ROUNDS rounds"
echo "$THEIRS"
header
cat "$TABLE"

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
