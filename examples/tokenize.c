/* tokenize.c - text to ids and back with the tokenizer a model file carries.

     build/tokenize MODEL.mamba            < text.txt   prints the ids, space-separated, one line
     build/tokenize MODEL.mamba --decode   < ids.txt    writes the exact bytes of the ids
     build/tokenize --section FILE [--decode]           the same with a raw packed tokenizer
                                                        section (tools/tokpack.py output)

   The ids are exactly those of Hugging Face's tokenizer for the same
   tokenizer.json; invalid UTF-8 on stdin is read as U+FFFD per bad sequence. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_all(FILE *f, size_t *n)
{
    size_t cap = 1 << 16, len = 0, got;
    unsigned char *buf = (unsigned char *)malloc(cap), *bigger;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            bigger = (unsigned char *)realloc(buf, cap * 2);
            if (!bigger) { free(buf); return NULL; }
            buf = bigger;
            cap *= 2;
        }
    }
    *n = len;
    return buf;
}

int main(int argc, char **argv)
{
    mamba_tokenizer tok;
    mamba_model model;
    mamba_result r;
    unsigned char *section = NULL, *in;
    size_t n_in, section_bytes = 0;
    int decode = 0, have_model = 0, i;
    const char *model_path = NULL, *section_path = NULL;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--decode") == 0) decode = 1;
        else if (strcmp(argv[i], "--section") == 0 && i + 1 < argc) section_path = argv[++i];
        else if (argv[i][0] != '-' && !model_path) model_path = argv[i];
        else {
            fprintf(stderr, "usage: %s MODEL.mamba [--decode] | --section FILE [--decode]\n", argv[0]);
            return 2;
        }
    }
    if (section_path) {
        FILE *f = fopen(section_path, "rb");
        if (!f || !(section = read_all(f, &section_bytes))) {
            fprintf(stderr, "tokenize: cannot read %s\n", section_path);
            return 1;
        }
        fclose(f);
        r = mamba_tokenizer_init(&tok, section, section_bytes);
    } else if (model_path) {
        r = mamba_model_open(&model, model_path);
        if (r != MAMBA_OK) {
            fprintf(stderr, "tokenize: %s: %s (%s)\n", model_path, mamba_result_string(r), model.error ? model.error : "");
            return 1;
        }
        have_model = 1;
        r = mamba_tokenizer_from_model(&tok, &model);
    } else {
        fprintf(stderr, "usage: %s MODEL.mamba [--decode] | --section FILE [--decode]\n", argv[0]);
        return 2;
    }
    if (r != MAMBA_OK) {
        fprintf(stderr, "tokenize: tokenizer: %s\n", tok.error ? tok.error : "invalid argument");
        return 1;
    }
    in = read_all(stdin, &n_in);
    if (!in) { fprintf(stderr, "tokenize: out of memory\n"); return 1; }
    if (!decode) {
        size_t work_bytes = mamba_encode_work_size(&tok, n_in), n_ids = 0, cap = n_in + 1, k;
        void *work = malloc(work_bytes ? work_bytes : 1);
        int *ids = (int *)malloc(cap * sizeof(int));
        if (!work || !ids) { fprintf(stderr, "tokenize: out of memory\n"); return 1; }
        r = mamba_encode(&tok, (const char *)in, n_in, ids, cap, &n_ids, work, work_bytes);
        if (r == MAMBA_ERR_BUFFER_TOO_SMALL && n_ids > cap) { /* more ids than bytes: retry with the count */
            free(ids);
            cap = n_ids;
            ids = (int *)malloc(cap * sizeof(int));
            if (!ids) { fprintf(stderr, "tokenize: out of memory\n"); return 1; }
            r = mamba_encode(&tok, (const char *)in, n_in, ids, cap, &n_ids, work, work_bytes);
        }
        if (r != MAMBA_OK) { fprintf(stderr, "tokenize: encode failed (%d)\n", (int)r); return 1; }
        for (k = 0; k < n_ids; k++) printf(k ? " %d" : "%d", ids[k]);
        printf("\n");
        free(work);
        free(ids);
    } else {
        char *p = (char *)in, *end;
        in = (unsigned char *)realloc(in, n_in + 1);
        p = (char *)in;
        p[n_in] = 0;
        for (;;) {
            const char *bytes;
            size_t len;
            long v = strtol(p, &end, 10);
            if (end == p) break;
            p = end;
            if (v < 0 || v > 0x7FFFFFFFL || mamba_decode_token(&tok, (int)v, &bytes, &len) != MAMBA_OK) {
                fprintf(stderr, "tokenize: id %ld is outside the vocabulary (%u ids)\n", v, tok.n_vocab);
                return 1;
            }
            fwrite(bytes, 1, len, stdout);
        }
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
        if (*p) { fprintf(stderr, "tokenize: not an id: %.20s\n", p); return 1; }
    }
    free(in);
    free(section);
    if (have_model) mamba_model_close(&model);
    return 0;
}
