#!/bin/sh
# The README's first use is a real program: examples/first.c, built with the
# exact command the README gives, prints a story from the shipped model and
# exits 0; under AddressSanitizer (leak check on) it frees everything; a bad
# model path is a one-line error and exit status 1. Every line of the README's
# C excerpt (the ```c block under "First use") is a line of examples/first.c,
# so the excerpt cannot drift from the program that is tested.
#   env: BUILD, CC
. tests/lib.sh
t_tmp
fail=0
CMD="cc -O2 -march=native -I. examples/first.c -o first -lm"
grep -qF -- "$CMD" README.md || t_fail "README.md does not give the build command '$CMD'"

# the build line, with $CC for cc and the output in TMP
# shellcheck disable=SC2086
if ! $CC -O2 -march=native -I. examples/first.c -o "$TMP/first" -lm 2>"$TMP/cc.log"; then
    t_fail "the README's build command fails: $(head -n 3 "$TMP/cc.log")"
elif [ -s "$TMP/cc.log" ]; then
    t_fail "the README's build command warns: $(head -n 3 "$TMP/cc.log")"
elif ! "$TMP/first" models/tinystories.mamba >"$TMP/out" 2>"$TMP/err"; then
    t_fail "./first exited non-zero: $(tail -n 1 "$TMP/err")"
else
    words=$(wc -w < "$TMP/out")
    if [ "$words" -lt 20 ]; then t_fail "./first printed $words words"; fi
    echo "t_first: ./first printed $words words: $(head -c 60 "$TMP/out")..."
fi
# strict flags too
if ! $CC -std=c99 -Wall -Wextra -pedantic -Werror -O2 -I. examples/first.c -o "$TMP/first_strict" -lm \
        2>"$TMP/cc.log"; then
    t_fail "examples/first.c is not clean with -std=c99 -Wall -Wextra -pedantic: $(head -n 3 "$TMP/cc.log")"
fi
# no leaks, no bad reads
if $CC -std=c99 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -I. examples/first.c \
        -o "$TMP/first_asan" -lm 2>"$TMP/cc.log"; then
    if ASAN_OPTIONS=detect_leaks=1 "$TMP/first_asan" models/tinystories.mamba >"$TMP/out2" 2>"$TMP/err2"; then
        cmp -s "$TMP/out" "$TMP/out2" || t_fail "the ASan build printed another story"
        echo "t_first: ASan+UBSan with leak detection: clean"
    else
        t_fail "ASan/UBSan: $(grep -m 3 -E 'ERROR|SUMMARY|runtime error' "$TMP/err2")"
    fi
else
    t_skip "first.c under ASan+UBSan" "$CC cannot link -fsanitize=address,undefined"
fi
# a missing model: one line on stderr, status 1
st=0
"$TMP/first" "$TMP/none.mamba" >"$TMP/out" 2>"$TMP/err" || st=$?
if [ "$st" -ne 1 ] || [ "$(wc -l < "$TMP/err")" -ne 1 ]; then t_fail "a missing model gave status $st and: $(cat "$TMP/err")"; fi
# the README's excerpt is made of first.c's lines
awk '/^## First use/ { on = 1 } on && /^```c$/ { inb = 1; next } inb && /^```$/ { exit } inb' README.md >"$TMP/excerpt"
if [ ! -s "$TMP/excerpt" ]; then
    t_fail "no \`\`\`c block under '## First use' in README.md"
else
    while IFS= read -r line; do
        case $line in "" | *"..."*) continue ;; esac
        grep -qxF -- "$line" examples/first.c || { t_fail "README line not in examples/first.c: $line"; }
    done <"$TMP/excerpt"
fi
t_end "examples/first.c builds with the README's command, prints a story, frees its buffers"
