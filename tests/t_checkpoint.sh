#!/bin/sh
# Prefix checkpoints with OpenMP: tests/test_checkpoint.c (2 random edits of
# a 5,000-token TinyStories text; restore-and-continue must give logits and
# a state bit-identical to reading the edited text from the start, reading
# only the tokens after the checkpoint) built with -fopenmp and run on 2
# threads: mamba_forward() splits its loops across them (mamba_step() keeps
# this small model's loops on one thread, MAMBA_PAR_MIN_WORK; forcing it to
# split them costs a fork/join per loop per token, minutes on a loaded
# machine, and tests/t_omp.sh covers that already). (make test runs the plain
# build; tests/t_sanitize.sh runs it under ASan and UBSan.)
#   env: BUILD (default build), CC (default cc)
BUILD=${BUILD:-build}
CC=${CC:-cc}
B="$BUILD/omp"
if ! echo 'int main(void){return 0;}' | $CC -fopenmp -x c - -o /dev/null 2>/dev/null; then
    echo "t_checkpoint: SKIP: $CC has no -fopenmp (Debian: gcc ships libgomp; for clang install libomp-dev)"; exit 0
fi
mkdir -p "$B" || exit 1
if ! $CC -std=c99 -O2 -march=native -fopenmp -Wall -Wextra -pedantic -Werror -I. \
        tests/test_checkpoint.c -o "$B/test_checkpoint" -lm 2>"$B/test_checkpoint.log"; then
    echo "t_checkpoint: FAIL: build: $(head -n 5 "$B/test_checkpoint.log")"; exit 1
fi
if ! OMP_NUM_THREADS=2 "$B/test_checkpoint" 2 5000 >"$B/test_checkpoint.out" 2>&1; then
    grep FAIL "$B/test_checkpoint.out" | head -n 10
    echo "t_checkpoint: FAIL (2 threads)"; exit 1
fi
echo "t_checkpoint: 2 threads: $(tail -n 1 "$B/test_checkpoint.out")"
