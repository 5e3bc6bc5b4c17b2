/* test_badinput.c - bad input everywhere: every public function given NULL,
   out-of-range token ids, empty and zero-length work, non-finite weights
   (and the checked load that refuses them), and a model file changed or
   truncated on disk while mapped. Each case checks the documented result;
   none may crash (tests/t_sanitize.sh reruns this under ASan+UBSan). */
#define _POSIX_C_SOURCE 200809L /* fork, ftruncate, waitpid, pwrite, mkfifo, alarm */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "harness.h"
#include "model_builder.h"

#include <errno.h>
#include <fcntl.h>  /* open, for the mmap cases and the MAMBA_NO_MMAP build */
#include <limits.h>
#include <signal.h> /* alarm: a watchdog for the FIFO that used to block */
#include <stdio.h>
#include <sys/stat.h> /* mkfifo */
#include <unistd.h> /* close, unlink, write, pwrite, ftruncate */

/* POSIX files: mamba_model_open must refuse a FIFO, a directory, a device */
#if !defined(MAMBA_NO_STDIO) && (defined(__unix__) || defined(__APPLE__))
#define TEST_POSIX_FILES 1
#endif

#ifdef MAMBA__HAVE_MMAP
#include <signal.h>
#include <sys/wait.h>
#endif

#define NV 24

static int is_nan(float f) { return f != f; }

/* the state's recurrent floats and position, to prove a refusal kept them */
typedef struct snap { float f[2 * 32 * 8]; long pos; } snap;
static void take(const mamba_state *s, snap *k)
{
    memcpy(k->f, s->conv, sizeof k->f);
    k->pos = s->pos;
}
static int same(const mamba_state *s, const snap *k)
{
    return s->pos == k->pos && memcmp(k->f, s->conv, sizeof k->f) == 0;
}

static void test_tokens(const mamba_model *m)
{
    static const int bad[] = {-1, NV, NV + 1, INT_MAX, INT_MIN, -NV};
    mamba_state s;
    snap k;
    float logits[NV];
    size_t i;
    int all = 1;
    mamba_state_new(&s, m);
    mamba_step(m, &s, 3, logits);
    take(&s, &k);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (mamba_step(m, &s, bad[i], logits) != MAMBA_ERR_TOKEN) all = 0;
        if (mamba_step(m, &s, bad[i], NULL) != MAMBA_ERR_TOKEN) all = 0;
    }
    CHECK(all, "ids -1, n_vocab_padded, INT_MAX, INT_MIN ... give MAMBA_ERR_TOKEN");
    CHECK(same(&s, &k), "a refused id leaves the state as it was");
    /* ids in n_vocab..n_vocab_padded-1 have embedding rows: valid input,
       though a tokenizer never makes them and mamba_argmax(.., n_vocab) never picks them */
    CHECK(mamba_step(m, &s, 21, logits) == MAMBA_OK && mamba_step(m, &s, NV - 1, logits) == MAMBA_OK,
          "padding ids are accepted as input");
    CHECK(mamba_argmax(logits, m->config.n_vocab) < m->config.n_vocab, "argmax stays in the real vocabulary");
    mamba_state_free(&s);
}

/* every public function with NULL (or a zeroed object) where a caller
   could pass one: an error code or a documented no-op, never a crash */
static void test_nulls(const mb_file *f, const mamba_model *m)
{
    mamba_model bad, zm;
    mamba_state s, zs;
    mamba_rng rng;
    mamba_sampler smp = mamba_sampler_default();
    float logits[NV];
    int work[NV];
    mamba_result r;
    unsigned char small[8];
    void *mem;

    /* results */
    CHECK(mamba_result_string((mamba_result)12345) != NULL, "string of an unknown code");
    CHECK(strcmp(mamba_result_string(MAMBA_ERR_NONFINITE), "a weight is NaN or infinite") == 0, "NONFINITE string");
    /* loading */
    CHECK(mamba_model_init_memory(NULL, f->bytes, f->size) == MAMBA_ERR_INVALID_ARG, "init_memory NULL model");
    CHECK(mamba_model_init_memory(&bad, NULL, f->size) == MAMBA_ERR_INVALID_ARG && bad.error, "init_memory NULL data");
    CHECK(mamba_model_init_memory(&bad, f->bytes, 0) == MAMBA_ERR_TRUNCATED, "init_memory 0 bytes");
    CHECK(mamba_model_init_memory(&bad, f->bytes + 1, f->size - 1) == MAMBA_ERR_ALIGN, "misaligned data");
    CHECK(mamba_model_init_memory_ex(NULL, f->bytes, f->size, 0) == MAMBA_ERR_INVALID_ARG, "_ex NULL model");
    CHECK(mamba_model_init_memory_ex(&bad, NULL, f->size, MAMBA_LOAD_CHECK_FINITE) == MAMBA_ERR_INVALID_ARG,
          "_ex NULL data");
    CHECK(mamba_model_init_memory_ex(&bad, f->bytes, f->size, 0x80u) == MAMBA_ERR_INVALID_ARG && bad.error,
          "_ex unknown flag");
#ifndef MAMBA_NO_STDIO
    CHECK(mamba_model_open(NULL, "x.mamba") == MAMBA_ERR_INVALID_ARG, "open NULL model");
    CHECK(mamba_model_open(&bad, NULL) == MAMBA_ERR_INVALID_ARG, "open NULL path");
    CHECK(mamba_model_open(&bad, "") == MAMBA_ERR_IO, "open empty path");
    CHECK(mamba_model_open(&bad, "/nonexistent/dir/x.mamba") == MAMBA_ERR_IO, "open missing file");
    r = mamba_model_open(&bad, "tests");
#ifdef TEST_POSIX_FILES
    CHECK(r == MAMBA_ERR_IO && strstr(bad.error, "directory"), "open a directory: %s (%s)", mamba_result_string(r),
          bad.error);
    r = mamba_model_open(&bad, "/dev/null");
    CHECK(r == MAMBA_ERR_IO && strstr(bad.error, "regular"), "open a device: %s (%s)", mamba_result_string(r),
          bad.error);
#else
    CHECK(r == MAMBA_ERR_IO || r == MAMBA_ERR_TRUNCATED, "open a directory: %s", mamba_result_string(r));
    CHECK(mamba_model_open(&bad, "/dev/null") == MAMBA_ERR_TRUNCATED, "open an empty file");
#endif
    CHECK(mamba_model_open_ex(NULL, "x", 0) == MAMBA_ERR_INVALID_ARG, "open_ex NULL model");
    CHECK(mamba_model_open_ex(&bad, NULL, MAMBA_LOAD_CHECK_FINITE) == MAMBA_ERR_INVALID_ARG, "open_ex NULL path");
    CHECK(mamba_model_open_ex(&bad, "x", 2u) == MAMBA_ERR_INVALID_ARG, "open_ex unknown flag");
#endif
    mamba_model_close(NULL); /* no-op */
    mamba_model_close(&bad); /* a failed model owns nothing: no-op */
    CHECK(bad.data == NULL, "a failed model has no data");
    /* a failed load with its config filled in (a tensor was bad): unusable, safely */
    {
        void *raw;
        unsigned char *p = (unsigned char *)malloc(f->size + 64);
        raw = p;
        p = (unsigned char *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
        memcpy(p, f->bytes, f->size);
        mb_w32(p + f->dir_offset + 8, 7); /* first tensor: unknown dtype */
        CHECK(mamba_model_init_memory(&bad, p, f->size) == MAMBA_ERR_TENSOR && bad.config.d_model == 16,
              "a tensor error after the header was read");
        free(raw);
    }
    CHECK(mamba_state_size(NULL) == 0 && mamba_state_size(&bad) == 0, "state_size of NULL / failed model");
    /* states */
    mem = malloc(mamba_state_size(m));
    CHECK(mamba_state_init(NULL, m, mem, mamba_state_size(m)) == MAMBA_ERR_INVALID_ARG, "state_init NULL state");
    CHECK(mamba_state_init(&s, NULL, mem, mamba_state_size(m)) == MAMBA_ERR_INVALID_ARG, "state_init NULL model");
    CHECK(mamba_state_init(&s, m, NULL, mamba_state_size(m)) == MAMBA_ERR_INVALID_ARG, "state_init NULL memory");
    CHECK(mamba_state_init(&s, &bad, mem, mamba_state_size(m)) == MAMBA_ERR_INVALID_ARG, "state_init failed model");
    CHECK(mamba_state_init(&s, m, small, sizeof small) == MAMBA_ERR_BUFFER_TOO_SMALL, "state_init small buffer");
    CHECK(mamba_state_init(&s, m, mem, 0) == MAMBA_ERR_BUFFER_TOO_SMALL, "state_init 0 bytes");
    CHECK(mamba_state_new(NULL, m) == MAMBA_ERR_INVALID_ARG, "state_new NULL state");
    CHECK(mamba_state_new(&s, NULL) == MAMBA_ERR_INVALID_ARG, "state_new NULL model");
    CHECK(mamba_state_new(&s, &bad) == MAMBA_ERR_INVALID_ARG, "state_new failed model");
    mamba_state_free(NULL);
    mamba_state_reset(NULL);
    memset(&zs, 0, sizeof zs);
    mamba_state_reset(&zs); /* a zeroed state: no-op */
    mamba_state_free(&zs);  /* owns nothing: no-op */
    CHECK(mamba_state_new(&s, m) == MAMBA_OK, "state_new");
    CHECK(mamba_state_copy(NULL, &s) == MAMBA_ERR_INVALID_ARG, "copy to NULL");
    CHECK(mamba_state_copy(&s, NULL) == MAMBA_ERR_INVALID_ARG, "copy from NULL");
    CHECK(mamba_state_copy(&zs, &s) == MAMBA_ERR_INVALID_ARG, "copy into a zeroed state");
    CHECK(mamba_state_copy(&s, &s) == MAMBA_OK, "copy onto itself");
    /* stepping */
    CHECK(mamba_step(NULL, &s, 0, logits) == MAMBA_ERR_INVALID_ARG, "step NULL model");
    CHECK(mamba_step(m, NULL, 0, logits) == MAMBA_ERR_INVALID_ARG, "step NULL state");
    CHECK(mamba_step(m, &zs, 0, logits) == MAMBA_ERR_INVALID_ARG, "step a zeroed state");
    CHECK(mamba_step(&bad, &s, 0, logits) == MAMBA_ERR_INVALID_ARG, "step a model whose load failed");
    memset(&zm, 0, sizeof zm);
    CHECK(mamba_step(&zm, &s, 0, logits) == MAMBA_ERR_INVALID_ARG, "step a zeroed model");
    CHECK(mamba_step(m, &s, 0, NULL) == MAMBA_OK && s.pos == 1, "NULL logits: advance only");
    CHECK(mamba_argmax(NULL, NV) == -1, "argmax NULL");
    CHECK(mamba_argmax(logits, 0) == -1 && mamba_argmax(logits, -5) == -1, "argmax n < 1");
    /* snapshots (more in test_snapshot.c) */
    CHECK(mamba_state_snapshot_size(NULL) == 0, "snapshot_size NULL");
    CHECK(mamba_state_save(NULL, m, small, sizeof small, NULL) == MAMBA_ERR_INVALID_ARG, "save NULL");
    CHECK(mamba_state_load(&s, m, NULL, 100) == MAMBA_ERR_INVALID_ARG, "load NULL");
    CHECK(mamba_state_load(&s, m, small, 0) == MAMBA_ERR_TRUNCATED, "load 0 bytes");
    /* sampling */
    mamba_rng_seed(NULL, 1); /* no-op */
    CHECK(mamba_rng_u32(NULL) == 0 && mamba_rng_float(NULL) == 0.0f, "rng NULL gives 0");
    mamba_rng_seed(&rng, 7);
    CHECK(mamba_sample(NULL, &rng, logits, NV, NULL, 0, work) == -1, "sample NULL sampler");
    CHECK(mamba_sample(&smp, NULL, logits, NV, NULL, 0, work) == -1, "sample NULL rng");
    CHECK(mamba_sample(&smp, &rng, NULL, NV, NULL, 0, work) == -1, "sample NULL logits");
    CHECK(mamba_sample(&smp, &rng, logits, NV, NULL, 0, NULL) == -1, "sample NULL work");
    CHECK(mamba_sample(&smp, &rng, logits, 0, NULL, 0, work) == -1, "sample n = 0");
    CHECK(mamba_sample(&smp, &rng, logits, NV, NULL, 3, work) == -1, "sample recent NULL with n_recent 3");
    mamba_state_free(&s);
    mamba_state_free(&s); /* twice: no-op */
    free(mem);
}

/* zero-length and empty work: nothing happens, nothing breaks */
static void test_empty(const mamba_model *m)
{
    mamba_state s;
    float logits[NV];
    memset(logits, 0, sizeof logits);
    mamba_state_new(&s, m);
    /* an empty prompt: the library has no "logits before the first token";
       a caller starts from bos_id if the model has one (the builder's has
       none: -1, which mamba_step refuses) or from any token it chooses */
    CHECK(m->config.bos_id == -1 && mamba_step(m, &s, m->config.bos_id, logits) == MAMBA_ERR_TOKEN,
          "stepping bos_id -1 (no BOS) is refused, not a crash");
    CHECK(s.pos == 0, "still at position 0");
    /* mamba_forward: n == 0 does nothing, NULL tokens with n > 0 and n < 0
       are refused, a bad id anywhere is refused before any work */
    {
        static unsigned char scratch[1 << 16];
        int toks[5] = {1, 2, 3, NV, 4};
        snap k;
        float ref[NV];
        memcpy(ref, logits, sizeof ref);
        take(&s, &k);
        CHECK(mamba_forward(m, &s, toks, 0, logits, 0, scratch, sizeof scratch) == MAMBA_OK && same(&s, &k) &&
                  memcmp(ref, logits, sizeof ref) == 0,
              "forward of an empty prompt: a no-op, logits untouched");
        CHECK(mamba_forward(m, &s, NULL, 0, logits, 0, scratch, sizeof scratch) == MAMBA_OK, "empty, tokens NULL");
        CHECK(mamba_forward(m, &s, NULL, 3, logits, 0, scratch, sizeof scratch) == MAMBA_ERR_INVALID_ARG, "NULL tokens");
        CHECK(mamba_forward(m, &s, toks, -1, logits, 0, scratch, sizeof scratch) == MAMBA_ERR_INVALID_ARG, "n < 0");
        CHECK(mamba_forward(NULL, &s, toks, 3, logits, 0, scratch, sizeof scratch) == MAMBA_ERR_INVALID_ARG, "NULL model");
        CHECK(mamba_forward(m, NULL, toks, 3, logits, 0, scratch, sizeof scratch) == MAMBA_ERR_INVALID_ARG, "NULL state");
        CHECK(mamba_forward(m, &s, toks, 5, logits, 0, scratch, sizeof scratch) == MAMBA_ERR_TOKEN && same(&s, &k) &&
                  memcmp(ref, logits, sizeof ref) == 0,
              "a bad id in the 4th place: refused, state and logits untouched");
        CHECK(mamba_forward(m, &s, toks, 5, logits, 0, NULL, 0) == MAMBA_ERR_TOKEN && same(&s, &k),
              "same without scratch");
        CHECK(mamba_forward_scratch_size(NULL, 4) == 0 && mamba_forward_scratch_size(m, 0) == 0, "scratch size of bad args");
    }
    /* zero-length generation: no call at all; the state stays usable */
    CHECK(mamba_step(m, &s, 1, logits) == MAMBA_OK && s.pos == 1, "first step after nothing");
    mamba_state_free(&s);
}

/* the offset of directory entry i's data */
static unsigned char *tensor_data(const mb_file *f, int i)
{
    const unsigned char *e = f->bytes + f->dir_offset + 48 * (size_t)i;
    uint64_t off = (uint64_t)e[32] | (uint64_t)e[33] << 8 | (uint64_t)e[34] << 16 | (uint64_t)e[35] << 24;
    return f->bytes + off;
}
static uint32_t entry32(const mb_file *f, int i, int field)
{
    const unsigned char *e = f->bytes + f->dir_offset + 48 * (size_t)i + field;
    return (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
}
/* index of the entry with this role and layer, or -1 */
static int find(const mb_file *f, uint32_t role, uint32_t layer)
{
    int i;
    for (i = 0; i < (int)f->n_tensors; i++)
        if (entry32(f, i, 0) == role && entry32(f, i, 4) == layer) return i;
    return -1;
}

/* put one bad value (bits, in the tensor's own width) at element k of a
   tensor; a checked load must name the tensor, a plain one must load */
static void nonfinite_case(uint32_t dtype, uint32_t flags, uint32_t role, uint32_t layer, size_t k, uint32_t bits,
                           const char *name, int want_layer)
{
    mb_config c = mb_default();
    mb_file f;
    mamba_model m;
    mamba_state s;
    float logits[NV];
    int i, width;
    mamba_result r;
    c.dtype = dtype;
    c.flags = flags;
    if (!mb_build(&c, &f)) { CHECK(0, "build"); return; }
    CHECK(mamba_model_init_memory_ex(&m, f.bytes, f.size, MAMBA_LOAD_CHECK_FINITE) == MAMBA_OK,
          "clean model passes the check (%s)", name);
    i = find(&f, role, layer);
    width = entry32(&f, i, 8) == 0 ? 4 : 2;
    if (width == 4) mb_w32(tensor_data(&f, i) + 4 * k, bits);
    else { tensor_data(&f, i)[2 * k] = (unsigned char)bits; tensor_data(&f, i)[2 * k + 1] = (unsigned char)(bits >> 8); }
    r = mamba_model_init_memory_ex(&m, f.bytes, f.size, MAMBA_LOAD_CHECK_FINITE);
    CHECK(r == MAMBA_ERR_NONFINITE, "%s bits 0x%x: %s", name, (unsigned)bits, mamba_result_string(r));
    CHECK(m.error_role && strcmp(m.error_role, name) == 0 && m.error_layer == want_layer,
          "names %s layer %d (got %s layer %d)", name, want_layer, m.error_role ? m.error_role : "NULL", m.error_layer);
    CHECK(m.data == NULL && mamba_state_new(&s, &m) == MAMBA_ERR_INVALID_ARG, "a refused model is unusable");
    /* unchecked: it loads, and stepping is safe (the logits may be NaN) */
    CHECK(mamba_model_init_memory(&m, f.bytes, f.size) == MAMBA_OK, "plain load accepts it");
    if (mamba_state_new(&s, &m) == MAMBA_OK) {
        int t, ok = 1, a;
        for (t = 0; t < 4; t++) ok &= mamba_step(&m, &s, t, logits) == MAMBA_OK;
        a = mamba_argmax(logits, m.config.n_vocab);
        CHECK(ok && a >= 0 && a < m.config.n_vocab, "steps and argmax stay in range (%d)", a);
        mamba_state_free(&s);
    }
    mb_free(&f);
}

static void test_nonfinite(void)
{
    nonfinite_case(0, 1, 1, 0, 5, 0x7FC00000u, "embedding", -1);       /* f32 NaN */
    nonfinite_case(0, 1, 24, 1, 63, 0xFF800000u, "A", 1);              /* f32 -inf, last element */
    nonfinite_case(0, 1, 20, 0, 0, 0x7F800000u, "conv1d.bias", 0);     /* f32 +inf */
    nonfinite_case(0, 1, 2, 0, 15, 0x7F800001u, "norm_f", -1);         /* signalling NaN */
    nonfinite_case(0, 1 | 2 | 4 | 8, 3, 0, 100, 0x7FC00000u, "lm_head", -1); /* untied head */
    nonfinite_case(0, 1 | 2 | 4 | 8, 27, 1, 3, 0x7F800000u, "out_proj.bias", 1);
    nonfinite_case(1, 1, 17, 0, 7, 0x7C00u, "in_proj.weight", 0);      /* f16 +inf */
    nonfinite_case(1, 1, 26, 1, 511, 0xFE00u, "out_proj.weight", 1);   /* f16 NaN, last element */
    nonfinite_case(2, 1, 21, 0, 2, 0x7F80u, "x_proj.weight", 0);       /* bf16 +inf */
    nonfinite_case(2, 1, 22, 1, 0, 0xFFC1u, "dt_proj.weight", 1);      /* bf16 NaN */
    /* the largest finite values pass: the check is about NaN and infinity only */
    {
        mb_config c = mb_default();
        mb_file f;
        mamba_model m;
        if (mb_build(&c, &f)) {
            int i = find(&f, 25, 0);
            mb_wf(tensor_data(&f, i), 3.4028235e38f);
            CHECK(mamba_model_init_memory_ex(&m, f.bytes, f.size, MAMBA_LOAD_CHECK_FINITE) == MAMBA_OK, "FLT_MAX passes");
            mb_free(&f);
        }
    }
}

/* NaN and infinite logits: the samplers stay in range and terminate */
static void test_nan_logits(void)
{
    float l[NV];
    int work[NV], i, t;
    mamba_rng rng;
    mamba_sampler smp = mamba_sampler_default();
    mamba_rng_seed(&rng, 3);
    for (i = 0; i < NV; i++) l[i] = (float)i;
    l[0] = (float)nan("");
    l[5] = l[0];
    CHECK(is_nan(l[0]), "made a NaN");
    CHECK(mamba_argmax(l, NV) == NV - 1, "argmax skips a leading NaN (%d)", mamba_argmax(l, NV));
    for (i = 0; i < NV; i++) l[i] = l[0];
    CHECK(mamba_argmax(l, NV) == 0, "all NaN: argmax 0");
    t = mamba_sample(&smp, &rng, l, NV, NULL, 0, work);
    CHECK(t >= 0 && t < NV, "sampling all-NaN logits stays in range (%d)", t);
    for (i = 0; i < NV; i++) l[i] = (float)i;
    l[7] = (float)HUGE_VAL;
    smp.top_p = 0.9f;
    smp.top_k = 5;
    t = mamba_sample(&smp, &rng, l, NV, NULL, 0, work);
    CHECK(t == 7, "a +Inf logit is drawn (%d)", t);
    /* the table's sampler rows (every range in tests/test_sampler.c) */
    {
        int never_nan = 1, d;
        smp = mamba_sampler_default();
        for (d = 0; d < 1000; d++) {
            for (i = 0; i < NV; i++) l[i] = (float)(i % 3);
            l[5] = (float)nan("");
            t = mamba_sample(&smp, &rng, l, NV, NULL, 0, work);
            never_nan &= t >= 0 && t < NV && t != 5;
        }
        CHECK(never_nan, "a NaN logit is never drawn");
        smp.min_p = 2.0f;
        for (i = 0; i < NV; i++) l[i] = (float)i;
        CHECK(mamba_sample(&smp, &rng, l, NV, NULL, 0, work) == NV - 1, "min_p 2 keeps the best");
        smp = mamba_sampler_default();
        smp.temperature = 1e-45f;
        for (i = 0; i < NV; i++) l[i] = (float)i;
        CHECK(mamba_sample(&smp, &rng, l, NV, NULL, 0, work) == NV - 1, "temperature 1e-45 is greedy");
    }
}


/* 1 if the model holds no pointer at all into the bytes it was loaded from */
static int holds_nothing(const mamba_model *m)
{
    int l, ok = !m->data && !m->size && !m->embedding.data && !m->lm_head.data && !m->norm_f && !m->tokenizer &&
                !m->tokenizer_bytes && !m->owned && !m->owned_kind;
    for (l = 0; l < MAMBA_MAX_LAYERS; l++) {
        const mamba_layer *L = &m->layers[l];
        ok &= !L->norm && !L->in_proj.data && !L->in_proj_bias && !L->conv_weight && !L->conv_bias &&
              !L->x_proj.data && !L->dt_proj.data && !L->dt_bias && !L->A && !L->D && !L->out_proj.data &&
              !L->out_proj_bias;
    }
    return ok;
}

/* Every entry point refuses a model whose load failed or that was closed,
   with MAMBA_ERR_INVALID_ARG and without touching the caller's buffers; the
   model keeps no pointer into what was released (issue 13, item 4). */
static void refuses_dead_model(const mamba_model *dead, mamba_state *s, const char *what)
{
    static unsigned char scratch[1 << 16];
    unsigned char *tiny = (unsigned char *)malloc(8);
    float logits[NV];
    int toks[3] = {1, 2, 3}, ok = 1;
    unsigned char snapbuf[64];
    mamba_tokenizer t;
    mamba_state s2;
    char mem[64];
    memset(tiny, 0x5A, 8);
    CHECK(holds_nothing(dead), "%s: no pointer into released bytes", what);
    CHECK(mamba_forward(dead, s, toks, 3, logits, 0, scratch, sizeof scratch) == MAMBA_ERR_INVALID_ARG,
          "%s: forward refuses it", what);
    CHECK(mamba_forward(dead, s, toks, 3, logits, 0, NULL, 0) == MAMBA_ERR_INVALID_ARG,
          "%s: forward without scratch refuses it (not MAMBA_OK)", what);
    CHECK(mamba_forward(dead, s, toks, 3, logits, 0, tiny, 8) == MAMBA_ERR_INVALID_ARG, "%s: small scratch", what);
    for (ok = 1, toks[0] = 0; toks[0] < 8; toks[0]++) ok &= tiny[toks[0]] == 0x5A;
    CHECK(ok, "%s: the scratch is untouched", what);
    CHECK(mamba_step(dead, s, 1, logits) == MAMBA_ERR_INVALID_ARG, "%s: step", what);
    CHECK(mamba_forward_scratch_size(dead, 4) == 0 && mamba_state_size(dead) == 0, "%s: sizes 0", what);
    CHECK(mamba_state_new(&s2, dead) == MAMBA_ERR_INVALID_ARG, "%s: state_new", what);
    CHECK(mamba_state_init(&s2, dead, mem, sizeof mem) == MAMBA_ERR_INVALID_ARG, "%s: state_init", what);
    CHECK(mamba_state_save(s, dead, snapbuf, sizeof snapbuf, NULL) == MAMBA_ERR_INVALID_ARG, "%s: save", what);
    CHECK(mamba_state_load(s, dead, snapbuf, sizeof snapbuf) == MAMBA_ERR_INVALID_ARG, "%s: load", what);
#ifdef MAMBA_HAS_TOKENIZER
    CHECK(mamba_tokenizer_from_model(&t, dead) == MAMBA_ERR_INVALID_ARG, "%s: tokenizer_from_model", what);
#else
    (void)t;
#endif
    free(tiny);
}

static int write_file(const char *path, const unsigned char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    return ok;
}

static void test_dead_models(const mamba_model *good)
{
    mb_config c = mb_default();
    mb_file f;
    mamba_model m;
    mamba_state s;
    unsigned char *p;
    c.tokenizer_bytes = 256; /* the section a closed model must forget */
    if (!mb_build(&c, &f)) { CHECK(0, "build"); return; }
    mamba_state_new(&s, good); /* the same shapes as every model here */
    /* a load that failed after the header: its config is filled in */
    p = (unsigned char *)malloc(f.size);
    memcpy(p, f.bytes, f.size);
    mb_w32(f.bytes + f.dir_offset + 48 * (f.n_tensors - 1) + 8, 7); /* the last tensor: unknown dtype */
    CHECK(mamba_model_init_memory(&m, f.bytes, f.size) == MAMBA_ERR_TENSOR && m.config.d_model == 16,
          "a tensor error after the others were placed");
    refuses_dead_model(&m, &s, "failed load");
    memcpy(f.bytes, p, f.size);
    /* closed after init_memory (nothing owned) and after open (mapping or heap copy released) */
    CHECK(mamba_model_init_memory(&m, f.bytes, f.size) == MAMBA_OK && m.tokenizer != NULL, "load with a section");
    mamba_model_close(&m);
    refuses_dead_model(&m, &s, "closed (memory)");
#ifndef MAMBA_NO_STDIO
    {
        char path[] = "/tmp/test_badinput_dead_XXXXXX";
        int fd = mkstemp(path);
        if (fd >= 0) close(fd);
        CHECK(fd >= 0 && write_file(path, f.bytes, f.size), "temp file");
        CHECK(mamba_model_open(&m, path) == MAMBA_OK && m.tokenizer != NULL, "open with a section");
        mamba_model_close(&m);
        refuses_dead_model(&m, &s, "closed (file)");
        mamba_model_close(&m); /* twice: a no-op */
        /* refused by MAMBA_LOAD_CHECK_FINITE: the file is released, and the
           model used to keep its tokenizer pointer into the unmapped bytes */
        mb_w32(f.bytes + f.dir_offset + 48 * (f.n_tensors - 1) + 8, 0);
        mb_w32(tensor_data(&f, find(&f, 25, 1)), 0x7FC00000u); /* a NaN in D of layer 1 */
        CHECK(write_file(path, f.bytes, f.size), "temp file");
        CHECK(mamba_model_open_ex(&m, path, MAMBA_LOAD_CHECK_FINITE) == MAMBA_ERR_NONFINITE && m.error_role &&
                  strcmp(m.error_role, "D") == 0 && m.error_layer == 1,
              "refused: D layer 1");
        refuses_dead_model(&m, &s, "refused by MAMBA_LOAD_CHECK_FINITE (file)");
        CHECK(mamba_model_init_memory_ex(&m, f.bytes, f.size, MAMBA_LOAD_CHECK_FINITE) == MAMBA_ERR_NONFINITE,
              "refused from memory too");
        refuses_dead_model(&m, &s, "refused by MAMBA_LOAD_CHECK_FINITE (memory)");
        unlink(path);
    }
#endif
    mamba_state_free(&s);
    free(p);
    mb_free(&f);
}

/* FNV-1a 64 of the snapshot format (written here from its description) */
static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xCBF29CE484222325ull;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

/* a snapshot's position is untrusted: above LONG_MAX refused, up to it
   accepted, and stepping on never overflows (issue 13, item 3) */
static void test_snapshot_pos(const mamba_model *m)
{
    static unsigned char scratch[1 << 16];
    const uint64_t cases[4] = {(uint64_t)LONG_MAX, (uint64_t)LONG_MAX + 1u, ~(uint64_t)0, (uint64_t)LONG_MAX - 1u};
    mamba_state s;
    unsigned char *blob;
    size_t n, k;
    int toks[3] = {1, 2, 3};
    float logits[NV];
    mamba_state_new(&s, m);
    mamba_step(m, &s, 1, NULL);
    n = mamba_state_snapshot_size(&s);
    blob = (unsigned char *)malloc(n);
    CHECK(mamba_state_save(&s, m, blob, n, NULL) == MAMBA_OK, "save");
    for (k = 0; k < 4; k++) {
        mamba_result r;
        mb_w64(blob + 40, cases[k]);
        mb_w64(blob + n - 8, fnv1a(blob, n - 8)); /* a correct checksum over the bad field */
        mamba_state_reset(&s);
        r = mamba_state_load(&s, m, blob, n);
        if (cases[k] > (uint64_t)LONG_MAX) {
            CHECK(r == MAMBA_ERR_STATE_CHECKSUM && s.pos == 0, "pos %llu: refused (%s)", (unsigned long long)cases[k],
                  mamba_result_string(r));
            continue;
        }
        CHECK(r == MAMBA_OK && (uint64_t)s.pos == cases[k], "pos %llu: loaded", (unsigned long long)cases[k]);
        /* UBSan (tests/t_sanitize.sh) traps a signed overflow in either */
        CHECK(mamba_step(m, &s, 2, logits) == MAMBA_OK && mamba_step(m, &s, 2, NULL) == MAMBA_OK && s.pos == LONG_MAX,
              "stepping on stops at LONG_MAX (%ld)", s.pos);
        CHECK(mamba_state_load(&s, m, blob, n) == MAMBA_OK &&
                  mamba_forward(m, &s, toks, 3, logits, 0, scratch, sizeof scratch) == MAMBA_OK && s.pos == LONG_MAX,
              "forward on stops at LONG_MAX (%ld)", s.pos);
        CHECK(mamba_state_load(&s, m, blob, n) == MAMBA_OK && mamba_forward(m, &s, toks, 3, NULL, 0, NULL, 0) == MAMBA_OK &&
                  s.pos == LONG_MAX,
              "forward without scratch stops at LONG_MAX (%ld)", s.pos);
        /* and what it saves, it loads again */
        CHECK(mamba_state_save(&s, m, blob, n, NULL) == MAMBA_OK && mamba_state_load(&s, m, blob, n) == MAMBA_OK,
              "a saturated state round-trips");
    }
    free(blob);
    mamba_state_free(&s);
}

#ifdef TEST_POSIX_FILES
static void fifo_watchdog(int sig)
{
    static const char msg[] = "FAIL test_badinput: mamba_model_open blocked on a FIFO for 30 s\n";
    (void)sig;
    if (write(1, msg, sizeof msg - 1) < 0) _exit(2);
    _exit(1);
}

/* a FIFO with no writer: refused at once, not a wait for ever (item 7);
   an empty regular file is TRUNCATED, a device is not a file */
static void test_not_regular(void)
{
    char dir[] = "/tmp/test_badinput_fifo_XXXXXX", path[64];
    mamba_model m;
    mamba_result r;
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    snprintf(path, sizeof path, "%s/fifo", dir);
    CHECK(mkfifo(path, 0600) == 0, "mkfifo");
    fflush(stdout);
    signal(SIGALRM, fifo_watchdog);
    alarm(30);
    r = mamba_model_open(&m, path);
    alarm(0);
    CHECK(r == MAMBA_ERR_IO && m.error && strstr(m.error, "regular"), "a FIFO: %s (%s)", mamba_result_string(r),
          m.error ? m.error : "");
    r = mamba_model_open_ex(&m, path, MAMBA_LOAD_CHECK_FINITE);
    CHECK(r == MAMBA_ERR_IO, "a FIFO, checked open: %s", mamba_result_string(r));
    unlink(path);
    snprintf(path, sizeof path, "%s/empty", dir);
    CHECK(write_file(path, (const unsigned char *)"", 0), "empty file");
    CHECK(mamba_model_open(&m, path) == MAMBA_ERR_TRUNCATED, "an empty regular file: TRUNCATED");
    unlink(path);
    errno = 0;
    r = mamba_model_open(&m, "/nonexistent/dir/x.mamba");
    CHECK(r == MAMBA_ERR_IO && errno == ENOENT, "a missing file: errno ENOENT (%d)", errno);
    rmdir(dir);
}
#endif

#ifdef MAMBA__HAVE_MMAP
/* A model file changed on disk while mapped. Documented, not promised:
   an in-place change may show (it does on Linux); truncation -> SIGBUS. */
static void test_file_changed(const mb_file *f)
{
    char path[] = "/tmp/test_badinput_XXXXXX";
    int fd = mkstemp(path), i, status = 0;
    mamba_model m;
    mamba_state s;
    float before[NV], after[NV];
    pid_t pid;
    if (fd < 0 || write(fd, f->bytes, f->size) != (ssize_t)f->size) { CHECK(0, "temp file"); return; }
    CHECK(mamba_model_open(&m, path) == MAMBA_OK, "open the temp model");
    mamba_state_new(&s, &m);
    mamba_step(&m, &s, 2, before);
    /* rewrite the whole embedding in place with another value */
    i = find(f, 1, 0);
    {
        size_t off = (size_t)(tensor_data(f, i) - f->bytes), k, n = (size_t)NV * 16;
        unsigned char *buf = (unsigned char *)malloc(4 * n);
        for (k = 0; k < n; k++) mb_wf(buf + 4 * k, 0.5f);
        CHECK(pwrite(fd, buf, 4 * n, (off_t)off) == (ssize_t)(4 * n), "rewrite in place");
        free(buf);
    }
    mamba_state_reset(&s);
    CHECK(mamba_step(&m, &s, 2, after) == MAMBA_OK, "stepping after the change works");
    printf("  note: an in-place change to a mapped model %s in its logits here\n",
           memcmp(before, after, sizeof before) ? "shows" : "does not show");
    /* truncation: the child touches a lost page and dies of SIGBUS */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2); /* a sanitizer's report of the SIGBUS is expected noise */
        if (ftruncate(fd, 4096) != 0) _exit(3);
        mamba_step(&m, &s, 2, after); /* reads the lm_head / later layers past 4096 */
        _exit(0);
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork");
    /* a plain build dies by the signal; ASan catches it and exits non-zero */
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) || (WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
                                                                  WEXITSTATUS(status) != 3),
          "truncated under a mapping: the reader is killed (SIGBUS), status 0x%x", (unsigned)status);
    /* the safe way: a private copy, which no change on disk can reach */
    mamba_state_free(&s);
    mamba_model_close(&m);
    close(fd);
    unlink(path);
}
#endif

#ifndef MAMBA_NO_STDIO
/* the checked open: refuses and closes a file with a NaN */
static void test_open_ex(const mb_file *f)
{
    char path[] = "/tmp/test_badinput_XXXXXX";
    int fd = mkstemp(path);
    FILE *fp;
    mamba_model m;
    unsigned char *copy = (unsigned char *)malloc(f->size);
    memcpy(copy, f->bytes, f->size);
    close(fd);
    fp = fopen(path, "wb");
    mb_w32(copy + (tensor_data(f, find(f, 25, 1)) - f->bytes), 0x7FC00000u); /* D of layer 1 */
    if (!fp || fwrite(copy, 1, f->size, fp) != f->size) { CHECK(0, "temp file"); free(copy); return; }
    fclose(fp);
    CHECK(mamba_model_open_ex(&m, path, 0) == MAMBA_OK, "open_ex without checks");
    mamba_model_close(&m);
    CHECK(mamba_model_open_ex(&m, path, MAMBA_LOAD_CHECK_FINITE) == MAMBA_ERR_NONFINITE, "open_ex checked");
    CHECK(m.error_role && strcmp(m.error_role, "D") == 0 && m.error_layer == 1 && m.owned == NULL,
          "names D layer 1 and released the file");
    mamba_model_close(&m); /* harmless after the refusal */
    unlink(path);
    free(copy);
}
#endif

#ifdef MAMBA_HAS_TOKENIZER
/* the tokenizer's public functions with NULL, a zeroed tokenizer, junk */
static void test_tokenizer_nulls(void)
{
    mamba_tokenizer t;
    mamba_model m;
    mamba_detok d;
    char out[64];
    size_t n = 5;
    int ids[4] = {1, 2, 3, 4};
    const char *b;
    unsigned char junk[256];
    static char work[4096];
    memset(&m, 0, sizeof m);
    memset(junk, 0x41, sizeof junk);
    CHECK(mamba_tokenizer_init(NULL, junk, sizeof junk) == MAMBA_ERR_INVALID_ARG, "tokenizer_init NULL t");
    CHECK(mamba_tokenizer_init(&t, NULL, 100) == MAMBA_ERR_INVALID_ARG, "tokenizer_init NULL section");
    CHECK(mamba_tokenizer_init(&t, junk, 0) == MAMBA_ERR_TOKENIZER, "tokenizer_init 0 bytes");
    CHECK(mamba_tokenizer_init(&t, junk, sizeof junk) == MAMBA_ERR_TOKENIZER && t.error, "tokenizer_init junk");
    CHECK(mamba_tokenizer_from_model(NULL, &m) == MAMBA_ERR_INVALID_ARG, "from_model NULL t");
    CHECK(mamba_tokenizer_from_model(&t, NULL) == MAMBA_ERR_INVALID_ARG, "from_model NULL model");
    CHECK(mamba_tokenizer_from_model(&t, &m) == MAMBA_ERR_INVALID_ARG, "from_model of a zeroed (never loaded) model");
    CHECK(mamba_encode_work_size(NULL, 10) == 0, "encode_work_size NULL");
    memset(&t, 0, sizeof t);
    CHECK(mamba_encode(NULL, "ab", 2, ids, 4, &n, work, sizeof work) == MAMBA_ERR_INVALID_ARG, "encode NULL t");
    CHECK(mamba_encode(&t, "ab", 2, ids, 4, &n, work, sizeof work) == MAMBA_ERR_INVALID_ARG, "encode zeroed t");
    CHECK(mamba_decode_token(NULL, 1, &b, &n) == MAMBA_ERR_INVALID_ARG, "decode_token NULL t");
    CHECK(mamba_decode_token(&t, 1, &b, &n) == MAMBA_ERR_INVALID_ARG, "decode_token zeroed t");
    CHECK(mamba_decode(NULL, ids, 1, out, 4, &n) == MAMBA_ERR_INVALID_ARG, "decode NULL t");
    CHECK(mamba_decode(&t, ids, 1, out, 4, &n) == MAMBA_ERR_INVALID_ARG, "decode zeroed t");
    mamba_detok_init(NULL); /* no-op */
    mamba_detok_init(&d);
    CHECK(mamba_detok_push(NULL, &d, 1, out, sizeof out, &n) == MAMBA_ERR_INVALID_ARG, "detok_push NULL t");
    CHECK(mamba_detok_push(&t, NULL, 1, out, sizeof out, &n) == MAMBA_ERR_INVALID_ARG, "detok_push NULL d");
    CHECK(mamba_detok_flush(NULL, out) == 0 && mamba_detok_flush(&d, NULL) == 0, "detok_flush NULL: 0");
}
#endif

int main(void)
{
    mb_config c = mb_default();
    mb_file f;
    mamba_model m;
    if (!mb_build(&c, &f)) { printf("cannot build the test model\n"); return 1; }
    if (mamba_model_init_memory(&m, f.bytes, f.size) != MAMBA_OK) { printf("cannot load it: %s\n", m.error); return 1; }
    test_tokens(&m);
    test_nulls(&f, &m);
    test_empty(&m);
    test_nonfinite();
    test_nan_logits();
    test_dead_models(&m);
    test_snapshot_pos(&m);
#ifdef TEST_POSIX_FILES
    test_not_regular();
#endif
#ifdef MAMBA_HAS_TOKENIZER
    test_tokenizer_nulls();
#endif
#ifndef MAMBA_NO_STDIO
    test_open_ex(&f);
#endif
#ifdef MAMBA__HAVE_MMAP
    test_file_changed(&f);
#endif
    mb_free(&f);
    return harness_summary();
}
