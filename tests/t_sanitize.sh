#!/bin/sh
# Everything again under AddressSanitizer + UndefinedBehaviorSanitizer: the
# C tests, then the golden-logit test with sanitized programs.
set -e
. tests/lib.sh
B=${BUILD:-build}/asan
mkdir -p "$B"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
F="-std=c99 -O1 -g -Wall -Wextra -pedantic -I. -Itests $SAN"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fail=0
for src in tests/test_*.c; do
  name=$(basename "$src" .c)
  $CC $F "$src" -o "$B/$name" -lm
  echo "-- asan $name"
  "./$B/$name" > "$B/$name.log" 2>&1 || { cat "$B/$name.log"; fail=1; }
  tail -n 1 "$B/$name.log"
done
for src in examples/*.c; do
  name=$(basename "$src" .c)
  $CC $F "$src" -o "$B/$name" -lm
done
for t in tests/t_golden.sh; do  # t_tokenizer.sh runs its own ASan pass
  [ -f "$t" ] || continue
  echo "-- asan $t"
  BUILD="$B" sh "$t" || fail=1
done
exit $fail
