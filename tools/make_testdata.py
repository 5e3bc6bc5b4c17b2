#!/usr/bin/env python3
"""Write the tiny test checkpoints and their golden logits.

Each checkpoint goes to tests/data/ckpt/<name>/ in the exact on-disk layout of a
real Hugging Face checkpoint (state-spaces `pytorch_model.bin`, or transformers
`model.safetensors`, single or sharded). The golden logits come from
tools/reference.py (float64 numpy) run on the values as stored (f16/bf16 are
upcast), and go to tests/data/golden/<name>.{tokens,logits[,rows]}.

Everything is deterministic (fixed RandomState seeds, no timestamps): running
the script twice gives byte-identical files.

Usage: make_testdata.py [--out tests/data]
"""
import argparse
import collections
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import MambaReference  # noqa: E402  (the independent reference)


# ----------------------------------------------------------------------------
# the configurations
# ----------------------------------------------------------------------------
# layout: "ss" (state-spaces pytorch_model.bin) or "hf" (transformers safetensors)
# arch: "mamba" or "falcon_mamba"; dtype: storage dtype; shards: safetensors files
CONFIGS = [
    dict(name="ss_basic", seed=101, layout="ss", arch="mamba", dtype="f32",
         d_model=64, n_layer=2, d_state=16, d_conv=4, expand=2, d_inner=128, dt_rank=4,
         vocab=100, pad_multiple=8, conv_bias=True, bias=False, tied=True, n_tokens=32),
    dict(name="hf_bias_untied", seed=102, layout="hf", arch="mamba", dtype="f32",
         d_model=48, n_layer=2, d_state=8, d_conv=3, expand=2, d_inner=96, dt_rank=5,
         vocab=72, conv_bias=False, bias=True, tied=False, norm_eps=1e-5,
         ids=(1, 2, 3), n_tokens=32),
    dict(name="hf_sharded_f16", seed=103, layout="hf", arch="mamba", dtype="f16", shards=2,
         d_model=32, n_layer=3, d_state=16, d_conv=4, expand=2, d_inner=64, dt_rank=2,
         vocab=64, conv_bias=True, bias=False, tied=True, norm_eps=1e-5, n_tokens=32),
    dict(name="hf_bf16", seed=104, layout="hf", arch="mamba", dtype="bf16",
         d_model=32, n_layer=2, d_state=16, d_conv=4, expand=2, d_inner=64, dt_rank=2,
         vocab=80, conv_bias=True, bias=False, tied=True, norm_eps=1e-5, n_tokens=32),
    # intermediate_size is not expand*hidden_size; a large norm eps that matters
    dict(name="hf_intermediate", seed=105, layout="hf", arch="mamba", dtype="f32",
         d_model=32, n_layer=2, d_state=4, d_conv=4, expand=2, d_inner=80, dt_rank=3,
         vocab=48, conv_bias=True, bias=False, tied=True, norm_eps=1e-2, n_tokens=32),
    # Falcon-Mamba with a non-default mixer_rms_eps; x_proj scaled so the eps shows
    dict(name="falcon_eps", seed=106, layout="hf", arch="falcon_mamba", dtype="f32",
         d_model=32, n_layer=2, d_state=8, d_conv=4, expand=2, d_inner=64, dt_rank=4,
         vocab=64, conv_bias=True, bias=False, tied=False, norm_eps=1e-5,
         mixer_rms_eps=1e-3, x_scale=0.05, ids=(0, 11, 11), n_tokens=32),
    # Falcon-Mamba without mixer_rms_eps in config.json: the default 1e-6 applies;
    # x_proj tiny so that mean(x^2) is near 1e-6 and a wrong eps shows
    dict(name="falcon_default", seed=107, layout="hf", arch="falcon_mamba", dtype="f32",
         d_model=32, n_layer=2, d_state=16, d_conv=4, expand=2, d_inner=64, dt_rank=2,
         vocab=64, conv_bias=True, bias=False, tied=True, norm_eps=1e-5,
         mixer_rms_eps=None, x_scale=1e-3, n_tokens=32),
    # edge values: d_conv 2, d_state 1, dt_rank 1, expand 1, one layer
    dict(name="hf_edge", seed=108, layout="hf", arch="mamba", dtype="f32",
         d_model=16, n_layer=1, d_state=1, d_conv=2, expand=1, d_inner=16, dt_rank=1,
         vocab=40, conv_bias=True, bias=False, tied=True, norm_eps=1e-5, n_tokens=32),
    # a long run (2000 tokens); state-spaces layout with a separate lm_head
    dict(name="ss_long", seed=109, layout="ss", arch="mamba", dtype="f32",
         d_model=32, n_layer=2, d_state=8, d_conv=4, expand=2, d_inner=64, dt_rank=2,
         vocab=50, pad_multiple=8, conv_bias=True, bias=False, tied=False,
         n_tokens=2000, row_every=100),
]


def padded_vocab(c):
    """state-spaces pads the vocabulary up to a multiple; -hf stores it padded."""
    if c["layout"] != "ss":
        return c["vocab"]
    m = c["pad_multiple"]
    return (c["vocab"] + m - 1) // m * m


# ----------------------------------------------------------------------------
# random weights, well scaled
# ----------------------------------------------------------------------------

def inv_softplus(y):
    """x with softplus(x) = y (y > 0)."""
    return y + np.log(-np.expm1(-y))


def model_weights(c, emb_name, rng, nv, di, mixer):
    """OrderedDict of PyTorch name -> float32 array, in state_dict order: the
    tensors every Mamba block has (the embedding; per layer the mixer's own,
    added by mixer(w, prefix, layer, g), then out_proj and the block norm;
    norm_f; lm_head when untied), all drawn from rng in that order. g(*shape,
    scale) is a scaled normal float32 array."""
    dm = c["d_model"]
    w = collections.OrderedDict()

    def g(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w[emb_name] = g(nv, dm, scale=2.5 / np.sqrt(dm))
    for i in range(c["n_layer"]):
        m = "backbone.layers.%d.mixer." % i
        mixer(w, m, i, g)
        w[m + "out_proj.weight"] = g(dm, di, scale=1.0 / np.sqrt(di))
        if c["bias"]:
            w[m + "out_proj.bias"] = g(dm, scale=0.2)
        w["backbone.layers.%d.norm.weight" % i] = (1.0 + 0.2 * rng.standard_normal(dm)).astype(np.float32)
    w["backbone.norm_f.weight"] = (1.0 + 0.2 * rng.standard_normal(dm)).astype(np.float32)
    if c["tied"]:
        if c["layout"] == "ss":
            w["lm_head.weight"] = w[emb_name]   # state_dict keeps both keys, one storage
    else:
        w["lm_head.weight"] = g(nv, dm, scale=2.5 / np.sqrt(dm))
    return w


def make_weights(c, emb_name):
    """OrderedDict of PyTorch name -> float32 array, in state_dict order."""
    rng = np.random.RandomState(c["seed"])
    dm, di, n, k, r = c["d_model"], c["d_inner"], c["d_state"], c["d_conv"], c["dt_rank"]
    xs = c.get("x_scale", 1.0)

    def mixer(w, m, i, g):
        # A_log like the real init, log(1..N) per channel, plus a little noise
        a_log = np.log(np.tile(np.arange(1, n + 1, dtype=np.float64), (di, 1)))
        a_log += 0.1 * rng.standard_normal((di, n))
        w[m + "A_log"] = a_log.astype(np.float32)
        w[m + "D"] = (1.0 + 0.3 * rng.standard_normal(di)).astype(np.float32)
        w[m + "in_proj.weight"] = g(2 * di, dm, scale=1.0 / np.sqrt(dm))
        if c["bias"]:
            w[m + "in_proj.bias"] = g(2 * di, scale=0.2)
        w[m + "conv1d.weight"] = g(di, 1, k, scale=0.6)
        if c["conv_bias"]:
            w[m + "conv1d.bias"] = g(di, scale=0.2)
        w[m + "x_proj.weight"] = g(r + 2 * n, di, scale=xs / np.sqrt(di))
        w[m + "dt_proj.weight"] = g(di, r, scale=1.0 / np.sqrt(r))
        # delta from 1e-3 to 5 (log-uniform), two channels past softplus's
        # threshold of 20 so that branch is taken too
        dt = np.exp(rng.uniform(np.log(1e-3), np.log(5.0), di))
        dt_bias = inv_softplus(dt)
        dt_bias[0] = 24.0
        dt_bias[di // 2] = 21.0
        w[m + "dt_proj.bias"] = dt_bias.astype(np.float32)

    return model_weights(c, emb_name, rng, padded_vocab(c), di, mixer), rng


def f32_to_bf16_bits(a):
    """Round float32 to bfloat16 (nearest, ties to even); return the uint16 bits."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bf16_bits_to_f64(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def store(w, dtype):
    """Cast to the storage dtype. Returns ({name: (st_dtype, bytes, shape)},
    {name: float64 stored values})."""
    raw, vals = collections.OrderedDict(), collections.OrderedDict()
    for name, a in w.items():
        if dtype == "f32":
            s = a.astype("<f4")
            raw[name] = ("F32", s.tobytes(), a.shape)
            vals[name] = s.astype(np.float64)
        elif dtype == "f16":
            s = a.astype("<f2")
            raw[name] = ("F16", s.tobytes(), a.shape)
            vals[name] = s.astype(np.float64)
        elif dtype == "bf16":
            bits = f32_to_bf16_bits(a)
            raw[name] = ("BF16", bits.astype("<u2").tobytes(), a.shape)
            vals[name] = bf16_bits_to_f64(bits).reshape(a.shape)
        else:
            raise ValueError(dtype)
    return raw, vals


# ----------------------------------------------------------------------------
# writers
# ----------------------------------------------------------------------------

def write_safetensors(path, tensors):
    """Own tiny safetensors writer. tensors: {name: (dtype, bytes, shape)}.
    Names sorted, data packed in that order, header padded with spaces to 8."""
    header = collections.OrderedDict()
    header["__metadata__"] = {"format": "pt"}
    off = 0
    for name in sorted(tensors):
        dt, data, shape = tensors[name]
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        off += len(data)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for name in sorted(tensors):
            f.write(tensors[name][1])


def write_json(path, obj, indent=2):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent, sort_keys=(indent is None))
        f.write("\n")


def write_ss(d, c, w):
    """state-spaces layout: config.json + torch.save'd state_dict."""
    import torch
    cfg = collections.OrderedDict([
        ("d_model", c["d_model"]), ("n_layer", c["n_layer"]), ("vocab_size", c["vocab"]),
        ("ssm_cfg", collections.OrderedDict([
            ("d_state", c["d_state"]), ("d_conv", c["d_conv"]), ("expand", c["expand"]),
            ("conv_bias", c["conv_bias"]), ("bias", c["bias"])])),
        ("rms_norm", True), ("residual_in_fp32", True), ("fused_add_norm", True),
        ("pad_vocab_size_multiple", c["pad_multiple"]), ("tie_embeddings", c["tied"]),
    ])
    write_json(os.path.join(d, "config.json"), cfg)
    sd = collections.OrderedDict()
    made = {}
    for name, a in w.items():
        key = id(a)
        if key not in made:                      # tied: the same tensor twice
            made[key] = torch.from_numpy(np.array(a, dtype=np.float32))
        sd[name] = made[key]
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))


def write_hf(d, c, raw):
    """transformers layout: config.json + model.safetensors (or shards + index)."""
    falcon = c["arch"] == "falcon_mamba"
    bos, eos, pad = c.get("ids", (0, 0, 0))
    cfg = collections.OrderedDict([
        ("architectures", ["FalconMambaForCausalLM" if falcon else "MambaForCausalLM"]),
        ("bos_token_id", bos), ("conv_kernel", c["d_conv"]), ("eos_token_id", eos),
        ("expand", c["expand"]), ("hidden_act", "silu"), ("hidden_size", c["d_model"]),
        ("initializer_range", 0.1), ("intermediate_size", c["d_inner"]),
        ("layer_norm_epsilon", c["norm_eps"]),
    ])
    if falcon and c.get("mixer_rms_eps") is not None:
        cfg["mixer_rms_eps"] = c["mixer_rms_eps"]
    cfg.update([
        ("model_type", "falcon_mamba" if falcon else "mamba"),
        ("num_hidden_layers", c["n_layer"]), ("pad_token_id", pad),
        ("rescale_prenorm_residual", False), ("residual_in_fp32", True),
        ("state_size", c["d_state"]), ("tie_word_embeddings", c["tied"]),
        ("time_step_floor", 0.0001), ("time_step_init_scheme", "random"),
        ("time_step_max", 0.1), ("time_step_min", 0.001), ("time_step_rank", c["dt_rank"]),
        ("time_step_scale", 1.0),
        ("torch_dtype", {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[c["dtype"]]),
        ("transformers_version", "4.44.0"), ("use_bias", c["bias"]), ("use_cache", True),
        ("use_conv_bias", c["conv_bias"]), ("vocab_size", padded_vocab(c)),
    ])
    if falcon:
        cfg["use_mambapy"] = False
    write_json(os.path.join(d, "config.json"), cfg)
    write_hf_weights(d, c, raw)


def write_hf_weights(d, c, raw):
    """raw (name -> (dtype, bytes, shape)) as transformers writes it: one
    model.safetensors, or c["shards"] shards by layer and their index."""
    shards = c.get("shards", 1)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), raw)
        return
    # split by layer: embedding and the first layers in shard 1, the rest after
    names = list(raw)
    per = (c["n_layer"] + shards - 1) // shards

    def shard_of(name):
        if name.startswith("backbone.layers."):
            return min(int(name.split(".")[2]) // per, shards - 1)
        return 0 if "embedding" in name else shards - 1
    weight_map = collections.OrderedDict()
    total = 0
    for s in range(shards):
        fname = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
        part = collections.OrderedDict((k, raw[k]) for k in names if shard_of(k) == s)
        write_safetensors(os.path.join(d, fname), part)
        for k in part:
            weight_map[k] = fname
            total += len(part[k][1])
    index = collections.OrderedDict([
        ("metadata", {"total_size": total}),
        ("weight_map", collections.OrderedDict(sorted(weight_map.items()))),
    ])
    write_json(os.path.join(d, "model.safetensors.index.json"), index)


# ----------------------------------------------------------------------------
# golden logits
# ----------------------------------------------------------------------------

def make_tokens(c, rng):
    """Random ids below the real vocabulary, with id 0, the last valid id and a
    run of one repeated token."""
    nv = c["vocab"]
    t = rng.randint(0, nv, size=c["n_tokens"])
    t[0] = 0
    t[5] = nv - 1
    t[9:13] = t[8]
    t[20] = 0
    t[-1] = nv - 1
    return [int(x) for x in t]


def run(model, tokens):
    model.reset()
    return np.stack([model.step(t) for t in tokens])


def max_rel(a, b):
    return float(np.max(np.max(np.abs(a - b), axis=1) / np.max(np.abs(a), axis=1)))


def write_checkpoint(c, out_dir, make_weights, write_ss, write_hf):
    """Configuration c's checkpoint into out_dir/ckpt/<name> in its layout;
    returns (the golden directory, the stored values, the rng after the
    weights) for the reference run."""
    ck = os.path.join(out_dir, "ckpt", c["name"])
    gd = os.path.join(out_dir, "golden")
    os.makedirs(ck, exist_ok=True)
    os.makedirs(gd, exist_ok=True)
    emb_name = "backbone.embedding.weight" if c["layout"] == "ss" else "backbone.embeddings.weight"
    w, rng = make_weights(c, emb_name)
    raw, vals = store(w, c["dtype"])
    if c["layout"] == "ss":
        write_ss(ck, c, w)
    else:
        write_hf(ck, c, raw)
    return gd, vals, rng


def write_golden(gd, c, tokens, logits):
    """The golden files of configuration c: <name>.tokens, .logits (float32,
    the stored rows) and, with c["row_every"], .rows (which rows)."""
    name = c["name"]
    rows = list(range(len(tokens)))
    if c.get("row_every"):
        rows = list(range(0, len(tokens), c["row_every"]))
        if rows[-1] != len(tokens) - 1:
            rows.append(len(tokens) - 1)
        with open(os.path.join(gd, name + ".rows"), "w") as f:
            f.write("\n".join(str(r) for r in rows) + "\n")
    # compare_logits.py also demands the same argmax: keep the top two logits
    # of every stored row well apart, so float32 rounding cannot swap them
    top2 = np.sort(logits[rows], axis=1)[:, -2:]
    gap = (top2[:, 1] - top2[:, 0]) / np.max(np.abs(logits[rows]), axis=1)
    assert np.min(gap) > 5e-4, (name, "argmax near-tie", float(np.min(gap)))
    with open(os.path.join(gd, name + ".tokens"), "w") as f:
        for i in range(0, len(tokens), 16):
            f.write(" ".join(str(t) for t in tokens[i:i + 16]) + "\n")
    with open(os.path.join(gd, name + ".logits"), "wb") as f:
        f.write(logits[rows].astype("<f4").tobytes())


def build(c, out_dir):
    name = c["name"]
    gd, vals, rng = write_checkpoint(c, out_dir, make_weights, write_ss, write_hf)

    falcon = c["arch"] == "falcon_mamba"
    norm_eps = c.get("norm_eps", 1e-5)          # state-spaces: MixerModel default 1e-5
    meps = c.get("mixer_rms_eps") or 1e-6
    model = MambaReference(vals, c["arch"], norm_eps, meps)
    tokens = make_tokens(c, rng)
    logits = run(model, tokens)

    # the tests must be able to fail: a wrong eps or a missing weightless norm
    # has to move the logits well past the 1e-4 tolerance
    if falcon:
        for wrong in (meps * 10, meps / 10):
            alt = run(MambaReference(vals, c["arch"], norm_eps, wrong), tokens)
            assert max_rel(logits, alt) > 1e-3, (name, "mixer eps not visible")
        alt = run(MambaReference(vals, "mamba", norm_eps), tokens)
        assert max_rel(logits, alt) > 1e-3, (name, "falcon norm not visible")
    if norm_eps >= 1e-3:
        alt = run(MambaReference(vals, c["arch"], 1e-5, meps), tokens)
        assert max_rel(logits, alt) > 1e-3, (name, "norm eps not visible")
    biggest = float(np.max(np.abs(logits)))
    assert 1.0 < biggest < 100.0, (name, biggest)
    write_golden(gd, c, tokens, logits)
    print("%-16s %-3s %-12s d_model %3d layers %d d_inner %3d d_state %2d d_conv %d dt_rank %d "
          "vocab %3d tokens %4d max|logit| %.2f"
          % (name, c["layout"], c["arch"] + "/" + c["dtype"], c["d_model"], c["n_layer"],
             c["d_inner"], c["d_state"], c["d_conv"], c["dt_rank"], padded_vocab(c),
             len(tokens), biggest))


def main_for(prog, description, configs, build, out):
    """The command line of a test-data generator: --out (default tests/<out>), --only NAME."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "tests", *out))
    ap.add_argument("--only", help="build only this configuration")
    args = ap.parse_args()
    done = 0
    for c in configs:
        if args.only and c["name"] != args.only:
            continue
        build(c, args.out)
        done += 1
    if not done:
        sys.exit("%s: error: no configuration named %r" % (prog, args.only))


def main():
    main_for("make_testdata.py", "write test checkpoints and golden logits", CONFIGS, build, ("data",))


if __name__ == "__main__":
    main()
