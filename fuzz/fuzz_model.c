/* fuzz_model.c - libFuzzer harness: a model file is untrusted input.

   The input bytes are a .mamba file. They are copied into a 64-byte aligned
   buffer (the loader's zero-copy pointers need the file's alignment) and
   loaded with mamba_model_init_memory(). If the loader accepts them, every
   tensor pointer it formed must be in bounds, so a state is made and a few
   tokens are stepped, among them out-of-range ids, with the output row
   written; AddressSanitizer sees any read past the file or the state.

   Build (see `make fuzz`):
     clang -g -O1 -fsanitize=fuzzer,address,undefined -I. fuzz/fuzz_model.c -o build/fuzz/fuzz_model -lm
   Run:
     build/fuzz/fuzz_model fuzz/corpus/fuzz_model -max_total_time=60 */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mamba_model model;
    mamba_state state;
    unsigned char *raw, *buf;
    float *logits;
    size_t i;
    int t, tokens[6];

    /* a 64-byte aligned private copy (malloc only promises 16) */
    raw = (unsigned char *)malloc(size + 64);
    if (!raw) return 0;
    buf = raw + ((64u - ((uintptr_t)raw & 63u)) & 63u);
    if (size) memcpy(buf, data, size);

    if (mamba_model_init_memory(&model, buf, size) == MAMBA_OK) {
        const mamba_config *c = &model.config;
        /* the loader promised these; a broken promise is a bug */
        if (!model.embedding.data || !model.lm_head.data || !model.norm_f) __builtin_trap();
        if (model.tokenizer && (model.tokenizer < buf || model.tokenizer_bytes > size ||
                                (size_t)(model.tokenizer - buf) > size - model.tokenizer_bytes))
            __builtin_trap();
        if (mamba_state_new(&state, &model) == MAMBA_OK) {
            logits = (float *)malloc(sizeof(float) * (size_t)c->n_vocab_padded);
            if (logits) {
                tokens[0] = 0;
                tokens[1] = c->n_vocab_padded - 1;
                tokens[2] = c->n_vocab_padded;          /* one past the end: MAMBA_ERR_TOKEN */
                tokens[3] = -1;                         /* negative: MAMBA_ERR_TOKEN */
                tokens[4] = size > 200 ? data[size - 1] % c->n_vocab_padded : 0;
                tokens[5] = 0x7FFFFFFF;
                for (t = 0; t < 6; t++) {
                    mamba_result r = mamba_step(&model, &state, tokens[t], t & 1 ? NULL : logits);
                    int bad = tokens[t] < 0 || tokens[t] >= c->n_vocab_padded;
                    if (bad != (r == MAMBA_ERR_TOKEN)) __builtin_trap();
                    if (r == MAMBA_OK && !(t & 1)) {
                        /* read every logit so MSan/ASan would see an unwritten one */
                        volatile float sum = 0.0f;
                        for (i = 0; i < (size_t)c->n_vocab_padded; i++) sum += logits[i];
                        (void)sum;
                        (void)mamba_argmax(logits, c->n_vocab);
                    }
                }
                free(logits);
            }
            mamba_state_free(&state);
        }
        mamba_model_close(&model); /* owns nothing: must not free buf */
    } else {
        /* a failed load names its check */
        if (!model.error) __builtin_trap();
    }
    free(raw);
    return 0;
}
