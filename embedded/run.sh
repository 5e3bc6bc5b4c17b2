#!/bin/sh
# embedded/run.sh - `make embedded`: cross-compile examples/embedded.c for
# Cortex-M boards, run each under qemu-system-arm with output through
# semihosting, and check that it prints exactly the tokens the host build
# (build/generate, greedy) prints for the same model file. Reports, per
# target, the flash and RAM footprint (from the linked sections, checked
# against the 2 MB / 256 KB budget of the linker scripts), the stack's
# measured peak against its 4 KB reserve, and the instructions per token.
#
# Targets (EMBEDDED_TARGETS, default all three):
#   m4        Cortex-M4F, ARM MPS2 AN386 (-M mps2-an386), the scalar kernels
#   m55       Cortex-M55, ARM MPS3 AN547 (-M mps3-an547), the scalar kernels
#             (MAMBA_NO_SIMD; gcc may still auto-vectorise plain loops)
#   m55-mve   the same board with mamba.h's Helium (MVE) kernels
#
#   env: EMBEDDED_MODEL  a .mamba file to embed (default: the shipped model
#                        models/tinystories.mamba re-stored in 4 bits by
#                        tools/requant.py --dtype q4_0, see embedded/README.md)
#        EMBEDDED_N      tokens to generate (default 32)
#        EMBEDDED_TARGETS  which of m4 m55 m55-mve
#        BUILD, PYTHON, CC (host compiler for build/generate if it is missing)
# Exit 77 when arm-none-eabi-gcc or qemu-system-arm is missing (Debian
# packages: gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm).
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
CC=${CC:-cc}
N=${EMBEDDED_N:-32}
TARGETS=${EMBEDDED_TARGETS:-m4 m55 m55-mve}
XCC=arm-none-eabi-gcc
QEMU=qemu-system-arm

for tool in $XCC arm-none-eabi-size arm-none-eabi-nm $QEMU; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "embedded: SKIP: $tool not found (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
        exit 77
    fi
done
TOP="$BUILD/embedded-arm"
mkdir -p "$TOP" || exit 1

# 1. the model: a .mamba file (by default the shipped model in 4 bits)
model=${EMBEDDED_MODEL:-}
goal=0  # the Helium speed-up step 6 requires: 3x on the shipped model, none asked of others
if [ -z "$model" ]; then
    goal=3
    model="$TOP/tinystories_q4_0.mamba"
    "$PYTHON" tools/requant.py models/tinystories.mamba "$model" --dtype q4_0 >"$TOP/requant.log" 2>&1 ||
        { echo "embedded: FAIL: requant.py"; cat "$TOP/requant.log"; exit 1; }
fi
name=$(basename "$model" .mamba)
"$PYTHON" tools/bin2c.py "$model" "$TOP/$name.h" || exit 1
model_bytes=$(wc -c <"$model")
# the static arena: state (mamba_state_size, the formula of embedded/README.md)
# rounded to 16, then the logits
arena=$("$PYTHON" - "$model" <<'PY'
import struct, sys
h = open(sys.argv[1], "rb").read(128)
dm, nl, di, ds, dc, dtr, nvp = struct.unpack_from("<7I", h, 40)
nbx = (max(dm, di, dtr) + 31) // 32   # blocks of the q8 matvec scratch
state = 4 * (nl * di * (dc + ds) + 2 * dm + 4 * di + dtr + 2 * ds + 17 * nbx) + 16
print((state + 15) // 16 * 16 + 4 * nvp)
PY
) || exit 1

# 2. the host build on the same file: the tokens every target must print
if [ ! -x "$BUILD/generate" ]; then
    $CC -std=c99 -O2 -I. examples/generate.c -o "$BUILD/generate" -lm || exit 1
fi
"$BUILD/generate" "$model" --tokens 0 -n "$N" --temp 0 --ids -q >"$TOP/$name.tokens.host" ||
    { echo "embedded: FAIL: $BUILD/generate"; exit 1; }

fail=0
for target in $TARGETS; do
    case $target in
    m4) board=mps2-an386; cpu="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"; hz=25000000; simd=-DMAMBA_NO_SIMD ;;
    m55) board=mps3-an547; cpu="-mcpu=cortex-m55 -mthumb -mfloat-abi=hard"; hz=32000000; simd=-DMAMBA_NO_SIMD ;;
    m55-mve) board=mps3-an547; cpu="-mcpu=cortex-m55 -mthumb -mfloat-abi=hard"; hz=32000000; simd= ;;
    *) echo "embedded: FAIL: unknown target $target (m4 m55 m55-mve)"; fail=1; continue ;;
    esac
    OUT="$TOP/$name-$target"
    mkdir -p "$OUT" || exit 1

    # 3. cross-compile and link (the linker script holds the 2 MB / 256 KB budget)
    # shellcheck disable=SC2086
    if ! $XCC $cpu -std=c99 -O2 -Wall -Wextra -pedantic -ffunction-sections -fdata-sections -I. -Iexamples $simd \
            -DEMBEDDED_PLATFORM -DEMBEDDED_MODEL_HEADER="\"$TOP/$name.h\"" -DEMBEDDED_ARENA_BYTES="$arena" \
            -DEMBEDDED_N_TOKENS="$N" -DEMBEDDED_SYSCLK_HZ="${hz}ul" -fstack-usage \
            examples/embedded.c embedded/startup.c -o "$OUT/embedded.elf" \
            -nostartfiles --specs=nano.specs -Lembedded -T "embedded/$board.ld" -Wl,--gc-sections \
            -Wl,-Map="$OUT/embedded.map" -lm >"$OUT/build.log" 2>&1; then
        echo "embedded: FAIL: $target: cross-compile or link (over the flash or RAM budget?)"; cat "$OUT/build.log"
        fail=1; continue
    fi
    if [ -s "$OUT/build.log" ]; then echo "embedded: FAIL: $target: warnings"; cat "$OUT/build.log"; fail=1; continue; fi
    # nothing from the allocator or stdio may have been linked in
    if grep -E "^ *\.text\.(_?malloc|_?free|_malloc_r|_free_r|_?printf|fopen|_fopen_r|puts|putchar|fwrite)\b" "$OUT/embedded.map" >/dev/null ||
       arm-none-eabi-nm "$OUT/embedded.elf" | grep -E " [TtWw] (_?malloc|_?free|_malloc_r|_free_r|printf|fopen|puts|putchar|fwrite|_sbrk)$"; then
        echo "embedded: FAIL: $target: an allocator or stdio function is linked in"; fail=1; continue
    fi
    # the C library functions it does link: from the map's archive members
    sed -n 's/^\(.*\/\)\?\(libc_nano\|libm\|libc\|libg_nano\)\.a(\(lib_a-\)\?\([^)]*\)\.o).*/\4/p' "$OUT/embedded.map" |
        sort -u | tr '\n' ' ' >"$OUT/libc.txt"
    arm-none-eabi-size -A "$OUT/embedded.elf" >"$OUT/size.txt"

    # 4. run under qemu: -icount shift=0 makes virtual time 1 ns per instruction
    start=$(date +%s.%N)
    rm -f "$OUT/qemu.out"
    # (the semihosting console goes to a file: qemu would mix it into stderr)
    if ! timeout 900 $QEMU -M $board -nographic -icount shift=0 -chardev file,id=semi,path="$OUT/qemu.out" \
            -semihosting-config enable=on,target=native,chardev=semi -kernel "$OUT/embedded.elf" \
            >"$OUT/qemu.log" 2>&1; then
        echo "embedded: FAIL: $target: qemu (status $?)"; cat "$OUT/qemu.out" "$OUT/qemu.log"; fail=1; continue
    fi
    end=$(date +%s.%N)
    head -n 1 "$OUT/qemu.out" >"$OUT/tokens.target"
    if ! cmp -s "$TOP/$name.tokens.host" "$OUT/tokens.target"; then
        echo "embedded: FAIL: $target: the tokens differ from the host build's"
        echo "  host:   $(cat "$TOP/$name.tokens.host")"; echo "  target: $(cat "$OUT/tokens.target")"; fail=1; continue
    fi

    # 5. report, and the budgets: flash, RAM, the stack's peak within its reserve
    if ! "$PYTHON" - "$OUT" "$target" "$name" "$model_bytes" "$start" "$end" "$arena" <<'PY'
import re, sys
out, target, name, model_bytes, t0, t1 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
arena = int(sys.argv[7])
FLASH, RAM = 2 << 20, 256 << 10
sec = {}
for line in open(out + "/size.txt"):
    f = line.split()
    if len(f) >= 3 and f[0].startswith("."):
        sec[f[0]] = int(f[1])
flash = sum(sec.get(s, 0) for s in (".vectors", ".text", ".ARM.exidx", ".data"))
ram = sec.get(".data", 0) + sec.get(".bss", 0) + sec.get(".stack", 0)
stats = dict(re.findall(r"(\w+) (\d+(?:\.\d+)?)", open(out + "/qemu.out").read().split("\n")[1]))
steps, ipt, peak = int(stats["steps"]), int(stats["insns_per_token"]), int(stats["stack_peak_bytes"])
tps = [v for k, v in stats.items() if k.startswith("tokens_per_s_at_")]
clock = [k[len("tokens_per_s_at_"):] for k in stats if k.startswith("tokens_per_s_at_")]
ok = True
print("embedded: %-8s %s: tokens match the host build; flash %d bytes (weights %d + code/const %d; budget %d),"
      " RAM %d bytes (arena %s, model struct %s, data+bss %d, stack reserve %d; budget %d)"
      % (target, name, flash, model_bytes, flash - model_bytes, FLASH, ram, stats["arena_bytes"],
         stats["model_struct_bytes"], sec.get(".data", 0) + sec.get(".bss", 0), sec.get(".stack", 0), RAM))
print("embedded: %-8s %s: %d steps, %d instructions per token (qemu -icount), ~%s tokens/s at %s at one"
      " instruction a cycle; stack peak %d of %d bytes; libc/libm: %s; %.1f s under qemu"
      % (target, name, steps, ipt, tps[0], clock[0], peak, sec.get(".stack", 0),
         open(out + "/libc.txt").read().strip(), t1 - t0))
open(out + "/summary.txt", "w").write("%s %s %d %d %d %d\n" % (target, name, flash, ram, ipt, peak))
# the memory formula of embedded/README.md against the program and its map:
# the arena it gives is what the library asks for (mamba_state_size + logits),
# and the RAM the map shows is that arena, the model struct, the stack reserve
# and under 1 KB of other statics; the flash is the file and under 32 KB of code
other = sec.get(".data", 0) + sec.get(".bss", 0) - arena - int(stats["model_struct_bytes"])
# ... and the linker map: the arena and model objects (their own sections, by
# -fdata-sections) and the output sections as the map lays them out
mp = open(out + "/embedded.map").read()
def map_size(pat, lead):
    m = re.search(r"^" + lead + pat + r"\s+0x[0-9a-f]+\s+0x([0-9a-f]+)", mp, re.M)
    return int(m.group(1), 16) if m else -1
map_flash = sum(max(map_size(re.escape(x), ""), 0) for x in (".vectors", ".text", ".ARM.exidx", ".data"))
map_ram = sum(max(map_size(re.escape(x), ""), 0) for x in (".data", ".bss", ".stack"))
map_arena, map_model = map_size(r"\.bss\.arena", " "), map_size(r"\.bss\.model", " ")
if map_arena != arena or map_model != int(stats["model_struct_bytes"]) \
        or map_flash != flash or map_ram != ram:
    print("embedded: FAIL: %s: the linker map disagrees: arena %d (formula %d), model %d (sizeof %s),"
          " flash %d (%d), RAM %d (%d)" % (target, map_arena, arena, map_model,
                                           stats["model_struct_bytes"], map_flash, flash, map_ram, ram)); ok = False
if int(stats["arena_bytes"]) != arena or not 0 <= other < 1024 or not 0 < flash - model_bytes < 32768:
    print("embedded: FAIL: %s: the memory formula does not match: arena %d by formula, %s by the library;"
          " %d bytes of RAM besides arena and model struct; %d of flash besides the weights"
          % (target, arena, stats["arena_bytes"], other, flash - model_bytes)); ok = False
if flash > FLASH or ram > RAM:
    print("embedded: FAIL: %s: over the 2 MB flash / 256 KB RAM budget" % target); ok = False
if not 0 < peak < sec.get(".stack", 0):
    print("embedded: FAIL: %s: stack peak %d bytes not inside the %d-byte reserve" % (target, peak, sec.get(".stack", 0)))
    ok = False
sys.exit(0 if ok else 1)
PY
    then fail=1; fi
done

# 6. Helium against the scalar kernels on the same core: instructions per
# token (exact under -icount, so a fixed figure for a given compiler, not a
# timing); the goal on the shipped model is at least 3 times fewer (on the
# tiny f16 test model, whose rows are a few dozen columns, it is about 2.3)
s="$TOP/$name-m55/summary.txt" v="$TOP/$name-m55-mve/summary.txt"
case " $TARGETS " in *" m55 "*) case " $TARGETS " in *" m55-mve "*)
    if [ $fail = 0 ] && [ -f "$s" ] && [ -f "$v" ]; then
        awk -v name="$name" -v goal=$goal 'NR == FNR { sc = $5; next } { hv = $5 }
            END { r = sc / hv; ok = (r >= goal)
                  printf "embedded: %s: Cortex-M55 Helium %d instructions per token, scalar %d: %.2fx fewer%s\n",
                         name, hv, sc, r, (ok ? "" : " (FAIL: the goal is " goal "x)")
                  if (!ok) exit 1 }' "$s" "$v" || fail=1
    fi ;; esac ;; esac
exit $fail
