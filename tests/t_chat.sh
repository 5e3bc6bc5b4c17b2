#!/bin/sh
# build/chat on the shipped model, through its line protocol (--protocol):
#  1. a turn reads only its own tokens: the same message asked again and
#     again reads the same number of tokens (the tokens of the template
#     prefix + message + suffix, counted here by build/tokenize) while the
#     conversation grows;
#  2. /undo rolls back through a checkpoint (reread=0), and re-asking then
#     gives exactly the replies of a fresh session with the same history and
#     seed;
#  3. --session: a conversation saved and resumed gives the replies of the
#     uninterrupted one, /undo included; a damaged, truncated, foreign or
#     other model's session file is refused with a clear message;
#  4. stats carry the time to first token and tokens/s; bad options fail.
#   env: BUILD (default build), PYTHON (for converting a second model)
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
C="$BUILD/chat"
M=models/tinystories.mamba
if [ ! -x "$C" ] || [ ! -x "$BUILD/tokenize" ]; then echo "t_chat: FAIL: $C or $BUILD/tokenize missing (make)"; exit 1; fi
T=$(mktemp -d "${TMPDIR:-/tmp}/t_chat.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
fail=0
bad() { echo "t_chat: FAIL: $*"; fail=1; }
chat() { "$C" "$M" --protocol --seed 7 -n 40 "$@"; }
replies() { grep '^reply: ' "$1"; }

# 1. never re-reading: the same message four times
printf 'Tell me about the little dog.\nTell me about the little dog.\nTell me about the little dog.\nTell me about the little dog.\n' |
    chat > "$T/same.out" || bad "chat exited with an error"
want=$(printf 'User: Tell me about the little dog.\nAssistant:' | "$BUILD/tokenize" "$M" | wc -w)
reads=$(grep '^stats: ' "$T/same.out" | sed 's/.*read=\([0-9]*\).*/\1/' | tr '\n' ' ')
poss=$(grep '^stats: ' "$T/same.out" | sed 's/.*pos=\([0-9]*\).*/\1/' | tr '\n' ' ')
[ "$reads" = "$want $want $want $want " ] || bad "reads per turn '$reads', want $want each"
set -- $poss
[ $# = 4 ] && [ "$1" -lt "$2" ] && [ "$2" -lt "$3" ] && [ "$3" -lt "$4" ] || bad "positions '$poss' do not grow"
echo "t_chat: each turn read $want tokens (its own) while the conversation grew: $poss"
grep -q '^stats: read=[0-9]* gen=[0-9]* pos=[0-9]* ttft_ms=[0-9.]* tok_s=[0-9.]*$' "$T/same.out" ||
    bad "stats line without ttft_ms and tok_s: $(grep '^stats' "$T/same.out" | head -n 1)"

# 2. /undo: a wrong turn taken back, then the conversation of a fresh session
printf 'Once there was a cat.\nWhat did the cat like?\nWhere did it go?\n' | chat > "$T/fresh.out"
printf 'Once there was a cat.\nSay something else.\n/undo\nWhat did the cat like?\nA wrong question.\nAnother one.\n/undo\n/undo\nWhere did it go?\n' |
    chat > "$T/undo.out"
[ "$(replies "$T/fresh.out" | wc -l)" = 3 ] || bad "fresh session: $(cat "$T/fresh.out")"
grep '^undo: ' "$T/undo.out" | grep -qv 'reread=0$' && bad "an /undo read tokens again: $(grep '^undo' "$T/undo.out")"
[ "$(grep -c '^undo: .*reread=0$' "$T/undo.out")" = 3 ] || bad "three /undo expected: $(grep -v '^reply\|^stats' "$T/undo.out")"
r_fresh=$(replies "$T/fresh.out")
r_undo=$(replies "$T/undo.out" | sed -n '1p;3p;6p')
[ "$r_fresh" = "$r_undo" ] || bad "after /undo the replies differ from a fresh session:
$r_fresh
---
$r_undo"
echo "t_chat: /undo three times without re-reading; replies equal a fresh session's"
printf '/undo\n' | chat | grep -q '^error: nothing to undo' || bad "/undo on an empty conversation"

# 3. sessions: two runs with a save between them == one run
printf 'Once there was a cat.\nWhat did the cat like?\n' | chat --session "$T/s.chat" > "$T/s1.out" || bad "session save"
[ -s "$T/s.chat" ] || bad "no session file written"
printf 'Where did it go?\n' | chat --session "$T/s.chat" > "$T/s2.out" || bad "session resume"
grep -q '^ready: pos=[1-9][0-9]* turns=2$' "$T/s2.out" || bad "resume: $(head -n 1 "$T/s2.out")"
r_split="$(replies "$T/s1.out")
$(replies "$T/s2.out")"
[ "$r_split" = "$r_fresh" ] || bad "resumed session differs from the uninterrupted one:
$r_fresh
---
$r_split"
# the resumed session can still take back the exchange of the first run
printf 'Where did it go?\n' | chat > /dev/null
printf 'Once there was a cat.\nWhat did the cat like?\n' | chat --session "$T/u.chat" > /dev/null
printf '/undo\nWhat did the cat like?\n' | chat --session "$T/u.chat" > "$T/u2.out"
grep -q '^undo: .*reread=0$' "$T/u2.out" || bad "/undo after resume: $(grep -v '^reply\|^stats' "$T/u2.out")"
[ "$(replies "$T/u2.out")" = "$(replies "$T/fresh.out" | sed -n 2p)" ] || bad "/undo after resume: other reply"
echo "t_chat: a saved and resumed session equals the uninterrupted one (and /undo works across it)"

# damaged session files
refused() { # file, what
    st=0; printf 'Hello.\n' | chat --session "$1" > "$T/r.out" 2> "$T/r.err" || st=$?
    if [ $st = 1 ] && grep -q 'refused' "$T/r.err"; then echo "t_chat: $2: $(cat "$T/r.err")"; else bad "$2: status $st, '$(cat "$T/r.err")'"; fi
}
size=$(wc -c < "$T/s.chat")
cp "$T/s.chat" "$T/flip.chat"
printf '\377' | dd of="$T/flip.chat" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
refused "$T/flip.chat" "a flipped byte"
head -c $((size - 100)) "$T/s.chat" > "$T/trunc.chat"
refused "$T/trunc.chat" "a truncated file"
printf 'not a session at all' > "$T/junk.chat"
refused "$T/junk.chat" "a foreign file"
# a byte of the state changed and the file's own checksum made right again: the snapshot's checks refuse it
"$PYTHON" - "$T/s.chat" "$T/inner.chat" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
H, S = struct.unpack_from("<II", b, 12)
b[32 + 4 * H + 4 * S + 100] ^= 0x10          # inside the first snapshot's floats
h = 0xCBF29CE484222325
for x in b[:-8]:
    h = ((h ^ x) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
b[-8:] = struct.pack("<Q", h)
open(sys.argv[2], "wb").write(b)
PY
refused "$T/inner.chat" "a changed state under a good file checksum"
grep -q 'corrupted' "$T/r.err" || bad "the snapshot's checksum did not speak: $(cat "$T/r.err")"
# a session of another model (a converted test checkpoint): refused, never read into this one
if "$PYTHON" tools/convert.py tests/data/ckpt/ss_basic "$T/other.mamba" > /dev/null 2>&1; then
    printf '/quit\n' | "$C" "$T/other.mamba" --protocol --system 'abc' --session "$T/other.chat" > /dev/null 2>&1
    if [ -s "$T/other.chat" ]; then refused "$T/other.chat" "another model's session"; else bad "no session from the second model"; fi
    # the same shapes but other weights (f16): the snapshot's model fingerprint refuses it
    if "$PYTHON" tools/convert.py tests/data/ckpt/ss_basic "$T/other16.mamba" --dtype f16 > /dev/null 2>&1; then
        st=0; printf '/quit\n' | "$C" "$T/other16.mamba" --protocol --session "$T/other.chat" > /dev/null 2> "$T/r.err" || st=$?
        if [ $st = 1 ] && grep -q 'another model' "$T/r.err"; then echo "t_chat: same shapes, other weights: $(cat "$T/r.err")"
        else bad "same shapes, other weights: status $st, '$(cat "$T/r.err")'"; fi
    else
        bad "cannot convert tests/data/ckpt/ss_basic to f16"
    fi
else
    bad "cannot convert tests/data/ckpt/ss_basic"
fi
cmp -s "$T/flip.chat" "$T/s.chat" && bad "the damaged file was overwritten"

# 4. options and the terminal mode
st=0; "$C" "$M" --temp abc > /dev/null 2>&1 || st=$?
[ $st = 2 ] || bad "bad option gave status $st"
st=0; "$C" "$T/none.mamba" < /dev/null > /dev/null 2>&1 || st=$?
[ $st = 1 ] || bad "missing model gave status $st"
out=$(printf 'Hello there.\n' | "$C" "$M" --seed 7 -n 40 2> "$T/term.err")
grep -q 'first token after .* ms, .* tok/s' "$T/term.err" || bad "terminal mode stats: $(cat "$T/term.err")"
want=$(printf 'Hello there.\n' | chat | sed -n 's/^reply: //p')
[ "$(printf '%s' "$out" | head -n 1)" = "$want" ] || bad "terminal mode: '$out', protocol: '$want'"

if [ $fail -ne 0 ]; then echo "t_chat: FAIL"; exit 1; fi
echo "t_chat: ok"
