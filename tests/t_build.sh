#!/bin/sh
# The header builds cleanly everywhere it promises to: gcc and clang with
# -Werror, as C++, as two MAMBA_STATIC copies in one program, without stdio
# and without mmap, with and without OpenMP.
# A compiler that is missing is a SKIP (a failure under CI=true).
set -e
. tests/lib.sh
B=$BUILD/buildcheck
mkdir -p "$B"
W="-std=c99 -Wall -Wextra -pedantic -Werror -I."
WXX="-x c++ -std=c++11 -Wall -Wextra -pedantic -Werror -I."
fail=0
try() { name=$1; shift; if "$@" 2> "$B/$name.log"; then echo "ok   $name"; else echo "FAIL $name"; cat "$B/$name.log"; fail=1; fi; }

cat > "$B/one.c" <<'C'
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
int main(void) { mamba_model m; return mamba_model_init_memory(&m, 0, 0) == MAMBA_ERR_INVALID_ARG ? 0 : 1; }
C
# two translation units, each with its own static copy, linked together
cat > "$B/static_a.c" <<'C'
#define MAMBA_STATIC
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
int use_a(void) { return mamba_argmax((const float[]){1, 3, 2}, 3); }
C
cat > "$B/static_b.c" <<'C'
#define MAMBA_STATIC
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
int use_a(void);
int main(void) { return use_a() == 1 && mamba_argmax((const float[]){5, 3, 2}, 3) == 0 ? 0 : 1; }
C
for cc in gcc clang; do
  t_have $cc || { t_skip "the $cc builds" "$cc not installed"; continue; }
  try "$cc-c99" $cc $W "$B/one.c" -o "$B/one-$cc" -lm
  try "$cc-omp" $cc $W -fopenmp "$B/one.c" -o "$B/one-omp-$cc" -lm
  try "$cc-nostdio" $cc $W -DMAMBA_NO_STDIO -c "$B/one.c" -o "$B/nostdio-$cc.o"
  try "$cc-nommap" $cc $W -DMAMBA_NO_MMAP "$B/one.c" -o "$B/nommap-$cc" -lm
  try "$cc-static2" $cc $W "$B/static_a.c" "$B/static_b.c" -o "$B/static-$cc" -lm
  try "$cc-static2-run" "$B/static-$cc"
  try "$cc-run" "$B/one-$cc"
done
for cxx in g++ clang++; do
  t_have $cxx || { t_skip "the $cxx builds" "$cxx not installed"; continue; }
  try "$cxx-cxx" $cxx $WXX "$B/one.c" -o "$B/one-$cxx"
  try "$cxx-cxx-run" "$B/one-$cxx"
done
# without stdio the object must not reference file or print functions
if ! t_have nm; then
  t_skip "the MAMBA_NO_STDIO symbol check" "nm not installed: apt-get install binutils"
elif [ -f "$B/nostdio-gcc.o" ]; then
  if nm "$B/nostdio-gcc.o" | grep -E ' U (fopen|fread|printf|fprintf|puts|mmap)$'; then echo "FAIL nostdio references stdio"; fail=1; else echo "ok   nostdio-symbols"; fi
fi
[ $fail = 0 ] || t_fail "see FAIL lines above"
t_end "the header builds cleanly in every configuration above"
