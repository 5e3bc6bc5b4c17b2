#!/bin/sh
# t_tokenizer.sh - the C tokenizer against Hugging Face's ids (committed
# vectors from tools/tokvectors.js): pack the GPT-NeoX tokenizer.json and the
# small test tokenizer with tools/tokpack.py, then run build/test_tokenizer on
# the vectors, 1 MB inputs and hostile copies of the small section. Also
# (the ids in the last check are from the HF reference too.) Also
# builds the test once with AddressSanitizer + UBSan when the compiler can.
set -e
. tests/lib.sh
TOKJSON=tests/data/tok/neox/tokenizer.json  # GPT-NeoX's tokenizer.json (Apache-2.0, see NOTICE)
if [ ! -f "$TOKJSON" ]; then
    echo "t_tokenizer: $TOKJSON not found"
    exit 1
fi
mkdir -p "$BUILD/tok"
"$PYTHON" tools/tokpack.py "$TOKJSON" "$BUILD/tok/neox.tok" >/dev/null
"$PYTHON" tools/tokpack.py tests/data/tok/small/tokenizer.json "$BUILD/tok/small.tok" >/dev/null
FLAGS="-std=c99 -O2 -Wall -Wextra -pedantic -Werror -I."
$CC $FLAGS tests/test_tokenizer.c -o "$BUILD/tok/test_tokenizer" -lm
ARGS="$BUILD/tok/neox.tok tests/data/tok --big --section=$BUILD/tok/small.tok tests/data/tok/small --hostile=$BUILD/tok/small.tok"
"$BUILD/tok/test_tokenizer" $ARGS
if echo 'int main(void){return 0;}' | $CC -fsanitize=address,undefined -x c - -o "$BUILD/tok/asan_probe" 2>/dev/null; then
    $CC $FLAGS -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all tests/test_tokenizer.c \
        -o "$BUILD/tok/test_tokenizer_asan" -lm
    "$BUILD/tok/test_tokenizer_asan" "$BUILD/tok/neox.tok" tests/data/tok \
        "--section=$BUILD/tok/small.tok" tests/data/tok/small "--hostile=$BUILD/tok/small.tok" | tail -1
else
    t_skip "the tokenizer under ASan+UBSan" "$CC cannot link -fsanitize=address,undefined"
fi
# the example program: encode and decode through stdin/stdout
$CC $FLAGS examples/tokenize.c -o "$BUILD/tok/tokenize" -lm
ids=$(printf 'Hello  world<|endoftext|>caf\303\251' | "$BUILD/tok/tokenize" --section "$BUILD/tok/neox.tok")
[ "$ids" = "12092 50276 10186 0 68 2320 860" ] || { echo "t_tokenizer: tokenize gave '$ids'"; exit 1; }
out=$(echo "$ids" | "$BUILD/tok/tokenize" --section "$BUILD/tok/neox.tok" --decode)
[ "$out" = "$(printf 'Hello  world<|endoftext|>caf\303\251')" ] || { echo "t_tokenizer: decode gave '$out'"; exit 1; }
t_end "ok"
