#!/bin/sh
# The OpenMP build gives bit-identical logits for any thread count: every
# parallel loop splits independent outputs (matrix rows, SSM channels) and
# each output is summed the same way whatever thread computes it.
# examples/logits.c is built with -fopenmp (and -O2 -march=native, as the
# Makefile does; MAMBA_PAR_MIN_WORK=1 so even these tiny models split every
# loop) and run on golden checkpoints with OMP_NUM_THREADS=1, 2, 3,
# token by token and through mamba_forward; the outputs must be equal byte
# for byte (cmp). Golden accuracy itself is tests/t_golden.sh's job.
#   env: PYTHON (default /usr/bin/python3), BUILD (default build), CC
. tests/lib.sh
DATA=tests/data
B="$BUILD/omp"
if ! t_have_omp; then
    t_skip_test "the OpenMP thread-count check" "$CC has no -fopenmp: gcc ships libgomp; for clang apt-get install libomp-dev"
fi
mkdir -p "$B" || exit 1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/t_omp.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
# MAMBA_THREADS_ADAPT=0: every call on all the threads asked for (the adaptive
# default may run some calls on one thread, which would make the check weaker);
# the adaptive build is run too: its results must not depend on its choices
for v in fixed:0 adapt:1; do
    if ! $CC -std=c99 -O2 -march=native -fopenmp -DMAMBA_PAR_MIN_WORK=1 -DMAMBA_THREADS_ADAPT=${v#*:} -Wall -Wextra \
            -pedantic -I. examples/logits.c -o "$B/logits-${v%:*}" -lm 2>"$TMP/build.log"; then
        echo "t_omp: FAIL: build: $(head -n 5 "$TMP/build.log")"; exit 1
    fi
done
fail=0
n=0
for c in ss_basic hf_sharded_f16 hf_bf16 falcon_default hf_bias_untied ss_long; do
    if ! "$PYTHON" tools/convert.py "$DATA/ckpt/$c" "$TMP/$c.mamba" >"$TMP/conv.log" 2>&1; then
        echo "t_omp: FAIL: convert $c: $(tail -n 1 "$TMP/conv.log")"; fail=1; continue
    fi
    for mode in step forward; do
        opt=""
        [ "$mode" = forward ] && opt="--forward 16"
        for t in 1 2 3 adapt2; do
            bin="$B/logits-fixed"; nt=$t
            if [ "$t" = adapt2 ]; then bin="$B/logits-adapt"; nt=2; fi
            # shellcheck disable=SC2086
            if ! OMP_NUM_THREADS=$nt "$bin" "$TMP/$c.mamba" --tokens-file "$DATA/golden/$c.tokens" \
                    --out "$TMP/$c.$mode.$t" $opt >"$TMP/run.log" 2>&1; then
                echo "  $c $mode threads=$t: FAIL: $(tail -n 1 "$TMP/run.log")"; fail=1; continue
            fi
            n=$((n + 1))
            if [ "$t" != 1 ] && ! cmp -s "$TMP/$c.$mode.1" "$TMP/$c.$mode.$t"; then
                echo "  $c $mode: FAIL: OMP_NUM_THREADS=$t differs from 1"; fail=1
            fi
        done
    done
done
if [ "$fail" -ne 0 ]; then echo "t_omp: FAIL"; exit 1; fi
echo "t_omp: $n runs, logits bit-identical for OMP_NUM_THREADS=1,2,3 and the adaptive 2 (step and forward)"
