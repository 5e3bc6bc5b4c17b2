#!/bin/sh
# The no-heap, no-stdio build (examples/embedded.c):
#  1. its object file, compiled with gcc and clang, references no allocator
#     and no stdio (nm -u);
#  2. examples/embedded_model.h is exactly tools/bin2c.py of
#     tests/data/ckpt/ss_long converted to f16 (so it can be regenerated);
#  3. it prints the same tokens as build/generate (greedy) on that model;
#  4. the Cortex-M builds under qemu do too (embedded/run.sh: the Cortex-M4
#     and the Cortex-M55 with its scalar and its Helium kernels), on that
#     model and on the shipped model in 4 bits, each within 2 MB of flash,
#     256 KB of RAM and a 4 KB stack reserve (SKIP when arm-none-eabi-gcc or
#     qemu-system-arm is missing; a failure under CI=true);
#  5. test_simd (Helium kernels against the scalar references), test_kernels
#     and test_loader pass on the Cortex-M55 under qemu.
#   env: PYTHON, BUILD, CC
. tests/lib.sh
OUT="$BUILD/t_embedded"
mkdir -p "$OUT" || exit 1
fail=0
# symbols an embedded build must not need: the heap, stdio, assert's message
# printer, the file mapper
BANNED='^(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|fopen|fopen64|fclose|fread|fwrite|fflush|fseek|ftell|printf|fprintf|sprintf|snprintf|vprintf|vfprintf|vsnprintf|__printf_chk|__fprintf_chk|__snprintf_chk|puts|fputs|putchar|fputc|putc|perror|stdout|stderr|stdin|__assert_fail|__assert_func|mmap|mmap64|munmap|open|open64)$'

for cc in gcc clang; do
    t_have $cc || { t_skip "the $cc build of examples/embedded.c" "$cc not installed"; continue; }
    if ! $cc -std=c99 -O2 -Wall -Wextra -pedantic -Werror -I. -c examples/embedded.c -o "$OUT/embedded-$cc.o"; then
        echo "t_embedded: FAIL: $cc does not compile examples/embedded.c cleanly"; fail=1; continue
    fi
    bad=$(nm -u "$OUT/embedded-$cc.o" | awk '{print $NF}' | grep -E "$BANNED")
    if [ -n "$bad" ]; then
        echo "t_embedded: FAIL: $cc object references: $(echo $bad)"; fail=1
    else
        echo "t_embedded: $cc object references only: $(nm -u "$OUT/embedded-$cc.o" | awk '{print $NF}' | tr '\n' ' ')"
    fi
    $cc "$OUT/embedded-$cc.o" -o "$OUT/embedded-$cc" -lm || fail=1
done

# the committed model header is reproducible from tests/data
"$PYTHON" tools/convert.py tests/data/ckpt/ss_long "$OUT/ss_long_f16.mamba" --dtype f16 >"$OUT/convert.log" 2>&1 ||
    { echo "t_embedded: FAIL: convert.py"; cat "$OUT/convert.log"; exit 1; }
"$PYTHON" tools/bin2c.py "$OUT/ss_long_f16.mamba" "$OUT/model.h" || exit 1
if ! cmp -s "$OUT/model.h" examples/embedded_model.h; then
    echo "t_embedded: FAIL: examples/embedded_model.h is not bin2c of ss_long (f16); regenerate it:"
    echo "  $PYTHON tools/bin2c.py $OUT/ss_long_f16.mamba examples/embedded_model.h"; fail=1
fi

# tools/requant.py (how the boards get the shipped model in 4 bits) writes
# the very file tools/convert.py writes from the checkpoint, when both start
# from the same values (an f32 file holds the checkpoint's exactly)
"$PYTHON" tools/convert.py tests/data/ckpt/ss_long "$OUT/ss_long_f32.mamba" >"$OUT/convert32.log" 2>&1 &&
    "$PYTHON" tools/convert.py tests/data/ckpt/ss_long "$OUT/ss_long_q4.mamba" --dtype q4_0 >>"$OUT/convert32.log" 2>&1 ||
    { echo "t_embedded: FAIL: convert.py"; cat "$OUT/convert32.log"; exit 1; }
if ! "$PYTHON" tools/requant.py "$OUT/ss_long_f32.mamba" "$OUT/ss_long_rq4.mamba" --dtype q4_0 >"$OUT/requant.log" 2>&1; then
    echo "t_embedded: FAIL: requant.py"; cat "$OUT/requant.log"; fail=1
elif cmp -s "$OUT/ss_long_q4.mamba" "$OUT/ss_long_rq4.mamba"; then
    echo "t_embedded: requant.py f32 -> q4_0 = convert.py --dtype q4_0, byte for byte"
else
    echo "t_embedded: FAIL: requant.py f32 -> q4_0 differs from convert.py --dtype q4_0"; fail=1
fi

# same tokens as the normal build
if [ ! -x "$BUILD/generate" ]; then $CC -std=c99 -O2 -I. examples/generate.c -o "$BUILD/generate" -lm || exit 1; fi
"$BUILD/generate" "$OUT/ss_long_f16.mamba" --tokens 0 -n 32 --temp 0 --ids -q >"$OUT/tokens.host" || { echo "t_embedded: FAIL: generate"; exit 1; }
for exe in "$OUT"/embedded-gcc "$OUT"/embedded-clang "$BUILD/embedded"; do
    [ -x "$exe" ] || continue
    "$exe" >"$OUT/tokens.embedded" || { echo "t_embedded: FAIL: $exe exited $?"; fail=1; continue; }
    if cmp -s "$OUT/tokens.host" "$OUT/tokens.embedded"; then
        echo "t_embedded: $exe = generate: $(cat "$OUT/tokens.host")"
    else
        echo "t_embedded: FAIL: $exe printed $(cat "$OUT/tokens.embedded"), generate $(cat "$OUT/tokens.host")"; fail=1
    fi
done

# on the Cortex-M boards under qemu: the test model, then the shipped one in 4 bits
for m in "$OUT/ss_long_f16.mamba" ""; do
    EMBEDDED_MODEL="$m" BUILD="$BUILD" PYTHON="$PYTHON" CC="$CC" sh embedded/run.sh
    rc=$?
    if [ $rc = 77 ]; then
        t_skip "the Cortex-M4 and Cortex-M55 runs under qemu" "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
        break
    elif [ $rc != 0 ]; then fail=1; fi
done

# the kernel tests on the Cortex-M55 with its Helium kernels: every Helium
# kernel against its scalar reference (test_simd), and the library's kernel
# and loader tests, cross-compiled with newlib's semihosting stdio and run
# under qemu (the same checks as on a host: they print "N passed, N failed"
# and exit non-zero on a failure)
if t_have arm-none-eabi-gcc qemu-system-arm; then
    for t in test_simd test_kernels test_loader; do
        if ! arm-none-eabi-gcc -mcpu=cortex-m55 -mthumb -mfloat-abi=hard -std=c99 -O2 -Wall -Wextra -pedantic -Werror \
                -I. -DEMBEDDED_RDIMON "tests/$t.c" embedded/startup.c -o "$OUT/$t-m55.elf" -nostartfiles \
                --specs=rdimon.specs -T embedded/mps3-an547-ctest.ld -lm >"$OUT/$t-m55.build" 2>&1; then
            echo "t_embedded: FAIL: $t does not build for the Cortex-M55:"; head -n 20 "$OUT/$t-m55.build"; fail=1; continue
        fi
        if timeout 600 qemu-system-arm -M mps3-an547 -nographic -semihosting-config enable=on,target=native \
                -kernel "$OUT/$t-m55.elf" >"$OUT/$t-m55.log" 2>&1 && grep -q " 0 failed" "$OUT/$t-m55.log"; then
            echo "t_embedded: $t on the Cortex-M55 (qemu mps3-an547): $(grep 'kernels under test' "$OUT/$t-m55.log") $(tail -n 1 "$OUT/$t-m55.log")"
        else
            echo "t_embedded: FAIL: $t on the Cortex-M55:"; grep FAIL "$OUT/$t-m55.log" | head -n 20; tail -n 2 "$OUT/$t-m55.log"; fail=1
        fi
    done
else
    t_skip "the kernel tests on the Cortex-M55" "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
fi

[ $fail = 0 ] || t_fail "see above"
t_end "ok"
