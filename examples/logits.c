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
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: logits MODEL.mamba (--tokens \"ID ID ...\" | --tokens-file FILE) --out FILE"
                    " [--forward [BLOCK]]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *tokens = NULL, *tokens_file = NULL, *out_path = NULL;
    char *text = NULL;
    int *ids = NULL, i, status = 1, forward = 0;
    void *scratch = NULL;
    long n;
    size_t text_len;
    const char *bad = NULL;
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
            long k;
            forward = MAMBA_FORWARD_BLOCK;
            /* an optional BLOCK: the next word, if it starts with a digit, must be one */
            if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
                if (!cli_long(argv[++i], 1, MAMBA_FORWARD_MAX_BLOCK, &k)) {
                    fprintf(stderr, "logits: --forward %s: a block is 1..%d tokens\n", argv[i], MAMBA_FORWARD_MAX_BLOCK);
                    return 2;
                }
                forward = (int)k;
            }
        }
        else if (argv[i][0] != '-' && !model_path) model_path = argv[i];
        else return usage();
    }
    if (!model_path || !out_path || (!tokens == !tokens_file)) return usage();
    if (tokens_file) {
        text = cli_read_file("logits", tokens_file, (size_t)-1 / 2, &text_len);
        if (!text) return 1;
        tokens = text;
    }
    n = cli_ids(tokens, NULL, 0, &bad);
    if (n < 0 || n > INT_MAX) { /* mamba_forward counts tokens in an int */
        fprintf(stderr, "logits: %s: '%.20s' is not a token id (0..%d)\n", tokens_file ? tokens_file : "--tokens",
                bad ? bad : "", INT_MAX);
        free(text);
        return tokens_file ? 1 : 2;
    }
    ids = (int *)malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (!ids) { fprintf(stderr, "logits: out of memory\n"); free(text); return 1; }
    cli_ids(tokens, ids, n, &bad);

    if (cli_open_model("logits", &model, model_path) != MAMBA_OK) {
        free(ids); free(text);
        return 1;
    }
    if (mamba_state_new(&state, &model) != MAMBA_OK) { fprintf(stderr, "logits: out of memory\n"); goto done; }
    /* --forward keeps every row: n * n_vocab_padded floats, if that fits a size_t */
    if (forward && n && (size_t)n > (size_t)-1 / sizeof(float) / (size_t)model.config.n_vocab_padded) {
        fprintf(stderr, "logits: %ld rows of %d logits do not fit in memory\n", n, model.config.n_vocab_padded);
        goto done_state;
    }
    logits = (float *)malloc(sizeof(float) * (size_t)model.config.n_vocab_padded * (size_t)(forward && n ? n : 1));
    if (!logits) { fprintf(stderr, "logits: out of memory\n"); goto done_state; }
    errno = 0;
    out = fopen(out_path, "wb");
    if (!out) { fprintf(stderr, "logits: %s: %s\n", out_path, strerror(errno ? errno : EIO)); goto done_state; }
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
            if (fwrite(b, 1, 4, out) != 4) {
                fprintf(stderr, "logits: %s: %s\n", out_path, strerror(errno ? errno : EIO));
                goto done_state;
            }
        }
    }
    status = 0;
done_state:
    mamba_state_free(&state);
done:
    if (out && fclose(out) != 0) {
        fprintf(stderr, "logits: %s: %s\n", out_path, strerror(errno ? errno : EIO));
        status = 1;
    }
    free(logits);
    free(scratch);
    mamba_model_close(&model);
    free(ids);
    free(text);
    return status;
}
