/* test_forward.c - mamba_forward() against n calls of mamba_step().

   mamba_step() is the reference: for models of many shapes (built in memory
   by model_builder.h: f32/f16/bf16, Mamba-1 and Falcon, with and without
   biases, d_state 4/16/32 so both the scalar and the 16-lane scan run,
   d_model and dt_rank that leave remainders in every kernel), every row of
   logits from mamba_forward() must match the stepped one to 1e-5 relative
   (max |a - b| / max |b| per row), and so must the state afterwards. Also:
   n = 0, n = 1, n not a multiple of the block, forward and step mixed, a bad
   token in the middle (error, state and logits untouched), the scratch
   contract, independence of the block size (bit for bit), and the vector
   exp/softplus/SiLU against double precision.

   `build/test_forward --hash` prints one checksum of the forward logits of a
   fixed run and nothing else: tests/t_forward.sh compares it across thread
   counts (it must not change). */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "tests/harness.h"
#include "tests/model_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* max over a row of |a - b|, relative to max |b| */
static double row_err(const float *a, const float *b, int n)
{
    double d = 0.0, ref = 0.0;
    int i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= d)) d = e; /* NaN sticks */
        if (fabs((double)b[i]) > ref) ref = fabs((double)b[i]);
    }
    return ref > 0.0 ? d / ref : d;
}

/* the recurrent part of a state (conv windows then h), as one array */
static size_t state_floats(const mamba_state *s)
{
    return (size_t)s->n_layer * (size_t)s->d_inner * ((size_t)s->d_conv + (size_t)s->d_state);
}

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 17; *s ^= *s << 5;
    return *s;
}

/* One model: every check of the contract. */
static void check_model(const char *name, mb_config c)
{
    enum { N = 37 };
    mb_file f;
    mamba_model m;
    mamba_state s1, s2;
    int tokens[N], i, V, blocks[4] = {8, 1, 5, 64}, k;
    uint32_t seed = 777u;
    float *ref, *out, *out2, *last;
    void *scratch;
    size_t sb;
    double worst = 0.0, e;
    mamba_result r;

    if (!mb_build(&c, &f)) { CHECK(0, "%s: out of memory", name); return; }
    r = mamba_model_init_memory(&m, f.bytes, f.size);
    CHECK(r == MAMBA_OK, "%s: load: %s (%s)", name, mamba_result_string(r), m.error ? m.error : "");
    if (r != MAMBA_OK) { mb_free(&f); return; }
    V = m.config.n_vocab_padded;
    for (i = 0; i < N; i++) tokens[i] = (int)(rng_next(&seed) % (uint32_t)V);
    ref = (float *)malloc(sizeof(float) * (size_t)V * N);
    out = (float *)malloc(sizeof(float) * (size_t)V * N);
    out2 = (float *)malloc(sizeof(float) * (size_t)V * N);
    last = (float *)malloc(sizeof(float) * (size_t)V);
    sb = mamba_forward_scratch_size(&m, 64);
    scratch = malloc(sb + 1);
    CHECK(ref && out && out2 && last && scratch, "%s: out of memory", name);
    CHECK(mamba_state_new(&s1, &m) == MAMBA_OK && mamba_state_new(&s2, &m) == MAMBA_OK, "%s: states", name);

    /* the reference: N steps */
    for (i = 0; i < N; i++) CHECK(mamba_step(&m, &s1, tokens[i], ref + (size_t)i * V) == MAMBA_OK, "%s", name);

    /* all logits, blocks of 8 (N = 4*8 + 5: full blocks and a short one);
       the scratch deliberately misaligned by one byte */
    sb = mamba_forward_scratch_size(&m, 8);
    r = mamba_forward(&m, &s2, tokens, N, out, MAMBA_FORWARD_ALL_LOGITS, (char *)scratch + 1, sb);
    CHECK(r == MAMBA_OK, "%s: forward: %s", name, mamba_result_string(r));
    for (i = 0; i < N; i++) {
        e = row_err(out + (size_t)i * V, ref + (size_t)i * V, V);
        if (!(e <= worst)) worst = e;
    }
    CHECK(worst <= 1e-5, "%s: forward vs step, worst row error %.3g", name, worst);
    e = row_err(s2.ssm, s1.ssm, (int)((size_t)s1.n_layer * s1.d_inner * s1.d_state));
    CHECK(e <= 1e-5, "%s: h after forward vs step: %.3g", name, e);
    e = row_err(s2.conv, s1.conv, (int)((size_t)s1.n_layer * s1.d_inner * s1.d_conv));
    CHECK(e <= 1e-5, "%s: conv window after forward vs step: %.3g", name, e);
    CHECK(s2.pos == N, "%s: pos %ld", name, s2.pos);
    printf("%-14s forward vs step: worst row error %.2g\n", name, worst);

    /* the block size changes nothing, bit for bit (1: every block is one token) */
    for (k = 1; k < 4; k++) {
        mamba_state_reset(&s2);
        sb = mamba_forward_scratch_size(&m, blocks[k]);
        CHECK(mamba_forward(&m, &s2, tokens, N, out2, MAMBA_FORWARD_ALL_LOGITS, scratch, sb) == MAMBA_OK, "%s", name);
        CHECK(memcmp(out, out2, sizeof(float) * (size_t)V * N) == 0, "%s: block %d differs from block 8", name,
              blocks[k]);
    }

    /* only the last logits: the same row */
    mamba_state_reset(&s2);
    CHECK(mamba_forward(&m, &s2, tokens, N, last, 0, scratch, sb) == MAMBA_OK, "%s", name);
    e = row_err(last, ref + (size_t)(N - 1) * V, V);
    CHECK(e <= 1e-5, "%s: last-only logits vs step: %.3g", name, e);

    /* n = 0: nothing at all */
    memcpy(out2, last, sizeof(float) * (size_t)V);
    {
        float *before = (float *)malloc(sizeof(float) * state_floats(&s2));
        long pos = s2.pos;
        memcpy(before, s2.conv, sizeof(float) * state_floats(&s2));
        CHECK(mamba_forward(&m, &s2, tokens, 0, last, 0, scratch, sb) == MAMBA_OK, "%s: n = 0", name);
        CHECK(mamba_forward(&m, &s2, NULL, 0, last, 0, scratch, sb) == MAMBA_OK, "%s: n = 0, NULL tokens", name);
        CHECK(s2.pos == pos && memcmp(before, s2.conv, sizeof(float) * state_floats(&s2)) == 0,
              "%s: n = 0 changed the state", name);
        CHECK(memcmp(out2, last, sizeof(float) * (size_t)V) == 0, "%s: n = 0 wrote logits", name);

        /* a bad token in the middle: MAMBA_ERR_TOKEN, state and logits untouched */
        {
            int bad[6];
            memcpy(bad, tokens, sizeof bad);
            bad[3] = V;
            CHECK(mamba_forward(&m, &s2, bad, 6, last, 0, scratch, sb) == MAMBA_ERR_TOKEN, "%s: bad token", name);
            bad[3] = -1;
            CHECK(mamba_forward(&m, &s2, bad, 6, last, 0, NULL, 0) == MAMBA_ERR_TOKEN, "%s: bad token", name);
            CHECK(s2.pos == pos && memcmp(before, s2.conv, sizeof(float) * state_floats(&s2)) == 0,
                  "%s: a bad token changed the state", name);
            CHECK(memcmp(out2, last, sizeof(float) * (size_t)V) == 0, "%s: a bad token wrote logits", name);
        }
        free(before);
    }

    /* n = 1 and mixing: step 3, forward 1, forward 10, step 2, forward 21 (blocks of 8) */
    mamba_state_reset(&s2);
    for (i = 0; i < 3; i++) mamba_step(&m, &s2, tokens[i], out + (size_t)i * V);
    CHECK(mamba_forward(&m, &s2, tokens + 3, 1, out + 3 * (size_t)V, 0, scratch, sb) == MAMBA_OK, "%s", name);
    sb = mamba_forward_scratch_size(&m, 8);
    CHECK(mamba_forward(&m, &s2, tokens + 4, 10, out + 4 * (size_t)V, MAMBA_FORWARD_ALL_LOGITS, scratch, sb) ==
              MAMBA_OK, "%s", name);
    for (i = 14; i < 16; i++) mamba_step(&m, &s2, tokens[i], out + (size_t)i * V);
    CHECK(mamba_forward(&m, &s2, tokens + 16, 21, out + 16 * (size_t)V, MAMBA_FORWARD_ALL_LOGITS, scratch, sb) ==
              MAMBA_OK, "%s", name);
    worst = 0.0;
    for (i = 0; i < N; i++) {
        e = row_err(out + (size_t)i * V, ref + (size_t)i * V, V);
        if (!(e <= worst)) worst = e;
    }
    CHECK(worst <= 1e-5, "%s: mixed step/forward vs step: %.3g", name, worst);
    CHECK(s2.pos == N, "%s: pos after mixing %ld", name, s2.pos);

    /* no scratch: one mamba_step() per token, so bit-identical to the reference */
    mamba_state_reset(&s2);
    CHECK(mamba_forward(&m, &s2, tokens, N, out, MAMBA_FORWARD_ALL_LOGITS, NULL, 0) == MAMBA_OK, "%s", name);
    CHECK(memcmp(out, ref, sizeof(float) * (size_t)V * N) == 0, "%s: scratch-less forward differs from step", name);

    /* NULL logits: only the state moves */
    mamba_state_reset(&s2);
    CHECK(mamba_forward(&m, &s2, tokens, N, NULL, 0, scratch, sb) == MAMBA_OK, "%s", name);
    e = row_err(s2.ssm, s1.ssm, (int)((size_t)s1.n_layer * s1.d_inner * s1.d_state));
    CHECK(e <= 1e-5, "%s: h after forward without logits: %.3g", name, e);

    /* the scratch contract */
    CHECK(mamba_forward_scratch_size(&m, 0) == 0, "%s", name);
    CHECK(mamba_forward_scratch_size(&m, MAMBA_FORWARD_MAX_BLOCK + 1) == 0, "%s", name);
    CHECK(mamba_forward_scratch_size(NULL, 8) == 0, "%s", name);
    CHECK(mamba_forward_scratch_size(&m, 2) > mamba_forward_scratch_size(&m, 1), "%s", name);
    CHECK(mamba_forward(&m, &s2, tokens, N, out, 0, scratch, mamba_forward_scratch_size(&m, 1) - 1) ==
              MAMBA_ERR_BUFFER_TOO_SMALL, "%s: scratch too small", name);
    CHECK(mamba_forward(&m, &s2, tokens, -1, out, 0, scratch, sb) == MAMBA_ERR_INVALID_ARG, "%s: n < 0", name);
    CHECK(mamba_forward(&m, &s2, NULL, 3, out, 0, scratch, sb) == MAMBA_ERR_INVALID_ARG, "%s: NULL tokens", name);
    CHECK(mamba_forward(NULL, &s2, tokens, 3, out, 0, scratch, sb) == MAMBA_ERR_INVALID_ARG, "%s: NULL model", name);
    CHECK(mamba_forward(&m, NULL, tokens, 3, out, 0, scratch, sb) == MAMBA_ERR_INVALID_ARG, "%s: NULL state", name);

    mamba_state_free(&s1);
    mamba_state_free(&s2);
    free(ref); free(out); free(out2); free(last); free(scratch);
    mamba_model_close(&m);
    mb_free(&f);
}

#ifdef MAMBA__AVX512
/* The vector exp, softplus and SiLU against double precision, on a dense
   grid; prints the worst relative errors (the doc comments quote them). */
static void check_vector_math(void)
{
    double we = 0.0, ws = 0.0, wl = 0.0;
    float v[16], o[16];
    int i, j;
    for (i = 0; i < 200000; i++) {
        for (j = 0; j < 16; j++) v[j] = -87.0f + 175.0f * (float)(i * 16 + j) / (200000.0f * 16.0f);
        _mm512_storeu_ps(o, mamba__vexp16(_mm512_loadu_ps(v)));
        for (j = 0; j < 16; j++) {
            double ref = exp((double)v[j]), e = fabs(o[j] - ref) / ref;
            if (!(e <= we)) we = e;
        }
        for (j = 0; j < 16; j++) v[j] = -40.0f + 80.0f * (float)(i * 16 + j) / (200000.0f * 16.0f);
        _mm512_storeu_ps(o, mamba__softplus16(_mm512_loadu_ps(v)));
        for (j = 0; j < 16; j++) {
            double ref = v[j] > 20.0f ? (double)v[j] : log1p(exp((double)v[j])), e = fabs(o[j] - ref) / ref;
            if (!(e <= ws)) ws = e;
        }
        _mm512_storeu_ps(o, mamba__silu16(_mm512_loadu_ps(v)));
        for (j = 0; j < 16; j++) {
            double ref = (double)v[j] / (1.0 + exp(-(double)v[j]));
            double e = fabs(o[j] - ref) / (fabs(ref) > 1e-30 ? fabs(ref) : 1e-30);
            if (fabs(ref) > 1e-30 && !(e <= wl)) wl = e;
        }
    }
    printf("vector math: max relative error exp %.2g, softplus %.2g, silu %.2g\n", we, ws, wl);
    CHECK(we < 3e-7, "vexp16 max relative error %.3g", we);
    CHECK(ws < 5e-7, "softplus16 max relative error %.3g", ws);
    CHECK(wl < 5e-7, "silu16 max relative error %.3g", wl);
}
#endif

/* The tiled matrix products at sizes the small models never reach: inputs
   longer than one weight panel (d_model 300, d_inner 600: 256-column panels
   with remainders), rows not a multiple of the 6-row tile, and blocks past
   the 256-token pass, made of 64-token tiles plus 16-token tails. A block of
   600 tokens, one of 300 and one of 64 give the same logits bit for bit, and
   match mamba_step() to 1e-5. */
static void check_tiles(int dtype)
{
    enum { N = 600 };
    mb_config c = mb_default();
    mb_file f;
    mamba_model m;
    mamba_state s1, s2;
    int *tokens = (int *)malloc(sizeof(int) * N), i, k, V, blocks[3] = {600, 300, 64};
    uint32_t seed = 4242u;
    float *ref, *out[3];
    void *scratch;
    size_t sb;
    double worst = 0.0, e;
    c.d_model = 300; c.d_inner = 600; c.d_state = 16; c.dt_rank = 20; c.n_layer = 1;
    c.n_vocab_padded = 64; c.n_vocab = 61; c.flags = 1u | 2u; c.dtype = (uint32_t)dtype;
    if (!tokens || !mb_build(&c, &f)) { CHECK(0, "tiles: out of memory"); free(tokens); return; }
    if (mamba_model_init_memory(&m, f.bytes, f.size) != MAMBA_OK) { CHECK(0, "tiles: load"); mb_free(&f); free(tokens); return; }
    V = m.config.n_vocab_padded;
    for (i = 0; i < N; i++) tokens[i] = (int)(rng_next(&seed) % (uint32_t)V);
    ref = (float *)malloc(sizeof(float) * (size_t)V * N);
    for (k = 0; k < 3; k++) out[k] = (float *)malloc(sizeof(float) * (size_t)V * N);
    sb = mamba_forward_scratch_size(&m, 600);
    scratch = malloc(sb);
    CHECK(ref && out[0] && out[1] && out[2] && scratch, "tiles: out of memory");
    CHECK(mamba_state_new(&s1, &m) == MAMBA_OK && mamba_state_new(&s2, &m) == MAMBA_OK, "tiles: states");
    for (i = 0; i < N; i++) mamba_step(&m, &s1, tokens[i], ref + (size_t)i * V);
    for (k = 0; k < 3; k++) {
        mamba_state_reset(&s2);
        CHECK(mamba_forward(&m, &s2, tokens, N, out[k], MAMBA_FORWARD_ALL_LOGITS, scratch,
                            mamba_forward_scratch_size(&m, blocks[k])) == MAMBA_OK, "tiles: forward");
    }
    for (i = 0; i < N; i++) {
        e = row_err(out[0] + (size_t)i * V, ref + (size_t)i * V, V);
        if (!(e <= worst)) worst = e;
    }
    CHECK(worst <= 1e-5, "tiles dtype %d: forward vs step, worst row error %.3g", dtype, worst);
    CHECK(memcmp(out[0], out[1], sizeof(float) * (size_t)V * N) == 0, "tiles dtype %d: block 300 differs", dtype);
    CHECK(memcmp(out[0], out[2], sizeof(float) * (size_t)V * N) == 0, "tiles dtype %d: block 64 differs", dtype);
    printf("tiles dtype %d   forward vs step: worst row error %.2g over %d tokens\n", dtype, worst, N);
    mamba_state_free(&s1); mamba_state_free(&s2);
    for (k = 0; k < 3; k++) free(out[k]);
    free(ref); free(scratch); free(tokens);
    mb_free(&f);
}

/* --hash: a checksum of forward logits on a fixed model, for comparing
   thread counts (the sums must not depend on them). */
static int print_hash(void)
{
    mb_config c = mb_default();
    mb_file f;
    mamba_model m;
    mamba_state s;
    int tokens[50], i;
    uint32_t seed = 99u, h = 2166136261u;
    float *out;
    void *scratch;
    size_t sb, k;
    c.d_model = 64; c.d_inner = 256; c.d_state = 16; c.dt_rank = 5; c.n_vocab_padded = 96; c.n_vocab = 90;
    if (!mb_build(&c, &f) || mamba_model_init_memory(&m, f.bytes, f.size) != MAMBA_OK) return 1;
    for (i = 0; i < 50; i++) tokens[i] = (int)(rng_next(&seed) % 90u);
    out = (float *)malloc(sizeof(float) * 96 * 50);
    sb = mamba_forward_scratch_size(&m, 16);
    scratch = malloc(sb);
    if (!out || !scratch || mamba_state_new(&s, &m) != MAMBA_OK) return 1;
    if (mamba_forward(&m, &s, tokens, 50, out, MAMBA_FORWARD_ALL_LOGITS, scratch, sb) != MAMBA_OK) return 1;
    for (k = 0; k < 96 * 50; k++) { /* FNV-1a over the bytes */
        unsigned char b[4];
        memcpy(b, &out[k], 4);
        for (i = 0; i < 4; i++) h = (h ^ b[i]) * 16777619u;
    }
    printf("%08x\n", (unsigned)h);
    mamba_state_free(&s);
    free(out); free(scratch);
    mb_free(&f);
    return 0;
}

int main(int argc, char **argv)
{
    mb_config c;
    if (argc > 1 && !strcmp(argv[1], "--hash")) return print_hash();

    c = mb_default();
    check_model("default", c);                              /* d_state 4: scalar scan */
    c.d_state = 16; c.d_inner = 40; c.d_model = 20; c.dt_rank = 3; /* 2 groups of 16 + a tail of 8 */
    check_model("d_state16", c);
    c.d_state = 32; c.d_inner = 64; c.d_model = 35; c.dt_rank = 17; c.flags = 1u | 2u | 4u | 8u;
    check_model("biases,untied", c);
    c.dtype = 1;
    check_model("f16", c);
    c.dtype = 2;
    check_model("bf16", c);
    c.dtype = 0; c.arch = 2; c.mixer_rms_eps = 1e-6f; c.flags = 0;
    check_model("falcon", c);
    c = mb_default();
    c.d_model = 64; c.d_inner = 128; c.d_state = 16; c.dt_rank = 4; c.n_layer = 3; c.d_conv = 3;
    c.n_vocab_padded = 100; c.n_vocab = 97;
    check_model("d_conv3", c);
    c.d_conv = 12; /* wider than the 16-lane conv handles: the scalar conv */
    check_model("d_conv12", c);
    /* reductions longer than 64 with remainders (100 % 16, 200 % 16, 70 % 16):
       the 4 x 6 dot kernel's tail; dt_rank 70 sends dt_proj there too */
    c = mb_default();
    c.d_model = 100; c.d_inner = 200; c.d_state = 16; c.dt_rank = 70; c.n_layer = 2; c.flags = 1u | 2u | 4u;
    c.n_vocab_padded = 40; c.n_vocab = 40;
    check_model("long-k", c);
    c.dtype = 1;
    check_model("long-k f16", c);
    c.dtype = 2;
    check_model("long-k bf16", c);
    check_tiles(0);
    check_tiles(1);
#ifdef MAMBA__AVX512
    check_vector_math();
#else
    printf("(portable kernels: no vector math to test)\n");
#endif
    return harness_summary();
}
