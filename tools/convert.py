#!/usr/bin/env python3
"""Convert a Mamba checkpoint directory to a .mamba file (docs/format.md).

usage: convert.py CHECKPOINT_DIR|MODEL.gguf OUT.mamba [--dtype f32|f16|bf16|q8|q4_0|iq4_nl|q4_k]
                  [--override ROLE=DTYPE ...] [--tokenizer tokenizer.json | --no-tokenizer]

A GGUF file (llama.cpp's format, architectures mamba and mamba2) is read by
tools/gguf.py; see convert_gguf below for what is kept exactly.

Two input layouts are read as they are published:

1. state-spaces (`mamba_ssm`): config.json with d_model, n_layer, vocab_size,
   ssm_cfg, rms_norm, pad_vocab_size_multiple, ...; weights in
   pytorch_model.bin (loaded with torch, imported only for this file type).
   ssm_cfg.layer "Mamba2" is Mamba-2 (arch 3, build_mamba2).
2. transformers (`model_type` "mamba", "falcon_mamba" or "mamba2"):
   config.json with hidden_size, num_hidden_layers, state_size, ...; weights
   in model.safetensors or shards listed in model.safetensors.index.json, read
   by mambafile.read_safetensors (no torch, no safetensors package).

Dimensions come from the tensor shapes; config values, where present, must
agree with them. Biases are detected from the tensors present.

Token ids written to the header:
  n_vocab  state-spaces: config vocab_size before padding.
           transformers: max id + 1 of tokenizer.json (model vocab and added
           tokens) when one is found, else config vocab_size.
  eos_id   config eos_token_id if given; else the id of "<|endoftext|>" (or of
           "</s>", SentencePiece-style) in the tokenizer; else 0 (the GPT-NeoX vocabulary that all state-spaces
           Mamba-1 models use has <|endoftext|> at id 0).
  bos_id, pad_id  from config bos_token_id / pad_token_id; none (-1) when absent.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import mambafile as mf  # noqa: E402
import gguf  # noqa: E402
import q4  # noqa: E402
import q4k  # noqa: E402

PROG = "convert.py"
BIG_MODEL_PARAMS = 50 * 1000 * 1000


class ConvertError(Exception):
    """An error reported as one line on stderr, exit status 1."""


def warn(msg):
    sys.stderr.write("%s: warning: %s\n" % (PROG, msg))


# ---------------------------------------------------------------- loading weights

def load_torch_bin(path):
    """pytorch_model.bin -> {name: LazyTensor}. The zip format of torch.save (every
    PyTorch >= 1.6 file) is read by tools/torchzip.py: no torch, no code run from
    the pickle. Only the legacy pre-1.6 pickle needs torch, imported only then."""
    import torchzip
    if torchzip.is_torch_zip(path):
        try:
            return torchzip.read(path)
        except torchzip.TorchZipError as e:
            raise ConvertError("cannot load %s" % str(e))  # "PATH: why"
    try:
        import torch
    except ImportError:
        raise ConvertError("%s is a legacy (pre-1.6) torch pickle: reading it needs PyTorch, "
                           "and torch is not installed" % path)
    try:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except TypeError:   # torch without weights_only
            sd = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many kinds; report them as one line
        raise ConvertError("cannot load %s: %s" % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ConvertError("%s does not hold a state dict" % path)
    out = {}
    for name, t in sd.items():
        if not hasattr(t, "shape") or not hasattr(t, "float"):
            continue
        out[name] = mf.LazyTensor(tuple(t.shape), lambda t=t: t.detach().float().numpy(),
                                  str(t.dtype), name=name)
    return out


def load_weights(ckpt):
    """Find and open the weights of a checkpoint dir: single safetensors,
    sharded safetensors, or pytorch_model.bin (in that order of preference)."""
    single = os.path.join(ckpt, "model.safetensors")
    index = os.path.join(ckpt, "model.safetensors.index.json")
    binf = os.path.join(ckpt, "pytorch_model.bin")
    try:
        if os.path.isfile(single):
            return read_st(single)
        if os.path.isfile(index):
            try:
                with open(index) as f:
                    wmap = json.load(f)["weight_map"]
            except (ValueError, KeyError, TypeError) as e:
                raise ConvertError("%s: cannot read weight_map (%s)" % (index, e))
            out, shards = {}, {}
            for name, shard in sorted(wmap.items()):
                p = os.path.join(ckpt, shard)
                if p not in shards:
                    if not os.path.isfile(p):
                        raise ConvertError("missing weights shard %s (listed in %s)" % (p, index))
                    shards[p] = read_st(p)
                if name not in shards[p]:
                    raise ConvertError("missing tensor %s in shard %s (listed in %s)" % (name, p, index))
                out[name] = shards[p][name]
            return out
        if os.path.isfile(binf):
            return load_torch_bin(binf)
    except OSError as e:
        raise ConvertError("cannot read weights: %s" % e)
    raise ConvertError("no weights in %s (expected model.safetensors, model.safetensors.index.json "
                       "or pytorch_model.bin)" % ckpt)


def read_st(path):
    try:
        return mf.read_safetensors(path)
    except mf.SafetensorsError as e:
        raise ConvertError(str(e))


# ---------------------------------------------------------------- config

def read_config(ckpt):
    if not os.path.isdir(ckpt):
        raise ConvertError("checkpoint directory %s does not exist" % ckpt)
    path = os.path.join(ckpt, "config.json")
    if not os.path.isfile(path):
        raise ConvertError("missing %s" % path)
    try:
        with open(path) as f:
            cfg = json.load(f)
    except ValueError as e:
        raise ConvertError("%s is not valid JSON: %s" % (path, e))
    if not isinstance(cfg, dict):
        raise ConvertError("%s is not a JSON object" % path)
    return cfg


KNOWN_ARCHITECTURES = {"MambaForCausalLM": "mamba", "MambaModel": "mamba",
                       "FalconMambaForCausalLM": "falcon_mamba", "FalconMambaModel": "falcon_mamba",
                       "MambaLMHeadModel": "mamba", "Mamba2ForCausalLM": "mamba2", "Mamba2Model": "mamba2"}
MODEL_TYPES = {"mamba": mf.ARCH_MAMBA1, "falcon_mamba": mf.ARCH_FALCON_MAMBA, "mamba2": mf.ARCH_MAMBA2}


def describe(cfg):
    """Decide the layout: returns ("state-spaces" | "hf", arch number)."""
    mt = cfg.get("model_type")
    archs = cfg.get("architectures") or []
    if not isinstance(archs, list):
        archs = [archs]
    for a in archs:
        if a not in KNOWN_ARCHITECTURES:
            raise ConvertError("unknown architecture %s in config.json (supported: %s)"
                               % (a, ", ".join(sorted(KNOWN_ARCHITECTURES))))
    if mt is not None:
        if mt not in MODEL_TYPES:
            raise ConvertError("unknown model_type %r in config.json (supported: %s)"
                               % (mt, ", ".join(sorted(MODEL_TYPES))))
        if "hidden_size" not in cfg and "d_model" in cfg:
            return "state-spaces", mf.ARCH_MAMBA2 if mt == "mamba2" else mf.ARCH_MAMBA1
        return "hf", MODEL_TYPES[mt]
    if "d_model" in cfg and "n_layer" in cfg:
        layer = (cfg.get("ssm_cfg") or {}).get("layer", "Mamba1")
        if layer not in ("Mamba1", "Mamba2"):
            raise ConvertError("unknown architecture: ssm_cfg.layer = %r (supported: Mamba1, Mamba2)" % layer)
        if cfg.get("attn_layer_idx"):
            raise ConvertError("unknown architecture: hybrid model with attention layers (attn_layer_idx)")
        if cfg.get("d_intermediate"):
            raise ConvertError("unknown architecture: d_intermediate=%r (MLP blocks are not supported)"
                               % cfg["d_intermediate"])
        return "state-spaces", mf.ARCH_MAMBA2 if layer == "Mamba2" else mf.ARCH_MAMBA1
    if "hidden_size" in cfg:
        raise ConvertError("config.json has no model_type; cannot tell the architecture")
    raise ConvertError("unknown model: config.json has neither d_model/n_layer (state-spaces) "
                       "nor model_type (transformers)")


def need_int(cfg, key, where="config.json"):
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ConvertError("%s: %s must be a positive integer, got %r" % (where, key, v))
    return v


# ---------------------------------------------------------------- tokenizer

def tokenizer_info(path):
    """(n_ids, id of <|endoftext|> or None) from a tokenizer.json."""
    try:
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
    except (OSError, ValueError) as e:
        raise ConvertError("cannot read tokenizer %s: %s" % (path, e))
    ids = {}
    vocab = (tj.get("model") or {}).get("vocab") or {}
    if isinstance(vocab, dict):
        ids.update(vocab)
    elif isinstance(vocab, list):   # unigram: [[piece, score], ...]
        ids.update({p[0]: i for i, p in enumerate(vocab)})
    for t in tj.get("added_tokens") or []:
        ids[t.get("content")] = t.get("id")
    nums = [v for v in ids.values() if isinstance(v, int)]
    if not nums:
        raise ConvertError("tokenizer %s has no vocabulary" % path)
    return max(nums) + 1, ids.get("<|endoftext|>", ids.get("</s>"))  # GPT-NeoX/GPT-4/Qwen, or Llama/Mistral


def pack_tokenizer(path, explicit):
    try:
        import tokpack
    except ImportError:
        if explicit:
            raise ConvertError("--tokenizer given but tools/tokpack.py is not available")
        warn("tools/tokpack.py not available; writing no tokenizer section")
        return None
    try:
        return tokpack.pack_tokenizer(path)
    except Exception as e:
        msg = "cannot pack tokenizer %s: %s" % (path, e)
        if explicit:
            raise ConvertError(msg)
        warn(msg + "; writing no tokenizer section")
        return None


# ---------------------------------------------------------------- the conversion

def shape_of(w, name):
    if name not in w:
        raise ConvertError("missing tensor %s" % name)
    return tuple(w[name].shape)


def check_shape(w, name, want):
    got = shape_of(w, name)
    if got != tuple(want):
        raise ConvertError("misshapen tensor %s: expected %s, got %s" % (name, tuple(want), got))
    return w[name]


def agree(cfg, key, value, what, where="config.json"):
    """If cfg states key, it must equal value (read from the tensors)."""
    if key in cfg and cfg[key] is not None and cfg[key] != "auto" and cfg[key] != value:
        raise ConvertError("%s says %s=%r but %s gives %r" % (where, key, cfg[key], what, value))


def bias_agrees(cfg, key, present, tensor, where="config.json"):
    if key in cfg and cfg[key] is not None and bool(cfg[key]) != present:
        if cfg[key]:
            raise ConvertError("missing tensor %s (%s says %s=true)" % (tensor, where, key))
        raise ConvertError("%s says %s=false but tensor %s exists" % (where, key, tensor))


def same_values(a, b, shape):
    """a == b everywhere (two matrices of this shape), a block of rows at a
    time: neither is ever whole in memory."""
    return all(np.array_equal(x, y) for x, y in zip(mf.row_chunks(a, shape), mf.row_chunks(b, shape)))


def embedding_and_head(w, padded, d_model, tie, layout, tok_path, n_vocab, eos):
    """The embedding (either name), the vocabulary and the output matrix:
    returns (embedding name, lm_head LazyTensor or None when tied, n_vocab, eos)."""
    emb_name = next((n for n in ("backbone.embedding.weight", "backbone.embeddings.weight") if n in w), None)
    if emb_name is None:
        raise ConvertError("missing tensor backbone.embeddings.weight (or backbone.embedding.weight)")
    check_shape(w, emb_name, (padded, d_model))
    if tok_path and layout == "hf":
        n_ids, _ = tokenizer_info(tok_path)
        if n_ids > padded:
            raise ConvertError("tokenizer %s has %d ids but the embedding only %d rows" % (tok_path, n_ids, padded))
        n_vocab = n_ids
    if eos is None:
        eot = tokenizer_info(tok_path)[1] if tok_path else None
        eos = eot if eot is not None else 0
    # Output matrix: written only when separate from the embedding.
    lm = None
    if "lm_head.weight" in w:
        check_shape(w, "lm_head.weight", (padded, d_model))
        if tie is False:
            lm = w["lm_head.weight"]
        elif not same_values(w["lm_head.weight"], w[emb_name], (padded, d_model)):
            if tie:
                warn("config says the embeddings are tied but lm_head.weight differs; writing it separately")
            lm = w["lm_head.weight"]
    elif tie is False:
        raise ConvertError("missing tensor lm_head.weight (config says the embeddings are not tied)")
    return emb_name, lm, n_vocab, eos


def token_ids(cfg):
    """bos, eos, pad from a transformers config (a list keeps its first id)."""
    def tid(key):
        v = cfg.get(key)
        if isinstance(v, list):
            v = v[0] if v else None
        return v if isinstance(v, int) and not isinstance(v, bool) else None
    return tid("bos_token_id"), tid("eos_token_id"), tid("pad_token_id")


def build(cfg, layout, arch, w, tok_path):
    """Check the weights against the config; return (config dict, tensor list
    of (role, layer, LazyTensor, None)) with the dtype left to the caller."""
    if arch == mf.ARCH_MAMBA2:
        return build_mamba2(cfg, layout, w, tok_path)
    L = "backbone.layers.%d."
    M = L + "mixer."
    if layout == "state-spaces":
        ssm = cfg.get("ssm_cfg") or {}
        if not isinstance(ssm, dict):
            raise ConvertError("config.json: ssm_cfg must be an object")
        d_model = need_int(cfg, "d_model")
        n_layer = need_int(cfg, "n_layer")
        vocab = need_int(cfg, "vocab_size")
        if cfg.get("rms_norm", True) is False:
            raise ConvertError("unknown architecture: rms_norm=false (LayerNorm blocks are not supported)")
        mult = cfg.get("pad_vocab_size_multiple", 8)
        padded = vocab if not mult or vocab % mult == 0 else vocab + mult - vocab % mult
        norm_eps = float(cfg.get("norm_epsilon", 1e-5))
        mixer_eps = 0.0
        tie = cfg.get("tie_embeddings", True)
        n_vocab = vocab
        c_sub, c_keys = ssm, {"d_state": "d_state", "d_conv": "d_conv", "dt_rank": "dt_rank"}
        bias_key, conv_bias_key, where_sub = "bias", "conv_bias", "config.json ssm_cfg"
        expand = ssm.get("expand")
        inner_key = None
        bos = eos = pad = None
    else:
        d_model = need_int(cfg, "hidden_size")
        n_layer = need_int(cfg, "num_hidden_layers")
        padded = need_int(cfg, "vocab_size")
        norm_eps = float(cfg.get("layer_norm_epsilon", 1e-5))
        mixer_eps = float(cfg.get("mixer_rms_eps", 1e-6)) if arch == mf.ARCH_FALCON_MAMBA else 0.0
        tie = cfg.get("tie_word_embeddings", True)
        n_vocab = padded
        c_sub = cfg
        c_keys = {"d_state": "state_size", "d_conv": "conv_kernel", "dt_rank": "time_step_rank"}
        bias_key, conv_bias_key, where_sub = "use_bias", "use_conv_bias", "config.json"
        expand = cfg.get("expand")
        inner_key = "intermediate_size"
        bos, eos, pad = token_ids(cfg)

    emb_name, lm, n_vocab, eos = embedding_and_head(w, padded, d_model, tie, layout, tok_path, n_vocab, eos)

    # Dimensions from layer 0's shapes; stated config values must agree.
    a_shape = shape_of(w, (M % 0) + "A_log")
    if len(a_shape) != 2:
        raise ConvertError("misshapen tensor %sA_log: expected 2 dimensions, got %s" % (M % 0, a_shape))
    d_inner, d_state = a_shape
    conv_shape = shape_of(w, (M % 0) + "conv1d.weight")
    if len(conv_shape) != 3 or conv_shape[:2] != (d_inner, 1):
        raise ConvertError("misshapen tensor %sconv1d.weight: expected (%d, 1, d_conv), got %s"
                           % (M % 0, d_inner, conv_shape))
    d_conv = conv_shape[2]
    dtp_shape = shape_of(w, (M % 0) + "dt_proj.weight")
    if len(dtp_shape) != 2 or dtp_shape[0] != d_inner:
        raise ConvertError("misshapen tensor %sdt_proj.weight: expected (%d, dt_rank), got %s"
                           % (M % 0, d_inner, dtp_shape))
    dt_rank = dtp_shape[1]
    agree(c_sub, c_keys["d_state"], d_state, "%sA_log" % (M % 0), where_sub)
    agree(c_sub, c_keys["d_conv"], d_conv, "%sconv1d.weight" % (M % 0), where_sub)
    agree(c_sub, c_keys["dt_rank"], dt_rank, "%sdt_proj.weight" % (M % 0), where_sub)
    if inner_key:
        agree(cfg, inner_key, d_inner, "%sA_log" % (M % 0))
    if isinstance(expand, (int, float)) and not isinstance(expand, bool) and expand * d_model != d_inner \
            and not (inner_key and inner_key in cfg):
        raise ConvertError("%s says expand=%r (d_inner %r) but %sA_log gives d_inner %d"
                           % (where_sub, expand, expand * d_model, M % 0, d_inner))
    if dt_rank != math.ceil(d_model / 16) and c_sub.get(c_keys["dt_rank"], "auto") == "auto":
        warn("dt_rank %d from the tensors differs from ceil(d_model/16) = %d; using the tensors"
             % (dt_rank, math.ceil(d_model / 16)))

    # Biases: decided by the tensors, checked against the config.
    has_in_b = (M % 0) + "in_proj.bias" in w
    has_out_b = (M % 0) + "out_proj.bias" in w
    has_conv_b = (M % 0) + "conv1d.bias" in w
    bias_agrees(c_sub, bias_key, has_in_b, (M % 0) + "in_proj.bias", where_sub)
    bias_agrees(c_sub, bias_key, has_out_b, (M % 0) + "out_proj.bias", where_sub)
    bias_agrees(c_sub, conv_bias_key, has_conv_b, (M % 0) + "conv1d.bias", where_sub)

    config = dict(arch=arch, d_model=d_model, n_layer=n_layer, d_inner=d_inner, d_state=d_state,
                  d_conv=d_conv, dt_rank=dt_rank, n_vocab_padded=padded, n_vocab=n_vocab,
                  norm_eps=norm_eps, mixer_rms_eps=mixer_eps, bos_id=bos, eos_id=eos, pad_id=pad)

    def mixer_spec(m):
        spec = [(17, m + "in_proj.weight", (2 * d_inner, d_model))]
        if has_in_b:
            spec.append((18, m + "in_proj.bias", (2 * d_inner,)))
        spec.append((19, m + "conv1d.weight", (d_inner, 1, d_conv)))
        if has_conv_b:
            spec.append((20, m + "conv1d.bias", (d_inner,)))
        spec += [(21, m + "x_proj.weight", (dt_rank + 2 * d_state, d_inner)),
                 (22, m + "dt_proj.weight", (d_inner, dt_rank)),
                 (23, m + "dt_proj.bias", (d_inner,)),
                 (24, m + "A_log", (d_inner, d_state)),
                 (25, m + "D", (d_inner,)),
                 (26, m + "out_proj.weight", (d_model, d_inner))]
        if has_out_b:
            spec.append((27, m + "out_proj.bias", (d_model,)))
        return spec

    return config, model_tensors(w, emb_name, lm, n_layer, d_model, L, M, mixer_spec, (d_inner, d_conv),
                                 (d_inner, d_state), ("in_proj.bias", "out_proj.bias", "conv1d.bias"))


def fold_a(a):
    """A = -exp(A_log), computed in float64, stored f32."""
    return (-np.exp(np.asarray(a, dtype=np.float64))).astype(np.float32)


def model_tensors(w, emb_name, lm, n_layer, d_model, L, M, mixer_spec, conv_shape, a_shape, optional):
    """The file's tensor list [(role, layer, LazyTensor)] from the weights w,
    every architecture alike: the embedding; per layer the block norm, then
    mixer_spec(mixer prefix)'s [(role, name, shape)] each checked against w
    (the conv weight, role 19, reshaped to conv_shape; A_log, role 24,
    folded to A = -exp(A_log) in a_shape); norm_f; lm_head (lm, None when
    tied). An optional tensor (a name in `optional`) present where layer 0
    lacks it, or a backbone tensor nobody used, is refused; other unknown
    tensors are reported and ignored."""
    tensors = [(1, 0, w[emb_name])]
    used = {emb_name, "lm_head.weight"}
    for i in range(n_layer):
        m = M % i
        for role, name, want in [(16, L % i + "norm.weight", (d_model,))] + mixer_spec(m):
            t = check_shape(w, name, want)
            used.add(name)
            if role == 19:
                t = t.map(lambda a: np.asarray(a).reshape(conv_shape), conv_shape)
            elif role == 24:
                t = t.map(fold_a, a_shape)
            tensors.append((role, i, t))
        for opt in optional:
            if m + opt in w and m + opt not in used:
                raise ConvertError("unexpected tensor %s (layer 0 has no %s)" % (m + opt, opt))
    tensors.append((2, 0, check_shape(w, "backbone.norm_f.weight", (d_model,))))
    used.add("backbone.norm_f.weight")
    if lm is not None:
        tensors.append((3, 0, lm))

    extra = sorted(n for n in w if n not in used)
    bad = [n for n in extra if n.startswith("backbone.")]
    if bad:
        raise ConvertError("unexpected tensor %s (n_layer=%d; a different architecture?)" % (bad[0], n_layer))
    if extra:
        warn("ignoring %d unknown tensors, e.g. %s" % (len(extra), extra[0]))
    return tensors


# ---------------------------------------------------------------- GGUF

# GGUF tensor type -> the .mamba dtype that stores its values bit for bit as
# they are (mamba.h reads that type natively); any other type is dequantised
# to f32, which holds every value of F16, BF16, Q8_0, Q4_0, Q5_0, Q6_K and
# IQ4_NL exactly, and of Q4_1, Q5_1, Q5_K (d * q + m) rounded once,
# the float32 that ggml's own dequantisation computes.
GGUF_NATIVE = {"F32": "f32", "F16": "f16", "BF16": "bf16", "Q8_0": "q8", "Q4_0": "q4_0", "IQ4_NL": "iq4_nl",
               "Q4_K": "q4_k"}
Q4_DTYPES = ("q4_0", "iq4_nl", "q4_k")


def gguf_role(key):
    """The .mamba role number of a gguf.Model tensor key (the keys are
    mambafile's role names, except Mamba-2's dt_bias and ssm_norm)."""
    return mf.ROLES[{"dt_bias": "dt_proj_bias", "ssm_norm": "gate_norm"}.get(key, key)]


def matrix_dtype(role, cols, dtype, output):
    """The dtype --dtype gives a matrix: the 4-bit types go where llama.cpp
    puts its 4-bit types (in_proj, out_proj, x_proj, dt_proj, an embedding
    that is not also the output), except that a row that is not whole blocks
    of 32 stays f16 (llama.cpp: F16, e.g. dt_proj of width dt_rank 48), and
    the output matrix (lm_head, or the tied embedding) gets q8 (llama.cpp
    gives it Q6_K, which mamba.h does not have; --override changes it)."""
    if dtype not in Q4_DTYPES:
        return dtype
    if output:
        return "q8"
    return dtype if cols % q4.BLOCK == 0 else "f16"


def rel_rms(a, b):
    """RMS of a - b relative to the RMS of b."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    den = np.sqrt(np.mean(b * b))
    return float(np.sqrt(np.mean((a - b) ** 2)) / den) if den > 0 else 0.0


def stored_as(a, dtype):
    """The float32 values a .mamba tensor of this dtype holds for a."""
    if dtype == "f32":
        return np.asarray(a, np.float32)
    if dtype == "f16":
        with np.errstate(over="ignore"):
            return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)
    if dtype == "bf16":
        return mf.bf16_to_f32(mf.f32_to_bf16(a))
    if dtype == "q8":
        q, d = mf.q8_quantize(a)
        return mf.q8_dequantize(q, d, a.shape[1])
    if dtype == "q4_k":
        return q4k.dequantize(q4k.quantize(a), *a.shape)
    if dtype in Q4_DTYPES:
        q, d = q4.quantize(a, dtype)
        return q4.dequantize(q, d, a.shape[1], dtype)
    raise ConvertError("unknown dtype %r" % dtype)


def convert_gguf(args, overrides):
    """GGUF -> (config, [(role, layer, array, dtype)], tokenizer bytes, notes).

    Without --dtype each matrix keeps its GGUF type where mamba.h has it
    (GGUF_NATIVE, checked bit for bit) and is otherwise stored as f32; with
    --dtype (or --override) a matrix is quantised to that dtype from its
    dequantised values and the error this adds is printed. The other
    tensors (norms, conv, A, D, biases) are always f32."""
    try:
        g = gguf.open_gguf(args.checkpoint)
        m = gguf.mamba_model(g)
        tok = None
        try:
            tj, n_vocab, ids = gguf.tokenizer_json(m, build=not (args.no_tokenizer or args.tokenizer))
        except gguf.GGUFError as e:   # the model still runs without one, as for a checkpoint
            warn("%s; writing no tokenizer section" % e)
            tj, n_vocab, ids = gguf.tokenizer_json(m, build=False)
    except gguf.GGUFError as e:
        raise ConvertError(str(e))
    if args.tokenizer:
        tok = pack_tokenizer(args.tokenizer, explicit=True)
    elif tj is not None:
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as f:
            json.dump(tj, f, ensure_ascii=False)
        try:
            tok = pack_tokenizer(f.name, explicit=True)
        finally:
            os.unlink(f.name)
    hp = m.hp
    arch = {"mamba": mf.ARCH_MAMBA1, "falcon_mamba": mf.ARCH_FALCON_MAMBA, "mamba2": mf.ARCH_MAMBA2}[m.arch]
    if args.mixer_rms_eps is not None and m.arch == "falcon_mamba":
        hp["mixer_rms_eps"] = args.mixer_rms_eps
        m.notes = [n for n in m.notes if not n.startswith("Falcon-Mamba")]
    config = dict(arch=arch, d_model=hp["d_model"], n_layer=hp["n_layer"], d_inner=hp["d_inner"],
                  d_state=hp["d_state"], d_conv=hp["d_conv"], dt_rank=hp.get("dt_rank", 0),
                  n_vocab_padded=hp["n_vocab_padded"], n_vocab=n_vocab, norm_eps=hp["norm_eps"],
                  mixer_rms_eps=hp["mixer_rms_eps"], **ids)
    if m.arch == "mamba2":
        # What llama.cpp's mamba2 graph computes (llm_build_mamba2): the gated
        # norm is always there, per group, gate first, with the layer eps; D
        # per head; no clamp of delta (a GGUF has no time_step_limit).
        config.update(n_heads=hp["n_heads"], head_dim=hp["head_dim"], n_groups=hp["n_groups"],
                      mixer_rms_eps=hp["norm_eps"], d_per_channel=False, norm_before_gate=False)
        m.notes.append("Mamba-2: gated norm per group of %d channels, gate first, eps %g (the layer eps, as "
                       "llama.cpp); no delta clamp (not in a GGUF)" % (hp["d_inner"] // hp["n_groups"],
                                                                      hp["norm_eps"]))
    if config["eos_id"] is None:
        config["eos_id"] = 0 if n_vocab > 0 else None
    items, errs = [], []
    per_layer = ("norm", "in_proj", "in_proj_bias", "conv1d", "conv1d_bias", "x_proj", "dt_proj", "dt_proj_bias",
                 "dt_bias", "A", "D", "ssm_norm", "out_proj", "out_proj_bias")
    order = [("embedding", 0)] + [(k, i) for i in range(hp["n_layer"]) for k in per_layer] \
        + [("norm_f", 0), ("lm_head", 0)]
    for key, layer in order:
        if (key, layer) not in m.tensors:
            continue
        role = gguf_role(key)
        try:
            a, gtype = gguf.load_tensor(m, key, layer)
        except gguf.GGUFError as e:
            raise ConvertError(str(e))
        output = role == 3 or (role == 1 and not hp["lm_head"])
        if role not in mf.MATRIX_ROLES:
            dt = "f32"
        elif role in overrides:
            dt = overrides[role]
        elif args.dtype is not None:
            dt = matrix_dtype(role, a.shape[1], args.dtype, output)
        else:
            dt = GGUF_NATIVE.get(gtype, "f32")
        if dt in Q4_DTYPES and GGUF_NATIVE.get(gtype) == dt:
            # the GGUF's own blocks, bit for bit
            gname = m.tensors[(key, layer)][0]
            if dt == "q4_k":    # the same 144-byte super-blocks
                kk = q4k.from_ggml(g.raw(gname), a.shape[0], a.shape[1])
                same, data = np.array_equal(q4k.dequantize(kk, a.shape[0], a.shape[1]), a), q4k.encode(kk)
            else:
                qq, dd = q4.from_ggml(g.raw(gname), a.shape[0], a.shape[1])
                same, data = np.array_equal(q4.dequantize(qq, dd, a.shape[1], dt), a), q4.encode(qq, dd)
            if not same:
                raise ConvertError("%s: repacked %s blocks do not give back its values" % (gname, gtype))
            items.append((role, layer, mf.Encoded(dt, data, a), dt))
            continue
        if dt != "f32" and GGUF_NATIVE.get(gtype) == dt:
            # the source's own type: it must come back bit for bit
            if not np.array_equal(stored_as(a, dt), a):
                warn("%s (%s) is not in mamba.h's %s form; stored as f32 (exact)"
                     % (m.tensors[(key, layer)][0], gtype, dt))
                dt = "f32"
        elif dt != "f32":
            errs.append((rel_rms(stored_as(a, dt), a), m.tensors[(key, layer)][0], gtype, dt))
        items.append((role, layer, a, dt))
    notes = list(m.notes)
    if errs:
        worst = max(errs)
        notes.append("re-quantised %d matrices; added RMS error (relative to each matrix's RMS): mean %.3g, "
                     "max %.3g (%s, %s -> %s)" % (len(errs), sum(e[0] for e in errs) / len(errs), *worst))
    return config, items, tok, notes


def dt_limit_of(v, key, where):
    """A (min, max) pair for delta's clamp; max may be Infinity."""
    if v is None:
        return 0.0, float("inf")
    if not isinstance(v, (list, tuple)) or len(v) != 2 or \
            not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        raise ConvertError("%s: %s must be a pair of numbers, got %r" % (where, key, v))
    lo, hi = float(v[0]), float(v[1])
    if not (0.0 <= lo < hi) or math.isnan(hi) or math.isinf(lo):
        raise ConvertError("%s: %s = %r is not 0 <= min < max" % (where, key, v))
    return lo, hi


def build_mamba2(cfg, layout, w, tok_path):
    """Mamba-2 (arch 3): the state-spaces Mamba2 mixer or transformers'
    Mamba2ForCausalLM. Every size comes from the tensor shapes; the config's
    values, where stated, must agree. The gated-MLP slice (d_ssm < d_inner) is
    refused. transformers' own code ignores the config's norm_before_gate and
    rms_norm (its MambaRMSNormGated always gates first; Mamba-Codestral-7B's
    config says norm_before_gate=true yet the model runs gate-first), so this
    layout is converted as transformers computes it."""
    L, M = "backbone.layers.%d.", "backbone.layers.%d.mixer."
    m0 = M % 0
    if layout == "state-spaces":
        ssm = cfg.get("ssm_cfg") or {}
        where = "config.json ssm_cfg"
        d_model, n_layer, vocab = need_int(cfg, "d_model"), need_int(cfg, "n_layer"), need_int(cfg, "vocab_size")
        if cfg.get("rms_norm", True) is False:
            raise ConvertError("unknown architecture: rms_norm=false (LayerNorm blocks are not supported)")
        mult = cfg.get("pad_vocab_size_multiple", 8)
        padded = vocab if not mult or vocab % mult == 0 else vocab + mult - vocab % mult
        norm_eps = float(cfg.get("norm_epsilon", 1e-5))
        gate_eps = 1e-5      # mamba2.py builds RMSNormGated(..., eps=1e-5) whatever norm_epsilon says
        tie, n_vocab = cfg.get("tie_embeddings", True), vocab
        groups = ssm.get("ngroups", 1)
        keys = {"d_state": "d_state", "d_conv": "d_conv", "head_dim": "headdim", "expand": "expand",
                "bias": "bias", "conv_bias": "conv_bias"}
        rmsnorm = bool(ssm.get("rmsnorm", True))
        nbg = bool(ssm.get("norm_before_gate", False))
        dt_min, dt_max = dt_limit_of(ssm.get("dt_limit"), "dt_limit", where)
        if ssm.get("d_ssm") is not None and ssm["d_ssm"] != ssm.get("expand", 2) * d_model:
            raise ConvertError("%s: d_ssm=%r < d_inner: the gated-MLP slice of Mamba2 is not supported"
                               % (where, ssm["d_ssm"]))
        bos = eos = pad = None
        c_sub = ssm
    else:
        where, c_sub = "config.json", cfg
        d_model, n_layer = need_int(cfg, "hidden_size"), need_int(cfg, "num_hidden_layers")
        padded = need_int(cfg, "vocab_size")
        norm_eps = float(cfg.get("layer_norm_epsilon", 1e-5))
        gate_eps = norm_eps  # transformers: MambaRMSNormGated(eps=layer_norm_epsilon)
        tie, n_vocab = cfg.get("tie_word_embeddings", False), padded   # Mamba2Config defaults to untied
        groups = cfg.get("n_groups", 8)                                # ... and to 8 groups
        keys = {"d_state": "state_size", "d_conv": "conv_kernel", "head_dim": "head_dim", "expand": "expand",
                "n_heads": "num_heads", "bias": "use_bias", "conv_bias": "use_conv_bias"}
        rmsnorm, nbg = True, False
        if cfg.get("norm_before_gate"):
            warn("config.json norm_before_gate=true is ignored, as transformers ignores it (gate, then norm)")
        if cfg.get("rms_norm") is False:
            warn("config.json rms_norm=false is ignored, as transformers ignores it (the gated norm is applied)")
        dt_min, dt_max = dt_limit_of(cfg.get("time_step_limit"), "time_step_limit", where)
        bos, eos, pad = token_ids(cfg)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
        raise ConvertError("%s: n_groups must be a positive integer, got %r" % (where, groups))
    if layout == "state-spaces" and (cfg.get("attn_layer_idx") or cfg.get("d_intermediate")):
        raise ConvertError("unknown architecture: hybrid or MLP blocks (attn_layer_idx / d_intermediate)")

    emb_name, lm, n_vocab, eos = embedding_and_head(w, padded, d_model, tie, layout, tok_path, n_vocab, eos)

    # Sizes from layer 0's shapes.
    def dims(name, nd):
        got = shape_of(w, m0 + name)
        if len(got) != nd:
            raise ConvertError("misshapen tensor %s%s: expected %d dimensions, got %s" % (m0, name, nd, got))
        return got
    (H,) = dims("A_log", 1)
    conv_dim, one, d_conv = dims("conv1d.weight", 3)
    if one != 1:
        raise ConvertError("misshapen tensor %sconv1d.weight: expected (conv_dim, 1, d_conv), got %s"
                           % (m0, (conv_dim, one, d_conv)))
    dm_o, d_inner = dims("out_proj.weight", 2)
    rows, dm_i = dims("in_proj.weight", 2)
    if dm_o != d_model or dm_i != d_model:
        raise ConvertError("misshapen tensor %s: d_model %d, but the embedding has %d"
                           % (m0 + ("out_proj.weight" if dm_o != d_model else "in_proj.weight"),
                              dm_o if dm_o != d_model else dm_i, d_model))
    d_ssm = 2 * d_inner + H - (rows - conv_dim)
    if d_ssm != d_inner:
        raise ConvertError("%sin_proj.weight has %d rows: d_ssm %d != d_inner %d (the gated-MLP slice of Mamba2 "
                           "is not supported)" % (m0, rows, d_ssm, d_inner))
    if d_inner % H:
        raise ConvertError("%sA_log gives %d heads, which do not divide d_inner %d" % (m0, H, d_inner))
    head_dim = d_inner // H
    if H % groups:
        raise ConvertError("%s: n_groups=%d does not divide the %d heads of %sA_log" % (where, groups, H, m0))
    if conv_dim <= d_inner or (conv_dim - d_inner) % (2 * groups):
        raise ConvertError("%sconv1d.weight has %d channels: not d_inner %d + 2 * n_groups %d * d_state"
                           % (m0, conv_dim, d_inner, groups))
    d_state = (conv_dim - d_inner) // (2 * groups)
    agree(c_sub, keys["d_state"], d_state, "%sconv1d.weight with n_groups %d" % (m0, groups), where)
    agree(c_sub, keys["d_conv"], d_conv, "%sconv1d.weight" % m0, where)
    agree(c_sub, keys["head_dim"], head_dim, "%sA_log and out_proj.weight" % m0, where)
    if "n_heads" in keys:
        agree(c_sub, keys["n_heads"], H, "%sA_log" % m0, where)
        agree(cfg, "intermediate_size", d_inner, "%sout_proj.weight" % m0)
    ex = c_sub.get(keys["expand"])
    if isinstance(ex, (int, float)) and not isinstance(ex, bool) and ex * d_model != d_inner:
        raise ConvertError("%s says expand=%r (d_inner %r) but %sout_proj.weight gives d_inner %d"
                           % (where, ex, ex * d_model, m0, d_inner))
    (n_d,) = dims("D", 1)
    if n_d not in (H, d_inner):
        raise ConvertError("misshapen tensor %sD: expected (%d,) or (%d,), got (%d,)" % (m0, H, d_inner, n_d))
    d_per_channel = n_d == d_inner and d_inner != H
    if layout == "state-spaces" and "D_has_hdim" in c_sub and bool(c_sub["D_has_hdim"]) != d_per_channel:
        raise ConvertError("%s says D_has_hdim=%r but %sD has %d entries" % (where, c_sub["D_has_hdim"], m0, n_d))
    has_norm = m0 + "norm.weight" in w
    if rmsnorm and not has_norm:
        raise ConvertError("missing tensor %snorm.weight (the gated RMSNorm)" % m0)
    if not rmsnorm and has_norm:
        raise ConvertError("%s says rmsnorm=false but tensor %snorm.weight exists" % (where, m0))
    has_in_b, has_out_b = m0 + "in_proj.bias" in w, m0 + "out_proj.bias" in w
    has_conv_b = m0 + "conv1d.bias" in w
    bias_agrees(c_sub, keys["bias"], has_in_b, m0 + "in_proj.bias", where)
    bias_agrees(c_sub, keys["bias"], has_out_b, m0 + "out_proj.bias", where)
    bias_agrees(c_sub, keys["conv_bias"], has_conv_b, m0 + "conv1d.bias", where)

    config = dict(arch=mf.ARCH_MAMBA2, d_model=d_model, n_layer=n_layer, d_inner=d_inner, d_state=d_state,
                  d_conv=d_conv, dt_rank=0, n_vocab_padded=padded, n_vocab=n_vocab, norm_eps=norm_eps,
                  mixer_rms_eps=gate_eps if rmsnorm else 0.0, bos_id=bos, eos_id=eos, pad_id=pad,
                  n_heads=H, head_dim=head_dim, n_groups=groups, d_per_channel=d_per_channel,
                  norm_before_gate=nbg and rmsnorm, dt_min=dt_min, dt_max=dt_max)

    def mixer_spec(m):
        spec = [(17, m + "in_proj.weight", (rows, d_model))]
        if has_in_b:
            spec.append((18, m + "in_proj.bias", (rows,)))
        spec.append((19, m + "conv1d.weight", (conv_dim, 1, d_conv)))
        if has_conv_b:
            spec.append((20, m + "conv1d.bias", (conv_dim,)))
        spec += [(23, m + "dt_bias", (H,)), (24, m + "A_log", (H,)), (25, m + "D", (n_d,))]
        if has_norm:
            spec.append((28, m + "norm.weight", (d_inner,)))
        spec.append((26, m + "out_proj.weight", (d_model, d_inner)))
        if has_out_b:
            spec.append((27, m + "out_proj.bias", (d_model,)))
        return spec

    return config, model_tensors(w, emb_name, lm, n_layer, d_model, L, M, mixer_spec, (conv_dim, d_conv), (H,),
                                 ("in_proj.bias", "out_proj.bias", "conv1d.bias", "norm.weight"))


def parse_overrides(items):
    out = {}
    for it in items or []:
        if "=" not in it:
            raise ConvertError("--override wants ROLE=DTYPE, got %r" % it)
        role, dt = it.split("=", 1)
        role = role.strip().replace(".", "_")
        if role.endswith("_weight"):
            role = role[:-len("_weight")]
        if role not in mf.ROLES:
            raise ConvertError("--override: unknown role %r (roles: %s)" % (role, ", ".join(sorted(mf.ROLES))))
        if dt not in mf.DTYPES:
            raise ConvertError("--override: unknown dtype %r (use f32, f16, bf16, q8, q4_0, iq4_nl or q4_k)" % dt)
        r = mf.ROLES[role]
        if dt != "f32" and r not in mf.MATRIX_ROLES:
            raise ConvertError("--override: %s must be f32 in format version 1" % role)
        out[r] = dt
    return out


def write_out(args, config, items, tok, layout):
    n_params = sum(int(np.prod(t.shape)) for _, _, t, _ in items)
    progress = None
    if n_params > BIG_MODEL_PARAMS and sys.stderr.isatty():
        def progress(done, total):
            sys.stderr.write("\r%s: writing %s: %3d%% (%d / %d MB)" % (
                PROG, args.out, 100 * done // max(total, 1), done >> 20, total >> 20))
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()
    try:
        size = mf.write(args.out, config, items, tokenizer=tok, progress=progress)
    except ValueError as e:
        raise ConvertError(str(e))
    except OSError as e:
        raise ConvertError("cannot write %s: %s" % (args.out, e))
    sys.stderr.write("%s: wrote %s: %s layout, arch %d, %d layers, d_model %d, %d params, %d bytes%s\n" % (
        PROG, args.out, layout, config["arch"], config["n_layer"], config["d_model"], n_params, size,
        ", tokenizer %d bytes" % len(tok) if tok else ""))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description="Convert a Mamba checkpoint directory to .mamba")
    ap.add_argument("checkpoint", help="directory with config.json and the weights, or a .gguf file")
    ap.add_argument("out", help="output .mamba file")
    ap.add_argument("--dtype", default=None,
                    help="storage of the big matrices (embedding, lm_head, in/x/dt/out_proj): f32, f16, bf16, q8, "
                    "q4_0, iq4_nl, q4_k (4-bit: the output matrix q8, rows not whole blocks of 32 f16) "
                    "(default f32; for a GGUF, each matrix's own type where mamba.h has it, else f32)")
    ap.add_argument("--mixer-rms-eps", type=float, default=None,
                    help="GGUF Falcon-Mamba only: eps of the delta/B/C norm, which GGUF does not store "
                    "(default %g)" % gguf.FALCON_MIXER_EPS)
    ap.add_argument("--override", action="append", metavar="ROLE=DTYPE",
                    help="storage of one role, e.g. in_proj=f16 (repeatable)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--tokenizer", help="tokenizer.json to pack (default: the checkpoint's, if any)")
    g.add_argument("--no-tokenizer", action="store_true", help="write no tokenizer section")
    args = ap.parse_args(argv)

    try:
        if args.dtype is not None and args.dtype not in mf.DTYPES:
            raise ConvertError("unknown dtype %r (use f32, f16, bf16, q8, q4_0, iq4_nl or q4_k)" % args.dtype)
        overrides = parse_overrides(args.override)
        if os.path.isfile(args.checkpoint) and gguf.is_gguf(args.checkpoint):
            if args.tokenizer and not os.path.isfile(args.tokenizer):
                raise ConvertError("tokenizer %s does not exist" % args.tokenizer)
            config, items, tok, notes = convert_gguf(args, overrides)
            for n in notes:
                sys.stderr.write("%s: %s\n" % (PROG, n))
            return write_out(args, config, items, tok, "GGUF")
        if os.path.isfile(args.checkpoint):
            raise ConvertError("%s is a file but not a GGUF file (a checkpoint is a directory)" % args.checkpoint)
        if args.dtype is None:
            args.dtype = "f32"
        cfg = read_config(args.checkpoint)
        layout, arch = describe(cfg)
        if args.tokenizer and not os.path.isfile(args.tokenizer):
            raise ConvertError("tokenizer %s does not exist" % args.tokenizer)
        tok_path = args.tokenizer
        if tok_path is None:
            cand = os.path.join(args.checkpoint, "tokenizer.json")
            tok_path = cand if os.path.isfile(cand) else None
        w = load_weights(args.checkpoint)
        config, tensors = build(cfg, layout, arch, w, tok_path)

        tok = None
        if not args.no_tokenizer and tok_path:
            tok = pack_tokenizer(tok_path, explicit=args.tokenizer is not None)

        items = []
        tied = not any(role == 3 for role, _, _ in tensors)
        for role, layer, t in tensors:
            if role in overrides:
                dt = overrides[role]
            elif role in mf.MATRIX_ROLES:
                dt = matrix_dtype(role, t.shape[1], args.dtype, role == 3 or (role == 1 and tied))
            else:
                dt = "f32"
            items.append((role, layer, t, dt))
        return write_out(args, config, items, tok, layout)
    except ConvertError as e:
        sys.stderr.write("%s: error: %s\n" % (PROG, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
