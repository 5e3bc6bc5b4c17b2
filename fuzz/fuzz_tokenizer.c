/* fuzz_tokenizer.c - libFuzzer harness: text, ids and tokenizer sections are
   untrusted input.

   The tokenizers under test are packed sections (tools/tokpack.py of
   tests/data/tok/NAME/tokenizer.json), read once at start: GPT-NeoX
   ($MAMBA_FUZZ_TOKENIZER, default build/fuzz/tokenizer.bin), Mistral v3, a
   SentencePiece-style BPE with byte fallback ($MAMBA_FUZZ_TOKENIZER_SP,
   build/fuzz/tokenizer_sp.bin) and cl100k, the GPT-4 regex
   ($MAMBA_FUZZ_TOKENIZER_SPLIT, build/fuzz/tokenizer_split.bin); fuzz/fuzz.sh
   makes them. Bits 2-3 of the first input byte pick the tokenizer (0 and 3
   GPT-NeoX, 1 Mistral v3, 2 cl100k); bits 0-1 what the rest is:

     0  text: mamba_encode() with the work size mamba_encode_work_size()
        promises, then mamba_decode() of the ids; for ASCII text (which NFC
        leaves alone) the decoded bytes must equal the text (Mistral v3:
        less the leading space, which its Strip decoder drops).
     1  text, with work memory and an id array too small (sizes from the
        input): BUFFER_TOO_SMALL or OK, never an overrun.
     2  ids (little-endian int32, anything): mamba_decode() (its output
        must be valid UTF-8), decode_token() and the streaming detokenizer,
        with exact-size buffers.
     3  a damaged tokenizer section: a small valid section (made from the
        test texts, $MAMBA_FUZZ_TOKENIZER_SMALL, default
        build/fuzz/tokenizer_small.bin) cut to a length and patched at
        offsets the input gives (4-byte records: 3 bytes offset, 1 byte
        value; offsets with the top bit set land in the 128-byte header);
        mamba_tokenizer_init(), and if it is accepted, encode a fixed
        sentence and decode every id. (Patching keeps the inputs small:
        the section itself is 50 KB of Unicode tables.) With bit 2 of the
        first byte set, the small section is a SentencePiece-style one
        ($MAMBA_FUZZ_TOKENIZER_SMALL_SP, build/fuzz/tokenizer_small_sp.bin:
        the first 600 ids of Mistral v1 and their merges).
     7  the same damage to the small byte-level section carried inside a model file
        (tests/model_builder.h writes the model; 4-byte records whose offset
        has the top bit set patch the model header's directory and section
        fields, bytes 96..127, instead): mamba_model_init_memory(), then
        mamba_tokenizer_from_model(), encode and decode as for 3; then the
        model is closed and mamba_tokenizer_from_model() must refuse it.
        (fuzz_model cannot carry a real section: one is larger than the
        8 KB inputs fuzz/fuzz.sh gives it.)

   Every buffer is malloc'ed at its exact size so AddressSanitizer sees a
   write one byte past it. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"

#include "tests/model_builder.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the fixed tokenizers (harness only): GPT-NeoX, Mistral v3, cl100k */
static unsigned char *fixed_section[3];
static size_t fixed_bytes[3];
static mamba_tokenizer fixed_toks[3];
static const mamba_tokenizer *cur_tok; /* the one this input picked */
#define fixed_tok (*cur_tok)
/* small valid sections to damage: byte-level, SentencePiece-style */
static unsigned char *small_sections[2];
static size_t small_sizes[2];
static int cur_small;
#define small_section small_sections[cur_small]
#define small_bytes small_sizes[cur_small]
static mb_file model_file;      /* a small model carrying small_sections[0] */
static size_t model_tok_offset; /* where the section starts in it */

static unsigned char *read_file(const char *env, const char *def, size_t *bytes)
{
    const char *path = getenv(env);
    unsigned char *buf;
    FILE *f;
    long n;
    if (!path) path = def;
    f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "fuzz_tokenizer: cannot read %s (fuzz/fuzz.sh makes it with tools/tokpack.py)\n", path);
        exit(1);
    }
    *bytes = (size_t)n;
    buf = (unsigned char *)malloc(*bytes);
    if (!buf || fread(buf, 1, *bytes, f) != *bytes) exit(1);
    fclose(f);
    return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *env[3] = {"MAMBA_FUZZ_TOKENIZER", "MAMBA_FUZZ_TOKENIZER_SP", "MAMBA_FUZZ_TOKENIZER_SPLIT"};
    static const char *def[3] = {"build/fuzz/tokenizer.bin", "build/fuzz/tokenizer_sp.bin", "build/fuzz/tokenizer_split.bin"};
    mamba_tokenizer t;
    int k;
    (void)argc;
    (void)argv;
    for (k = 0; k < 3; k++) {
        fixed_section[k] = read_file(env[k], def[k], &fixed_bytes[k]);
        if (mamba_tokenizer_init(&fixed_toks[k], fixed_section[k], fixed_bytes[k]) != MAMBA_OK) {
            fprintf(stderr, "fuzz_tokenizer: %s is rejected: %s\n", def[k], fixed_toks[k].error);
            exit(1);
        }
    }
    small_sections[0] = read_file("MAMBA_FUZZ_TOKENIZER_SMALL", "build/fuzz/tokenizer_small.bin", &small_sizes[0]);
    small_sections[1] = read_file("MAMBA_FUZZ_TOKENIZER_SMALL_SP", "build/fuzz/tokenizer_small_sp.bin", &small_sizes[1]);
    for (k = 0; k < 2; k++)
        if (mamba_tokenizer_init(&t, small_sections[k], small_sizes[k]) != MAMBA_OK) {
            fprintf(stderr, "fuzz_tokenizer: a small tokenizer section is rejected: %s\n", t.error);
            exit(1);
        }
    {
        mb_config c = mb_default();
        const unsigned char *h;
        (void)mb_free; /* the model lives as long as the process */
        c.tokenizer_bytes = (uint32_t)small_sizes[0];
        if (!mb_build(&c, &model_file)) exit(1);
        h = model_file.bytes + 104; /* the section's offset, u64 */
        model_tok_offset = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
        memcpy(model_file.bytes + model_tok_offset, small_sections[0], small_sizes[0]);
    }
    return 0;
}

/* encode text with exactly work_bytes of work memory and room for max_ids
   ids; returns the result, *ids_out a malloc'ed array (caller frees) */
static mamba_result encode(const mamba_tokenizer *t, const char *text, size_t len, size_t work_bytes,
                           size_t max_ids, int **ids_out, size_t *n_ids)
{
    void *work = malloc(work_bytes ? work_bytes : 1);
    int *ids = (int *)malloc(sizeof(int) * (max_ids ? max_ids : 1));
    mamba_result r = MAMBA_ERR_OUT_OF_MEMORY;
    *n_ids = 0;
    if (work && ids) r = mamba_encode(t, text, len, ids, max_ids, n_ids, work, work_bytes);
    if (r == MAMBA_OK && *n_ids > max_ids) __builtin_trap();
    free(work);
    *ids_out = ids;
    return r;
}

static void mode_text(const uint8_t *p, size_t n)
{
    size_t work = mamba_encode_work_size(&fixed_tok, n), n_ids, n_out, i, skip = 0;
    int *ids, ascii = 1;
    char *out;
    mamba_result r;
    if (work == (size_t)-1) return;
    /* at most one id per normalized byte */
    r = encode(&fixed_tok, (const char *)p, n, work, work, &ids, &n_ids);
    if (r != MAMBA_OK) __builtin_trap(); /* the promised work size must be enough */
    for (i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= (int)fixed_tok.n_vocab) __builtin_trap();
    for (i = 0; i < n; i++)
        if (p[i] >= 0x80) ascii = 0;
    /* Metaspace "first" + Strip: a leading space does not come back */
    if (n && p[0] == ' ' && fixed_tok.prepend >= 2 && (fixed_tok.flags & MAMBA_TOK_STRIP)) skip = 1;
    out = (char *)malloc(n + 1);
    if (out) {
        r = mamba_decode(&fixed_tok, ids, n_ids, out, n, &n_out);
        if (ascii && (r != MAMBA_OK || n_out != n - skip || (n > skip && memcmp(out, p + skip, n - skip) != 0)))
            __builtin_trap();
        free(out);
    }
    free(ids);
}

static void mode_small(const uint8_t *p, size_t n)
{
    size_t work, max_ids, n_ids;
    int *ids;
    mamba_result r;
    if (n < 2) return;
    work = (size_t)p[0] * 37u;  /* 0 .. 9435 bytes */
    max_ids = (size_t)p[1] % 64u;
    r = encode(&fixed_tok, (const char *)p + 2, n - 2, work, max_ids, &ids, &n_ids);
    if (r != MAMBA_OK && r != MAMBA_ERR_BUFFER_TOO_SMALL) __builtin_trap();
    free(ids);
}

static void mode_ids(const uint8_t *p, size_t n)
{
    size_t k = n / 4, i, n_out, cap;
    int *ids = (int *)malloc(sizeof(int) * (k ? k : 1));
    char *out, *piece;
    mamba_detok d;
    if (!ids) return;
    for (i = 0; i < k; i++) {
        uint32_t v = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                     (uint32_t)p[4 * i + 3] << 24;
        /* mostly in range, sometimes anything (negative, huge) */
        ids[i] = (v >> 31) ? (int)(v & 0x7FFFFFFFu) * ((v & 1u) ? -1 : 1) : (int)(v % (fixed_tok.n_vocab + 2u));
    }
    cap = n; /* often too small: must truncate, not overrun */
    out = (char *)malloc(cap ? cap : 1);
    if (out) {
        mamba_result r = mamba_decode(&fixed_tok, ids, k, out, cap, &n_out);
        if (r != MAMBA_OK && r != MAMBA_ERR_BUFFER_TOO_SMALL && r != MAMBA_ERR_TOKEN) __builtin_trap();
        if (r == MAMBA_OK) { /* Hugging Face's decode is always valid UTF-8 */
            size_t i2 = 0;
            while (i2 < n_out) {
                unsigned c;
                size_t used = mamba__tok_utf8((const unsigned char *)out + i2, n_out - i2, &c);
                if (c == 0xFFFD && !(used == 3 && memcmp(out + i2, "\xef\xbf\xbd", 3) == 0)) __builtin_trap();
                i2 += used;
            }
        }
        free(out);
    }
    piece = (char *)malloc(fixed_tok.detok_bytes);
    if (piece) {
        mamba_detok_init(&d);
        for (i = 0; i < k; i++) {
            const char *bytes;
            size_t len;
            mamba_result r = mamba_decode_token(&fixed_tok, ids[i], &bytes, &len);
            int in = ids[i] >= 0 && ids[i] < (int)fixed_tok.n_vocab;
            if ((r == MAMBA_OK) != in) __builtin_trap();
            if (r == MAMBA_OK && len) {
                volatile char c = bytes[0];
                c = bytes[len - 1];
                (void)c;
            }
            r = mamba_detok_push(&fixed_tok, &d, ids[i], piece, fixed_tok.detok_bytes, &n_out);
            if ((r == MAMBA_OK) != in) __builtin_trap();
            if (n_out > fixed_tok.detok_bytes) __builtin_trap();
        }
        free(piece);
    }
    {
        char tail[MAMBA_DETOK_FLUSH_BYTES];
        if (mamba_detok_flush(&d, tail) > MAMBA_DETOK_FLUSH_BYTES) __builtin_trap();
    }
    free(ids);
}

/* an accepted tokenizer: encode a fixed sentence, decode every id */
static void exercise(const mamba_tokenizer *t)
{
    static const char text[] = "Once upon a time, a little cat saw   the sea. \xc3\xa9\xe2\x82\xac <|endoftext|> 42!";
    size_t work = mamba_encode_work_size(t, sizeof text - 1), n_ids, i;
    int *ids, id;
    if (work != (size_t)-1 && work < ((size_t)64 << 20)) {
        mamba_result r = encode(t, text, sizeof text - 1, work, sizeof text * 4, &ids, &n_ids);
        /* a damaged regex program may run out of its budget: an error, never a hang */
        if (r != MAMBA_OK && r != MAMBA_ERR_TOKENIZER) __builtin_trap();
        if (r != MAMBA_OK) n_ids = 0;
        for (i = 0; i < n_ids; i++)
            if (ids[i] < 0 || ids[i] >= (int)t->n_vocab) __builtin_trap();
        free(ids);
    }
    for (id = 0; id < (int)t->n_vocab && id < 4096; id++) {
        const char *bytes;
        size_t len;
        if (mamba_decode_token(t, id, &bytes, &len) != MAMBA_OK) __builtin_trap();
        if (len > t->max_token_bytes) __builtin_trap();
        if (len) {
            volatile char c = bytes[len - 1];
            (void)c;
        }
    }
}

static void mode_model_section(const uint8_t *p, size_t n)
{
    mamba_tokenizer t;
    mamba_model m;
    unsigned char *raw = (unsigned char *)malloc(model_file.size + 64), *copy;
    size_t k;
    if (!raw) return;
    copy = raw + ((64u - ((uintptr_t)raw & 63u)) & 63u);
    memcpy(copy, model_file.bytes, model_file.size);
    for (k = 0; k + 4 <= n; k += 4) {
        size_t off = (size_t)p[k] | (size_t)p[k + 1] << 8 | (size_t)(p[k + 2] & 0x7F) << 16;
        if (p[k + 2] & 0x80) copy[96 + off % 32] = p[k + 3]; /* header: directory and section fields */
        else copy[model_tok_offset + off % small_sizes[0]] = p[k + 3];
    }
    if (mamba_model_init_memory(&m, copy, model_file.size) == MAMBA_OK) {
        if (mamba_tokenizer_from_model(&t, &m) == MAMBA_OK) exercise(&t);
        else if (m.tokenizer && !t.error) __builtin_trap();
        mamba_model_close(&m);
        if (m.tokenizer || mamba_tokenizer_from_model(&t, &m) != MAMBA_ERR_INVALID_ARG) __builtin_trap();
    } else if (m.tokenizer || mamba_tokenizer_from_model(&t, &m) != MAMBA_ERR_INVALID_ARG) {
        __builtin_trap(); /* a failed load keeps no pointer and is refused */
    }
    free(raw);
}

static void mode_section(const uint8_t *p, size_t n)
{
    mamba_tokenizer t;
    size_t len = small_bytes, k;
    unsigned char *copy;
    if (n >= 3) { /* first 3 bytes: cut the section to this length (0xFFFFFF: keep it) */
        size_t cut = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16;
        if (cut != 0xFFFFFFu) len = cut % (small_bytes + 1);
        p += 3;
        n -= 3;
    }
    copy = (unsigned char *)malloc(len ? len : 1); /* exact size: ASan sees a read past it */
    if (!copy) return;
    memcpy(copy, small_section, len);
    for (k = 0; k + 4 <= n; k += 4) {
        size_t off = (size_t)p[k] | (size_t)p[k + 1] << 8 | (size_t)(p[k + 2] & 0x7F) << 16;
        if (p[k + 2] & 0x80) off %= 128; /* the header, where the offsets and counts are */
        if (len) copy[off % len] = p[k + 3];
    }
    if (mamba_tokenizer_init(&t, copy, len) == MAMBA_OK) {
        exercise(&t);
    } else if (!t.error) {
        __builtin_trap();
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    cur_tok = &fixed_toks[((data[0] >> 2) & 3) % 3];
    cur_small = (data[0] >> 2) & 1;
    switch (data[0] & 3) {
    case 0: mode_text(data + 1, size - 1); break;
    case 1: mode_small(data + 1, size - 1); break;
    case 2: mode_ids(data + 1, size - 1); break;
    default:
        if (data[0] == 7) mode_model_section(data + 1, size - 1);
        else mode_section(data + 1, size - 1);
        break;
    }
    return 0;
}
