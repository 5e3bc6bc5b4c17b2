#!/usr/bin/env python3
"""Write the seed corpus for the model fuzzer: tiny valid .mamba files in
several configurations (Mamba-1 and Falcon-Mamba, tied and separate lm_head,
with and without biases, f32/f16/bf16 matrices, with a tokenizer section),
so libFuzzer starts from inputs that pass every loader check and reach
mamba_step().  The weights are small random numbers; only the structure
matters here.

    tools/make_fuzz_seeds.py fuzz/corpus/fuzz_model

Each file is a few kilobytes: the whole corpus stays far below the 2 MB the
repository allows for it.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mambafile  # noqa: E402


# name, config overrides, matrix dtype, optional tensors, tokenizer bytes
CONFIGS = [
    ("m1_min", dict(d_model=2, n_layer=1, d_inner=2, d_state=1, d_conv=1, dt_rank=1,
                    n_vocab_padded=3, n_vocab=3), "f32", (), None),
    ("m1_small", dict(d_model=8, n_layer=2, d_inner=16, d_state=4, d_conv=4, dt_rank=1,
                      n_vocab_padded=16, n_vocab=13, bos_id=0, eos_id=1), "f32", ("conv1d_bias",), None),
    ("m1_f16_bias", dict(d_model=4, n_layer=1, d_inner=8, d_state=2, d_conv=3, dt_rank=2,
                         n_vocab_padded=8, n_vocab=8), "f16",
     ("conv1d_bias", "in_proj_bias", "out_proj_bias", "lm_head"), None),
    ("m1_bf16_untied", dict(d_model=4, n_layer=3, d_inner=4, d_state=3, d_conv=2, dt_rank=1,
                            n_vocab_padded=9, n_vocab=7, pad_id=8), "bf16", ("lm_head",), None),
    ("falcon_small", dict(arch=mambafile.ARCH_FALCON_MAMBA, d_model=6, n_layer=2, d_inner=12, d_state=4,
                          d_conv=4, dt_rank=2, n_vocab_padded=10, n_vocab=10, mixer_rms_eps=1e-6),
     "f32", ("conv1d_bias",), None),
    ("m1_tok", dict(d_model=4, n_layer=1, d_inner=8, d_state=2, d_conv=2, dt_rank=1,
                    n_vocab_padded=5, n_vocab=5), "f32", (), b"tokenizer section bytes\0\1\2"),
    # q4_k: rows of 32 and 64 columns, a super-block of 256 cut short
    ("m1_q4k", dict(d_model=32, n_layer=1, d_inner=64, d_state=2, d_conv=2, dt_rank=2,
                    n_vocab_padded=6, n_vocab=6), "q4_k", (), None),
]


def make(cfg, mat_dtype, optional, rng):
    """Config dict and tensor list for one seed model."""
    c = dict(arch=mambafile.ARCH_MAMBA1, norm_eps=1e-5)
    c.update(cfg)
    tensors = []

    def add(role, layer):
        shape = mambafile.expected_shape(mambafile.role_number(role), c)
        arr = (rng.standard_normal(shape) * 0.5).astype(np.float32)
        if role == "A":
            arr = -np.exp(arr)  # stored folded, A = -exp(A_log)
        dtype = mat_dtype if mambafile.role_number(role) in mambafile.MATRIX_ROLES else "f32"
        tensors.append((role, layer, arr, dtype))

    add("embedding", 0)
    add("norm_f", 0)
    if "lm_head" in optional:
        add("lm_head", 0)
    for layer in range(c["n_layer"]):
        for role in ("norm", "in_proj", "conv1d", "x_proj", "dt_proj", "dt_proj_bias", "A", "D", "out_proj"):
            add(role, layer)
        for role in ("conv1d_bias", "in_proj_bias", "out_proj_bias"):
            if role in optional:
                add(role, layer)
    return c, tensors


def main():
    ap = argparse.ArgumentParser(description="write tiny valid .mamba seed files for fuzz/fuzz_model")
    ap.add_argument("outdir", help="directory to write the seeds into (created if missing)")
    ap.add_argument("--seed", type=int, default=1, help="random seed for the weights")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for name, cfg, dtype, optional, tok in CONFIGS:
        c, tensors = make(cfg, dtype, optional, rng)
        path = os.path.join(args.outdir, "seed_%s.mamba" % name)
        n = mambafile.write(path, c, tensors, tokenizer=tok)
        print("%s: %d bytes" % (path, n))


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError) as e:
        sys.exit("make_fuzz_seeds: error: %s" % e)
