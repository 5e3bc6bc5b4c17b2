#!/usr/bin/env python3
"""Make a tiny random Mamba checkpoint directory in a published layout, for
tests/t_convert_errors.sh. Optionally break it in one way.

usage: mkckpt.py DIR LAYOUT [--break KIND] [--dtype F32|F16|BF16] [--shards]
  LAYOUT: hf (transformers "mamba"), falcon (transformers "falcon_mamba"),
          ss (state-spaces, pytorch_model.bin; needs torch)
Also writes DIR/expected.npz: the tensors the .mamba file must hold, keyed
"role_layer", with A already folded to -exp(A_log) and conv squeezed.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import mambafile as mf  # noqa: E402

D_MODEL, N_LAYER, D_STATE, D_CONV, EXPAND = 16, 2, 4, 4, 2
D_INNER = EXPAND * D_MODEL
DT_RANK = 1            # ceil(16/16)
VOCAB = 50             # real vocab; padded to 56 (multiple of 8)
PADDED = 56


def tensors(rng, bias, untied):
    t = {}
    t["emb"] = rng.standard_normal((PADDED, D_MODEL)).astype(np.float32)
    for i in range(N_LAYER):
        m = {}
        m["norm"] = (1 + 0.1 * rng.standard_normal(D_MODEL)).astype(np.float32)
        m["in_proj.weight"] = rng.standard_normal((2 * D_INNER, D_MODEL)).astype(np.float32)
        m["conv1d.weight"] = rng.standard_normal((D_INNER, 1, D_CONV)).astype(np.float32)
        m["conv1d.bias"] = rng.standard_normal(D_INNER).astype(np.float32)
        m["x_proj.weight"] = rng.standard_normal((DT_RANK + 2 * D_STATE, D_INNER)).astype(np.float32)
        m["dt_proj.weight"] = rng.standard_normal((D_INNER, DT_RANK)).astype(np.float32)
        m["dt_proj.bias"] = rng.standard_normal(D_INNER).astype(np.float32)
        m["A_log"] = np.log(np.tile(np.arange(1, D_STATE + 1, dtype=np.float32), (D_INNER, 1))
                            * (1 + 0.01 * rng.random((D_INNER, D_STATE)))).astype(np.float32)
        m["D"] = rng.standard_normal(D_INNER).astype(np.float32)
        m["out_proj.weight"] = rng.standard_normal((D_MODEL, D_INNER)).astype(np.float32)
        if bias:
            m["in_proj.bias"] = rng.standard_normal(2 * D_INNER).astype(np.float32)
            m["out_proj.bias"] = rng.standard_normal(D_MODEL).astype(np.float32)
        t[i] = m
    t["norm_f"] = (1 + 0.1 * rng.standard_normal(D_MODEL)).astype(np.float32)
    t["lm_head"] = rng.standard_normal((PADDED, D_MODEL)).astype(np.float32) if untied else t["emb"]
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("layout", choices=["hf", "falcon", "ss"])
    ap.add_argument("--break", dest="brk", default=None)
    ap.add_argument("--dtype", default="F32")
    ap.add_argument("--shards", action="store_true")
    ap.add_argument("--bias", action="store_true")
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    t = tensors(rng, a.bias, a.untied)

    # Name the tensors as the layout does.
    sd = {}
    emb = "backbone.embedding.weight" if a.layout == "ss" else "backbone.embeddings.weight"
    sd[emb] = t["emb"]
    for i in range(N_LAYER):
        sd["backbone.layers.%d.norm.weight" % i] = t[i]["norm"]
        for k, v in t[i].items():
            if k != "norm":
                sd["backbone.layers.%d.mixer.%s" % (i, k)] = v
    sd["backbone.norm_f.weight"] = t["norm_f"]
    if a.untied or a.layout == "ss":     # state-spaces saves the tied lm_head too
        sd["lm_head.weight"] = t["lm_head"]

    if a.layout == "ss":
        cfg = {"d_model": D_MODEL, "n_layer": N_LAYER, "vocab_size": VOCAB,
               "ssm_cfg": {"d_state": D_STATE} if not a.bias else {"d_state": D_STATE, "bias": True},
               "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
               "pad_vocab_size_multiple": 8}
        if a.untied:
            cfg["tie_embeddings"] = False
    else:
        cfg = {"model_type": "mamba" if a.layout == "hf" else "falcon_mamba",
               "architectures": ["MambaForCausalLM" if a.layout == "hf" else "FalconMambaForCausalLM"],
               "hidden_size": D_MODEL, "num_hidden_layers": N_LAYER, "vocab_size": PADDED,
               "state_size": D_STATE, "conv_kernel": D_CONV, "expand": EXPAND, "intermediate_size": D_INNER,
               "time_step_rank": DT_RANK, "use_bias": a.bias, "use_conv_bias": True,
               "layer_norm_epsilon": 1e-5, "tie_word_embeddings": not a.untied,
               "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}
        if a.layout == "falcon":
            cfg["mixer_rms_eps"] = 1e-6

    # Breakage.
    b = a.brk
    if b == "missing-tensor":
        del sd["backbone.layers.1.mixer.x_proj.weight"]
    elif b == "misshapen":
        sd["backbone.layers.1.mixer.out_proj.weight"] = np.zeros((D_MODEL, D_INNER + 1), np.float32)
    elif b == "model-type":
        cfg["model_type"] = "mamba3"
    elif b == "architecture":
        cfg["architectures"] = ["LlamaForCausalLM"]
    elif b == "config-disagrees":
        cfg["state_size" if a.layout != "ss" else "ssm_cfg"] = 8 if a.layout != "ss" else {"d_state": 8}
    elif b == "bias-disagrees":
        cfg["use_bias"] = True

    if b != "no-config":
        with open(os.path.join(a.dir, "config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
    if b != "no-weights":
        if a.layout == "ss":
            import torch
            torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()},
                       os.path.join(a.dir, "pytorch_model.bin"))
        elif a.shards:
            names = sorted(sd)
            half = len(names) // 2
            parts = {"model-00001-of-00002.safetensors": names[:half],
                     "model-00002-of-00002.safetensors": names[half:]}
            wmap = {}
            for fn, ns in parts.items():
                mf.write_safetensors(os.path.join(a.dir, fn), {n: sd[n] for n in ns}, a.dtype)
                wmap.update({n: fn for n in ns})
            with open(os.path.join(a.dir, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {}, "weight_map": wmap}, f)
        else:
            p = os.path.join(a.dir, "model.safetensors")
            mf.write_safetensors(p, sd, a.dtype, metadata={"format": "pt"})
            if b == "bad-header":      # data_offsets past the end of the file
                with open(p, "r+b") as f:
                    f.seek(0, 2)
                    f.truncate(f.tell() - 4)
            elif b == "bad-dtype":
                raw = open(p, "rb").read()
                raw = raw.replace(b'"dtype":"%s"' % a.dtype.encode(), b'"dtype":"I%s"' % a.dtype[1:].encode(), 1)
                open(p, "wb").write(raw)

    # What the .mamba must hold (source values rounded as the checkpoint stores them).
    def src(x):
        if a.dtype == "F16":
            return x.astype(np.float16).astype(np.float32)
        if a.dtype == "BF16":
            return mf.bf16_to_f32(mf.f32_to_bf16(x))
        return x
    exp = {"1_0": src(t["emb"]), "2_0": src(t["norm_f"])}
    if a.untied:
        exp["3_0"] = src(t["lm_head"])
    roles = {"norm": 16, "in_proj.weight": 17, "in_proj.bias": 18, "conv1d.weight": 19, "conv1d.bias": 20,
             "x_proj.weight": 21, "dt_proj.weight": 22, "dt_proj.bias": 23, "A_log": 24, "D": 25,
             "out_proj.weight": 26, "out_proj.bias": 27}
    for i in range(N_LAYER):
        for k, v in t[i].items():
            v = src(v)
            if k == "A_log":
                v = (-np.exp(v.astype(np.float64))).astype(np.float32)
            elif k == "conv1d.weight":
                v = v.reshape(D_INNER, D_CONV)
            exp["%d_%d" % (roles[k], i)] = v
    np.savez(os.path.join(a.dir, "expected.npz"), **exp)


if __name__ == "__main__":
    main()
