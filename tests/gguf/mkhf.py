#!/usr/bin/env python3
"""Write a tiny random transformers-layout checkpoint (config.json +
model.safetensors), the input from which llama.cpp's convert_hf_to_gguf.py
made the GGUF files in tests/data/gguf (see tests/gguf/README.md).

usage: mkhf.py DIR KIND [--seed S]
  KIND: mamba      Mamba-1 (MambaForCausalLM), d_model 64, 2 layers
        mamba_k    Mamba-1, d_model 128 (rows of 256 for the K-quants), 1 layer
        falcon     Falcon-Mamba (FalconMambaForCausalLM), d_model 64, 2 layers
        mamba2     Mamba-2 (Mamba2ForCausalLM), d_model 64, 2 layers, 8 heads of 16, 2 groups

The weights are a deterministic function of KIND and the seed (numpy's
PCG64), so tests/gguf/check.py rebuilds them to bound each GGUF tensor's
quantisation error against its source. No tokenizer files are written: the
converter then uses its built-in GPT-NeoX vocabulary cut to vocab_size.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import mambafile as mf  # noqa: E402

KINDS = {
    # d_model, n_layer, d_state, d_conv, dt_rank, vocab (config, before padding)
    "mamba": dict(d_model=64, n_layer=2, d_state=16, d_conv=4, dt_rank=4, vocab=300),
    "mamba_k": dict(d_model=128, n_layer=1, d_state=16, d_conv=4, dt_rank=8, vocab=300),
    "falcon": dict(d_model=64, n_layer=2, d_state=16, d_conv=4, dt_rank=4, vocab=300),
    "mamba2": dict(d_model=64, n_layer=2, d_state=16, d_conv=4, head_dim=16, n_groups=2, vocab=300),
}


def weights(kind, seed):
    """{HF name: float32 array} of the checkpoint."""
    k = KINDS[kind]
    rng = np.random.default_rng(seed)
    dm, nl, ns, dc = k["d_model"], k["n_layer"], k["d_state"], k["d_conv"]
    di = 2 * dm
    rows = k["vocab"]   # llama.cpp pads its token list to a multiple of 8 (16): 304 > 300 rows

    def nrm(*shape, s=1.0):
        return (s * rng.standard_normal(shape)).astype(np.float32)

    w = {"backbone.embeddings.weight": nrm(rows, dm)}
    for i in range(nl):
        p = "backbone.layers.%d." % i
        m = p + "mixer."
        w[p + "norm.weight"] = (1 + 0.1 * rng.standard_normal(dm)).astype(np.float32)
        if kind == "mamba2":
            nh, g = di // k["head_dim"], k["n_groups"]
            conv_dim = di + 2 * g * ns
            w[m + "in_proj.weight"] = nrm(2 * di + 2 * g * ns + nh, dm, s=dm ** -0.5)
            w[m + "conv1d.weight"] = nrm(conv_dim, 1, dc, s=0.5)
            w[m + "conv1d.bias"] = nrm(conv_dim, s=0.1)
            w[m + "dt_bias"] = np.log(np.expm1(rng.uniform(0.001, 0.1, nh))).astype(np.float32)
            w[m + "A_log"] = np.log(rng.uniform(1, 16, nh)).astype(np.float32)
            w[m + "D"] = (1 + 0.1 * rng.standard_normal(nh)).astype(np.float32)
            w[m + "norm.weight"] = (1 + 0.1 * rng.standard_normal(di)).astype(np.float32)
            w[m + "out_proj.weight"] = nrm(dm, di, s=di ** -0.5)
        else:
            r = k["dt_rank"]
            w[m + "in_proj.weight"] = nrm(2 * di, dm, s=dm ** -0.5)
            w[m + "conv1d.weight"] = nrm(di, 1, dc, s=0.5)
            w[m + "conv1d.bias"] = nrm(di, s=0.1)
            w[m + "x_proj.weight"] = nrm(r + 2 * ns, di, s=di ** -0.5)
            w[m + "dt_proj.weight"] = nrm(di, r, s=r ** -0.5)
            dt = np.exp(rng.uniform(np.log(0.001), np.log(0.1), di))
            w[m + "dt_proj.bias"] = (dt + np.log(-np.expm1(-dt))).astype(np.float32)
            w[m + "A_log"] = np.log(np.tile(np.arange(1, ns + 1, dtype=np.float64), (di, 1))
                                    * (1 + 0.05 * rng.random((di, ns)))).astype(np.float32)
            w[m + "D"] = (1 + 0.1 * rng.standard_normal(di)).astype(np.float32)
            w[m + "out_proj.weight"] = nrm(dm, di, s=di ** -0.5)
    w["backbone.norm_f.weight"] = (1 + 0.1 * rng.standard_normal(dm)).astype(np.float32)
    return w


def config(kind):
    k = KINDS[kind]
    dm = k["d_model"]
    c = {"hidden_size": dm, "num_hidden_layers": k["n_layer"], "vocab_size": k["vocab"],
         "state_size": k["d_state"], "conv_kernel": k["d_conv"], "expand": 2, "intermediate_size": 2 * dm,
         "use_bias": False, "use_conv_bias": True, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True,
         "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}
    if kind == "mamba2":
        c.update(model_type="mamba2", architectures=["Mamba2ForCausalLM"], head_dim=k["head_dim"],
                 n_groups=k["n_groups"], num_heads=2 * dm // k["head_dim"], pad_vocab_size_multiple=16,
                 rms_norm=True, norm_before_gate=False, chunk_size=256)
    else:
        c.update(model_type="falcon_mamba" if kind == "falcon" else "mamba",
                 architectures=["FalconMambaForCausalLM" if kind == "falcon" else "MambaForCausalLM"],
                 time_step_rank=k["dt_rank"], pad_vocab_size_multiple=8)
        if kind == "falcon":
            c["mixer_rms_eps"] = 1e-6
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("kind", choices=sorted(KINDS))
    ap.add_argument("--seed", type=int, default=12)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(config(a.kind), f, indent=1)
    mf.write_safetensors(os.path.join(a.dir, "model.safetensors"), weights(a.kind, a.seed), "F32",
                         metadata={"format": "pt"})


if __name__ == "__main__":
    main()
