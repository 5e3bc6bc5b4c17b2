#!/usr/bin/env python3
"""Run a converted .mamba through the float64 reference (tools/reference.py)
and compare with the golden logits of tests/data/golden. This checks the
converter's semantics (header eps/arch, A folding, conv squeeze, tied or
separate output) without the C library.

usage: golden_check.py OUT.mamba NAME [TOL | --write LOGITS]
  NAME of tests/data/golden/NAME.* (Mamba-1, arch 1 and 2) or of
  tests/data/mamba2/golden/NAME.* (Mamba-2, arch 3).
  --write LOGITS: instead of comparing, write the reference's logits of the
  file's own (stored, widened) weights for NAME's tokens and rows.
"""
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import mambafile as mf  # noqa: E402
import reference  # noqa: E402

NAMES = {16: "norm.weight", 17: "mixer.in_proj.weight", 18: "mixer.in_proj.bias",
         19: "mixer.conv1d.weight", 20: "mixer.conv1d.bias", 21: "mixer.x_proj.weight",
         22: "mixer.dt_proj.weight", 23: "mixer.dt_proj.bias", 25: "mixer.D",
         26: "mixer.out_proj.weight", 27: "mixer.out_proj.bias", 28: "mixer.norm.weight"}


def reference_model(path):
    """(header, float64 reference model) of a .mamba file, on its weights as
    stored (f16/bf16/q8 widened by mambafile.read, without the C code)."""
    h, t = mf.read(path)
    p = {"backbone.embedding.weight": t[(1, 0)], "backbone.norm_f.weight": t[(2, 0)]}
    if (3, 0) in t:
        p["lm_head.weight"] = t[(3, 0)]
    for (role, layer), a in t.items():
        pre = "backbone.layers.%d." % layer
        if role == 24:   # back to A_log; float64 so the round trip adds no error
            p[pre + "mixer.A_log"] = np.log(-a.astype(np.float64))
        elif role == 19:
            p[pre + NAMES[role]] = a.reshape(a.shape[0], 1, a.shape[1])
        elif role == 23 and h["arch"] == 3:
            p[pre + "mixer.dt_bias"] = a
        elif role in NAMES:
            p[pre + NAMES[role]] = a
    if h["arch"] == 3:
        return h, reference.Mamba2Reference(p, h["n_groups"], h["norm_eps"], h["mixer_rms_eps"],
                                            bool(h["flags"] & (1 << 5)), (h["dt_min"], h["dt_max"]))
    arch = {1: "mamba", 2: "falcon_mamba"}[h["arch"]]
    return h, reference.MambaReference(p, arch, h["norm_eps"], h["mixer_rms_eps"])


def main():
    path, name = sys.argv[1], sys.argv[2]
    h, model = reference_model(path)
    gdir = os.path.join(ROOT, "tests", "data", "mamba2" if h["arch"] == 3 else "", "golden")
    tokens = [int(x) for x in open(os.path.join(gdir, name + ".tokens")).read().split()]
    rows_file = os.path.join(gdir, name + ".rows")
    keep = None
    if os.path.exists(rows_file):
        keep = set(int(x) for x in open(rows_file).read().split())
    gold = np.fromfile(os.path.join(gdir, name + ".logits"), dtype="<f4")
    out = []
    for i, tok in enumerate(tokens):
        lg = model.step(tok)
        if keep is None or i in keep:
            out.append(lg)
    if len(sys.argv) > 4 and sys.argv[3] == "--write":
        np.array(out, dtype="<f4").tofile(sys.argv[4])
        sys.exit(0)
    out = np.array(out, dtype=np.float64).ravel()
    if out.size != gold.size:
        print("%s: %d logits, golden has %d" % (name, out.size, gold.size))
        sys.exit(1)
    err = np.max(np.abs(out - gold)) / max(1.0, np.max(np.abs(gold)))
    # golden is float32 of float64 logits; the .mamba holds float32 (or half) weights
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
    print("%s: max scaled error %.3g (tol %g)" % (name, err, tol))
    sys.exit(0 if err <= tol else 1)


if __name__ == "__main__":
    main()
