#!/usr/bin/env python3
"""Checks of tools/reference.py's Mamba2Reference, run by tests/t_mamba2.sh.

The reference (numpy, float64) is compared with independent re-implementations
of the upstream code paths, written here from their torch ops:
  1. mamba_ssm Mamba2.step with selective_state_update_ref (heads, B/C
     repeated per group as einops "b g n -> b (g h) n") and the gated
     rms_norm_ref with group_size = d_ssm // ngroups (torch float64);
  2. the chunked ("SSD") prompt form: a full causal conv1d, then
     ssd_minimal_discrete (segsum, Y_diag, chunk states, the inter-chunk
     recurrence, Y_off) on X*dt, A*dt, then D, the grouped norm, out_proj
     (torch float64), chunk lengths 1, 4, 16 and one past the sequence;
  3. llama.cpp's ssm_scan for Mamba-2 as scalar loops (group g = h / (nh/ng),
     D added outside the scan, y * SiLU(z), group RMS norm over d_inner/ng);
  4. where the upstream paths disagree, that they do, and by how much:
     transformers' MambaRMSNormGated (and mamba_split_conv1d_scan_ref)
     normalise over all of d_inner; Mamba2.step ignores dt_limit; older
     llama.cpp picked the group as h & (ng-1);
  5. a gated-MLP slice (d_ssm < d_inner) against the torch step;
  6. the committed golden logits against a fresh reference run.
Exits 1 on any failure.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference as R  # noqa: E402

DATA = os.path.join(HERE, "..", "tests", "data", "mamba2")
INF = float("inf")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def rel(a, b):
    """max |a - b| over max |b|, per row, worst row."""
    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    return float(np.max(np.max(np.abs(a - b), axis=1) / np.maximum(np.max(np.abs(b), axis=1), 1e-300)))


def layers_of(p):
    n = 0
    while "backbone.layers.%d.norm.weight" % n in p:
        n += 1
    return n


def emb_of(p):
    return p["backbone.embedding.weight"] if "backbone.embedding.weight" in p else p["backbone.embeddings.weight"]


# ---------------------------------------------------------------------------
# 1. torch: Mamba2.step + selective_state_update_ref + rms_norm_ref
# ---------------------------------------------------------------------------
def torch_step_logits(params, G, norm_eps, gate_eps, nbg, tokens, dt_limit=None, whole_norm=False):
    import torch
    import torch.nn.functional as F
    p = {k: torch.tensor(np.asarray(v, np.float64)) for k, v in params.items()}
    emb = p.get("backbone.embedding.weight", p.get("backbone.embeddings.weight"))
    head = p.get("lm_head.weight", emb)

    def rms(x, w, eps):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def rms_norm_ref(x, w, z, eps, group_size, norm_before_gate):
        if z is not None and not norm_before_gate:
            x = x * F.silu(z)
        xg = x.reshape(*x.shape[:-1], -1, group_size)
        out = (xg * (1 / torch.sqrt(xg.square().mean(-1, keepdim=True) + eps))).reshape(x.shape) * w
        if z is not None and norm_before_gate:
            out = out * F.silu(z)
        return out

    nl = layers_of(params)
    st = []
    for i in range(nl):
        m = "backbone.layers.%d.mixer." % i
        H = p[m + "A_log"].shape[0]
        conv_dim, _, K = p[m + "conv1d.weight"].shape
        d_inner = p[m + "out_proj.weight"].shape[1]
        d_ssm = 2 * d_inner + H - (p[m + "in_proj.weight"].shape[0] - conv_dim)
        N = (conv_dim - d_ssm) // (2 * G)
        st.append([torch.zeros(1, conv_dim, K, dtype=torch.float64),
                   torch.zeros(1, H, d_ssm // H, N, dtype=torch.float64), H, d_ssm, N])
    out = []
    for t in tokens:
        hidden, residual = emb[t].unsqueeze(0), None
        for i in range(nl):
            m = "backbone.layers.%d.mixer." % i
            residual = hidden if residual is None else hidden + residual
            h = rms(residual, p["backbone.layers.%d.norm.weight" % i], norm_eps)
            conv_state, ssm_state, H, d_ssm, N = st[i]
            P = d_ssm // H
            zxbcdt = F.linear(h, p[m + "in_proj.weight"], p.get(m + "in_proj.bias"))
            d_mlp = (zxbcdt.shape[-1] - 2 * d_ssm - 2 * G * N - H) // 2
            z0, x0, z, xBC, dt = torch.split(zxbcdt, [d_mlp, d_mlp, d_ssm, d_ssm + 2 * G * N, H], dim=-1)
            conv_state.copy_(torch.roll(conv_state, shifts=-1, dims=-1))
            conv_state[:, :, -1] = xBC
            xBC = torch.sum(conv_state * p[m + "conv1d.weight"][:, 0, :], dim=-1)
            if m + "conv1d.bias" in p:
                xBC = xBC + p[m + "conv1d.bias"]
            xBC = F.silu(xBC)
            x, B, C = torch.split(xBC, [d_ssm, G * N, G * N], dim=-1)
            A = -torch.exp(p[m + "A_log"])
            # selective_state_update_ref, heads form: A (h p n), dt/dt_bias/D (h p)
            A3 = A[:, None, None].expand(H, P, N)
            dt3 = dt[:, :, None].expand(1, H, P) + p[m + "dt_bias"][:, None].expand(H, P)
            dt3 = F.softplus(dt3)
            if dt_limit is not None:
                dt3 = torch.clamp(dt3, dt_limit[0], dt_limit[1])
            Dm = p[m + "D"]
            D2 = Dm.reshape(H, P) if Dm.shape[0] == d_ssm else Dm[:, None].expand(H, P)
            Bh = B.reshape(1, G, N).repeat_interleave(H // G, dim=1)
            Ch = C.reshape(1, G, N).repeat_interleave(H // G, dim=1)
            xh = x.reshape(1, H, P)
            dA = torch.exp(dt3[..., None] * A3)
            dB = dt3[..., None] * Bh[:, :, None, :]
            ssm_state.copy_(ssm_state * dA + dB * xh[..., None])
            y = torch.einsum("bhdn,bhn->bhd", ssm_state, Ch) + xh * D2
            y = y.reshape(1, d_ssm)
            if m + "norm.weight" in p:
                gs = d_ssm if whole_norm else d_ssm // G
                y = rms_norm_ref(y, p[m + "norm.weight"], z, gate_eps, gs, nbg)
            else:
                y = y * F.silu(z)
            if d_mlp > 0:
                y = torch.cat([F.silu(z0) * x0, y], dim=-1)
            hidden = F.linear(y, p[m + "out_proj.weight"], p.get(m + "out_proj.bias"))
        residual = hidden + residual
        out.append(F.linear(rms(residual, p["backbone.norm_f.weight"], norm_eps), head)[0].numpy())
    return np.array(out)


# ---------------------------------------------------------------------------
# 2. torch: the chunked SSD prompt form (ssd_minimal_discrete)
# ---------------------------------------------------------------------------
def segsum(x):
    import torch
    T = x.size(-1)
    x = x[..., None].expand(*x.shape, T)
    x = x.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1), 0)
    x = torch.cumsum(x, dim=-2)
    return x.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=0), -torch.inf)


def ssd_minimal_discrete(X, A, B, C, L):
    """X (b, T, h, p), A (b, T, h), B/C (b, T, g, n) with T a multiple of L;
    B and C already repeated to h heads (g = h)."""
    import torch
    b, T = X.shape[:2]
    X, A, B, C = [t.reshape(b, T // L, L, *t.shape[2:]) for t in (X, A, B, C)]
    A = A.permute(0, 3, 1, 2)                                       # b h c l
    A_cumsum = torch.cumsum(A, dim=-1)
    Lm = torch.exp(segsum(A))
    Y_diag = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", C, B, Lm, X)
    decay_states = torch.exp(A_cumsum[:, :, :, -1:] - A_cumsum)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B, decay_states, X)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    decay_chunk = torch.exp(segsum(torch.nn.functional.pad(A_cumsum[:, :, :, -1], (1, 0))))
    new_states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)
    states = new_states[:, :-1]
    Y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", C, states, torch.exp(A_cumsum))
    return (Y_diag + Y_off).reshape(b, T, *X.shape[3:])


def torch_chunked_logits(params, G, norm_eps, gate_eps, nbg, dt_limit, tokens, chunk):
    import torch
    import torch.nn.functional as F
    p = {k: torch.tensor(np.asarray(v, np.float64)) for k, v in params.items()}
    emb = p.get("backbone.embedding.weight", p.get("backbone.embeddings.weight"))
    head = p.get("lm_head.weight", emb)
    T = len(tokens)
    hs = emb[torch.tensor(tokens)]
    for i in range(layers_of(params)):
        m = "backbone.layers.%d.mixer." % i
        hn = hs * torch.rsqrt(hs.pow(2).mean(-1, keepdim=True) + norm_eps) * p["backbone.layers.%d.norm.weight" % i]
        H = p[m + "A_log"].shape[0]
        conv_dim, _, K = p[m + "conv1d.weight"].shape
        d_inner = p[m + "out_proj.weight"].shape[1]
        d_ssm = 2 * d_inner + H - (p[m + "in_proj.weight"].shape[0] - conv_dim)
        N, P = (conv_dim - d_ssm) // (2 * G), d_ssm // H
        zxbcdt = F.linear(hn, p[m + "in_proj.weight"], p.get(m + "in_proj.bias"))
        d_mlp = d_inner - d_ssm
        z0, x0, z, xBC, dt = torch.split(zxbcdt, [d_mlp, d_mlp, d_ssm, conv_dim, H], dim=-1)
        xBC = F.conv1d(xBC.T[None], p[m + "conv1d.weight"], p.get(m + "conv1d.bias"),
                       padding=K - 1, groups=conv_dim)[0, :, :T].T
        xBC = F.silu(xBC)
        x, B, C = torch.split(xBC, [d_ssm, G * N, G * N], dim=-1)
        dt = F.softplus(dt + p[m + "dt_bias"])
        if dt_limit != (0.0, INF):
            dt = torch.clamp(dt, dt_limit[0], dt_limit[1])
        A = -torch.exp(p[m + "A_log"])
        pad = (-T) % chunk
        X = F.pad((x.reshape(T, H, P) * dt[:, :, None]), (0, 0, 0, 0, 0, pad))[None]
        Ad = F.pad(A * dt, (0, 0, 0, pad))[None]
        Bh = F.pad(B.reshape(T, G, N).repeat_interleave(H // G, dim=1), (0, 0, 0, 0, 0, pad))[None]
        Ch = F.pad(C.reshape(T, G, N).repeat_interleave(H // G, dim=1), (0, 0, 0, 0, 0, pad))[None]
        y = ssd_minimal_discrete(X, Ad, Bh, Ch, chunk)[0, :T]          # (T, H, P)
        Dm = p[m + "D"]
        y = y + x.reshape(T, H, P) * (Dm.reshape(H, P) if Dm.shape[0] == d_ssm else Dm[:, None])
        y = y.reshape(T, d_ssm)
        if m + "norm.weight" in p:
            if not nbg:
                y = y * F.silu(z)
            yg = y.reshape(T, G, -1)
            y = (yg * torch.rsqrt(yg.pow(2).mean(-1, keepdim=True) + gate_eps)).reshape(T, d_ssm)
            y = y * p[m + "norm.weight"]
            if nbg:
                y = y * F.silu(z)
        else:
            y = y * F.silu(z)
        if d_mlp:
            y = torch.cat([F.silu(z0) * x0, y], dim=-1)
        hs = hs + F.linear(y, p[m + "out_proj.weight"], p.get(m + "out_proj.bias"))
    hf = hs * torch.rsqrt(hs.pow(2).mean(-1, keepdim=True) + norm_eps) * p["backbone.norm_f.weight"]
    return F.linear(hf, head).numpy()


# ---------------------------------------------------------------------------
# 3. llama.cpp's ssm_scan / ssm_conv for Mamba-2, as scalar loops
# ---------------------------------------------------------------------------
def llamacpp_logits(params, G, norm_eps, gate_eps, tokens, old_group=False):
    """Scalar loops over heads, head channels and states, as ggml's
    ssm_scan_f32 (Mamba-2 branch) with the graph around it in llama.cpp's
    build_mamba2_layer: y = scan + x*D; y *= silu(z); group RMS norm; out."""
    import math
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    emb = emb_of(p)
    head = p.get("lm_head.weight", emb)
    nl = layers_of(p)
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    win, S = [], []
    for i in range(nl):
        m = "backbone.layers.%d.mixer." % i
        conv_dim, _, K = p[m + "conv1d.weight"].shape
        H = p[m + "A_log"].shape[0]
        d_inner = p[m + "out_proj.weight"].shape[1]
        N = (conv_dim - d_inner) // (2 * G)
        win.append(np.zeros((conv_dim, K - 1)))
        S.append(np.zeros((H, d_inner // H, N)))
    out = []
    for t in tokens:
        r = emb[t].copy()
        for i in range(nl):
            m = "backbone.layers.%d.mixer." % i
            w = p["backbone.layers.%d.norm.weight" % i]
            hn = r / math.sqrt(float(np.dot(r, r)) / len(r) + norm_eps) * w
            zx = p[m + "in_proj.weight"] @ hn + p.get(m + "in_proj.bias", 0.0)
            conv_dim, _, K = p[m + "conv1d.weight"].shape
            H = p[m + "A_log"].shape[0]
            d_inner = p[m + "out_proj.weight"].shape[1]
            P, N = d_inner // H, (conv_dim - d_inner) // (2 * G)
            z, xBC, dt = zx[:d_inner], zx[d_inner:d_inner + conv_dim], zx[d_inner + conv_dim:]
            cw = p[m + "conv1d.weight"][:, 0, :]
            cb = p.get(m + "conv1d.bias", np.zeros(conv_dim))
            conv = np.empty(conv_dim)
            for c in range(conv_dim):            # ssm_conv: window (K-1 old) + the new column
                s = cb[c] + cw[c, K - 1] * xBC[c]
                for k in range(K - 1):
                    s += cw[c, k] * win[i][c, k]
                conv[c] = s * sig(s)
            win[i][:, :-1] = win[i][:, 1:]
            win[i][:, -1] = xBC
            x, B, C = conv[:d_inner], conv[d_inner:d_inner + G * N], conv[d_inner + G * N:]
            A = -np.exp(p[m + "A_log"])
            D = p[m + "D"]
            y = np.empty(d_inner)
            for h in range(H):
                v = dt[h] + p[m + "dt_bias"][h]
                sp = v if v > 20.0 else math.log1p(math.exp(v))
                dA = math.exp(sp * A[h])
                g = (h & (G - 1)) if old_group else h // (H // G)
                for i1 in range(P):
                    ii = h * P + i1
                    xdt = x[ii] * sp
                    acc = 0.0
                    for n in range(N):
                        s = S[i][h, i1, n] * dA + B[g * N + n] * xdt
                        S[i][h, i1, n] = s
                        acc += s * C[g * N + n]
                    y[ii] = acc + x[ii] * (D[ii] if D.shape[0] == d_inner else D[h])
            y = y * (z / (1.0 + np.exp(-z)))
            gsz = d_inner // G
            for g in range(G):
                seg = y[g * gsz:(g + 1) * gsz]
                y[g * gsz:(g + 1) * gsz] = seg / math.sqrt(float(np.dot(seg, seg)) / gsz + gate_eps)
            y = y * p[m + "norm.weight"]
            r = r + p[m + "out_proj.weight"] @ y + p.get(m + "out_proj.bias", 0.0)
        hf = r / math.sqrt(float(np.dot(r, r)) / len(r) + norm_eps) * p["backbone.norm_f.weight"]
        out.append(head @ hf)
    return np.array(out)


# ---------------------------------------------------------------------------
# the checkpoints
# ---------------------------------------------------------------------------
def checkpoints():
    base = os.path.join(DATA, "ckpt")
    return sorted(os.listdir(base)) if os.path.isdir(base) else []


def read_tokens(name):
    with open(os.path.join(DATA, "golden", name + ".tokens")) as f:
        return [int(t) for t in f.read().split()]


def settings_of(name):
    cfg = R.read_config(os.path.join(DATA, "ckpt", name))
    G, eps, geps, nbg, rmsnorm, lim = R.mamba2_settings(cfg)
    params = R.load_params(os.path.join(DATA, "ckpt", name))
    return params, G, eps, geps, nbg, lim, cfg


def test_checkpoints(have_torch):
    worst = {}
    for name in checkpoints():
        params, G, eps, geps, nbg, lim, cfg = settings_of(name)
        tokens = read_tokens(name)
        ref = R.load_model(os.path.join(DATA, "ckpt", name))
        got = np.array([ref.step(t) for t in tokens])

        # 6. golden file is what the reference gives now
        rows = list(range(len(tokens)))
        rpath = os.path.join(DATA, "golden", name + ".rows")
        if os.path.exists(rpath):
            rows = [int(t) for t in open(rpath).read().split()]
        gold = np.fromfile(os.path.join(DATA, "golden", name + ".logits"), dtype="<f4").reshape(len(rows), -1)
        check(np.array_equal(gold, got[rows].astype("<f4")), "%s: golden file is stale" % name)

        short = tokens[:48]
        # 3. llama.cpp loops (gated norm present, D either layout, no clamp, gate first)
        if "backbone.layers.0.mixer.norm.weight" in params and not nbg and lim == (0.0, INF):
            e = rel(llamacpp_logits(params, G, eps, geps, short[:24]), got[:24])
            worst["llama.cpp loops"] = max(worst.get("llama.cpp loops", 0), e)
            check(e < 1e-10, "%s: reference vs llama.cpp ssm_scan loops: %.3g" % (name, e))
            if 1 < G < ref.H:
                e = rel(llamacpp_logits(params, G, eps, geps, short[:24], old_group=True), got[:24])
                check(e > 1e-3, "%s: the h & (ng-1) group choice should differ (%.3g)" % (name, e))
        if not have_torch:
            continue
        # 1. torch Mamba2.step (+ the clamp Mamba2.step lacks)
        want = torch_step_logits(params, G, eps, geps, nbg, short,
                                 dt_limit=None if lim == (0.0, INF) else lim)
        e = rel(got[:48], want)
        worst["torch step"] = max(worst.get("torch step", 0), e)
        check(e < 1e-10, "%s: numpy vs torch Mamba2.step: %.3g" % (name, e))
        if lim != (0.0, INF):   # Mamba2.step as written ignores dt_limit
            e = rel(torch_step_logits(params, G, eps, geps, nbg, short), want)
            check(e > 1e-3, "%s: dt_limit should matter (%.3g)" % (name, e))
        if G > 1 and "backbone.layers.0.mixer.norm.weight" in params:
            # 4. transformers' MambaRMSNormGated / mamba_split_conv1d_scan_ref: whole d_inner
            e = rel(torch_step_logits(params, G, eps, geps, nbg, short,
                                      dt_limit=None if lim == (0.0, INF) else lim, whole_norm=True), want)
            worst["whole-d_inner norm (G>1), differs by"] = max(
                worst.get("whole-d_inner norm (G>1), differs by", 0), e)
            check(e > 1e-3, "%s: a whole-d_inner norm should differ for n_groups %d (%.3g)" % (name, G, e))
        # 2. chunked SSD, several chunk lengths; the same numbers to rounding
        for chunk in (1, 4, 16, 64):
            e = rel(torch_chunked_logits(params, G, eps, geps, nbg, lim, short, chunk), got[:48])
            worst["torch chunked SSD"] = max(worst.get("torch chunked SSD", 0), e)
            check(e < 1e-9, "%s: numpy step vs torch chunked SSD (chunk %d): %.3g" % (name, chunk, e))
    return worst


# ---------------------------------------------------------------------------
# 5. the gated-MLP slice (d_ssm < d_inner), built in memory
# ---------------------------------------------------------------------------
def test_d_mlp(have_torch):
    rng = np.random.RandomState(7)
    dm, d_inner, d_ssm, H, G, N, K, V = 16, 40, 32, 4, 2, 8, 4, 24
    d_mlp = d_inner - d_ssm
    conv_dim = d_ssm + 2 * G * N
    p = {"backbone.embedding.weight": rng.randn(V, dm) * 0.6, "backbone.norm_f.weight": 1 + 0.1 * rng.randn(dm)}
    for i in range(2):
        m = "backbone.layers.%d.mixer." % i
        p["backbone.layers.%d.norm.weight" % i] = 1 + 0.1 * rng.randn(dm)
        p[m + "in_proj.weight"] = rng.randn(2 * d_mlp + d_ssm + conv_dim + H, dm) / 4
        p[m + "conv1d.weight"] = rng.randn(conv_dim, 1, K) * 0.5
        p[m + "conv1d.bias"] = rng.randn(conv_dim) * 0.2
        p[m + "dt_bias"] = rng.randn(H)
        p[m + "A_log"] = np.log(rng.uniform(1, 16, H))
        p[m + "D"] = 1 + 0.2 * rng.randn(H)
        p[m + "norm.weight"] = 1 + 0.1 * rng.randn(d_ssm)
        p[m + "out_proj.weight"] = rng.randn(dm, d_inner) / 6
    ref = R.Mamba2Reference(p, G)
    check((ref.d_ssm, ref.d_mlp, ref.P, ref.N) == (d_ssm, d_mlp, 8, N), "d_mlp shapes %r" % (
        (ref.d_ssm, ref.d_mlp, ref.P, ref.N),))
    toks = [1, 5, 5, 0, 23, 7, 3]
    got = np.array([ref.step(t) for t in toks])
    if have_torch:
        check(rel(got, torch_step_logits(p, G, 1e-5, 1e-5, False, toks)) < 1e-10, "d_mlp: numpy vs torch step")
        check(rel(got, torch_chunked_logits(p, G, 1e-5, 1e-5, False, (0.0, INF), toks, 4)) < 1e-9,
              "d_mlp: numpy vs torch chunked")


def test_pieces():
    # softplus threshold and the gated norm, against the formulas
    x = np.array([-30.0, 0.0, 19.99, 20.0, 20.01, 40.0])
    want = np.array([np.log1p(np.exp(v)) if v <= 20 else v for v in x])
    check(np.max(np.abs(R.softplus(x) - want)) < 1e-13, "softplus threshold 20")
    ref = R.Mamba2Reference.__new__(R.Mamba2Reference)
    ref.G, ref.gate_eps, ref.norm_before_gate = 2, 0.0, False
    y, z, w = np.array([3.0, 4.0, 1.0, 1.0]), np.array([50.0] * 4), np.array([1.0, 2.0, 1.0, 1.0])
    g = ref._gated_norm(y, z, w)
    s1, s2 = np.sqrt(12.5), 1.0
    check(np.max(np.abs(g - np.array([3 / s1, 8 / s1, 1 / s2, 1 / s2]))) < 1e-12, "grouped gated norm")


def main():
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("torch not importable: skipping the torch cross-checks")
    test_pieces()
    test_d_mlp(have_torch)
    worst = test_checkpoints(have_torch)
    for k, v in sorted(worst.items()):
        print("  largest relative difference, %s: %.3g" % (k, v))
    if failures:
        print("test_reference_mamba2: %d failure(s)" % len(failures))
        sys.exit(1)
    if not checkpoints():
        print("test_reference_mamba2: FAIL: no checkpoints in %s" % DATA)
        sys.exit(1)
    print("test_reference_mamba2: all checks passed (%d checkpoints)" % len(checkpoints()))


if __name__ == "__main__":
    main()
