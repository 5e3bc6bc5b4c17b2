#!/usr/bin/env python3
"""tools/gguf.py on hostile input: damaged copies of a committed GGUF must
give one GGUFError line (and convert.py exit status 1 with one line), never
another exception, a hang or a huge allocation.

The damage: the file cut at every offset of its header (and a few in the
data), each count, length, type, dimension and offset field of the header
set to extreme values, a tensor name duplicated, the alignment made odd,
random bytes flipped (fixed seed), and version 1 / big-endian headers.
Prints "N passed, N failed".
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gguf  # noqa: E402

SRC = os.path.join(ROOT, "tests", "data", "gguf", "mamba-mix32.gguf")


def fields(data):
    """Offsets of the header's integer fields: [(offset, size, what)]."""
    out = [(4, 4, "version"), (8, 8, "n_tensors"), (16, 8, "n_kv")]
    pos = 24
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)

    def value(pos, t, what):
        if t == 8:
            out.append((pos, 8, what + " length"))
            n = struct.unpack_from("<Q", data, pos)[0]
            return pos + 8 + n
        if t == 9:
            out.append((pos, 4, what + " element type"))
            out.append((pos + 4, 8, what + " count"))
            et, n = struct.unpack_from("<IQ", data, pos)
            pos += 12
            for i in range(n):
                if i >= 3 and et == 8:      # only the first few strings of a big list
                    for _ in range(n - i):
                        pos += 8 + struct.unpack_from("<Q", data, pos)[0]
                    break
                pos = value(pos, et, what + "[%d]" % i)
            return pos
        return pos + gguf.KV_TYPES[t][2]

    for i in range(n_kv):
        out.append((pos, 8, "key %d length" % i))
        n = struct.unpack_from("<Q", data, pos)[0]
        pos += 8 + n
        out.append((pos, 4, "key %d type" % i))
        t = struct.unpack_from("<I", data, pos)[0]
        pos = value(pos + 4, t, "key %d" % i)
    for i in range(n_tensors):
        out.append((pos, 8, "tensor %d name length" % i))
        pos += 8 + struct.unpack_from("<Q", data, pos)[0]
        out.append((pos, 4, "tensor %d n_dims" % i))
        nd = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        for j in range(nd):
            out.append((pos, 8, "tensor %d dim %d" % (i, j)))
            pos += 8
        out.append((pos, 4, "tensor %d type" % i))
        out.append((pos + 4, 8, "tensor %d offset" % i))
        pos += 12
    return out, pos


def main():
    data = open(SRC, "rb").read()
    flds, hdr_end = fields(data)
    cases = []
    # truncations: every offset of the first 256 bytes and of the tensor table, a few later
    cuts = sorted(set(list(range(0, 256)) + list(range(max(0, hdr_end - 400), hdr_end + 40))
                      + [len(data) // 2, len(data) - 1]))
    for c in cuts:
        cases.append(("cut at %d" % c, data[:c]))
    extremes = {4: [0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 5, 9, 12, 30, 20, 13], 8: [0, 1, 2 ** 63, 2 ** 64 - 1, 2 ** 32]}
    for off, size, what in flds:
        for v in extremes[size]:
            b = bytearray(data)
            b[off:off + size] = struct.pack("<I" if size == 4 else "<Q", v)
            cases.append(("%s = %d" % (what, v), bytes(b)))
    rng = np.random.default_rng(7)
    for k in range(200):
        b = bytearray(data)
        for _ in range(1 + k % 4):
            i = int(rng.integers(0, hdr_end))
            b[i] = int(rng.integers(0, 256))
        cases.append(("random bytes %d" % k, bytes(b)))
    big = bytearray(data)
    big[4:8] = struct.pack(">I", 3)
    cases.append(("big-endian version", bytes(big)))

    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bad.gguf")
        for what, blob in cases:
            with open(path, "wb") as f:
                f.write(blob)
            try:
                g = gguf.open_gguf(path)
                m = gguf.mamba_model(g)
                for key, layer in m.tensors:
                    gguf.load_tensor(m, key, layer)
                gguf.tokenizer_json(m)
                ok = True     # some damage leaves a valid file (e.g. a flipped weight byte)
            except gguf.GGUFError as e:
                ok = "\n" not in str(e) and len(str(e)) < 400
                if not ok:
                    print("FAIL %s: error message not one short line: %r" % (what, str(e)[:200]))
            except Exception as e:  # noqa: BLE001 - any other exception is the failure we look for
                ok = False
                print("FAIL %s: %s: %s" % (what, type(e).__name__, e))
            passed += ok
            failed += not ok
        # convert.py itself: one line on stderr, exit status 1
        for what, blob in cases[::73]:
            with open(path, "wb") as f:
                f.write(blob)
            r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert.py"), path,
                                os.path.join(tmp, "out.mamba")], capture_output=True, text=True)
            lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("convert.py: warning")]
            ok = r.returncode in (0, 1) and "Traceback" not in r.stderr and (
                r.returncode == 0 or (len(lines) == 1 and lines[0].startswith("convert.py: error: ")))
            if not ok:
                print("FAIL convert.py on %s: status %d: %s" % (what, r.returncode, r.stderr.strip()[-300:]))
            passed += ok
            failed += not ok
    print("hostile GGUF: %d cases" % len(cases))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
