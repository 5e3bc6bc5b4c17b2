/* test_batch.c - mamba_step_batch() against n separate mamba_step() calls:
   the logits and the states must be bit-identical (memcmp), for every
   weight type, for batch sizes 1..MAMBA_BATCH_MAX, over several steps, with
   the states at different positions. Panels are made tiny here
   (MAMBA_BATCH_PANEL_BYTES 512) so that every matrix is cut into many, the
   last one ragged. The models: tests/model_builder.h's in f32, f16 and
   bf16, the shipped tinystories model (f16), and any .mamba files named
   on the command line (tests/t_batch.sh adds q8 and Falcon-Mamba ones). */
#define MAMBA_BATCH_PANEL_BYTES 512
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "harness.h"
#include "model_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned rnd(unsigned *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void check_model(const mamba_model *m, const char *name)
{
    static const int sizes[] = {1, 2, 3, 4, 5, 6, 7, 8, 12, 17, MAMBA_BATCH_MAX}; /* every block shape of the kernels */
    const size_t V = (size_t)m->config.n_vocab_padded;
    mamba_state a[MAMBA_BATCH_MAX], b[MAMBA_BATCH_MAX], *pa[MAMBA_BATCH_MAX];
    float *la = (float *)malloc(sizeof(float) * V * MAMBA_BATCH_MAX), *lb = (float *)malloc(sizeof(float) * V);
    int tokens[MAMBA_BATCH_MAX], si, j, step, bad = 0, checks = 0;
    unsigned seed = 12345u;
    size_t snap = 0;
    unsigned char *sa = NULL, *sb = NULL;
    for (j = 0; j < MAMBA_BATCH_MAX; j++) {
        if (mamba_state_new(&a[j], m) != MAMBA_OK || mamba_state_new(&b[j], m) != MAMBA_OK) {
            CHECK(0, "%s: states", name);
            return;
        }
        pa[j] = &a[j];
    }
    snap = mamba_state_snapshot_size(&a[0]);
    sa = (unsigned char *)malloc(snap);
    sb = (unsigned char *)malloc(snap);
    for (si = 0; si < 2 * (int)(sizeof sizes / sizeof sizes[0]); si++) {
        const int n = sizes[si % (int)(sizeof sizes / sizeof sizes[0])];
        /* every size twice: the float matrices through groups of rows
           (dot_rows_n), then through mamba_step's four row streams in
           passes of two inputs (dot_rows_few, where there is one), whichever
           the CPU would choose (mamba_state.batch_few) */
        for (j = 0; j < n; j++) a[j].batch_few = si < (int)(sizeof sizes / sizeof sizes[0]) ? 1 : MAMBA_BATCH_MAX;
        for (j = 0; j < n; j++) { /* each at its own position: j tokens of its own history */
            int k;
            mamba_state_reset(&a[j]);
            for (k = 0; k < j % 7; k++) mamba_step(m, &a[j], (int)(rnd(&seed) % (unsigned)m->config.n_vocab), NULL);
            mamba_state_copy(&b[j], &a[j]);
        }
        for (step = 0; step < 4; step++) {
            for (j = 0; j < n; j++) tokens[j] = (int)(rnd(&seed) % (unsigned)m->config.n_vocab_padded);
            CHECK(mamba_step_batch(m, pa, n, tokens, step == 2 ? NULL : la) == MAMBA_OK, "%s: batch of %d", name, n);
            for (j = 0; j < n; j++) {
                mamba_step(m, &b[j], tokens[j], step == 2 ? NULL : lb);
                checks++;
                if (step != 2 && memcmp(la + (size_t)j * V, lb, sizeof(float) * V) != 0) bad++;
                if (mamba_state_save(&a[j], m, sa, snap, NULL) != MAMBA_OK ||
                    mamba_state_save(&b[j], m, sb, snap, NULL) != MAMBA_OK || memcmp(sa, sb, snap) != 0 ||
                    a[j].pos != b[j].pos)
                    bad++;
            }
        }
    }
    CHECK(bad == 0, "%s: %d of %d (sequence, step) pairs differ from mamba_step", name, bad, checks);
    printf("%s: %d (sequence, step) pairs, logits and states bit-identical to mamba_step\n", name, checks);

    /* bad arguments: nothing changes */
    {
        mamba_state *dup[3], zs;
        int t3[3] = {1, 2, 3};
        memset(&zs, 0, sizeof zs);
        mamba_state_save(&a[0], m, sa, snap, NULL);
        dup[0] = &a[0];
        dup[1] = &a[1];
        dup[2] = &a[0];
        CHECK(mamba_step_batch(m, dup, 3, t3, la) == MAMBA_ERR_INVALID_ARG, "a state twice");
        dup[2] = &zs;
        CHECK(mamba_step_batch(m, dup, 3, t3, la) == MAMBA_ERR_INVALID_ARG, "a zeroed state");
        dup[2] = NULL;
        CHECK(mamba_step_batch(m, dup, 3, t3, la) == MAMBA_ERR_INVALID_ARG, "a NULL state");
        dup[2] = &a[2];
        t3[2] = m->config.n_vocab_padded;
        CHECK(mamba_step_batch(m, dup, 3, t3, la) == MAMBA_ERR_TOKEN, "a bad token");
        t3[2] = -1;
        CHECK(mamba_step_batch(m, dup, 3, t3, la) == MAMBA_ERR_TOKEN, "a negative token");
        CHECK(mamba_step_batch(m, dup, MAMBA_BATCH_MAX + 1, t3, la) == MAMBA_ERR_INVALID_ARG, "n too large");
        CHECK(mamba_step_batch(m, dup, -1, t3, la) == MAMBA_ERR_INVALID_ARG, "n < 0");
        CHECK(mamba_step_batch(m, NULL, 3, t3, la) == MAMBA_ERR_INVALID_ARG, "NULL states");
        CHECK(mamba_step_batch(m, dup, 3, NULL, la) == MAMBA_ERR_INVALID_ARG, "NULL tokens");
        CHECK(mamba_step_batch(NULL, dup, 3, t3, la) == MAMBA_ERR_INVALID_ARG, "NULL model");
        CHECK(mamba_step_batch(m, NULL, 0, NULL, NULL) == MAMBA_OK, "n = 0");
        mamba_state_save(&a[0], m, sb, snap, NULL);
        CHECK(memcmp(sa, sb, snap) == 0, "a refused batch changed a state");
    }
    for (j = 0; j < MAMBA_BATCH_MAX; j++) {
        mamba_state_free(&a[j]);
        mamba_state_free(&b[j]);
    }
    free(la);
    free(lb);
    free(sa);
    free(sb);
}

/* The quantised types' batch kernels alone, on matrices wider than the
   test models (whose rows are at most 12 blocks of 32): 40 blocks a row,
   so a 4-bit row is unpacked in chunks of 16, 16 and 8 (MAMBA__Q4_CHUNK),
   and 39 (a ragged last chunk); random codes and scales, random inputs.
   Each (row, input) must be the bits of mamba__matvec_x for that input. */
static void check_wide_kernels(void)
{
    enum { ROWS = 7, NMAX = 13 };
    static const int dts[] = {MAMBA_DTYPE_Q8, MAMBA_DTYPE_Q4_0, MAMBA_DTYPE_IQ4_NL, MAMBA_DTYPE_Q4_K};
    static const int ns[] = {1, 2, 3, 4, 5, 8, NMAX};
    static const int widths[] = {40 * 32, 39 * 32 - 5};
    unsigned seed = 777u;
    int di, wi, ni, bad = 0, checks = 0;
    for (di = 0; di < 4; di++)
        for (wi = 0; wi < 2; wi++) {
            const int cols = widths[wi], nb = (cols + 31) / 32;
            const int k = dts[di] == MAMBA_DTYPE_Q4_K, nsb = (cols + 255) / 256; /* q4_k: 144-byte super-blocks */
            const size_t code = dts[di] == MAMBA_DTYPE_Q8 ? 32 : 16;
            const size_t bytes = k ? (size_t)ROWS * (size_t)nsb * 144 : (size_t)ROWS * (size_t)nb * (code + 2);
            unsigned char *data = (unsigned char *)malloc(bytes);
            uint16_t *d = (uint16_t *)(void *)(data + (size_t)ROWS * (size_t)nb * code);
            float *x = (float *)malloc(sizeof(float) * (size_t)cols * NMAX), *ref = (float *)malloc(sizeof(float) * ROWS);
            float *out[NMAX], *outs = (float *)malloc(sizeof(float) * ROWS * NMAX);
            int16_t *xq = (int16_t *)malloc(sizeof(int16_t) * 32 * (size_t)nb * (NMAX + 1));
            float *xs = (float *)malloc(sizeof(float) * 2 * (size_t)nb * (NMAX + 1)); /* scales, then block terms */
            mamba__xin in[NMAX];
            mamba_matrix W;
            size_t i;
            int j, r;
            for (i = 0; i < bytes; i++) data[i] = (unsigned char)rnd(&seed);
            for (i = 0; i < (k ? (size_t)ROWS * (size_t)nsb * 2 : (size_t)ROWS * (size_t)nb); i++) { /* finite, small */
                uint16_t h = (uint16_t)(0x2000u + rnd(&seed) % 0x1000u);
                if (k) { /* d, dmin: the first 4 bytes of each super-block */
                    unsigned char *p = data + i / 2 * 144 + i % 2 * 2;
                    p[0] = (unsigned char)(h & 0xFF);
                    p[1] = (unsigned char)(h >> 8);
                } else {
                    d[i] = h;
                }
            }
            for (i = 0; i < (size_t)cols * NMAX; i++) x[i] = (float)((int)(rnd(&seed) % 2001u) - 1000) / 997.0f;
            W.data = data;
            W.dtype = dts[di];
            W.rows = ROWS;
            W.cols = cols;
            for (j = 0; j < NMAX; j++) {
                in[j].x = x + (size_t)j * (size_t)cols;
                in[j].xq = xq + (size_t)j * 32 * (size_t)nb;
                in[j].xs = xs + (size_t)j * 2 * (size_t)nb;
                mamba__q8_quant_x(xq + (size_t)j * 32 * (size_t)nb, xs + (size_t)j * 2 * (size_t)nb, in[j].x, cols);
                if (mamba__wtypes[W.dtype].input == MAMBA__INPUT_Q16T) /* what mamba__matvec_x prepares too */
                    mamba__q16_terms(xs + (size_t)j * 2 * (size_t)nb, in[j].xq, nb);
                out[j] = outs + (size_t)j * ROWS;
            }
            for (ni = 0; ni < (int)(sizeof ns / sizeof ns[0]); ni++) {
                mamba__wtypes[W.dtype].dot_rows_n(out, &W, 1, ROWS, in, ns[ni]); /* from row 1: r0 > 0 */
                for (j = 0; j < ns[ni]; j++) {
                    mamba__matvec_x(ref, &W, in[j].x, NULL, xq + (size_t)NMAX * 32 * (size_t)nb,
                                    xs + (size_t)NMAX * 2 * (size_t)nb);
                    for (r = 1; r < ROWS; r++, checks++)
                        if (memcmp(&out[j][r], &ref[r], sizeof(float)) != 0) bad++;
                }
            }
            free(data);
            free(x);
            free(ref);
            free(outs);
            free(xq);
            free(xs);
        }
    CHECK(bad == 0, "wide quantised kernels: %d of %d (row, input) sums differ from mamba__matvec_x", bad, checks);
    if (bad == 0) printf("wide quantised kernels (q8, q4_0, iq4_nl, q4_k; 39-40 blocks a row): %d (row, input) sums bit-identical\n", checks);
}

/* The f32, f16 and bf16 batch kernels alone, on rows of several column
   blocks (MAMBA_BATCH_COLS) and a ragged tail, which the test models'
   short rows never reach: each (row, input) must be the bits of
   mamba__matvec_x, whatever the group of rows (29 rows: 12 + 12 + 5) or of
   inputs (13: 8 + 4 + 1); and so must dot_rows_few's (four rows through
   one or two inputs at once). */
static void check_float_blocks(void)
{
    enum { ROWS = 29, NMAX = 13, COLS = 1536 + 40 };
    static const int dts[] = {MAMBA_DTYPE_F32, MAMBA_DTYPE_F16, MAMBA_DTYPE_BF16};
    unsigned seed = 4242u;
    int di, j, r, bad = 0, checks = 0;
    float *x = (float *)malloc(sizeof(float) * COLS * NMAX), *ref = (float *)malloc(sizeof(float) * ROWS);
    float *out[NMAX], *outs = (float *)malloc(sizeof(float) * ROWS * NMAX);
    void *data = malloc(sizeof(float) * ROWS * COLS);
    mamba__xin in[NMAX];
    size_t i;
    CHECK(x && ref && outs && data, "out of memory");
    if (!x || !ref || !outs || !data) return;
    for (i = 0; i < (size_t)COLS * NMAX; i++) x[i] = (float)((int)(rnd(&seed) % 2001u) - 1000) / 997.0f;
    for (j = 0; j < NMAX; j++) {
        in[j].x = x + (size_t)j * COLS;
        in[j].xq = NULL;
        in[j].xs = NULL;
        out[j] = outs + (size_t)j * ROWS;
    }
    for (di = 0; di < 3; di++) {
        mamba_matrix W;
        for (i = 0; i < (size_t)ROWS * COLS; i++) { /* finite, in [-1, 1] */
            const unsigned v = rnd(&seed), sign = v & 0x8000u;
            if (dts[di] == MAMBA_DTYPE_F32) ((float *)data)[i] = (float)((int)(v % 2001u) - 1000) / 1000.0f;
            else if (dts[di] == MAMBA_DTYPE_F16) ((uint16_t *)data)[i] = (uint16_t)(sign | (0x2000u + (v >> 16) % 0x1C00u));
            else ((uint16_t *)data)[i] = (uint16_t)(sign | (0x3000u + (v >> 16) % 0x0F80u));
        }
        W.data = data;
        W.dtype = dts[di];
        W.rows = ROWS;
        W.cols = COLS;
#if defined(MAMBA__XD) && MAMBA__XD > 1
        { /* dot_rows_few (a few sequences): four rows through 1 ... MAMBA__XD inputs at once,
             asking for their own rows ahead and for the next rows' share 0 or 1 of 2 */
            static const int rr[4] = {0, 9, 19, 28}, rn[4] = {1, 10, 20, 29};
            float v[4 * MAMBA__XD];
            int nf, k, pl;
            for (pl = 0; pl < 3; pl++)
                for (nf = 1; nf <= MAMBA__XD; nf++) {
                    mamba__wtypes[W.dtype].dot_rows_few(v, &W, rr, in, nf, pl ? rn : NULL, pl - 1, 2);
                    for (j = 0; j < nf; j++) {
                        mamba__matvec_x(ref, &W, in[j].x, NULL, NULL, NULL);
                        for (k = 0; k < 4; k++, checks++)
                            if (memcmp(&v[j * 4 + k], &ref[rr[k]], sizeof(float)) != 0) bad++;
                    }
                }
        }
#endif
        memset(outs, 0xFF, sizeof(float) * ROWS * NMAX);
        mamba__wtypes[W.dtype].dot_rows_n(out, &W, 0, ROWS, in, NMAX);
        for (j = 0; j < NMAX; j++) {
            mamba__matvec_x(ref, &W, in[j].x, NULL, NULL, NULL);
            for (r = 0; r < ROWS; r++, checks++)
                if (memcmp(&out[j][r], &ref[r], sizeof(float)) != 0) bad++;
        }
    }
    CHECK(bad == 0, "float batch kernel: %d of %d (row, input) sums differ from mamba__matvec_x", bad, checks);
    if (bad == 0)
        printf("float batch kernels (f32, f16, bf16; %d columns; groups of rows, and four rows a few inputs at once): %d (row, input) sums bit-identical\n",
               COLS, checks);
    free(x);
    free(ref);
    free(outs);
    free(data);
}

int main(int argc, char **argv)
{
    static const char *const dt[] = {"f32", "f16", "bf16"};
    mamba_model m, other;
    int d, i;
    check_wide_kernels();
    check_float_blocks();
    for (d = 0; d < 3; d++) {
        mb_file f;
        mb_config c = mb_default();
        char name[64];
        c.dtype = (uint32_t)d;
        c.d_model = 40; /* ragged SIMD tails: 40 = 32 + 8 */
        c.d_inner = 80;
        CHECK(mb_build(&c, &f) && mamba_model_init_memory(&m, f.bytes, f.size) == MAMBA_OK, "builder %s", dt[d]);
        sprintf(name, "builder-%s", dt[d]);
        check_model(&m, name);
        if (d == 0) { /* a state of another model's shapes */
            mb_file g;
            mb_config oc = mb_default();
            mamba_state os, *ps[1];
            int t = 1;
            if (mb_build(&oc, &g) && mamba_model_init_memory(&other, g.bytes, g.size) == MAMBA_OK &&
                mamba_state_new(&os, &other) == MAMBA_OK) {
                ps[0] = &os;
                CHECK(mamba_step_batch(&m, ps, 1, &t, NULL) == MAMBA_ERR_INVALID_ARG, "other model's state");
                mamba_state_free(&os);
                mb_free(&g);
            }
        }
        mb_free(&f);
    }
    if (mamba_model_open(&m, "models/tinystories.mamba") == MAMBA_OK) {
        check_model(&m, "tinystories");
        mamba_model_close(&m);
    } else {
        CHECK(0, "models/tinystories.mamba (run from the repository root)");
    }
    for (i = 1; i < argc; i++) {
        if (mamba_model_open(&m, argv[i]) != MAMBA_OK) {
            CHECK(0, "cannot open %s", argv[i]);
            continue;
        }
        check_model(&m, argv[i]);
        mamba_model_close(&m);
    }
    return harness_summary();
}
