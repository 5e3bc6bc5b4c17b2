#!/usr/bin/env python3
"""Check a converted .mamba against the expected.npz written by mkckpt.py.

usage: check.py OUT.mamba CKPT_DIR key=value...
  key=value pairs are header fields that must match (e.g. arch=2 flags=1 n_vocab=50).
Tensors stored as f32 must be bit-exact; f16/bf16 within their rounding
(relative 2^-11 / 2^-8 of each element, plus the smallest normals).
Prints one line per failure, exits 1 if any.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import mambafile as mf  # noqa: E402

TOL = {"f32": 0.0, "f16": 2.0 ** -11, "bf16": 2.0 ** -8}


def main():
    out, ckpt = sys.argv[1], sys.argv[2]
    want_h = dict(kv.split("=", 1) for kv in sys.argv[3:])
    h, t = mf.read(out)
    exp = np.load(os.path.join(ckpt, "expected.npz"))
    fails = 0
    for k, v in want_h.items():
        got = h.get(k)
        ok = (isinstance(got, float) and abs(got - float(v)) <= 1e-6 * abs(float(v))) or str(got) == v
        if not ok:
            print("header %s: expected %s, got %r" % (k, v, got))
            fails += 1
    keys = {tuple(int(x) for x in k.split("_")) for k in exp.files}
    if set(t) != keys:
        print("tensor set differs: extra %s, missing %s" % (sorted(set(t) - keys), sorted(keys - set(t))))
        fails += 1
    for key in sorted(keys & set(t)):
        e, g = exp["%d_%d" % key], t[key]
        dt = h["dtypes"][key]
        if e.shape != g.shape:
            print("tensor %s: shape %s, expected %s" % (key, g.shape, e.shape))
            fails += 1
            continue
        tol = TOL[dt] * np.abs(e) + (1e-7 if dt != "f32" else 0.0)
        if dt == "f32":
            bad = not np.array_equal(e.view(np.uint32), g.view(np.uint32))
        else:
            bad = not np.all(np.abs(e - g) <= tol)
        if bad:
            print("tensor %s (%s): max error %g" % (key, dt, float(np.max(np.abs(e - g)))))
            fails += 1
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
