#!/bin/sh
# mamba_step_batch() on q8 and Falcon-Mamba models too, and with 2 OpenMP
# threads: tests/test_batch.c (bit-identical to n mamba_step() calls) run on
# converted golden checkpoints in q8 (the prepared int16 input per sequence)
# and f32, then built with -fopenmp and MAMBA_PAR_MIN_WORK=1 (every panel
# loop split) and run on 2 threads.
#   env: PYTHON (default /usr/bin/python3), BUILD (default build), CC (default cc)
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=${BUILD:-build}
CC=${CC:-cc}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/t_batch.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
fail=0
models=""
for spec in ss_basic:q8 falcon_default:q8 hf_bf16:bf16; do
    c=${spec%%:*}; d=${spec##*:}
    if "$PYTHON" tools/convert.py "tests/data/ckpt/$c" "$TMP/$c-$d.mamba" --dtype "$d" >"$TMP/conv.log" 2>&1; then
        models="$models $TMP/$c-$d.mamba"
    else
        echo "t_batch: FAIL: convert $c --dtype $d: $(tail -n 1 "$TMP/conv.log")"; fail=1
    fi
done
if ! $CC -std=c99 -O2 -march=native -Wall -Wextra -pedantic -Werror -I. -Itests tests/test_batch.c -o "$TMP/tb" -lm \
        2>"$TMP/cc.log"; then
    echo "t_batch: FAIL: build: $(head -n 5 "$TMP/cc.log")"; exit 1
fi
# shellcheck disable=SC2086
if "$TMP/tb" $models >"$TMP/tb.out" 2>&1; then echo "t_batch: $(tail -n 1 "$TMP/tb.out") (with q8, bf16, Falcon-Mamba)"
else grep FAIL "$TMP/tb.out" | head -n 5; echo "t_batch: FAIL"; fail=1; fi
if echo 'int main(void){return 0;}' | $CC -fopenmp -x c - -o /dev/null 2>/dev/null; then
    if $CC -std=c99 -O2 -march=native -fopenmp -DMAMBA_PAR_MIN_WORK=1 -Wall -Wextra -pedantic -Werror -I. -Itests \
            tests/test_batch.c -o "$TMP/tb_omp" -lm 2>"$TMP/cc.log"; then
        # shellcheck disable=SC2086
        if OMP_NUM_THREADS=2 "$TMP/tb_omp" $models >"$TMP/omp.out" 2>&1; then echo "t_batch: 2 threads: $(tail -n 1 "$TMP/omp.out")"
        else grep FAIL "$TMP/omp.out" | head -n 5; echo "t_batch: FAIL (2 threads)"; fail=1; fi
    else
        echo "t_batch: FAIL: OpenMP build: $(head -n 5 "$TMP/cc.log")"; fail=1
    fi
else
    echo "t_batch: SKIP: no -fopenmp: the 2-thread run"
fi
if ! $CC -std=c99 -O2 -DMAMBA_NO_SIMD -Wall -Wextra -pedantic -Werror -I. -Itests tests/test_batch.c -o "$TMP/tb_s" -lm \
        2>"$TMP/cc.log" || ! "$TMP/tb_s" $models >"$TMP/s.out" 2>&1; then
    grep FAIL "$TMP/s.out" 2>/dev/null | head -n 5; echo "t_batch: FAIL: portable kernels"; fail=1
else
    echo "t_batch: portable kernels: $(tail -n 1 "$TMP/s.out")"
fi
[ $fail = 0 ] || { echo "t_batch: FAIL"; exit 1; }
echo "t_batch: ok"
