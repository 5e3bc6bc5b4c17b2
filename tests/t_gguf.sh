#!/bin/sh
# GGUF import: the committed GGUF files of tests/data/gguf (made by llama.cpp's
# own converter and llama-quantize, tests/gguf/README.md) are read by
# tools/gguf.py, checked against llama.cpp's own dequantisation and the
# checkpoints they were made from, converted by tools/convert.py and run by
# build/logits against the float64 reference (tests/gguf/check.py); then
# damaged copies must give one-line errors (tests/gguf/hostile.py).
#   env: PYTHON (default /usr/bin/python3), BUILD (default build)
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=${BUILD:-build}
if [ ! -x "$BUILD/logits" ]; then echo "t_gguf: FAIL: $BUILD/logits missing (make)"; exit 1; fi
fail=0
"$PYTHON" tests/gguf/check.py --build "$BUILD" || fail=1
out=$("$PYTHON" tests/gguf/hostile.py 2>&1) || fail=1
echo "$out" | grep -v '^hostile GGUF' | tail -n 20
if [ "$fail" -ne 0 ]; then echo "t_gguf: FAIL"; exit 1; fi
echo "t_gguf: ok"
