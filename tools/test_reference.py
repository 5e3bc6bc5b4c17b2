#!/usr/bin/env python3
"""Checks of tools/reference.py, run first by tests/t_golden.sh.

1. softplus / silu / rms_norm against their textbook formulas;
2. a one-layer, d_inner 1, d_state 1 model stepped by hand with scalar math;
3. step mode against a sequence-mode formulation (full causal convolution with
   zero padding, then the scan) on every test checkpoint;
4. the committed golden logits against a fresh reference run;
5. if torch is importable: a torch float64 version of Mamba.step written from
   the torch ops of mamba_simple.py (F.linear, torch.roll, F.softplus, F.silu,
   torch.einsum), independent of the numpy code.
Exits 1 on any failure.
"""
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference as R  # noqa: E402

DATA = os.path.join(HERE, "..", "tests", "data")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def close(a, b, tol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b)) <= tol * max(1.0, np.max(np.abs(b)))


# ---------------------------------------------------------------------------
# 1. elementwise pieces
# ---------------------------------------------------------------------------
def test_elementwise():
    for x in (-30.0, -3.0, 0.0, 0.5, 19.9, 20.0, 20.5, 50.0):
        want = x if x > 20 else math.log(1 + math.exp(x))
        check(close(R.softplus(np.array([x]))[0], want, 1e-14), "softplus(%g)" % x)
        check(close(R.silu(np.array([x]))[0], x / (1 + math.exp(-x)), 1e-14), "silu(%g)" % x)
    v = np.array([3.0, -4.0])
    check(close(R.rms_norm(v, None, 0.0), v / math.sqrt(12.5), 1e-15), "rms_norm no weight")
    check(close(R.rms_norm(v, np.array([2.0, 0.5]), 1.0), v / math.sqrt(13.5) * [2.0, 0.5], 1e-15),
          "rms_norm weight+eps")


# ---------------------------------------------------------------------------
# 2. a tiny model stepped by hand
# ---------------------------------------------------------------------------
def hand_model(arch):
    """d_model 2, d_inner 1, d_state 1, d_conv 2, dt_rank 1, vocab 3, untied, biases."""
    p = {
        "backbone.embeddings.weight": np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]]),
        "backbone.layers.0.norm.weight": np.array([1.5, 0.8]),
        "backbone.layers.0.mixer.in_proj.weight": np.array([[0.7, -0.2], [0.3, 0.9]]),
        "backbone.layers.0.mixer.in_proj.bias": np.array([0.1, -0.05]),
        "backbone.layers.0.mixer.conv1d.weight": np.array([[[0.4, 1.1]]]),
        "backbone.layers.0.mixer.conv1d.bias": np.array([0.2]),
        "backbone.layers.0.mixer.x_proj.weight": np.array([[0.6], [-1.2], [0.9]]),
        "backbone.layers.0.mixer.dt_proj.weight": np.array([[1.3]]),
        "backbone.layers.0.mixer.dt_proj.bias": np.array([-0.4]),
        "backbone.layers.0.mixer.A_log": np.array([[math.log(2.0)]]),
        "backbone.layers.0.mixer.D": np.array([0.9]),
        "backbone.layers.0.mixer.out_proj.weight": np.array([[1.0], [-0.5]]),
        "backbone.layers.0.mixer.out_proj.bias": np.array([0.05, 0.1]),
        "backbone.norm_f.weight": np.array([1.2, 0.9]),
        "lm_head.weight": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]),
    }
    return p


def hand_steps(p, arch, tokens, eps=1e-5, meps=1e-6):
    """Scalar re-derivation with the math module only."""
    g = lambda k: p[k].tolist()  # noqa: E731
    m = "backbone.layers.0.mixer."
    E, nw, nf, W = g("backbone.embeddings.weight"), g("backbone.layers.0.norm.weight"), \
        g("backbone.norm_f.weight"), g("lm_head.weight")
    inw, inb = g(m + "in_proj.weight"), g(m + "in_proj.bias")
    cw, cb = g(m + "conv1d.weight")[0][0], g(m + "conv1d.bias")[0]
    xw = [row[0] for row in g(m + "x_proj.weight")]
    dtw, dtb = g(m + "dt_proj.weight")[0][0], g(m + "dt_proj.bias")[0]
    A = -math.exp(g(m + "A_log")[0][0])
    D = g(m + "D")[0]
    ow, ob = [row[0] for row in g(m + "out_proj.weight")], g(m + "out_proj.bias")
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    prev_x, h = 0.0, 0.0          # conv window (older entry) and ssm state
    out = []
    for t in tokens:
        r = list(E[t])
        s = math.sqrt((r[0] ** 2 + r[1] ** 2) / 2 + eps)
        hn = [r[0] / s * nw[0], r[1] / s * nw[1]]
        x = inw[0][0] * hn[0] + inw[0][1] * hn[1] + inb[0]
        z = inw[1][0] * hn[0] + inw[1][1] * hn[1] + inb[1]
        c = cw[0] * prev_x + cw[1] * x + cb
        prev_x = x
        u = c * sig(c)
        dt0, B, C = xw[0] * u, xw[1] * u, xw[2] * u
        if arch == "falcon_mamba":   # weightless RMS over a length-1 vector
            dt0 = dt0 / math.sqrt(dt0 * dt0 + meps)
            B = B / math.sqrt(B * B + meps)
            C = C / math.sqrt(C * C + meps)
        pre = dtw * dt0 + dtb
        delta = pre if pre > 20 else math.log(1 + math.exp(pre))
        h = math.exp(delta * A) * h + delta * B * u
        y = (h * C + D * u) * (z * sig(z))
        r = [r[0] + ow[0] * y + ob[0], r[1] + ow[1] * y + ob[1]]
        s = math.sqrt((r[0] ** 2 + r[1] ** 2) / 2 + eps)
        hf = [r[0] / s * nf[0], r[1] / s * nf[1]]
        out.append([row[0] * hf[0] + row[1] * hf[1] for row in W])
    return np.array(out)


def test_hand():
    toks = [1, 0, 2, 2, 1]
    for arch in ("mamba", "falcon_mamba"):
        p = hand_model(arch)
        ref = R.MambaReference(p, arch, 1e-5, 1e-6)
        got = np.array([ref.step(t) for t in toks])
        want = hand_steps(p, arch, toks)
        check(close(got, want, 1e-12), "hand-stepped model (%s)" % arch)
        # reset really restarts from zero
        ref.reset()
        check(close(ref.step(toks[0]), want[0], 1e-12), "reset (%s)" % arch)
    # tied: no lm_head means the embedding is the output matrix
    p = hand_model("mamba")
    del p["lm_head.weight"]
    ref = R.MambaReference(p)
    p2 = dict(p, **{"lm_head.weight": p["backbone.embeddings.weight"]})
    ref2 = R.MambaReference(p2)
    check(close(ref.step(2), ref2.step(2), 0), "tied embedding")


# ---------------------------------------------------------------------------
# 3. sequence mode (full causal convolution + scan) against step mode
# ---------------------------------------------------------------------------
def sequence_forward(params, arch, norm_eps, meps, tokens):
    """Whole-sequence formulation, like transformers' slow_forward without a cache."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    emb = p.get("backbone.embedding.weight", p.get("backbone.embeddings.weight"))
    T = len(tokens)
    hs = emb[tokens]                                     # (T, d_model)
    i = 0
    while "backbone.layers.%d.norm.weight" % i in p:
        m = "backbone.layers.%d.mixer." % i
        nw = p["backbone.layers.%d.norm.weight" % i]
        hn = hs / np.sqrt(np.mean(hs ** 2, axis=1, keepdims=True) + norm_eps) * nw
        xz = hn @ p[m + "in_proj.weight"].T + p.get(m + "in_proj.bias", 0.0)
        di = xz.shape[1] // 2
        x, z = xz[:, :di], xz[:, di:]
        w = p[m + "conv1d.weight"][:, 0, :]              # (di, K)
        K = w.shape[1]
        xp = np.vstack([np.zeros((K - 1, di)), x])       # left zero padding
        conv = np.stack([np.sum(xp[t:t + K].T * w, axis=1) for t in range(T)])
        conv = conv + p.get(m + "conv1d.bias", 0.0)
        u = conv / (1 + np.exp(-conv))
        dbc = u @ p[m + "x_proj.weight"].T
        r = p[m + "dt_proj.weight"].shape[1]
        n = p[m + "A_log"].shape[1]
        parts = [dbc[:, :r], dbc[:, r:r + n], dbc[:, r + n:]]
        if arch == "falcon_mamba":
            parts = [q / np.sqrt(np.mean(q ** 2, axis=1, keepdims=True) + meps) for q in parts]
        dt, B, C = parts
        pre = dt @ p[m + "dt_proj.weight"].T + p[m + "dt_proj.bias"]
        delta = np.where(pre > 20, pre, np.log1p(np.exp(np.minimum(pre, 20))))
        A = -np.exp(p[m + "A_log"])
        st = np.zeros_like(A)
        ys = []
        for t in range(T):
            st = np.exp(delta[t][:, None] * A) * st + delta[t][:, None] * B[t][None, :] * u[t][:, None]
            ys.append(st @ C[t])
        y = (np.array(ys) + u * p[m + "D"]) * (z / (1 + np.exp(-z)))
        hs = hs + y @ p[m + "out_proj.weight"].T + p.get(m + "out_proj.bias", 0.0)
        i += 1
    hf = hs / np.sqrt(np.mean(hs ** 2, axis=1, keepdims=True) + norm_eps) * p["backbone.norm_f.weight"]
    return hf @ p.get("lm_head.weight", emb).T


def checkpoints():
    base = os.path.join(DATA, "ckpt")
    return sorted(os.listdir(base)) if os.path.isdir(base) else []


def read_tokens(name):
    with open(os.path.join(DATA, "golden", name + ".tokens")) as f:
        return [int(t) for t in f.read().split()]


def test_sequence_and_golden():
    for name in checkpoints():
        params, arch, eps, meps = R.load_checkpoint(os.path.join(DATA, "ckpt", name))
        tokens = read_tokens(name)
        ref = R.MambaReference(params, arch, eps, meps)
        got = np.array([ref.step(t) for t in tokens])
        short = tokens[:64]
        seq = sequence_forward(params, arch, eps, meps, short)
        check(close(got[:64], seq, 1e-10), "%s: step vs sequence mode" % name)
        rows = list(range(len(tokens)))
        rpath = os.path.join(DATA, "golden", name + ".rows")
        if os.path.exists(rpath):
            with open(rpath) as f:
                rows = [int(t) for t in f.read().split()]
        gold = np.fromfile(os.path.join(DATA, "golden", name + ".logits"), dtype="<f4")
        gold = gold.reshape(len(rows), -1)
        check(gold.shape[1] == got.shape[1], "%s: golden row width" % name)
        check(np.array_equal(gold, got[rows].astype("<f4")), "%s: golden file is stale" % name)


# ---------------------------------------------------------------------------
# 5. torch float64 cross-check
# ---------------------------------------------------------------------------
def torch_logits(params, arch, norm_eps, meps, tokens):
    import torch
    import torch.nn.functional as F
    p = {k: torch.tensor(np.asarray(v), dtype=torch.float64) for k, v in params.items()}
    emb = p.get("backbone.embedding.weight", p.get("backbone.embeddings.weight"))
    head = p.get("lm_head.weight", emb)
    nl = 0
    while "backbone.layers.%d.norm.weight" % nl in p:
        nl += 1

    def rms(x, w, eps):
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        return y if w is None else y * w

    states = []
    for i in range(nl):
        m = "backbone.layers.%d.mixer." % i
        di, n = p[m + "A_log"].shape
        k = p[m + "conv1d.weight"].shape[-1]
        states.append((torch.zeros(1, di, k, dtype=torch.float64),
                       torch.zeros(1, di, n, dtype=torch.float64)))
    out = []
    for t in tokens:
        hidden = emb[t].unsqueeze(0)                        # (1, d_model)
        residual = None
        for i in range(nl):
            m = "backbone.layers.%d.mixer." % i
            # Block: residual add, then norm, then mixer
            residual = hidden if residual is None else hidden + residual
            h = rms(residual, p["backbone.layers.%d.norm.weight" % i], norm_eps)
            conv_state, ssm_state = states[i]
            xz = F.linear(h, p[m + "in_proj.weight"], p.get(m + "in_proj.bias"))
            x, z = xz.chunk(2, dim=-1)
            conv_state.copy_(torch.roll(conv_state, shifts=-1, dims=-1))
            conv_state[:, :, -1] = x
            x = torch.sum(conv_state * p[m + "conv1d.weight"][:, 0, :], dim=-1)
            if m + "conv1d.bias" in p:
                x = x + p[m + "conv1d.bias"]
            x = F.silu(x)
            x_db = F.linear(x, p[m + "x_proj.weight"])
            r = p[m + "dt_proj.weight"].shape[1]
            n = p[m + "A_log"].shape[1]
            dt, B, C = torch.split(x_db, [r, n, n], dim=-1)
            if arch == "falcon_mamba":
                dt, B, C = rms(dt, None, meps), rms(B, None, meps), rms(C, None, meps)
            dt = F.linear(dt, p[m + "dt_proj.weight"])
            A = -torch.exp(p[m + "A_log"])
            dt = F.softplus(dt + p[m + "dt_proj.bias"])
            dA = torch.exp(torch.einsum("bd,dn->bdn", dt, A))
            dB = torch.einsum("bd,bn->bdn", dt, B)
            ssm_state.copy_(ssm_state * dA + x.unsqueeze(-1) * dB)
            y = torch.einsum("bdn,bn->bd", ssm_state, C)
            y = y + p[m + "D"] * x
            y = y * F.silu(z)
            hidden = F.linear(y, p[m + "out_proj.weight"], p.get(m + "out_proj.bias"))
        residual = hidden + residual
        hf = rms(residual, p["backbone.norm_f.weight"], norm_eps)
        out.append(F.linear(hf, head)[0].numpy())
    return np.array(out)


def test_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch not importable: skipping the torch cross-check")
        return
    for name in checkpoints():
        params, arch, eps, meps = R.load_checkpoint(os.path.join(DATA, "ckpt", name))
        tokens = read_tokens(name)[:200]
        ref = R.MambaReference(params, arch, eps, meps)
        got = np.array([ref.step(t) for t in tokens])
        want = torch_logits(params, arch, eps, meps, tokens)
        check(close(got, want, 1e-10), "%s: numpy vs torch float64" % name)
    for arch in ("mamba", "falcon_mamba"):
        p = hand_model(arch)
        got = np.array([R.MambaReference(p, arch).step(t) for t in [1]])
        want = torch_logits(p, arch, 1e-5, 1e-6, [1])
        check(close(got, want, 1e-12), "hand model vs torch (%s)" % arch)


def main():
    test_elementwise()
    test_hand()
    test_sequence_and_golden()
    test_torch()
    if failures:
        print("test_reference: %d failure(s)" % len(failures))
        sys.exit(1)
    print("test_reference: all checks passed (%d checkpoints)" % len(checkpoints()))


if __name__ == "__main__":
    main()
