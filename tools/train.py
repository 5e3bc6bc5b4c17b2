#!/usr/bin/env python3
"""Train a small Mamba-1 or Mamba-2 language model on TinyStories (PyTorch, CPU).

The model follows the state-spaces/mamba reference (mamba_simple.py `Mamba`,
mixer_seq_simple.py `MixerModel` / `MambaLMHeadModel`), written here from the
math:

  h = embedding(ids)
  for each layer:  h = h + Mamba(RMSNorm(h))          (pre-norm residual)
  logits = RMSNorm_f(h) @ embedding.T                 (tied lm_head)

  Mamba(u):  x, z = split(in_proj(u))                 (x = first d_inner rows)
             x = SiLU(causal depthwise conv1d(x))     (padding d_conv-1, truncated)
             dt_r, B, C = split(x_proj(x))            (dt_rank, d_state, d_state)
             dt = softplus(dt_proj(dt_r))             (weight and bias)
             A = -exp(A_log)
             h_t = exp(dt_t A) * h_{t-1} + dt_t B_t x_t ;  y_t = C_t . h_t + D x_t
             out_proj(y * SiLU(z))

The selective scan runs in chunks (see `selective_scan`) and is checked against
a plain per-token loop before training.

--arch mamba2 swaps the mixer for state-spaces' Mamba2 (mamba2.py): in_proj to
[z, xBC, dt], a causal depthwise conv + SiLU over xBC, one scalar A per head,
B and C shared by groups of heads, D per head, the gated RMSNorm per group
(gate first), out_proj; see `Mamba2`.  Its scan is the chunked SSD form
(`ssd_chunked`, after ssd_minimal_discrete), checked against the per-token
recurrence (`ssd_loop`) before training; the checkpoint is in the state-spaces
mamba2 layout (ssm_cfg.layer "Mamba2", pad_vocab_size_multiple 16).

The result is saved in the state-spaces checkpoint layout (config.json,
pytorch_model.bin with the reference's parameter names, tokenizer.json), which
tools/convert.py turns into a .mamba file.

Example:
  train.py --tokenizer build/tok/tokenizer.json --out build/ckpt \\
      --train a.txt b.txt --valid valid.txt --steps 3000
"""
import argparse
import json
import math
import os
import shutil
import sys
import time
import unicodedata

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_bpe  # noqa: E402  (byte map and split regex shared with the BPE trainer)

EOT = "<|endoftext|>"


# ----------------------------------------------------------------------------- tokenizer

class BPE:
    """Minimal encoder/decoder for the tokenizer.json written by train_bpe.py."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        self.vocab = doc["model"]["vocab"]
        self.inv = {i: t for t, i in self.vocab.items()}
        self.ranks = {tuple(m.split(" ")): r for r, m in enumerate(doc["model"]["merges"])}
        self.b2u = train_bpe.bytes_to_unicode()
        self.u2b = {u: b for b, u in self.b2u.items()}
        self.cache = {}

    def _word(self, w):
        """BPE of one pre-token: repeatedly apply the lowest-ranked merge."""
        if w in self.cache:
            return self.cache[w]
        sym = [self.b2u[b] for b in w.encode("utf-8")]
        while len(sym) > 1:
            best, bi = None, -1
            for i in range(len(sym) - 1):
                r = self.ranks.get((sym[i], sym[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            sym[bi:bi + 2] = [sym[bi] + sym[bi + 1]]
        ids = [self.vocab[s] for s in sym]
        self.cache[w] = ids
        return ids

    def encode(self, text, rx=None):
        """Ids of `text`; rx is the split regex (built from the text when not given)."""
        text = unicodedata.normalize("NFC", text)
        rx = rx or train_bpe.build_split_regex(text)
        out = []
        for m in rx.finditer(text):
            out.extend(self._word(m.group(0)))
        return out

    def decode(self, ids):
        bs = bytearray()
        for i in ids:
            t = self.inv[i]
            if t == EOT:
                bs.extend(b"\n" + EOT.encode() + b"\n")
            else:
                bs.extend(self.u2b[c] for c in t)
        return bs.decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------- selective scan

def selective_scan_loop(x, dt, A, Bm, Cm, h0=None):
    """Reference: one step per token.  x, dt: (b,L,d); A: (d,N); Bm, Cm: (b,L,N).
    Returns y (b,L,d) = C_t . h_t (without the D term) and the final state (b,d,N)."""
    b, L, d = x.shape
    h = x.new_zeros(b, d, A.shape[1]) if h0 is None else h0
    ys = []
    for t in range(L):
        h = torch.exp(dt[:, t, :, None] * A) * h + (dt[:, t] * x[:, t])[:, :, None] * Bm[:, t, None, :]
        ys.append((h * Cm[:, t, None, :]).sum(-1))
    return torch.stack(ys, 1), h


def selective_scan(x, dt, A, Bm, Cm, h0=None, chunk=16):
    """Chunked selective scan, same result as selective_scan_loop.

    The sequence is cut into nc chunks of length T.  Within every chunk the
    cumulative log-decay S_t = sum_{s<=t} dt_s A gives the decay from the chunk
    start, P_t = exp(S_t) (never above 1, so it cannot overflow).  The
    local states from a zero start are built with T vectorised steps that run
    over all chunks at once; then the state entering each chunk is carried
    across the nc chunks, and h_t = local_t + P_t * carry.  That is T + nc
    Python steps instead of L, with every step exact (no exp(-S) factor that
    could overflow when dt*A is large).
    """
    b, L, d = x.shape
    N = A.shape[1]
    T = min(chunk, L)
    pad = (-L) % T
    if pad:  # padded steps have dt = 0: decay 1, input 0, so the state passes through
        x = F.pad(x, (0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        Bm = F.pad(Bm, (0, 0, 0, pad))
        Cm = F.pad(Cm, (0, 0, 0, pad))
    Lp = L + pad
    nc = Lp // T
    logdA = (dt.unsqueeze(-1) * A).view(b, nc, T, d, N)            # dt_t * A  (<= 0)
    dA = torch.exp(logdA)
    u = ((dt * x).unsqueeze(-1) * Bm.unsqueeze(2)).view(b, nc, T, d, N)  # dt_t x_t B_t
    # local scan inside every chunk, all chunks at once, and the running decay
    # P_t = exp(S_t) = prod_{s<=t} exp(dt_s A) (a product of factors <= 1: it can
    # only underflow to 0, which is the right limit).  unbind() rather than
    # indexing: the backward of an index materialises a full-size zero gradient
    # per step, the backward of unbind is a single stack.
    dAs, us = dA.unbind(2), u.unbind(2)
    h, p = us[0], dAs[0]
    hs, ps = [h], [p]
    for t in range(1, T):
        h = dAs[t] * h + us[t]
        p = p * dAs[t]
        hs.append(h)
        ps.append(p)
    hloc = torch.stack(hs, 2)                                        # (b,nc,T,d,N)
    P = torch.stack(ps, 2)                                           # decay chunk start -> t
    # carry the state across chunks
    H = x.new_zeros(b, d, N) if h0 is None else h0
    Plast, hlast = P[:, :, -1].unbind(1), hs[-1].unbind(1)
    carries = []
    for c in range(nc):
        carries.append(H)
        H = Plast[c] * H + hlast[c]
    Hin = torch.stack(carries, 1).unsqueeze(2)                       # (b,nc,1,d,N)
    hall = hloc + P * Hin
    y = torch.einsum("bctdn,bctn->bctd", hall, Cm.view(b, nc, T, N)).reshape(b, Lp, d)
    return y[:, :L], H


def check_scan():
    """Chunked scan vs. the per-token loop on a small random input; returns max abs diff."""
    g = torch.Generator().manual_seed(1)
    b, L, d, N = 2, 53, 8, 4
    x = torch.randn(b, L, d, generator=g)
    dt = F.softplus(torch.randn(b, L, d, generator=g) * 2)  # includes large steps
    A = -torch.exp(torch.randn(d, N, generator=g) + 1)
    Bm = torch.randn(b, L, N, generator=g)
    Cm = torch.randn(b, L, N, generator=g)
    h0 = torch.randn(b, d, N, generator=g)
    worst = 0.0
    for chunk in (1, 7, 16, 64):
        y1, h1 = selective_scan_loop(x, dt, A, Bm, Cm, h0)
        y2, h2 = selective_scan(x, dt, A, Bm, Cm, h0, chunk=chunk)
        worst = max(worst, (y1 - y2).abs().max().item(), (h1 - h2).abs().max().item())
    return worst


# ----------------------------------------------------------------------------- model

class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Mamba(nn.Module):
    """One Mamba-1 mixer with the reference's parameter names and initialisation."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_min=1e-3, dt_max=1e-1,
                 dt_init_floor=1e-4, chunk=16):
        super().__init__()
        self.d_inner = d_inner = expand * d_model
        self.dt_rank = dt_rank = math.ceil(d_model / 16)
        self.d_state, self.d_conv, self.chunk = d_state, d_conv, chunk
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, bias=True)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        # dt_proj weight: uniform(+-dt_rank^-0.5); bias: inverse softplus of dt,
        # dt log-uniform in [dt_min, dt_max], floored
        std = dt_rank ** -0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.dt_proj.bias._no_reinit = True
        # S4D-real: A = -(1..N) for every channel, stored as log
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(d_inner))
        self.D._no_weight_decay = True
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, u, state=None):
        """u: (b,L,d_model).  state: None or (conv_state (b,d_inner,d_conv-1), ssm_state (b,d_inner,N)).
        Returns output and the new state, so a stream can be processed in pieces."""
        b, L, _ = u.shape
        x, z = self.in_proj(u).chunk(2, dim=-1)
        x = x.transpose(1, 2)                                            # (b,d_inner,L)
        if state is None:
            conv_state = x.new_zeros(b, self.d_inner, self.d_conv - 1)   # = padding d_conv-1, truncated
            ssm_state = None
        else:
            conv_state, ssm_state = state
        xp = torch.cat([conv_state, x], dim=2)
        new_conv = xp[:, :, -(self.d_conv - 1):]
        x = F.silu(F.conv1d(xp, self.conv1d.weight, self.conv1d.bias, groups=self.d_inner))
        x = x.transpose(1, 2)                                            # (b,L,d_inner)
        dt, Bm, Cm = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt))
        A = -torch.exp(self.A_log)
        y, h = selective_scan(x, dt, A, Bm, Cm, ssm_state, self.chunk)
        y = y + x * self.D
        y = y * F.silu(z)
        return self.out_proj(y), (new_conv, h)


# ----------------------------------------------------------------------------- Mamba-2: SSD

def ssd_loop(x, dt, A, Bm, Cm, h0=None):
    """Reference for the Mamba-2 scan: one step per token (Mamba2.step's
    recurrence).  x: (b,L,H,P); dt: (b,L,H) (after softplus); A: (H,);
    Bm, Cm: (b,L,H,N) (the group's B/C repeated over its heads); h0: (b,H,P,N).
      S_t = exp(dt_t A) S_{t-1} + dt_t x_t (x) B_t ;   y_t = S_t C_t   (no D term)
    Returns y (b,L,H,P) and the final state."""
    b, L, H, P = x.shape
    S = x.new_zeros(b, H, P, Bm.shape[-1]) if h0 is None else h0
    ys = []
    for t in range(L):
        dA = torch.exp(dt[:, t] * A)[:, :, None, None]
        S = dA * S + (dt[:, t, :, None] * x[:, t])[..., None] * Bm[:, t, :, None, :]
        ys.append(torch.einsum("bhpn,bhn->bhp", S, Cm[:, t]))
    return torch.stack(ys, 1), S


def segsum(a):
    """a: (..., T) -> (..., T, T) with [i, j] = sum_{j<k<=i} a_k for j <= i, -inf above
    the diagonal (ssd_minimal.py's segsum: exp() of it is the decay from j to i)."""
    T = a.shape[-1]
    a = a[..., None].expand(*a.shape, T)                                 # [..., k, j] = a_k
    a = a.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool), -1), 0)
    s = torch.cumsum(a, dim=-2)
    return s.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool), 0), -math.inf)


def ssd_chunked(x, dt, A, Bm, Cm, h0=None, chunk=64):
    """The chunked "SSD" form of the same scan (state-spaces ssd_minimal.py,
    ssd_minimal_discrete, called with X = dt x and A = dt A), exact up to
    rounding.  Per chunk of T tokens: Y_diag = (L o C B^T) (dt x) with
    L = exp(segsum(dt A)); the state each chunk leaves; the recurrence of those
    states across chunks; Y_off = C . (state entering the chunk) * decay.
    The tail is padded with dt = 0 (decay 1, input 0), so the state passes it."""
    b, L, H, P = x.shape
    N = Bm.shape[-1]
    T = min(chunk, L)
    pad = (-L) % T
    X = x * dt[..., None]
    Ad = dt * A                                                          # (b,L,H), <= 0
    if pad:
        X = F.pad(X, (0, 0, 0, 0, 0, pad))
        Ad = F.pad(Ad, (0, 0, 0, pad))
        Bm = F.pad(Bm, (0, 0, 0, 0, 0, pad))
        Cm = F.pad(Cm, (0, 0, 0, 0, 0, pad))
    nc = (L + pad) // T
    X = X.view(b, nc, T, H, P)
    Bc = Bm.reshape(b, nc, T, H, N)
    Cc = Cm.reshape(b, nc, T, H, N)
    Ad = Ad.view(b, nc, T, H).permute(0, 3, 1, 2)                        # (b,H,nc,T)
    Acum = torch.cumsum(Ad, dim=-1)
    # 1. within each chunk: the masked "attention-like" product
    Lm = torch.exp(segsum(Ad))                                           # (b,H,nc,T,T)
    CB = torch.einsum("bclhn,bcshn->bhcls", Cc, Bc)
    Y_diag = torch.einsum("bhcls,bcshp->bclhp", CB * Lm, X)
    # 2. the state each chunk leaves (from a zero start)
    decay_states = torch.exp(Acum[..., -1:] - Acum)                      # (b,H,nc,T)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", Bc, decay_states, X)
    # 3. the recurrence across chunks
    if h0 is None:
        h0 = x.new_zeros(b, H, P, N)
    states = torch.cat([h0[:, None], states], dim=1)                     # (b,nc+1,H,P,N)
    decay_chunk = torch.exp(segsum(F.pad(Acum[..., -1], (1, 0))))        # (b,H,nc+1,nc+1)
    new_states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)
    states, final = new_states[:, :-1], new_states[:, -1]
    # 4. the state entering each chunk, read out by C
    Y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", Cc, states, torch.exp(Acum))
    y = (Y_diag + Y_off).reshape(b, nc * T, H, P)
    return y[:, :L], final


def check_ssd():
    """Chunked SSD vs. the per-token recurrence (lengths not a multiple of the
    chunk, a start state, groups of heads sharing B/C); returns max abs diff."""
    g = torch.Generator().manual_seed(2)
    b, L, H, P, N, G = 2, 53, 4, 3, 5, 2
    x = torch.randn(b, L, H, P, generator=g, dtype=torch.float64)
    dt = F.softplus(torch.randn(b, L, H, generator=g, dtype=torch.float64) * 2)
    A = -torch.exp(torch.randn(H, generator=g, dtype=torch.float64) + 1)
    Bg = torch.randn(b, L, G, N, generator=g, dtype=torch.float64)
    Cg = torch.randn(b, L, G, N, generator=g, dtype=torch.float64)
    Bm, Cm = Bg.repeat_interleave(H // G, dim=2), Cg.repeat_interleave(H // G, dim=2)
    h0 = torch.randn(b, H, P, N, generator=g, dtype=torch.float64)
    worst = 0.0
    y1, h1 = ssd_loop(x, dt, A, Bm, Cm, h0)
    for chunk in (1, 7, 16, 64):
        y2, h2 = ssd_chunked(x.float(), dt.float(), A.float(), Bm.float(), Cm.float(), h0.float(), chunk)
        worst = max(worst, (y1 - y2.double()).abs().max().item(), (h1 - h2.double()).abs().max().item())
    return worst


class Mamba2(nn.Module):
    """One Mamba-2 mixer (state-spaces mamba_ssm/modules/mamba2.py `Mamba2`,
    ngroups >= 1, no gated-MLP slice, rmsnorm=True, norm_before_gate=False,
    D per head), with the reference's parameter names and initialisation:
      z, xBC, dt = split(in_proj(u))            (d_inner, d_inner + 2 G N, H)
      xBC = SiLU(causal depthwise conv1d(xBC))  (with bias)
      x, B, C = split(xBC)                      (H heads x P, G x N, G x N)
      dt = softplus(dt + dt_bias);  A = -exp(A_log)   (one scalar per head)
      y = SSD(x, dt, A, B, C) + D x             (head h reads group h // (H/G))
      y = RMSNorm_per_group(y * SiLU(z)) * norm.weight     (eps 1e-5)
      out_proj(y)"""

    def __init__(self, d_model, d_state=64, d_conv=4, expand=2, headdim=32, ngroups=1,
                 dt_min=1e-3, dt_max=1e-1, dt_init_floor=1e-4, chunk=64):
        super().__init__()
        self.d_inner = d_inner = expand * d_model
        if d_inner % headdim:
            raise ValueError("d_inner %d is not a multiple of headdim %d" % (d_inner, headdim))
        self.nheads = H = d_inner // headdim
        if H % ngroups:
            raise ValueError("ngroups %d does not divide the %d heads" % (ngroups, H))
        self.headdim, self.ngroups, self.d_state, self.d_conv, self.chunk = headdim, ngroups, d_state, d_conv, chunk
        self.conv_dim = conv_dim = d_inner + 2 * ngroups * d_state
        self.in_proj = nn.Linear(d_model, 2 * d_inner + 2 * ngroups * d_state + H, bias=False)
        self.conv1d = nn.Conv1d(conv_dim, conv_dim, d_conv, groups=conv_dim, bias=True)
        # dt_bias: inverse softplus of dt log-uniform in [dt_min, dt_max], floored
        dt = torch.exp(torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.dt_bias._no_weight_decay = True
        # A_init_range (1, 16): A = -uniform, stored as log
        self.A_log = nn.Parameter(torch.log(torch.empty(H).uniform_(1, 16)))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(H))
        self.D._no_weight_decay = True
        self.norm = RMSNorm(d_inner)          # applied per group in forward (RMSNormGated, group_size)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, u, state=None):
        """u: (b,L,d_model).  state: None or (conv_state (b,conv_dim,d_conv-1), ssm_state (b,H,P,N))."""
        b, L, _ = u.shape
        H, P, G, N = self.nheads, self.headdim, self.ngroups, self.d_state
        z, xBC, dt = torch.split(self.in_proj(u), [self.d_inner, self.conv_dim, H], dim=-1)
        xBC = xBC.transpose(1, 2)                                        # (b,conv_dim,L)
        if state is None:
            conv_state, ssm_state = xBC.new_zeros(b, self.conv_dim, self.d_conv - 1), None
        else:
            conv_state, ssm_state = state
        xp = torch.cat([conv_state, xBC], dim=2)
        new_conv = xp[:, :, -(self.d_conv - 1):]
        xBC = F.silu(F.conv1d(xp, self.conv1d.weight, self.conv1d.bias, groups=self.conv_dim)).transpose(1, 2)
        x, Bm, Cm = torch.split(xBC, [self.d_inner, G * N, G * N], dim=-1)
        x = x.reshape(b, L, H, P)
        Bm = Bm.reshape(b, L, G, 1, N).expand(b, L, G, H // G, N).reshape(b, L, H, N)
        Cm = Cm.reshape(b, L, G, 1, N).expand(b, L, G, H // G, N).reshape(b, L, H, N)
        dt = F.softplus(dt + self.dt_bias)
        A = -torch.exp(self.A_log)
        y, S = ssd_chunked(x, dt, A, Bm, Cm, ssm_state, self.chunk)
        y = (y + x * self.D[:, None]).reshape(b, L, self.d_inner)
        y = (y * F.silu(z)).view(b, L, G, self.d_inner // G)             # gate, then norm per group
        y = (y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.norm.eps)).reshape(b, L, self.d_inner)
        return self.out_proj(y * self.norm.weight), (new_conv, S)


MIXERS = {"mamba1": Mamba, "mamba2": Mamba2}


class Block(nn.Module):
    def __init__(self, d_model, arch="mamba1", **kw):
        super().__init__()
        self.mixer = MIXERS[arch](d_model, **kw)
        self.norm = RMSNorm(d_model)


class Backbone(nn.Module):
    def __init__(self, vocab, d_model, n_layer, **kw):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d_model)
        self.layers = nn.ModuleList([Block(d_model, **kw) for _ in range(n_layer)])
        self.norm_f = RMSNorm(d_model)


class MambaLM(nn.Module):
    def __init__(self, vocab, d_model, n_layer, **kw):
        super().__init__()
        self.backbone = Backbone(vocab, d_model, n_layer, **kw)
        self.lm_head = nn.Linear(d_model, vocab, bias=False)
        self.lm_head.weight = self.backbone.embedding.weight             # tied
        # the reference's _init_weights: zero Linear biases (except dt_proj), embedding
        # N(0, 0.02), out_proj rescaled by 1/sqrt(n_layer) after its default init
        for m in self.modules():
            if isinstance(m, nn.Linear) and m.bias is not None and not getattr(m.bias, "_no_reinit", False):
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.backbone.embedding.weight, std=0.02)
        for layer in self.backbone.layers:
            w = layer.mixer.out_proj.weight
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            with torch.no_grad():
                w /= math.sqrt(n_layer)

    def forward(self, ids, states=None):
        h = self.backbone.embedding(ids)
        new_states = []
        for i, layer in enumerate(self.backbone.layers):
            out, st = layer.mixer(layer.norm(h), None if states is None else states[i])
            h = h + out
            new_states.append(st)
        return self.lm_head(self.backbone.norm_f(h)), new_states


# ----------------------------------------------------------------------------- data, eval, sampling

def load_train(paths, tok, max_bytes=None):
    """All stories of all files as one stream: <eot> story <eot> story ..."""
    ids = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            text = f.read()
        if max_bytes:
            text = text[:max_bytes]
        text = unicodedata.normalize("NFC", text)
        rx = train_bpe.build_split_regex(text)
        for story in text.split(EOT):
            story = story.strip()
            if story:
                ids.append(0)
                ids.extend(tok.encode(story, rx))
    return torch.tensor(ids, dtype=torch.long)


@torch.no_grad()
def evaluate(model, ids, nbytes, seg=1024):
    """Exact stream NLL: one sequence starting with <eot>, processed in segments
    with the recurrent state carried over.  Returns (nats/token, bits/byte)."""
    model.eval()
    seq = torch.cat([torch.zeros(1, dtype=torch.long), ids])
    states, total = None, 0.0
    for s in range(0, len(seq) - 1, seg):
        inp = seq[s:s + seg][None]
        tgt = seq[s + 1:s + seg + 1][None]
        inp = inp[:, :tgt.shape[1]]
        logits, states = model(inp, states)
        total += F.cross_entropy(logits[0], tgt[0], reduction="sum").item()
    model.train()
    return total / len(ids), total / math.log(2) / nbytes


@torch.no_grad()
def sample(model, tok, prompt, n=200, temp=0.8, gen=None):
    model.eval()
    ids = [0] + tok.encode(prompt)
    logits, states = model(torch.tensor([ids]))
    out = list(ids[1:])
    for _ in range(n):
        p = F.softmax(logits[0, -1] / temp, dim=-1)
        t = torch.multinomial(p, 1, generator=gen).item()
        if t == 0:
            break
        out.append(t)
        logits, states = model(torch.tensor([[t]]), states)
    model.train()
    return tok.decode(out)


def save_checkpoint(model, args, vocab, out):
    os.makedirs(out, exist_ok=True)
    if args.arch == "mamba2":
        # mamba_ssm's MambaConfig for a Mamba2 stack (as the state-spaces mamba2-* config.json files)
        cfg = {"d_model": args.d_model, "d_intermediate": 0, "n_layer": args.n_layer, "vocab_size": vocab,
               "ssm_cfg": {"layer": "Mamba2", "d_state": args.d_state, "d_conv": args.d_conv,
                           "expand": args.expand, "headdim": args.headdim, "ngroups": args.ngroups,
                           "chunk_size": args.chunk, "conv_bias": True, "bias": False, "rmsnorm": True,
                           "norm_before_gate": False, "D_has_hdim": False},
               "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": True, "residual_in_fp32": True,
               "fused_add_norm": True, "pad_vocab_size_multiple": 16, "tie_embeddings": True,
               "norm_epsilon": 1e-5}
    else:
        cfg = {"d_model": args.d_model, "n_layer": args.n_layer, "vocab_size": vocab,
               "ssm_cfg": {"d_state": args.d_state, "d_conv": args.d_conv, "expand": args.expand,
                           "dt_rank": math.ceil(args.d_model / 16), "conv_bias": True, "bias": False},
               "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
               "pad_vocab_size_multiple": 8, "tie_embeddings": True, "norm_epsilon": 1e-5}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save(sd, os.path.join(out, "pytorch_model.bin"))
    if os.path.abspath(args.tokenizer) != os.path.abspath(os.path.join(out, "tokenizer.json")):
        shutil.copyfile(args.tokenizer, os.path.join(out, "tokenizer.json"))


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description="Train a small Mamba-1 or Mamba-2 LM (CPU).")
    ap.add_argument("--arch", choices=sorted(MIXERS), default="mamba1",
                    help="mamba1 (mamba_simple.py Mamba) or mamba2 (mamba2.py Mamba2, chunked SSD)")
    ap.add_argument("--train", nargs="+", required=True, help="training text files (<|endoftext|> separated)")
    ap.add_argument("--valid", help="validation text file (scored as one stream)")
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json from train_bpe.py")
    ap.add_argument("--out", required=True, help="checkpoint directory to write")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--d-state", type=int, default=16)
    ap.add_argument("--d-conv", type=int, default=4)
    ap.add_argument("--expand", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=16, help="scan chunk length (Mamba-2: the SSD chunk, e.g. 64)")
    ap.add_argument("--headdim", type=int, default=32, help="Mamba-2: channels per head")
    ap.add_argument("--ngroups", type=int, default=1, help="Mamba-2: groups of heads sharing B and C")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=1000,
                    help="number of steps (upper bound when --minutes or --cpu-seconds is set)")
    ap.add_argument("--minutes", type=float, default=0,
                    help="wall-time budget: the cosine schedule follows elapsed/budget and training stops "
                         "when it is spent (for a shared CPU whose speed is unknown in advance; not bit-reproducible)")
    ap.add_argument("--cpu-seconds", type=float, default=0,
                    help="CPU-time budget: as --minutes, but counted in CPU seconds the process receives "
                         "(time.process_time, all threads) in its training steps, evals and saves excluded, "
                         "so a loaded machine stretches the wall time and not the budget")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--eval-every", type=int, default=0, help="steps between evals on --eval-bytes of valid (0 = end only)")
    ap.add_argument("--eval-bytes", type=int, default=100000, help="valid prefix used for evals during training")
    ap.add_argument("--save-every", type=int, default=0, help="steps between checkpoint saves (0 = end only)")
    ap.add_argument("--max-bytes", type=int, default=0, help="use only this many chars of each train file (smoke runs)")
    ap.add_argument("--samples", type=int, default=3)
    args = ap.parse_args()
    if args.minutes and args.cpu_seconds:
        sys.exit("train.py: error: give one budget, --minutes or --cpu-seconds")
    if args.minutes < 0 or args.cpu_seconds < 0:
        sys.exit("train.py: error: a budget must be positive")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    if args.arch == "mamba2":
        err = check_ssd()
        print("scan check: chunked SSD vs per-token recurrence max abs diff %.2e" % err, flush=True)
    else:
        err = check_scan()
        print("scan check: chunked vs per-token loop max abs diff %.2e" % err, flush=True)
    if not err < 1e-4:
        sys.exit("train.py: error: chunked scan disagrees with the loop (%.3g)" % err)

    try:
        tok = BPE(args.tokenizer)
    except (OSError, ValueError, KeyError) as e:
        sys.exit("train.py: error: cannot read tokenizer %s: %s" % (args.tokenizer, e))
    nvocab = len(tok.vocab)
    mult = 16 if args.arch == "mamba2" else 8     # pad_vocab_size_multiple of the reference configs
    vocab = (nvocab + mult - 1) // mult * mult
    t0 = time.time()
    data = load_train(args.train, tok, args.max_bytes or None)
    print("train tokens: %d (tokenised in %.1fs)" % (len(data), time.time() - t0), flush=True)
    valid_ids = valid_bytes = None
    if args.valid:
        with open(args.valid, encoding="utf-8") as f:
            vtext = f.read()
        if args.max_bytes:
            vtext = vtext[:args.max_bytes]
        valid_ids = torch.tensor(tok.encode(vtext), dtype=torch.long)
        valid_bytes = len(vtext.encode("utf-8"))
        small = vtext[:args.eval_bytes]
        small_ids = torch.tensor(tok.encode(small), dtype=torch.long)
        small_bytes = len(small.encode("utf-8"))
        print("valid: %d tokens, %d bytes (%.3f tokens/byte)" % (len(valid_ids), valid_bytes,
                                                                  len(valid_ids) / valid_bytes), flush=True)

    kw = dict(d_state=args.d_state, d_conv=args.d_conv, expand=args.expand, chunk=args.chunk)
    if args.arch == "mamba2":
        kw.update(arch="mamba2", headdim=args.headdim, ngroups=args.ngroups)
    try:
        model = MambaLM(vocab, args.d_model, args.n_layer, **kw)
    except ValueError as e:
        sys.exit("train.py: error: %s" % e)
    nparam = sum(p.numel() for p in model.parameters())
    print("parameters: %d (%.2f M), vocab %d padded to %d" % (nparam, nparam / 1e6, nvocab, vocab), flush=True)

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if p.dim() >= 2 and not getattr(p, "_no_weight_decay", False):
            decay.append(p)
        else:
            no_decay.append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))

    def progress(step):
        """Fraction of the run done after warm-up: by steps, by wall time with --minutes, or by
        training CPU time with --cpu-seconds."""
        if args.cpu_seconds:
            return min(1.0, train_cpu() / args.cpu_seconds)
        if args.minutes:
            return min(1.0, (time.time() - t_start) / (60 * args.minutes))
        return (step - args.warmup) / max(1, args.steps - args.warmup)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        f = progress(step)
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * f)))

    gen = torch.Generator().manual_seed(args.seed)
    n_windows = len(data) - args.seq_len - 1
    if n_windows < 1:
        sys.exit("train.py: error: training text too short for --seq-len")
    t_start, cpu_start = time.time(), time.process_time()
    cpu_aside = [0.0]           # CPU seconds spent in evals and saves, outside the --cpu-seconds budget

    def train_cpu():
        return time.process_time() - cpu_start - cpu_aside[0]

    tok_seen, loss_avg = 0, None
    steps_done = 0
    for step in range(args.steps):
        if args.minutes and time.time() - t_start >= 60 * args.minutes:
            break
        if args.cpu_seconds and train_cpu() >= args.cpu_seconds:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        starts = torch.randint(0, n_windows, (args.batch,), generator=gen)
        batch = torch.stack([data[s:s + args.seq_len + 1] for s in starts.tolist()])
        logits, _ = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tok_seen += args.batch * args.seq_len
        steps_done = step + 1
        loss_avg = loss.item() if loss_avg is None else 0.95 * loss_avg + 0.05 * loss.item()
        if (step + 1) % args.log_every == 0 or step == 0:
            el = time.time() - t_start
            print("step %5d  loss %.4f  avg %.4f  lr %.2e  %.0f tok/s  %.1f min  cpu %.0f s" % (
                step + 1, loss.item(), loss_avg, lr_at(step), tok_seen / el, el / 60,
                train_cpu()), flush=True)
        c0 = time.process_time()
        if args.valid and args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            vl, bpb = evaluate(model, small_ids, small_bytes)
            print("eval (first %d bytes of valid) step %d: loss %.4f  bpb %.4f" % (
                small_bytes, step + 1, vl, bpb), flush=True)
        if args.save_every and (step + 1) % args.save_every == 0:
            save_checkpoint(model, args, vocab, args.out)
            print("saved %s at step %d" % (args.out, step + 1), flush=True)
        cpu_aside[0] += time.process_time() - c0

    wall, cpu = time.time() - t_start, time.process_time() - cpu_start
    # CPU seconds the process received (all its threads): on a shared machine the
    # wall budget buys fewer of them than it says
    print("training done: %d steps, %d tokens, %.1f min, %.0f tok/s, final avg train loss %.4f, "
          "cpu %.0f s (%.2f of the wall; %.0f s in training steps, %.0f s in evals and saves)" % (
              steps_done, tok_seen, wall / 60, tok_seen / wall, loss_avg, cpu, cpu / wall,
              train_cpu(), cpu_aside[0]), flush=True)
    save_checkpoint(model, args, vocab, args.out)
    print("saved %s" % args.out, flush=True)
    if args.valid:
        t0 = time.time()
        vl, bpb = evaluate(model, valid_ids, valid_bytes)
        print("VALID (whole file, %d bytes): loss %.4f nats/token  bits/byte %.4f  (%.0fs)" % (
            valid_bytes, vl, bpb, time.time() - t0), flush=True)
    sgen = torch.Generator().manual_seed(args.seed)
    for i, prompt in enumerate(["Once upon a time", "One day, a little girl named Lily", "Tom and his dog"][:args.samples]):
        print("--- sample %d (temperature 0.8) ---" % (i + 1))
        print(sample(model, tok, prompt, gen=sgen), flush=True)


if __name__ == "__main__":
    main()
