/* fuzz_model.c - libFuzzer harness: a model file is untrusted input.

   The input bytes are a .mamba file. They are copied into a 64-byte aligned
   buffer (the loader's zero-copy pointers need the file's alignment) and
   loaded twice: with mamba_model_init_memory() and with
   MAMBA_LOAD_CHECK_FINITE. The two must agree (the checked load refuses only
   what the plain one accepts, with MAMBA_ERR_NONFINITE and the tensor named)
   and a refused model must hold no pointer into the bytes.

   If the loader accepts the file, every tensor pointer it formed must be in
   bounds, so:
   - a few tokens are stepped, among them out-of-range ids, with the output
     row written; AddressSanitizer sees any read past the file or the state;
   - mamba_forward() reads a token array with a block size, both taken from
     the bytes past the file's own size (the header says where the file
     ends; the loader ignores what follows), in an exact-size scratch: it
     must give MAMBA_ERR_TOKEN (state unchanged) when an id is out of range
     and MAMBA_OK otherwise, and advance the position by the token count;
   - the tokenizer section the file carries, if any, goes through
     mamba_tokenizer_from_model(); if accepted, a fixed text is encoded and
     every id decoded;
   - after mamba_model_close() every entry point must refuse the model.

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

/* the tokenizer section of an accepted model: encode, decode, stream */
static void use_tokenizer(const mamba_model *model)
{
    static const char text[] = "Once upon a time,  there was\xC3\xA9 a \xFF cat <|endoftext|> 123!";
    mamba_tokenizer tok;
    size_t work_bytes, n_ids = 0, i, n_out;
    void *work;
    int ids[256];
    char out[512];
    if (mamba_tokenizer_from_model(&tok, model) != MAMBA_OK) {
        if (model->tokenizer && !tok.error) __builtin_trap(); /* a refusal names its check */
        return;
    }
    work_bytes = mamba_encode_work_size(&tok, sizeof text - 1);
    if (work_bytes == (size_t)-1 || work_bytes > ((size_t)64 << 20)) return;
    work = malloc(work_bytes ? work_bytes : 1);
    if (!work) return;
    if (mamba_encode(&tok, text, sizeof text - 1, ids, 256, &n_ids, work, work_bytes) == MAMBA_OK) {
        for (i = 0; i < n_ids; i++)
            if (ids[i] < 0 || (unsigned)ids[i] >= tok.n_vocab) __builtin_trap(); /* an id outside its vocabulary */
        (void)mamba_decode(&tok, ids, n_ids, out, sizeof out, &n_out);
    }
    free(work);
}

/* mamba_forward() over tokens and a block size from the trailing bytes */
static void use_forward(const mamba_model *model, mamba_state *state, const uint8_t *p, size_t n)
{
    const mamba_config *c = &model->config;
    int tokens[64], nt, i, block, bad = 0, flags;
    size_t scratch_bytes;
    void *scratch;
    float *logits;
    long pos0;
    if (n < 2) return;
    block = 1 + p[0] % 48;
    flags = p[1] & 1 ? MAMBA_FORWARD_ALL_LOGITS : 0;
    p += 2;
    n -= 2;
    nt = (int)(n / 2 < 64 ? n / 2 : 64);
    for (i = 0; i < nt; i++) {
        /* mostly valid ids; a high bit makes an out-of-range one */
        unsigned v = (unsigned)p[2 * i] | (unsigned)p[2 * i + 1] << 8;
        tokens[i] = v & 0x8000u ? (int)(v & 0x7FFFu) - 0x4000 + c->n_vocab_padded : (int)(v % (unsigned)c->n_vocab_padded);
        bad |= tokens[i] < 0 || tokens[i] >= c->n_vocab_padded;
    }
    scratch_bytes = mamba_forward_scratch_size(model, block);
    if (scratch_bytes == 0 || scratch_bytes > ((size_t)256 << 20)) __builtin_trap(); /* block 1..48 is valid */
    scratch = malloc(scratch_bytes); /* exact size: ASan sees a write past it */
    logits = (float *)malloc(sizeof(float) * (size_t)c->n_vocab_padded * (size_t)(nt ? nt : 1));
    if (scratch && logits) {
        mamba_result r;
        pos0 = state->pos;
        r = mamba_forward(model, state, tokens, nt, logits, flags, scratch, scratch_bytes);
        if (r != (bad ? MAMBA_ERR_TOKEN : MAMBA_OK)) __builtin_trap();
        if (state->pos != (bad ? pos0 : pos0 + nt)) __builtin_trap();
        if (r == MAMBA_OK && nt > 0) (void)mamba_argmax(logits, c->n_vocab);
        /* a scratch one byte short of one block: a smaller block, or BUFFER_TOO_SMALL */
        r = mamba_forward(model, state, tokens, nt, NULL, 0, scratch, mamba_forward_scratch_size(model, 1) - 1);
        if (r != (bad ? MAMBA_ERR_TOKEN : nt ? MAMBA_ERR_BUFFER_TOO_SMALL : MAMBA_OK)) __builtin_trap();
    }
    free(scratch);
    free(logits);
}

/* a closed or refused model: every entry point says MAMBA_ERR_INVALID_ARG */
static void check_dead(const mamba_model *m)
{
    mamba_state s;
    mamba_tokenizer tok;
    int l;
    if (m->data || m->tokenizer || m->embedding.data || m->lm_head.data || m->norm_f) __builtin_trap();
    for (l = 0; l < MAMBA_MAX_LAYERS; l++)
        if (m->layers[l].in_proj.data || m->layers[l].A || m->layers[l].out_proj.data) __builtin_trap();
    if (mamba_state_size(m) != 0 || mamba_forward_scratch_size(m, 1) != 0) __builtin_trap();
    if (mamba_state_new(&s, m) != MAMBA_ERR_INVALID_ARG) __builtin_trap();
    if (mamba_tokenizer_from_model(&tok, m) != MAMBA_ERR_INVALID_ARG) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mamba_model model, checked;
    mamba_state state;
    unsigned char *raw, *buf;
    float *logits;
    size_t i;
    int t, tokens[6];
    mamba_result r, rc;

    /* a 64-byte aligned private copy (malloc only promises 16) */
    raw = (unsigned char *)malloc(size + 64);
    if (!raw) return 0;
    buf = raw + ((64u - ((uintptr_t)raw & 63u)) & 63u);
    if (size) memcpy(buf, data, size);

    r = mamba_model_init_memory(&model, buf, size);
    rc = mamba_model_init_memory_ex(&checked, buf, size, MAMBA_LOAD_CHECK_FINITE);
    /* the checked load refuses exactly what is accepted and has a NaN or infinity */
    if (r != MAMBA_OK && rc != r) __builtin_trap();
    if (r == MAMBA_OK && rc != MAMBA_OK && (rc != MAMBA_ERR_NONFINITE || !checked.error_role)) __builtin_trap();
    if (rc != MAMBA_OK) check_dead(&checked);
    mamba_model_close(&checked);

    if (r == MAMBA_OK) {
        const mamba_config *c = &model.config;
        /* the loader promised these; a broken promise is a bug */
        if (!model.embedding.data || !model.lm_head.data || !model.norm_f) __builtin_trap();
        if (model.tokenizer && (model.tokenizer < buf || model.tokenizer_bytes > size ||
                                (size_t)(model.tokenizer - buf) > size - model.tokenizer_bytes))
            __builtin_trap();
        use_tokenizer(&model);
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
                    mamba_result rs = mamba_step(&model, &state, tokens[t], t & 1 ? NULL : logits);
                    int bad = tokens[t] < 0 || tokens[t] >= c->n_vocab_padded;
                    if (bad != (rs == MAMBA_ERR_TOKEN)) __builtin_trap();
                    if (rs == MAMBA_OK && !(t & 1)) {
                        /* read every logit so MSan/ASan would see an unwritten one */
                        volatile float sum = 0.0f;
                        for (i = 0; i < (size_t)c->n_vocab_padded; i++) sum += logits[i];
                        (void)sum;
                        (void)mamba_argmax(logits, c->n_vocab);
                    }
                }
                free(logits);
            }
            /* the bytes past the file's own end choose the forward's input */
            if (model.size < size) use_forward(&model, &state, data + model.size, size - model.size);
            mamba_model_close(&model); /* owns nothing: must not free buf */
            check_dead(&model);
            if (mamba_forward(&model, &state, tokens, 1, NULL, 0, NULL, 0) != MAMBA_ERR_INVALID_ARG ||
                mamba_step(&model, &state, 0, NULL) != MAMBA_ERR_INVALID_ARG)
                __builtin_trap();
            mamba_state_free(&state);
        }
        mamba_model_close(&model);
    } else {
        /* a failed load names its check and keeps nothing */
        if (!model.error) __builtin_trap();
        check_dead(&model);
    }
    free(raw);
    return 0;
}
