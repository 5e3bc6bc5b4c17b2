#!/usr/bin/env python3
"""Compare logits from our C code against golden logits.

Both files are raw float32 little-endian, one row of --vocab values per token.
With --rows FILE the golden file holds only the listed rows (indices into OUR
file, which has every token); otherwise both hold the same rows.

A row passes when max|ours - golden| <= tol * max|golden| (tol 1e-4 by
default) and both argmaxes agree. Prints the largest relative error seen;
exits 1 on any failure, 2 on bad input.

Usage: compare_logits.py GOLDEN.logits OURS.logits --vocab N [--rows FILE] [--tol T]
"""
import argparse
import sys

import numpy as np


def load(path, vocab):
    data = np.fromfile(path, dtype="<f4")
    if data.size == 0 or data.size % vocab:
        raise ValueError("%s: %d floats is not a positive multiple of --vocab %d"
                         % (path, data.size, vocab))
    return data.reshape(-1, vocab).astype(np.float64)


def main():
    ap = argparse.ArgumentParser(description="compare float32 logits against a golden file")
    ap.add_argument("golden")
    ap.add_argument("ours")
    ap.add_argument("--vocab", type=int, required=True, help="values per row (n_vocab_padded)")
    ap.add_argument("--rows", help="file of the row indices (into OURS) that GOLDEN holds")
    ap.add_argument("--tol", type=float, default=1e-4, help="relative tolerance (default 1e-4)")
    ap.add_argument("--quiet", action="store_true", help="print only the summary line")
    args = ap.parse_args()
    try:
        if args.vocab <= 0:
            raise ValueError("--vocab must be positive")
        gold = load(args.golden, args.vocab)
        ours = load(args.ours, args.vocab)
        if args.rows:
            with open(args.rows) as f:
                rows = [int(t) for t in f.read().split()]
            if len(rows) != gold.shape[0]:
                raise ValueError("%s lists %d rows but %s has %d"
                                 % (args.rows, len(rows), args.golden, gold.shape[0]))
            if rows and (min(rows) < 0 or max(rows) >= ours.shape[0]):
                raise ValueError("%s has %d rows, fewer than %s needs"
                                 % (args.ours, ours.shape[0], args.rows))
            ours = ours[rows]
        else:
            rows = list(range(gold.shape[0]))
            if ours.shape[0] != gold.shape[0]:
                raise ValueError("%s has %d rows, %s has %d"
                                 % (args.golden, gold.shape[0], args.ours, ours.shape[0]))
    except (OSError, ValueError) as e:
        sys.stderr.write("compare_logits.py: error: %s\n" % e)
        sys.exit(2)

    worst, worst_row, bad = 0.0, rows[0], 0
    for i, r in enumerate(rows):
        g, o = gold[i], ours[i]
        scale = np.max(np.abs(g))
        if not np.all(np.isfinite(o)):
            rel = float("inf")
        else:
            rel = np.max(np.abs(o - g)) / scale if scale > 0 else np.max(np.abs(o))
        ok_arg = int(np.argmax(g)) == int(np.argmax(o))
        if rel > worst:
            worst, worst_row = rel, r
        if rel > args.tol or not ok_arg:
            bad += 1
            if not args.quiet and bad <= 5:
                print("row %d: max rel err %.3g, argmax golden %d ours %d"
                      % (r, rel, int(np.argmax(g)), int(np.argmax(o))))
    status = "FAIL" if bad else "ok"
    print("%s: %d rows, max rel err %.3g (row %d), %d bad rows"
          % (status, len(rows), worst, worst_row, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
