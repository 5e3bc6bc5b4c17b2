/* logits.c - step a model over given token ids and dump every row of logits.

   build/logits MODEL.mamba --tokens "5 0 17" --out FILE
   build/logits MODEL.mamba --tokens-file IDS.txt --out FILE [--forward [BLOCK]]

   Starts from a zero state, calls mamba_step() once per token and writes
   the n_vocab_padded logits after each token as raw little-endian float32,
   one row per token. This is what the golden tests compare against the
   independent numpy reference (tools/reference.py). With --forward it makes
   one mamba_forward() call over all the tokens instead (blocks of BLOCK
   tokens, default MAMBA_FORWARD_BLOCK), asking for every row of logits:
   tests/t_forward.sh checks that path against the same golden files. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: logits MODEL.mamba (--tokens \"ID ID ...\" | --tokens-file FILE) --out FILE"
                    " [--forward [BLOCK]]\n");
    return 2;
}

/* Parse whitespace-separated non-negative ids from text; returns the count
   or -1 on a malformed id. */
static long parse_ids(const char *text, int *ids, long cap)
{
    long n = 0;
    const char *p = text;
    for (;;) {
        char *end;
        long v;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) return n;
        v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 0x7FFFFFFFL) return -1;
        if (n < cap) ids[n] = (int)v;
        n++;
        p = end;
    }
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    if (!f) return NULL;
    for (;;) {
        if (cap - len < 4097) {
            char *nb = (char *)realloc(buf, cap = cap * 2 + 8192);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
        }
        got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    fclose(f);
    buf[len] = 0;
    return buf;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *tokens = NULL, *tokens_file = NULL, *out_path = NULL;
    char *text = NULL;
    int *ids = NULL, i, status = 1, forward = 0;
    void *scratch = NULL;
    long n;
    float *logits = NULL;
    FILE *out = NULL;
    mamba_model model;
    mamba_state state;
    mamba_result r;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokens") && i + 1 < argc) tokens = argv[++i];
        else if (!strcmp(argv[i], "--tokens-file") && i + 1 < argc) tokens_file = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
        else if (!strcmp(argv[i], "--forward")) {
            forward = MAMBA_FORWARD_BLOCK;
            if (i + 1 < argc && argv[i + 1][0] >= '1' && argv[i + 1][0] <= '9') forward = atoi(argv[++i]);
        }
        else if (argv[i][0] != '-' && !model_path) model_path = argv[i];
        else return usage();
    }
    if (!model_path || !out_path || (!tokens == !tokens_file)) return usage();
    if (tokens_file) {
        text = read_text(tokens_file);
        if (!text) { fprintf(stderr, "logits: cannot read %s\n", tokens_file); return 1; }
        tokens = text;
    }
    n = parse_ids(tokens, NULL, 0);
    if (n < 0) { fprintf(stderr, "logits: malformed token id\n"); free(text); return 1; }
    ids = (int *)malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (!ids) { free(text); return 1; }
    parse_ids(tokens, ids, n);

    r = mamba_model_open(&model, model_path);
    if (r != MAMBA_OK) {
        fprintf(stderr, "logits: %s: %s (%s)\n", model_path, mamba_result_string(r), model.error ? model.error : "");
        free(ids); free(text);
        return 1;
    }
    if (mamba_state_new(&state, &model) != MAMBA_OK) goto done;
    logits = (float *)malloc(sizeof(float) * (size_t)model.config.n_vocab_padded * (size_t)(forward && n ? n : 1));
    out = fopen(out_path, "wb");
    if (!logits || !out) { fprintf(stderr, "logits: cannot write %s\n", out_path); goto done_state; }
    if (forward) { /* every row in one call */
        size_t bytes = mamba_forward_scratch_size(&model, forward);
        scratch = malloc(bytes ? bytes : 1);
        if (!bytes || !scratch) { fprintf(stderr, "logits: bad --forward block %d\n", forward); goto done_state; }
        r = mamba_forward(&model, &state, ids, (int)n, logits, MAMBA_FORWARD_ALL_LOGITS, scratch, bytes);
        if (r != MAMBA_OK) { fprintf(stderr, "logits: forward: %s\n", mamba_result_string(r)); goto done_state; }
    }
    for (i = 0; i < n; i++) {
        int v;
        const float *row = forward ? logits + (size_t)i * (size_t)model.config.n_vocab_padded : logits;
        if (!forward) r = mamba_step(&model, &state, ids[i], logits);
        if (r != MAMBA_OK) {
            fprintf(stderr, "logits: token %d (id %d): %s\n", i, ids[i], mamba_result_string(r));
            goto done_state;
        }
        /* raw little-endian float32, whatever the host's byte order */
        for (v = 0; v < model.config.n_vocab_padded; v++) {
            unsigned char b[4];
            uint32_t bits;
            memcpy(&bits, &row[v], 4);
            b[0] = (unsigned char)(bits & 255); b[1] = (unsigned char)((bits >> 8) & 255);
            b[2] = (unsigned char)((bits >> 16) & 255); b[3] = (unsigned char)((bits >> 24) & 255);
            if (fwrite(b, 1, 4, out) != 4) goto done_state;
        }
    }
    status = 0;
done_state:
    mamba_state_free(&state);
done:
    if (out && fclose(out) != 0) status = 1;
    free(logits);
    free(scratch);
    mamba_model_close(&model);
    free(ids);
    free(text);
    return status;
}
