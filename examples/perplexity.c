/* perplexity.c - how well does a model predict a text?

   build/perplexity MODEL.mamba FILE [--threads N] [--max-tokens N]

   Encodes the whole file with the model's tokenizer (bytes when the model
   has none), puts the start-of-document id in front (bos, else eos), and
   reads everything with mamba_forward() in chunks, keeping the logits of
   every position. Each token's cost is -log2 p(token | everything before),
   from a float64 log-softmax over the real vocabulary. Reports

     bits per byte  = total bits / bytes of the file   (tokenizer-independent)
     perplexity     = 2^(total bits / tokens)          (per token)

   The state runs over the whole file without a reset: a Mamba model's
   context is everything it has read, at a constant cost per token.
   Progress goes to stderr as a line rewritten with \r only when stderr is a
   terminal; the one-line summary there is always written. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define STDERR_IS_TTY() isatty(2)
#else
#define STDERR_IS_TTY() 0
#endif

/* -log2 softmax(row)[target] over the first n entries, in double */
static double bits_of(const float *row, int n, int target)
{
    double mx = row[0], sum = 0.0;
    int i;
    for (i = 1; i < n; i++)
        if (row[i] > mx) mx = row[i];
    for (i = 0; i < n; i++) sum += exp((double)row[i] - mx);
    return (log(sum) - ((double)row[target] - mx)) / log(2.0);
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *text_path = NULL;
    unsigned char *text = NULL;
    size_t len = 0, n_ids = 0, pos, max_tokens = 0;
    int *ids = NULL, chunk, status = 1, i;
    float *logits = NULL;
    void *scratch = NULL, *work = NULL;
    size_t scratch_bytes;
    double total_bits = 0.0;
    mamba_model model;
    mamba_state state;
    mamba_tokenizer tok;
    mamba_result r;
    int have_tok, start, tty = STDERR_IS_TTY();

    for (i = 1; i < argc; i++) {
        long k;
        if (!strcmp(argv[i], "--threads") && i + 1 < argc && cli_long(argv[i + 1], 1, 1024, &k)) {
#ifdef _OPENMP
            omp_set_num_threads((int)k);
#endif
            i++;
        } else if (!strcmp(argv[i], "--max-tokens") && i + 1 < argc && cli_long(argv[i + 1], 0, LONG_MAX, &k)) {
            max_tokens = (size_t)k; /* 0: all */
            i++;
        } else if (argv[i][0] != '-' && !model_path) {
            model_path = argv[i];
        } else if (argv[i][0] != '-' && !text_path) {
            text_path = argv[i];
        } else {
            fprintf(stderr, "perplexity: bad or incomplete option '%s'%s%s%s\n", argv[i], i + 1 < argc ? " '" : "",
                    i + 1 < argc ? argv[i + 1] : "", i + 1 < argc ? "'" : "");
            fprintf(stderr, "usage: perplexity MODEL.mamba FILE [--threads N] [--max-tokens N]\n");
            return 2;
        }
    }
    if (!model_path || !text_path) {
        fprintf(stderr, "usage: perplexity MODEL.mamba FILE [--threads N] [--max-tokens N]\n");
        return 2;
    }
    if (cli_open_model("perplexity", &model, model_path) != MAMBA_OK) return 1;
    /* read to the end (a directory is a read error, not 2^63 bytes); at most
       what the id array below can count without overflow */
    text = (unsigned char *)cli_read_file("perplexity", text_path, ((size_t)-1 / sizeof(int) - 2) / 3, &len);
    if (!text) goto done;
    if (len == 0) { fprintf(stderr, "perplexity: %s is empty\n", text_path); goto done; }

    /* the text as ids, after a start-of-document id */
    have_tok = mamba_tokenizer_from_model(&tok, &model) == MAMBA_OK;
    ids = (int *)malloc(sizeof(int) * (3 * len + 2));
    if (!ids) { fprintf(stderr, "perplexity: out of memory for %lu ids\n", (unsigned long)(3 * len + 2)); goto done; }
    start = model.config.bos_id >= 0 ? model.config.bos_id : model.config.eos_id >= 0 ? model.config.eos_id : 0;
    ids[0] = start;
    if (have_tok) {
        size_t wbytes = mamba_encode_work_size(&tok, len);
        work = malloc(wbytes);
        if (!work) { fprintf(stderr, "perplexity: out of memory\n"); goto done; }
        r = mamba_encode(&tok, (const char *)text, len, ids + 1, 3 * len + 1, &n_ids, work, wbytes);
        if (r != MAMBA_OK) { fprintf(stderr, "perplexity: encode: %s\n", mamba_result_string(r)); goto done; }
    } else {
        for (n_ids = 0; n_ids < len; n_ids++) ids[1 + n_ids] = text[n_ids];
    }
    if (max_tokens && n_ids > max_tokens) n_ids = max_tokens; /* then bits/byte counts only those bytes */

    /* as many positions per chunk as fit in ~64 MB of logits */
    chunk = (int)(16u * 1024u * 1024u / (unsigned)model.config.n_vocab_padded);
    if (chunk > 512) chunk = 512;
    if (chunk < 1) chunk = 1;
    logits = (float *)malloc(sizeof(float) * (size_t)chunk * (size_t)model.config.n_vocab_padded);
    scratch_bytes = mamba_forward_scratch_size(&model, MAMBA_FORWARD_BLOCK);
    scratch = malloc(scratch_bytes);
    if (!logits || !scratch || mamba_state_new(&state, &model) != MAMBA_OK) {
        fprintf(stderr, "perplexity: out of memory\n");
        goto done;
    }
    /* position p (0-based over ids) predicts ids[p + 1]; n_ids predictions in all */
    for (pos = 0; pos < n_ids; pos += (size_t)chunk) {
        int n = (int)(n_ids - pos < (size_t)chunk ? n_ids - pos : (size_t)chunk), k;
        r = mamba_forward(&model, &state, ids + pos, n, logits, MAMBA_FORWARD_ALL_LOGITS, scratch, scratch_bytes);
        if (r != MAMBA_OK) {
            fprintf(stderr, "\nperplexity: token %lu: %s\n", (unsigned long)pos, mamba_result_string(r));
            goto done_state;
        }
        for (k = 0; k < n; k++) {
            int target = ids[pos + (size_t)k + 1];
            if (target < 0 || target >= model.config.n_vocab) {
                fprintf(stderr, "\nperplexity: id %d is outside the vocabulary\n", target);
                goto done_state;
            }
            total_bits += bits_of(logits + (size_t)k * (size_t)model.config.n_vocab_padded, model.config.n_vocab, target);
        }
        if (tty)
            fprintf(stderr, "\r%lu/%lu tokens, %.4f bits/token so far", (unsigned long)(pos + (size_t)n),
                    (unsigned long)n_ids, total_bits / (double)(pos + (size_t)n));
    }
    fprintf(stderr, "%s%lu tokens scored, %.4f bits/token\n", tty ? "\r" : "", (unsigned long)n_ids,
            total_bits / (double)n_ids);
    if (max_tokens && n_ids == max_tokens) {
        /* bytes actually covered by the scored tokens */
        if (have_tok) {
            size_t covered = 0, k;
            for (k = 1; k <= n_ids; k++) {
                const char *b;
                size_t bl;
                if (mamba_decode_token(&tok, ids[k], &b, &bl) == MAMBA_OK) covered += bl;
            }
            len = covered;
        } else {
            len = n_ids;
        }
    }
    printf("file: %s\nbytes: %lu\ntokens: %lu\nbits_per_byte: %.4f\nbits_per_token: %.4f\nperplexity: %.3f\n",
           text_path, (unsigned long)len, (unsigned long)n_ids, total_bits / (double)len,
           total_bits / (double)n_ids, pow(2.0, total_bits / (double)n_ids));
    status = 0;
done_state:
    mamba_state_free(&state);
done:
    free(logits);
    free(scratch);
    free(work);
    free(ids);
    free(text);
    mamba_model_close(&model);
    return status;
}
