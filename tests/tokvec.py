#!/usr/bin/env python3
"""tokvec.py - run Hugging Face's reference vectors through build/tokenize.

    tokvec.py TOKENIZE SECTION VECTORS.jsonl...

Each encode line (text, ids, ids_template, decoded_hex) is checked three
ways: `tokenize --section S` must print exactly `ids`, with `--template`
exactly `ids_template`, and `--decode` of `ids` must write exactly the bytes
of `decoded_hex`, as must `--decode --stream` (the streaming decoder). Each
decode-only line (decode_ids, decoded_hex) is checked with `--decode`, and,
for byte-level tokenizers where the line has token_bytes_hex, with
`--decode --stream` against those exact bytes. The texts go through
`--batch` (one process per check and file, the same code per text). The
vectors are tests/data/tok/NAME/vectors.jsonl (Hugging Face tokenizers
0.23.2, see tests/data/tok/DESIGNS.md) and extra.jsonl (tools/tokvectors.js
--jsonl). Prints one summary line per file; exit 1 on any difference."""
import json
import subprocess
import sys


def run(cmd, data):
    p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit("tokvec: %s failed: %s" % (" ".join(cmd), p.stderr.decode("utf-8", "replace").strip()))
    return p.stdout


def encode_all(base, texts):
    data = b"".join(b"%d\n" % len(t) + t for t in texts)
    out = run(base + ["--batch"], data).split(b"\n")
    return [[int(x) for x in line.split()] for line in out[:len(texts)]]


def decode_all(base, id_lists):
    out = run(base + ["--decode", "--batch"], b"".join(b" ".join(b"%d" % i for i in ids) + b"\n" for ids in id_lists))
    res, pos = [], 0
    for _ in id_lists:
        nl = out.index(b"\n", pos)
        n = int(out[pos:nl])
        res.append(out[nl + 1:nl + 1 + n])
        pos = nl + 1 + n
    return res


def main():
    tokenize, section, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    base = [tokenize, "--section", section]
    with open(section, "rb") as f:
        sp = bool(int.from_bytes(f.read(24)[20:24], "little") & 2)  # SentencePiece-style (flags bit 1)
    bad = 0
    for path in files:
        with open(path, "r", encoding="utf-8") as f:
            lines = [json.loads(x) for x in f if x.strip()]
        enc = [v for v in lines if "text" in v]
        texts = [v["text"].encode("utf-8", "surrogatepass") for v in enc]
        got_ids = encode_all(base, texts)
        got_tmpl = encode_all(base + ["--template"], texts)
        id_lists = [v["ids"] if "text" in v else v["decode_ids"] for v in lines]
        got_dec = decode_all(base, id_lists)
        got_stream = decode_all(base + ["--stream"], id_lists)
        ok_ids = ok_tmpl = ok_dec = ok_stream = n_stream = 0
        for v, got, tmpl in zip(enc, got_ids, got_tmpl):
            if got == v["ids"]:
                ok_ids += 1
            else:
                bad += 1
                first = next((i for i, (a, b) in enumerate(zip(got, v["ids"])) if a != b), min(len(got), len(v["ids"])))
                print("%s: %s: ids differ at %d: got %s, want %s" % (path, v["case"], first, got[first:first + 6],
                                                                    v["ids"][first:first + 6]))
            if tmpl == v.get("ids_template", v["ids"]):
                ok_tmpl += 1
            else:
                bad += 1
                print("%s: %s: template ids differ: got %s, want %s" % (path, v["case"], tmpl[:6], v["ids_template"][:6]))
        for v, dec, st in zip(lines, got_dec, got_stream):
            name = v.get("case", "decode %s" % v.get("decode_ids", [])[:6])
            want = bytes.fromhex(v["decoded_hex"])
            if dec == want:
                ok_dec += 1
            else:
                bad += 1
                print("%s: %s: decode differs: got %s, want %s" % (path, name, dec[:40].hex(), want[:40].hex()))
            # the stream: the decoded text for every encoding; byte-level: the
            # exact token bytes for any ids
            swant = want if "text" in v else (None if sp or "token_bytes_hex" not in v else bytes.fromhex(v["token_bytes_hex"]))
            if swant is None:
                continue
            n_stream += 1
            if st == swant:
                ok_stream += 1
            else:
                bad += 1
                print("%s: %s: streaming decode differs: got %s, want %s" % (path, name, st[:40].hex(), swant[:40].hex()))
        print("%s: %d encode lines (ids %d, template %d identical), %d decode-only; byte-exact decode %d/%d, "
              "stream %d/%d" % (path, len(enc), ok_ids, ok_tmpl, len(lines) - len(enc), ok_dec, len(lines),
                                ok_stream, n_stream))
        if not lines:
            bad += 1
            print("%s: no vectors" % path)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
