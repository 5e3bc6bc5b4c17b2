#!/bin/sh
# The header builds cleanly everywhere it promises to: gcc and clang with
# -Werror, as C++, as two MAMBA_STATIC copies in one program, without stdio
# and without mmap, with and without OpenMP; as C and as C++ with the SIMD
# paths on (-O2 -march=native, and -march=x86-64-v4 so the AVX-512 code is
# compiled on any x86-64 host); and a warning in the user's code after the
# include still fires (the header must not leave a diagnostic switched off);
# and every C test compiles as C++ too.
# A compiler that is missing is a SKIP (a failure under CI=true).
set -e
. tests/lib.sh
B=$BUILD/buildcheck
mkdir -p "$B"
W="-std=c99 -Wall -Wextra -pedantic -Werror -I."
WXX="-x c++ -std=c++11 -Wall -Wextra -pedantic -Werror -I."
fail=0
try() { name=$1; shift; if "$@" 2> "$B/$name.log"; then echo "ok   $name"; else echo "FAIL $name"; cat "$B/$name.log"; fail=1; fi; }
# Known failures print XFAIL (listed at the end of make test), not FAIL; a
# listed one that passes prints XPASS. Empty: the g++ AVX-512 warnings and
# the un-popped diagnostic pragma it listed were fixed in issue 10.
XFAIL=""
is_xfail() { case " $XFAIL " in *" $1 "*) return 0 ;; esac; return 1; }
n_xfail=0
xfailed() {
  n_xfail=$((n_xfail + 1))
  echo "XFAIL $1 (known: see XFAIL in tests/t_build.sh)"
  if [ -n "${MAMBA_SKIP_LOG:-}" ]; then echo "$T_NAME: $1 (known failure, XFAIL)" >>"$MAMBA_SKIP_LOG"; fi
}
try() {
  name=$1; shift
  if "$@" 2> "$B/$name.log"; then
    if is_xfail "$name"; then echo "XPASS $name (remove it from XFAIL)"; else echo "ok   $name"; fi
  elif is_xfail "$name"; then xfailed "$name"
  else echo "FAIL $name"; cat "$B/$name.log"; fail=1; fi
}
# the SIMD flag sets this machine can compile for
SIMD="-march=native"
if [ "$(uname -m)" = x86_64 ]; then SIMD="$SIMD -march=x86-64-v4"; fi

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
# user code after the include: `int x; return x;` must still warn
cat > "$B/user_warn.c" <<'C'
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
int user_code(void);
int user_code(void) { int x; return x; }
int main(void) { return user_code(); }
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
# the SIMD paths, as C and as C++, compiled (-c: x86-64-v4 need not run here)
for cc in gcc clang g++ clang++; do
  t_have $cc || continue   # skipped above
  case $cc in *++) lang=cxx; F=$WXX ;; *) lang=c; F=$W ;; esac
  for m in $SIMD; do
    try "$cc-$lang$m" $cc $F -O2 $m -c "$B/one.c" -o "$B/simd-$cc.o"
    if [ "$lang" = cxx ] && t_have_omp $cc; then
      try "$cc-$lang$m-omp" $cc $F -O2 $m -fopenmp -c "$B/one.c" -o "$B/simd-omp-$cc.o"
    fi
    # the user's warning must fire: a line of user_warn.c that names x
    $cc $F -Wno-error -O2 $m -Wuninitialized -c "$B/user_warn.c" -o "$B/user_warn.o" 2>"$B/user_warn.log" || true
    uw="$cc-$lang$m-user-warning"
    if grep "user_warn.c:4:" "$B/user_warn.log" | grep -q "x.* uninitialized"; then
      if is_xfail "$uw"; then echo "XPASS $uw (remove it from XFAIL)"; else echo "ok   $uw"; fi
    elif is_xfail "$uw"; then xfailed "$uw"
    else
      echo "FAIL $uw: 'int x; return x;' after the include gave no -Wuninitialized warning"; fail=1
    fi
  done
done
# every C test also compiles as C++ (the header's users do; a test that
# only C accepts, such as a compound literal, is caught here): g++, syntax only
if t_have g++; then
  for t in tests/test_*.c; do
    try "g++-cxx-$(basename "$t" .c)" g++ $WXX -fsyntax-only "$t"
  done
fi
# without stdio the object must not reference file or print functions
if ! t_have nm; then
  t_skip "the MAMBA_NO_STDIO symbol check" "nm not installed: apt-get install binutils"
elif [ -f "$B/nostdio-gcc.o" ]; then
  if nm "$B/nostdio-gcc.o" | grep -E ' U (fopen|fread|printf|fprintf|puts|mmap)$'; then echo "FAIL nostdio references stdio"; fail=1; else echo "ok   nostdio-symbols"; fi
fi
[ $fail = 0 ] || t_fail "see FAIL lines above"
if [ "$n_xfail" -ne 0 ]; then t_end "every configuration above marked ok builds cleanly; $n_xfail known failures (XFAIL)"; fi
t_end "the header builds cleanly in every configuration above"
