#!/usr/bin/env python3
"""Write a checkpoint directory whose tokenizer is a SentencePiece
tokenizer.model, the input from which llama.cpp's convert_hf_to_gguf.py
--vocab-only made tests/data/gguf/mistral-vocab.gguf (tokenizer.ggml.model
"llama": pieces, scores and types, no merges; see tests/gguf/README.md).

usage: mkspm.py TOKENIZER.json DIR
  TOKENIZER.json: a SentencePiece-style BPE tokenizer.json (Mistral v1's,
  tests/data/tok/mistral_v1/tokenizer.json); DIR gets tokenizer.model,
  tokenizer_config.json and a mamba-130m-like config.json (vocab_size = the
  pieces).

The real tokenizer.model is not available here, only the tokenizer.json
that transformers made from it, so the scores are rebuilt from its merges,
as SentencePiece's BPE trainer gives them: the k-th piece made by training
scores -k, so a piece scores minus the rank of the first merge that makes
it; pieces no merge makes (the single characters) come after all of them,
in id order; control, unknown and byte pieces score 0. The file is a
SentencePiece ModelProto (pieces: piece, score, type; trainer_spec
model_type BPE, byte_fallback; normalizer_spec add_dummy_prefix), written
field by field (protobuf wire format) because Debian has no sentencepiece.
"""
import json
import os
import struct
import sys

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def piece(text, score, kind):
    return field(1, 2, text.encode("utf-8")) + field(2, 5, struct.pack("<f", score)) + field(3, 0, varint(kind))


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        tj = json.load(f)
    vocab = tj["model"]["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in tj["model"]["merges"]]
    by_id = sorted(vocab, key=vocab.get)
    if [vocab[p] for p in by_id] != list(range(len(by_id))):
        sys.exit("mkspm.py: the vocab ids are not 0..n-1")
    special = {a["id"] for a in tj.get("added_tokens", []) if a.get("special")}
    unk = tj["model"].get("unk_token")
    first = {}
    for rank, (a, b) in enumerate(merges):
        first.setdefault(a + b, rank)
    body = b""
    for i, p in enumerate(by_id):
        if p == unk:
            body += field(1, 2, piece(p, 0.0, UNKNOWN))
        elif i in special:
            body += field(1, 2, piece(p, 0.0, CONTROL))
        elif len(p) == 6 and p.startswith("<0x") and p.endswith(">"):
            body += field(1, 2, piece(p, 0.0, BYTE))
        else:
            body += field(1, 2, piece(p, -float(first.get(p, len(merges) + i)), NORMAL))
    trainer = field(3, 0, varint(2)) + field(35, 0, varint(1))      # model_type BPE, byte_fallback
    normalizer = field(3, 0, varint(1))                             # add_dummy_prefix
    os.makedirs(argv[1], exist_ok=True)
    with open(os.path.join(argv[1], "tokenizer.model"), "wb") as f:
        f.write(body + field(2, 2, trainer) + field(3, 2, normalizer))
    cfg = {"architectures": ["MambaForCausalLM"], "model_type": "mamba", "hidden_size": 64,
           "num_hidden_layers": 2, "intermediate_size": 128, "state_size": 16, "conv_kernel": 4,
           "time_step_rank": 4, "vocab_size": len(by_id), "pad_vocab_size_multiple": 8,
           "layer_norm_epsilon": 1e-5, "bos_token_id": vocab.get("<s>", 1), "eos_token_id": vocab.get("</s>", 2)}
    with open(os.path.join(argv[1], "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    tc = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
          "unk_token": unk, "model_max_length": 1000000000000000019884624838656}
    with open(os.path.join(argv[1], "tokenizer_config.json"), "w") as f:
        json.dump(tc, f, indent=1)
    print("mkspm.py: %s: %d pieces, %d merges in the scores" % (argv[1], len(by_id), len(first)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
