#!/usr/bin/env python3
"""Write a randomly initialised model with exactly the shapes of a real
Mamba, for benchmarks (build/bench):
  130m (state-spaces/mamba-130m): d_model 768, 24 layers, d_inner 1536,
       dt_rank 48: 129.1 M parameters, 516.5 MB in f32;
  790m (state-spaces/mamba-790m): d_model 1536, 48 layers, d_inner 3072,
       dt_rank 96: 793 M parameters, 3.2 GB in f32 (bigger than the
       last-level cache of any machine we know, so decoding reads DRAM);
both with d_state 16, d_conv 4, 50280 embedding rows (50277 real tokens),
tied output matrix, conv and dt_proj biases.

The weights are random but shaped like a freshly initialised Mamba (the
initialisation of state-spaces/mamba's Mamba module: A_log = log(1..d_state),
D = 1, dt_proj.bias = softplus^-1 of a delta in [0.001, 0.1], norms 1), so a
step runs the same arithmetic as a trained model: no NaN, no overflow, no
denormal slow paths. It says nothing about quality.

With --shapes mamba2-130m or mamba2-780m: the shapes of state-spaces
Mamba-2 models (d_model 768 / 1536, 24 / 48 layers, d_state 128, head_dim
64, one group, expand 2, 50288 embedding rows, tied; 780m's weights do not
fit in a 260 MiB last-level cache), initialised as mamba2.py does (A_log =
log U(1, 16) per head, D = 1, dt_bias for a delta in [0.001, 0.1]).

usage: make_bench_model.py OUT_PREFIX [--shape NAME] [--dtype f32,f16,bf16,q8,q4_k]
                            [--seed 0] [--hf DIR]
writes OUT_PREFIX-f32.mamba, OUT_PREFIX-f16.mamba, ... (one per dtype), all
from the same weights; a 4-bit dtype (q4_k, q4_0, iq4_nl) is stored as
convert.py --dtype stores it (the tied embedding q8, rows that are not whole
blocks f16 or iq4_nl). --hf DIR also writes those weights as a Hugging Face
transformers checkpoint (config.json + model.safetensors, MambaForCausalLM or,
for the Mamba-2 shapes, Mamba2ForCausalLM),
the input of llama.cpp's own convert_hf_to_gguf.py: the GGUF files that
bench/run.sh hands to llama-bench are made from it (README, "Speed"), so
both programs run the same numbers.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert  # noqa: E402  (matrix_dtype: the 4-bit types' choice per matrix, as convert.py --dtype)
import mambafile as mf  # noqa: E402

PROG = "make_bench_model.py"

# state-spaces/mamba-130m and -790m (their config.json): the shapes, nothing else
COMMON = dict(arch=mf.ARCH_MAMBA1, d_state=16, d_conv=4, n_vocab_padded=50280, n_vocab=50277, norm_eps=1e-5,
              bos_id=0, eos_id=0, pad_id=0)
SHAPES = {
    "130m": dict(COMMON, d_model=768, n_layer=24, d_inner=1536, dt_rank=48),
    "790m": dict(COMMON, d_model=1536, n_layer=48, d_inner=3072, dt_rank=96),
}
CONFIG = SHAPES["130m"]


# state-spaces/mamba2-130m and mamba2-780m (config.json: d_model, n_layer, vocab 50277
# padded to 16; ssm_cfg defaults d_state 128, headdim 64, ngroups 1, expand 2)
MAMBA2_SHAPES = {"mamba2-130m": (768, 24), "mamba2-780m": (1536, 48)}


def mamba2_config(name):
    dm, nl = MAMBA2_SHAPES[name]
    di = 2 * dm
    return dict(arch=mf.ARCH_MAMBA2, d_model=dm, n_layer=nl, d_inner=di, d_state=128, d_conv=4, dt_rank=0,
                n_vocab_padded=50288, n_vocab=50277, norm_eps=1e-5, mixer_rms_eps=1e-5, bos_id=0, eos_id=0,
                pad_id=0, n_heads=di // 64, head_dim=64, n_groups=1)


def make_tensors_mamba2(c, seed):
    """[(role, layer, float32 array)] of a Mamba-2 model, in the writer's order."""
    rng = np.random.default_rng(seed)
    dm, di, N, dc, H = c["d_model"], c["d_inner"], c["d_state"], c["d_conv"], c["n_heads"]
    conv_dim = di + 2 * N

    def uniform(shape, bound):
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    out = [("embedding", 0, (rng.standard_normal((c["n_vocab_padded"], dm), dtype=np.float32) * 0.02))]
    for i in range(c["n_layer"]):
        dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H))
        out += [
            ("norm", i, np.ones(dm, np.float32)),
            ("in_proj", i, uniform((di + conv_dim + H, dm), dm ** -0.5)),
            ("conv1d", i, uniform((conv_dim, dc), dc ** -0.5)),
            ("conv1d_bias", i, uniform((conv_dim,), dc ** -0.5)),
            ("dt_proj_bias", i, (dt + np.log(-np.expm1(-dt))).astype(np.float32)),   # dt_bias, per head
            ("A", i, (-rng.uniform(1.0, 16.0, H)).astype(np.float32)),
            ("D", i, np.ones(H, np.float32)),
            ("gate_norm", i, np.ones(di, np.float32)),
            ("out_proj", i, uniform((dm, di), di ** -0.5 / np.sqrt(c["n_layer"]))),
        ]
    out.append(("norm_f", 0, np.ones(dm, np.float32)))
    return out


def make_tensors(c, seed):
    """[(role, layer, float32 array)] in the writer's order."""
    rng = np.random.default_rng(seed)
    dm, di, ds, dc, dr = c["d_model"], c["d_inner"], c["d_state"], c["d_conv"], c["dt_rank"]

    def normal(shape, std):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)

    def uniform(shape, bound):
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    out = [("embedding", 0, normal((c["n_vocab_padded"], dm), 0.02))]
    for i in range(c["n_layer"]):
        # delta at init: log-uniform in [0.001, 0.1]; the bias is its inverse softplus
        dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), di))
        dt_bias = (dt + np.log(-np.expm1(-dt))).astype(np.float32)
        A = -np.tile(np.arange(1, ds + 1, dtype=np.float32), (di, 1))   # -exp(log(1..N))
        out += [
            ("norm", i, np.ones(dm, np.float32)),
            ("in_proj", i, uniform((2 * di, dm), dm ** -0.5)),
            ("conv1d", i, uniform((di, dc), dc ** -0.5)),
            ("conv1d_bias", i, uniform((di,), dc ** -0.5)),
            ("x_proj", i, uniform((dr + 2 * ds, di), di ** -0.5)),
            ("dt_proj", i, uniform((di, dr), dr ** -0.5)),
            ("dt_proj_bias", i, dt_bias),
            ("A", i, A),
            ("D", i, np.ones(di, np.float32)),
            # out_proj scaled down by sqrt(n_layer) as Mamba's rescale_prenorm_residual does
            ("out_proj", i, uniform((dm, di), di ** -0.5 / np.sqrt(c["n_layer"]))),
        ]
    out.append(("norm_f", 0, np.ones(dm, np.float32)))
    return out


def hf_tensors(tensors, names):
    """The transformers checkpoint's tensors: the roles' arrays under their
    Hugging Face names (names: role -> name after backbone.layers.N.),
    A stored as A_log and the conv weight as (channels, 1, width)."""
    w = {}
    for role, layer, a in tensors:
        if role == "embedding":
            w["backbone.embeddings.weight"] = a
        elif role == "norm_f":
            w["backbone.norm_f.weight"] = a
        elif role == "A":
            w["backbone.layers.%d.mixer.A_log" % layer] = np.log(-a).astype(np.float32)   # A = -exp(A_log)
        elif role == "conv1d":
            w["backbone.layers.%d.mixer.conv1d.weight" % layer] = a.reshape(a.shape[0], 1, a.shape[1])
        else:
            w["backbone.layers.%d.%s" % (layer, names[role])] = a
    return w


def write_hf(out_dir, c, tensors):
    """The same weights as a transformers MambaForCausalLM checkpoint (the
    names and config.json fields of state-spaces/mamba-*-hf)."""
    names = {"norm": "norm.weight", "in_proj": "mixer.in_proj.weight", "conv1d": "mixer.conv1d.weight",
             "conv1d_bias": "mixer.conv1d.bias", "x_proj": "mixer.x_proj.weight",
             "dt_proj": "mixer.dt_proj.weight", "dt_proj_bias": "mixer.dt_proj.bias", "A": "mixer.A_log",
             "D": "mixer.D", "out_proj": "mixer.out_proj.weight"}
    w = hf_tensors(tensors, names)
    cfg = {"architectures": ["MambaForCausalLM"], "model_type": "mamba", "hidden_size": c["d_model"],
           "num_hidden_layers": c["n_layer"], "intermediate_size": c["d_inner"], "expand": 2,
           "state_size": c["d_state"], "conv_kernel": c["d_conv"], "time_step_rank": c["dt_rank"],
           "vocab_size": c["n_vocab_padded"], "pad_vocab_size_multiple": 8, "use_bias": False,
           "use_conv_bias": True, "layer_norm_epsilon": c["norm_eps"], "tie_word_embeddings": True,
           "bos_token_id": c["bos_id"], "eos_token_id": c["eos_id"], "pad_token_id": c["pad_id"]}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    mf.write_safetensors(os.path.join(out_dir, "model.safetensors"), w, "F32", metadata={"format": "pt"})


def write_hf_mamba2(out_dir, c, tensors):
    """The same weights as a transformers Mamba2ForCausalLM checkpoint (the
    names and config.json fields of transformers' Mamba2Config; tied, as the
    state-spaces mamba2 models are)."""
    names = {"norm": "norm.weight", "in_proj": "mixer.in_proj.weight", "conv1d": "mixer.conv1d.weight",
             "conv1d_bias": "mixer.conv1d.bias", "dt_proj_bias": "mixer.dt_bias", "A": "mixer.A_log",
             "D": "mixer.D", "gate_norm": "mixer.norm.weight", "out_proj": "mixer.out_proj.weight"}
    w = hf_tensors(tensors, names)
    cfg = {"architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", "hidden_size": c["d_model"],
           "num_hidden_layers": c["n_layer"], "vocab_size": c["n_vocab_padded"], "state_size": c["d_state"],
           "conv_kernel": c["d_conv"], "expand": c["d_inner"] // c["d_model"], "head_dim": c["head_dim"],
           "num_heads": c["n_heads"], "n_groups": c["n_groups"], "use_bias": False, "use_conv_bias": True,
           "layer_norm_epsilon": c["norm_eps"], "rms_norm": True, "tie_word_embeddings": True,
           "bos_token_id": c["bos_id"], "eos_token_id": c["eos_id"], "pad_token_id": c["pad_id"]}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    mf.write_safetensors(os.path.join(out_dir, "model.safetensors"), w, "F32", metadata={"format": "pt"})


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description="random model with a real Mamba's shapes, for benchmarks")
    ap.add_argument("prefix", help="output path prefix: PREFIX-DTYPE.mamba is written per dtype")
    ap.add_argument("--dtype", default="f32,f16,bf16,q8", help="comma-separated dtypes of the matrices")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shape", "--shapes", default="130m", choices=sorted(SHAPES) + sorted(MAMBA2_SHAPES),
                    help="the shapes of mamba-130m, mamba-790m, mamba2-130m or mamba2-780m (default 130m)")
    ap.add_argument("--hf", metavar="DIR", help="also write the weights as a transformers checkpoint in DIR "
                    "(MambaForCausalLM or Mamba2ForCausalLM)")
    args = ap.parse_args(argv)
    mamba2 = args.shape in MAMBA2_SHAPES
    config = mamba2_config(args.shape) if mamba2 else SHAPES[args.shape]
    dtypes = [d.strip() for d in args.dtype.split(",") if d.strip()]
    for d in dtypes:
        if d not in mf.DTYPES:
            sys.stderr.write("%s: error: unknown dtype %r (use f32, f16, bf16, q8, q4_0, iq4_nl, q4_k)\n"
                             % (PROG, d))
            return 1
    tensors = (make_tensors_mamba2 if mamba2 else make_tensors)(config, args.seed)
    n = sum(a.size for _, _, a in tensors)
    if args.hf:
        (write_hf_mamba2 if mamba2 else write_hf)(args.hf, config, tensors)
        sys.stderr.write("%s: wrote %s (transformers checkpoint)\n" % (PROG, args.hf))
    for d in dtypes:
        path = "%s-%s.mamba" % (args.prefix, d)
        # a 4-bit dtype: convert.py --dtype's choice per matrix (the tied embedding, the output, q8)
        items = [(r, l, a, convert.matrix_dtype(mf.role_number(r), a.shape[1], d, r == "embedding")
                  if mf.role_number(r) in mf.MATRIX_ROLES else "f32") for r, l, a in tensors]
        try:
            size = mf.write(path, config, items)
        except (ValueError, OSError) as e:
            sys.stderr.write("%s: error: cannot write %s: %s\n" % (PROG, path, e))
            return 1
        sys.stderr.write("%s: wrote %s: %d params, %d bytes\n" % (PROG, path, n, size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
