#!/usr/bin/env python3
"""Mean KL divergence and top-1 agreement against f32, for mamba.h's weight
types beside llama.cpp's quantisations of the same weights, on the same
tokens (README, "Quality per dtype, beside llama.cpp").

The tokens and the positions scored are llama.cpp's: llama-perplexity
--kl-divergence-base tokenizes TEXT with the f32 GGUF's tokenizer, cuts it
into CHUNKS chunks of CTX tokens (each evaluated from an empty state, its
first token replaced by BOS when the vocabulary asks for one) and scores
the second half of each chunk: CHUNKS * (CTX - 1 - CTX/2) next-token
distributions. Its base file holds those tokens, which this script reads,
so each .mamba model is run (build/logits, from a zero state per chunk) on
exactly the same ids. The first .mamba's scored logits are kept in the work
directory (cache-*.npy, keyed by the file's path, size and time), so a table
can be made in several shorter runs against the same f32 model.

  - a LABEL=FILE.gguf is evaluated by llama.cpp itself (llama-perplexity
    --kl-divergence against its own f32 run); its numbers are parsed from
    llama-perplexity's output;
  - a LABEL=FILE.mamba is evaluated by mamba.h (build/logits: the prompt
    path mamba_forward(), or mamba_step() for the labels --step names) against the first
    .mamba given, which should be the f32 one. FILE.mamba@SRC.gguf takes
    the bits per weight from SRC (a GGUF converted to .mamba keeps a
    Q4_K matrix as f32, which holds its values exactly).
Bits per weight count every matrix (embedding, in/x/dt/out_proj; no norms,
conv, A, D or biases), from the file's own tensor sizes. The first .mamba
is also compared with llama.cpp's f32 run (its base file), which checks
that the two programs compute the same model.

usage: kl_table.py --llama-perplexity BIN --base-gguf F32.gguf --text TEXT --work DIR
                   [--ctx 1024] [--chunks 4] [--logits build/logits] [--step LABEL,...|all]
                   LABEL=MODEL ...
"""
import argparse
import os
import re
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402
import mambafile as mf  # noqa: E402

GGUF_MATRICES = ("token_embd.weight", "output.weight", ".ssm_in.weight", ".ssm_x.weight", ".ssm_dt.weight",
                 ".ssm_out.weight")


def gguf_bpw(path):
    g = gguf.open_gguf(path)
    n = b = 0
    for t in g.tensors.values():
        if t.name.endswith(GGUF_MATRICES):
            n += t.count
            b += 8 * t.nbytes
    return b / n


def mamba_bpw(path):
    """From the header and tensor directory alone (docs/format.md)."""
    with open(path, "rb") as f:
        head = f.read(mf.HEADER_BYTES)
        fields = struct.unpack_from("<8sIIIfQIIIIIIIIIIffIIIIQQQQ", head, 0)
        nt, to = fields[21], fields[22]
        f.seek(to)
        d = f.read(nt * mf.ENTRY_BYTES)
    n = b = 0
    for i in range(nt):
        role, layer, dt, ndim, s0, s1, s2, s3, off, nbytes = struct.unpack_from("<IIII4IQQ", d, i * mf.ENTRY_BYTES)
        if role in mf.MATRIX_ROLES:
            n += s0 * s1
            b += 8 * nbytes
    return b / n


def read_base(path):
    """llama-perplexity's --kl-divergence-base file: (n_ctx, n_vocab, n_chunk,
    tokens, log-probs of the scored rows as float32 [n_chunk*(n_ctx-1-n_ctx/2), n_vocab])."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"_logits_":
        raise SystemExit("kl_table.py: %s is not a llama-perplexity base file" % path)
    n_ctx, n_vocab, n_chunk = struct.unpack_from("<Iii", data, 8)
    off = 20
    tokens = np.frombuffer(data, np.int32, n_ctx * n_chunk, off)
    off += 4 * n_ctx * n_chunk
    nv = 2 * ((n_vocab + 1) // 2) + 4
    rows = n_chunk * (n_ctx - 1 - n_ctx // 2)
    u = np.frombuffer(data, np.uint16, rows * nv, off).reshape(rows, nv)
    head = u[:, :4].copy().view(np.float32)        # scale, min log-prob per row
    lp = head[:, 0:1] * u[:, 4:4 + n_vocab].astype(np.float32) + head[:, 1:2]
    return n_ctx, n_vocab, n_chunk, tokens, lp


def log_softmax(z):
    z = z.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def mamba_logprobs(args, model, chunks, n_vocab, first, step, cache=False):
    """log-probs (float64) of the scored rows of every chunk, from build/logits.
    cache: keep the scored logits (float32) in the work directory, keyed by the
    model file's path, size and time and the tokens, and read them from there
    in a later run (the f32 model's, which every run compares against)."""
    key = None
    if cache:
        import hashlib
        st = os.stat(model)
        h = hashlib.sha256(repr((os.path.abspath(model), st.st_size, st.st_mtime_ns, step, n_vocab, first,
                                 [list(c) for c in chunks])).encode()).hexdigest()[:16]
        key = os.path.join(args.work, "cache-%s.npy" % h)
        if os.path.exists(key):
            z = np.load(key)
            return np.concatenate([log_softmax(z[i]) for i in range(z.shape[0])])
    out, raw = [], []
    for k, ids in enumerate(chunks):
        tf = os.path.join(args.work, "ids.txt")
        lf = os.path.join(args.work, "logits.bin")
        with open(tf, "w") as f:
            f.write(" ".join(map(str, ids)))
        cmd = [args.logits, model, "--tokens-file", tf, "--out", lf] + ([] if step else ["--forward"])
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        z = np.fromfile(lf, np.float32).reshape(len(ids), -1)
        out.append(log_softmax(z[first:len(ids) - 1, :n_vocab]))
        if key:
            raw.append(z[first:len(ids) - 1, :n_vocab].copy())
    os.remove(lf)
    if key and len({r.shape for r in raw}) == 1:
        np.save(key, np.stack(raw))
    return np.concatenate(out)


def kl_top1(base, lp, floor=None):
    """Mean of KL(base || lp) over the rows with its standard error, and top-1
    agreement. floor: leave out the terms where base <= floor (llama.cpp's
    base file stores log-probs only down to 16 below the largest, and its
    KL leaves out those below -16)."""
    t = np.exp(base) * (base - lp)
    if floor is not None:
        t = np.where(base > floor, t, 0.0)
    kl = np.sum(t, axis=1)
    return float(kl.mean()), float(kl.std() / np.sqrt(len(kl))), float(np.mean(base.argmax(1) == lp.argmax(1)))


def llama_kl(args, model, base_file):
    r = subprocess.run([args.llama_perplexity, "-m", model, "--kl-divergence-base", base_file, "--kl-divergence",
                        "-c", str(args.ctx), "--chunks", str(args.chunks), "-t", str(args.threads)],
                       capture_output=True, text=True)
    text = r.stdout + r.stderr
    kl = re.search(r"Mean\s+KLD:\s+([-\d.e]+)\s+±\s+([-\d.e]+)", text)
    top = re.search(r"Same top p:\s+([\d.]+)\s+±", text)
    if r.returncode or not kl or not top:
        sys.stderr.write(text[-3000:])
        raise SystemExit("kl_table.py: llama-perplexity --kl-divergence failed on %s" % model)
    return float(kl.group(1)), float(kl.group(2)), float(top.group(1)) / 100


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+", metavar="LABEL=MODEL")
    ap.add_argument("--llama-perplexity", required=True)
    ap.add_argument("--base-gguf", required=True, help="the f32 GGUF: llama.cpp's base run and tokenizer")
    ap.add_argument("--text", required=True)
    ap.add_argument("--work", required=True, help="directory for the base file and the logits")
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--logits", default=os.path.join("build", "logits"))
    ap.add_argument("--step", default="", metavar="LABEL,...",
                    help="mamba.h: run these models through mamba_step() per token (the decoding path), "
                    "not mamba_forward(); 'all' for every one")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    base_file = os.path.join(args.work, "base-c%d-n%d.kld" % (args.ctx, args.chunks))
    if not os.path.exists(base_file):
        r = subprocess.run([args.llama_perplexity, "-m", args.base_gguf, "-f", args.text, "--kl-divergence-base",
                            base_file, "-c", str(args.ctx), "--chunks", str(args.chunks), "-t", str(args.threads)],
                           capture_output=True, text=True)
        if r.returncode or not os.path.exists(base_file):
            sys.stderr.write((r.stdout + r.stderr)[-3000:])
            raise SystemExit("kl_table.py: llama-perplexity --kl-divergence-base failed")
    n_ctx, n_vocab, n_chunk, tokens, llama_base = read_base(base_file)
    g = gguf.open_gguf(args.base_gguf)
    add_bos = bool(g.kv.get("tokenizer.ggml.add_bos_token", g.kv.get("tokenizer.ggml.model") == "llama"))
    chunks = []
    for k in range(n_chunk):
        ids = [int(x) for x in tokens[k * n_ctx:(k + 1) * n_ctx]]
        if add_bos:
            ids[0] = int(g.kv["tokenizer.ggml.bos_token_id"])
        chunks.append(ids)
    first = n_ctx // 2
    stepped = set(args.step.split(",")) if args.step else set()
    print("%d chunks of %d tokens, %d scored (llama.cpp's positions), %s; mamba.h via mamba_forward() unless "
          "marked (step)" % (n_chunk, n_ctx, len(llama_base), "BOS first" if add_bos else "no BOS"))
    print("| weights | evaluated by | bits/weight | mean KL vs f32 (nats) | top-1 agreement |")
    print("|---|---|---:|---:|---:|")
    base = None
    for spec in args.models:
        label, path = spec.split("=", 1)
        path, _, src = path.partition("@")
        if path.endswith(".gguf"):
            bpw = gguf_bpw(path)
            kl, err, top = llama_kl(args, path, base_file)
            who = "llama.cpp"
        else:
            bpw = gguf_bpw(src) if src else mamba_bpw(path)
            step = "all" in stepped or label in stepped
            lp = mamba_logprobs(args, path, chunks, n_vocab, first, step, cache=base is None)
            who = "mamba.h (step)" if step else "mamba.h"
            if base is None:
                base = lp
                x = kl_top1(llama_base.astype(np.float64), lp, -16.0)
                print("| (check) %s vs llama.cpp's f32 | both | | %.2e ± %.1e | %.2f%% |" % (label, x[0], x[1], 100 * x[2]))
            kl, err, top = kl_top1(base, lp)
        print("| %s | %s | %.2f | %.3e ± %.1e | %.2f%% |" % (label, who, bpw, kl, err, 100 * top))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
