#!/bin/sh
# The bad-input and snapshot tests again with MAMBA_NO_MMAP (the file is read
# into the heap: the path embedded and non-POSIX builds take), under
# AddressSanitizer + UndefinedBehaviorSanitizer, so that path's error
# handling (directories, empty files, refused files) is checked for leaks and
# bad reads too.   env: BUILD (default build), CC
. tests/lib.sh
B=${BUILD:-build}/nommap
mkdir -p "$B" || exit 1
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
fail=0
for t in test_badinput test_snapshot; do
    # shellcheck disable=SC2086
    if ! $CC -std=c99 -O1 -g -Wall -Wextra -pedantic -DMAMBA_NO_MMAP $SAN -I. -Itests "tests/$t.c" -o "$B/$t" -lm \
            2>"$B/$t.build.log"; then
        echo "t_nommap: FAIL: build $t: $(head -n 3 "$B/$t.build.log")"; fail=1; continue
    fi
    if ASAN_OPTIONS=detect_leaks=1 "./$B/$t" >"$B/$t.log" 2>&1; then
        echo "t_nommap: $t: $(tail -n 1 "$B/$t.log")"
    else
        cat "$B/$t.log" | tail -n 30; echo "t_nommap: FAIL: $t"; fail=1
    fi
done
exit $fail
