/* busy.c - two threads against one, call by call in one process.

   usage: build/busy MODEL.mamba [--threads N] [--rounds N] [--prompt N] [--gen N]

   Two states of one model: state A runs on N threads (default 2), state B on
   one. Each round times, for A and then B (the order alternates from round
   to round), a prompt of --prompt tokens through mamba_forward() and then
   --gen tokens of mamba_step(). Because the two alternate every few
   milliseconds to seconds, both see the same neighbour and the same load of
   a shared machine, which two runs one after the other do not (bench/run.sh
   runs it beside a CPU-bound process pinned to one core: issue 19, 2 threads
   must never be slower than 1 there). Both states keep their thread choice
   (mamba.h, >>threads) from round to round, as a program's state would.

   Output: per thread count, prompt and decode tokens/s as median (min..max)
   over the rounds and CPU time / wall time (1.00 per thread that ran all
   the time); then the per-round ratio A / B, median (min..max), and what
   each state chose at the end (the count in use and its figures: mamba.h,
   >>threads).
   A last line `ratio: PROMPT DECODE` (the medians) is for scripts. */
#define _POSIX_C_SOURCE 199309L
#define MAMBA_IMPLEMENTATION
#include "mamba.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MAX_ROUNDS 200

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median, min and max of v[0..n-1] (n >= 1) */
static void spread(const double *v, int n, double out[3])
{
    double w[MAX_ROUNDS];
    memcpy(w, v, sizeof(double) * (size_t)n);
    qsort(w, (size_t)n, sizeof(double), cmp_double);
    out[0] = n % 2 ? w[n / 2] : 0.5 * (w[n / 2 - 1] + w[n / 2]);
    out[1] = w[0];
    out[2] = w[n - 1];
}

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int threads = 2, rounds = 5, n_prompt = 64, n_gen = 16, i, r, k, bad = 0;
    int nt[2];
    mamba_model m;
    mamba_state s[2];
    mamba_result res;
    static double pps[2][MAX_ROUNDS], dps[2][MAX_ROUNDS], rp[MAX_ROUNDS], rd[MAX_ROUNDS];
    double wall[2][2] = {{0, 0}, {0, 0}}, cpu[2][2] = {{0, 0}, {0, 0}}, a[3], b[3];
    size_t scratch_bytes;
    void *scratch;
    float *logits;
    int *tokens;

    for (i = 1; i < argc && !bad; i++) {
        int *dst;
        if (!strcmp(argv[i], "--threads")) dst = &threads;
        else if (!strcmp(argv[i], "--rounds")) dst = &rounds;
        else if (!strcmp(argv[i], "--prompt")) dst = &n_prompt;
        else if (!strcmp(argv[i], "--gen")) dst = &n_gen;
        else if (argv[i][0] != '-' && !path) {
            path = argv[i];
            continue;
        } else {
            bad = 1;
            break;
        }
        if (i + 1 >= argc) bad = 1;
        else *dst = atoi(argv[++i]);
    }
    if (bad || !path || threads < 2 || rounds < 1 || rounds > MAX_ROUNDS || n_prompt < 1 || n_gen < 1) {
        fprintf(stderr, "usage: busy MODEL.mamba [--threads N>=2] [--rounds 1..%d] [--prompt N] [--gen N]\n",
                MAX_ROUNDS);
        return 2;
    }
#ifndef _OPENMP
    fprintf(stderr, "busy: built without OpenMP: one thread only, nothing to compare\n");
    return 1;
#endif
    nt[0] = threads;
    nt[1] = 1;
    res = mamba_model_open(&m, path);
    if (res != MAMBA_OK) {
        fprintf(stderr, "busy: %s: %s (%s)\n", path, mamba_result_string(res), m.error ? m.error : "");
        return 1;
    }
    scratch_bytes = mamba_forward_scratch_size(&m, MAMBA_FORWARD_BLOCK);
    scratch = malloc(scratch_bytes);
    logits = (float *)malloc(sizeof(float) * (size_t)m.config.n_vocab_padded);
    tokens = (int *)malloc(sizeof(int) * ((size_t)n_prompt + (size_t)n_gen));
    if (!scratch || !logits || !tokens || mamba_state_new(&s[0], &m) != MAMBA_OK) {
        fprintf(stderr, "busy: out of memory\n");
        return 1;
    }
    if (mamba_state_new(&s[1], &m) != MAMBA_OK) {
        fprintf(stderr, "busy: out of memory\n");
        return 1;
    }
    /* a fixed, spread-out token sequence, as bench.c uses */
    for (i = 0; i < n_prompt + n_gen; i++) tokens[i] = (int)((7919L * i + 13) % m.config.n_vocab);
    /* warm-up: the weights faulted in, each state's first calls made */
    for (k = 0; k < 2; k++) {
        set_threads(nt[k]);
        for (i = 0; i < 4; i++) mamba_step(&m, &s[k], tokens[i], logits);
        mamba_state_reset(&s[k]);
        mamba_forward(&m, &s[k], tokens, n_prompt, logits, 0, scratch, scratch_bytes);
    }
    for (r = 0; r < rounds; r++) {
        int o;
        for (o = 0; o < 2; o++) {
            double t0, c0, w;
            k = (r + o) & 1; /* A first in even rounds, B first in odd ones */
            set_threads(nt[k]);
            mamba_state_reset(&s[k]);
            t0 = wall_now();
            c0 = cpu_now();
            mamba_forward(&m, &s[k], tokens, n_prompt, logits, 0, scratch, scratch_bytes);
            w = wall_now() - t0;
            pps[k][r] = n_prompt / w;
            wall[k][0] += w;
            cpu[k][0] += cpu_now() - c0;
            t0 = wall_now();
            c0 = cpu_now();
            for (i = 0; i < n_gen; i++) mamba_step(&m, &s[k], tokens[n_prompt + i], logits);
            w = wall_now() - t0;
            dps[k][r] = n_gen / w;
            wall[k][1] += w;
            cpu[k][1] += cpu_now() - c0;
        }
        rp[r] = pps[0][r] / pps[1][r];
        rd[r] = dps[0][r] / dps[1][r];
    }
    printf("busy: %s, %d rounds alternating %d threads and 1 (prompt %d tokens, decode %d)\n", path, rounds,
           threads, n_prompt, n_gen);
    for (k = 0; k < 2; k++) {
        spread(pps[k], rounds, a);
        spread(dps[k], rounds, b);
        printf("  %d thread%s  prompt %.1f (%.1f..%.1f) tokens/s, CPU/wall %.2f;  decode %.2f (%.2f..%.2f) "
               "tokens/s, CPU/wall %.2f\n",
               nt[k], nt[k] > 1 ? "s" : " ", a[0], a[1], a[2], cpu[k][0] / wall[k][0], b[0], b[1], b[2],
               cpu[k][1] / wall[k][1]);
    }
    /* what each state chose at the end (mamba.h, >>threads): the count in use
       and the seconds per token it knows for all threads and for one */
    for (k = 0; k < 1; k++) { /* state B was given one thread: nothing to choose */
        int j;
        printf("  %d threads choice at the end:", nt[k]);
        for (j = 0; j < 2; j++)
            printf("  %s %s (%.1f us a token on all threads, %.1f on one)", j ? "; prompt" : "decode",
                   s[k].threads[j].use ? "one thread" : "all threads", 1e6 * s[k].threads[j].sec[0],
                   1e6 * s[k].threads[j].sec[1]);
        printf("\n");
    }
    spread(rp, rounds, a);
    spread(rd, rounds, b);
    printf("  %d / 1 per round: prompt %.2f (%.2f..%.2f), decode %.2f (%.2f..%.2f)\n", threads, a[0], a[1], a[2],
           b[0], b[1], b[2]);
    printf("ratio: %.3f %.3f\n", a[0], b[0]);
    free(tokens);
    free(logits);
    free(scratch);
    mamba_state_free(&s[0]);
    mamba_state_free(&s[1]);
    mamba_model_close(&m);
    return 0;
}
