#!/usr/bin/env python3
"""Write tests/data/gguf/DEQUANT.sha256: the SHA-256 of every tensor of the
committed GGUF files as dequantised to float32 by llama.cpp's own Python
package gguf-py (gguf.quants.dequantize), which tests/gguf/check.py compares
with tools/gguf.py's dequantisation bit for bit.

usage: mkdigest.py LLAMA_CPP_DIR   (a llama.cpp checkout; only its gguf-py/ is used)
"""
import glob
import hashlib
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "gguf"))


def main():
    sys.path.insert(0, os.path.join(sys.argv[1], "gguf-py"))
    import gguf   # llama.cpp's package, not tools/gguf.py
    from gguf import quants
    lines = []
    for path in sorted(glob.glob(os.path.join(DATA, "*.gguf"))):
        r = gguf.GGUFReader(path)
        for t in r.tensors:
            a = np.ascontiguousarray(quants.dequantize(t.data, t.tensor_type), dtype="<f4")
            lines.append("%s  %s %s %s" % (hashlib.sha256(a.tobytes()).hexdigest(), os.path.basename(path),
                                           t.name, t.tensor_type.name))
    with open(os.path.join(DATA, "DEQUANT.sha256"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("%d tensors" % len(lines))


if __name__ == "__main__":
    main()
