/* tokspeed.c - encoding speed of the mamba.h tokenizer, for the side-by-side
   comparison with Hugging Face's tokenizers (bench/tokspeed.js runs the same
   text through the npm package, one thread).

     build/tokspeed SECTION TEXT [ROUNDS] [--lines]

   Encodes TEXT (whole, or line by line with --lines: each line a call, as
   documents are) ROUNDS times (default 5) and prints MB/s for each round, the
   median and the spread, and the id count and a checksum (FNV-1a over the
   ids) that bench/tokspeed.js prints too, so both sides are seen to produce
   the same ids. One thread; the work memory is allocated once. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    buf = (unsigned char *)malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) { free(buf); buf = NULL; }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t n_sec, n_text, work_bytes, cap, total_ids = 0, i;
    unsigned char *sec, *text;
    mamba_tokenizer tok;
    int rounds = 5, lines = 0, r, *ids;
    double mbps[64];
    unsigned long long h = 1469598103934665603ull;
    void *work;
    for (i = 3; i < (size_t)argc; i++) {
        if (strcmp(argv[i], "--lines") == 0) lines = 1;
        else rounds = atoi(argv[i]);
    }
    if (argc < 3 || rounds < 1 || rounds > 64) {
        fprintf(stderr, "usage: %s SECTION TEXT [ROUNDS (1..64)] [--lines]\n", argv[0]);
        return 2;
    }
    sec = slurp(argv[1], &n_sec);
    text = slurp(argv[2], &n_text);
    if (!sec || !text) { fprintf(stderr, "tokspeed: cannot read %s\n", sec ? argv[2] : argv[1]); return 1; }
    if (mamba_tokenizer_init(&tok, sec, n_sec) != MAMBA_OK) { fprintf(stderr, "tokspeed: %s\n", tok.error); return 1; }
    work_bytes = mamba_encode_work_size(&tok, n_text);
    cap = n_text + 16;
    work = malloc(work_bytes);
    ids = (int *)malloc(cap * sizeof(int));
    if (!work || !ids) { fprintf(stderr, "tokspeed: out of memory\n"); return 1; }
    for (r = 0; r < rounds; r++) {
        double t0 = now();
        size_t pos = 0, n_ids = 0, got;
        h = 1469598103934665603ull;
        total_ids = 0;
        while (pos < n_text) {
            size_t end = n_text, k;
            if (lines) {
                const unsigned char *nl = (const unsigned char *)memchr(text + pos, '\n', n_text - pos);
                end = nl ? (size_t)(nl - text) + 1 : n_text;
            }
            if (mamba_encode(&tok, (const char *)text + pos, end - pos, ids, cap, &got, work, work_bytes) != MAMBA_OK) {
                fprintf(stderr, "tokspeed: encode failed\n");
                return 1;
            }
            for (k = 0; k < got; k++) { h ^= (unsigned)ids[k]; h *= 1099511628211ull; }
            n_ids += got;
            pos = end;
        }
        total_ids = n_ids;
        mbps[r] = (double)n_text / 1e6 / (now() - t0);
    }
    printf("mamba.h %s: %.2f MB, %zu ids, checksum %016llx, MB/s:", lines ? "lines" : "whole", (double)n_text / 1e6,
           total_ids, h);
    for (r = 0; r < rounds; r++) printf(" %.2f", mbps[r]);
    qsort(mbps, (size_t)rounds, sizeof mbps[0], cmp_double);
    printf(" | median %.2f, min %.2f, max %.2f\n", mbps[rounds / 2], mbps[0], mbps[rounds - 1]);
    free(work); free(ids); free(sec); free(text);
    return 0;
}
