#!/bin/sh
# Static checkers on mamba.h: cppcheck and clang-tidy, both through a tiny
# .c file that includes the header with MAMBA_IMPLEMENTATION. Zero findings,
# or a finding suppressed where it occurs with its reason:
#   cppcheck:   /* cppcheck-suppress ID ; why */ on the line before
#   clang-tidy: the check set and each exclusion's reason are in .clang-tidy
# Configurations: the portable scalar build, AVX2+FMA+F16C, AVX-512
# (x86-64-v4: analysed, not run, so any x86-64 machine will do),
# MAMBA_NO_STDIO, and OpenMP.
#   env: BUILD (default build)
# Needs the Debian packages cppcheck and clang-tidy; each is skipped with a
# message when absent (a failure under CI=true), and the last line names only
# the checkers that ran.
. tests/lib.sh
B="$BUILD/lint"
mkdir -p "$B" || exit 1
cat > "$B/lint.c" <<'EOC'
/* lint.c - one instance of mamba.h, for the static checkers */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
EOC
fail=0
ran=""

if t_have cppcheck; then
    ran="cppcheck"
    # -D fixes the configuration (no combinatorial #ifdef search: fast); two runs
    for cfg in "-DMAMBA_IMPLEMENTATION" "-DMAMBA_IMPLEMENTATION -DMAMBA_NO_STDIO"; do
        # shellcheck disable=SC2086
        if cppcheck --enable=warning,style,performance,portability --std=c99 --inline-suppr --error-exitcode=1 \
                --quiet -I. $cfg -D__unix__ -D__GNUC__ "$B/lint.c" >"$B/cppcheck.log" 2>&1; then
            echo "-- cppcheck ($cfg): clean"
        else
            cat "$B/cppcheck.log"; echo "-- cppcheck ($cfg): FAIL"; fail=1
        fi
    done
else
    t_skip "cppcheck" "not installed: apt-get install cppcheck"
fi

if t_have clang-tidy; then
    ran="${ran:+$ran and }clang-tidy"
    for cfg in "" "-mavx2 -mfma -mf16c" "-march=x86-64-v4" "-DMAMBA_NO_STDIO" "-fopenmp"; do
        # shellcheck disable=SC2086
        if clang-tidy --quiet --config-file=.clang-tidy "$B/lint.c" -- -std=c99 -I. $cfg >"$B/tidy.log" 2>&1; then
            echo "-- clang-tidy (${cfg:-scalar}): clean"
        else
            grep -E "warning:|error:" "$B/tidy.log" | head -n 40; echo "-- clang-tidy (${cfg:-scalar}): FAIL"; fail=1
        fi
    done
else
    t_skip "clang-tidy" "not installed: apt-get install clang-tidy"
fi

[ "$fail" -eq 0 ] || t_fail "findings above"
if [ -z "$ran" ]; then t_end "no checker ran"; fi
t_end "$ran clean on mamba.h"
