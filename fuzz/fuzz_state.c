/* fuzz_state.c - libFuzzer harness: a state snapshot is untrusted input.

   Two fixed small models are built in memory (tests/model_builder.h): the
   default Mamba-1 config and a Falcon-Mamba one of other shapes. The first
   input byte picks the model (bit 1) and whether the harness repairs the
   blob's checksum before loading (bit 0): without the repair almost every
   mutation stops at MAMBA_ERR_STATE_CHECKSUM; with it the mutations reach
   the field checks behind the checksum (sizes, float count, fingerprint).

   On MAMBA_OK the state must save back to exactly the bytes it was loaded
   from, step a few tokens and read a block with mamba_forward() (the
   position saturates at LONG_MAX); on an error the state must be unchanged.

   Seeds: run with MAMBA_FUZZ_WRITE_SEEDS=DIR to write valid snapshots of
   both models (after 0, 1 and 5 steps) into DIR and exit; fuzz/fuzz.sh
   does it when fuzz/corpus/fuzz_state/ is empty. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "tests/model_builder.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* harness-only globals: the fixed models and their states */
static mb_file files[2];
static mamba_model models[2];
static mamba_state states[2], before[2];

static void die(const char *what)
{
    fprintf(stderr, "fuzz_state: %s\n", what);
    exit(1);
}

static void write_seeds(const char *dir)
{
    int k, n, steps[3] = {0, 1, 5}, i;
    for (k = 0; k < 2; k++) {
        for (i = 0; i < 3; i++) {
            size_t need = mamba_state_snapshot_size(&states[k]), got;
            unsigned char *blob = (unsigned char *)malloc(need + 1);
            char path[512];
            FILE *f;
            mamba_state_reset(&states[k]);
            for (n = 0; n < steps[i]; n++) mamba_step(&models[k], &states[k], n % models[k].config.n_vocab, NULL);
            if (!blob || mamba_state_save(&states[k], &models[k], blob + 1, need, &got) != MAMBA_OK) die("save");
            blob[0] = (unsigned char)(k << 1); /* model k, no checksum repair */
            snprintf(path, sizeof path, "%s/seed_model%d_steps%d.snap", dir, k, steps[i]);
            f = fopen(path, "wb");
            if (!f || fwrite(blob, 1, got + 1, f) != got + 1 || fclose(f) != 0) die("cannot write a seed");
            free(blob);
        }
    }
    mamba_state_reset(&states[0]);
    mamba_state_reset(&states[1]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mb_config c[2];
    int k;
    (void)argc;
    (void)argv;
    (void)mb_free; /* the models live as long as the process */
    c[0] = mb_default();
    c[1] = mb_default();
    c[1].arch = 2;
    c[1].mixer_rms_eps = 1e-6f;
    c[1].d_model = 8;
    c[1].n_layer = 3;
    c[1].d_inner = 12;
    c[1].d_state = 2;
    c[1].d_conv = 3;
    c[1].dt_rank = 1;
    c[1].dtype = 1;
    for (k = 0; k < 2; k++) {
        if (!mb_build(&c[k], &files[k])) die("cannot build a model");
        if (mamba_model_init_memory(&models[k], files[k].bytes, files[k].size) != MAMBA_OK) die("model rejected");
        if (mamba_state_new(&states[k], &models[k]) != MAMBA_OK) die("state");
        if (mamba_state_new(&before[k], &models[k]) != MAMBA_OK) die("state");
    }
    if (getenv("MAMBA_FUZZ_WRITE_SEEDS")) {
        write_seeds(getenv("MAMBA_FUZZ_WRITE_SEEDS"));
        exit(0);
    }
    return 0;
}

/* FNV-1a 64, written here from the format's description (not the library's) */
static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xCBF29CE484222325ull;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

static int same_state(const mamba_state *a, const mamba_state *b)
{
    size_t n = (size_t)a->n_layer * (size_t)a->d_inner * ((size_t)a->d_conv + (size_t)a->d_state);
    return a->pos == b->pos && memcmp(a->conv, b->conv, sizeof(float) * n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int k, repair, t;
    unsigned char *blob;
    size_t len, need, got;
    mamba_result r;
    mamba_model *m;
    mamba_state *s;
    if (size < 1) return 0;
    k = (data[0] >> 1) & 1;
    repair = data[0] & 1;
    m = &models[k];
    s = &states[k];
    len = size - 1;
    blob = (unsigned char *)malloc(len ? len : 1); /* exact size: ASan sees a read past it */
    if (!blob) return 0;
    if (len) memcpy(blob, data + 1, len);
    if (repair && len >= 72) {
        /* the blob's own size: 64 + 4F + 8, with F at offset 56 (if it fits) */
        uint64_t nf = 0;
        int i;
        for (i = 7; i >= 0; i--) nf = (nf << 8) | blob[56 + i];
        if (nf <= (len - 72) / 4) {
            size_t end = 64 + 4 * (size_t)nf;
            uint64_t h = fnv1a(blob, end);
            for (i = 0; i < 8; i++) blob[end + (size_t)i] = (unsigned char)(h >> (8 * i));
        }
    }
    /* a state with some history, so "unchanged on error" means something */
    mamba_state_reset(s);
    mamba_step(m, s, 1, NULL);
    mamba_state_copy(&before[k], s);

    r = mamba_state_load(s, m, blob, len);
    if (r == MAMBA_OK) {
        unsigned char *again;
        float *logits;
        need = mamba_state_snapshot_size(s);
        if (need > len) __builtin_trap(); /* accepted a blob shorter than itself */
        again = (unsigned char *)malloc(need);
        if (again) {
            if (mamba_state_save(s, m, again, need, &got) != MAMBA_OK || got != need) __builtin_trap();
            if (memcmp(again, blob, need) != 0) __builtin_trap(); /* load then save is the identity */
            free(again);
        }
        logits = (float *)malloc(sizeof(float) * (size_t)m->config.n_vocab_padded);
        if (logits) {
            long pos;
            for (t = 0; t < 3; t++)
                if (mamba_step(m, s, t, logits) != MAMBA_OK) __builtin_trap();
            /* and a block through mamba_forward: the position (any value up
               to LONG_MAX came in) saturates, never overflows */
            {
                static const int toks[4] = {1, 2, 3, 4};
                size_t sb = mamba_forward_scratch_size(m, 2);
                void *scratch = malloc(sb);
                pos = s->pos;
                if (scratch) {
                    if (mamba_forward(m, s, toks, 4, logits, 0, scratch, sb) != MAMBA_OK) __builtin_trap();
                    if (s->pos != (pos > LONG_MAX - 4 ? LONG_MAX : pos + 4)) __builtin_trap();
                    free(scratch);
                }
            }
            free(logits);
        }
    } else {
        if (!same_state(s, &before[k])) __builtin_trap(); /* an error left the state changed */
    }
    free(blob);
    return 0;
}
