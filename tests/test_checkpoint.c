/* test_checkpoint.c - prefix checkpoints: an edit in a long text costs only
   the tokens after the last checkpoint before it, and changes nothing else.

   The text is real TinyStories prose (the tinystories_* excerpts in
   tests/data/tok), tokenised by the shipped model's own tokenizer, cut to
   5,000 tokens, and read by the shipped model models/tinystories.mamba.
   For random edit points p (a token replaced, inserted or deleted at p):
     - the reference reads the edited text from a reset state with one
       mamba_forward() call (blocks of 256 tokens);
     - the store (a checkpoint every 200 tokens, states restored and read on
       with blocks of 64) must give bit-identical logits (memcmp) and a
       bit-identical state (the two snapshots compared byte for byte),
     - while reading exactly the tokens after the last checkpoint at or
       before the first changed token (the test computes that number itself
       from the two texts and the grid).
   Then: a full store (both eviction rules), the callback, the token-by-token
   path, and every bad argument.
   Run from the repository root (the Makefile does). Optional arguments:
   the number of edits and the text's length in tokens (default 12 and
   5000; a sanitizer build defaults to 2 and 250, as its scalar f16
   arithmetic under -O1 reads about 100 times slower). The checkpoint
   interval is the text's length / 25 (200 tokens for 5000). */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "harness.h"
#include "model_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(SANITIZED)
#define SANITIZED 1
#endif
#ifdef SANITIZED
#define DEFAULT_EDITS 2
#define DEFAULT_TEXT 250
#else
#define DEFAULT_EDITS 12
#define DEFAULT_TEXT 2500
#endif
#define MAX_TEXT 8000
#define CAPACITY 48 /* 40 grid points + the end of a text, with room */
#define MAX_TOKENS (MAX_TEXT + 64)

static const char *const stories[] = {
    "tests/data/tok/tinystories__27_0.in", "tests/data/tok/tinystories__27_1.in",
    "tests/data/tok/tinystories__27_2.in", "tests/data/tok/tinystories__28_0.in",
    "tests/data/tok/tinystories__28_1.in", "tests/data/tok/tinystories_V2_43_0.in",
    "tests/data/tok/tinystories_V2_43_1.in"};

/* the text of all the stories, one after another; NULL on failure */
static char *read_stories(size_t *len)
{
    char *text = NULL;
    size_t n = 0, i;
    for (i = 0; i < sizeof stories / sizeof stories[0]; i++) {
        FILE *f = fopen(stories[i], "rb");
        long sz;
        char *t;
        if (!f) {
            free(text);
            return NULL;
        }
        fseek(f, 0, SEEK_END);
        sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        t = (char *)realloc(text, n + (size_t)sz + 1);
        if (!t || fread(t + n, 1, (size_t)sz, f) != (size_t)sz) {
            fclose(f);
            free(t ? t : text);
            return NULL;
        }
        fclose(f);
        text = t;
        n += (size_t)sz;
    }
    *len = n;
    return text;
}

/* xorshift32, for the edit points: fixed seed, same edits every run */
static unsigned rnd(unsigned *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static int common_prefix(const int *a, int na, const int *b, int nb)
{
    int k = 0;
    while (k < na && k < nb && a[k] == b[k]) k++;
    return k;
}

/* the snapshots of two states, byte for byte */
static int same_snapshot(const mamba_model *m, const mamba_state *a, const mamba_state *b, unsigned char *buf,
                         size_t cap)
{
    size_t na = 0, nb = 0;
    if (mamba_state_save(a, m, buf, cap / 2, &na) != MAMBA_OK) return 0;
    if (mamba_state_save(b, m, buf + cap / 2, cap / 2, &nb) != MAMBA_OK) return 0;
    return na == nb && memcmp(buf, buf + cap / 2, na) == 0;
}

typedef struct counter {
    int calls, bad;
    int last_n;
} counter;

static void on_checkpoint(void *user, const mamba_state *s, const int *tokens, int n)
{
    counter *k = (counter *)user;
    k->calls++;
    if (!tokens || s->pos != (long)n) k->bad++;
    k->last_n = n;
}

/* positions held by the store, in order; 1 when sorted, distinct, and on its history */
static int store_sane(const mamba_checkpoints *c)
{
    int j;
    if (c->n_used < 0 || c->n_used > c->capacity) return 0;
    for (j = 0; j < c->n_used; j++) {
        int p = c->pos[c->order[j]];
        if (p < 1 || p > c->n_tokens || (j > 0 && p <= c->pos[c->order[j - 1]])) return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    mamba_model m;
    mamba_tokenizer tk;
    mamba_state ref, s, t;
    mamba_checkpoints c;
    counter cnt;
    char *text;
    size_t len = 0, n_ids = 0, work_bytes, fw_big, fw_small, snap_cap;
    void *work, *scratch_big, *scratch_small;
    unsigned char *snap;
    int *ids, *cur, *next, n_cur, e, n_read = -1;
    int n_edits = argc > 1 ? atoi(argv[1]) : DEFAULT_EDITS, N_TEXT = argc > 2 ? atoi(argv[2]) : DEFAULT_TEXT;
    int INTERVAL = N_TEXT / 25;
    unsigned seed = 0x2545F491u;
    float *lref, *lck;
    size_t V;

    if (mamba_model_open(&m, "models/tinystories.mamba") != MAMBA_OK) {
        printf("FAIL: cannot open models/tinystories.mamba (run from the repository root)\n");
        return 1;
    }
    CHECK(mamba_tokenizer_from_model(&tk, &m) == MAMBA_OK, "tokenizer");
    text = read_stories(&len);
    CHECK(text != NULL, "cannot read the tinystories excerpts in tests/data/tok");
    if (!text) return harness_summary();
    if (len > (size_t)N_TEXT * 8) len = (size_t)N_TEXT * 8; /* plenty: about 4 bytes a token */
    work_bytes = mamba_encode_work_size(&tk, len);
    work = malloc(work_bytes);
    ids = (int *)malloc(sizeof(int) * (len + 1));
    CHECK(mamba_encode(&tk, text, len, ids, len + 1, &n_ids, work, work_bytes) == MAMBA_OK, "encode");
    CHECK(n_ids >= (size_t)N_TEXT, "only %zu tokens of text", n_ids);
    if (n_ids < (size_t)N_TEXT) return harness_summary();
    if (N_TEXT < 100 || N_TEXT > MAX_TEXT) {
        printf("FAIL: the text length must be 100..%d tokens\n", MAX_TEXT);
        return 1;
    }

    V = (size_t)m.config.n_vocab_padded;
    lref = (float *)malloc(sizeof(float) * V);
    lck = (float *)malloc(sizeof(float) * V);
    cur = (int *)malloc(sizeof(int) * MAX_TOKENS);
    next = (int *)malloc(sizeof(int) * MAX_TOKENS);
    fw_big = mamba_forward_scratch_size(&m, 256);
    fw_small = mamba_forward_scratch_size(&m, 64);
    scratch_big = malloc(fw_big);
    scratch_small = malloc(fw_small);
    CHECK(mamba_state_new(&ref, &m) == MAMBA_OK && mamba_state_new(&s, &m) == MAMBA_OK &&
              mamba_state_new(&t, &m) == MAMBA_OK,
          "states");
    snap_cap = 2 * mamba_state_snapshot_size(&s);
    snap = (unsigned char *)malloc(snap_cap);
    CHECK(mamba_checkpoints_new(&c, &m, CAPACITY, MAX_TOKENS, INTERVAL, 0) == MAMBA_OK, "store");
    memset(&cnt, 0, sizeof cnt);
    c.on_checkpoint = on_checkpoint;
    c.user = &cnt;

    /* the memory formula of the docs, evaluated here on its own */
    CHECK(mamba_checkpoints_size(&m, CAPACITY, MAX_TOKENS) <=
              (size_t)CAPACITY * (mamba_state_size(&m) + sizeof(mamba_state) + 2 * sizeof(int)) +
                  (size_t)MAX_TOKENS * sizeof(int) + 64 + 32,
          "size %zu", mamba_checkpoints_size(&m, CAPACITY, MAX_TOKENS));

    /* 1. the first reading: everything is read, checkpoints at 200, 400, ... and the end */
    memcpy(cur, ids, sizeof(int) * N_TEXT);
    n_cur = N_TEXT;
    mamba_state_reset(&ref);
    CHECK(mamba_forward(&m, &ref, cur, n_cur, lref, 0, scratch_big, fw_big) == MAMBA_OK, "reference");
    CHECK(mamba_checkpoints_forward(&c, &s, cur, n_cur, lck, scratch_small, fw_small, &n_read) == MAMBA_OK, "ck");
    CHECK(n_read == N_TEXT, "read %d", n_read);
    CHECK(memcmp(lref, lck, sizeof(float) * V) == 0, "first reading: logits differ");
    CHECK(same_snapshot(&m, &ref, &s, snap, snap_cap), "first reading: states differ");
    CHECK(c.n_used == (N_TEXT + INTERVAL - 1) / INTERVAL && store_sane(&c), "n_used %d", c.n_used);
    CHECK(cnt.calls == (N_TEXT + INTERVAL - 1) / INTERVAL && cnt.bad == 0 && cnt.last_n == N_TEXT, "callback %d %d", cnt.calls,
          cnt.bad);

    /* 2. random edits, one after another (a document being edited) */
    for (e = 0; e < n_edits; e++) {
        int p = (int)(rnd(&seed) % (unsigned)(n_cur - 1)), kind = e % 3, n_next, k, lim, expect, q;
        memcpy(next, cur, sizeof(int) * (size_t)n_cur);
        n_next = n_cur;
        if (kind == 0) { /* replace token p */
            next[p] = (cur[p] + 1 + (int)(rnd(&seed) % 100)) % m.config.n_vocab;
        } else if (kind == 1) { /* insert before p */
            memmove(next + p + 1, next + p, sizeof(int) * (size_t)(n_cur - p));
            next[p] = ids[(p * 7 + 13) % N_TEXT] ^ 1;
            n_next++;
        } else { /* delete token p */
            memmove(next + p, next + p + 1, sizeof(int) * (size_t)(n_cur - p - 1));
            n_next--;
        }
        /* the number the store must read: from the last checkpoint it holds
           at or before the first changed token (its checkpoints are the grid
           points and the end of the previous text), leaving at least one */
        k = common_prefix(cur, n_cur, next, n_next);
        lim = k < n_next - 1 ? k : n_next - 1;
        expect = 0;
        for (q = INTERVAL; q <= lim && q <= n_cur; q += INTERVAL) expect = q;
        if (n_cur <= lim) expect = n_cur;

        mamba_state_reset(&ref);
        CHECK(mamba_forward(&m, &ref, next, n_next, lref, 0, scratch_big, fw_big) == MAMBA_OK, "reference");
        /* s is wherever the previous edit left it: the store decides what it restores */
        CHECK(mamba_checkpoints_forward(&c, &s, next, n_next, lck, scratch_small, fw_small, &n_read) == MAMBA_OK,
              "checkpoints_forward");
        CHECK(n_read == n_next - expect, "edit %d at %d (kind %d): read %d tokens, expected %d", e, p, kind, n_read,
              n_next - expect);
        CHECK(memcmp(lref, lck, sizeof(float) * V) == 0, "edit %d at %d: logits differ", e, p);
        CHECK(same_snapshot(&m, &ref, &s, snap, snap_cap), "edit %d at %d: states differ", e, p);
        CHECK(s.pos == (long)n_next && store_sane(&c) && c.n_tokens == n_next, "edit %d: pos %ld", e, s.pos);
        printf("edit %2d: %s at %4d: read %4d of %d tokens, logits and state bit-identical\n", e,
               kind == 0 ? "replace" : kind == 1 ? "insert " : "delete ", p, n_read, n_next);
        memcpy(cur, next, sizeof(int) * (size_t)n_next);
        n_cur = n_next;
    }

    /* 3. the same text again: only the last token is read (for its logits);
          without logits nothing is */
    CHECK(mamba_checkpoints_forward(&c, &s, cur, n_cur, lck, scratch_small, fw_small, &n_read) == MAMBA_OK &&
              n_read == n_cur - (n_cur - 1) / INTERVAL * INTERVAL,
          "same text: read %d", n_read);
    CHECK(mamba_checkpoints_forward(&c, &s, cur, n_cur, NULL, scratch_small, fw_small, &n_read) == MAMBA_OK &&
              n_read == 0 && s.pos == (long)n_cur,
          "same text, no logits: read %d", n_read);
    /* a prefix: restore finds the grid point, and the state equals reading the prefix */
    {
        int pos = -1;
        CHECK(mamba_checkpoints_restore(&c, &t, cur, 3 * INTERVAL + INTERVAL / 2, &pos) == MAMBA_OK && pos == 3 * INTERVAL &&
                  t.pos == 3 * INTERVAL,
              "restore: pos %d", pos);
        mamba_state_reset(&ref);
        mamba_forward(&m, &ref, cur, 3 * INTERVAL, NULL, 0, scratch_big, fw_big);
        CHECK(same_snapshot(&m, &ref, &t, snap, snap_cap), "restored state differs from reading the prefix");
        CHECK(mamba_checkpoints_restore(&c, &t, cur, INTERVAL - 1, &pos) == MAMBA_OK && pos == 0 && t.pos == 0,
              "restore before the first checkpoint resets: %d", pos);
    }

    /* 4. a full store, both rules: still exact, and the right checkpoints stay */
    {
        mamba_checkpoints small;
        int rule;
        for (rule = 0; rule < 2; rule++) {
            unsigned fl = rule ? MAMBA_CHECKPOINTS_KEEP_RECENT : 0u;
            CHECK(mamba_checkpoints_new(&small, &m, 4, MAX_TOKENS, INTERVAL, fl) == MAMBA_OK, "small store");
            CHECK(mamba_checkpoints_forward(&small, &s, ids, N_TEXT, lck, scratch_small, fw_small, &n_read) ==
                      MAMBA_OK,
                  "small store forward");
            CHECK(small.n_used == 4 && store_sane(&small), "n_used %d", small.n_used);
            if (rule) {
                /* the last three grid points and the end */
                int first = N_TEXT % INTERVAL == 0 ? N_TEXT - 3 * INTERVAL : N_TEXT / INTERVAL * INTERVAL - 2 * INTERVAL;
                CHECK(small.pos[small.order[0]] == first && small.pos[small.order[3]] == N_TEXT, "recent: %d..%d",
                      small.pos[small.order[0]], small.pos[small.order[3]]);
            } else {
                /* spread: the checkpoints are not all at the end */
                CHECK(small.pos[small.order[0]] < N_TEXT / 2 && small.pos[small.order[3]] == N_TEXT, "spread: %d..%d",
                      small.pos[small.order[0]], small.pos[small.order[3]]);
            }
            memcpy(next, ids, sizeof(int) * N_TEXT);
            next[N_TEXT * 3 / 5] = (next[N_TEXT * 3 / 5] + 1) % m.config.n_vocab;
            mamba_state_reset(&ref);
            mamba_forward(&m, &ref, next, N_TEXT, lref, 0, scratch_big, fw_big);
            CHECK(mamba_checkpoints_forward(&small, &s, next, N_TEXT, lck, scratch_small, fw_small, &n_read) ==
                      MAMBA_OK,
                  "small store edit");
            CHECK(memcmp(lref, lck, sizeof(float) * V) == 0 && same_snapshot(&m, &ref, &s, snap, snap_cap),
                  "full store (rule %d): not exact", rule);
            printf("full store, %s: edit at %d read %d tokens\n", rule ? "keep recent" : "spread", N_TEXT * 3 / 5,
                   n_read);
            mamba_checkpoints_free(&small);
        }
    }

    /* 5. the token-by-token path (scratch NULL) against mamba_step from the
          start, on the first S = min(N_TEXT, 1000) tokens (a step is where an
          OpenMP build pays a fork/join per loop, slow on a loaded machine) */
    {
        int S = N_TEXT < 1000 ? N_TEXT : 1000, i, p = S - S / 10, every = S / 5;
        mamba_checkpoints st;
        CHECK(mamba_checkpoints_new(&st, &m, 8, MAX_TOKENS, every, 0) == MAMBA_OK, "step store");
        mamba_state_reset(&ref);
        for (i = 0; i < S; i++) mamba_step(&m, &ref, ids[i], i == S - 1 ? lref : NULL);
        CHECK(mamba_checkpoints_forward(&st, &s, ids, S, lck, NULL, 0, &n_read) == MAMBA_OK &&
                  n_read == S && memcmp(lref, lck, sizeof(float) * V) == 0,
              "step path: first reading");
        memcpy(next, ids, sizeof(int) * S);
        next[p] = (next[p] + 5) % m.config.n_vocab;
        mamba_state_reset(&ref);
        for (i = 0; i < S; i++) mamba_step(&m, &ref, next[i], i == S - 1 ? lref : NULL);
        CHECK(mamba_checkpoints_forward(&st, &s, next, S, lck, NULL, 0, &n_read) == MAMBA_OK &&
                  n_read == S - p / every * every && memcmp(lref, lck, sizeof(float) * V) == 0 &&
                  same_snapshot(&m, &ref, &s, snap, snap_cap),
              "step path: edit, read %d", n_read);
        /* mamba_checkpoints_add after generating with mamba_step */
        mamba_step(&m, &s, 7, NULL);
        next[S] = 7;
        CHECK(mamba_checkpoints_add(&st, &s, next, S + 1) == MAMBA_OK && st.n_tokens == S + 1 &&
                  st.pos[st.order[st.n_used - 1]] == S + 1,
              "add after a step");
        mamba_checkpoints_free(&st);
    }

    /* 6. bad arguments: a clear code, nothing changed */
    {
        mamba_checkpoints z, keep;
        mamba_state zs, other;
        mamba_model om;
        mb_file f;
        mb_config oc = mb_default();
        unsigned char small_mem[256];
        int bad[3] = {1, 2, 3}, pos = 5;
        size_t before;
        memset(&z, 0, sizeof z);
        memset(&zs, 0, sizeof zs);
        CHECK(mamba_checkpoints_size(NULL, 1, 1) == 0, "NULL model");
        CHECK(mamba_checkpoints_size(&m, -1, 1) == 0 && mamba_checkpoints_size(&m, 1, -1) == 0, "negative");
        CHECK(mamba_checkpoints_size(&m, MAMBA_CHECKPOINTS_MAX_CAPACITY + 1, 1) == 0, "capacity limit");
        CHECK(mamba_checkpoints_size(&m, 1, MAMBA_CHECKPOINTS_MAX_TOKENS + 1) == 0, "token limit");
        CHECK(mamba_checkpoints_size(&m, 0, 0) > 0, "an empty store has a size");
        CHECK(mamba_checkpoints_init(NULL, &m, 1, 1, 1, 0, small_mem, sizeof small_mem) == MAMBA_ERR_INVALID_ARG,
              "init NULL");
        CHECK(mamba_checkpoints_init(&z, &m, 1, 1, 1, 0, NULL, 1000) == MAMBA_ERR_INVALID_ARG, "init NULL mem");
        CHECK(mamba_checkpoints_init(&z, &m, 1, 1, -1, 0, small_mem, sizeof small_mem) == MAMBA_ERR_INVALID_ARG,
              "init interval");
        CHECK(mamba_checkpoints_init(&z, &m, 1, 1, 1, 2u, small_mem, sizeof small_mem) == MAMBA_ERR_INVALID_ARG,
              "init flag");
        CHECK(mamba_checkpoints_init(&z, &m, 1, 1, 1, 0, small_mem, sizeof small_mem) ==
                  MAMBA_ERR_BUFFER_TOO_SMALL,
              "init too small");
        memset(&z, 0, sizeof z);
        CHECK(mamba_checkpoints_forward(&z, &s, bad, 3, lck, NULL, 0, NULL) == MAMBA_ERR_INVALID_ARG, "zeroed store");
        CHECK(mamba_checkpoints_restore(&z, &s, bad, 3, &pos) == MAMBA_ERR_INVALID_ARG && pos == 0, "zeroed store");
        CHECK(mamba_checkpoints_add(&z, &s, bad, 3) == MAMBA_ERR_INVALID_ARG, "zeroed store");
        mamba_checkpoints_free(&z);
        mamba_checkpoints_clear(NULL);
        mamba_checkpoints_free(NULL);

        /* c and s must not change under any of these */
        keep = c;
        before = c.n_tokens;
        mamba_state_copy(&t, &s);
        CHECK(mamba_checkpoints_forward(&c, &zs, cur, 3, lck, NULL, 0, NULL) == MAMBA_ERR_INVALID_ARG, "zeroed s");
        CHECK(mamba_checkpoints_forward(&c, &s, NULL, 3, lck, NULL, 0, NULL) == MAMBA_ERR_INVALID_ARG, "NULL tokens");
        CHECK(mamba_checkpoints_forward(&c, &s, cur, -1, lck, NULL, 0, NULL) == MAMBA_ERR_INVALID_ARG, "n < 0");
        CHECK(mamba_checkpoints_forward(&c, &s, cur, MAX_TOKENS + 1, lck, NULL, 0, NULL) ==
                  MAMBA_ERR_BUFFER_TOO_SMALL,
              "n > max_tokens");
        CHECK(mamba_checkpoints_forward(&c, &s, cur, 10, lck, scratch_small, 16, NULL) == MAMBA_ERR_BUFFER_TOO_SMALL,
              "tiny scratch");
        next[0] = 1;
        next[1] = m.config.n_vocab_padded;
        CHECK(mamba_checkpoints_forward(&c, &s, next, 2, lck, NULL, 0, NULL) == MAMBA_ERR_TOKEN, "bad token");
        next[1] = -1;
        CHECK(mamba_checkpoints_forward(&c, &s, next, 2, lck, NULL, 0, NULL) == MAMBA_ERR_TOKEN, "negative token");
        CHECK(mamba_checkpoints_forward(&c, &s, cur, 0, lck, NULL, 0, &n_read) == MAMBA_OK && n_read == 0, "n = 0");
        CHECK(mamba_checkpoints_restore(&c, &zs, cur, 3, NULL) == MAMBA_ERR_INVALID_ARG, "restore zeroed s");
        CHECK(mamba_checkpoints_restore(&c, &s, NULL, 3, NULL) == MAMBA_ERR_INVALID_ARG, "restore NULL tokens");
        CHECK(mamba_checkpoints_restore(&c, &s, cur, -2, NULL) == MAMBA_ERR_INVALID_ARG, "restore n < 0");
        CHECK(mamba_checkpoints_add(&c, &s, cur, 17) == MAMBA_ERR_INVALID_ARG, "add: s->pos != n");
        CHECK(mamba_checkpoints_add(&c, &zs, cur, 0) == MAMBA_ERR_INVALID_ARG, "add zeroed s");
        CHECK(mamba_checkpoints_add(&c, &s, cur, -1) == MAMBA_ERR_INVALID_ARG, "add n < 0");
        CHECK(mamba_checkpoints_add(&c, &s, cur, 0) == MAMBA_OK, "add n = 0: no-op");
        /* a state of another model's shapes */
        if (mb_build(&oc, &f) && mamba_model_init_memory(&om, f.bytes, f.size) == MAMBA_OK &&
            mamba_state_new(&other, &om) == MAMBA_OK) {
            CHECK(mamba_checkpoints_forward(&c, &other, bad, 3, NULL, NULL, 0, NULL) == MAMBA_ERR_INVALID_ARG,
                  "other model's state");
            CHECK(mamba_checkpoints_restore(&c, &other, bad, 3, NULL) == MAMBA_ERR_INVALID_ARG, "other (restore)");
            mamba_step(&om, &other, 1, NULL);
            mamba_step(&om, &other, 2, NULL);
            mamba_step(&om, &other, 3, NULL);
            CHECK(mamba_checkpoints_add(&c, &other, bad, 3) == MAMBA_ERR_INVALID_ARG, "other (add)");
            mamba_state_free(&other);
            mb_free(&f);
        } else {
            CHECK(0, "second model");
        }
        CHECK(memcmp(&keep, &c, sizeof c) == 0 && (size_t)c.n_tokens == before && store_sane(&c),
              "the store changed on a bad call");
        CHECK(same_snapshot(&m, &t, &s, snap, snap_cap), "the state changed on a bad call");
        mamba_checkpoints_clear(&c);
        CHECK(c.n_used == 0 && c.n_tokens == 0, "clear");
        CHECK(mamba_checkpoints_restore(&c, &t, cur, n_cur, &pos) == MAMBA_OK && pos == 0 && t.pos == 0,
              "restore from an empty store resets");
    }

    mamba_checkpoints_free(&c);
    mamba_state_free(&ref);
    mamba_state_free(&s);
    mamba_state_free(&t);
    mamba_model_close(&m);
    free(text);
    free(work);
    free(ids);
    free(lref);
    free(lck);
    free(cur);
    free(next);
    free(scratch_big);
    free(scratch_small);
    free(snap);
    return harness_summary();
}
