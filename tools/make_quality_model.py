#!/usr/bin/env python3
"""A mamba-130m-shaped model whose weights have the statistics of a
trained language model, to measure what each weight type costs (README,
"Quality per dtype, beside llama.cpp"). Trained weights cannot be
downloaded here, and freshly initialised ones (tools/make_bench_model.py:
uniform matrices, unit norms, an embedding of std 0.02) are kind to
quantisation: no block holds an outlier, and the next-token distribution
is nearly flat, so every dtype looks alike.

What is changed from make_bench_model.py's initialisation (same shapes,
same std of every matrix), each a property measured in trained LMs:
  - matrix entries are Student-t with 5 degrees of freedom (kurtosis 9;
    trained LLM weights fit a t of 4-6 better than a normal), the embedding
    with 4.5 (kurtosis 15; the shipped model's trained embedding: 24);
  - every matrix row and column is scaled by a log-normal factor
    (sigma 0.35), so some input channels and some outputs are several
    times larger than others, as the outlier channels of trained models;
  - the per-layer RMSNorm weights are log-normal (sigma 0.35) around 1, so
    the activations entering each projection have outlier channels too;
  - the final norm is scaled so that the logits spread like a trained
    model's: mean entropy of the next-token distribution near 3 nats on
    text (a flat one over 50,277 ids would be 10.8).
The text predictions still mean nothing; what is measured is how far each
dtype moves the distribution, on weights shaped like trained ones.

usage: make_quality_model.py OUT.mamba [--hf DIR] [--seed 1] [--norm-f X]
writes OUT.mamba (f32, no tokenizer: convert.py adds one from a GGUF or
tokenizer.json) and with --hf the same weights as a transformers
checkpoint, the input of llama.cpp's convert_hf_to_gguf.py.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_bench_model as mb  # noqa: E402
import mambafile as mf  # noqa: E402

PROG = "make_quality_model.py"
SIGMA = 0.35          # log-normal spread of row, column and norm scales
NU, NU_EMBED = 5.0, 4.5


def realistic(tensors, seed, norm_f):
    """make_bench_model's tensors with trained-like statistics (see above)."""
    rng = np.random.default_rng(seed)

    def t_entries(shape, nu):
        x = rng.standard_t(nu, shape)
        return x / np.sqrt(nu / (nu - 2))          # unit variance

    def lognormal(n):
        return np.exp(rng.normal(0.0, SIGMA, n) - SIGMA * SIGMA / 2)   # mean 1

    out = []
    for role, layer, a in tensors:
        if role in ("embedding", "in_proj", "x_proj", "dt_proj", "out_proj"):
            std = float(np.std(a, dtype=np.float64))
            w = t_entries(a.shape, NU_EMBED if role == "embedding" else NU)
            w *= lognormal(a.shape[0])[:, None] * lognormal(a.shape[1])[None, :]
            w *= std / np.sqrt(np.mean(w * w))
            a = w.astype(np.float32)
        elif role == "norm":
            a = lognormal(a.shape[0]).astype(np.float32)
        elif role == "norm_f":
            a = np.full(a.shape, norm_f, np.float32)
        out.append((role, layer, a))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description="mamba-130m-shaped model with trained-like statistics")
    ap.add_argument("out", help="output .mamba (f32)")
    ap.add_argument("--hf", metavar="DIR", help="also write a transformers checkpoint in DIR")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--norm-f", type=float, default=2.7,
                    help="final norm weight: sets the spread of the logits (default 2.7: entropy near 3 nats)")
    args = ap.parse_args(argv)
    c = mb.SHAPES["130m"]
    tensors = realistic(mb.make_tensors(c, args.seed), args.seed + 1000, args.norm_f)
    if args.hf:
        mb.write_hf(args.hf, c, tensors)
        sys.stderr.write("%s: wrote %s (transformers checkpoint)\n" % (PROG, args.hf))
    items = [(r, l, a, "f32") for r, l, a in tensors]
    size = mf.write(args.out, c, items)
    sys.stderr.write("%s: wrote %s: %d bytes\n" % (PROG, args.out, size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
