/* test_tokenizer.c - the byte-level BPE tokenizer against Hugging Face.

   build/test_tokenizer                      self-contained checks (no files):
                                             UTF-8 decoding rules, a hand-made
                                             section with hand-computed ids,
                                             hostile sections and arguments
   build/test_tokenizer SECTION ARG...       then, in order, for each ARG:
     VECDIR             every vector in VECDIR (NAME.in / NAME.ids / NAME.out
                        from tools/tokvectors.js: the Hugging Face reference)
     --big              1 MB inputs (prose, one giant word, invalid bytes, marks)
     --section=FILE     use this packed section for the ARGs that follow
     --hostile=FILE     every truncation and 3000 byte-flipped copies of FILE
     --many=FILE        FILE has 100,000 added tokens: ids and a bounded cost
     --gpt2-program     the section's regex program is mamba.h's built-in GPT-2 one
     --sp-words         SentencePiece cut into words = BPE on whole pieces
   (tests/t_tokenizer.sh runs it that way) */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"

#include "tests/harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (unsigned char *)malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[len] = 0; *n = (size_t)len; }
    return buf;
}

/* encode with exactly the work memory mamba_encode_work_size() promises */
static mamba_result encode_alloc(const mamba_tokenizer *t, const char *s, size_t len, int **ids, size_t *n)
{
    size_t w = mamba_encode_work_size(t, len), cap = 3 * len + 16; /* an invalid byte can cost 3 ids */
    void *work = malloc(w ? w : 1);
    mamba_result r;
    *ids = (int *)malloc(cap * sizeof(int));
    r = mamba_encode(t, s, len, *ids, cap, n, work, w);
    free(work);
    return r;
}

/* ---- a hand-made section: 6 byte tokens, 3 merges, 1 added token ---- */
static void put32(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

/* Vocabulary: 0 "a" 1 "b" 2 " " 3 "ab" 4 " ab" 5 "<e>" 6 "aa"; merges by rank:
   0 (a,b)->ab, 1 (" ",ab)->" ab", 2 (a,a)->aa. No NFC; every code point is
   class "other" except 'a'/'b' letters and ' ' space. */
static size_t build_tiny(unsigned char *s)
{
    static const char *toks[7] = {"a", "b", " ", "ab", " ab", "<e>", "aa"};
    unsigned off = 128, i, pos;
    unsigned merges[3][4] = {{0, 0, 2, 6}, {0, 1, 0, 3}, {2, 3, 1, 4}}; /* sorted by (left, right) */
    memset(s, 0, 1024);
    memcpy(s, "MAMBATOK", 8);
    put32(s + 8, 1); put32(s + 12, 128); put32(s + 20, 0);
    put32(s + 24, 7); put32(s + 28, 3); put32(s + 32, 1); put32(s + 36, 4); put32(s + 40, 1);
    put32(s + 44, 0); put32(s + 48, 0); put32(s + 52, 0);
    /* token offsets + blob */
    put32(s + 68, off);
    pos = 0;
    for (i = 0; i < 7; i++) { put32(s + off + 4 * i, pos); pos += (unsigned)strlen(toks[i]); }
    put32(s + off + 28, pos);
    put32(s + 56, pos); put32(s + 64, 3);
    off += 32;
    put32(s + 72, off);
    for (i = 0; i < 7; i++) { memcpy(s + off, toks[i], strlen(toks[i])); off += (unsigned)strlen(toks[i]); }
    off = (off + 3) & ~3u;
    put32(s + 76, off);
    for (i = 0; i < 256; i++) put32(s + off + 4 * i, 0xFFFFFFFFu);
    put32(s + off + 4 * 'a', 0); put32(s + off + 4 * 'b', 1); put32(s + off + 4 * ' ', 2);
    off += 1024;
    put32(s + 80, off);
    for (i = 0; i < 3; i++) { put32(s + off, merges[i][0]); put32(s + off + 4, merges[i][1]); put32(s + off + 8, merges[i][2]); put32(s + off + 12, merges[i][3]); off += 16; }
    put32(s + 84, off);
    put32(s + off, 5); put32(s + off + 4, 2); put32(s + off + 8, 0); put32(s + off + 12, 3); off += 16;
    put32(s + 88, off); memcpy(s + off, "<e>", 3); off += 4; put32(s + 60, 3);
    put32(s + 92, off); /* classes: 0 other, ' ' space, 'a'..'b' letter, 'c'.. other */
    put32(s + off, (0u << 8) | 0); put32(s + off + 4, (32u << 8) | 3); put32(s + off + 8, (33u << 8) | 0);
    put32(s + off + 12, (97u << 8) | 1); off += 16;
    /* 'a'.. letter for the rest: fine for this test */
    put32(s + 96, off); put32(s + off, 0); off += 4;
    put32(s + 100, off); put32(s + 104, off); put32(s + 108, off);
    put32(s + 16, off);
    return off;
}

static int ids_equal(const int *a, size_t na, const int *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof(int)) == 0);
}

static void test_tiny(void)
{
    unsigned char *sec = (unsigned char *)malloc(4096);
    unsigned char *copy;
    size_t n = build_tiny(sec), cut, nid;
    mamba_tokenizer t;
    int ids[64];
    char work[4096], out[64];
    int all_rejected = 1;
    mamba_result r = mamba_tokenizer_init(&t, sec, n);
    CHECK(r == MAMBA_OK, "tiny init: %d %s", (int)r, t.error ? t.error : "");
    if (r != MAMBA_OK) { free(sec); return; }
    {   /* "abab ab aaa<e>" -> ab ab | " ab" | " " | aa a | <e>  (hand BPE) */
        static const int want[] = {3, 3, 4, 2, 6, 0, 5};
        r = mamba_encode(&t, "abab ab aaa<e>", 14, ids, 64, &nid, work, sizeof work);
        CHECK(r == MAMBA_OK && ids_equal(ids, nid, want, 7), "tiny encode r=%d n=%zu", (int)r, nid);
        r = mamba_encode(&t, "abab ab aaa<e>", 14, ids, 3, &nid, work, sizeof work);
        CHECK(r == MAMBA_ERR_BUFFER_TOO_SMALL && nid == 7 && ids[2] == 4, "too few ids: r=%d n=%zu", (int)r, nid);
        r = mamba_encode(&t, "abab ab aaa<e>", 14, ids, 64, &nid, work, 20);
        CHECK(r == MAMBA_ERR_BUFFER_TOO_SMALL && nid == 0, "tiny work: r=%d", (int)r);
        r = mamba_encode(&t, "xyz", 3, ids, 64, &nid, work, sizeof work);
        CHECK(r == MAMBA_OK && nid == 0, "bytes without ids are dropped: n=%zu", nid);
        r = mamba_encode(&t, NULL, 0, ids, 64, &nid, work, sizeof work);
        CHECK(r == MAMBA_OK && nid == 0, "empty input");
        r = mamba_encode(&t, NULL, 0, NULL, 0, &nid, NULL, 0);
        CHECK(r == MAMBA_OK && nid == 0, "empty input, no buffers");
    }
    {
        const char *p; size_t l;
        CHECK(mamba_decode_token(&t, 4, &p, &l) == MAMBA_OK && l == 3 && memcmp(p, " ab", 3) == 0, "decode 4");
        CHECK(mamba_decode_token(&t, 7, &p, &l) == MAMBA_ERR_TOKEN, "id 7 out of range");
        CHECK(mamba_decode_token(&t, -1, &p, &l) == MAMBA_ERR_TOKEN, "id -1 out of range");
        CHECK(mamba_decode(&t, ids, 0, out, 0, &l) == MAMBA_OK && l == 0, "decode nothing");
        {
            static const int in[] = {3, 4, 5};
            CHECK(mamba_decode(&t, in, 3, out, 64, &l) == MAMBA_OK && l == 8 && memcmp(out, "ab ab<e>", 8) == 0, "decode seq");
            CHECK(mamba_decode(&t, in, 3, out, 4, &l) == MAMBA_ERR_BUFFER_TOO_SMALL && l == 8, "decode cap");
        }
    }
    {   /* from_model */
        mamba_model m;
        mamba_tokenizer t2;
        memset(&m, 0, sizeof m);
        CHECK(mamba_tokenizer_from_model(&t2, &m) == MAMBA_ERR_INVALID_ARG, "a zeroed (never loaded) model");
        m.data = sec; /* stands for a loaded model's bytes */
        CHECK(mamba_tokenizer_from_model(&t2, &m) == MAMBA_ERR_TOKENIZER, "model without tokenizer");
        m.tokenizer = sec; m.tokenizer_bytes = n;
        CHECK(mamba_tokenizer_from_model(&t2, &m) == MAMBA_OK, "model with tokenizer");
    }
    /* every truncation is rejected, read from an exact-size heap copy so a
       read past the end would show under a sanitizer */
    for (cut = 0; cut < n; cut++) {
        copy = (unsigned char *)malloc(cut ? cut : 1);
        memcpy(copy, sec, cut);
        if (mamba_tokenizer_init(&t, copy, cut) != MAMBA_ERR_TOKENIZER) all_rejected = 0;
        free(copy);
    }
    CHECK(all_rejected, "every truncation of the tiny section is rejected");
    CHECK(mamba_tokenizer_init(&t, NULL, 10) == MAMBA_ERR_INVALID_ARG, "NULL section");
    CHECK(mamba_tokenizer_init(NULL, sec, n) == MAMBA_ERR_INVALID_ARG, "NULL tokenizer");
    sec[80] ^= 1; /* misalign the merges */
    CHECK(mamba_tokenizer_init(&t, sec, n) == MAMBA_ERR_TOKENIZER && t.error, "misaligned array");
    free(sec);
}

/* The decoder's replacement rule: bytes -> code points, checked against
   what Python's bytes.decode("utf-8", "replace") gives (hand-copied). */
static void test_utf8(void)
{
    static const struct { const char *in; size_t n; unsigned cps[8]; size_t ncp; } cases[] = {
        {"\x61\x80\x62", 3, {0x61, 0xFFFD, 0x62}, 3},
        {"\xe2\x82\x62", 3, {0xFFFD, 0x62}, 2},
        {"\xf0\x9f\x98", 3, {0xFFFD}, 1},
        {"\xc0\xaf", 2, {0xFFFD, 0xFFFD}, 2},
        {"\xe0\x80\xaf", 3, {0xFFFD, 0xFFFD, 0xFFFD}, 3},
        {"\xed\xa0\x80", 3, {0xFFFD, 0xFFFD, 0xFFFD}, 3},
        {"\xf4\x90\x80\x80", 4, {0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}, 4},
        {"\xf4\x8f\xbf\xbf", 4, {0x10FFFF}, 1},
        {"\xef\xbf\xbd", 3, {0xFFFD}, 1},
        {"\xc3", 1, {0xFFFD}, 1},
        {"\xff\xfe", 2, {0xFFFD, 0xFFFD}, 2},
    };
    size_t k;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const unsigned char *s = (const unsigned char *)cases[k].in;
        size_t i = 0, m = 0, ok = 1;
        while (i < cases[k].n) {
            unsigned c;
            i += mamba__tok_utf8(s + i, cases[k].n - i, &c);
            if (m >= cases[k].ncp || c != cases[k].cps[m]) ok = 0;
            m++;
        }
        CHECK(ok && m == cases[k].ncp, "utf8 case %zu", k);
    }
}

/* ---- the Hugging Face vectors ---- */
static void test_vectors(const mamba_tokenizer *t, const char *dir)
{
    char path[1024], name[256];
    size_t nlist, n_cases = 0, n_ids_ok = 0, n_dec_ok = 0, total_ids = 0;
    unsigned char *list;
    char *line, *eol;
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    list = read_file(path, &nlist);
    CHECK(list != NULL, "cannot read %s", path);
    if (!list) return;
    for (line = (char *)list; *line; line = eol + 1) {
        size_t nin, nexp_txt, nout, n_exp = 0, n_got = 0, ndec;
        unsigned char *in, *exp_txt, *outb;
        int *exp, *got = NULL;
        char *dec, *p;
        int lossy_ok = 0;
        mamba_result r;
        eol = strchr(line, '\n');
        if (!eol) break;
        *eol = 0;
        snprintf(name, sizeof name, "%s", line);
        snprintf(path, sizeof path, "%s/%s.in", dir, name); in = read_file(path, &nin);
        snprintf(path, sizeof path, "%s/%s.ids", dir, name); exp_txt = read_file(path, &nexp_txt);
        snprintf(path, sizeof path, "%s/%s.out", dir, name); outb = read_file(path, &nout);
        CHECK(in && exp_txt && outb, "missing files for %s", name);
        if (!in || !exp_txt || !outb) { free(in); free(exp_txt); free(outb); continue; }
        exp = (int *)malloc((nexp_txt / 2 + 2) * sizeof(int));
        for (p = (char *)exp_txt; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) break;
            exp[n_exp++] = (int)v;
            p = end;
        }
        n_cases++;
        total_ids += n_exp;
        r = encode_alloc(t, (const char *)in, nin, &got, &n_got);
        if (r == MAMBA_OK && ids_equal(got, n_got, exp, n_exp)) n_ids_ok++;
        else {
            size_t i = 0;
            while (i < n_got && i < n_exp && got[i] == exp[i]) i++;
            CHECK(0, "%s: r=%d, %zu ids vs %zu expected, first difference at %zu (got %d, want %d)", name, (int)r,
                  n_got, n_exp, i, i < n_got ? got[i] : -1, i < n_exp ? exp[i] : -1);
        }
        /* decode the reference ids: exactly HF's decoded text */
        dec = (char *)malloc(nout + 64);
        r = mamba_decode(t, exp, n_exp, dec, nout + 64, &ndec);
        if (r == MAMBA_OK && !(ndec == nout && memcmp(dec, outb, nout) == 0)) {
            /* HF's decode is String::from_utf8_lossy of the exact bytes: a
               broken sequence (possible with odd added tokens) shows as
               U+FFFD there; apply the same replacement before comparing */
            char *lossy = (char *)malloc(3 * ndec + 1);
            size_t i = 0, m = 0;
            while (i < ndec) {
                unsigned c;
                i += mamba__tok_utf8((const unsigned char *)dec + i, ndec - i, &c);
                m += mamba__tok_put_utf8(c, (unsigned char *)lossy + m);
            }
            if (m == nout && memcmp(lossy, outb, nout) == 0) lossy_ok = 1;
            free(lossy);
        }
        if (r == MAMBA_OK && (lossy_ok || (ndec == nout && memcmp(dec, outb, nout) == 0))) n_dec_ok++;
        else CHECK(0, "%s: decode differs (r=%d, %zu bytes vs %zu)", name, (int)r, ndec, nout);
        /* streaming decode gives the exact bytes of the ids (byte-level: no
           U+FFFD repair), and each piece ends on a whole character when the
           stream is valid UTF-8 */
        {
            mamba_detok d;
            char *buf = (char *)malloc(t->detok_bytes);
            size_t i, pos = 0, k;
            int ok = 1;
            ndec = 0;
            for (i = 0; i < n_exp; i++) {
                const char *q;
                size_t ql;
                if (mamba_decode_token(t, exp[i], &q, &ql) == MAMBA_OK && ndec + ql <= nout + 64) {
                    memcpy(dec + ndec, q, ql);
                    ndec += ql;
                }
            }
            mamba_detok_init(&d);
            for (i = 0; i < n_exp && ok; i++) {
                if (mamba_detok_push(t, &d, exp[i], buf, t->detok_bytes, &k) != MAMBA_OK) ok = 0;
                else if (pos + k > ndec || memcmp(buf, dec + pos, k) != 0) ok = 0;
                else if (k > 0 && (unsigned char)buf[k - 1] >= 0xC0) ok = 0; /* never ends on a lead byte */
                pos += k;
            }
            k = mamba_detok_flush(&d, buf);
            if (ok && (pos + k != ndec || memcmp(buf, dec + pos, k) != 0)) ok = 0;
            CHECK(ok, "%s: streaming decode", name);
            free(buf);
        }
        free(in); free(exp_txt); free(outb); free(exp); free(got); free(dec);
    }
    free(list);
    printf("vectors: %zu cases, %zu ids; identical ids %zu/%zu, byte-exact decode %zu/%zu\n", n_cases, total_ids,
           n_ids_ok, n_cases, n_dec_ok, n_cases);
    CHECK(n_cases > 0 && n_ids_ok == n_cases && n_dec_ok == n_cases, "all vectors match");
}

/* 1 MB inputs: valid prose repeated, one giant word, 1 MB of invalid bytes */
static void test_big(const mamba_tokenizer *t)
{
    size_t n = 1u << 20, i, nid, nid2;
    char *s = (char *)malloc(n);
    int *ids = NULL, *ids2 = NULL;
    mamba_result r;
    static const char prose[] = "Once upon a time, there was a little girl named Lily.   She liked\r\n\tcaf\xc3\xa9 ";
    for (i = 0; i < n; i++) s[i] = prose[i % (sizeof prose - 1)];
    r = encode_alloc(t, s, n, &ids, &nid);
    CHECK(r == MAMBA_OK && nid > n / 8, "1 MB prose: r=%d n=%zu", (int)r, nid);
    {   /* a small fixed work buffer is enough for ordinary text */
        size_t w = 1u << 20;
        void *work = malloc(7 * n + w);
        ids2 = (int *)malloc((n + 16) * sizeof(int));
        r = mamba_encode(t, s, n, ids2, n + 16, &nid2, work, 7 * n + w);
        CHECK(r == MAMBA_OK && ids_equal(ids, nid, ids2, nid2), "same ids with a smaller work buffer");
        free(work);
    }
    {   /* decode round trip */
        char *d = (char *)malloc(n + 64);
        size_t nd;
        r = mamba_decode(t, ids, nid, d, n + 64, &nd);
        CHECK(r == MAMBA_OK && nd == n && memcmp(d, s, n) == 0, "1 MB round trip (input is NFC)");
        free(d);
    }
    free(ids); free(ids2);
    memset(s, 'a', n);
    r = encode_alloc(t, s, n, &ids, &nid);
    CHECK(r == MAMBA_OK && nid > 0, "1 MB single word: r=%d n=%zu", (int)r, nid);
    free(ids);
    memset(s, 0xff, n);
    r = encode_alloc(t, s, n, &ids, &nid);
    CHECK(r == MAMBA_OK && nid > 0, "1 MB invalid bytes: r=%d n=%zu", (int)r, nid);
    free(ids);
    for (i = 0; i < n; i++) s[i] = (char)(i % 2 ? 0xcc : 0x81); /* U+0301 / U+0316 alternating: a long mark run */
    s[0] = 'e';
    r = encode_alloc(t, s, n, &ids, &nid);
    CHECK(r == MAMBA_OK && nid > 0, "1 MB of combining marks: r=%d n=%zu", (int)r, nid);
    free(ids);
    free(s);
}

/* truncations and byte flips of a real (small) packed section */
static void test_hostile(const char *path)
{
    size_t n, cut, k, nid;
    unsigned char *sec = read_file(path, &n), *copy;
    mamba_tokenizer t;
    int rejected = 1, ids[256], accepted = 0;
    char work[1 << 16];
    unsigned long long seed = 12345;
    CHECK(sec != NULL, "cannot read %s", path);
    if (!sec) return;
    CHECK(mamba_tokenizer_init(&t, sec, n) == MAMBA_OK, "small section loads: %s", t.error ? t.error : "");
    for (cut = 0; cut < n; cut++) {
        copy = (unsigned char *)malloc(cut ? cut : 1);
        memcpy(copy, sec, cut);
        if (mamba_tokenizer_init(&t, copy, cut) == MAMBA_OK) rejected = 0;
        free(copy);
    }
    CHECK(rejected, "every truncation of %s (%zu bytes) is rejected", path, n);
    /* random byte flips: init either refuses, or encoding stays in bounds */
    copy = (unsigned char *)malloc(n);
    for (k = 0; k < 3000; k++) {
        size_t j, flips = 1 + k % 4;
        memcpy(copy, sec, n);
        for (j = 0; j < flips; j++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            copy[(seed >> 33) % (k % 3 == 0 ? 256 : n)] ^= (unsigned char)(1u << ((seed >> 20) & 7)); /* often the header */
        }
        if (mamba_tokenizer_init(&t, copy, n) == MAMBA_OK) {
            const char *txt = "Hello w\xc3\xb6rld  <|endoftext|> e\xcc\x81 \xff 123";
            const char *p;
            size_t l;
            accepted++;
            mamba_encode(&t, txt, strlen(txt), ids, 256, &nid, work, sizeof work);
            for (j = 0; j < nid && j < 256; j++) mamba_decode_token(&t, ids[j], &p, &l);
        }
    }
    printf("hostile: %s: %d of 3000 flipped sections still valid (then encoded safely)\n", path, accepted);
    free(copy);
    free(sec);
}

/* Issue 13 item 5: a section with 100,000 added tokens ("<x00000>" ..
   "<x99999>", ids 256.., over 256 byte ids and no merges; tests/t_tokenizer.sh
   packs it) and a 100 KB text full of them, of prefixes cut short and of
   runs of "<": the ids are those of a hand parse, and the matching cost per
   input byte is bounded by the longest token (8 bytes), not by the 100,000
   tokens (a scan of every token at every "<" took 35 CPU-seconds here). */
static void test_many_added(const char *path)
{
    size_t n, len = 100000, i, n_ids = 0, n_want = 0, steps = 0, w;
    unsigned char *sec = read_file(path, &n);
    char *text = (char *)malloc(len + 16);
    int *ids = (int *)malloc((len + 16) * sizeof(int)), *want = (int *)malloc((len + 16) * sizeof(int));
    unsigned long long seed = 7;
    mamba_tokenizer t;
    mamba_result r;
    void *work;
    CHECK(sec != NULL, "cannot read %s", path);
    if (!sec) { free(text); free(ids); free(want); return; }
    r = mamba_tokenizer_init(&t, sec, n);
    CHECK(r == MAMBA_OK && t.n_added == 100000 && t.max_added_bytes == 8, "100k-token section loads: %s",
          t.error ? t.error : "");
    if (r != MAMBA_OK) { free(sec); free(text); free(ids); free(want); return; }
    for (i = 0; i < len;) {
        unsigned v;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        v = (unsigned)(seed >> 33) % 100000u;
        switch ((seed >> 20) % 4) {
        case 0: /* a whole token */
            if (len - i < 8) { text[i++] = 'a'; continue; }
            sprintf(text + i, "<x%05u>", v); i += 8; break;
        case 1: /* a token cut one byte short: the walk goes 7 deep and fails */
            if (len - i < 7) { text[i++] = 'b'; continue; }
            sprintf(text + i, "<x%05u", v); i += 7; break;
        case 2: text[i++] = '<'; break;
        default: text[i++] = (char)('a' + v % 26); break;
        }
    }
    /* the hand parse: "<x" 5 digits ">" is 256 + the number, any other byte its id */
    for (i = 0; i < len;) {
        size_t k;
        int ok = len - i >= 8 && text[i] == '<' && text[i + 1] == 'x' && text[i + 7] == '>';
        for (k = 2; ok && k < 7; k++) ok = text[i + k] >= '0' && text[i + k] <= '9';
        if (ok) { want[n_want++] = 256 + atoi(text + i + 2); i += 8; }
        else want[n_want++] = (int)mamba__tok_at(t.byte_ids, (unsigned char)text[i++]);
    }
    w = mamba_encode_work_size(&t, len);
    work = malloc(w);
    r = mamba__tok_encode(&t, text, len, ids, len + 16, &n_ids, work, w, &steps);
    CHECK(r == MAMBA_OK && ids_equal(ids, n_ids, want, n_want), "100k added tokens: r=%d, %zu ids, %zu expected",
          (int)r, n_ids, n_want);
    CHECK(steps <= 8 * len, "added-token matching took %zu steps for %zu bytes (bound: 8 a byte)", steps, len);
    printf("100k added tokens: %zu bytes, %zu ids, %.2f matching steps a byte\n", len, n_ids, (double)steps / (double)len);
    free(work); free(sec); free(text); free(ids); free(want);
}

/* The GPT-2 program built into mamba.h for version 1 sections is what
   tools/tokpack.py compiles from the same regex (the section at hand). */
static void test_gpt2_program(const mamba_tokenizer *t)
{
    CHECK(t->version == 2 && t->n_sets * 12 == sizeof mamba__tok_gpt2_sets && t->n_lits * 4 == sizeof mamba__tok_gpt2_lits &&
          t->n_alts * 8 == sizeof mamba__tok_gpt2_alts && t->n_items * 16 == sizeof mamba__tok_gpt2_items &&
          memcmp(t->sets, mamba__tok_gpt2_sets, sizeof mamba__tok_gpt2_sets) == 0 &&
          memcmp(t->lits, mamba__tok_gpt2_lits, sizeof mamba__tok_gpt2_lits) == 0 &&
          memcmp(t->alts, mamba__tok_gpt2_alts, sizeof mamba__tok_gpt2_alts) == 0 &&
          memcmp(t->items, mamba__tok_gpt2_items, sizeof mamba__tok_gpt2_items) == 0,
          "the built-in GPT-2 program equals tokpack's");
}

/* A SentencePiece-style section cut into words (t->sp_words) gives the ids
   of BPE on each whole piece, on 1 MB of text with runs of spaces, newlines,
   unknown characters and added tokens. */
static void test_sp_words(const mamba_tokenizer *t)
{
    static const char prose[] = "Once upon a time,  there was a   little girl.\n\n \xe2\x98\x83 caf\xc3\xa9\t<s> x </s>";
    size_t n = 1u << 20, i, n1, n2;
    char *s = (char *)malloc(n);
    int *a = NULL, *b = NULL;
    mamba_tokenizer whole = *t;
    mamba_result r1, r2;
    CHECK(t->sp_words, "the section is cut into words (sp_words)");
    for (i = 0; i < n; i++) s[i] = prose[i % (sizeof prose - 1)];
    whole.sp_words = 0;
    r1 = encode_alloc(t, s, n, &a, &n1);
    r2 = encode_alloc(&whole, s, n, &b, &n2);
    CHECK(r1 == MAMBA_OK && r2 == MAMBA_OK && ids_equal(a, n1, b, n2), "sp_words: same ids as whole pieces (%zu, %zu)", n1, n2);
    free(a); free(b); free(s);
}

int main(int argc, char **argv)
{
    test_utf8();
    test_tiny();
    if (argc >= 3) {
        size_t n;
        unsigned char *sec = read_file(argv[1], &n);
        mamba_tokenizer t;
        CHECK(sec != NULL, "cannot read section %s", argv[1]);
        if (sec) {
            mamba_result r = mamba_tokenizer_init(&t, sec, n);
            CHECK(r == MAMBA_OK, "init %s: %s", argv[1], t.error ? t.error : "");
            if (r == MAMBA_OK) {
                int i;
                for (i = 2; i < argc; i++) {
                    if (strncmp(argv[i], "--hostile=", 10) == 0) test_hostile(argv[i] + 10);
                    else if (strncmp(argv[i], "--many=", 7) == 0) test_many_added(argv[i] + 7);
                    else if (strcmp(argv[i], "--gpt2-program") == 0) test_gpt2_program(&t);
                    else if (strcmp(argv[i], "--sp-words") == 0) test_sp_words(&t);
                    else if (strcmp(argv[i], "--big") == 0) test_big(&t);
                    else if (strncmp(argv[i], "--section=", 10) == 0) {
                        /* switch the tokenizer for the directories that follow */
                        free(sec);
                        sec = read_file(argv[i] + 10, &n);
                        if (!sec || mamba_tokenizer_init(&t, sec, n) != MAMBA_OK) {
                            CHECK(0, "init %s", argv[i] + 10);
                            break;
                        }
                    } else test_vectors(&t, argv[i]);
                }
            }
            free(sec);
        }
    }
    return harness_summary();
}
