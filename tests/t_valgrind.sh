#!/bin/sh
# valgrind memcheck on the example programs: zero errors, zero leaks.
#
# Three builds of examples/logits.c and examples/generate.c in $BUILD/valgrind:
#   scalar  -O1 -g -DMAMBA_NO_SIMD        the readable reference kernels
#   avx2    -O2 -g -mavx2 -mfma -mf16c    the vector kernels valgrind can decode
#                                         (valgrind 3.19 has no AVX-512, so not
#                                         -march=native on an AVX-512 machine)
#   omp     the avx2 build with -fopenmp, OMP_NUM_THREADS=2
# Each runs golden checkpoints (f32, f16, bf16, Falcon) token by token and
# with --forward, checked against the golden logits, then generate.c with a
# normal prompt, empty prompts, zero-length generation, out-of-range ids, and
# missing / truncated / corrupt model files (these exit 1 by design; only
# valgrind's own exit code 99 counts as a failure).
#   env: PYTHON (default /usr/bin/python3), BUILD (default build), CC
# Needs the Debian package `valgrind`; skips without it (a failure under CI=true).
. tests/lib.sh
DATA=tests/data

if ! t_have valgrind; then
    t_skip_test "valgrind memcheck" "valgrind not installed: apt-get install valgrind"
fi

B="$BUILD/valgrind"
mkdir -p "$B" || exit 1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/t_valgrind.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
VG="$VG --show-leak-kinds=definite,indirect"  # add --track-origins=yes to find the source of an error
W="-std=c99 -Wall -Wextra -pedantic -I. -g"
fail=0
runs=0

# build NAME FLAGS...: both examples as $B/NAME-logits, $B/NAME-generate
build() {
    name=$1; shift
    for ex in logits generate; do
        # shellcheck disable=SC2086
        if ! $CC $W "$@" "examples/$ex.c" -o "$B/$name-$ex" -lm 2>"$TMP/build.log"; then
            echo "t_valgrind: FAIL: cannot build $name-$ex: $(head -n 3 "$TMP/build.log")"
            return 1
        fi
    done
}

# vg WANT_STATUS LABEL CMD...: run under valgrind; 99 = valgrind found errors
vg() {
    want=$1; label=$2; shift 2
    runs=$((runs + 1))
    # shellcheck disable=SC2086
    $VG "$@" >"$TMP/out" 2>"$TMP/err"
    st=$?
    if [ "$st" -eq 99 ]; then
        echo "  $label: FAIL: valgrind errors:"; sed 's/^/    /' "$TMP/err" | head -n 40; fail=1; return 1
    fi
    if [ "$st" -ne "$want" ]; then
        echo "  $label: FAIL: exit $st, wanted $want: $(tail -n 2 "$TMP/err")"; fail=1; return 1
    fi
    return 0
}

# the golden checkpoints this test uses: f32, f16 shards, bf16, Falcon
CKPTS="ss_basic hf_sharded_f16 hf_bf16 falcon_default"
for c in $CKPTS; do
    if ! "$PYTHON" tools/convert.py "$DATA/ckpt/$c" "$TMP/$c.mamba" >"$TMP/conv.log" 2>&1; then
        echo "t_valgrind: FAIL: convert $c: $(tail -n 1 "$TMP/conv.log")"; exit 1
    fi
done
head -c 1000 "$TMP/ss_basic.mamba" > "$TMP/truncated.mamba"
cp "$TMP/ss_basic.mamba" "$TMP/corrupt.mamba"
printf 'XXXX' | dd of="$TMP/corrupt.mamba" bs=1 seek=200 conv=notrunc 2>/dev/null

check_golden() { # label ckpt outfile
    if ! "$PYTHON" tools/compare_logits.py "$DATA/golden/$2.logits" "$3" \
            --vocab $(( $(wc -c < "$DATA/golden/$2.logits") / 4 / $(wc -w < "$DATA/golden/$2.tokens") )) \
            --quiet >"$TMP/cmp" 2>&1; then
        echo "  $1: FAIL: logits differ from golden: $(cat "$TMP/cmp")"; fail=1
    fi
}

one_build() {
    name=$1
    L="$B/$name-logits"
    G="$B/$name-generate"
    echo "-- valgrind $name"
    for c in $CKPTS; do
        vg 0 "$name logits $c" "$L" "$TMP/$c.mamba" --tokens-file "$DATA/golden/$c.tokens" --out "$TMP/$c.out" &&
            check_golden "$name logits $c" "$c" "$TMP/$c.out"
    done
    vg 0 "$name logits --forward 8" "$L" "$TMP/ss_basic.mamba" --tokens-file "$DATA/golden/ss_basic.tokens" \
        --out "$TMP/fw.out" --forward 8 && check_golden "$name logits --forward" ss_basic "$TMP/fw.out"
    vg 0 "$name generate" "$G" "$TMP/ss_basic.mamba" -n 24 --tokens "1 2 3"
    vg 0 "$name generate -n 0 (zero-length generation)" "$G" "$TMP/ss_basic.mamba" -n 0 --tokens "1 2 3"
    vg 1 "$name generate, prompt id out of range" "$G" "$TMP/ss_basic.mamba" --tokens "1 99999999"
    vg 1 "$name generate, missing file" "$G" "$TMP/nonexistent.mamba"
    vg 1 "$name generate, truncated file" "$G" "$TMP/truncated.mamba"
    vg 1 "$name logits, corrupt directory" "$L" "$TMP/corrupt.mamba" --tokens "1" --out "$TMP/x.out"
    vg 2 "$name logits, no arguments" "$L"
    vg 0 "$name generate, empty prompt (--tokens \"\")" "$G" "$TMP/ss_basic.mamba" -n 4 --tokens ""
    vg 0 "$name generate, empty prompt (-p \"\")" "$G" "$TMP/ss_basic.mamba" -n 4 -p ""
    vg 1 "$name generate, text bytes beyond a tiny vocabulary" "$G" "$TMP/ss_basic.mamba" -n 4 -p "Once"
}

build scalar -O1 -DMAMBA_NO_SIMD || exit 1
build avx2 -O2 -mavx2 -mfma -mf16c || exit 1
one_build scalar
one_build avx2
if t_have_omp; then
    build omp -O2 -mavx2 -mfma -mf16c -fopenmp || exit 1
    OMP_NUM_THREADS=2
    export OMP_NUM_THREADS
    CKPTS="ss_basic hf_bf16" # the threads are what is new here; the kernels were covered above
    one_build omp
else
    t_skip "valgrind of the OpenMP build" "$CC has no -fopenmp: for clang apt-get install libomp-dev"
fi

[ "$fail" -eq 0 ] || t_fail "valgrind found errors (above)"
t_end "$runs runs, 0 valgrind errors, 0 definite/indirect leaks"
