#!/bin/sh
# Short bounded fuzzing pass for `make test` / CI: builds each libFuzzer
# harness in fuzz/, replays its committed corpus and fuzz/regressions/, then
# fuzzes it for T_FUZZ_SECONDS (default 20) seconds. SKIPs (exit 0) when
# clang's libFuzzer runtime is missing. `make fuzz` is the long run.
#   env: BUILD (default build), T_FUZZ_SECONDS
BUILD=${BUILD:-build}
# its own scratch directory, so a `make fuzz` running at the same time is not disturbed
FUZZ_OUT="$BUILD/fuzz-test" FUZZ_SECONDS=${T_FUZZ_SECONDS:-20} BUILD="$BUILD" sh fuzz/fuzz.sh
rc=$?
if [ $rc = 77 ]; then exit 0; fi
if [ $rc != 0 ]; then echo "t_fuzz: FAIL"; exit 1; fi
echo "t_fuzz: ok"
