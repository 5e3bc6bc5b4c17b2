/* tokenize.c - text to ids and back with the tokenizer a model file carries.

     build/tokenize MODEL.mamba            < text.txt   prints the ids, space-separated, one line
     build/tokenize MODEL.mamba --decode   < ids.txt    writes the exact bytes of the ids
     build/tokenize --section FILE [--decode]           the same with a raw packed tokenizer
                                                        section (tools/tokpack.py output)
     --template   add what the tokenizer's template adds (Mistral's <s> first)
     --stream     decode id by id with the streaming decoder (mamba_detok)
     --batch      many texts in one run (tests/tokvec.py): encode reads records
                  "BYTES\n" + that many bytes and prints a line of ids for each;
                  decode reads a line of ids for each text and writes "BYTES\n"
                  + the text

   Decoding is Hugging Face's decode(ids, skip_special_tokens=false): valid
   UTF-8, with U+FFFD where the ids' bytes are not.

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

/* encode n bytes at p and print the ids on one line; 0, or 1 on an error */
static int encode_text(const mamba_tokenizer *tok, const unsigned char *p, size_t n, int templ)
{
    size_t work_bytes = mamba_encode_work_size(tok, n), n_ids = 0, cap = n + 1, k;
    int bos = templ && tok->add_bos, eos = templ && tok->add_eos, *ids;
    void *work = malloc(work_bytes ? work_bytes : 1);
    mamba_result r;
    ids = (int *)malloc(cap * sizeof(int));
    if (!work || !ids) { free(work); free(ids); fprintf(stderr, "tokenize: out of memory\n"); return 1; }
    r = mamba_encode(tok, (const char *)p, n, ids, cap, &n_ids, work, work_bytes);
    if (r == MAMBA_ERR_BUFFER_TOO_SMALL && n_ids > cap) { /* more ids than bytes: retry with the count */
        int *more = (int *)realloc(ids, n_ids * sizeof(int));
        if (!more) { free(work); free(ids); fprintf(stderr, "tokenize: out of memory\n"); return 1; }
        ids = more;
        cap = n_ids;
        r = mamba_encode(tok, (const char *)p, n, ids, cap, &n_ids, work, work_bytes);
    }
    free(work);
    if (r != MAMBA_OK) { free(ids); fprintf(stderr, "tokenize: encode failed: %s\n", mamba_result_string(r)); return 1; }
    if (bos) printf(n_ids || eos ? "%d " : "%d", tok->bos_id);
    for (k = 0; k < n_ids; k++) printf(k ? " %d" : "%d", ids[k]);
    if (eos) printf(n_ids ? " %d" : "%d", tok->eos_id);
    printf("\n");
    free(ids);
    return 0;
}

/* decode the ids in the NUL-terminated text p and write the bytes (batch:
   after their count and a newline); 0, or 1 on an error */
static int decode_ids(const mamba_tokenizer *tok, char *p, int stream, int batch)
{
    size_t n_ids = 0, cap_ids = strlen(p) / 2 + 1, n_out = 0;
    int *ids = (int *)malloc(cap_ids * sizeof(int));
    char *text, *end;
    if (!ids) { fprintf(stderr, "tokenize: out of memory\n"); return 1; }
    for (;;) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        p = end;
        if (v < 0 || v >= (long)tok->n_vocab) {
            fprintf(stderr, "tokenize: id %ld is outside the vocabulary (%u ids)\n", v, tok->n_vocab);
            free(ids);
            return 1;
        }
        ids[n_ids++] = (int)v; /* strlen / 2 + 1 bounds the count: each id has a digit and a separator */
    }
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
    if (*p) { fprintf(stderr, "tokenize: not an id: %.20s\n", p); free(ids); return 1; }
    mamba_decode(tok, ids, n_ids, NULL, 0, &n_out);
    text = (char *)malloc(n_out + tok->detok_bytes + MAMBA_DETOK_FLUSH_BYTES + 1);
    if (!text) { free(ids); fprintf(stderr, "tokenize: out of memory\n"); return 1; }
    if (stream) {
        /* piece by piece into text: the same bytes as decode() for the
           encoder's ids; byte-level tokens pass invalid UTF-8 through */
        mamba_detok d;
        size_t k, total = 0, cap = n_out + tok->detok_bytes + MAMBA_DETOK_FLUSH_BYTES, got;
        char *buf = (char *)malloc(tok->detok_bytes);
        mamba_detok_init(&d);
        for (k = 0; buf && k < n_ids; k++) {
            if (mamba_detok_push(tok, &d, ids[k], buf, tok->detok_bytes, &got) != MAMBA_OK) break;
            if (got > cap - total) { char *t2 = (char *)realloc(text, (cap = 2 * cap + got)); if (!t2) break; text = t2; }
            memcpy(text + total, buf, got);
            total += got;
        }
        if (buf && k == n_ids && cap - total >= MAMBA_DETOK_FLUSH_BYTES) total += mamba_detok_flush(&d, text + total);
        free(buf);
        if (k != n_ids) { free(ids); free(text); fprintf(stderr, "tokenize: streaming decode failed\n"); return 1; }
        n_out = total;
    } else if (mamba_decode(tok, ids, n_ids, text, n_out, &n_out) != MAMBA_OK) {
        free(ids); free(text); fprintf(stderr, "tokenize: decode failed\n"); return 1;
    }
    if (batch) printf("%zu\n", n_out);
    fwrite(text, 1, n_out, stdout);
    free(text);
    free(ids);
    return 0;
}

int main(int argc, char **argv)
{
    mamba_tokenizer tok;
    mamba_model model;
    mamba_result r;
    char *section = NULL;
    unsigned char *in = NULL;
    size_t n_in, section_bytes = 0;
    int decode = 0, have_model = 0, templ = 0, stream = 0, batch = 0, status = 1, i;
    const char *model_path = NULL, *section_path = NULL;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--decode") == 0) decode = 1;
        else if (strcmp(argv[i], "--template") == 0) templ = 1;
        else if (strcmp(argv[i], "--stream") == 0) stream = 1;
        else if (strcmp(argv[i], "--batch") == 0) batch = 1;
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
    in = (unsigned char *)cli_read_stream(stdin, (size_t)-1 / 2, &n_in); /* NUL-terminated */
    if (!in) { fprintf(stderr, "tokenize: standard input: %s\n", strerror(errno)); goto done; }
    status = 0;
    if (!batch) {
        status = decode ? decode_ids(&tok, (char *)in, stream, 0) : encode_text(&tok, in, n_in, templ);
    } else if (decode) { /* one line of ids per text */
        char *line = (char *)in, *eol;
        for (; *line && status == 0; line = eol + 1) {
            eol = strchr(line, '\n');
            if (!eol) eol = line + strlen(line);
            else *eol = 0;
            status = decode_ids(&tok, line, stream, 1);
            if (eol == (char *)in + n_in) break;
        }
    } else { /* records: a byte count, a newline, the bytes */
        size_t pos = 0;
        while (pos < n_in && status == 0) {
            char *end;
            unsigned long len = strtoul((const char *)in + pos, &end, 10);
            if (end == (char *)in + pos || *end != '\n' || len > n_in - (size_t)(end + 1 - (char *)in)) {
                fprintf(stderr, "tokenize: --batch input is not BYTES\\n TEXT records\n");
                status = 1;
                break;
            }
            pos = (size_t)(end + 1 - (char *)in);
            status = encode_text(&tok, in + pos, len, templ);
            pos += len;
        }
    }
done:
    free(in);
    free(section);
    if (have_model) mamba_model_close(&model);
    return status;
}
