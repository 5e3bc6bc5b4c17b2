#!/usr/bin/env python3
"""Independent float64 numpy reference of a Mamba-1 / Falcon-Mamba / Mamba-2
language model.

It runs one token at a time from a zero state, following the recurrent
("step") form of the official PyTorch code:
  - state-spaces/mamba, mamba_ssm/modules/mamba_simple.py, Mamba.step, inside
    MixerModel / MambaLMHeadModel (mamba_ssm/models/mixer_seq_simple.py);
  - transformers models/falcon_mamba/modeling_falcon_mamba.py for Falcon-Mamba,
    which adds a weightless RMS norm on delta, B and C after x_proj;
  - state-spaces/mamba, mamba_ssm/modules/mamba2.py, Mamba2.step for Mamba-2
    (class Mamba2Reference below; its docstring lists every choice made where
    the upstream code paths disagree).

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

class _Backbone:
    """What Mamba-1 and Mamba-2 models share (MixerModel): the embedding, per
    layer a block norm and a residual add around the mixer, norm_f and the
    output matrix; and the pieces their mixers share (a linear map with an
    optional bias, the causal conv step). A subclass gives its mixer's own
    tensors (_mixer_tensors) and its _mixer."""

    def _load(self, params):
        """params (PyTorch names) in float64; every layer's tensors: the ones
        every block has, and _mixer_tensors(p, mixer prefix)'s. Returns p."""
        p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
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
                "in_w": p[m + "in_proj.weight"],
                "in_b": p.get(m + "in_proj.bias"),        # or None
                "conv_w": p[m + "conv1d.weight"],         # (conv channels, 1, d_conv)
                "conv_b": p.get(m + "conv1d.bias"),       # (conv channels) or None
                "out_w": p[m + "out_proj.weight"],        # (d_model, d_inner)
                "out_b": p.get(m + "out_proj.bias"),      # (d_model) or None
            }
            L.update(self._mixer_tensors(p, m))
            L["conv_w"] = L["conv_w"].reshape(L["conv_w"].shape[0], -1)
            self.layers.append(L)
            i += 1
        if not self.layers:
            raise ValueError("no layers found in params")
        return p

    @staticmethod
    def _linear(w, b, x):
        """w @ x, plus the bias b unless it is None (nn.Linear)."""
        y = w @ x
        return y if b is None else y + b

    def _conv(self, li, x):
        """The causal conv step of layer li (the conv_state update in
        Mamba.step / Mamba2.step): shift the window left, put x in the last
        column, sum it against the weights (+ bias), SiLU."""
        L = self.layers[li]
        cs = self.conv_state[li]
        cs[:, :-1] = cs[:, 1:].copy()
        cs[:, -1] = x
        x = np.sum(cs * L["conv_w"], axis=1)
        if L["conv_b"] is not None:
            x = x + L["conv_b"]
        return silu(x)

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


class MambaReference(_Backbone):
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
        self.arch = arch
        self.norm_eps = float(norm_eps)
        self.mixer_rms_eps = float(mixer_rms_eps)
        self._load(params)   # in_proj (2*d_inner, d_model), conv (d_inner, 1, d_conv)
        L0 = self.layers[0]
        self.d_inner, self.d_state = L0["A_log"].shape
        self.d_conv = L0["conv_w"].shape[1]
        self.dt_rank = L0["dt_w"].shape[1]
        self.reset()

    @staticmethod
    def _mixer_tensors(p, m):
        return {
            "x_w": p[m + "x_proj.weight"],            # (dt_rank+2N, d_inner)
            "dt_w": p[m + "dt_proj.weight"],          # (d_inner, dt_rank)
            "dt_b": p[m + "dt_proj.bias"],            # (d_inner)
            "A_log": p[m + "A_log"],                  # (d_inner, N)
            "D": p[m + "D"],                          # (d_inner)
        }

    def reset(self):
        """Zero state: the conv window and the SSM state of every layer."""
        self.conv_state = [np.zeros((self.d_inner, self.d_conv)) for _ in self.layers]
        self.ssm_state = [np.zeros((self.d_inner, self.d_state)) for _ in self.layers]

    def _mixer(self, li, h):
        """One Mamba.step for layer li on the normed hidden vector h."""
        L = self.layers[li]
        di, n, r = self.d_inner, self.d_state, self.dt_rank
        xz = self._linear(L["in_w"], L["in_b"], h)
        x, z = xz[:di], xz[di:]                  # chunk(2): x first, then z
        x = self._conv(li, x)

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
        return self._linear(L["out_w"], L["out_b"], y)


# ----------------------------------------------------------------------------
# Mamba-2
# ----------------------------------------------------------------------------

class Mamba2Reference(_Backbone):
    """Token-by-token float64 Mamba-2 model (state-spaces Mamba2.step).

    Per layer, on the normed hidden vector h (d_model):
      zxbcdt = in_proj(h), split as [z0 (d_mlp), x0 (d_mlp), z (d_ssm),
               xBC (d_ssm + 2*G*N), dt (H)]; d_mlp = d_inner - d_ssm is the
               gated-MLP slice (0 in every published Mamba-2 checkpoint);
      xBC    = SiLU(causal depthwise conv over xBC (+ bias)), split as
               x (H heads of P), B (G groups of N), C (G groups of N);
      per head h, group g = h // (H/G) (einops "b g n -> b (g h) n"):
        delta = softplus(dt_h + dt_bias_h)   (threshold 20), then clamped to
                dt_limit when it is not (0, inf);
        S_h   = exp(delta * A_h) * S_h + delta * outer(x_h, B_g)  (S_h is P x N)
        y_h   = S_h @ C_g + D * x_h          D per head, or per channel
                                            (D_has_hdim)
      gated RMSNorm (rmsnorm=True): with norm_before_gate=False (default)
               y = RMSNorm_groups(y * SiLU(z)) * w, else RMSNorm_groups(y) * w
               * SiLU(z); the mean square is taken over each of the G groups
               of d_ssm/G channels (mamba2.py builds RMSNormGated with
               group_size = d_ssm // ngroups); rmsnorm=False: y * SiLU(z);
      if d_mlp: y = [SiLU(z0) * x0, y];   out = out_proj(y).

    Where upstream code paths disagree (cross-checked in
    tools/test_reference_mamba2.py):
      - the norm: transformers' MambaRMSNormGated and mamba_ssm's own
        mamba_split_conv1d_scan_ref normalise over all of d_inner and ignore
        n_groups; Mamba2.step (RMSNormGated with group_size), the fused
        Triton kernel and llama.cpp normalise per group. Per group is what
        the models were trained with (the fused kernel is the training path).
      - the delta clamp: transformers and the chunked mamba_ssm path clamp
        delta to dt_limit / time_step_limit after the softplus; Mamba2.step
        ignores it. We clamp whenever the limit is not (0, inf), so prompt and
        decode agree.
      - D per channel: Mamba2.step cannot decode such a checkpoint (it
        broadcasts D per head); Mamba2.forward uses D as (H, P). We follow the
        forward.

    params: {pytorch name: array} with state-spaces or transformers names.
    n_groups: G (the shapes cannot tell it apart from d_state).
    norm_eps: epsilon of the block norms and norm_f; gate_eps: epsilon of the
    gated RMSNorm (mamba2.py hard-codes 1e-5; transformers uses
    layer_norm_epsilon). dt_limit: (lo, hi).
    """

    def __init__(self, params, n_groups, norm_eps=1e-5, gate_eps=1e-5, norm_before_gate=False,
                 dt_limit=(0.0, float("inf"))):
        self.norm_eps, self.gate_eps = float(norm_eps), float(gate_eps)
        self.norm_before_gate = bool(norm_before_gate)
        self.dt_limit = (float(dt_limit[0]), float(dt_limit[1]))
        self._load(params)   # in_proj (2*d_inner + 2*G*N + H, d_model), conv (conv_dim, 1, d_conv)
        L0 = self.layers[0]
        G = int(n_groups)
        H = L0["A_log"].shape[0]
        d_inner = L0["out_w"].shape[1]
        conv_dim, K = L0["conv_w"].shape
        d_in_proj = L0["in_w"].shape[0]
        d_ssm = 2 * d_inner + H - (d_in_proj - conv_dim)   # from the two split widths
        if d_ssm <= 0 or d_ssm % H or (conv_dim - d_ssm) % (2 * G) or H % G:
            raise ValueError("inconsistent Mamba-2 shapes (d_inner %d, H %d, conv_dim %d, in_proj %d, G %d)"
                             % (d_inner, H, conv_dim, d_in_proj, G))
        self.G, self.H, self.P = G, H, d_ssm // H
        self.N = (conv_dim - d_ssm) // (2 * G)
        self.d_inner, self.d_ssm, self.d_mlp = d_inner, d_ssm, d_inner - d_ssm
        self.conv_dim, self.d_conv = conv_dim, K
        self.reset()

    @staticmethod
    def _mixer_tensors(p, m):
        return {
            "dt_bias": p[m + "dt_bias"],              # (H)
            "A_log": p[m + "A_log"],                  # (H)
            "D": p[m + "D"],                          # (H) or (d_ssm)
            "gnorm": p.get(m + "norm.weight"),        # (d_ssm) or None (rmsnorm=False)
        }

    def reset(self):
        self.conv_state = [np.zeros((self.conv_dim, self.d_conv)) for _ in self.layers]
        self.ssm_state = [np.zeros((self.H, self.P, self.N)) for _ in self.layers]

    def _gated_norm(self, y, z, w):
        """RMSNorm per group of d_ssm/G channels, gated by SiLU(z)."""
        if w is None:
            return y * silu(z)
        if not self.norm_before_gate:
            y = y * silu(z)
        g = y.reshape(self.G, -1)
        g = g / np.sqrt(np.mean(g * g, axis=1, keepdims=True) + self.gate_eps)
        y = g.reshape(-1) * w
        return y * silu(z) if self.norm_before_gate else y

    def _mixer(self, li, h):
        L = self.layers[li]
        G, H, P, N = self.G, self.H, self.P, self.N
        dm, ds = self.d_mlp, self.d_ssm
        zx = self._linear(L["in_w"], L["in_b"], h)
        z0, x0 = zx[:dm], zx[dm:2 * dm]
        z = zx[2 * dm:2 * dm + ds]
        xBC = zx[2 * dm + ds:2 * dm + ds + self.conv_dim]
        dt = zx[2 * dm + ds + self.conv_dim:]
        xBC = self._conv(li, xBC)
        x = xBC[:ds].reshape(H, P)
        B = xBC[ds:ds + G * N].reshape(G, N)
        C = xBC[ds + G * N:].reshape(G, N)
        delta = softplus(dt + L["dt_bias"])                 # (H)
        if self.dt_limit != (0.0, float("inf")):
            delta = np.clip(delta, self.dt_limit[0], self.dt_limit[1])
        A = -np.exp(L["A_log"])                              # (H)
        grp = np.arange(H) // (H // G)
        S = self.ssm_state[li]
        S[:] = np.exp(delta * A)[:, None, None] * S + \
            (delta[:, None] * x)[:, :, None] * B[grp][:, None, :]
        y = np.einsum("hpn,hn->hp", S, C[grp])
        D = L["D"]
        y = y + (D.reshape(H, P) if D.shape[0] == ds else D[:, None]) * x
        y = self._gated_norm(y.reshape(-1), z, L["gnorm"])
        if dm:
            y = np.concatenate([silu(z0) * x0, y])
        return self._linear(L["out_w"], L["out_b"], y)


def mamba2_settings(cfg):
    """Mamba-2 settings from a config.json dict, in either layout:
    (n_groups, norm_eps, gate_eps, norm_before_gate, rmsnorm, dt_limit).
    state-spaces: ssm_cfg.ngroups / norm_before_gate / rmsnorm / dt_limit;
    the gated norm's eps is mamba2.py's fixed 1e-5. transformers: n_groups,
    layer_norm_epsilon for both norms, time_step_limit; it always applies
    the norm with the gate first (its MambaRMSNormGated has no other mode),
    so a config's norm_before_gate / rms_norm are not read there."""
    if "ssm_cfg" in cfg:
        ssm = cfg.get("ssm_cfg") or {}
        lim = ssm.get("dt_limit", (0.0, float("inf")))
        return (int(ssm.get("ngroups", 1)), float(cfg.get("norm_epsilon", 1e-5)), 1e-5,
                bool(ssm.get("norm_before_gate", False)), bool(ssm.get("rmsnorm", True)),
                (float(lim[0]), float(lim[1])))
    eps = float(cfg.get("layer_norm_epsilon", 1e-5))
    lim = cfg.get("time_step_limit", (0.0, float("inf")))
    return int(cfg.get("n_groups", 1)), eps, eps, False, True, (float(lim[0]), float(lim[1]))


def is_mamba2(cfg):
    return cfg.get("model_type") == "mamba2" or (cfg.get("ssm_cfg") or {}).get("layer") == "Mamba2"


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


def read_config(ckpt_dir):
    """config.json as a dict. Python's json module accepts the bare
    Infinity that transformers writes into time_step_limit."""
    with open(os.path.join(ckpt_dir, "config.json")) as f:
        return json.load(f)


def load_params(ckpt_dir):
    """{name: float64 array} from model.safetensors, a sharded index or pytorch_model.bin."""
    single = os.path.join(ckpt_dir, "model.safetensors")
    index = os.path.join(ckpt_dir, "model.safetensors.index.json")
    binf = os.path.join(ckpt_dir, "pytorch_model.bin")
    params = {}
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
    return params


def load_model(ckpt_dir):
    """The reference model (MambaReference or Mamba2Reference) of a checkpoint directory."""
    cfg = read_config(ckpt_dir)
    if is_mamba2(cfg):
        groups, eps, geps, nbg, rmsnorm, lim = mamba2_settings(cfg)
        params = load_params(ckpt_dir)
        if not rmsnorm:
            params = {k: v for k, v in params.items() if not k.endswith("mixer.norm.weight")}
        return Mamba2Reference(params, groups, eps, geps, nbg, lim)
    params, arch, eps, meps = load_checkpoint(ckpt_dir)
    return MambaReference(params, arch, eps, meps)


def load_checkpoint(ckpt_dir):
    """Return (params, arch, norm_eps, mixer_rms_eps) for a Mamba-1 checkpoint directory."""
    cfg = read_config(ckpt_dir)
    arch = cfg.get("model_type", "mamba")
    norm_eps = cfg.get("layer_norm_epsilon", cfg.get("norm_epsilon", 1e-5))
    mixer_eps = cfg.get("mixer_rms_eps", 1e-6) if arch == "falcon_mamba" else 0.0
    return load_params(ckpt_dir), arch, norm_eps, mixer_eps


def main():
    ap = argparse.ArgumentParser(description="float64 numpy Mamba / Mamba-2 reference: logits per token")
    ap.add_argument("ckpt_dir")
    ap.add_argument("--tokens-file", required=True, help="whitespace-separated token ids")
    ap.add_argument("--out", required=True, help="raw float32 LE logits, one row per kept token")
    ap.add_argument("--rows", help="file of row indices to keep (default: all)")
    args = ap.parse_args()
    try:
        model = load_model(args.ckpt_dir)
        with open(args.tokens_file) as f:
            tokens = [int(t) for t in f.read().split()]
        keep = None
        if args.rows:
            with open(args.rows) as f:
                keep = set(int(t) for t in f.read().split())
        with open(args.out, "wb") as f:
            for i, t in enumerate(tokens):
                logits = model.step(t)
                if keep is None or i in keep:
                    f.write(logits.astype("<f4").tobytes())
    except (OSError, ValueError, KeyError) as e:
        sys.exit("reference.py: error: %s" % e)


if __name__ == "__main__":
    main()
