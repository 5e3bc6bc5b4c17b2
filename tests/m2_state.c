/* m2_state.c - the state operations on a Mamba-2 model (run by t_mamba2.sh
   with a converted test checkpoint):

     m2_state MODEL.mamba [OTHER.mamba]

   From a zero state: 12 tokens, then a snapshot, a copy, and 8 more tokens;
   the snapshot loaded into a fresh state, and the copy, must give those 8
   rows of logits bit for bit; a reset state must give the first row again;
   mamba_forward over all 20 tokens from a zero state must leave a state
   whose next step matches the stepped one to 3e-5 (its logits); a snapshot
   of OTHER (another Mamba-2 model) must be refused. Prints one line per
   failure and exits 1 if any. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fails = 0;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("m2_state: FAIL: %s\n", what);
        fails++;
    }
}

int main(int argc, char **argv)
{
    static const int toks[21] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6};
    mamba_model m, other;
    mamba_state a, b, c, d;
    float *la, *lb, *lc, *first;
    void *snap, *scratch;
    size_t n, V, got, sbytes;
    double worst = 0.0, big = 0.0;
    int i;
    if (argc < 2) return 2;
    if (mamba_model_open(&m, argv[1]) != MAMBA_OK) {
        printf("m2_state: cannot load %s: %s\n", argv[1], m.error ? m.error : "?");
        return 1;
    }
    check(m.config.arch == MAMBA_ARCH_MAMBA2, "the model is not arch 3");
    V = (size_t)m.config.n_vocab_padded;
    la = (float *)malloc(sizeof(float) * V);
    lb = (float *)malloc(sizeof(float) * V);
    lc = (float *)malloc(sizeof(float) * V);
    first = (float *)malloc(sizeof(float) * V);
    if (!la || !lb || !lc || !first || mamba_state_new(&a, &m) || mamba_state_new(&b, &m) || mamba_state_new(&c, &m) ||
        mamba_state_new(&d, &m))
        return 1;
    for (i = 0; i < 12; i++) check(mamba_step(&m, &a, toks[i], i == 0 ? first : la) == MAMBA_OK, "step");
    n = mamba_state_snapshot_size(&a);
    snap = malloc(n);
    if (!snap) return 1;
    check(mamba_state_save(&a, &m, snap, n, &got) == MAMBA_OK && got == n, "save");
    check(mamba_state_copy(&c, &a) == MAMBA_OK, "copy");
    check(mamba_state_load(&b, &m, snap, n) == MAMBA_OK, "load");
    for (i = 12; i < 20; i++) {
        mamba_step(&m, &a, toks[i], la);
        mamba_step(&m, &b, toks[i], lb);
        mamba_step(&m, &c, toks[i], lc);
        check(memcmp(la, lb, sizeof(float) * V) == 0, "a loaded snapshot steps differently");
        check(memcmp(la, lc, sizeof(float) * V) == 0, "a copied state steps differently");
    }
    mamba_state_reset(&b);
    mamba_step(&m, &b, toks[0], lb);
    check(memcmp(first, lb, sizeof(float) * V) == 0, "a reset state is not a zero state");

    /* forward over the 20 tokens, then one step: as 21 steps */
    sbytes = mamba_forward_scratch_size(&m, 8);
    scratch = malloc(sbytes);
    if (!scratch) return 1;
    check(mamba_forward(&m, &d, toks, 20, NULL, 0, scratch, sbytes) == MAMBA_OK, "forward");
    mamba_step(&m, &d, toks[20], lb);
    mamba_step(&m, &a, toks[20], la);
    for (n = 0; n < V; n++) {
        if (fabs((double)la[n]) > big) big = fabs((double)la[n]);
        if (fabs((double)la[n] - lb[n]) > worst) worst = fabs((double)la[n] - lb[n]);
    }
    check(worst <= 3e-5 * big, "the state forward leaves differs from the stepped one");
    printf("m2_state: forward's state then a step vs 21 steps: %.3g of the largest logit\n", worst / big);

    if (argc > 2 && mamba_model_open(&other, argv[2]) == MAMBA_OK) {
        mamba_state e;
        if (mamba_state_new(&e, &other) == MAMBA_OK) {
            size_t ne = mamba_state_snapshot_size(&e);
            void *se = malloc(ne);
            if (se && mamba_state_save(&e, &other, se, ne, &got) == MAMBA_OK)
                check(mamba_state_load(&b, &m, se, ne) != MAMBA_OK, "another model's snapshot was accepted");
            free(se);
            mamba_state_free(&e);
        }
        mamba_model_close(&other);
    }
    free(scratch);
    free(snap);
    free(la);
    free(lb);
    free(lc);
    free(first);
    mamba_state_free(&a);
    mamba_state_free(&b);
    mamba_state_free(&c);
    mamba_state_free(&d);
    mamba_model_close(&m);
    if (!fails) printf("m2_state: PASS\n");
    return fails ? 1 : 0;
}
