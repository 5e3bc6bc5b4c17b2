/* first.c - the README's first use, complete: load a model, sample a story, print it.
   cc -O2 -march=native -I. examples/first.c -o first -lm && ./first models/tinystories.mamba */
#define MAMBA_IMPLEMENTATION /* in exactly one .c file of a program */
#include "mamba.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "models/tinystories.mamba";
    mamba_model model;
    mamba_state state;
    mamba_tokenizer tok;
    mamba_detok detok;
    mamba_rng rng;
    mamba_sampler smp = mamba_sampler_default();
    float *logits;
    int *work, i, token;
    char *text;
    size_t n;
    mamba_result r = mamba_model_open(&model, path);
    if (r != MAMBA_OK) {
        fprintf(stderr, "%s: %s (%s)\n", path, mamba_result_string(r), model.error ? model.error : "");
        return 1;
    }
    if (mamba_tokenizer_from_model(&tok, &model) != MAMBA_OK) {
        fprintf(stderr, "%s has no usable tokenizer\n", path);
        mamba_model_close(&model);
        return 1;
    }
    logits = (float *)malloc(sizeof(float) * (size_t)model.config.n_vocab_padded); /* one row */
    work = (int *)malloc(sizeof(int) * (size_t)model.config.n_vocab);              /* the sampler's */
    text = (char *)malloc(tok.max_token_bytes + 3);                                /* one token's bytes */
    if (!logits || !work || !text || mamba_state_new(&state, &model) != MAMBA_OK) {
        fprintf(stderr, "out of memory\n");
        free(logits);
        free(work);
        free(text);
        mamba_model_close(&model);
        return 1;
    }
    smp.temperature = 0.8f;
    smp.top_p = 0.9f;
    mamba_rng_seed(&rng, 42);
    mamba_detok_init(&detok);
    token = model.config.eos_id; /* the start of a document, as in training */
    for (i = 0; i < 200; i++) {
        if (mamba_step(&model, &state, token, logits) != MAMBA_OK) break; /* token in, logits out */
        token = mamba_sample(&smp, &rng, logits, model.config.n_vocab, NULL, 0, work);
        if (token == model.config.eos_id) break; /* the story is over */
        if (mamba_detok_push(&tok, &detok, token, text, tok.max_token_bytes + 3, &n) == MAMBA_OK)
            fwrite(text, 1, n, stdout); /* whole UTF-8 characters only */
    }
    n = mamba_detok_flush(&detok, text);
    fwrite(text, 1, n, stdout);
    printf("\n");
    mamba_state_free(&state);
    free(logits);
    free(work);
    free(text);
    mamba_model_close(&model);
    return 0;
}
