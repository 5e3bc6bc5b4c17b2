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
    for (si = 0; si < (int)(sizeof sizes / sizeof sizes[0]); si++) {
        const int n = sizes[si];
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

int main(int argc, char **argv)
{
    static const char *const dt[] = {"f32", "f16", "bf16"};
    mamba_model m, other;
    int d, i;
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
