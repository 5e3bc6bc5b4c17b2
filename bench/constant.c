/* constant.c - show that a Mamba step costs the same at token 100,000 as at token 1.

   build/constant [MODEL.mamba] [--tokens N] [--cycle]

   Steps one sequence N tokens (default 100,000) from a zero state, feeding
   back the greedy next token (or, with --cycle, a fixed cycle of ids), and at
   positions 1, 1k, 10k, 100k (and N) prints:

     ms/token fork     median time of one step AT that position: the state is
                       copied (forked) before the step, and the same step is
                       timed 15 times from the copy
     ms/token window   median time of the last (up to) 1000 real steps
     ms/token mean     their mean: far above the median when the machine is
                       busy and a thread of a parallel loop waits for a core
                       (try OMP_NUM_THREADS=1 for small models)
     RSS               resident memory of the process (VmRSS, /proc/self/status)
     state             the bytes of recurrent state: the same at every position
     KV cache          what a Transformer of the same width and depth would hold
                       at that position: keys and values, 2 * n_layer * d_model
                       floats per token, in f32 (half that in f16)

   The recurrence carries a fixed-size h from token to token; a Transformer's
   attention re-reads every earlier key and value, so its cache (and its
   per-token attention work) grows with the position. Nothing here asserts a
   time: the machine is shared and the numbers are for reading. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONSTANT_WINDOW 1000 /* steps in the running median */
#define CONSTANT_FORKS 15    /* timed repeats of the step at a checkpoint */

static double now_seconds(void)
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

/* Median of n values (sorts a copy in tmp). */
static double median(const double *v, int n, double *tmp)
{
    memcpy(tmp, v, sizeof(double) * (size_t)n);
    qsort(tmp, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

/* Resident set size in KiB from /proc/self/status, or -1 where there is none. */
static long rss_kib(void)
{
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) { kib = strtol(line + 6, NULL, 10); break; }
    fclose(f);
    return kib;
}

/* Bytes as a short human string: "512 B", "2.81 MiB", "7.03 GiB". */
static const char *human(double bytes, char *buf, size_t cap)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) { bytes /= 1024.0; u++; }
    snprintf(buf, cap, u ? "%.2f %s" : "%.0f %s", bytes, unit[u]);
    return buf;
}

/* A Transformer's KV cache after pos tokens: keys and values, one d_model
   vector each per layer per token, f32. */
static double kv_bytes(int n_layer, int d_model, long pos)
{
    return 2.0 * n_layer * d_model * 4.0 * (double)pos;
}

static int usage(void)
{
    fprintf(stderr, "usage: constant [MODEL.mamba] [--tokens N] [--cycle]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = "models/tinystories.mamba";
    long n_tokens = 100000, pos, marks[5];
    int n_marks = 0, mark = 0, have_path = 0, cycle = 0, i, token, status = 1;
    double window[CONSTANT_WINDOW], tmp[CONSTANT_WINDOW], forks[CONSTANT_FORKS];
    double first_fork = 0.0, last_fork = 0.0, t0, t_all;
    long first_rss = -1, last_rss = -1;
    float *logits = NULL;
    mamba_model model;
    mamba_state state, probe;
    mamba_config *c;
    mamba_result r;
    char b1[32], b2[32], b3[32], b4[32];

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokens") && i + 1 < argc) {
            char *end;
            n_tokens = strtol(argv[++i], &end, 10);
            if (*end || n_tokens < 1) return usage();
        } else if (!strcmp(argv[i], "--cycle")) {
            cycle = 1;
        } else if (argv[i][0] != '-' && !have_path) {
            path = argv[i];
            have_path = 1;
        } else {
            return usage();
        }
    }
    /* the positions to report: 1, 1k, 10k, 100k that fit, and N itself */
    marks[n_marks++] = 1;
    for (pos = 1000; pos <= 100000; pos *= 10)
        if (pos < n_tokens) marks[n_marks++] = pos;
    if (n_tokens > 1) marks[n_marks++] = n_tokens;

    r = mamba_model_open(&model, path);
    if (r != MAMBA_OK) {
        fprintf(stderr, "constant: %s: %s (%s)\n", path, mamba_result_string(r), model.error ? model.error : "");
        return 1;
    }
    c = &model.config;
    if (mamba_state_new(&state, &model) != MAMBA_OK) goto done_model;
    if (mamba_state_new(&probe, &model) != MAMBA_OK) { mamba_state_free(&state); goto done_model; }
    logits = (float *)malloc(sizeof(float) * (size_t)c->n_vocab_padded);
    if (!logits) goto done;

    printf("constant: %s  n_layer=%d d_model=%d d_inner=%d d_state=%d d_conv=%d, %ld tokens, %s\n", path,
           c->n_layer, c->d_model, c->d_inner, c->d_state, c->d_conv, n_tokens,
           cycle ? "a fixed cycle of ids" : "greedy feedback");
    printf("state: %s at every position (mamba_state_size, with scratch); "
           "a same-shaped Transformer's KV cache: %s per token (f32)\n\n",
           human((double)mamba_state_size(&model), b1, sizeof b1), human(kv_bytes(c->n_layer, c->d_model, 1), b2,
                                                                        sizeof b2));

    /* Warm up: touch every weight page once (the first step through a fresh
       mapping pays page faults, which is not what this measures), then
       start the measured sequence from a zero state. */
    for (i = 0; i < 4; i++) mamba_step(&model, &state, i % c->n_vocab, logits);
    mamba_state_reset(&state);

    printf("%9s %12s %14s %12s %11s %11s %14s\n", "position", "ms/tok fork", "ms/tok window", "ms/tok mean",
           "RSS", "state", "KV cache (f32)");
    token = 0;
    t_all = now_seconds();
    for (pos = 1; pos <= n_tokens; pos++) {
        if (pos == marks[mark]) {
            /* time this very step CONSTANT_FORKS times, each from a copy of
               the state as it stands at position pos - 1 */
            for (i = 0; i < CONSTANT_FORKS; i++) {
                mamba_state_copy(&probe, &state);
                t0 = now_seconds();
                mamba_step(&model, &probe, token, logits);
                forks[i] = now_seconds() - t0;
            }
        }
        t0 = now_seconds();
        r = mamba_step(&model, &state, token, logits);
        window[(pos - 1) % CONSTANT_WINDOW] = now_seconds() - t0;
        if (r != MAMBA_OK) {
            fprintf(stderr, "constant: position %ld (id %d): %s\n", pos, token, mamba_result_string(r));
            goto done;
        }
        token = cycle ? (int)((pos * 7919) % c->n_vocab) : mamba_argmax(logits, c->n_vocab);
        if (pos == marks[mark]) {
            int in_window = pos < CONSTANT_WINDOW ? (int)pos : CONSTANT_WINDOW;
            double fork_ms = 1e3 * median(forks, CONSTANT_FORKS, tmp);
            long rss = rss_kib();
            double mean = 0.0;
            for (i = 0; i < in_window; i++) mean += window[i] / in_window;
            printf("%9ld %12.4f %14.4f %12.4f %11s %11s %14s\n", pos, fork_ms, 1e3 * median(window, in_window, tmp),
                   1e3 * mean,
                   rss < 0 ? "n/a" : human(1024.0 * (double)rss, b1, sizeof b1),
                   human((double)mamba_state_size(&model), b2, sizeof b2),
                   human(kv_bytes(c->n_layer, c->d_model, pos), b3, sizeof b3));
            fflush(stdout);
            if (mark == 0) { first_fork = fork_ms; first_rss = rss; }
            last_fork = fork_ms;
            last_rss = rss;
            if (mark + 1 < n_marks) mark++;
        }
    }
    t_all = now_seconds() - t_all;
    printf("\n%ld tokens in %.2f s (%.4f ms/token overall, forks included); "
           "time at the last position / at position 1: %.2f; RSS change: %+ld KiB\n",
           n_tokens, t_all, 1e3 * t_all / (double)n_tokens, first_fork > 0 ? last_fork / first_fork : 0.0,
           (first_rss >= 0 && last_rss >= 0) ? last_rss - first_rss : 0L);

    /* The same comparison at a real size: the mamba-130m shape (24 layers,
       d_model 768, d_inner 1536, d_state 16, d_conv 4) against a
       GPT-2-small-like Transformer (12 layers, d_model 768). Pure arithmetic. */
    printf("\nat real size: mamba-130m state (24 x 1536 x (16 + 4) floats) vs a GPT-2-small-shaped KV cache "
           "(2 x 12 x 768 floats per token)\n");
    printf("%9s %14s %18s %18s\n", "position", "mamba-130m", "GPT-2-small f32", "GPT-2-small f16");
    for (pos = 1; pos <= 100000; pos *= 10) {
        if (pos == 10 || pos == 100) continue;
        printf("%9ld %14s %18s %18s\n", pos, human(24.0 * 1536 * (16 + 4) * 4, b1, sizeof b1),
               human(kv_bytes(12, 768, pos), b2, sizeof b2), human(kv_bytes(12, 768, pos) / 2, b4, sizeof b4));
    }
    status = 0;
done:
    free(logits);
    mamba_state_free(&probe);
    mamba_state_free(&state);
done_model:
    mamba_model_close(&model);
    return status;
}
