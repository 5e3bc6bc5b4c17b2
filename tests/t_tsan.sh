#!/bin/sh
# ThreadSanitizer on tests/test_threads.c: several threads share one model,
# each with its own state, and must reproduce the single-threaded logits bit
# for bit. Built with clang -fsanitize=thread and WITHOUT OpenMP: libgomp is
# not TSan-instrumented, so its barriers would be reported as races (the
# OpenMP build is checked by tests/t_omp.sh instead).
#   env: BUILD (default build), TSAN_CC (default clang)
# Needs clang (Debian packages: clang libclang-rt-14-dev); skips without it
# (a failure under CI=true).
. tests/lib.sh
TSAN_CC=${TSAN_CC:-clang}
B="$BUILD/tsan"
if ! t_have "$TSAN_CC"; then
    t_skip_test "ThreadSanitizer" "$TSAN_CC not installed: apt-get install clang libclang-rt-14-dev"
fi
mkdir -p "$B" || exit 1
if ! "$TSAN_CC" -std=c99 -O1 -g -fno-omit-frame-pointer -fsanitize=thread -Wall -Wextra -pedantic -I. -Itests \
        tests/test_threads.c -o "$B/test_threads" -lm -pthread 2>"$B/build.log"; then
    echo "t_tsan: FAIL: build: $(head -n 5 "$B/build.log")"; exit 1
fi
# exitcode 66: a report; halt at the first one
if TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" "./$B/test_threads" >"$B/test_threads.log" 2>&1; then
    echo "t_tsan: $(tail -n 1 "$B/test_threads.log"), no ThreadSanitizer reports"
else
    st=$?
    cat "$B/test_threads.log" | head -n 60
    if grep -q "ThreadSanitizer" "$B/test_threads.log"; then echo "t_tsan: FAIL: ThreadSanitizer report (exit $st)"
    else echo "t_tsan: FAIL: exit $st"; fi
    exit 1
fi
