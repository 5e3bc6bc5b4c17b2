#!/usr/bin/env python3
"""Write the tiny Mamba-2 test checkpoints and their golden logits.

Each checkpoint goes to tests/data/mamba2/ckpt/<name>/ in the exact on-disk
layout of a published Mamba-2 checkpoint:
  ss  state-spaces (mamba2-130m ... mamba2-2.7b): config.json with
      ssm_cfg {"layer": "Mamba2", ...}, pad_vocab_size_multiple 16,
      tie_embeddings; pytorch_model.bin with backbone.embedding.weight and
      backbone.layers.i.mixer.{in_proj.weight, conv1d.weight, conv1d.bias,
      dt_bias, A_log, D, norm.weight, out_proj.weight};
  hf  transformers Mamba2ForCausalLM (model_type "mamba2", as
      Mamba-Codestral-7B): hidden_size, num_heads, head_dim, state_size,
      n_groups, time_step_limit (with a bare Infinity), ...; model.safetensors
      or shards with model.safetensors.index.json; backbone.embeddings.weight.
The golden logits come from tools/reference.py's Mamba2Reference (float64)
run on the values as stored, into tests/data/mamba2/golden/<name>.{tokens,
logits[,rows]}. Deterministic: running it twice gives byte-identical files.

Every configuration asserts that the setting it covers is visible in the
logits (a wrong group count, eps, gate order, D layout or clamp would move
them past the 1e-4 tolerance), so the C tests can fail.

Usage: make_testdata_mamba2.py [--out tests/data/mamba2] [--only NAME]
"""
import collections
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import Mamba2Reference  # noqa: E402  (the independent reference)
from make_testdata import (inv_softplus, main_for, make_tokens, max_rel, model_weights, run,  # noqa: E402
                           write_checkpoint, write_golden, write_hf_weights, write_json)

INF = float("inf")

# layout "ss" or "hf"; d_inner = expand * d_model; H = d_inner / headdim.
# groups: n_groups; dhd: D per channel (D_has_hdim, state-spaces only);
# nbg: norm_before_gate (state-spaces only: transformers has no such mode);
# rmsnorm False drops the gated norm (state-spaces only);
# limit: dt_limit / time_step_limit; eps: block norm eps (and, for hf, the gated norm's).
CONFIGS = [
    dict(name="m2_ss_basic", seed=201, layout="ss", dtype="f32", d_model=32, n_layer=2, expand=2,
         headdim=16, groups=1, d_state=16, d_conv=4, vocab=50, tied=True, conv_bias=True, bias=False,
         n_tokens=40),
    # groups 2, D per channel, untied, a large block-norm eps (state-spaces norm_epsilon)
    dict(name="m2_ss_g2_dhd", seed=202, layout="ss", dtype="f32", d_model=32, n_layer=2, expand=2,
         headdim=8, groups=2, d_state=32, d_conv=4, vocab=60, tied=False, conv_bias=True, bias=False,
         dhd=True, eps=1e-2, n_tokens=40),
    # norm_before_gate and a dt_limit that clamps many deltas; groups 4
    dict(name="m2_ss_nbg_limit", seed=203, layout="ss", dtype="f32", d_model=32, n_layer=2, expand=2,
         headdim=8, groups=4, d_state=16, d_conv=3, vocab=40, tied=True, conv_bias=True, bias=False,
         nbg=True, limit=(0.05, 2.0), n_tokens=40),
    # rmsnorm=False: no gated norm, y * SiLU(z); in/out_proj biases
    dict(name="m2_ss_nonorm_bias", seed=214, layout="ss", dtype="f32", d_model=32, n_layer=2, expand=2,
         headdim=16, groups=2, d_state=16, d_conv=4, vocab=33, tied=True, conv_bias=True, bias=True,
         rmsnorm=False, n_tokens=40),
    # transformers, n_groups 4, conv bias off, eps 1e-3 (both norms), untied by default
    dict(name="m2_hf_g4_nobias", seed=205, layout="hf", dtype="f32", d_model=32, n_layer=2, expand=2,
         headdim=8, groups=4, d_state=16, d_conv=4, vocab=64, tied=None, conv_bias=False, bias=False,
         eps=1e-3, n_tokens=40),
    # Codestral-like: n_groups 8, bf16, sharded, Infinity in time_step_limit,
    # norm_before_gate true and intermediate_size in config.json (transformers ignores the former)
    dict(name="m2_hf_g8_bf16_sharded", seed=206, layout="hf", dtype="bf16", shards=2, d_model=32,
         n_layer=3, expand=2, headdim=8, groups=8, d_state=16, d_conv=4, vocab=48, tied=None,
         conv_bias=True, bias=False, limit=(0.0, INF), codestral=True, n_tokens=40),
    # head_dim 64, d_state 128, f16, tied, a clamp through time_step_limit
    dict(name="m2_hf_hd64_n128_f16", seed=207, layout="hf", dtype="f16", d_model=64, n_layer=2,
         expand=2, headdim=64, groups=2, d_state=128, d_conv=4, vocab=32, tied=True, conv_bias=True,
         bias=False, limit=(0.01, 0.5), n_tokens=40),
    # 2,000 tokens, every 100th row kept
    dict(name="m2_ss_long", seed=208, layout="ss", dtype="f32", d_model=32, n_layer=2, expand=2,
         headdim=16, groups=1, d_state=16, d_conv=4, vocab=50, tied=True, conv_bias=True, bias=False,
         n_tokens=2000, row_every=100),
]


def padded_vocab(c):
    return (c["vocab"] + 15) // 16 * 16 if c["layout"] == "ss" else c["vocab"]


def dims(c):
    di = c["expand"] * c["d_model"]
    H = di // c["headdim"]
    return di, H, di + 2 * c["groups"] * c["d_state"]


def make_weights(c, emb_name):
    """OrderedDict of PyTorch name -> float32 array, in state_dict order."""
    rng = np.random.RandomState(c["seed"])
    dm, N, K, G = c["d_model"], c["d_state"], c["d_conv"], c["groups"]
    di, H, conv_dim = dims(c)

    def mixer(w, m, i, g):
        # delta from 1e-3 to 5 (log-uniform) so that a clamp shows; one head past
        # softplus's threshold of 20
        dt = np.exp(rng.uniform(np.log(1e-3), np.log(5.0), H))
        dt_bias = inv_softplus(dt)
        dt_bias[H - 1] = 21.0 + i
        w[m + "dt_bias"] = dt_bias.astype(np.float32)
        w[m + "A_log"] = np.log(rng.uniform(1.0, 16.0, H)).astype(np.float32)
        w[m + "D"] = (1.0 + 0.3 * rng.standard_normal(di if c.get("dhd") else H)).astype(np.float32)
        w[m + "in_proj.weight"] = g(2 * di + 2 * G * N + H, dm, scale=1.0 / np.sqrt(dm))
        if c["bias"]:
            w[m + "in_proj.bias"] = g(2 * di + 2 * G * N + H, scale=0.2)
        w[m + "conv1d.weight"] = g(conv_dim, 1, K, scale=0.5)
        if c["conv_bias"]:
            w[m + "conv1d.bias"] = g(conv_dim, scale=0.2)
        if c.get("rmsnorm", True):
            # groups at different scales, so that a norm over all of d_inner differs
            ws = 1.0 + 0.2 * rng.standard_normal(di)
            w[m + "norm.weight"] = ws.astype(np.float32)

    return model_weights(c, emb_name, rng, padded_vocab(c), di, mixer), rng


def write_ss(d, c, w):
    """state-spaces layout: config.json as MambaConfig.to_dict() + torch.save'd state_dict."""
    import torch
    di, H, _ = dims(c)
    ssm = collections.OrderedDict([("layer", "Mamba2"), ("d_state", c["d_state"]), ("d_conv", c["d_conv"]),
                                   ("expand", c["expand"]), ("headdim", c["headdim"]),
                                   ("ngroups", c["groups"])])
    if c.get("dhd"):
        ssm["D_has_hdim"] = True
    if c.get("nbg"):
        ssm["norm_before_gate"] = True
    if not c.get("rmsnorm", True):
        ssm["rmsnorm"] = False
    if "limit" in c:
        ssm["dt_limit"] = list(c["limit"])
    if c["bias"]:
        ssm["bias"] = True
    if not c["conv_bias"]:
        ssm["conv_bias"] = False
    cfg = collections.OrderedDict([
        ("d_model", c["d_model"]), ("d_intermediate", 0), ("n_layer", c["n_layer"]),
        ("vocab_size", c["vocab"]), ("ssm_cfg", ssm), ("attn_layer_idx", []), ("attn_cfg", {}),
        ("rms_norm", True), ("residual_in_fp32", True), ("fused_add_norm", True),
        ("pad_vocab_size_multiple", 16), ("tie_embeddings", c["tied"]),
    ])
    if "eps" in c:
        cfg["norm_epsilon"] = c["eps"]
    write_json(os.path.join(d, "config.json"), cfg)
    sd, made = collections.OrderedDict(), {}
    for name, a in w.items():
        if id(a) not in made:
            made[id(a)] = torch.from_numpy(np.array(a, dtype=np.float32))
        sd[name] = made[id(a)]
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))


def write_hf(d, c, raw):
    """transformers layout: config.json as Mamba2Config.to_dict() + safetensors."""
    di, H, _ = dims(c)
    cfg = collections.OrderedDict([
        ("architectures", ["Mamba2ForCausalLM"]), ("bos_token_id", 0), ("chunk_size", 256),
        ("conv_kernel", c["d_conv"]), ("eos_token_id", 0), ("expand", c["expand"]),
        ("head_dim", c["headdim"]), ("hidden_act", "silu"), ("hidden_size", c["d_model"]),
        ("initializer_range", 0.1),
    ])
    if c.get("codestral"):
        cfg["intermediate_size"] = di
    cfg["layer_norm_epsilon"] = c.get("eps", 1e-5)
    cfg["model_type"] = "mamba2"
    cfg["n_groups"] = c["groups"]
    if c.get("codestral"):
        cfg["norm_before_gate"] = True     # as Mamba-Codestral-7B's config.json; not used by transformers
    cfg.update([
        ("num_heads", H), ("num_hidden_layers", c["n_layer"]), ("pad_token_id", 0),
        ("rescale_prenorm_residual", False), ("residual_in_fp32", True), ("rms_norm", True),
        ("state_size", c["d_state"]),
    ])
    if c["tied"] is not None:
        cfg["tie_word_embeddings"] = c["tied"]
    cfg.update([("time_step_floor", 0.0001)])
    if "limit" in c:
        cfg["time_step_limit"] = list(c["limit"])   # json writes inf as a bare Infinity
    cfg.update([
        ("time_step_max", 0.1), ("time_step_min", 0.001),
        ("time_step_rank", (c["d_model"] + 15) // 16),
        ("torch_dtype", {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[c["dtype"]]),
        ("transformers_version", "4.44.0.dev0"), ("use_bias", c["bias"]), ("use_cache", True),
        ("use_conv_bias", c["conv_bias"]), ("vocab_size", padded_vocab(c)),
    ])
    write_json(os.path.join(d, "config.json"), cfg)
    write_hf_weights(d, c, raw)


def settings(c):
    """What the reference must be given: (n_groups, norm_eps, gate_eps, nbg, limit)."""
    eps = c.get("eps", 1e-5)
    gate_eps = 1e-5 if c["layout"] == "ss" else eps
    return c["groups"], eps, gate_eps, bool(c.get("nbg")), c.get("limit", (0.0, INF))


def build(c, out_dir):
    name = c["name"]
    gd, vals, rng = write_checkpoint(c, out_dir, make_weights, write_ss, write_hf)
    G, eps, geps, nbg, lim = settings(c)
    tokens = make_tokens(c, rng)
    logits = run(Mamba2Reference(vals, G, eps, geps, nbg, lim), tokens)

    # every setting must show in the logits
    def differs(what, **kw):
        a = dict(n_groups=G, norm_eps=eps, gate_eps=geps, norm_before_gate=nbg, dt_limit=lim)
        a.update(kw)
        alt = run(Mamba2Reference(vals, **a), tokens[:40])
        assert max_rel(logits[:40], alt) > 1e-3, (name, what, "not visible")
    if c.get("rmsnorm", True):
        differs("gate order", norm_before_gate=not nbg)
        if G > 1:   # the same weights with one group: transformers' whole-d_inner norm
            differs("per-group norm", n_groups=1)
    if lim != (0.0, INF):
        differs("dt clamp", dt_limit=(0.0, INF))
    if eps != 1e-5:
        differs("block norm eps", norm_eps=1e-5)
    if geps != 1e-5:
        differs("gated norm eps", gate_eps=1e-5)
    biggest = float(np.max(np.abs(logits)))
    assert 1.0 < biggest < 100.0, (name, biggest)
    write_golden(gd, c, tokens, logits)
    di, H, _ = dims(c)
    print("%-22s %s/%-4s d_model %2d layers %d d_inner %3d heads %2d x %2d groups %d d_state %3d "
          "vocab %3d tokens %4d max|logit| %.2f"
          % (name, c["layout"], c["dtype"], c["d_model"], c["n_layer"], di, H, c["headdim"], G,
             c["d_state"], padded_vocab(c), len(tokens), biggest))


def main():
    main_for("make_testdata_mamba2.py", "write Mamba-2 test checkpoints and golden logits", CONFIGS, build,
             ("data", "mamba2"))


if __name__ == "__main__":
    main()
