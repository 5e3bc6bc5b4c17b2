#!/usr/bin/env python3
"""Check the committed GGUF files (made by llama.cpp's own converter and
llama-quantize from tests/gguf/mkhf.py's checkpoints; tests/gguf/README.md).

For every line of tests/data/gguf/MANIFEST (file, kind, seed, how it was made):

1. weights: every tensor's float32 dequantisation by tools/gguf.py equals,
   bit for bit, llama.cpp's own (gguf-py, digests in DEQUANT.sha256 made by
   tests/gguf/mkdigest.py), and every tensor that tools/gguf.py reads (and turns back into the
   PyTorch layout) is compared with the checkpoint it was made from, rebuilt
   here by mkhf.py, within the error its GGUF type allows per block of 32
   (a wrong block layout, nibble order or scale position is off by the
   weights' own size, far outside these bounds);
2. logits (Mamba-1, Falcon-Mamba and Mamba-2): the file goes through
   tools/convert.py and build/logits, and the logits are compared with
   tools/reference.py (float64; Mamba2Reference for Mamba-2, with the
   checkpoint's config) run on the GGUF's own dequantised weights: within 5e-3 of each
   step's largest |logit|, same argmax at every step.

usage: check.py [--build DIR] [--only NAME] [--keep DIR]
Prints one line per file and "N passed, N failed"; exit status 1 on a failure.
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(ROOT, "tests", "data", "gguf")
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))   # tests/: tokvec.py
import gguf  # noqa: E402
import mkhf  # noqa: E402
from reference import Mamba2Reference, MambaReference  # noqa: E402

TOL = 5e-3
N_TOKENS = 24

# per GGUF type: the largest |dequantised - source| allowed, as a fraction of
# the largest |source| in the block of 32 (for F16/BF16/F32: of the element itself)
BOUND = {"F32": 0.0, "F16": 2.0 ** -11, "BF16": 2.0 ** -8,
         "Q8_0": 1 / 127, "Q4_0": 1 / 7, "Q4_1": 1 / 7, "Q5_0": 1 / 15, "Q5_1": 1 / 15,
         "IQ4_NL": 1 / 5, "Q4_K": 1 / 4, "Q5_K": 1 / 8, "Q6_K": 1 / 16}


def torch_name(key, layer):
    """The PyTorch (transformers) name of a gguf.Model key."""
    m = "backbone.layers.%d.mixer." % layer
    return {"embedding": "backbone.embeddings.weight", "norm_f": "backbone.norm_f.weight",
            "lm_head": "lm_head.weight", "norm": "backbone.layers.%d.norm.weight" % layer,
            "in_proj": m + "in_proj.weight", "in_proj_bias": m + "in_proj.bias",
            "conv1d": m + "conv1d.weight", "conv1d_bias": m + "conv1d.bias", "x_proj": m + "x_proj.weight",
            "dt_proj": m + "dt_proj.weight", "dt_proj_bias": m + "dt_proj.bias", "A": m + "A_log",
            "D": m + "D", "out_proj": m + "out_proj.weight", "out_proj_bias": m + "out_proj.bias",
            "dt_bias": m + "dt_bias", "ssm_norm": m + "norm.weight"}[key]


def source_tensor(src, key, layer):
    """The checkpoint's tensor (float64) for a gguf.Model key, in that key's
    layout: A as -exp(A_log), conv1d squeezed to (channels, d_conv)."""
    a = np.asarray(src[torch_name(key, layer)], np.float64)
    if key == "A":
        a = -np.exp(a)
    if key == "conv1d":
        a = a.reshape(a.shape[0], a.shape[2])
    return a


def check_weights(g, model, kind, seed):
    """Largest error / bound over the tensors, and a message for the worst."""
    src = mkhf.weights(kind, seed)
    worst, where = 0.0, ""
    for (key, layer), (gname, shape) in model.tensors.items():
        got, gtype = gguf.load_tensor(model, key, layer)
        want = source_tensor(src, key, layer)
        if want.shape != got.shape:
            return float("inf"), "%s: shape %s, source %s" % (gname, got.shape, want.shape)
        err = np.abs(got.astype(np.float64) - want)
        b = BOUND[gtype]
        if gtype in ("F32", "F16", "BF16") or key == "A":
            # elementwise relative (A went through -exp in float32 in the converter)
            # (+ half of f16's smallest subnormal, 2^-24, for tiny weights)
            lim = np.abs(want) * max(b, 2.0 ** -23) + (2.0 ** -25 if gtype == "F16" else 1e-30)
        else:
            flat = want.reshape(want.shape[0], -1, 32) if want.shape[-1] % 32 == 0 else None
            if flat is None:
                return float("inf"), "%s: %s with a row of %d" % (gname, gtype, want.shape[-1])
            amax = np.abs(flat).max(axis=2, keepdims=True)
            lim = np.broadcast_to(amax * b * 1.001 + 1e-30, flat.shape).reshape(want.shape)
        r = float(np.max(err / lim)) if b > 0 or gtype == "F32" else 0.0
        if gtype == "F32" and key != "A" and np.any(err > 0):
            return float("inf"), "%s: F32 differs from the source" % gname
        if r > worst:
            worst, where = r, "%s (%s)" % (gname, gtype)
    return worst, where


def load_digests():
    """{(file, tensor): sha256} of llama.cpp's own dequantisation (mkdigest.py)."""
    out = {}
    with open(os.path.join(DATA, "DEQUANT.sha256")) as f:
        for line in f:
            h, fname, tname, _ = line.split()
            out[(fname, tname)] = h
    return out


def check_digests(g, fname, digests):
    """Tensors whose dequantisation differs from llama.cpp's gguf-py, bit for bit."""
    bad = []
    for name in g.tensors:
        a = np.ascontiguousarray(g.dequantize(name), dtype="<f4")
        if digests.get((fname, name)) != hashlib.sha256(a.tobytes()).hexdigest():
            bad.append(name)
    return bad


def reference_params(model):
    """{PyTorch name: float64} from the GGUF's own dequantised weights."""
    p = {}
    for (key, layer) in model.tensors:
        a = gguf.load_tensor(model, key, layer)[0].astype(np.float64)
        if key == "A":
            a = np.log(-a)
        elif key == "conv1d":
            a = a.reshape(a.shape[0], 1, a.shape[1])
        p[torch_name(key, layer)] = a
    return p


def g_type(model, gname):
    return model.g.tensors[gname].type_name


def check_logits(path, model, kind, build, tmp):
    name = os.path.basename(path)
    out = os.path.join(tmp, name + ".mamba")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert.py"), path, out],
                       capture_output=True, text=True)
    if r.returncode:
        return "convert.py: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    # each matrix in mamba.h's own form of its GGUF type where there is one
    import convert
    import mambafile as mf
    hdr, _ = mf.read(out)
    stored = sorted(set(hdr["dtypes"].values()))
    for (key, layer), (gname, _) in model.tensors.items():
        role = convert.gguf_role(key)
        want = convert.GGUF_NATIVE.get(g_type(model, gname), "f32") if role in mf.MATRIX_ROLES else "f32"
        if hdr["dtypes"][(role, layer)] != want:
            return "%s (%s) stored as %s, not %s" % (gname, g_type(model, gname), hdr["dtypes"][(role, layer)], want)
    rng = np.random.default_rng(5)
    rows = model.hp["n_vocab_padded"]
    toks = rng.integers(0, min(rows, 300), N_TOKENS)
    tf = os.path.join(tmp, name + ".tokens")
    with open(tf, "w") as f:
        f.write(" ".join(str(int(t)) for t in toks) + "\n")
    lf = os.path.join(tmp, name + ".logits")
    r = subprocess.run([os.path.join(build, "logits"), out, "--tokens-file", tf, "--out", lf],
                       capture_output=True, text=True)
    if r.returncode:
        return "logits: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    ours = np.fromfile(lf, dtype="<f4").astype(np.float64)
    if ours.size != N_TOKENS * rows:
        return "logits: %d floats, expected %d x %d" % (ours.size, N_TOKENS, rows)
    ours = ours.reshape(N_TOKENS, rows)
    cfg = mkhf.config(kind)
    if kind == "mamba2":
        # the checkpoint's own config (transformers layout: the gated norm's eps is layer_norm_epsilon)
        ref = Mamba2Reference(reference_params(model), cfg["n_groups"], cfg["layer_norm_epsilon"],
                              cfg["layer_norm_epsilon"], cfg["norm_before_gate"])
    else:
        ref = MambaReference(reference_params(model), "falcon_mamba" if kind == "falcon" else "mamba",
                             cfg["layer_norm_epsilon"], cfg.get("mixer_rms_eps", 1e-6))
    worst = 0.0
    for i, t in enumerate(toks):
        want = ref.step(int(t))
        err = np.max(np.abs(ours[i] - want)) / np.max(np.abs(want))
        worst = max(worst, err)
        if np.argmax(ours[i]) != np.argmax(want):
            return "step %d: argmax %d, reference %d" % (i, np.argmax(ours[i]), np.argmax(want))
    if worst > TOL:
        return "logit error %.3g of the largest logit > %g" % (worst, TOL)
    return "ok %.2e (stored as %s)" % (worst, " ".join(stored))


def check_tokenizer():
    """neox-vocab.gguf (llama.cpp's converter, --vocab-only, on the GPT-NeoX
    tokenizer.json of tests/data/tok/neox) must pack to the same bytes as
    that tokenizer.json; cut to 300 ids it must still pack, with every merge
    kept inside the 300 ids."""
    import json
    import tokpack
    g = gguf.open_gguf(os.path.join(DATA, "neox-vocab.gguf"))
    msgs = []
    for rows in (len(g.kv["tokenizer.ggml.tokens"]), 300):
        m = gguf.Model(g)
        m.arch, m.hp = "mamba", {"n_vocab_padded": rows}
        tj, n, ids = gguf.tokenizer_json(m)
        with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as f:
            json.dump(tj, f, ensure_ascii=False)
        try:
            packed = tokpack.pack_tokenizer(f.name)
        finally:
            os.unlink(f.name)
        if rows == 300:
            if n != 300 or any(max(tj["model"]["vocab"][p] for p in mg.split(" ")) >= 300 for mg in tj["model"]["merges"]):
                return False, "cut to 300 ids: n_vocab %d or a merge outside" % n
            msgs.append("cut to 300 ids: %d merges kept" % len(tj["model"]["merges"]))
            continue
        want = tokpack.pack_tokenizer(os.path.join(ROOT, "tests", "data", "tok", "neox", "tokenizer.json"))
        if packed != want:
            return False, "packed tokenizer differs from tokpack.py's packing of tokenizer.json"
        if n != 50277 or ids["eos_id"] != 0:
            return False, "n_vocab %d, eos %r (want 50277, 0)" % (n, ids["eos_id"])
        msgs.append("%d ids, packed section equal to tokenizer.json's (%d bytes)" % (n, len(packed)))
    return True, "; ".join(msgs)


def check_sp_tokenizer(build):
    """mistral-vocab.gguf (llama.cpp's converter, --vocab-only, on a
    SentencePiece tokenizer.model rebuilt by tests/gguf/mkspm.py from Mistral
    v1's tokenizer.json): a `llama` vocabulary, pieces and scores and no
    merges. The merges tools/gguf.py recovers from the scores must be that
    tokenizer.json's, in its order, plus only merges that make pieces no merge
    of the tokenizer.json makes (50 pieces holding "\r": the tokenizer.json
    can never emit them, a SentencePiece model with those scores does); its
    packed tokenizer must give Hugging Face's ids for every reference vector
    of tests/data/tok/mistral_v1 except the texts with "\r" after such a
    piece, which must decode back to their text; and scores that are all
    equal (llama.cpp's LlamaHfVocab writes -1000 for every piece) must be
    refused with an error, not turned into a wrong tokenizer."""
    import json
    import tokpack
    tok_dir = os.path.join(ROOT, "tests", "data", "tok", "mistral_v1")
    g = gguf.open_gguf(os.path.join(DATA, "mistral-vocab.gguf"))
    m = gguf.Model(g)
    m.arch, m.hp = "mamba", {"n_vocab_padded": len(g.kv["tokenizer.ggml.tokens"])}
    tj, n, ids = gguf.tokenizer_json(m)
    with open(os.path.join(tok_dir, "tokenizer.json"), encoding="utf-8") as f:
        ref = json.load(f)
    want = [x if isinstance(x, str) else " ".join(x) for x in ref["model"]["merges"]]
    want = list(dict.fromkeys(want))   # it lists 47 merges twice; the first rank is the one that counts
    made = set(x.replace(" ", "") for x in want)
    got = tj["model"]["merges"]
    extra = [x for x in got if x.replace(" ", "") not in made]
    if [x for x in got if x.replace(" ", "") in made] != want:
        return False, "recovered merges are not the tokenizer.json's, in its order"
    if not all("\r" in x for x in extra):
        return False, "a recovered merge the tokenizer.json lacks has no \\r: %r" % next(x for x in extra if "\r" not in x)
    with tempfile.TemporaryDirectory() as tmp:
        jpath, section = os.path.join(tmp, "tj.json"), os.path.join(tmp, "mistral.tok")
        with open(jpath, "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
        with open(section, "wb") as f:
            f.write(tokpack.pack_tokenizer(jpath))
        with open(os.path.join(tok_dir, "vectors.jsonl"), encoding="utf-8") as f:
            lines = [x for x in f if x.strip()]
        vec = [json.loads(x) for x in lines]
        cr = [v for v in vec if "\r" in v.get("text", "")]
        with open(os.path.join(tmp, "vectors.jsonl"), "w", encoding="utf-8") as f:
            f.write("".join(x for x, v in zip(lines, vec) if "\r" not in v.get("text", "")))
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "tokvec.py"), os.path.join(build, "tokenize"),
                            section, os.path.join(tmp, "vectors.jsonl")], capture_output=True, text=True)
        if r.returncode:
            return False, "reference vectors: " + (r.stdout + r.stderr).strip().replace("\n", "; ")[:400]
        import tokvec
        base = [os.path.join(build, "tokenize"), "--section", section]
        texts = [v["text"].encode("utf-8", "surrogatepass") for v in cr]
        for v, t, back in zip(cr, texts, tokvec.decode_all(base, tokvec.encode_all(base, texts))):
            if back != t:
                return False, "%s: does not decode back to its text" % v["case"]
    n_text = sum("text" in v for v in vec)
    msg = ("%d ids, %d merges recovered from the scores (%d make the %d \\r pieces); ids of %d of %d texts and "
           "%d decodes as Hugging Face's, %d texts with \\r round-trip"
           % (n, len(got), len(extra), len(set(x.replace(" ", "") for x in extra)), n_text - len(cr), n_text,
              len(vec) - n_text, len(cr)))
    g.kv["tokenizer.ggml.scores"] = np.full(n, -1000.0, np.float32)
    try:
        gguf.tokenizer_json(m)
        return False, "equal scores were accepted"
    except gguf.GGUFError as e:
        if "cannot be recovered" not in str(e):
            return False, "equal scores: unexpected error %s" % e
    return True, msg + "; equal scores refused"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--only")
    a = ap.parse_args()
    manifest = os.path.join(DATA, "MANIFEST")
    entries = []
    with open(manifest) as f:
        for line in f:
            line = line.split("#")[0].split()
            if line:
                entries.append((line[0], line[1], int(line[2])))
    digests = load_digests()
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fname, kind, seed in entries:
            if a.only and a.only != fname:
                continue
            path = os.path.join(DATA, fname)
            msgs, ok = [], True
            try:
                g = gguf.open_gguf(path)
                model = gguf.mamba_model(g)
                types = sorted(set(g.tensors[t].type_name for t, _ in model.tensors.values()))
                bad = check_digests(g, fname, digests)
                if bad:
                    ok = False
                    msgs.append("dequantisation of %s differs from llama.cpp's gguf-py" % bad[0])
                else:
                    msgs.append("%d tensors bit-equal to gguf-py's dequantisation" % len(g.tensors))
                w, where = check_weights(g, model, kind, seed)
                if w > 1.0:
                    ok = False
                    msgs.append("weights: %s off by %.3g of its bound" % (where, w))
                else:
                    msgs.append("weights within %.2f of the bounds" % w)
                res = check_logits(path, model, kind, a.build, tmp)
                ok = ok and res.startswith("ok")
                msgs.append("logits " + res)
            except gguf.GGUFError as e:
                ok, types = False, []
                msgs.append(str(e))
            print("%s %-22s [%s] %s" % ("PASS" if ok else "FAIL", fname, " ".join(types), "; ".join(msgs)))
            passed += ok
            failed += not ok
    if not a.only:
        try:
            ok, msg = check_tokenizer()
        except (gguf.GGUFError, ValueError, OSError) as e:
            ok, msg = False, str(e)
        print("%s %-22s %s" % ("PASS" if ok else "FAIL", "neox-vocab.gguf", msg))
        passed += ok
        failed += not ok
        try:
            ok, msg = check_sp_tokenizer(a.build)
        except (gguf.GGUFError, ValueError, OSError) as e:
            ok, msg = False, str(e)
        print("%s %-22s %s" % ("PASS" if ok else "FAIL", "mistral-vocab.gguf", msg))
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
