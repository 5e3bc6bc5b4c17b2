#!/bin/sh
# tokspeed.sh - encoding speed of mamba.h's tokenizer beside Hugging Face's
# (npm `tokenizers`, Rust, one thread: RAYON_NUM_THREADS=1) on the same text,
# for each design in tests/data/tok. Rounds alternate between the two, so a
# busy machine slows both alike; each prints MB/s per round, then the medians,
# the spread (min..max) and the ratio of the medians. Both print a checksum of
# the ids: they must agree (the same ids).
#   bench/tokspeed.sh TEXT [ROUNDS]      TEXT: e.g. 10 MB of TinyStories (not committed)
#   env: BUILD (build), PYTHON, DESIGNS (neox mistral_v1 mistral_v3 cl100k qwen3),
#        MODES (lines whole): lines = one call per line, as documents; whole = one call
# Needs `cd tools && npm install` (the reference of tools/tokvectors.js).
set -e
TEXT=$1
ROUNDS=${2:-5}
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
DESIGNS=${DESIGNS:-neox mistral_v1 mistral_v3 cl100k qwen3}
MODES=${MODES:-lines whole}
[ -f "$TEXT" ] || { echo "usage: bench/tokspeed.sh TEXT [ROUNDS]"; exit 2; }
mkdir -p "$BUILD/tok"
${CC:-cc} -std=c99 -O2 -march=native -I. bench/tokspeed.c -o "$BUILD/tokspeed" -lm
med() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {printf "%.2f (%.2f..%.2f)", a[int((NR+1)/2)], a[1], a[NR]}'; }
for d in $DESIGNS; do
    [ -s "$BUILD/tok/$d.tok" ] || "$PYTHON" tools/tokpack.py "tests/data/tok/$d/tokenizer.json" "$BUILD/tok/$d.tok" >/dev/null
    for mode in $MODES; do
        flag=""; [ "$mode" = lines ] && flag=--lines
        c=""; h=""; csum=""; hsum=""
        r=0
        while [ $r -lt "$ROUNDS" ]; do
            lc=$("$BUILD/tokspeed" "$BUILD/tok/$d.tok" "$TEXT" 1 $flag)
            lh=$(RAYON_NUM_THREADS=1 node bench/tokspeed.js "tests/data/tok/$d/tokenizer.json" "$TEXT" 1 $flag)
            c="$c $(echo "$lc" | sed 's/.*MB\/s: \([0-9.]*\).*/\1/')"
            h="$h $(echo "$lh" | sed 's/.*MB\/s: \([0-9.]*\).*/\1/')"
            csum=$(echo "$lc" | sed 's/.*checksum \([0-9a-f]*\).*/\1/'); hsum=$(echo "$lh" | sed 's/.*checksum \([0-9a-f]*\).*/\1/')
            r=$((r + 1))
        done
        same=same; [ "$csum" = "$hsum" ] || same="DIFFERENT ($csum vs $hsum)"
        cm=$(echo "$c" | med); hm=$(echo "$h" | med)
        m1=$(echo "$c" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        m2=$(echo "$h" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        ratio=$(awk -v x="$m1" -v y="$m2" 'BEGIN {printf "%.1f", x / y}')
        printf '%-11s %-5s mamba.h %s MB/s | HF %s MB/s | x%s | ids %s\n' "$d" "$mode" "$cm" "$hm" "$ratio" "$same"
    done
done
