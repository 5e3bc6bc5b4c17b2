/* tokenize.c - text to ids and back with the tokenizer a model file carries.

     build/tokenize MODEL.mamba            < text.txt   prints the ids, space-separated, one line
     build/tokenize MODEL.mamba --decode   < ids.txt    writes the exact bytes of the ids
     build/tokenize --section FILE [--decode]           the same with a raw packed tokenizer
                                                        section (tools/tokpack.py output)

   The ids are exactly those of Hugging Face's tokenizer for the same
   tokenizer.json; invalid UTF-8 on stdin is read as U+FFFD per bad sequence. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s MODEL.mamba [--decode] | --section FILE [--decode]\n", prog);
    return 2;
}

int main(int argc, char **argv)
{
    mamba_tokenizer tok;
    mamba_model model;
    mamba_result r;
    char *section = NULL, *in = NULL;
    void *work = NULL;
    int *ids = NULL;
    size_t n_in, section_bytes = 0;
    int decode = 0, have_model = 0, i, status = 1;
    const char *model_path = NULL, *section_path = NULL;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--decode") == 0) decode = 1;
        else if (strcmp(argv[i], "--section") == 0 && i + 1 < argc) section_path = argv[++i];
        else if (argv[i][0] != '-' && !model_path) model_path = argv[i];
        else return usage(argv[0]);
    }
    if (!section_path == !model_path) return usage(argv[0]); /* exactly one of them */
    if (section_path) {
        section = cli_read_file("tokenize", section_path, (size_t)-1 / 2, &section_bytes);
        if (!section) return 1;
        r = mamba_tokenizer_init(&tok, section, section_bytes);
    } else {
        if (cli_open_model("tokenize", &model, model_path) != MAMBA_OK) return 1;
        have_model = 1;
        r = mamba_tokenizer_from_model(&tok, &model);
    }
    if (r != MAMBA_OK) {
        fprintf(stderr, "tokenize: %s: tokenizer: %s\n", section_path ? section_path : model_path,
                tok.error ? tok.error : mamba_result_string(r));
        goto done;
    }
    in = cli_read_stream(stdin, (size_t)-1 / 2, &n_in);
    if (!in) { fprintf(stderr, "tokenize: standard input: %s\n", strerror(errno)); goto done; }
    if (!decode) {
        size_t work_bytes = mamba_encode_work_size(&tok, n_in), n_ids = 0, cap = n_in + 1, k;
        if (work_bytes == (size_t)-1 || cap > (size_t)-1 / sizeof(int)) {
            fprintf(stderr, "tokenize: standard input is too long (%lu bytes)\n", (unsigned long)n_in);
            goto done;
        }
        work = malloc(work_bytes ? work_bytes : 1);
        ids = (int *)malloc(cap * sizeof(int));
        if (!work || !ids) { fprintf(stderr, "tokenize: out of memory\n"); goto done; }
        r = mamba_encode(&tok, in, n_in, ids, cap, &n_ids, work, work_bytes);
        if (r == MAMBA_ERR_BUFFER_TOO_SMALL && n_ids > cap) { /* more ids than bytes: retry with the count */
            free(ids);
            cap = n_ids;
            ids = (int *)malloc(cap * sizeof(int));
            if (!ids) { fprintf(stderr, "tokenize: out of memory\n"); goto done; }
            r = mamba_encode(&tok, in, n_in, ids, cap, &n_ids, work, work_bytes);
        }
        if (r != MAMBA_OK) { fprintf(stderr, "tokenize: encode: %s\n", mamba_result_string(r)); goto done; }
        for (k = 0; k < n_ids; k++) printf(k ? " %d" : "%d", ids[k]);
        printf("\n");
    } else {
        /* ids separated by white space, each in 0..n_vocab-1 */
        const char *bad = in;
        long n = cli_ids(in, NULL, 0, &bad), k;
        if (n < 0) { fprintf(stderr, "tokenize: not an id: %.20s\n", bad); goto done; }
        ids = (int *)malloc(sizeof(int) * (size_t)(n ? n : 1));
        if (!ids) { fprintf(stderr, "tokenize: out of memory\n"); goto done; }
        cli_ids(in, ids, n, &bad);
        for (k = 0; k < n; k++) {
            const char *bytes;
            size_t len;
            if (mamba_decode_token(&tok, ids[k], &bytes, &len) != MAMBA_OK) {
                fprintf(stderr, "tokenize: id %d is outside the vocabulary (%u ids)\n", ids[k], tok.n_vocab);
                goto done;
            }
            fwrite(bytes, 1, len, stdout);
        }
    }
    status = 0;
done:
    free(work);
    free(ids);
    free(in);
    free(section);
    if (have_model) mamba_model_close(&model);
    return status;
}
