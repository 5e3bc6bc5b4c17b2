#!/bin/sh
# bench/ab.sh - two builds of build/bench side by side, in one run: before and
# after a change. Each round runs both binaries on the model (in alternating
# order, so a drifting machine favours neither), and prints the ratios
# new/old of prompt and decode tokens/s; at the end the median and the
# spread (min..max) of the per-round ratios. The machine may be busy: read
# the spread, not one round. Timings only; it never fails on a slow machine.
#   sh bench/ab.sh OLD_BENCH NEW_BENCH MODEL [ROUNDS] [extra bench args]
#   e.g. sh bench/ab.sh /tmp/old/build/bench build/bench build/bench130m-q8.mamba 7 --threads 1
set -eu
[ $# -ge 3 ] || { echo "usage: sh bench/ab.sh OLD_BENCH NEW_BENCH MODEL [ROUNDS] [bench args]" >&2; exit 2; }
OLD=$1; NEW=$2; MODEL=$3; ROUNDS=${4:-5}
shift 3; [ $# -gt 0 ] && shift
ARGS="--rounds 1 --prompt ${AB_PROMPT:-128} --gen ${AB_GEN:-32} --bw-mib ${AB_BW_MIB:-64} $*"
one() { # binary -> "prompt decode" tokens/s of one run
    # shellcheck disable=SC2086
    "$1" "$MODEL" $ARGS 2>&1 | awk '/^prompt /{p=$2} /^decode /{d=$2} END{print p, d}'
}
r=1; out=""
while [ $r -le "$ROUNDS" ]; do
    if [ $((r % 2)) = 1 ]; then o=$(one "$OLD"); n=$(one "$NEW"); else n=$(one "$NEW"); o=$(one "$OLD"); fi
    line=$(echo "$o $n" | awk '{printf "%.1f %.1f %.1f %.1f %.3f %.3f", $1, $3, $2, $4, $3/$1, $4/$2}')
    echo "round $r: prompt old $(echo "$line" | cut -d' ' -f1) new $(echo "$line" | cut -d' ' -f2) tok/s," \
         "decode old $(echo "$line" | cut -d' ' -f3) new $(echo "$line" | cut -d' ' -f4) tok/s," \
         "ratios new/old prompt $(echo "$line" | cut -d' ' -f5) decode $(echo "$line" | cut -d' ' -f6)"
    out="$out$line
"
    r=$((r + 1))
done
printf '%s' "$out" | awk '
    { p[NR] = $5; d[NR] = $6 }
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                                   return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    END { n = NR; mp = med(p, n); lp = p[1]; hp = p[n]; md = med(d, n); ld = d[1]; hd = d[n]
          printf "ratio new/old over %d rounds: prompt median %.3f (%.3f..%.3f), decode median %.3f (%.3f..%.3f)\n", n, mp, lp, hp, md, ld, hd }'
