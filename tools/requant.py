#!/usr/bin/env python3
"""Re-store the matrices of a .mamba file in other weight types.

usage: requant.py IN.mamba OUT.mamba [--dtype DTYPE] [--override ROLE=DTYPE ...]

Reads every tensor of IN (tools/mambafile.py: each widened to float32, which
holds f16, bf16, q8 and the 4-bit types exactly) and writes OUT with the same
header, tokenizer section and tensors, the matrices stored as --dtype gives
them (the same rule as tools/convert.py --dtype: for the 4-bit types the output
matrix (lm_head, or an embedding tied to it) becomes q8 and a matrix whose
rows are not whole blocks of 32 stays f16), each --override ROLE=DTYPE
replacing the rule for one role. Vectors stay f32 (format version 1).

This is how the shipped model (models/tinystories.mamba, f16) becomes the
4-bit file of the Cortex-M build (embedded/run.sh): re-quantising from f16
is the same as quantising the f16 checkpoint the shipped file came from.
Prints one line per role with its dtype and the RMS error it adds relative
to the tensor's RMS, then the file size.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert  # noqa: E402  (matrix_dtype, parse_overrides, stored_as, rel_rms: one rule for both tools)
import mambafile as mf  # noqa: E402

PROG = "requant.py"


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("src", help="input .mamba file")
    ap.add_argument("out", help="output .mamba file")
    ap.add_argument("--dtype", default=None, help="storage of the matrices (f32 f16 bf16 q8 q4_0 iq4_nl q4_k, q4 = q4_k); "
                    "default: each keeps its own")
    ap.add_argument("--override", action="append", metavar="ROLE=DTYPE", help="storage of one role (repeatable)")
    args = ap.parse_args(argv)
    try:
        args.dtype = None if args.dtype is None else convert.dtype_name(args.dtype)
        if args.dtype is not None and args.dtype not in mf.DTYPES:
            raise convert.ConvertError("unknown dtype %r" % args.dtype)
        overrides = convert.parse_overrides(args.override)
        try:
            h, tensors = mf.read(args.src)
        except (OSError, ValueError) as e:
            raise convert.ConvertError("cannot read %s: %s" % (args.src, e))
        tied = not (h["flags"] & mf.FLAG_LM_HEAD)
        items, report = [], {}
        for (role, layer), a in sorted(tensors.items()):
            if role in overrides:
                dt = overrides[role]
            elif role in mf.MATRIX_ROLES and args.dtype is not None:
                dt = convert.matrix_dtype(role, a.shape[1], args.dtype, role == 3 or (role == 1 and tied))
            else:
                dt = h["dtypes"][(role, layer)]
            items.append((role, layer, a, dt))
            if role in mf.MATRIX_ROLES:
                err = convert.rel_rms(convert.stored_as(a, dt), a) if dt != h["dtypes"][(role, layer)] else 0.0
                r = report.setdefault(mf.ROLE_NAMES[role], [dt, 0.0, 0])
                r[1] = max(r[1], err)
                r[2] += int(a.size)
        config = {k: h[k] for k in ("arch", "flags", "d_model", "n_layer", "d_inner", "d_state", "d_conv", "dt_rank",
                                    "n_vocab_padded", "n_vocab", "norm_eps", "mixer_rms_eps", "bos_id", "eos_id",
                                    "pad_id")}
        try:
            size = mf.write(args.out, config, items, tokenizer=h["tokenizer"])
        except (OSError, ValueError) as e:
            raise convert.ConvertError("cannot write %s: %s" % (args.out, e))
    except convert.ConvertError as e:
        sys.stderr.write("%s: error: %s\n" % (PROG, e))
        return 1
    for name, (dt, err, n) in sorted(report.items()):
        sys.stderr.write("%s: %-10s %-6s %8d weights, added RMS error %.4f of the tensor's RMS (worst layer)\n"
                         % (PROG, name, dt, n, err))
    sys.stderr.write("%s: wrote %s: %d bytes\n" % (PROG, args.out, size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
