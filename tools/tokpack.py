#!/usr/bin/env python3
"""Pack a Hugging Face BPE tokenizer.json into the tokenizer section of a
.mamba file (see the TOKENIZER part of mamba.h and docs/format.md).

    pack_tokenizer(path_to_tokenizer_json) -> bytes

Two designs are accepted, exactly as Hugging Face's `tokenizers` runs them:

  * byte-level BPE (GPT-2, GPT-NeoX, GPT-4/cl100k, Llama-3, Qwen2/3): NFC or
    no normaliser; a ByteLevel pre-tokenizer with the GPT-2 regex, or a Split
    with any regex made of the constructs below followed by ByteLevel
    (use_regex false); BPE on bytes; ByteLevel decoder.
  * SentencePiece-style BPE (Llama-2, Mistral v1/v3, Zamba2, Codestral):
    a Prepend("▁") + Replace(" " -> "▁") normaliser or a Metaspace
    pre-tokenizer; BPE on characters with byte_fallback (<0x00>..<0xFF>),
    unk and fuse_unk; the Replace/ByteFallback/Fuse/Strip (or Metaspace)
    decoder.
Both with special and non-special added tokens (matched in the text with a
byte trie), and the BOS/EOS ids and template. Anything else (a Unigram or
WordPiece model, a normaliser or regex construct not listed) is refused with a
one-line error naming it, rather than packed into something that would
encode differently.

The C side reads the section in place (zero-copy, no heap), so everything it
needs is computed here, once:

  * the exact bytes every id decodes to (the ByteLevel decoder's byte map and
    the "▁" -> " " of the Replace decoder undone here), and which ids are
    byte-fallback tokens (<0xNN>, one raw byte each);
  * the id of each single byte (byte-level: where BPE starts; SentencePiece:
    the fallback), and for SentencePiece the id of every one-character piece;
  * every merge (left id, right id) -> (rank, merged id), sorted by pair;
  * the added tokens, and two byte tries over them (raw text / normalized
    text) in breadth-first order;
  * the pre-tokenizer regex compiled into a small program (see
    compile_regex): character sets over the Unicode classes letter /
    number / white space plus literal code points, and alternatives made of
    greedy repeats of one set, or a one-character negative lookahead;
  * Unicode tables from Python's unicodedata: the character classes, the
    canonical combining classes, decompositions and compositions (NFC).

Layout version 2 (all integers little-endian u32, offsets from the start of
the section, every array 4-byte aligned; version 1 is the first 112 bytes of
this header with header_bytes 128, GPT-2's regex and no trie, and mamba.h
still reads it):

  off  field
    0  magic "MAMBATOK"
    8  version (2)
   12  header_bytes (256)
   16  total_bytes of the section
   20  flags: bit 0 NFC normaliser, 1 SentencePiece-style (BPE on characters,
       " " and "▁" are one character), 2 byte_fallback, 3 fuse_unk,
       4 the decoder strips one leading space, 5 Metaspace split (a word
       starts at each "▁"), 6 the template adds BOS, 7 the template adds
       EOS, 8 text the regex does not match is dropped (Split "Removed"
       inverted) rather than kept as a piece ("Isolated")
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
   76  off_byte_ids      u32[256]: id of the single byte b (byte-level) or of
                         its <0xNN> token (SentencePiece), 0xFFFFFFFF if none
   80  off_merges        n_merges x {left, right, rank, result}, sorted by (left, right)
   84  off_added         n_added x {id, flags (bit 0 normalized, bit 1 special), blob offset, length}
   88  off_added_blob
   92  off_class         u32[n_class]: start << 8 | class (0 other, 1 letter, 2 number, 3 space),
                         starts strictly increasing, first start 0
   96  off_ccc           u32[n_ccc]: start << 8 | combining class, same rules
  100  off_decomp        n_decomp x {code point, pool offset << 3 | length (1..4)}, sorted by code point
  104  off_decomp_pool   u32[n_decomp_pool]
  108  off_comp          n_comp x {first, second, composite}, sorted by (first, second)
  112  unk_id            0xFFFFFFFF if none
  116  bos_id            0xFFFFFFFF if none
  120  eos_id            0xFFFFFFFF if none
  124  prepend           "▁" before a piece: 0 never, 1 every non-empty piece
                         between raw added tokens (Prepend normaliser), 2 every
                         piece not starting with "▁" (Metaspace "always"), 3 the
                         same, only the piece at the start of the text ("first")
  128  n_chars
  132  off_chars         n_chars x {code point, id}: the one-character pieces
                         (SentencePiece), sorted by code point, "▁" stored as " "
  136  off_byte_tok      bitset of n_vocab bits: ids that decode as one raw byte
                         (byte-fallback tokens, ByteFallback decoder)
  140  n_nodes           trie nodes, node 0 the root for raw text, 1 for normalized
  144  off_nodes         n_nodes x {first edge, n_edges, added index or 0xFFFFFFFF}
  148  n_edges
  152  off_edges         u32[n_edges]: byte << 24 | child node; a node's edges are
                         sorted by byte; breadth-first order, so edge k leads to node k + 2
  156  max_added_bytes   longest added token (UTF-8 bytes)
  160  n_sets
  164  off_sets          n_sets x {bit 0 negated | class mask << 8, literal offset, literal count}
  168  n_lits
  172  off_lits          u32[n_lits] code points
  176  n_alts
  180  off_alts          n_alts x {first item, item count}: the regex, alternatives in order
  184  n_items
  188  off_items         n_items x {set, min, max (0xFFFFFFFF = no limit), kind (0 repeat,
                         1 negative lookahead of one character)}
  192  n_hash            slots of the merge hash: a power of two (0: binary search only)
  196  off_hash          u32[n_hash]: merge index or 0xFFFFFFFF, linear probing from
                         merge_hash(left, right) & (n_hash - 1)
  200  max_probe         the longest probe any merge needs (lookups stop after it)
  204  reserved (52 bytes of zero)
"""
import argparse
import json
import os
import struct
import sys
import unicodedata

MAGIC = b"MAMBATOK"

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


NONE = 0xFFFFFFFF
VERSION = 2
HEADER_BYTES = 256
MAX_ADDED_BYTES = 1024   # mamba.h refuses longer added tokens (the trie walk is bounded by it)
MAX_ITEMS = 8            # items in one regex alternative (mamba.h's bound)
SPACE_MARK = "\u2581"    # SentencePiece's visible space

F_NFC, F_SP, F_BYTE_FALLBACK, F_FUSE_UNK, F_STRIP, F_META_SPLIT, F_BOS, F_EOS, F_GAPS_DROPPED = (
    1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8)

CLASS_OTHER, CLASS_LETTER, CLASS_NUMBER, CLASS_SPACE = 0, 1, 2, 3

# The GPT-2 pre-tokenizer regex that ByteLevel(use_regex=true) applies.
GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


# ---- the regex compiler ------------------------------------------------------
#
# Why a program and not one splitter per model: the split regexes of these
# tokenizers (GPT-2, cl100k/Llama-3, Qwen2/3, and their relatives) are all
# alternatives of greedy repeats of one character set, plus `\s+(?!\S)`.
# Compiled to that form, one small matcher in C runs all of them, a new model
# with a variant regex needs no new C, and a regex outside the form is refused
# here by name. A set is a class mask over the four classes the section's
# table already gives each code point, plus a few literal code points, so a
# set test is a mask test and (rarely) a short literal scan.

class Regex:
    """Recursive-descent parser for the regex subset; produces alternatives,
    each a list of items (set, min, max, kind)."""

    def __init__(self, src):
        self.s, self.i = src, 0

    def fail(self, what):
        raise PackError("unsupported regex construct %s at offset %d of %r" % (what, self.i, self.s))

    def peek(self, k=0):
        return self.s[self.i + k] if self.i + k < len(self.s) else ""

    def eat(self, t):
        if self.s.startswith(t, self.i):
            self.i += len(t)
            return True
        return False

    def parse(self):
        alts = self.alternatives(False)
        if self.i != len(self.s):
            self.fail(repr(self.peek()))
        return alts

    def alternatives(self, icase):
        alts = [self.sequence(icase)]
        while self.eat("|"):
            alts.append(self.sequence(icase))
        return alts

    def sequence(self, icase):
        items = []
        while self.peek() not in ("", "|", ")"):
            if self.eat("(?i:"):
                # only as a whole alternative: a case-insensitive group of alternatives
                if items:
                    self.fail("'(?i:' inside an alternative")
                inner = self.alternatives(True)
                if not self.eat(")"):
                    self.fail("unclosed group")
                if self.peek() not in ("", "|"):
                    self.fail("a group followed by more items")
                return ("group", inner)
            if self.eat("(?!"):
                st = self.atom(icase)
                if not self.eat(")"):
                    self.fail("a lookahead of more than one character class")
                items.append((st, 1, 1, 1))
                continue
            if self.peek() in ("(", "^", "$", "."):
                self.fail(repr(self.peek()))
            st = self.atom(icase)
            lo, hi = self.quantifier()
            items.append((st, lo, hi, 0))
        return ("seq", items)

    def quantifier(self):
        c = self.peek()
        lo, hi = 1, 1
        if c == "?":
            self.i += 1; lo, hi = 0, 1
        elif c == "+":
            self.i += 1; lo, hi = 1, NONE
        elif c == "*":
            self.i += 1; lo, hi = 0, NONE
        elif c == "{":
            j = self.s.find("}", self.i)
            if j < 0:
                self.fail("'{'")
            body = self.s[self.i + 1:j]
            try:
                if "," in body:
                    a, b = body.split(",", 1)
                    lo, hi = int(a), (int(b) if b else NONE)
                else:
                    lo = hi = int(body)
            except ValueError:
                self.fail("quantifier {%s}" % body)
            if lo > hi or hi == 0:
                self.fail("quantifier {%s}" % body)
            self.i = j + 1
        else:
            return lo, hi
        if self.peek() in ("?", "+"):
            self.fail("lazy or possessive quantifier")
        return lo, hi

    def escape(self, in_class):
        """After a backslash: (negate, mask, literals)."""
        c = self.peek()
        self.i += 1
        simple = {"r": "\r", "n": "\n", "t": "\t", "f": "\f", "v": "\v"}
        if c in simple:
            return (False, 0, {ord(simple[c])})
        if c == "s":
            return (False, 1 << CLASS_SPACE, set())
        if c == "S":
            return (True, 1 << CLASS_SPACE, set())
        if c in ("p", "P"):
            m = {"{L}": CLASS_LETTER, "{N}": CLASS_NUMBER, "L": CLASS_LETTER, "N": CLASS_NUMBER}
            for k, v in m.items():
                if self.s.startswith(k, self.i):
                    self.i += len(k)
                    return (c == "P", 1 << v, set())
            self.fail("\\%s%s" % (c, self.s[self.i:self.i + 4]))
        if c and not c.isalnum():
            return (False, 0, {ord(c)})
        self.i -= 1
        self.fail("escape \\%s" % c)

    def atom(self, icase):
        c = self.peek()
        if c == "":
            self.fail("end of pattern")
        if c == "[":
            self.i += 1
            neg = self.eat("^")
            mask, lits = 0, set()
            first = True
            while first or self.peek() != "]":
                first = False
                if self.peek() == "":
                    self.fail("unclosed '['")
                if self.eat("\\"):
                    n, m, l = self.escape(True)
                    if n:
                        self.fail("a negated class inside '[...]'")
                    mask |= m
                    lits |= l
                else:
                    ch = self.peek()
                    if ch == "[":
                        self.fail("nested '['")
                    self.i += 1
                    if self.peek() == "-" and self.peek(1) not in ("]", ""):
                        self.i += 1
                        hi = self.peek()
                        self.i += 1
                        if ord(hi) < ord(ch) or ord(hi) - ord(ch) > 256:
                            self.fail("range %s-%s" % (ch, hi))
                        lits |= set(range(ord(ch), ord(hi) + 1))
                    else:
                        lits.add(ord(ch))
            self.i += 1
            if icase:
                lits = set().union(*[case_variants(x) for x in lits]) if lits else lits
            return (neg, mask, lits)
        if c == "\\":
            self.i += 1
            n, m, l = self.escape(False)
        else:
            if c in "()|*+?{}":
                self.fail(repr(c))
            self.i += 1
            n, m, l = False, 0, {ord(c)}
        if icase and l:
            l = set().union(*[case_variants(x) for x in l])
        return (n, m, l)


_FOLD = {}


def case_variants(cp):
    """Code points equal to cp under simple Unicode case folding (what a
    case-insensitive regex engine matches): 's' -> {s, S, U+017F long s}."""
    if not _FOLD:
        for x in range(0x110000):
            if 0xD800 <= x < 0xE000:
                continue
            f = chr(x).casefold()
            if len(f) == 1:
                _FOLD.setdefault(f, set()).add(x)
    f = chr(cp).casefold()
    return set(_FOLD.get(f, {cp})) | {cp} if len(f) == 1 else {cp}


def compile_regex(src):
    """The regex as (sets, alternatives): sets = [(negate, mask, sorted literals)],
    alternatives = [[(set index, min, max, kind), ...], ...]."""
    parsed = Regex(src).parse()
    sets, alts = [], []

    def set_index(st):
        key = (bool(st[0]), st[1], tuple(sorted(st[2])))
        if key not in sets:
            sets.append(key)
        return sets.index(key)

    def add(seq):
        items = [(set_index(st), lo, hi, kind) for st, lo, hi, kind in seq]
        if not items or len(items) > MAX_ITEMS:
            raise PackError("regex alternative with %d items (1..%d supported): %r" % (len(items), MAX_ITEMS, src))
        if all(kind == 1 or lo == 0 for _, lo, _, kind in items):
            raise PackError("regex alternative that can match the empty string: %r" % src)
        alts.append(items)

    for kind, body in parsed:
        if kind == "group":
            for k2, b2 in body:
                if k2 != "seq":
                    raise PackError("nested group in %r" % src)
                add(b2)
        else:
            add(body)
    return sets, alts


# ---- the configuration ---------------------------------------------------------

def _type(x):
    return (x or {}).get("type")


def _parts(x, key):
    if x is None:
        return []
    if x.get("type") == "Sequence":
        return list(x.get(key) or [])
    return [x]


def check_config(tj):
    """Which design tj is, as a dict of what the C side needs; PackError
    naming the first unsupported part otherwise."""
    cfg = {"flags": 0, "prepend": 0, "regex": None, "sp": False, "byte_level": False,
           "byte_fallback_decoder": False, "replace_decoder": False}
    model = tj.get("model") or {}
    if model.get("type", "BPE") != "BPE":
        raise PackError("unsupported model %r (only BPE)" % model.get("type"))
    for key in ("dropout", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key) not in (None, ""):
            raise PackError("BPE %s=%r is not supported" % (key, model.get(key)))
    if model.get("ignore_merges"):
        raise PackError("BPE ignore_merges=true is not supported")
    # normaliser: NFC, Prepend("▁"), Replace(" " -> "▁"), in a Sequence
    replace_norm = False
    for n in _parts(tj.get("normalizer"), "normalizers"):
        t = _type(n)
        if t == "NFC":
            cfg["flags"] |= F_NFC
        elif t == "Prepend" and n.get("prepend") == SPACE_MARK:
            cfg["prepend"] = 1
            cfg["sp"] = True
        elif t == "Replace" and (n.get("pattern") or {}).get("String") == " " and n.get("content") == SPACE_MARK:
            replace_norm = True
            cfg["sp"] = True
        else:
            raise PackError("unsupported normalizer %r%s" % (t, "" if t not in ("Prepend", "Replace") else
                                                           " (only Prepend '\u2581' and Replace ' ' -> '\u2581')"))
    # pre-tokenizer: ByteLevel (GPT-2 regex), Split + ByteLevel, Metaspace
    pres = _parts(tj.get("pre_tokenizer"), "pretokenizers")
    for k, p in enumerate(pres):
        t = _type(p)
        if t == "ByteLevel":
            if p.get("add_prefix_space", True):
                raise PackError("ByteLevel add_prefix_space=true is not supported")
            if k != len(pres) - 1:
                raise PackError("a pre-tokenizer after ByteLevel is not supported")
            cfg["byte_level"] = True
            if p.get("use_regex", True):
                if cfg["regex"] is not None:
                    raise PackError("Split followed by ByteLevel(use_regex=true) is not supported")
                cfg["regex"] = GPT2_REGEX
        elif t == "Split":
            pat = p.get("pattern") or {}
            if "Regex" not in pat:
                raise PackError("Split on a plain string is not supported")
            if cfg["regex"] is not None or k != 0:
                raise PackError("more than one Split is not supported")
            beh, inv = p.get("behavior"), bool(p.get("invert"))
            if beh == "Isolated" and not inv:
                pass
            elif beh == "Removed" and inv:
                cfg["flags"] |= F_GAPS_DROPPED
            else:
                raise PackError("Split behavior %r invert=%r is not supported (only Isolated, or Removed inverted)"
                                % (beh, inv))
            cfg["regex"] = pat["Regex"]
        elif t == "Metaspace":
            if p.get("replacement", SPACE_MARK) != SPACE_MARK:
                raise PackError("Metaspace replacement %r is not supported" % p.get("replacement"))
            scheme = p.get("prepend_scheme")
            if scheme is None:
                scheme = "always" if p.get("add_prefix_space", True) else "never"
            if scheme not in ("always", "first", "never"):
                raise PackError("Metaspace prepend_scheme %r is not supported" % scheme)
            cfg["prepend"] = {"never": 0, "always": 2, "first": 3}[scheme]
            if p.get("split", True):
                cfg["flags"] |= F_META_SPLIT
            cfg["sp"] = True
            replace_norm = True
        else:
            raise PackError("unsupported pre_tokenizer %r" % t)
    if cfg["sp"] and cfg["byte_level"]:
        raise PackError("a SentencePiece normaliser together with ByteLevel is not supported")
    if cfg["regex"] is not None and not cfg["byte_level"]:
        raise PackError("Split without ByteLevel is not supported")
    if not cfg["sp"] and not cfg["byte_level"]:
        raise PackError("unsupported pre_tokenizer %r (need ByteLevel, or a SentencePiece normaliser/Metaspace)"
                        % _type(tj.get("pre_tokenizer")))
    if cfg["sp"] and not replace_norm:
        raise PackError("Prepend normaliser without Replace ' ' -> '\u2581' is not supported")
    if cfg["sp"]:
        cfg["flags"] |= F_SP
    if model.get("byte_fallback"):
        if not cfg["sp"]:
            raise PackError("BPE byte_fallback=true with ByteLevel is not supported")
        cfg["flags"] |= F_BYTE_FALLBACK
    if model.get("fuse_unk"):
        cfg["flags"] |= F_FUSE_UNK
    # decoder
    decs = _parts(tj.get("decoder"), "decoders")
    if cfg["byte_level"]:
        if decs and (len(decs) != 1 or _type(decs[0]) != "ByteLevel"):
            raise PackError("unsupported decoder %r for byte-level BPE (only ByteLevel)" % _type(tj.get("decoder")))
    else:
        order = []
        for d in decs:
            t = _type(d)
            if t == "Replace" and (d.get("pattern") or {}).get("String") == SPACE_MARK and d.get("content") == " ":
                cfg["replace_decoder"] = True
            elif t == "ByteFallback":
                cfg["byte_fallback_decoder"] = True
            elif t == "Fuse":
                pass
            elif t == "Strip" and d.get("content") == " " and d.get("start") == 1 and d.get("stop", 0) == 0:
                cfg["flags"] |= F_STRIP
            elif t == "Metaspace" and d.get("replacement", SPACE_MARK) == SPACE_MARK:
                cfg["replace_decoder"] = True
                scheme = d.get("prepend_scheme") or ("always" if d.get("add_prefix_space", True) else "never")
                if scheme != "never":
                    cfg["flags"] |= F_STRIP
            else:
                raise PackError("unsupported decoder %r in a SentencePiece-style tokenizer" % t)
            order.append(t)
        if not cfg["replace_decoder"]:
            raise PackError("a SentencePiece-style decoder needs Replace '\u2581' -> ' ' (or Metaspace)")
        if "Strip" in order and order.index("Strip") != len(order) - 1:
            raise PackError("a Strip decoder before other decoders is not supported")
    if cfg["regex"] is not None:
        cfg["program"] = compile_regex(cfg["regex"])
    return cfg


def template(tj, token_id):
    """(flags, bos, eos) from the post-processor."""
    pp = tj.get("post_processor")
    for p in _parts(pp, "processors"):
        t = _type(p)
        if t == "ByteLevel":
            continue
        if t != "TemplateProcessing":
            raise PackError("unsupported post_processor %r" % t)
        single = p.get("single") or []
        kinds = ["A" if "Sequence" in s else "S" for s in single]
        names = [s["SpecialToken"]["id"] for s in single if "SpecialToken" in s]
        if kinds not in (["A"], ["S", "A"], ["A", "S"], ["S", "A", "S"]):
            raise PackError("unsupported TemplateProcessing single template %r" % single)
        specials = p.get("special_tokens") or {}
        ids = []
        for n in names:
            e = specials.get(n) or {}
            i = (e.get("ids") or [token_id(n)])
            if len(i) != 1 or i[0] is None:
                raise PackError("template token %r has no single id" % n)
            ids.append(i[0])
        flags, bos, eos = 0, NONE, NONE
        if kinds[0] == "S":
            flags |= F_BOS
            bos = ids[0]
        if kinds[-1] == "S":
            flags |= F_EOS
            eos = ids[-1]
        return flags, bos, eos
    return 0, NONE, NONE


def merge_hash(left, right):
    """The slot hash of a merge pair (mamba.h's mamba__tok_hash, in u32)."""
    h = ((left * 0x9E3779B1 + right) * 0x85EBCA77) & 0xFFFFFFFF
    return h ^ (h >> 15)


def build_merge_hash(merges):
    """Open addressing over the sorted merges: (slots, max_probe). Load at
    most one half, so a probe is one or two slots."""
    n = 1
    while n < 2 * len(merges) + 2:
        n *= 2
    slots, max_probe = [NONE] * n, 0
    for i, (a, b, _, _) in enumerate(merges):
        h, k = merge_hash(a, b), 0
        while slots[(h + k) & (n - 1)] != NONE:
            k += 1
        slots[(h + k) & (n - 1)] = i
        max_probe = max(max_probe, k)
    return slots, max_probe


def _hf_byte_token(s):
    """The byte a "<0xNN>" token stands for (Hugging Face's ByteFallback
    decoder: six characters, "<0x", two hex digits, ">"), else None."""
    if len(s) == 6 and s.startswith("<0x") and s.endswith(">"):
        try:
            return int(s[3:5], 16)
        except ValueError:
            return None
    return None


def _config_ids(path, token_id):
    """bos/eos ids named by tokenizer_config.json beside tokenizer.json, if any."""
    cfg = os.path.join(os.path.dirname(os.path.abspath(path)), "tokenizer_config.json")
    out = {}
    try:
        with open(cfg, "r", encoding="utf-8") as f:
            tc = json.load(f)
    except (OSError, ValueError):
        return out
    for key in ("bos_token", "eos_token"):
        v = tc.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        if isinstance(v, str) and token_id(v) is not None:
            out[key] = token_id(v)
    return out


def build_trie(entries, contents):
    """Two byte tries (root 0: raw added tokens, root 1: normalized ones) in
    breadth-first order: returns (nodes, edges) as mamba.h reads them."""
    roots = [{}, {}]
    term = {}
    for k, (content, normalized) in enumerate(contents):
        node = roots[1 if normalized else 0]
        for b in content:
            node = node.setdefault(b, {})
        term[id(node)] = k
    order, queue = [], list(roots)
    while queue:
        node = queue.pop(0)
        order.append(node)
        for b in sorted(node):
            queue.append(node[b])
    index = {id(n): i for i, n in enumerate(order)}
    nodes, edges = [], []
    for n in order:
        nodes.append((len(edges), len(n), term.get(id(n), NONE)))
        for b in sorted(n):
            edges.append((b << 24) | index[id(n[b])])
    return nodes, edges


def pack_tokenizer(path):
    """Read tokenizer.json at path and return the packed section as bytes."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            tj = json.load(f)
    except (OSError, ValueError) as e:
        raise PackError("cannot read %s: %s" % (path, e))
    cfg = check_config(tj)
    flags, sp = cfg["flags"], cfg["sp"]
    nfc = bool(flags & F_NFC)
    if unicodedata.unidata_version != PYTHON_UNICODE:
        raise PackError("this Python's Unicode data is %s; the tables are calibrated for %s (use Python 3.11, "
                        "e.g. /usr/bin/python3 on Debian 12)" % (unicodedata.unidata_version, PYTHON_UNICODE))
    model = tj["model"]
    vocab = model["vocab"]
    if not isinstance(vocab, dict):
        raise PackError("BPE vocab is not a map")
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
        if a.get("normalized", not a.get("special", False)) and nfc:
            c = unicodedata.normalize("NFC", c)
        id_str[added_id[a["content"]]] = c
    if not id_str or min(id_str) < 0:
        raise PackError("empty vocabulary or negative id")
    n_vocab = max(id_str) + 1

    def token_id(s):
        return added_id.get(s, vocab.get(s))

    # The bytes an id decodes to. Byte-level: the ByteLevel decoder maps each
    # character back to its byte; a token with a character outside the map
    # (e.g. an added token made of real spaces) is taken as its raw UTF-8.
    # SentencePiece: "▁" -> " " (the Replace decoder), and a <0xNN> token is
    # the one byte NN (the ByteFallback decoder).
    tok_bytes, byte_tok = [], bytearray((n_vocab + 7) // 8)
    for i in range(n_vocab):
        s = id_str.get(i, "")
        if cfg["byte_level"]:
            if all(c in char_to_byte for c in s):
                tok_bytes.append(bytes(char_to_byte[c] for c in s))
            else:
                tok_bytes.append(s.encode("utf-8"))
            continue
        b = _hf_byte_token(s) if cfg["byte_fallback_decoder"] else None
        if b is not None:
            tok_bytes.append(bytes([b]))
            byte_tok[i >> 3] |= 1 << (i & 7)
        else:
            tok_bytes.append(s.replace(SPACE_MARK, " ").encode("utf-8"))

    chars = []
    if cfg["byte_level"]:
        byte_ids = [vocab.get(byte_map[b], NONE) for b in range(256)]
    else:
        byte_ids = [vocab.get("<0x%02X>" % b, NONE) for b in range(256)]
        seen = {}
        for s, i in vocab.items():
            if len(s) != 1:
                continue
            cp = 0x20 if s == SPACE_MARK else ord(s)
            if cp in seen:
                raise PackError("the vocabulary has both %r and %r, which the SentencePiece encoder cannot tell apart"
                                % (id_str[seen[cp]], s))
            seen[cp] = i
        chars = sorted(seen.items())

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
        ia, ib, ir = vocab[a], vocab[b], vocab[a + b]
        if tok_bytes[ia] + tok_bytes[ib] != tok_bytes[ir]:
            raise PackError("merge %r: the merged token does not decode as its two parts" % (m,))
        merges.append((ia, ib, rank, ir))
    # A pair listed twice: Hugging Face keeps the later entry's rank in its
    # map; keep one entry per pair, the same way.
    dedup = {}
    for a, b, r, res in sorted(merges, key=lambda t: t[2]):
        dedup[(a, b)] = (r, res)
    merges = sorted((a, b, r, res) for (a, b), (r, res) in dedup.items())

    unk_id = NONE
    if model.get("unk_token") not in (None, ""):
        if token_id(model["unk_token"]) is None:
            raise PackError("unk_token %r is not in the vocabulary" % model["unk_token"])
        unk_id = token_id(model["unk_token"])

    added_entries, added_blob, contents, seen_content = [], b"", [], set()
    for a in added:
        content = a["content"]
        normalized = bool(a.get("normalized", not a.get("special", False)))
        if normalized and nfc:
            content = unicodedata.normalize("NFC", content)
        if normalized and sp:
            content = content.replace(SPACE_MARK, " ")  # the encoder's form of the normalized text
        data = content.encode("utf-8")
        if (data, normalized) in seen_content:
            continue
        seen_content.add((data, normalized))
        if len(data) > MAX_ADDED_BYTES:
            raise PackError("added token %r is longer than %d bytes" % (a["content"][:40], MAX_ADDED_BYTES))
        flag_bits = (1 if normalized else 0) | (2 if a.get("special") else 0)
        added_entries.append((added_id[a["content"]], flag_bits, len(added_blob), len(data)))
        contents.append((data, normalized))
        added_blob += data
    nodes, edges = build_trie(added_entries, contents)

    tflags, bos, eos = template(tj, token_id)
    flags |= tflags
    named = _config_ids(path, token_id)
    if bos == NONE:
        bos = named.get("bos_token", NONE)
    if eos == NONE:
        eos = named.get("eos_token", NONE)

    sets, alts = cfg.get("program", ([], []))
    set_rows, lits = [], []
    for neg, mask, literals in sets:
        set_rows.append(((1 if neg else 0) | (mask << 8), len(lits), len(literals)))
        lits += list(literals)
    alt_rows, items = [], []
    for a in alts:
        alt_rows.append((len(items), len(a)))
        items += a

    cls, ccc, decomp, pool, comp = unicode_tables()
    hash_slots, max_probe = build_merge_hash(merges)

    blob = b"".join(tok_bytes)
    offsets = [0]
    for t in tok_bytes:
        offsets.append(offsets[-1] + len(t))

    def u32s(seq):
        return struct.pack("<%dI" % len(seq), *seq)

    def flat(rows):
        return [x for r in rows for x in r]

    # (header offset field, bytes) in file order
    parts = [
        (68, u32s(offsets)), (72, blob), (76, u32s(byte_ids)), (80, u32s(flat(merges))),
        (84, u32s(flat(added_entries))), (88, added_blob), (92, u32s(cls)), (96, u32s(ccc)),
        (100, u32s(flat(decomp))), (104, u32s(pool)), (108, u32s(flat(comp))), (132, u32s(flat(chars))),
        (136, bytes(byte_tok)), (144, u32s(flat(nodes))), (152, u32s(edges)), (164, u32s(flat(set_rows))),
        (172, u32s(lits)), (180, u32s(flat(alt_rows))), (188, u32s(flat(items))), (196, u32s(hash_slots)),
    ]
    body, offs, pos = b"", {}, HEADER_BYTES
    for field, p in parts:
        offs[field] = pos
        pad = (-len(p)) % 4
        body += p + b"\0" * pad
        pos += len(p) + pad
    total = HEADER_BYTES + len(body)
    fields = {
        8: VERSION, 12: HEADER_BYTES, 16: total, 20: flags, 24: n_vocab, 28: len(merges),
        32: len(added_entries), 36: len(cls), 40: len(ccc), 44: len(decomp), 48: len(pool), 52: len(comp),
        56: len(blob), 60: len(added_blob), 64: max(len(t) for t in tok_bytes),
        112: unk_id, 116: bos, 120: eos, 124: cfg["prepend"], 128: len(chars), 140: len(nodes),
        148: len(edges), 156: max([len(c) for c, _ in contents] or [0]), 160: len(sets), 168: len(lits),
        176: len(alts), 184: len(items), 192: len(hash_slots), 200: max_probe,
    }
    fields.update(offs)
    header = bytearray(HEADER_BYTES)
    header[0:8] = MAGIC
    for off, v in fields.items():
        struct.pack_into("<I", header, off, v)
    return bytes(header) + body


def describe(data):
    """One line about a packed section (for the command line)."""
    flags = struct.unpack_from("<I", data, 20)[0]
    kind = "SentencePiece-style BPE" if flags & F_SP else "byte-level BPE"
    n = struct.unpack_from("<I", data, 24)[0]
    return "%s, %d ids%s%s" % (kind, n, ", byte fallback" if flags & F_BYTE_FALLBACK else "",
                                 ", NFC" if flags & F_NFC else "")


def main():
    ap = argparse.ArgumentParser(description="Pack a BPE tokenizer.json into a mamba.h tokenizer section.")
    ap.add_argument("tokenizer_json")
    ap.add_argument("output", help="file to write the raw section to")
    args = ap.parse_args()
    try:
        data = pack_tokenizer(args.tokenizer_json)
    except PackError as e:
        sys.exit("tokpack: error: %s" % e)
    with open(args.output, "wb") as f:
        f.write(data)
    print("tokpack: wrote %s (%d bytes; %s)" % (args.output, len(data), describe(data)))


if __name__ == "__main__":
    main()
