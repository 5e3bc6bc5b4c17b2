#!/bin/sh
# Short bounded fuzzing pass for `make test` / CI: builds each libFuzzer
# harness in fuzz/, replays its committed corpus and fuzz/regressions/, then
# fuzzes it for T_FUZZ_SECONDS (default 20) seconds. SKIPs when clang's
# libFuzzer runtime is missing (a failure under CI=true). `make fuzz` is the long run.
#   env: BUILD (default build), T_FUZZ_SECONDS
. tests/lib.sh
# its own scratch directory, so a `make fuzz` running at the same time is not disturbed
FUZZ_OUT="$BUILD/fuzz-test" FUZZ_SECONDS=${T_FUZZ_SECONDS:-20} BUILD="$BUILD" sh fuzz/fuzz.sh
rc=$?
if [ $rc = 77 ]; then t_skip_test "fuzzing" "clang with -fsanitize=fuzzer missing: apt-get install clang libclang-rt-14-dev"; fi
if [ $rc != 0 ]; then t_fail "fuzz/fuzz.sh exited $rc"; fi
t_end "ok: corpora replayed and fuzzed ${T_FUZZ_SECONDS:-20} s each"
