#!/usr/bin/env python3
"""Independent float64 numpy reference of a Mamba-1 / Falcon-Mamba language model.

It runs one token at a time from a zero state, following the recurrent
("step") form of the official PyTorch code:
  - state-spaces/mamba, mamba_ssm/modules/mamba_simple.py, Mamba.step, inside
    MixerModel / MambaLMHeadModel (mamba_ssm/models/mixer_seq_simple.py);
  - transformers models/falcon_mamba/modeling_falcon_mamba.py for Falcon-Mamba,
    which adds a weightless RMS norm on delta, B and C after x_proj.

The model takes a dict of numpy arrays named exactly as PyTorch names them
(`backbone.layers.0.mixer.A_log`, ...). It shares no code or conventions with
mamba.h or tools/convert.py on purpose, and imports no other tool.

Command line (reads a checkpoint directory, writes raw float32 LE logits):
  reference.py CKPT_DIR --tokens-file T --out OUT [--rows R]
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


# ----------------------------------------------------------------------------
# elementwise helpers
# ----------------------------------------------------------------------------

def silu(x):
    """x * sigmoid(x), as torch.nn.functional.silu."""
    return x / (1.0 + np.exp(-x))


def softplus(x):
    """torch.nn.functional.softplus with beta 1 and threshold 20:
    log(1 + exp(x)), except x itself where x > 20."""
    safe = np.minimum(x, 20.0)
    return np.where(x > 20.0, x, np.log1p(np.exp(safe)))


def rms_norm(x, weight, eps):
    """RMSNorm: x / sqrt(mean(x^2) + eps), times weight if given."""
    y = x / np.sqrt(np.mean(x * x) + eps)
    return y if weight is None else y * weight


# ----------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------

class MambaReference:
    """Token-by-token float64 model.

    params: {pytorch name: numpy array}. Both the state-spaces names
    (`backbone.embedding.weight`) and the transformers names
    (`backbone.embeddings.weight`) are accepted. A missing `lm_head.weight`
    means the output matrix is the embedding (tied).
    arch: "mamba" or "falcon_mamba".
    norm_eps: epsilon of the block norms and norm_f.
    mixer_rms_eps: epsilon of Falcon-Mamba's weightless norm (ignored for mamba).
    """

    def __init__(self, params, arch="mamba", norm_eps=1e-5, mixer_rms_eps=1e-6):
        if arch not in ("mamba", "falcon_mamba"):
            raise ValueError("unknown arch %r" % arch)
        p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        self.arch = arch
        self.norm_eps = float(norm_eps)
        self.mixer_rms_eps = float(mixer_rms_eps)
        if "backbone.embedding.weight" in p:
            self.emb = p["backbone.embedding.weight"]
        else:
            self.emb = p["backbone.embeddings.weight"]
        self.lm_head = p.get("lm_head.weight", self.emb)
        self.norm_f = p["backbone.norm_f.weight"]
        self.layers = []
        i = 0
        while ("backbone.layers.%d.norm.weight" % i) in p:
            pre = "backbone.layers.%d." % i
            m = pre + "mixer."
            L = {
                "norm": p[pre + "norm.weight"],
                "in_w": p[m + "in_proj.weight"],          # (2*d_inner, d_model)
                "in_b": p.get(m + "in_proj.bias"),        # (2*d_inner) or None
                "conv_w": p[m + "conv1d.weight"],         # (d_inner, 1, d_conv)
                "conv_b": p.get(m + "conv1d.bias"),       # (d_inner) or None
                "x_w": p[m + "x_proj.weight"],            # (dt_rank+2N, d_inner)
                "dt_w": p[m + "dt_proj.weight"],          # (d_inner, dt_rank)
                "dt_b": p[m + "dt_proj.bias"],            # (d_inner)
                "A_log": p[m + "A_log"],                  # (d_inner, N)
                "D": p[m + "D"],                          # (d_inner)
                "out_w": p[m + "out_proj.weight"],        # (d_model, d_inner)
                "out_b": p.get(m + "out_proj.bias"),      # (d_model) or None
            }
            L["conv_w"] = L["conv_w"].reshape(L["conv_w"].shape[0], -1)
            self.layers.append(L)
            i += 1
        if not self.layers:
            raise ValueError("no layers found in params")
        L0 = self.layers[0]
        self.d_inner, self.d_state = L0["A_log"].shape
        self.d_conv = L0["conv_w"].shape[1]
        self.dt_rank = L0["dt_w"].shape[1]
        self.reset()

    def reset(self):
        """Zero state: the conv window and the SSM state of every layer."""
        self.conv_state = [np.zeros((self.d_inner, self.d_conv)) for _ in self.layers]
        self.ssm_state = [np.zeros((self.d_inner, self.d_state)) for _ in self.layers]

    def _mixer(self, li, h):
        """One Mamba.step for layer li on the normed hidden vector h."""
        L = self.layers[li]
        di, n, r = self.d_inner, self.d_state, self.dt_rank
        xz = L["in_w"] @ h
        if L["in_b"] is not None:
            xz = xz + L["in_b"]
        x, z = xz[:di], xz[di:]                  # chunk(2): x first, then z

        # conv step: shift the window left, put x in the last column
        cs = self.conv_state[li]
        cs[:, :-1] = cs[:, 1:].copy()
        cs[:, -1] = x
        x = np.sum(cs * L["conv_w"], axis=1)
        if L["conv_b"] is not None:
            x = x + L["conv_b"]
        x = silu(x)

        # selection: x_proj -> delta (dt_rank), B (N), C (N)
        dbc = L["x_w"] @ x
        dt, B, C = dbc[:r], dbc[r:r + n], dbc[r + n:r + 2 * n]
        if self.arch == "falcon_mamba":
            dt = rms_norm(dt, None, self.mixer_rms_eps)
            B = rms_norm(B, None, self.mixer_rms_eps)
            C = rms_norm(C, None, self.mixer_rms_eps)
        dt = softplus(L["dt_w"] @ dt + L["dt_b"])     # (d_inner)
        A = -np.exp(L["A_log"])                       # (d_inner, N)

        # discretize and update the state
        st = self.ssm_state[li]
        st[:] = np.exp(dt[:, None] * A) * st + (dt * x)[:, None] * B[None, :]
        y = st @ C + L["D"] * x
        y = y * silu(z)
        out = L["out_w"] @ y
        if L["out_b"] is not None:
            out = out + L["out_b"]
        return out

    def step(self, token):
        """Feed one token id, return float64 logits over all padded rows."""
        if not 0 <= token < self.emb.shape[0]:
            raise ValueError("token %d out of range" % token)
        resid = self.emb[token].copy()
        for li, L in enumerate(self.layers):
            h = rms_norm(resid, L["norm"], self.norm_eps)
            resid = resid + self._mixer(li, h)
        h = rms_norm(resid, self.norm_f, self.norm_eps)
        return self.lm_head @ h


# ----------------------------------------------------------------------------
# checkpoint reading (only for the command line; the model needs none of it)
# ----------------------------------------------------------------------------

def _bf16_to_f32(raw):
    """Raw little-endian bfloat16 bits to float32 (the top half of an f32)."""
    u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
    return (u16 << 16).view(np.float32)


def read_safetensors(path):
    """Own minimal safetensors reader: {name: float64 array}."""
    kinds = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[base + a:base + b]
        if info["dtype"] == "BF16":
            arr = _bf16_to_f32(raw)
        elif info["dtype"] in kinds:
            arr = np.frombuffer(raw, dtype=kinds[info["dtype"]])
        else:
            raise ValueError("%s: unsupported dtype %s" % (name, info["dtype"]))
        out[name] = arr.astype(np.float64).reshape(info["shape"])
    return out


def load_checkpoint(ckpt_dir):
    """Return (params, arch, norm_eps, mixer_rms_eps) for a checkpoint directory."""
    with open(os.path.join(ckpt_dir, "config.json")) as f:
        cfg = json.load(f)
    arch = cfg.get("model_type", "mamba")
    norm_eps = cfg.get("layer_norm_epsilon", cfg.get("norm_epsilon", 1e-5))
    mixer_eps = cfg.get("mixer_rms_eps", 1e-6) if arch == "falcon_mamba" else 0.0
    params = {}
    single = os.path.join(ckpt_dir, "model.safetensors")
    index = os.path.join(ckpt_dir, "model.safetensors.index.json")
    binf = os.path.join(ckpt_dir, "pytorch_model.bin")
    if os.path.exists(single):
        params = read_safetensors(single)
    elif os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        for s in shards:
            params.update(read_safetensors(os.path.join(ckpt_dir, s)))
    elif os.path.exists(binf):
        try:
            import torch  # the state-spaces pickle layout, read by torch itself when it is there
        except ImportError:
            torch = None
        if torch is not None:
            sd = torch.load(binf, map_location="cpu")
            params = {k: v.to(torch.float64).numpy() for k, v in sd.items()}
        else:  # tools/torchzip.py: torch.save's zip format without torch
            import torchzip
            params = {k: np.asarray(v).astype(np.float64) for k, v in torchzip.read(binf).items()}
    else:
        raise FileNotFoundError("%s: no model.safetensors, index or pytorch_model.bin" % ckpt_dir)
    return params, arch, norm_eps, mixer_eps


def main():
    ap = argparse.ArgumentParser(description="float64 numpy Mamba reference: logits per token")
    ap.add_argument("ckpt_dir")
    ap.add_argument("--tokens-file", required=True, help="whitespace-separated token ids")
    ap.add_argument("--out", required=True, help="raw float32 LE logits, one row per kept token")
    ap.add_argument("--rows", help="file of row indices to keep (default: all)")
    args = ap.parse_args()
    try:
        params, arch, eps, meps = load_checkpoint(args.ckpt_dir)
        with open(args.tokens_file) as f:
            tokens = [int(t) for t in f.read().split()]
        keep = None
        if args.rows:
            with open(args.rows) as f:
                keep = set(int(t) for t in f.read().split())
        model = MambaReference(params, arch, eps, meps)
        with open(args.out, "wb") as f:
            for i, t in enumerate(tokens):
                logits = model.step(t)
                if keep is None or i in keep:
                    f.write(logits.astype("<f4").tobytes())
    except (OSError, ValueError, KeyError) as e:
        sys.exit("reference.py: error: %s" % e)


if __name__ == "__main__":
    main()
