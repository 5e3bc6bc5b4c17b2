#!/usr/bin/env python3
"""Pack a Hugging Face byte-level BPE tokenizer.json into the tokenizer section
of a .mamba file (see the TOKENIZER part of mamba.h and docs/format.md).

    pack_tokenizer(path_to_tokenizer_json) -> bytes

The C side reads the section in place (zero-copy, no heap), so everything it
needs is computed here, once:

  * the exact bytes of every id (what the ByteLevel decoder would print);
  * the id of each of the 256 single bytes (where BPE starts from);
  * every merge (left id, right id) -> (rank, merged id), sorted by the pair
    so the C side can binary-search it;
  * the added tokens (e.g. <|endoftext|> and the runs of spaces), longest
    first, with the content that is matched against the text;
  * Unicode tables from Python's unicodedata: the character class the
    pre-tokenizer regex needs (letter / number / white space / other), the
    canonical combining classes, full canonical decompositions and the
    canonical composition pairs -- together exactly what NFC needs.

Only the family of tokenizers that the C code implements is accepted
(NFC or no normaliser, ByteLevel pre-tokenizer with the GPT-2 regex and no
prefix space, plain BPE): anything else is refused with a one-line error
rather than packed into something that would encode differently.

Layout (all integers little-endian u32, offsets from the start of the
section, every array 4-byte aligned):

  off  field
    0  magic "MAMBATOK"
    8  version (1)
   12  header_bytes (128)
   16  total_bytes of the section
   20  flags: bit 0 = NFC normaliser
   24  n_vocab           number of ids (max id + 1)
   28  n_merges
   32  n_added
   36  n_class           class ranges
   40  n_ccc             combining-class ranges
   44  n_decomp          decomposition entries
   48  n_decomp_pool     code points in the decomposition pool
   52  n_comp            composition pairs
   56  token_blob_bytes
   60  added_blob_bytes
   64  max_token_bytes   longest token byte string
   68  off_tok_offsets   u32[n_vocab + 1], non-decreasing, last = token_blob_bytes
   72  off_tok_blob      bytes of every token, back to back
   76  off_byte_ids      u32[256]: id of the single byte b, 0xFFFFFFFF if none
   80  off_merges        n_merges x {left, right, rank, result}, sorted by (left, right)
   84  off_added         n_added x {id, flags (bit 0 normalized, bit 1 special), blob offset, length},
                         sorted by length, longest first
   88  off_added_blob
   92  off_class         u32[n_class]: start << 8 | class (0 other, 1 letter, 2 number, 3 space),
                         starts strictly increasing, first start 0
   96  off_ccc           u32[n_ccc]: start << 8 | combining class, same rules
  100  off_decomp        n_decomp x {code point, pool offset << 3 | length (1..4)}, sorted by code point
  104  off_decomp_pool   u32[n_decomp_pool]
  108  off_comp          n_comp x {first, second, composite}, sorted by (first, second)
  112  reserved (16 bytes of zero)
"""
import argparse
import json
import struct
import sys
import unicodedata

MAGIC = b"MAMBATOK"
VERSION = 1
HEADER_BYTES = 128

# Unicode's White_Space property: what Oniguruma's \s matches in the Hugging
# Face regex. (Python's str.isspace() differs: it also takes U+001C..U+001F.)
WHITE_SPACE = ([c for c in range(0x09, 0x0E)] + [0x20, 0x85, 0xA0, 0x1680]
               + list(range(0x2000, 0x200B)) + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])

SBASE, SCOUNT = 0xAC00, 11172  # Hangul syllables: handled by formula in C

# Hugging Face's tokenizers does not use one Unicode version throughout, and
# Python 3.11's unicodedata (Unicode 14.0.0) is neither of them. These three
# corrections were measured by running every code point through the
# reference (tokenizers 0.23.2) and are what makes the tables match it:
#
# 1. The regex engine (Oniguruma) knows Unicode 16.0: letters (1) and numbers
#    (2) assigned in Unicode 15.0 .. 16.0, unknown to Python 3.11.
ONIG_NEWER_CLASSES = [
    (0x1C89, 0x1C8A, 1), (0xA7CB, 0xA7CD, 1), (0xA7DA, 0xA7DC, 1), (0x105C0, 0x105F3, 1),
    (0x10D40, 0x10D49, 2), (0x10D4A, 0x10D65, 1), (0x10D6F, 0x10D85, 1), (0x10EC2, 0x10EC4, 1),
    (0x1123F, 0x11240, 1), (0x11380, 0x11389, 1), (0x1138B, 0x1138B, 1), (0x1138E, 0x1138E, 1),
    (0x11390, 0x113B5, 1), (0x113B7, 0x113B7, 1), (0x113D1, 0x113D1, 1), (0x113D3, 0x113D3, 1),
    (0x116D0, 0x116E3, 2), (0x11BC0, 0x11BE0, 1), (0x11BF0, 0x11BF9, 2), (0x11F02, 0x11F02, 1),
    (0x11F04, 0x11F10, 1), (0x11F12, 0x11F33, 1), (0x11F50, 0x11F59, 2), (0x1342F, 0x1342F, 1),
    (0x13441, 0x13446, 1), (0x13460, 0x143FA, 1), (0x16100, 0x1611D, 1), (0x16130, 0x16139, 2),
    (0x16D40, 0x16D6C, 1), (0x16D70, 0x16D79, 2), (0x18CFF, 0x18CFF, 1), (0x1B132, 0x1B132, 1),
    (0x1B155, 0x1B155, 1), (0x1CCF0, 0x1CCF9, 2), (0x1D2C0, 0x1D2D3, 2), (0x1DF25, 0x1DF2A, 1),
    (0x1E030, 0x1E06D, 1), (0x1E4D0, 0x1E4EB, 1), (0x1E4F0, 0x1E4F9, 2), (0x1E5D0, 0x1E5ED, 1),
    (0x1E5F0, 0x1E5F0, 1), (0x1E5F1, 0x1E5FA, 2), (0x2B739, 0x2B739, 1), (0x2EBF0, 0x2EE5D, 1),
    (0x31350, 0x323AF, 1),
]
# 2. The NFC normaliser's data is Unicode 9.0: combining marks assigned
#    later have combining class 0 there (they block, and are not reordered).
NFC_OLD_CCC_ZERO = [
    (0x7FD, 0x7FD), (0x898, 0x89F), (0x8CA, 0x8D3), (0x9FE, 0x9FE), (0xC3C, 0xC3C), (0xD3B, 0xD3C),
    (0xEBA, 0xEBA), (0x1715, 0x1715), (0x1ABF, 0x1ACE), (0x1DF6, 0x1DFA), (0xA82C, 0xA82C),
    (0x10D24, 0x10D27), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50), (0x10F82, 0x10F85), (0x11070, 0x11070),
    (0x1133B, 0x1133B), (0x1145E, 0x1145E), (0x11839, 0x1183A), (0x1193D, 0x1193E), (0x11943, 0x11943),
    (0x119E0, 0x119E0), (0x11A34, 0x11A34), (0x11A47, 0x11A47), (0x11A99, 0x11A99), (0x11D42, 0x11D42),
    (0x11D44, 0x11D45), (0x11D97, 0x11D97), (0x16FF0, 0x16FF1), (0x1E130, 0x1E136), (0x1E2AE, 0x1E2AE),
    (0x1E2EC, 0x1E2EF),
]
# 3. ... and the one canonical decomposition added since (Unicode 13.0,
#    DIVES AKURU VOWEL SIGN O) is unknown to it.
NFC_OLD_NO_DECOMPOSITION = {0x11938}
PYTHON_UNICODE = "14.0.0"  # the version the corrections above were measured against


class PackError(Exception):
    pass


def bytes_to_unicode():
    """GPT-2's byte <-> printable character map: printable Latin-1 bytes map to
    themselves, the other 68 bytes to U+0100 and up, in byte order."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
            + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def char_class(cp):
    if cp in WHITE_SPACE_SET:
        return 3
    for lo, hi, cls in ONIG_NEWER_CLASSES:
        if lo <= cp <= hi:
            return cls
    cat = unicodedata.category(chr(cp))
    if cat[0] == "L":
        return 1
    if cat[0] == "N":
        return 2
    return 0


WHITE_SPACE_SET = set(WHITE_SPACE)


def ranges(fn):
    """Run-length ranges [start, next start) of fn over all code points."""
    out, prev = [], None
    for cp in range(0x110000):
        v = fn(cp)
        if v != prev:
            out.append((cp << 8) | v)
            prev = v
    return out


def full_decomposition(cp):
    """Full (recursive) canonical decomposition; [cp] if none."""
    d = unicodedata.decomposition(chr(cp))
    if not d or d.startswith("<"):
        return [cp]
    out = []
    for h in d.split():
        out += full_decomposition(int(h, 16))
    return out


def unicode_tables():
    old_zero = set()
    for lo, hi in NFC_OLD_CCC_ZERO:
        old_zero.update(range(lo, hi + 1))
    cls = ranges(char_class)
    ccc = ranges(lambda cp: 0 if cp in old_zero else unicodedata.combining(chr(cp)))
    decomp, pool, comp = [], [], []
    for cp in range(0x110000):
        if SBASE <= cp < SBASE + SCOUNT or 0xD800 <= cp < 0xE000 or cp in NFC_OLD_NO_DECOMPOSITION:
            continue
        f = full_decomposition(cp)
        if f != [cp]:
            decomp.append((cp, (len(pool) << 3) | len(f)))
            pool += f
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<"):
            parts = [int(h, 16) for h in d.split()]
            # A pair composes back unless it is a composition exclusion or a
            # non-starter decomposition; NFC of the character itself says so.
            if len(parts) == 2 and unicodedata.normalize("NFC", chr(cp)) == chr(cp):
                comp.append((parts[0], parts[1], cp))
    comp.sort()
    return cls, ccc, decomp, pool, comp


def check_config(tj):
    norm = tj.get("normalizer")
    if norm is None:
        nfc = False
    elif norm.get("type") == "NFC":
        nfc = True
    else:
        raise PackError("unsupported normalizer %r (only NFC or none)" % norm.get("type"))
    pre = tj.get("pre_tokenizer") or {}
    if pre.get("type") != "ByteLevel":
        raise PackError("unsupported pre_tokenizer %r (only ByteLevel)" % pre.get("type"))
    if pre.get("add_prefix_space", True):
        raise PackError("ByteLevel add_prefix_space=true is not supported")
    if not pre.get("use_regex", True):
        raise PackError("ByteLevel use_regex=false is not supported")
    model = tj.get("model") or {}
    if model.get("type", "BPE") != "BPE":
        raise PackError("unsupported model %r (only BPE)" % model.get("type"))
    for key in ("dropout", "continuing_subword_prefix", "end_of_word_suffix", "unk_token"):
        if model.get(key) not in (None, ""):
            raise PackError("BPE %s=%r is not supported" % (key, model.get(key)))
    for key in ("byte_fallback", "ignore_merges"):
        if model.get(key):
            raise PackError("BPE %s=true is not supported" % key)
    dec = tj.get("decoder")
    if dec is not None and dec.get("type") != "ByteLevel":
        raise PackError("unsupported decoder %r (only ByteLevel)" % dec.get("type"))
    return nfc


def pack_tokenizer(path):
    """Read tokenizer.json at path and return the packed section as bytes."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            tj = json.load(f)
    except (OSError, ValueError) as e:
        raise PackError("cannot read %s: %s" % (path, e))
    nfc = check_config(tj)
    if unicodedata.unidata_version != PYTHON_UNICODE:
        raise PackError("this Python's Unicode data is %s; the tables are calibrated for %s (use Python 3.11, "
                        "e.g. /usr/bin/python3 on Debian 12)" % (unicodedata.unidata_version, PYTHON_UNICODE))
    model = tj["model"]
    vocab = model["vocab"]
    added = tj.get("added_tokens") or []

    byte_map = bytes_to_unicode()
    char_to_byte = {c: b for b, c in byte_map.items()}

    # Strings of every id: added tokens win over the model vocabulary, as in
    # Hugging Face's id_to_token.
    id_str = {}
    for s, i in vocab.items():
        id_str[i] = s
    # Hugging Face ignores the "id" of an added token when it loads the file
    # (it only warns): a token whose content is in the model vocabulary gets
    # that id, any other the next id after everything seen so far, in list
    # order. We assign them the same way.
    added_id = {}
    next_id = len(vocab)  # (sic: the size, even when the model ids have gaps)
    for a in added:
        for flag in ("single_word", "lstrip", "rstrip"):
            if a.get(flag):
                raise PackError("added token %r has %s=true (not supported)" % (a["content"], flag))
        if a["content"] == "":
            raise PackError("added token with empty content")
        c = a["content"]
        if c in vocab:
            added_id[c] = vocab[c]
        elif c not in added_id:
            added_id[c] = next_id
            next_id += 1
        if added_id[c] != a.get("id", added_id[c]):
            print("tokpack: warning: added token %r has id %d in the file; Hugging Face gives it %d"
                  % (c, a["id"], added_id[c]), file=sys.stderr)
        if added_id[c] in id_str and id_str[added_id[c]] != c:
            raise PackError("added token %r gets id %d, which the model vocabulary already uses for %r"
                            % (c, added_id[c], id_str[added_id[c]]))
        # a normalized token is stored (and so decoded) in normalized form
        if a.get("normalized", not a.get("special", False)) and check_config(tj):
            c = unicodedata.normalize("NFC", c)
        id_str[added_id[a["content"]]] = c
    if not id_str or min(id_str) < 0:
        raise PackError("empty vocabulary or negative id")
    n_vocab = max(id_str) + 1

    # The bytes an id decodes to: the ByteLevel decoder maps each character
    # back to its byte; a token with a character outside the map (e.g. an
    # added token made of real spaces) is taken as its raw UTF-8.
    tok_bytes = []
    for i in range(n_vocab):
        s = id_str.get(i, "")
        if all(c in char_to_byte for c in s):
            tok_bytes.append(bytes(char_to_byte[c] for c in s))
        else:
            tok_bytes.append(s.encode("utf-8"))

    byte_ids = [vocab.get(byte_map[b], 0xFFFFFFFF) for b in range(256)]

    merges = []
    for rank, m in enumerate(model.get("merges") or []):
        if isinstance(m, str):
            parts = m.split(" ")
        else:
            parts = list(m)
        if len(parts) != 2:
            raise PackError("malformed merge %r" % (m,))
        a, b = parts
        if a not in vocab or b not in vocab or (a + b) not in vocab:
            raise PackError("merge %r uses a token outside the vocabulary" % (m,))
        merges.append((vocab[a], vocab[b], rank, vocab[a + b]))
    merges.sort(key=lambda t: (t[0], t[1], t[2]))
    # A pair listed twice: Hugging Face keeps the later entry's rank in its
    # map; keep one entry per pair, the same way.
    dedup = {}
    for a, b, r, res in sorted(merges, key=lambda t: t[2]):
        dedup[(a, b)] = (r, res)
    merges = sorted((a, b, r, res) for (a, b), (r, res) in dedup.items())

    added_entries, added_blob = [], b""
    for a in added:
        content = a["content"]
        normalized = bool(a.get("normalized", not a.get("special", False)))
        if normalized and nfc:
            content = unicodedata.normalize("NFC", content)
        data = content.encode("utf-8")
        flags = (1 if normalized else 0) | (2 if a.get("special") else 0)
        added_entries.append((added_id[a["content"]], flags, len(added_blob), len(data)))
        added_blob += data
    # Longest first (ties: by id) so that the first hit at a position is the
    # leftmost-longest match Hugging Face's Aho-Corasick automaton finds.
    added_entries.sort(key=lambda t: (-t[3], t[0]))

    cls, ccc, decomp, pool, comp = unicode_tables()

    blob = b"".join(tok_bytes)
    offsets = [0]
    for t in tok_bytes:
        offsets.append(offsets[-1] + len(t))

    def u32s(seq):
        return struct.pack("<%dI" % len(seq), *seq)

    def flat(rows):
        return [x for r in rows for x in r]

    parts = [
        u32s(offsets), blob, u32s(byte_ids), u32s(flat(merges)), u32s(flat(added_entries)),
        added_blob, u32s(cls), u32s(ccc), u32s(flat(decomp)), u32s(pool), u32s(flat(comp)),
    ]
    body, offs, pos = b"", [], HEADER_BYTES
    for p in parts:
        offs.append(pos)
        pad = (-len(p)) % 4
        body += p + b"\0" * pad
        pos += len(p) + pad
    total = HEADER_BYTES + len(body)
    header = MAGIC + struct.pack(
        "<17I", VERSION, HEADER_BYTES, total, 1 if nfc else 0, n_vocab, len(merges),
        len(added_entries), len(cls), len(ccc), len(decomp), len(pool), len(comp), len(blob),
        len(added_blob), max(len(t) for t in tok_bytes), *offs[:2])
    header += u32s(offs[2:])
    header += b"\0" * (HEADER_BYTES - len(header))
    assert len(header) == HEADER_BYTES
    return header + body


def main():
    ap = argparse.ArgumentParser(description="Pack a byte-level BPE tokenizer.json into a mamba.h tokenizer section.")
    ap.add_argument("tokenizer_json")
    ap.add_argument("output", help="file to write the raw section to")
    args = ap.parse_args()
    try:
        data = pack_tokenizer(args.tokenizer_json)
    except PackError as e:
        sys.exit("tokpack: error: %s" % e)
    with open(args.output, "wb") as f:
        f.write(data)
    print("tokpack: wrote %s (%d bytes)" % (args.output, len(data)))


if __name__ == "__main__":
    main()
