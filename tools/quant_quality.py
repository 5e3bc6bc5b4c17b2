#!/usr/bin/env python3
"""How much does each weight type cost in quality? For a .mamba model, its
matrices are stored as each dtype (f32 as is, f16, bf16, q8, q4_0, iq4_nl,
and llama.cpp's own Q4_0 rounding for comparison), dequantised, and the
model is evaluated in float64 (tools/reference.py) over the first tokens of
a text: bits per byte of the text, and against the unquantised model the
mean KL divergence of the next-token distributions and the top-1 agreement.
This measures the weights' rounding alone (mamba.h's own arithmetic adds
about 1e-4 of the largest logit on top, tests/t_gguf.sh).

usage: quant_quality.py MODEL.mamba TEXT [--tokens N] [--build DIR] [--kinds K,...]
       quant_quality.py MODEL.mamba --write DTYPE OUT.mamba
(the text is tokenized with build/tokenize and the model's own tokenizer).
A kind is a dtype for every matrix, or DTYPE/convert for the choice
tools/convert.py --dtype DTYPE makes per matrix (4-bit: output matrix q8,
rows not whole blocks f16). --write stores the model's matrices that way
(e.g. to run build/perplexity on each dtype).
"""
import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mambafile as mf  # noqa: E402
import q4  # noqa: E402
from reference import MambaReference  # noqa: E402

NAMES = {1: "backbone.embedding.weight", 2: "backbone.norm_f.weight", 3: "lm_head.weight",
         16: "norm.weight", 17: "mixer.in_proj.weight", 18: "mixer.in_proj.bias", 19: "mixer.conv1d.weight",
         20: "mixer.conv1d.bias", 21: "mixer.x_proj.weight", 22: "mixer.dt_proj.weight",
         23: "mixer.dt_proj.bias", 24: "mixer.A_log", 25: "mixer.D", 26: "mixer.out_proj.weight",
         27: "mixer.out_proj.bias"}


def ggml_q4_0(a):
    """llama.cpp's quantize_row_q4_0_ref: d = max / -8 (max: the signed value
    of largest magnitude), q = min(15, (int)(x / d + 8.5)), d stored as f16."""
    x = a.reshape(-1, 32).astype(np.float32)
    mx = x[np.arange(len(x)), np.argmax(np.abs(x), axis=1)]
    d = mx / np.float32(-8)
    with np.errstate(divide="ignore"):
        idn = np.where(d != 0, np.float32(1) / np.where(d != 0, d, 1), 0).astype(np.float32)
    q = np.minimum(15, (x * idn[:, None] + np.float32(8.5)).astype(np.int8))
    return ((q.astype(np.float32) - 8) * d.astype(np.float16).astype(np.float32)[:, None]).reshape(a.shape)


def stored(a, kind):
    """a as the values a .mamba tensor of this kind holds (f32 if a row is not whole blocks)."""
    a = np.asarray(a, np.float32)
    if kind == "f32":
        return a
    if kind == "f16":
        return a.astype(np.float16).astype(np.float32)
    if kind == "bf16":
        return mf.bf16_to_f32(mf.f32_to_bf16(a))
    if kind == "q8":
        q, d = mf.q8_quantize(a)
        return mf.q8_dequantize(q, d, a.shape[1])
    if kind == "ggml-Q4_0":
        return ggml_q4_0(a) if a.shape[1] % 32 == 0 else a.astype(np.float16).astype(np.float32)
    if a.shape[1] % 32:   # as convert.py: a row that is not whole blocks stays f16 (llama.cpp: F16)
        return a.astype(np.float16).astype(np.float32)
    q, d = q4.quantize(a, kind)
    return q4.dequantize(q, d, a.shape[1], kind)


def kind_of(h, t, role, a, kind):
    """The dtype a matrix gets under kind (see the usage)."""
    if not kind.endswith("/convert"):
        return kind
    import convert
    tied = (3, 0) not in t
    return convert.matrix_dtype(role, a.shape[1], kind.split("/")[0], role == 3 or (role == 1 and tied))


def params(h, t, kind):
    p = {}
    for (role, layer), a in t.items():
        name = NAMES[role] if role < 16 else "backbone.layers.%d.%s" % (layer, NAMES[role])
        if role == 24:
            p[name] = np.log(-np.asarray(a, np.float64))
            continue
        if role == 19:
            a = np.asarray(a).reshape(a.shape[0], 1, a.shape[1])
        p[name] = stored(a, kind_of(h, t, role, a, kind)) if role in mf.MATRIX_ROLES else a
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("text", nargs="?")
    ap.add_argument("--write", nargs=2, metavar=("DTYPE", "OUT"))
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--build", default="build")
    ap.add_argument("--kinds", default="f32,f16,bf16,q8,ggml-Q4_0,q4_0,iq4_nl")
    a = ap.parse_args()
    h, t = mf.read(a.model)
    if a.write:
        kind, out = a.write
        items = [(role, layer, arr, kind_of(h, t, role, arr, kind + "/convert") if role in mf.MATRIX_ROLES else "f32")
                 for (role, layer), arr in t.items()]
        cfg = {k: h[k] for k in ("arch", "d_model", "n_layer", "d_inner", "d_state", "d_conv", "dt_rank",
                                 "n_vocab_padded", "n_vocab", "norm_eps", "mixer_rms_eps", "bos_id", "eos_id",
                                 "pad_id")}
        mf.write(out, cfg, items, tokenizer=h["tokenizer"])
        print("wrote %s: %s" % (out, ", ".join(sorted(set("%s" % it[3] for it in items)))))
        return
    if not a.text:
        ap.error("TEXT is required")
    with open(a.text, "rb") as f:
        text = f.read(a.tokens * 8)
    r = subprocess.run([os.path.join(a.build, "tokenize"), a.model], input=text, capture_output=True, check=True)
    ids = [int(x) for x in r.stdout.split()][:a.tokens + 1]
    # the bytes those tokens cover (decode them back)
    r = subprocess.run([os.path.join(a.build, "tokenize"), a.model, "--decode"],
                       input=" ".join(map(str, ids)).encode(), capture_output=True, check=True)
    nbytes = len(r.stdout)
    arch = "falcon_mamba" if h["arch"] == mf.ARCH_FALCON_MAMBA else "mamba"
    start = h["bos_id"] if h["bos_id"] >= 0 else h["eos_id"]
    seq = [start] + ids
    nv = h["n_vocab"]
    base = None
    print("%s: %d tokens (%d bytes) of %s" % (os.path.basename(a.model), len(ids), nbytes,
                                               os.path.basename(a.text)))
    print("| dtype | bits/weight | bits per byte | mean KL vs f32 (nats) | top-1 agreement |")
    print("|---|---:|---:|---:|---:|")
    bpw = {"f32": 32, "f16": 16, "bf16": 16, "q8": 8.5, "ggml-Q4_0": 4.5, "q4_0": 4.5, "iq4_nl": 4.5}

    def bits_per_weight(kind):
        if not kind.endswith("/convert"):
            return "%g" % bpw.get(kind, 0)
        n = b = 0
        for (role, layer), arr in t.items():
            if role in mf.MATRIX_ROLES:
                dt = kind_of(h, t, role, arr, kind)
                n += arr.size
                b += 8 * mf.tensor_nbytes(mf.DTYPES[dt], arr.shape)
        return "%.2f" % (b / n)
    for kind in a.kinds.split(","):
        m = MambaReference(params(h, t, kind), arch, h["norm_eps"], h["mixer_rms_eps"])
        bits, logps = 0.0, []
        for i in range(len(seq) - 1):
            z = m.step(seq[i])[:nv]
            z = z - z.max()
            lp = z - np.log(np.exp(z).sum())
            bits -= lp[seq[i + 1]] / np.log(2)
            logps.append(lp)
        logps = np.array(logps)
        if base is None:
            base = logps
        kl = float(np.mean(np.sum(np.exp(base) * (base - logps), axis=1)))
        top1 = float(np.mean(np.argmax(base, axis=1) == np.argmax(logps, axis=1)))
        print("| %s | %s | %.4f | %.2e | %.2f%% |" % (kind, bits_per_weight(kind), bits / nbytes, kl, 100 * top1))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
