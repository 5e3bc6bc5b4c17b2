#!/bin/sh
# embedded/run.sh - `make embedded`: cross-compile examples/embedded.c for a
# Cortex-M4F (ARM MPS2 AN386), run it under qemu-system-arm with output
# through semihosting, and check that it prints exactly the tokens the host
# build (build/generate, greedy) prints for the same model. Reports the flash
# and RAM footprint (from the linker map, via size) and the cost per token.
#
#   env: EMBEDDED_MODEL  a .mamba file to embed (default: tests/data/ckpt/ss_long
#                        converted to f16, the model examples/embedded_model.h holds)
#        EMBEDDED_N      tokens to generate (default 32)
#        BUILD, PYTHON, CC (host compiler for build/generate if it is missing)
# Exit 77 when arm-none-eabi-gcc or qemu-system-arm is missing (Debian
# packages: gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm).
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
CC=${CC:-cc}
N=${EMBEDDED_N:-32}
OUT="$BUILD/embedded-arm"
XCC=arm-none-eabi-gcc
QEMU=qemu-system-arm
BOARD=mps2-an386
CPU="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"

for tool in $XCC arm-none-eabi-size $QEMU; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "embedded: SKIP: $tool not found (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
        exit 77
    fi
done
mkdir -p "$OUT" || exit 1

# 1. the model: a .mamba file, then the same file as a C array
model=${EMBEDDED_MODEL:-}
if [ -z "$model" ]; then
    model="$OUT/ss_long_f16.mamba"
    "$PYTHON" tools/convert.py tests/data/ckpt/ss_long "$model" --dtype f16 >"$OUT/convert.log" 2>&1 ||
        { echo "embedded: FAIL: convert.py"; cat "$OUT/convert.log"; exit 1; }
fi
"$PYTHON" tools/bin2c.py "$model" "$OUT/model.h" || exit 1
# the static arena: state (mamba_state_size) rounded to 16, then the logits
arena=$("$PYTHON" - "$model" <<'PY'
import struct, sys
h = open(sys.argv[1], "rb").read(128)
dm, nl, di, ds, dc, dtr, nvp = struct.unpack_from("<7I", h, 40)
nbx = (max(dm, di, dtr) + 31) // 32   # blocks of the q8 matvec scratch
state = 4 * (nl * di * (dc + ds) + 2 * dm + 4 * di + dtr + 2 * ds + 17 * nbx) + 16
print((state + 15) // 16 * 16 + 4 * nvp)
PY
) || exit 1

# 2. cross-compile and link; the map file and `size` give the footprint
if ! $XCC $CPU -std=c99 -O2 -Wall -Wextra -pedantic -ffunction-sections -fdata-sections -I. -Iexamples \
        -DEMBEDDED_PLATFORM -DEMBEDDED_MODEL_HEADER="\"$OUT/model.h\"" -DEMBEDDED_ARENA_BYTES="$arena" \
        -DEMBEDDED_N_TOKENS="$N" \
        examples/embedded.c embedded/startup.c -o "$OUT/embedded.elf" \
        -nostartfiles --specs=nano.specs -T embedded/mps2-an386.ld -Wl,--gc-sections \
        -Wl,-Map="$OUT/embedded.map" -lm >"$OUT/build.log" 2>&1; then
    echo "embedded: FAIL: cross-compile"; cat "$OUT/build.log"; exit 1
fi
if [ -s "$OUT/build.log" ]; then echo "embedded: FAIL: warnings"; cat "$OUT/build.log"; exit 1; fi
# nothing from the allocator or stdio may have been linked in
if grep -E "^ *\.text\.(_?malloc|_?free|_malloc_r|_free_r|_?printf|fopen|_fopen_r|puts|putchar|fwrite)\b" "$OUT/embedded.map" >/dev/null ||
   arm-none-eabi-nm "$OUT/embedded.elf" | grep -E " [TtWw] (_?malloc|_?free|_malloc_r|_free_r|printf|fopen|puts|putchar|fwrite|_sbrk)$"; then
    echo "embedded: FAIL: an allocator or stdio function is linked in"; exit 1
fi
arm-none-eabi-size -A "$OUT/embedded.elf" >"$OUT/size.txt"
model_bytes=$(wc -c <"$model")

# 3. run under qemu: -icount shift=0 makes virtual time 1 ns per instruction
start=$(date +%s.%N)
# (the semihosting console goes to a file: qemu would mix it into stderr)
rm -f "$OUT/qemu.out"
if ! timeout 600 $QEMU -M $BOARD -nographic -icount shift=0 -chardev file,id=semi,path="$OUT/qemu.out" \
        -semihosting-config enable=on,target=native,chardev=semi -kernel "$OUT/embedded.elf" \
        >"$OUT/qemu.log" 2>&1; then
    echo "embedded: FAIL: qemu (status $?)"; cat "$OUT/qemu.out" "$OUT/qemu.log"; exit 1
fi
end=$(date +%s.%N)
head -n 1 "$OUT/qemu.out" >"$OUT/tokens.target"

# 4. the host build on the same model file
if [ ! -x "$BUILD/generate" ]; then
    $CC -std=c99 -O2 -I. examples/generate.c -o "$BUILD/generate" -lm || exit 1
fi
"$BUILD/generate" "$model" --tokens 0 -n "$N" --temp 0 --ids -q >"$OUT/tokens.host" || { echo "embedded: FAIL: $BUILD/generate"; exit 1; }
if ! cmp -s "$OUT/tokens.host" "$OUT/tokens.target"; then
    echo "embedded: FAIL: the Cortex-M tokens differ from the host build's"
    echo "  host:   $(cat "$OUT/tokens.host")"; echo "  target: $(cat "$OUT/tokens.target")"; exit 1
fi

# 5. report
"$PYTHON" - "$OUT" "$model_bytes" "$start" "$end" <<'PY'
import re, sys
out, model_bytes, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
sec = {}
for line in open(out + "/size.txt"):
    f = line.split()
    if len(f) >= 3 and f[0].startswith("."):
        sec[f[0]] = int(f[1])
flash = sec.get(".text", 0) + sec.get(".ARM.exidx", 0) + sec.get(".data", 0)
ram = sec.get(".data", 0) + sec.get(".bss", 0) + sec.get(".stack", 0)
stats = dict(re.findall(r"(\w+) (\d+)", open(out + "/qemu.out").read().split("\n")[1]))
steps, ticks = int(stats["steps"]), int(stats["ticks"])
insns = ticks * 40          # SysTick at 25 MHz, virtual time 1 ns per instruction
print("embedded: tokens match the host build: %s" % open(out + "/tokens.host").read().strip())
print("embedded: flash %d bytes (weights %d + code/const %d), RAM %d bytes (data+bss %d, of it arena %s,"
      " model struct %s; stack reserve %d)"
      % (flash, model_bytes, flash - model_bytes, ram, sec.get(".data", 0) + sec.get(".bss", 0),
         stats["arena_bytes"], stats["model_struct_bytes"], sec.get(".stack", 0)))
print("embedded: %d steps, ~%d instructions per token (qemu -icount; SysTick %d ticks at 25 MHz),"
      " %.1f tokens/s emulated wall clock (qemu total %.2f s)"
      % (steps, insns // max(steps, 1), ticks, steps / max(t1 - t0, 1e-9), t1 - t0))
PY
