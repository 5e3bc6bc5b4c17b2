#!/usr/bin/env python3
"""Train a small byte-level BPE and write it as a Hugging Face tokenizer.json.

The output is in the same family as GPT-NeoX's tokenizer.json (the one the
state-spaces/mamba-* models use): NFC normaliser, ByteLevel pre-tokenizer
(add_prefix_space false, GPT-2 split regex), ByteLevel decoder and
post-processor, a BPE model whose vocab is a {token: id} map and whose merges
are "left right" strings, and <|endoftext|> as added token id 0.

Ids: 0 = <|endoftext|>, 1..256 = the 256 byte symbols in GPT-2's
bytes_to_unicode order, then one id per merge, in merge order.

Pre-tokenisation follows the GPT-2 regex
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
Python's `re` has no \\p{..}, so the letter and number classes are built from
the characters that actually occur in the training text, classified with
unicodedata.category (L* = letter, N* = number). That is exact for \\p{L} and
\\p{N} on this text; the one approximation left is that Python's \\s is
str.isspace(), which differs from Unicode White_Space only on the control
characters U+001C..U+001F (absent from TinyStories). The split only affects
which merges are learnt; any encoder applying the real regex reads the file.

Merges: pairs are counted over the distinct pre-tokens weighted by frequency;
each step merges the most frequent pair, ties broken by the smallest
(left, right) pair in string order, so the result is deterministic.

Usage: train_bpe.py --vocab-size 4096 --out build/tok/tokenizer.json TRAIN.txt [...]
Stories separated by <|endoftext|> are split there; the marker is not learnt.
"""
import argparse
import collections
import heapq
import json
import re
import sys
import unicodedata

EOT = "<|endoftext|>"


def bytes_to_unicode():
    """GPT-2's reversible map from the 256 byte values to printable characters."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
            + list(range(ord("\xae"), ord("\xff") + 1)))
    bs = keep[:]
    cs = keep[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build_split_regex(text):
    """The GPT-2 pattern with \\p{L} / \\p{N} spelt out from the characters of `text`."""
    letters, numbers = set(), set()
    for ch in set(text):
        cat = unicodedata.category(ch)
        if cat.startswith("L"):
            letters.add(ch)
        elif cat.startswith("N"):
            numbers.add(ch)

    def cls(chars):
        return "".join(re.escape(c) for c in sorted(chars)) or "\\x00-\\x00"  # never-empty class

    L, N = cls(letters), cls(numbers)
    pat = (r"'s|'t|'re|'ve|'m|'ll|'d| ?[" + L + r"]+| ?[" + N + r"]+| ?[^\s" + L + N + r"]+"
           r"|\s+(?!\S)|\s+")
    return re.compile(pat)


def count_pretokens(texts):
    """Frequency of each pre-token (as a tuple of byte symbols) over all stories."""
    b2u = bytes_to_unicode()
    counts = collections.Counter()
    for text in texts:
        text = unicodedata.normalize("NFC", text)
        rx = build_split_regex(text)
        for story in text.split(EOT):
            for m in rx.finditer(story):
                counts[m.group(0)] += 1
    words = {}
    for w, c in counts.items():
        sym = tuple(b2u[b] for b in w.encode("utf-8"))
        words[sym] = words.get(sym, 0) + c
    return words


def train(words, n_merges):
    """Return the list of merges (left, right), learnt greedily by pair frequency."""
    seqs = [list(w) for w in words]         # symbols of each distinct word (mutated in place)
    freq = list(words.values())
    pair_count = collections.defaultdict(int)
    where = collections.defaultdict(set)    # pair -> indices of words containing it
    for i, s in enumerate(seqs):
        for a, b in zip(s, s[1:]):
            pair_count[(a, b)] += freq[i]
            where[(a, b)].add(i)
    # max-heap on count, then the smallest pair; stale entries are skipped on pop
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        negc, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -negc or negc == 0:
            continue  # stale entry
        merges.append(pair)
        a, b = pair
        new = a + b
        changed = set()
        for i in sorted(where.pop(pair, ())):
            s, f = seqs[i], freq[i]
            if len(s) < 2:
                continue
            # remove this word's old pair counts, merge, add the new ones
            for p in zip(s, s[1:]):
                pair_count[p] -= f
                changed.add(p)
            out, j = [], 0
            while j < len(s):
                if j + 1 < len(s) and s[j] == a and s[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            seqs[i] = out
            for p in zip(out, out[1:]):
                pair_count[p] += f
                where[p].add(i)
                changed.add(p)
        pair_count.pop(pair, None)
        for p in changed:
            c = pair_count.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            else:
                pair_count.pop(p, None)
    return merges


def tokenizer_json(merges, vocab_size):
    """The tokenizer.json document, laid out like GPT-NeoX's."""
    b2u = bytes_to_unicode()
    vocab = {EOT: 0}
    for ch in b2u.values():  # insertion order = bytes_to_unicode order
        vocab[ch] = len(vocab)
    merge_strs = []
    for a, b in merges:
        if len(vocab) >= vocab_size:
            break
        merge_strs.append(a + " " + b)
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": 0, "special": True, "content": EOT, "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False}],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": dict(bl),
        "post_processor": dict(bl),
        "decoder": dict(bl),
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "vocab": vocab, "merges": merge_strs},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("train", nargs="+", help="UTF-8 training text files")
    ap.add_argument("--vocab-size", type=int, default=4096, help="total ids including <|endoftext|> and the 256 bytes")
    ap.add_argument("--out", required=True, help="output tokenizer.json path")
    args = ap.parse_args()
    if args.vocab_size < 258:
        sys.exit("train_bpe.py: error: --vocab-size must be at least 258")
    texts = []
    for path in args.train:
        try:
            with open(path, encoding="utf-8") as f:
                texts.append(f.read())
        except (OSError, UnicodeDecodeError) as e:
            sys.exit("train_bpe.py: error: cannot read %s: %s" % (path, e))
    words = count_pretokens(texts)
    print("distinct pre-tokens: %d" % len(words), file=sys.stderr)
    # a few extra merges in case some produce a token already in the vocab
    merges = train(words, args.vocab_size - 257 + 64)
    doc = tokenizer_json(merges, args.vocab_size)
    n = len(doc["model"]["vocab"])
    if n < args.vocab_size:
        print("note: text supports only %d ids" % n, file=sys.stderr)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=True, indent=2)  # \uXXXX escapes, as in GPT-NeoX's file
        f.write("\n")
    print("wrote %s: %d ids, %d merges" % (args.out, n, len(doc["model"]["merges"])), file=sys.stderr)


if __name__ == "__main__":
    main()
