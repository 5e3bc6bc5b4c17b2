#!/bin/sh
# The ARM (AArch64, NEON) build of the C tests: cross-compiled with Debian's
# gcc-aarch64-linux-gnu at -O2 (NEON is on by default on AArch64, so
# mamba.h takes its NEON kernels) and run under qemu-user. test_simd checks
# every NEON dot product against the scalar reference, test_forward the
# NEON matrix tiles of mamba_forward() against mamba_step(), test_kernels
# and test_loader the rest of the library on a 64-bit little-endian ARM.
# Prints SKIP when the tools are absent (a failure under CI=true); .ci/run installs
# them: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
#   env: BUILD (default build), ARM_CC (default aarch64-linux-gnu-gcc)
. tests/lib.sh
ARM_CC=${ARM_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU:-qemu-aarch64}
SYSROOT=${SYSROOT:-/usr/aarch64-linux-gnu}

if ! t_have "$ARM_CC" "$QEMU"; then
    t_skip_test "the aarch64 (NEON) build" "$ARM_CC or $QEMU not installed: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
fi
OUT="$BUILD/arm"
mkdir -p "$OUT" || exit 1
fail=0
for t in test_simd test_kernels test_loader test_forward; do
    [ -f "tests/$t.c" ] || { echo "t_arm: FAIL: tests/$t.c missing"; fail=1; continue; }
    if ! "$ARM_CC" -std=c99 -O2 -Wall -Wextra -pedantic -Werror -I. "tests/$t.c" -o "$OUT/$t" -lm \
            >"$OUT/$t.build.log" 2>&1; then
        echo "t_arm: FAIL: $t does not build for aarch64:"; head -n 20 "$OUT/$t.build.log"; fail=1; continue
    fi
    if "$QEMU" -L "$SYSROOT" "$OUT/$t" >"$OUT/$t.log" 2>&1; then
        echo "t_arm: $t (aarch64): $(grep -E 'kernels under test' "$OUT/$t.log" | head -n 1) $(tail -n 1 "$OUT/$t.log")"
    else
        echo "t_arm: FAIL: $t under $QEMU:"; grep FAIL "$OUT/$t.log" | head -n 20; tail -n 1 "$OUT/$t.log"; fail=1
    fi
done
if [ "$fail" -ne 0 ]; then echo "t_arm: FAIL"; exit 1; fi
echo "t_arm: the aarch64 (NEON) build passes its tests"
