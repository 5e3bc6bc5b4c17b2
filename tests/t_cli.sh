#!/bin/sh
# The examples' command lines are untrusted input (issue 13, item 8):
# generate, logits, perplexity and tokenize, built with AddressSanitizer +
# UndefinedBehaviorSanitizer (leaks on), are given numbers that would wrap,
# malformed ids, directories, a FIFO and missing files. Each must fail with
# the right status and a message that names the file and gives the system's
# reason; none may crash, hang, leak or exit 0.
#   env: BUILD (default build), CC, PYTHON
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=${BUILD:-build}
CC=${CC:-cc}
B="$BUILD/cli"
mkdir -p "$B" || exit 1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
for e in generate logits perplexity tokenize; do
    # shellcheck disable=SC2086
    $CC -std=c99 -O1 -g -Wall -Wextra -pedantic $SAN -I. "examples/$e.c" -o "$B/$e" -lm 2>"$B/$e.build.log" ||
        { echo "t_cli: FAIL: build $e: $(head -n 3 "$B/$e.build.log")"; exit 1; }
done
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$PYTHON" tools/convert.py tests/data/ckpt/hf_bias_untied "$T/m.mamba" >"$T/convert.log" 2>&1 ||
    { cat "$T/convert.log"; echo "t_cli: FAIL: convert"; exit 1; }
"$PYTHON" tools/tokpack.py tests/data/tok/neox/tokenizer.json "$T/tok.bin" >/dev/null 2>&1 ||
    { echo "t_cli: FAIL: tokpack"; exit 1; }
mkdir "$T/dir"
mkfifo "$T/fifo"
printf 'MAMBATOK but not a section' > "$T/junk.bin"
fail=0
n=0

# expect STATUS 'TEXT' PROGRAM ARGS...: the program exits with STATUS within
# 60 s, its stderr contains TEXT (when not empty), and no sanitizer spoke
expect() {
    want=$1; text=$2; shift 2
    n=$((n + 1))
    st=0
    timeout 60 "$@" >"$T/out" 2>"$T/err" </dev/null || st=$?
    why=""
    if [ "$st" = 124 ]; then why="hung (killed after 60 s)"
    elif [ "$st" != "$want" ]; then why="status $st, want $want"
    elif grep -q -E "Sanitizer|runtime error" "$T/err"; then why="a sanitizer report"
    elif [ -n "$text" ] && ! grep -q -F -- "$text" "$T/err"; then why="stderr lacks '$text'"
    fi
    if [ -n "$why" ]; then
        echo "t_cli: FAIL: $*: $why"; sed -n 1,6p "$T/err"; fail=1
    fi
}
G="$B/generate"
M="$T/m.mamba"
# numbers that used to wrap or be truncated, and malformed ids: status 2 (usage)
expect 2 "4294967296" "$G" "$M" --tokens 4294967296 -q
expect 2 "-1" "$G" "$M" --tokens "5 -1" -q
expect 2 "x" "$G" "$M" --tokens "5 x 7" -q
expect 2 "99999999999999999999" "$G" "$M" --tokens "99999999999999999999" -q
expect 2 "1.5" "$G" "$M" -n 1.5 -q
expect 2 "4294967297" "$G" "$M" -n 4294967297 -q
expect 2 "1e3" "$G" "$M" --top-k 1e3 -q
expect 2 "-1" "$G" "$M" --seed -1 -q
expect 2 "18446744073709551616" "$G" "$M" --seed 18446744073709551616 -q
expect 2 "0" "$G" "$M" --threads 0 -q
expect 2 "nan" "$G" "$M" --temp nan -q
expect 2 "1e999" "$G" "$M" --top-p 1e999 -q
# files: the name and the system's reason, status 1
expect 1 "$T/dir: Is a directory" "$G" "$M" -f "$T/dir" -q
expect 1 "$T/none.txt: No such file or directory" "$G" "$M" -f "$T/none.txt" -q
expect 1 "$T/none.mamba" "$G" "$T/none.mamba" -q
grep -q "No such file or directory" "$T/err" || { echo "t_cli: FAIL: a missing model without strerror"; fail=1; }
expect 1 "directory" "$G" "$T/dir" -q
expect 1 "not a regular file" "$G" "$T/fifo" -q
# what works still works: a tiny temperature is greedy (it used to stop at once on id 0)
expect 0 "" "$G" "$M" --tokens "5 7 9" -n 8 --temp 0 --ids -q
cp "$T/out" "$T/greedy"
expect 0 "" "$G" "$M" --tokens "5 7 9" -n 8 --temp 1e-45 --ids -q
cmp -s "$T/out" "$T/greedy" || { echo "t_cli: FAIL: --temp 1e-45 gave '$(cat "$T/out")', greedy '$(cat "$T/greedy")'"; fail=1; }
expect 0 "" "$G" "$M" --tokens "5" -n 4 --seed 18446744073709551615 --min-p 1 --ids -q

L="$B/logits"
expect 1 "$T/dir: Is a directory" "$L" "$M" --tokens-file "$T/dir" --out "$T/l.bin"
expect 1 "$T/none.txt: No such file or directory" "$L" "$M" --tokens-file "$T/none.txt" --out "$T/l.bin"
expect 2 "4294967296" "$L" "$M" --tokens "1 4294967296" --out "$T/l.bin"
expect 2 "1024" "$L" "$M" --tokens "1 2" --forward 0 --out "$T/l.bin"
expect 2 "1024" "$L" "$M" --tokens "1 2" --forward 99999 --out "$T/l.bin"
expect 1 "$T/dir/x/y.bin: No such file or directory" "$L" "$M" --tokens "1 2" --out "$T/dir/x/y.bin"
expect 0 "" "$L" "$M" --tokens "1 2" --forward 2 --out "$T/l.bin"

P="$B/perplexity"
expect 1 "$T/dir: Is a directory" "$P" "$M" "$T/dir"
expect 1 "$T/none.txt: No such file or directory" "$P" "$M" "$T/none.txt"
expect 2 "-1" "$P" "$M" "$T/m.mamba" --max-tokens -1
expect 2 "abc" "$P" "$M" "$T/m.mamba" --threads abc

K="$B/tokenize"
expect 1 "$T/junk.bin: tokenizer" "$K" --section "$T/junk.bin"
expect 1 "$T/dir: Is a directory" "$K" --section "$T/dir"
expect 1 "$T/none.bin: No such file or directory" "$K" --section "$T/none.bin"
expect 1 "no tokenizer section" "$K" "$M"
n=$((n + 1))
st=0; echo "1 4294967296" | timeout 60 "$K" --section "$T/tok.bin" --decode >/dev/null 2>"$T/err" || st=$?
{ [ $st = 1 ] && grep -q "4294967296" "$T/err" && ! grep -q Sanitizer "$T/err"; } ||
    { echo "t_cli: FAIL: tokenize --decode 4294967296: status $st"; cat "$T/err"; fail=1; }
n=$((n + 1))
st=0; timeout 60 "$K" --section "$T/tok.bin" <"$T/dir" >/dev/null 2>"$T/err" || st=$?
{ [ $st = 1 ] && grep -q "Is a directory" "$T/err"; } ||
    { echo "t_cli: FAIL: tokenize < a directory: status $st"; cat "$T/err"; fail=1; }
n=$((n + 1))
out=$(printf 'Hello world' | "$K" --section "$T/tok.bin" | "$K" --section "$T/tok.bin" --decode)
[ "$out" = "Hello world" ] || { echo "t_cli: FAIL: tokenize round trip gave '$out'"; fail=1; }

if [ $fail != 0 ]; then echo "t_cli: FAIL"; exit 1; fi
echo "t_cli: $n command lines, each refused or run as documented, no sanitizer report"
