#!/bin/sh
# mamba_step_batch() on every weight type the converter writes, on
# Falcon-Mamba and Mamba-2, and with 2 OpenMP threads: tests/test_batch.c
# (bit-identical to n mamba_step() calls) run on golden checkpoints converted
# to f16, bf16, q8, q4_0, iq4_nl and q4_k (the int16-prepared input of the
# quantised types, in each sequence's own scratch), on a q8 Falcon-Mamba and
# on Mamba-2 ones (groups, a per-channel D, a Delta limit, head_dim 64 with
# d_state 128) in f32, f16, q8 and q4_0; then built with
# -fopenmp and MAMBA_PAR_MIN_WORK=1 (every panel loop split) and run on 2
# threads; then with the portable kernels (MAMBA_NO_SIMD); then with the
# AVX2 kernels (-mavx2 -mfma -mf16c, where this CPU runs them: 4 inputs a
# pass) and the NEON ones (aarch64, under qemu-user, as tests/t_arm.sh; the
# builder's models, the q8, q4_0 and Mamba-2 ones). Each build also checks the
# quantised batch kernels alone on rows of 39-40 blocks (several 4-bit chunks).
#   env: PYTHON, BUILD, CC (tests/lib.sh), ARM_CC, QEMU, SYSROOT (tests/t_arm.sh)
. tests/lib.sh
t_tmp
models=""
for spec in ckpt/ss_basic:f16 ckpt/ss_basic:q8 ckpt/ss_basic:q4_0 ckpt/ss_basic:iq4_nl ckpt/ss_basic:q4_k ckpt/falcon_default:q8 \
        ckpt/hf_bf16:bf16 mamba2/ckpt/m2_ss_g2_dhd:f32 mamba2/ckpt/m2_ss_g2_dhd:f16 mamba2/ckpt/m2_ss_g2_dhd:q8 \
        mamba2/ckpt/m2_ss_nbg_limit:q4_0 mamba2/ckpt/m2_hf_hd64_n128_f16:f16; do
    c=${spec%%:*}; d=${spec##*:}; c=${c##*/}
    set -- --dtype "$d"     # q4_k: rows this short would get iq4_nl (t_dtypes.sh)
    [ "$d" = q4_k ] && set -- "$@" --override in_proj=q4_k --override x_proj=q4_k --override out_proj=q4_k
    if "$PYTHON" tools/convert.py "tests/data/${spec%%:*}" "$TMP/$c-$d.mamba" "$@" >"$TMP/conv.log" 2>&1; then
        models="$models $TMP/$c-$d.mamba"
    else
        t_fail "convert $c --dtype $d: $(tail -n 1 "$TMP/conv.log")"
    fi
done
if ! $CC -std=c99 -O2 -march=native -Wall -Wextra -pedantic -Werror -I. -Itests tests/test_batch.c -o "$TMP/tb" -lm \
        2>"$TMP/cc.log"; then
    t_fail "build: $(head -n 5 "$TMP/cc.log")"; t_end "-"
fi
# shellcheck disable=SC2086
if "$TMP/tb" $models >"$TMP/tb.out" 2>&1; then echo "$T_NAME: $(tail -n 1 "$TMP/tb.out") (f16, bf16, q8, q4_0, iq4_nl, q4_k, Falcon-Mamba, Mamba-2)"
else grep FAIL "$TMP/tb.out" | head -n 5; t_fail "one thread"; fi
if t_have_omp; then
    if $CC -std=c99 -O2 -march=native -fopenmp -DMAMBA_PAR_MIN_WORK=1 -Wall -Wextra -pedantic -Werror -I. -Itests \
            tests/test_batch.c -o "$TMP/tb_omp" -lm 2>"$TMP/cc.log"; then
        # shellcheck disable=SC2086
        if OMP_NUM_THREADS=2 "$TMP/tb_omp" $models >"$TMP/omp.out" 2>&1; then echo "$T_NAME: 2 threads: $(tail -n 1 "$TMP/omp.out")"
        else grep FAIL "$TMP/omp.out" | head -n 5; t_fail "2 threads"; fi
    else
        t_fail "OpenMP build: $(head -n 5 "$TMP/cc.log")"
    fi
else
    t_skip "the 2-thread run" "$CC has no -fopenmp"
fi
if ! $CC -std=c99 -O2 -DMAMBA_NO_SIMD -Wall -Wextra -pedantic -Werror -I. -Itests tests/test_batch.c -o "$TMP/tb_s" -lm \
        2>"$TMP/cc.log"; then
    t_fail "portable build: $(head -n 5 "$TMP/cc.log")"
elif ! "$TMP/tb_s" $models >"$TMP/s.out" 2>&1; then
    grep FAIL "$TMP/s.out" | head -n 5; t_fail "portable kernels"
else
    echo "$T_NAME: portable kernels: $(tail -n 1 "$TMP/s.out")"
fi
# shellcheck disable=SC2086
if grep -q ' avx2 ' /proc/cpuinfo 2>/dev/null && grep -q ' fma ' /proc/cpuinfo 2>/dev/null &&
        grep -q ' f16c ' /proc/cpuinfo 2>/dev/null; then
    if ! $CC -std=c99 -O2 -mavx2 -mfma -mf16c -Wall -Wextra -pedantic -Werror -I. -Itests tests/test_batch.c \
            -o "$TMP/tb_avx2" -lm 2>"$TMP/cc.log"; then
        t_fail "AVX2 build: $(head -n 5 "$TMP/cc.log")"
    elif ! "$TMP/tb_avx2" $models >"$TMP/avx2.out" 2>&1; then
        grep FAIL "$TMP/avx2.out" | head -n 5; t_fail "AVX2 kernels"
    else
        echo "$T_NAME: AVX2 kernels: $(tail -n 1 "$TMP/avx2.out")"
    fi
else
    t_skip "the AVX2 kernels" "this CPU has no AVX2, FMA or F16C"
fi
ARM_CC=${ARM_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU:-qemu-aarch64}
SYSROOT=${SYSROOT:-/usr/aarch64-linux-gnu}
# shellcheck disable=SC2086
if t_have "$ARM_CC" "$QEMU"; then
    arm_models=""
    for f in $models; do case $f in *ss_basic-q8*|*ss_basic-q4_0*|*m2_ss_g2_dhd-f16*|*m2_ss_nbg_limit-q4_0*) arm_models="$arm_models $f" ;; esac; done
    if ! "$ARM_CC" -std=c99 -O2 -Wall -Wextra -pedantic -Werror -I. -Itests tests/test_batch.c -o "$TMP/tb_arm" -lm \
            2>"$TMP/cc.log"; then
        t_fail "aarch64 build: $(head -n 5 "$TMP/cc.log")"
    elif ! "$QEMU" -L "$SYSROOT" "$TMP/tb_arm" $arm_models >"$TMP/arm.out" 2>&1; then
        grep FAIL "$TMP/arm.out" | head -n 5; t_fail "NEON kernels (aarch64 under $QEMU)"
    else
        echo "$T_NAME: NEON kernels (aarch64 under $QEMU): $(tail -n 1 "$TMP/arm.out")"
    fi
else
    t_skip "the NEON kernels" "$ARM_CC or $QEMU not installed: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
fi
t_end "ok"
