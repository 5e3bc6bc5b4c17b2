/* dev/mamba_tokenizer.h - the TOKENIZER part of mamba.h, kept apart until the
   lead pastes it in. Two blocks, each between its own banner lines:

     PUBLIC PART          -> mamba.h's public section, after mamba_model and
                             before the closing `extern "C"` brace
     IMPLEMENTATION PART  -> mamba.h's implementation section (inside
                             MAMBA_IMPLEMENTATION), after the loader

   Until then it can be included after mamba.h (or after a stand-in that
   defines mamba_result, MAMBA_API and mamba_model). */

/* ======================= TOKENIZER: PUBLIC PART (begin) ======================= */
#ifndef MAMBA_HAS_TOKENIZER
#define MAMBA_HAS_TOKENIZER 1

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* >>tokenizer  Byte-level BPE, exactly as Hugging Face's `tokenizers` runs the
   GPT-NeoX-20B tokenizer.json (and any tokenizer.json of the same family).

   How text becomes ids, in the order Hugging Face does it:
   1. Added tokens that are not "normalized" (<|endoftext|>, <|padding|>) are
      cut out of the raw text first, leftmost match first, longest match at a
      position first. Each becomes its id; the text between them goes on.
   2. NFC: each remaining piece is put in Unicode Normalization Form C, so
      "e" + U+0301 (combining acute) and the single U+00E9 give the same ids.
      NFC = full canonical decomposition, then marks sorted by their canonical
      combining class, then canonical composition (UAX #15).
   3. "Normalized" added tokens (in GPT-NeoX the runs of 2..24 spaces) are cut
      out of the normalized text, again leftmost-longest.
   4. The GPT-2 pre-tokenizer regex splits each remaining piece into words:
        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
      with Unicode letters (L), numbers (N) and white space (\s).
   5. Byte-level BPE on each word: the word's UTF-8 bytes start as one symbol
      each (every one of the 256 bytes has an id, so nothing is ever unknown);
      then the adjacent pair with the lowest merge rank is merged into one
      symbol, again and again (ties: leftmost), until no pair has a merge.
      The symbols left are the ids.
   Decoding is the reverse of step 5 only: each id stands for an exact byte
   string (the tokenizer.json stores it through GPT-2's byte<->printable
   character map; the packer undoes that map), and the text is their
   concatenation.

   The tokenizer is a view of a packed section (tools/tokpack.py writes it;
   the model file can carry it): nothing is copied and nothing allocated. */
typedef struct mamba_tokenizer {
    const unsigned char *data;  /* the section; owned by the caller, must outlive this */
    size_t bytes;               /* its validated size */
    unsigned flags;             /* bit 0: NFC normaliser */
    unsigned n_vocab;           /* ids are 0 .. n_vocab-1 */
    unsigned n_merges, n_added, n_class, n_ccc, n_decomp, n_decomp_pool, n_comp;
    unsigned max_token_bytes;   /* longest byte string of one id */
    unsigned cp_per_byte_x2;    /* bound: code points after decomposition per input byte, times 2 */
    unsigned utf8_per_byte;     /* bound: normalized UTF-8 bytes per input byte */
    const unsigned char *tok_offsets, *tok_blob, *byte_ids, *merges, *added, *added_blob;
    const unsigned char *cls, *ccc, *decomp, *decomp_pool, *comp;
    unsigned char first_raw[32];  /* bitset: first bytes of non-normalized added tokens */
    unsigned char first_norm[32]; /* bitset: first bytes of normalized added tokens */
    const char *error;          /* the check that failed, when init fails */
} mamba_tokenizer;

/* Validate a packed tokenizer section (hostile input: every offset, count,
   order and id is checked before use) and point t into it. The caller keeps
   `section` alive as long as t is used. Cost: one pass over the section
   (about 1 ms for GPT-NeoX). Errors: MAMBA_ERR_INVALID_ARG (NULL), else
   MAMBA_ERR_TOKENIZER with t->error naming the failed check. */
MAMBA_API mamba_result mamba_tokenizer_init(mamba_tokenizer *t, const void *section, size_t bytes);

/* The same on the section the model file carries (m->tokenizer). Returns
   MAMBA_ERR_TOKENIZER if the model has none. */
MAMBA_API mamba_result mamba_tokenizer_from_model(mamba_tokenizer *t, const mamba_model *m);

/* Bytes of working memory that mamba_encode() needs, at most, for any input
   of `len` bytes (about 90 * len + 64 for GPT-NeoX; the bound holds for the
   worst input, e.g. len invalid bytes forming one 3*len-byte word).
   Ordinary text needs far less: 6 bytes per input byte between two special
   tokens, plus 28 bytes per byte of the longest pre-tokenized word, so a
   fixed 1 MiB buffer encodes any normal prose of any length; when a buffer is
   too small mamba_encode() says so (MAMBA_ERR_BUFFER_TOO_SMALL), never
   overruns it. Returns (size_t)-1 if the bound overflows size_t. */
MAMBA_API size_t mamba_encode_work_size(const mamba_tokenizer *t, size_t len);

/* Encode `len` bytes of UTF-8 text into ids, exactly as Hugging Face's
   Tokenizer.encode(text) with the same tokenizer.json (no BOS/EOS added).
   Invalid UTF-8: each maximal ill-formed subsequence becomes U+FFFD, as
   Python's bytes.decode(errors="replace") and JavaScript's TextDecoder do,
   and that string is encoded. len == 0 gives 0 ids. text may be NULL when
   len is 0.
   `work`/`work_bytes`: caller memory (see mamba_encode_work_size); not kept.
   On MAMBA_OK, *n_ids ids were written. If max_ids is too small the ids that
   fit are written, *n_ids is set to the number needed, and the result is
   MAMBA_ERR_BUFFER_TOO_SMALL; the same code, with *n_ids = 0, when `work` is
   too small. Thread-safe: t is only read. */
MAMBA_API mamba_result mamba_encode(const mamba_tokenizer *t, const char *text, size_t len,
                                    int *ids, size_t max_ids, size_t *n_ids,
                                    void *work, size_t work_bytes);

/* The exact bytes of one id, zero-copy: *bytes points into the section,
   *len may be 0 (an id with no token). A token may end inside a UTF-8
   character (byte-level BPE splits characters freely): use mamba_detok to
   print a stream. MAMBA_ERR_TOKEN for an id outside 0..n_vocab-1. */
MAMBA_API mamba_result mamba_decode_token(const mamba_tokenizer *t, int id,
                                          const char **bytes, size_t *len);

/* Decode n ids into out: the concatenation of their exact bytes (what
   Hugging Face's decode(ids, skip_special_tokens=false) gives for valid
   UTF-8, without its U+FFFD replacement of broken characters). *n_out is the
   byte count; if it exceeds cap, out holds the first cap bytes and the result
   is MAMBA_ERR_BUFFER_TOO_SMALL. MAMBA_ERR_TOKEN for an id out of range. */
MAMBA_API mamba_result mamba_decode(const mamba_tokenizer *t, const int *ids, size_t n,
                                    char *out, size_t cap, size_t *n_out);

/* Streaming decoder: push ids one at a time, get bytes that end on a whole
   UTF-8 character. A trailing incomplete-but-so-far-valid UTF-8 sequence
   (at most 3 bytes) is held back until the next push completes it; bytes
   that can never be valid UTF-8 are passed through unchanged, so the output
   stream is byte-exact. Call mamba_detok_flush() at the end of the stream. */
typedef struct mamba_detok {
    unsigned char held[4];
    unsigned n_held;
} mamba_detok;

MAMBA_API void mamba_detok_init(mamba_detok *d);
/* out must hold t->max_token_bytes + 3 bytes (always enough); with less,
   MAMBA_ERR_BUFFER_TOO_SMALL and nothing is consumed. */
MAMBA_API mamba_result mamba_detok_push(const mamba_tokenizer *t, mamba_detok *d, int id,
                                        char *out, size_t cap, size_t *n_out);
/* Write the held bytes (0..3) to out (4 bytes room) and return their count. */
MAMBA_API size_t mamba_detok_flush(mamba_detok *d, char *out);

#ifdef __cplusplus
}
#endif
#endif /* MAMBA_HAS_TOKENIZER */
/* ======================= TOKENIZER: PUBLIC PART (end) ========================= */


/* =================== TOKENIZER: IMPLEMENTATION PART (begin) =================== */
#ifdef MAMBA_IMPLEMENTATION
#ifndef MAMBA__TOK_IMPLEMENTED
#define MAMBA__TOK_IMPLEMENTED 1

#include <string.h>

/* >>tokenizer-impl

   The packed section (all u32 little-endian, offsets from its first byte;
   tools/tokpack.py is the writer and documents the same table):

     0 "MAMBATOK" | 8 version 1 | 12 header_bytes 128 | 16 total_bytes
    20 flags | 24 n_vocab | 28 n_merges | 32 n_added | 36 n_class | 40 n_ccc
    44 n_decomp | 48 n_decomp_pool | 52 n_comp | 56 token_blob_bytes
    60 added_blob_bytes | 64 max_token_bytes
    68.. offsets of: tok_offsets u32[n_vocab+1], tok_blob, byte_ids u32[256],
         merges {left,right,rank,result}[n_merges] sorted by (left,right),
         added {id,flags,off,len}[n_added] longest first, added_blob,
         class u32[n_class] (start<<8|class), ccc u32[n_ccc] (start<<8|ccc),
         decomp {cp, off<<3|len}[n_decomp] sorted, decomp_pool u32[],
         comp {first,second,composite}[n_comp] sorted by (first,second)

   Every read goes through mamba__tok_u32(), byte by byte: the section needs no
   alignment and the code runs the same on a big-endian machine. */

#define MAMBA__TOK_HEADER 128u
#define MAMBA__TOK_NONE 0xFFFFFFFFu
#define MAMBA__TOK_MAXCP 0x10FFFFu

static unsigned mamba__tok_u32(const unsigned char *p)
{
    return (unsigned)p[0] | ((unsigned)p[1] << 8) | ((unsigned)p[2] << 16) | ((unsigned)p[3] << 24);
}
/* element i (u32) of an array of u32 */
static unsigned mamba__tok_at(const unsigned char *arr, size_t i) { return mamba__tok_u32(arr + 4 * i); }

static mamba_result mamba__tok_fail(mamba_tokenizer *t, const char *why)
{
    t->error = why;
    return MAMBA_ERR_TOKENIZER;
}

/* Find an array of `count` elements of `elem` bytes at the u32 offset stored
   at header byte `field`; bounds are checked by subtracting from the trusted
   size, so no untrusted addition can wrap. */
static int mamba__tok_array(const unsigned char *s, size_t total, unsigned field, size_t count,
                            size_t elem, const unsigned char **out)
{
    size_t off = mamba__tok_u32(s + field);
    if (off < MAMBA__TOK_HEADER || off > total || (off & 3u)) return 0;
    if (count != 0 && elem > ((size_t)-1) / count) return 0;
    if (count * elem > total - off) return 0;
    *out = s + off;
    return 1;
}

/* length of the UTF-8 encoding of code point c */
static unsigned mamba__tok_u8len(unsigned c) { return c < 0x80 ? 1u : c < 0x800 ? 2u : c < 0x10000 ? 3u : 4u; }

static void mamba__tok_bitset(unsigned char *set, unsigned b) { set[b >> 3] |= (unsigned char)(1u << (b & 7)); }
static int mamba__tok_inset(const unsigned char *set, unsigned b) { return (set[b >> 3] >> (b & 7)) & 1; }

/* Check a start<<8|value range table: starts strictly increasing from 0. */
static int mamba__tok_ranges_ok(const unsigned char *arr, unsigned n, unsigned max_value)
{
    unsigned i, prev = 0;
    if (n == 0 || (mamba__tok_at(arr, 0) >> 8) != 0) return 0;
    for (i = 0; i < n; i++) {
        unsigned e = mamba__tok_at(arr, i), start = e >> 8;
        if ((e & 0xFFu) > max_value || start > MAMBA__TOK_MAXCP) return 0;
        if (i > 0 && start <= prev) return 0;
        prev = start;
    }
    return 1;
}

MAMBA_API mamba_result mamba_tokenizer_init(mamba_tokenizer *t, const void *section, size_t bytes)
{
    const unsigned char *s = (const unsigned char *)section;
    size_t total, blob, ablob;
    unsigned i, max_len = 0, ratio_x2 = 2, u8ratio = 3, comp_ratio = 1;
    if (!t) return MAMBA_ERR_INVALID_ARG;
    memset(t, 0, sizeof *t);
    if (!s) return MAMBA_ERR_INVALID_ARG;
    /* 1. header: size, magic, version, sizes */
    if (bytes < MAMBA__TOK_HEADER) return mamba__tok_fail(t, "tokenizer section shorter than its header");
    if (memcmp(s, "MAMBATOK", 8) != 0) return mamba__tok_fail(t, "tokenizer section magic is not MAMBATOK");
    if (mamba__tok_u32(s + 8) != 1) return mamba__tok_fail(t, "tokenizer section version is not 1");
    if (mamba__tok_u32(s + 12) != MAMBA__TOK_HEADER) return mamba__tok_fail(t, "tokenizer header_bytes is not 128");
    total = mamba__tok_u32(s + 16);
    if (total < MAMBA__TOK_HEADER || total > bytes) return mamba__tok_fail(t, "tokenizer total_bytes exceeds the section");
    t->flags = mamba__tok_u32(s + 20);
    if (t->flags & ~1u) return mamba__tok_fail(t, "tokenizer flags has unknown bits");
    t->n_vocab = mamba__tok_u32(s + 24);
    t->n_merges = mamba__tok_u32(s + 28);
    t->n_added = mamba__tok_u32(s + 32);
    t->n_class = mamba__tok_u32(s + 36);
    t->n_ccc = mamba__tok_u32(s + 40);
    t->n_decomp = mamba__tok_u32(s + 44);
    t->n_decomp_pool = mamba__tok_u32(s + 48);
    t->n_comp = mamba__tok_u32(s + 52);
    blob = mamba__tok_u32(s + 56);
    ablob = mamba__tok_u32(s + 60);
    t->max_token_bytes = mamba__tok_u32(s + 64);
    if (t->n_vocab == 0 || t->n_vocab > 0x7FFFFFFFu) return mamba__tok_fail(t, "tokenizer n_vocab is 0 or too large");
    /* 2. every array inside the section */
    if (!mamba__tok_array(s, total, 68, (size_t)t->n_vocab + 1, 4, &t->tok_offsets) ||
        !mamba__tok_array(s, total, 72, blob, 1, &t->tok_blob) ||
        !mamba__tok_array(s, total, 76, 256, 4, &t->byte_ids) ||
        !mamba__tok_array(s, total, 80, t->n_merges, 16, &t->merges) ||
        !mamba__tok_array(s, total, 84, t->n_added, 16, &t->added) ||
        !mamba__tok_array(s, total, 88, ablob, 1, &t->added_blob) ||
        !mamba__tok_array(s, total, 92, t->n_class, 4, &t->cls) ||
        !mamba__tok_array(s, total, 96, t->n_ccc, 4, &t->ccc) ||
        !mamba__tok_array(s, total, 100, t->n_decomp, 8, &t->decomp) ||
        !mamba__tok_array(s, total, 104, t->n_decomp_pool, 4, &t->decomp_pool) ||
        !mamba__tok_array(s, total, 108, t->n_comp, 12, &t->comp))
        return mamba__tok_fail(t, "tokenizer array offset misaligned or out of bounds");
    /* 3. token byte strings: offsets start at 0, never decrease, end at the blob size */
    if (mamba__tok_at(t->tok_offsets, 0) != 0 || mamba__tok_at(t->tok_offsets, t->n_vocab) != blob)
        return mamba__tok_fail(t, "tokenizer token offsets do not span the blob");
    for (i = 0; i < t->n_vocab; i++) {
        unsigned a = mamba__tok_at(t->tok_offsets, i), b = mamba__tok_at(t->tok_offsets, i + 1);
        if (b < a) return mamba__tok_fail(t, "tokenizer token offsets decrease");
        if (b - a > max_len) max_len = b - a;
    }
    if (max_len != t->max_token_bytes) return mamba__tok_fail(t, "tokenizer max_token_bytes is wrong");
    for (i = 0; i < 256; i++) {
        unsigned id = mamba__tok_at(t->byte_ids, i);
        if (id != MAMBA__TOK_NONE && id >= t->n_vocab) return mamba__tok_fail(t, "tokenizer byte id out of range");
    }
    /* 4. merges: ids in range, sorted strictly by (left, right), and each
       result spells left's bytes then right's (so decode(encode(x)) == x) */
    for (i = 0; i < t->n_merges; i++) {
        const unsigned char *m = t->merges + 16 * (size_t)i;
        unsigned l = mamba__tok_u32(m), r = mamba__tok_u32(m + 4), res = mamba__tok_u32(m + 12);
        unsigned lo, ll, ro, rl, so, sl;
        if (l >= t->n_vocab || r >= t->n_vocab || res >= t->n_vocab)
            return mamba__tok_fail(t, "tokenizer merge id out of range");
        if (i > 0) {
            unsigned pl = mamba__tok_u32(m - 16), pr = mamba__tok_u32(m - 12);
            if (l < pl || (l == pl && r <= pr)) return mamba__tok_fail(t, "tokenizer merges not sorted");
        }
        lo = mamba__tok_at(t->tok_offsets, l); ll = mamba__tok_at(t->tok_offsets, l + 1) - lo;
        ro = mamba__tok_at(t->tok_offsets, r); rl = mamba__tok_at(t->tok_offsets, r + 1) - ro;
        so = mamba__tok_at(t->tok_offsets, res); sl = mamba__tok_at(t->tok_offsets, res + 1) - so;
        if ((size_t)ll + rl != sl || memcmp(t->tok_blob + so, t->tok_blob + lo, ll) != 0 ||
            memcmp(t->tok_blob + so + ll, t->tok_blob + ro, rl) != 0)
            return mamba__tok_fail(t, "tokenizer merge result is not left+right");
    }
    /* 5. added tokens: in range, non-empty, longest first */
    for (i = 0; i < t->n_added; i++) {
        const unsigned char *a = t->added + 16 * (size_t)i;
        unsigned id = mamba__tok_u32(a), fl = mamba__tok_u32(a + 4), off = mamba__tok_u32(a + 8), len = mamba__tok_u32(a + 12);
        if (id >= t->n_vocab || (fl & ~3u) || len == 0 || off > ablob || len > ablob - off)
            return mamba__tok_fail(t, "tokenizer added token malformed");
        if (i > 0 && len > mamba__tok_u32(a - 4)) return mamba__tok_fail(t, "tokenizer added tokens not longest first");
        mamba__tok_bitset((fl & 1u) ? t->first_norm : t->first_raw, t->added_blob[off]);
    }
    /* 6. Unicode tables */
    if (!mamba__tok_ranges_ok(t->cls, t->n_class, 3)) return mamba__tok_fail(t, "tokenizer class table malformed");
    if (!mamba__tok_ranges_ok(t->ccc, t->n_ccc, 255)) return mamba__tok_fail(t, "tokenizer ccc table malformed");
    for (i = 0; i < t->n_decomp; i++) {
        unsigned cp = mamba__tok_at(t->decomp, 2 * (size_t)i), ol = mamba__tok_at(t->decomp, 2 * (size_t)i + 1);
        unsigned off = ol >> 3, len = ol & 7u, k, u8 = 0;
        if (cp > MAMBA__TOK_MAXCP || len == 0 || len > 4 || off > t->n_decomp_pool || len > t->n_decomp_pool - off)
            return mamba__tok_fail(t, "tokenizer decomposition malformed");
        if (i > 0 && cp <= mamba__tok_at(t->decomp, 2 * (size_t)i - 2))
            return mamba__tok_fail(t, "tokenizer decompositions not sorted");
        for (k = 0; k < len; k++) {
            unsigned c = mamba__tok_at(t->decomp_pool, off + k);
            if (c > MAMBA__TOK_MAXCP) return mamba__tok_fail(t, "tokenizer decomposition code point out of range");
            u8 += mamba__tok_u8len(c);
        }
        /* bounds for mamba_encode_work_size: cp needs u8len(cp) input bytes */
        k = mamba__tok_u8len(cp);
        if ((2 * len + k - 1) / k > ratio_x2) ratio_x2 = (2 * len + k - 1) / k;
        if ((u8 + k - 1) / k > u8ratio) u8ratio = (u8 + k - 1) / k;
    }
    for (i = 0; i < t->n_comp; i++) {
        const unsigned char *c = t->comp + 12 * (size_t)i;
        unsigned a = mamba__tok_u32(c), b = mamba__tok_u32(c + 4), x = mamba__tok_u32(c + 8);
        if (a > MAMBA__TOK_MAXCP || b > MAMBA__TOK_MAXCP || x > MAMBA__TOK_MAXCP)
            return mamba__tok_fail(t, "tokenizer composition code point out of range");
        if (i > 0) {
            unsigned pa = mamba__tok_u32(c - 12), pb = mamba__tok_u32(c - 8);
            if (a < pa || (a == pa && b <= pb)) return mamba__tok_fail(t, "tokenizer compositions not sorted");
        }
        /* a composite longer in UTF-8 than its two parts would grow the text */
        if (mamba__tok_u8len(x) > mamba__tok_u8len(a) + mamba__tok_u8len(b)) comp_ratio = 2;
    }
    t->cp_per_byte_x2 = ratio_x2;
    t->utf8_per_byte = u8ratio * comp_ratio;
    t->data = s;
    t->bytes = total;
    return MAMBA_OK;
}

MAMBA_API mamba_result mamba_tokenizer_from_model(mamba_tokenizer *t, const mamba_model *m)
{
    if (!t || !m) return MAMBA_ERR_INVALID_ARG;
    if (!m->tokenizer || m->tokenizer_bytes == 0) {
        memset(t, 0, sizeof *t);
        t->error = "the model file has no tokenizer section";
        return MAMBA_ERR_TOKENIZER;
    }
    return mamba_tokenizer_init(t, m->tokenizer, m->tokenizer_bytes);
}

/* ---- Unicode lookups (binary searches over the packed tables) ---- */

/* value of the range containing c in a start<<8|value table */
static unsigned mamba__tok_range(const unsigned char *arr, unsigned n, unsigned c)
{
    unsigned lo = 0, hi = n; /* invariant: start[lo] <= c, answer in [lo, hi) */
    while (hi - lo > 1) {
        unsigned mid = lo + (hi - lo) / 2;
        if ((mamba__tok_at(arr, mid) >> 8) <= c) lo = mid; else hi = mid;
    }
    return mamba__tok_at(arr, lo) & 0xFFu;
}

enum { MAMBA__TOK_OTHER = 0, MAMBA__TOK_LETTER = 1, MAMBA__TOK_NUMBER = 2, MAMBA__TOK_SPACE = 3 };

static unsigned mamba__tok_class(const mamba_tokenizer *t, unsigned c)
{
    return mamba__tok_range(t->cls, t->n_class, c);
}
static unsigned mamba__tok_ccc(const mamba_tokenizer *t, unsigned c)
{
    if (c < 0x300) return 0; /* no combining mark below U+0300: the common case */
    return mamba__tok_range(t->ccc, t->n_ccc, c);
}

/* Hangul syllables decompose and compose by arithmetic (Unicode ch. 3.12):
   S = SBase + (L * VCount + V) * TCount + T. */
#define MAMBA__TOK_SBASE 0xAC00u
#define MAMBA__TOK_LBASE 0x1100u
#define MAMBA__TOK_VBASE 0x1161u
#define MAMBA__TOK_TBASE 0x11A7u
#define MAMBA__TOK_LCOUNT 19u
#define MAMBA__TOK_VCOUNT 21u
#define MAMBA__TOK_TCOUNT 28u
#define MAMBA__TOK_SCOUNT (MAMBA__TOK_LCOUNT * MAMBA__TOK_VCOUNT * MAMBA__TOK_TCOUNT)

/* the composite of the pair (a, b), or 0 if they do not compose */
static unsigned mamba__tok_compose(const mamba_tokenizer *t, unsigned a, unsigned b)
{
    unsigned lo = 0, hi = t->n_comp;
    if (a - MAMBA__TOK_LBASE < MAMBA__TOK_LCOUNT && b - MAMBA__TOK_VBASE < MAMBA__TOK_VCOUNT)
        return MAMBA__TOK_SBASE + ((a - MAMBA__TOK_LBASE) * MAMBA__TOK_VCOUNT + (b - MAMBA__TOK_VBASE)) * MAMBA__TOK_TCOUNT;
    if (a - MAMBA__TOK_SBASE < MAMBA__TOK_SCOUNT && (a - MAMBA__TOK_SBASE) % MAMBA__TOK_TCOUNT == 0 &&
        b - MAMBA__TOK_TBASE - 1 < MAMBA__TOK_TCOUNT - 1)
        return a + (b - MAMBA__TOK_TBASE);
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const unsigned char *e = t->comp + 12 * (size_t)mid;
        unsigned ea = mamba__tok_u32(e), eb = mamba__tok_u32(e + 4);
        if (ea == a && eb == b) return mamba__tok_u32(e + 8);
        if (ea < a || (ea == a && eb < b)) lo = mid + 1; else hi = mid;
    }
    return 0;
}

/* Decode one UTF-8 character at s[0..n), n >= 1. Returns the bytes consumed;
   *cp gets the code point, or U+FFFD for an ill-formed sequence. The bytes
   consumed for an ill-formed sequence are its "maximal subpart" (the longest
   prefix of a valid sequence, at least one byte): the WHATWG / Unicode
   recommendation that Python and JavaScript follow. */
static size_t mamba__tok_utf8(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned b0 = s[0], need, c, lo = 0x80, hi = 0xBF;
    size_t i;
    if (b0 < 0x80) { *cp = b0; return 1; }
    if (b0 >= 0xC2 && b0 <= 0xDF) { need = 1; c = b0 & 0x1F; }
    else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2; c = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;      /* no overlong 3-byte forms */
        if (b0 == 0xED) hi = 0x9F;      /* no surrogates */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3; c = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;      /* no overlong 4-byte forms */
        if (b0 == 0xF4) hi = 0x8F;      /* nothing past U+10FFFF */
    } else { *cp = 0xFFFD; return 1; }
    for (i = 1; i <= need; i++) {
        unsigned b;
        if (i >= n) { *cp = 0xFFFD; return i; }
        b = s[i];
        if (b < lo || b > hi) { *cp = 0xFFFD; return i; }
        lo = 0x80; hi = 0xBF;
        c = (c << 6) | (b & 0x3F);
    }
    *cp = c;
    return need + 1;
}

static size_t mamba__tok_put_utf8(unsigned c, unsigned char *o)
{
    if (c < 0x80) { o[0] = (unsigned char)c; return 1; }
    if (c < 0x800) { o[0] = (unsigned char)(0xC0 | (c >> 6)); o[1] = (unsigned char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12)); o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F)); return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18)); o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F)); o[3] = (unsigned char)(0x80 | (c & 0x3F)); return 4;
}

/* ---- the encoder's state: output ids and working memory ---- */

typedef struct mamba__tok_enc {
    const mamba_tokenizer *t;
    int *ids;
    size_t max_ids, n_ids;      /* n_ids counts past max_ids: the size needed */
    unsigned char *work;        /* caller memory */
    size_t work_bytes;
    int too_small;              /* work memory ran out */
} mamba__tok_enc;

static void mamba__tok_emit(mamba__tok_enc *e, unsigned id)
{
    if (e->n_ids < e->max_ids) e->ids[e->n_ids] = (int)id;
    e->n_ids++;
}

/* Merge lookup: binary search of (left, right); 1 and rank/result if found. */
static int mamba__tok_merge(const mamba_tokenizer *t, unsigned l, unsigned r, unsigned *rank, unsigned *res)
{
    unsigned lo = 0, hi = t->n_merges;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const unsigned char *m = t->merges + 16 * (size_t)mid;
        unsigned ml = mamba__tok_u32(m), mr = mamba__tok_u32(m + 4);
        if (ml == l && mr == r) { *rank = mamba__tok_u32(m + 8); *res = mamba__tok_u32(m + 12); return 1; }
        if (ml < l || (ml == l && mr < r)) lo = mid + 1; else hi = mid;
    }
    return 0;
}

/* A min-heap of candidate merges, keyed rank << 32 | position: the lowest
   rank first, and among equal ranks the leftmost, which is the order Hugging
   Face's BPE (word.rs, merge_all) pops them in. Entries go stale when a
   neighbour merges; they are checked when popped, not removed early. */
typedef unsigned long long mamba__tok_u64;

static void mamba__tok_heap_push(mamba__tok_u64 *h, size_t *n, mamba__tok_u64 v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static mamba__tok_u64 mamba__tok_heap_pop(mamba__tok_u64 *h, size_t *n)
{
    mamba__tok_u64 top = h[0], v = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (m > 0) h[i] = v;
    return top;
}

/* BPE on one word of n bytes at w (inside the work memory at `mem`, which
   has `avail` bytes after the word). Symbols form a doubly linked list over
   the byte positions; a merged-away symbol gets id NONE. */
static void mamba__tok_bpe(mamba__tok_enc *e, const unsigned char *w, size_t n, unsigned char *mem, size_t avail)
{
    const mamba_tokenizer *t = e->t;
    unsigned *id, rank, res;
    int *prev, *next;
    mamba__tok_u64 *heap;
    size_t i, nh = 0, cap, head = (size_t)-1, last = (size_t)-1;
    size_t need;
    if (n == 1) { /* the common single-byte word: no merging possible */
        unsigned b = mamba__tok_at(t->byte_ids, w[0]);
        if (b != MAMBA__TOK_NONE) mamba__tok_emit(e, b);
        return;
    }
    /* memory: 8-byte aligned heap of 2n entries, then id/prev/next */
    {
        size_t pad = (size_t)(-(ptrdiff_t)(size_t)mem) & 7u;
        if (n > 0x7FFFFFF0u || avail < pad) { e->too_small = 1; return; }
        mem += pad; avail -= pad;
        need = n * (2 * sizeof(mamba__tok_u64) + 3 * 4);
        if (need > avail) { e->too_small = 1; return; }
    }
    heap = (mamba__tok_u64 *)(void *)mem;
    cap = 2 * n;
    id = (unsigned *)(void *)(mem + cap * sizeof(mamba__tok_u64));
    prev = (int *)(void *)(id + n);
    next = prev + n;
    /* one symbol per byte; a byte without an id is dropped, as Hugging Face
       drops characters missing from the vocabulary when there is no unk */
    for (i = 0; i < n; i++) {
        id[i] = mamba__tok_at(t->byte_ids, w[i]);
        prev[i] = next[i] = -1;
        if (id[i] == MAMBA__TOK_NONE) continue;
        if (last != (size_t)-1) { next[last] = (int)i; prev[i] = (int)last; }
        else head = i;
        last = i;
    }
    if (head == (size_t)-1) return;
    for (i = head; next[i] >= 0; i = (size_t)next[i])
        if (mamba__tok_merge(t, id[i], id[next[i]], &rank, &res))
            mamba__tok_heap_push(heap, &nh, ((mamba__tok_u64)rank << 32) | i);
    while (nh > 0) {
        mamba__tok_u64 top = mamba__tok_heap_pop(heap, &nh);
        size_t p = (size_t)(top & 0xFFFFFFFFu), q;
        unsigned want = (unsigned)(top >> 32);
        int side;
        if (id[p] == MAMBA__TOK_NONE || next[p] < 0) continue;
        q = (size_t)next[p];
        if (!mamba__tok_merge(t, id[p], id[q], &rank, &res) || rank != want) continue; /* stale */
        id[p] = res;
        id[q] = MAMBA__TOK_NONE;
        next[p] = next[q];
        if (next[q] >= 0) prev[next[q]] = (int)p;
        /* the two new pairs (prev, p) and (p, next); if the heap is full,
           rebuild it from the live pairs (at most n-1), dropping stale ones */
        for (side = 0; side < 2; side++) {
            int a = side == 0 ? prev[p] : (int)p, b = side == 0 ? (int)p : next[p];
            if (a < 0 || b < 0) continue;
            if (!mamba__tok_merge(t, id[a], id[b], &rank, &res)) continue;
            if (nh == cap) {
                size_t k;
                nh = 0;
                for (k = head; next[k] >= 0; k = (size_t)next[k]) {
                    unsigned r2, s2;
                    if (mamba__tok_merge(t, id[k], id[next[k]], &r2, &s2) && !((int)k == a && r2 == rank))
                        mamba__tok_heap_push(heap, &nh, ((mamba__tok_u64)r2 << 32) | k);
                }
            }
            mamba__tok_heap_push(heap, &nh, ((mamba__tok_u64)rank << 32) | (size_t)a);
        }
    }
    for (i = head; ; i = (size_t)next[i]) {
        mamba__tok_emit(e, id[i]);
        if (next[i] < 0) break;
    }
}

/* One pre-tokenized word: code points cp[a..b) -> UTF-8 bytes -> BPE. The
   bytes go into the work memory after the code points (`free_mem`). */
static void mamba__tok_word(mamba__tok_enc *e, const unsigned *cp, size_t a, size_t b,
                            unsigned char *free_mem, size_t avail)
{
    size_t i, n = 0;
    if ((b - a) > avail / 4) { e->too_small = 1; return; } /* at most 4 bytes per code point */
    for (i = a; i < b; i++) n += mamba__tok_put_utf8(cp[i], free_mem + n);
    mamba__tok_bpe(e, free_mem, n, free_mem + n, avail - n);
}

/* The GPT-2 pre-tokenizer regex, by hand, over code points cp[a..b):
     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
   At each position the alternatives are tried in that order (the regex
   engine's leftmost-first rule) and each quantifier is greedy. The one
   subtle branch is \s+(?!\S): a run of white space followed by a
   non-space gives up its last character, which then joins the next word as
   the optional leading space (or stands alone if it is not U+0020). */
static void mamba__tok_pretok(mamba__tok_enc *e, const unsigned *cp, size_t a, size_t b,
                              unsigned char *free_mem, size_t avail)
{
    const mamba_tokenizer *t = e->t;
    size_t i = a;
    while (i < b && !e->too_small) {
        size_t j = i;
        unsigned c = cp[i];
        if (c == '\'' && i + 1 < b) {
            unsigned c1 = cp[i + 1], c2 = i + 2 < b ? cp[i + 2] : 0;
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') j = i + 2;
            else if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) j = i + 3;
        }
        if (j == i) {
            /* ` ?` then a run of one class (letter, number or other) */
            size_t s = i;
            unsigned cls;
            if (c == ' ' && i + 1 < b) s = i + 1;
            cls = mamba__tok_class(t, cp[s]);
            if (cls == MAMBA__TOK_SPACE && s != i) { s = i; cls = MAMBA__TOK_SPACE; }
            if (cls != MAMBA__TOK_SPACE) {
                j = s + 1;
                while (j < b && mamba__tok_class(t, cp[j]) == cls) j++;
            } else {
                /* white space run [i, r) */
                size_t r = i + 1;
                while (r < b && mamba__tok_class(t, cp[r]) == MAMBA__TOK_SPACE) r++;
                if (r == b) j = r;               /* \s+ up to the end */
                else if (r - 1 > i) j = r - 1;   /* \s+(?!\S): leave the last one */
                else j = r;                      /* \s+: a single one */
            }
        }
        mamba__tok_word(e, cp, i, j, free_mem, avail);
        i = j;
    }
}

/* Does added token k (its UTF-8 content) match the code points at cp[i..n)?
   Returns the number of code points matched, 0 if none. */
static size_t mamba__tok_match_cp(const mamba_tokenizer *t, const unsigned char *content, size_t len,
                                  const unsigned *cp, size_t i, size_t n)
{
    size_t p = 0, m = 0;
    while (p < len) {
        unsigned c;
        p += mamba__tok_utf8(content + p, len - p, &c);
        if (i + m >= n || cp[i + m] != c) return 0;
        m++;
    }
    (void)t;
    return m;
}

/* A piece of raw text between two non-normalized added tokens: decode UTF-8,
   NFC, cut out normalized added tokens, pre-tokenize, BPE. */
static void mamba__tok_segment(mamba__tok_enc *e, const unsigned char *s, size_t len)
{
    const mamba_tokenizer *t = e->t;
    unsigned *cp;
    size_t n = 0, cap, i, start, pad;
    unsigned char *mem = e->work;
    size_t avail = e->work_bytes;
    if (len == 0) return;
    pad = (size_t)(-(ptrdiff_t)(size_t)mem) & 3u;
    if (avail < pad) { e->too_small = 1; return; }
    mem += pad; avail -= pad;
    cp = (unsigned *)(void *)mem;
    cap = avail / 4;
    /* 1. UTF-8 -> code points, with full canonical decomposition (NFD) */
    for (i = 0; i < len;) {
        unsigned c;
        i += mamba__tok_utf8(s + i, len - i, &c);
        if (!(t->flags & 1u) || c < 0xC0) {
            if (n >= cap) { e->too_small = 1; return; }
            cp[n++] = c;
        } else if (c - MAMBA__TOK_SBASE < MAMBA__TOK_SCOUNT) {
            unsigned si = c - MAMBA__TOK_SBASE, tt = si % MAMBA__TOK_TCOUNT;
            if (cap - n < 3) { e->too_small = 1; return; }
            cp[n++] = MAMBA__TOK_LBASE + si / (MAMBA__TOK_VCOUNT * MAMBA__TOK_TCOUNT);
            cp[n++] = MAMBA__TOK_VBASE + (si % (MAMBA__TOK_VCOUNT * MAMBA__TOK_TCOUNT)) / MAMBA__TOK_TCOUNT;
            if (tt) cp[n++] = MAMBA__TOK_TBASE + tt;
        } else {
            unsigned lo = 0, hi = t->n_decomp, found = 0;
            while (lo < hi) {
                unsigned mid = lo + (hi - lo) / 2, mc = mamba__tok_at(t->decomp, 2 * (size_t)mid);
                if (mc == c) { found = 1; lo = mid; break; }
                if (mc < c) lo = mid + 1; else hi = mid;
            }
            if (found) {
                unsigned ol = mamba__tok_at(t->decomp, 2 * (size_t)lo + 1), k;
                if (cap - n < (ol & 7u)) { e->too_small = 1; return; }
                for (k = 0; k < (ol & 7u); k++) cp[n++] = mamba__tok_at(t->decomp_pool, (ol >> 3) + k);
            } else {
                if (n >= cap) { e->too_small = 1; return; }
                cp[n++] = c;
            }
        }
    }
    if (t->flags & 1u) {
        /* 2. canonical ordering: every run of non-starters (ccc != 0) is
           sorted stably by ccc. Most runs are 1-2 marks and already in
           order; otherwise a stable pass per distinct class present
           (O(run * classes), never quadratic in the run length) writes the
           sorted run into the free memory past the code points. */
        size_t r = 0;
        while (r < n) {
            size_t q;
            if (mamba__tok_ccc(t, cp[r]) == 0) { r++; continue; }
            q = r;
            while (q < n && mamba__tok_ccc(t, cp[q]) != 0) q++;
            if (q - r > 1) {
                size_t x, sorted = 1;
                for (x = r + 1; x < q && sorted; x++)
                    if (mamba__tok_ccc(t, cp[x - 1]) > mamba__tok_ccc(t, cp[x])) sorted = 0;
                if (!sorted) {
                    /* stable sort by ccc: one pass per distinct ccc value
                       present (at most 255), writing into the free memory */
                    size_t k = q - r, w = 0;
                    unsigned v, cur = 0;
                    unsigned *tmp;
                    if (cap - n < k) { e->too_small = 1; return; }
                    tmp = cp + n;
                    for (;;) {
                        unsigned nextv = 256;
                        for (x = r; x < q; x++) {
                            v = mamba__tok_ccc(t, cp[x]);
                            if (v == cur) tmp[w++] = cp[x];
                            else if (v > cur && v < nextv) nextv = v;
                        }
                        if (nextv == 256) break;
                        cur = nextv;
                    }
                    memcpy(cp + r, tmp, k * sizeof *cp);
                }
            }
            r = q;
        }
        /* 3. canonical composition (UAX #15): each character joins the last
           starter if nothing between them blocks it (a character in
           between blocks when its class is 0 or >= the character's own)
           and the pair has a primary composite. */
        {
            size_t out = 0, sp = (size_t)-1;
            unsigned last = 0;
            for (i = 0; i < n; i++) {
                unsigned c = cp[i], cc = mamba__tok_ccc(t, c);
                if (sp != (size_t)-1 && (out == sp + 1 || (last != 0 && last < cc))) {
                    unsigned x = mamba__tok_compose(t, cp[sp], c);
                    if (x) { cp[sp] = x; continue; }
                }
                if (cc == 0) sp = out;
                last = cc;
                cp[out++] = c;
            }
            n = out;
        }
    }
    /* 4. normalized added tokens (leftmost, longest first), then the rest */
    mem = (unsigned char *)(cp + n);
    avail = (cap - n) * 4;
    start = 0;
    for (i = 0; i < n && !e->too_small;) {
        size_t k, m = 0;
        unsigned char lead[4];
        mamba__tok_put_utf8(cp[i], lead);
        if (mamba__tok_inset(t->first_norm, lead[0])) {
            for (k = 0; k < t->n_added; k++) {
                const unsigned char *a = t->added + 16 * k;
                if (!(mamba__tok_u32(a + 4) & 1u)) continue;
                m = mamba__tok_match_cp(t, t->added_blob + mamba__tok_u32(a + 8), mamba__tok_u32(a + 12), cp, i, n);
                if (m) break;
            }
        }
        if (m) {
            mamba__tok_pretok(e, cp, start, i, mem, avail);
            mamba__tok_emit(e, mamba__tok_u32(t->added + 16 * k));
            i += m;
            start = i;
        } else {
            i++;
        }
    }
    if (!e->too_small) mamba__tok_pretok(e, cp, start, n, mem, avail);
}

MAMBA_API size_t mamba_encode_work_size(const mamba_tokenizer *t, size_t len)
{
    /* code points: len * cp_per_byte_x2 / 2 (x4 bytes); the longest word:
       len * utf8_per_byte bytes, each needing 1 + 28 bytes of BPE state */
    size_t cps, wb, max = (size_t)-1;
    if (!t || !t->data) return 0;
    if (len > max / 64 / (t->cp_per_byte_x2 + 1) || len > max / 64 / (t->utf8_per_byte + 1)) return max;
    cps = (len * t->cp_per_byte_x2 + 1) / 2 + 4;
    wb = len * t->utf8_per_byte + 4;
    if (cps > max / 64 || wb > max / 64) return max;
    return cps * 4 + wb * (1 + 2 * sizeof(mamba__tok_u64) + 12) + 64;
}

MAMBA_API mamba_result mamba_encode(const mamba_tokenizer *t, const char *text, size_t len,
                                    int *ids, size_t max_ids, size_t *n_ids,
                                    void *work, size_t work_bytes)
{
    mamba__tok_enc e;
    const unsigned char *s = (const unsigned char *)text;
    size_t i, start = 0;
    if (n_ids) *n_ids = 0;
    if (!t || !t->data || !n_ids || (!text && len) || (!ids && max_ids) || (!work && work_bytes))
        return MAMBA_ERR_INVALID_ARG;
    e.t = t; e.ids = ids; e.max_ids = max_ids; e.n_ids = 0;
    e.work = (unsigned char *)work; e.work_bytes = work ? work_bytes : 0; e.too_small = 0;
    /* non-normalized added tokens, on the raw bytes: safe because a valid
       UTF-8 string starting at a non-continuation byte decodes the same in
       any context, so matching bytes equals matching the decoded text */
    for (i = 0; i < len && !e.too_small;) {
        size_t k, m = 0;
        if (mamba__tok_inset(t->first_raw, s[i])) {
            for (k = 0; k < t->n_added; k++) {
                const unsigned char *a = t->added + 16 * k;
                size_t al = mamba__tok_u32(a + 12);
                if (mamba__tok_u32(a + 4) & 1u) continue;
                if (al <= len - i && memcmp(s + i, t->added_blob + mamba__tok_u32(a + 8), al) == 0) { m = al; break; }
            }
        }
        if (m) {
            mamba__tok_segment(&e, s + start, i - start);
            mamba__tok_emit(&e, mamba__tok_u32(t->added + 16 * k));
            i += m;
            start = i;
        } else {
            i++;
        }
    }
    if (!e.too_small) mamba__tok_segment(&e, s + start, len - start);
    if (e.too_small) { *n_ids = 0; return MAMBA_ERR_BUFFER_TOO_SMALL; }
    *n_ids = e.n_ids;
    return e.n_ids > max_ids ? MAMBA_ERR_BUFFER_TOO_SMALL : MAMBA_OK;
}

MAMBA_API mamba_result mamba_decode_token(const mamba_tokenizer *t, int id, const char **bytes, size_t *len)
{
    unsigned a, b;
    if (!t || !t->data || !bytes || !len) return MAMBA_ERR_INVALID_ARG;
    if (id < 0 || (unsigned)id >= t->n_vocab) return MAMBA_ERR_TOKEN;
    a = mamba__tok_at(t->tok_offsets, (size_t)id);
    b = mamba__tok_at(t->tok_offsets, (size_t)id + 1);
    *bytes = (const char *)(t->tok_blob + a);
    *len = b - a;
    return MAMBA_OK;
}

MAMBA_API mamba_result mamba_decode(const mamba_tokenizer *t, const int *ids, size_t n,
                                    char *out, size_t cap, size_t *n_out)
{
    size_t i, total = 0;
    if (n_out) *n_out = 0;
    if (!t || !t->data || !n_out || (!ids && n) || (!out && cap)) return MAMBA_ERR_INVALID_ARG;
    for (i = 0; i < n; i++) {
        const char *p;
        size_t l;
        mamba_result r = mamba_decode_token(t, ids[i], &p, &l);
        if (r != MAMBA_OK) return r;
        if (total < cap) memcpy(out + total, p, l < cap - total ? l : cap - total);
        total += l;
    }
    *n_out = total;
    return total > cap ? MAMBA_ERR_BUFFER_TOO_SMALL : MAMBA_OK;
}

/* How many bytes at the end of s[0..n) are the start of a UTF-8 character
   that is valid so far but not yet complete (0..3). */
static size_t mamba__tok_incomplete_tail(const unsigned char *s, size_t n)
{
    size_t k;
    for (k = 1; k <= 3 && k <= n; k++) {
        unsigned b = s[n - k];
        if (b >= 0x80 && b < 0xC0) continue; /* continuation: look further back */
        if (b >= 0xC2 && b <= 0xF4) {
            unsigned c;
            /* the lead at n-k: incomplete if the decoder runs out of input
               (rather than meeting a bad byte) */
            size_t used = mamba__tok_utf8(s + n - k, k, &c);
            if (c == 0xFFFD && used == k) {
                unsigned need = b <= 0xDF ? 2u : b <= 0xEF ? 3u : 4u;
                if (k < need) return k;
            }
        }
        return 0;
    }
    return 0;
}

MAMBA_API void mamba_detok_init(mamba_detok *d)
{
    if (d) { memset(d, 0, sizeof *d); }
}

MAMBA_API mamba_result mamba_detok_push(const mamba_tokenizer *t, mamba_detok *d, int id,
                                        char *out, size_t cap, size_t *n_out)
{
    const char *p;
    size_t l, total, tail;
    mamba_result r;
    if (n_out) *n_out = 0;
    if (!d || !out || !n_out || d->n_held > 3) return MAMBA_ERR_INVALID_ARG;
    r = mamba_decode_token(t, id, &p, &l);
    if (r != MAMBA_OK) return r;
    if (l > cap || d->n_held > cap - l) return MAMBA_ERR_BUFFER_TOO_SMALL;
    memcpy(out, d->held, d->n_held);
    memcpy(out + d->n_held, p, l);
    total = d->n_held + l;
    tail = mamba__tok_incomplete_tail((const unsigned char *)out, total);
    memcpy(d->held, out + total - tail, tail);
    d->n_held = (unsigned)tail;
    *n_out = total - tail;
    return MAMBA_OK;
}

MAMBA_API size_t mamba_detok_flush(mamba_detok *d, char *out)
{
    size_t n;
    if (!d || !out || d->n_held > 3) return 0;
    n = d->n_held;
    memcpy(out, d->held, n);
    d->n_held = 0;
    return n;
}

#endif /* MAMBA__TOK_IMPLEMENTED */
#endif /* MAMBA_IMPLEMENTATION */
/* =================== TOKENIZER: IMPLEMENTATION PART (end) ===================== */
