/* test_snapshot.c - state snapshots: save, load, fork, resume, and refuse
   every damaged or foreign blob.

   The model is a small valid file from tests/model_builder.h. "Exactly"
   below means bit-identical logits (memcmp), not close: a snapshot holds
   the very floats of the state, so resuming from one must change nothing. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "harness.h"
#include "model_builder.h"

#include <stdio.h>

#define NV 24 /* n_vocab_padded of the builder's default config */

/* a deterministic token sequence in 0..20 */
static int tok(int seed, int i)
{
    return (int)(((unsigned)seed * 7919u + (unsigned)i * 104729u + ((unsigned)i * (unsigned)i) * 13u) % 21u);
}

/* run tokens tok(seed, from..to-1) on s, writing the logits of each step
   into out (rows of NV); returns 0 on any error */
static int run(const mamba_model *m, mamba_state *s, int seed, int from, int to, float *out)
{
    int i;
    for (i = from; i < to; i++)
        if (mamba_step(m, s, tok(seed, i), out ? out + (size_t)(i - from) * NV : NULL) != MAMBA_OK) return 0;
    return 1;
}

/* the test's own FNV-1a 64, written from the published definition */
static uint64_t fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void reseal(unsigned char *b, size_t size) /* recompute the trailing checksum */
{
    mb_w64(b + size - 8, fnv(b, size - 8));
}

/* does s hold exactly the recurrent floats and position saved in ref? */
static int same_state(const mamba_state *s, const float *ref, long pos, size_t nf)
{
    return s->pos == pos && memcmp(s->conv, ref, nf * sizeof(float)) == 0;
}

static void test_layout(const mamba_model *m)
{
    mamba_state s;
    unsigned char *b;
    size_t size, written = 123, nf;
    uint32_t bits;
    if (mamba_state_new(&s, m) != MAMBA_OK) { CHECK(0, "state"); return; }
    nf = (size_t)2 * 32 * (4 + 4);
    size = mamba_state_snapshot_size(&s);
    CHECK(size == 72 + 4 * nf, "snapshot size %zu, formula %zu", size, 72 + 4 * nf);
    CHECK(mamba_state_snapshot_size(NULL) == 0, "size of NULL");
    run(m, &s, 1, 0, 5, NULL);
    b = (unsigned char *)malloc(size + 16);
    CHECK(mamba_state_save(&s, m, b, size - 1, &written) == MAMBA_ERR_BUFFER_TOO_SMALL, "cap one short");
    CHECK(written == size, "too small reports the size needed (%zu)", written);
    CHECK(mamba_state_save(&s, m, b, size + 16, &written) == MAMBA_OK && written == size, "save");
    CHECK(memcmp(b, "\x89MSTATE\n", 8) == 0, "magic");
    CHECK(rd32(b + 8) == 1 && rd32(b + 12) == 2 && rd32(b + 16) == 16 && rd32(b + 20) == 32 &&
              rd32(b + 24) == 4 && rd32(b + 28) == 4 && rd32(b + 32) == 3 && rd32(b + 36) == 0,
          "version and sizes little-endian at their offsets");
    CHECK(rd32(b + 40) == 5 && rd32(b + 44) == 0, "position");
    CHECK(rd32(b + 56) == nf && rd32(b + 60) == 0, "float count");
    memcpy(&bits, &s.conv[0], 4);
    CHECK(rd32(b + 64) == bits, "first float, little-endian bytes");
    memcpy(&bits, &s.ssm[nf / 2 - 1], 4);
    CHECK(rd32(b + 64 + 4 * (nf - 1)) == bits, "last float is the last of h");
    CHECK(fnv(b, size - 8) == ((uint64_t)rd32(b + size - 8) | (uint64_t)rd32(b + size - 4) << 32),
          "checksum is FNV-1a 64 over everything before it");
    CHECK(mamba_state_save(&s, m, b, size, NULL) == MAMBA_OK, "written may be NULL");
    free(b);
    mamba_state_free(&s);
}

/* save -> load -> continue == uninterrupted, for a heap state and a state
   in caller memory */
static void test_resume(const mamba_model *m)
{
    mamba_state a, b;
    float full[40 * NV], part[20 * NV];
    unsigned char blob[4096];
    size_t w;
    void *mem = malloc(mamba_state_size(m));
    mamba_state_new(&a, m);
    CHECK(mamba_state_init(&b, m, mem, mamba_state_size(m)) == MAMBA_OK, "state in caller memory");
    run(m, &a, 3, 0, 40, full);
    mamba_state_reset(&a);
    run(m, &a, 3, 0, 20, NULL);
    CHECK(mamba_state_save(&a, m, blob, sizeof blob, &w) == MAMBA_OK, "save at 20");
    /* b has a different history: load must overwrite all of it */
    run(m, &b, 99, 0, 7, NULL);
    CHECK(mamba_state_load(&b, m, blob, w) == MAMBA_OK, "load");
    CHECK(b.pos == 20, "position restored (%ld)", b.pos);
    run(m, &b, 3, 20, 40, part);
    CHECK(memcmp(part, full + 20 * NV, sizeof part) == 0, "resumed logits are bit-identical");
    /* the saving state itself is untouched by save and goes on the same way */
    run(m, &a, 3, 20, 40, part);
    CHECK(memcmp(part, full + 20 * NV, sizeof part) == 0, "saver continues unchanged");
    /* a blob in a larger buffer: trailing bytes are ignored */
    memset(blob + w, 0xEE, sizeof blob - w);
    CHECK(mamba_state_load(&b, m, blob, sizeof blob) == MAMBA_OK, "trailing bytes ignored");
    mamba_state_free(&a);
    free(mem);
}

/* fork with mamba_state_copy, continue two branches, interleaved */
static void test_fork(const mamba_model *m)
{
    mamba_state trunk, br, ref;
    float ra[30 * NV], rb[30 * NV], ga[30 * NV], gb[30 * NV];
    int i;
    mamba_state_new(&trunk, m);
    mamba_state_new(&br, m);
    mamba_state_new(&ref, m);
    /* uninterrupted references: 15 tokens of seed 5, then 30 of seed 6 or 7 */
    run(m, &ref, 5, 0, 15, NULL);
    run(m, &ref, 6, 15, 45, ra);
    mamba_state_reset(&ref);
    run(m, &ref, 5, 0, 15, NULL);
    run(m, &ref, 7, 15, 45, rb);
    /* the fork */
    run(m, &trunk, 5, 0, 15, NULL);
    CHECK(mamba_state_copy(&br, &trunk) == MAMBA_OK && br.pos == 15, "fork");
    for (i = 15; i < 45; i++) {
        mamba_step(m, &trunk, tok(6, i), ga + (size_t)(i - 15) * NV);
        mamba_step(m, &br, tok(7, i), gb + (size_t)(i - 15) * NV);
    }
    CHECK(memcmp(ga, ra, sizeof ra) == 0, "branch A equals its own uninterrupted run");
    CHECK(memcmp(gb, rb, sizeof rb) == 0, "branch B equals its own uninterrupted run");
    CHECK(memcmp(ga, gb, sizeof ga) != 0, "the branches did diverge");
    mamba_state_free(&trunk);
    mamba_state_free(&br);
    mamba_state_free(&ref);
}

/* prompt caching: one snapshot after a long prompt, resumed many times */
static void test_prompt_cache(const mamba_model *m)
{
    mamba_state s, ref;
    unsigned char blob[4096];
    float want[10 * NV], got[10 * NV];
    size_t w;
    int k, ok = 1;
    mamba_state_new(&s, m);
    mamba_state_new(&ref, m);
    run(m, &s, 11, 0, 300, NULL);
    CHECK(mamba_state_save(&s, m, blob, sizeof blob, &w) == MAMBA_OK, "snapshot after 300 tokens");
    for (k = 0; k < 8; k++) {
        /* reference: the whole prompt again, then this suffix */
        mamba_state_reset(&ref);
        run(m, &ref, 11, 0, 300, NULL);
        run(m, &ref, 20 + k, 300, 310, want);
        /* resume: the cached prompt, then the suffix */
        if (mamba_state_load(&s, m, blob, w) != MAMBA_OK) ok = 0;
        run(m, &s, 20 + k, 300, 310, got);
        if (memcmp(want, got, sizeof got) != 0 || s.pos != 310) ok = 0;
    }
    CHECK(ok, "8 resumptions from one cached prompt, each bit-identical to a full rerun");
    mamba_state_free(&s);
    mamba_state_free(&ref);
}

/* every truncation, every single-bit flip: refused, state untouched */
static void test_damage(const mamba_model *m)
{
    mamba_state s, t;
    unsigned char *blob, *bad;
    float *before;
    size_t size, len, nf, bit;
    long pos;
    int all_refused = 1, all_untouched = 1, right_code = 1, n_flips = 0;
    mamba_state_new(&s, m);
    mamba_state_new(&t, m);
    run(m, &s, 8, 0, 12, NULL);
    size = mamba_state_snapshot_size(&s);
    blob = (unsigned char *)malloc(size);
    bad = (unsigned char *)malloc(size);
    mamba_state_save(&s, m, blob, size, NULL);
    /* t holds something else; it must survive every refused load */
    run(m, &t, 9, 0, 3, NULL);
    nf = (size_t)t.n_layer * (size_t)t.d_inner * (size_t)(t.d_conv + t.d_state);
    before = (float *)malloc(nf * sizeof(float));
    memcpy(before, t.conv, nf * sizeof(float));
    pos = t.pos;

    for (len = 0; len < size; len++) {
        /* a copy of exactly len bytes, so ASan sees any read past it */
        unsigned char *cut = (unsigned char *)malloc(len ? len : 1);
        mamba_result r;
        memcpy(cut, blob, len);
        r = mamba_state_load(&t, m, cut, len);
        if (r != MAMBA_ERR_TRUNCATED) { right_code = 0; printf("  len %zu: %s\n", len, mamba_result_string(r)); }
        if (!same_state(&t, before, pos, nf)) all_untouched = 0;
        free(cut);
    }
    CHECK(right_code, "all %zu truncations give MAMBA_ERR_TRUNCATED", size);
    CHECK(all_untouched, "no truncated load touched the state");

    right_code = 1;
    for (bit = 0; bit < 8 * size; bit++) {
        size_t byte = bit / 8;
        mamba_result r, want;
        memcpy(bad, blob, size);
        bad[byte] ^= (unsigned char)(1u << (bit % 8));
        r = mamba_state_load(&t, m, bad, size);
        n_flips++;
        if (r == MAMBA_OK) all_refused = 0;
        if (!same_state(&t, before, pos, nf)) all_untouched = 0;
        if (byte < 8) want = MAMBA_ERR_STATE_MAGIC;
        else if (byte < 12) want = MAMBA_ERR_STATE_VERSION;
        else if (byte >= 56 && byte < 64) /* the float count: more floats than bytes, or the checksum moves */
            want = r == MAMBA_ERR_TRUNCATED ? MAMBA_ERR_TRUNCATED : MAMBA_ERR_STATE_CHECKSUM;
        else want = MAMBA_ERR_STATE_CHECKSUM;
        if (r != want) {
            if (right_code) printf("  flip at byte %zu bit %zu: %s\n", byte, bit % 8, mamba_result_string(r));
            right_code = 0;
        }
    }
    CHECK(all_refused, "all %d single-bit flips refused", n_flips);
    CHECK(right_code, "each flip refused with the code of the field it hit");
    CHECK(all_untouched, "no damaged load touched the state");
    CHECK(mamba_state_load(&t, m, blob, size) == MAMBA_OK && same_state(&t, s.conv, s.pos, nf),
          "the undamaged blob still loads");

    /* impossible fields under a valid checksum */
    memcpy(bad, blob, size);
    bad[36] = 1;
    reseal(bad, size);
    CHECK(mamba_state_load(&t, m, bad, size) == MAMBA_ERR_STATE_CHECKSUM, "reserved field set");
    memcpy(bad, blob, size);
    mb_w64(bad + 40, 0xFFFFFFFFFFFFFFFFull);
    reseal(bad, size);
    CHECK(mamba_state_load(&t, m, bad, size) == MAMBA_ERR_STATE_CHECKSUM, "position beyond LONG_MAX");
    memcpy(bad, blob, size);
    mb_w32(bad + 24, 5); /* d_state 5: a shape this model does not have */
    reseal(bad, size);
    CHECK(mamba_state_load(&t, m, bad, size) == MAMBA_ERR_STATE_MODEL, "resealed other d_state");
    memcpy(bad, blob, size);
    mb_w64(bad + 56, nf - 1); /* one float fewer, resealed: sizes disagree */
    reseal(bad, size - 4);
    CHECK(mamba_state_load(&t, m, bad, size - 4) == MAMBA_ERR_STATE_MODEL, "resealed short float count");

    /* a future version: refused as such, whatever follows it */
    memcpy(bad, blob, size);
    mb_w32(bad + 8, 2);
    CHECK(mamba_state_load(&t, m, bad, size) == MAMBA_ERR_STATE_VERSION, "version 2");
    reseal(bad, size);
    CHECK(mamba_state_load(&t, m, bad, size) == MAMBA_ERR_STATE_VERSION, "version 2, resealed");
    mb_w32(bad + 8, 0);
    CHECK(mamba_state_load(&t, m, bad, 12) == MAMBA_ERR_STATE_VERSION, "version 0, 12 bytes");
    CHECK(mamba_state_load(&t, m, "not a state snapshot at all", 27) == MAMBA_ERR_STATE_MAGIC, "text");
    CHECK(same_state(&t, s.conv, s.pos, nf), "state still the good one");

    free(before);
    free(bad);
    free(blob);
    mamba_state_free(&s);
    mamba_state_free(&t);
}

/* load file f and run 6 tokens into a fresh state; save that state */
static int model_and_blob(const mb_file *f, mamba_model *m, mamba_state *s, unsigned char *blob, size_t cap,
                          size_t *w)
{
    if (mamba_model_init_memory(m, f->bytes, f->size) != MAMBA_OK) return 0;
    if (mamba_state_new(s, m) != MAMBA_OK) return 0;
    if (!run(m, s, 4, 0, 6, NULL)) return 0;
    return mamba_state_save(s, m, blob, cap, w) == MAMBA_OK;
}

/* a blob from another model: other shapes, other weights, other config */
static void test_foreign(void)
{
    mb_config ca = mb_default(), cb = mb_default();
    mb_file fa, fb, fc, fd;
    mamba_model ma, mb, mc, md;
    mamba_state sa, sb, sc, sd;
    static unsigned char ba[8192], bb[8192];
    size_t wa, wb, wc;
    unsigned char *emb;

    cb.d_state = 8; /* other dims */
    if (!mb_build(&ca, &fa) || !mb_build(&cb, &fb) || !mb_build(&ca, &fc) || !mb_build(&ca, &fd)) {
        CHECK(0, "build");
        return;
    }
    /* fc: same shapes, the embedding's first row changed */
    emb = fc.bytes + ((size_t)rd32(fc.bytes + fc.dir_offset + 32) | (size_t)rd32(fc.bytes + fc.dir_offset + 36) << 32);
    CHECK(rd32(fc.bytes + fc.dir_offset) == 1, "entry 0 is the embedding");
    mb_wf(emb, 0.25f);
    /* fd: same shapes and weights, another norm_eps */
    mb_wf(fd.bytes + 72, 1e-6f);

    CHECK(model_and_blob(&fa, &ma, &sa, ba, sizeof ba, &wa), "model A");
    CHECK(model_and_blob(&fb, &mb, &sb, bb, sizeof bb, &wb), "model B (d_state 8)");
    CHECK(model_and_blob(&fc, &mc, &sc, bb, sizeof bb, &wc), "model C (other weights)");
    CHECK(mamba_model_init_memory(&md, fd.bytes, fd.size) == MAMBA_OK && mamba_state_new(&sd, &md) == MAMBA_OK,
          "model D (other eps)");

    CHECK(mamba_state_load(&sb, &mb, ba, wa) == MAMBA_ERR_STATE_MODEL, "A's blob into B (other dims)");
    CHECK(mamba_state_load(&sc, &mc, ba, wa) == MAMBA_ERR_STATE_MODEL, "A's blob into C (other weights)");
    CHECK(mamba_state_load(&sd, &md, ba, wa) == MAMBA_ERR_STATE_MODEL, "A's blob into D (other norm_eps)");
    CHECK(mamba_state_load(&sa, &ma, bb, wc) == MAMBA_ERR_STATE_MODEL, "C's blob into A");
    CHECK(mamba_state_load(&sa, &ma, ba, wa) == MAMBA_OK, "A's blob into A");
    /* a state made for another model's shapes is a caller error */
    CHECK(mamba_state_load(&sb, &ma, ba, wa) == MAMBA_ERR_INVALID_ARG, "B's state with model A");
    CHECK(mamba_state_save(&sb, &ma, ba, sizeof ba, &wa) == MAMBA_ERR_INVALID_ARG, "save B's state for A");
    /* NULLs */
    CHECK(mamba_state_save(NULL, &ma, ba, sizeof ba, &wa) == MAMBA_ERR_INVALID_ARG, "save NULL state");
    CHECK(mamba_state_save(&sa, NULL, ba, sizeof ba, &wa) == MAMBA_ERR_INVALID_ARG, "save NULL model");
    CHECK(mamba_state_save(&sa, &ma, NULL, sizeof ba, &wa) == MAMBA_ERR_INVALID_ARG, "save NULL buffer");
    CHECK(mamba_state_load(NULL, &ma, ba, wa) == MAMBA_ERR_INVALID_ARG, "load NULL state");
    CHECK(mamba_state_load(&sa, NULL, ba, wa) == MAMBA_ERR_INVALID_ARG, "load NULL model");
    CHECK(mamba_state_load(&sa, &ma, NULL, wa) == MAMBA_ERR_INVALID_ARG, "load NULL buffer");
    mamba_state_free(&sa);
    CHECK(mamba_state_load(&sa, &ma, ba, wa) == MAMBA_ERR_INVALID_ARG, "load into a freed state");
    CHECK(mamba_state_snapshot_size(&sa) == 0, "size of a freed state");

    mamba_state_free(&sb);
    mamba_state_free(&sc);
    mamba_state_free(&sd);
    mb_free(&fa);
    mb_free(&fb);
    mb_free(&fc);
    mb_free(&fd);
}

int main(void)
{
    mb_config c = mb_default();
    mb_file f;
    mamba_model m;
    if (!mb_build(&c, &f)) { printf("cannot build the test model\n"); return 1; }
    if (mamba_model_init_memory(&m, f.bytes, f.size) != MAMBA_OK) { printf("cannot load it: %s\n", m.error); return 1; }
    test_layout(&m);
    test_resume(&m);
    test_fork(&m);
    test_prompt_cache(&m);
    test_damage(&m);
    test_foreign();
    mb_free(&f);
    return harness_summary();
}
