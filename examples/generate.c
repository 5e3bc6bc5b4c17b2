/* generate.c - generate tokens from a model, one mamba_step() at a time.

   build/generate MODEL.mamba [-n N] [--tokens "ID ID ..."]

   Reads the prompt ids, then greedily picks the most likely next token and
   feeds it back, printing the ids as they come. (Text in and out, and the
   samplers, arrive with the tokenizer.) */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *path = NULL, *prompt = "0";
    int n = 32, i, token = 0, status = 1;
    float *logits;
    mamba_model model;
    mamba_state state;
    mamba_result r;
    char *end;
    const char *p;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) prompt = argv[++i];
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "usage: generate MODEL.mamba [-n N] [--tokens \"ID ID ...\"]\n");
            return 2;
        }
    }
    if (!path) { fprintf(stderr, "usage: generate MODEL.mamba [-n N] [--tokens \"ID ID ...\"]\n"); return 2; }
    r = mamba_model_open(&model, path);
    if (r != MAMBA_OK) {
        fprintf(stderr, "generate: %s: %s (%s)\n", path, mamba_result_string(r), model.error ? model.error : "");
        return 1;
    }
    logits = (float *)malloc(sizeof(float) * (size_t)model.config.n_vocab_padded);
    if (!logits || mamba_state_new(&state, &model) != MAMBA_OK) { mamba_model_close(&model); free(logits); return 1; }
    /* the prompt: each id advances the state; the last one's logits pick the next */
    for (p = prompt;; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        token = (int)v;
        r = mamba_step(&model, &state, token, logits);
        if (r != MAMBA_OK) { fprintf(stderr, "generate: prompt id %ld: %s\n", v, mamba_result_string(r)); goto done; }
        printf("%d ", token);
    }
    for (i = 0; i < n; i++) {
        token = mamba_argmax(logits, model.config.n_vocab);
        printf("%d ", token);
        fflush(stdout);
        if (token == model.config.eos_id) break;
        if (mamba_step(&model, &state, token, logits) != MAMBA_OK) goto done;
    }
    printf("\n");
    status = 0;
done:
    mamba_state_free(&state);
    free(logits);
    mamba_model_close(&model);
    return status;
}
