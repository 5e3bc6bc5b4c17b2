/* constant.c - show that a Mamba step costs the same at token 100,000 as at token 1.

   build/constant [MODEL.mamba] [--tokens N] [--cycle] [--svg FILE]

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
   time: the machine is shared and the numbers are for reading.

   --svg FILE draws the run (examples/svg.h): every step is timed, and at
   about 100 evenly spaced positions (and at the table's) the picture takes
   the median and the 10th-90th percentile of the last (up to) 1000 steps,
   and the RSS; the Transformer's KV cache is the formula above, not a
   measurement. The curve to 100k is a real 100k-step run, not an
   extrapolation. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "../examples/svg.h"

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
    fprintf(stderr, "usage: constant [MODEL.mamba] [--tokens N] [--cycle] [--svg FILE]\n");
    return 2;
}

/* One point of the picture: at position pos, over the last (up to)
   CONSTANT_WINDOW steps. */
typedef struct constant_sample {
    long pos;
    double p10, median, p90; /* ms per token */
    double fork;             /* ms, the forked median where the table has a row, else < 0 */
    int full;                /* the window holds CONSTANT_WINDOW steps, or all of the run */
    double rss;              /* bytes, < 0 where unknown */
} constant_sample;

/* The q-quantile (0..1) of n values, nearest rank, from a sorted copy. */
static double quantile(const double *v, int n, double q, double *tmp)
{
    int k = (int)(q * (n - 1) + 0.5);
    memcpy(tmp, v, sizeof(double) * (size_t)n);
    qsort(tmp, (size_t)n, sizeof(double), cmp_double);
    return tmp[k];
}

/* The CPU's name from /proc/cpuinfo ("model name"), or "" where there is none. */
static void cpu_name(char *out, size_t cap)
{
    char line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    out[0] = 0;
    if (!f) return;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            const char *p = strchr(line, ':') + 1;
            while (*p == ' ') p++;
            snprintf(out, cap, "%s", p);
            out[strcspn(out, "\n")] = 0;
            break;
        }
    fclose(f);
}

static int constant_svg(const char *svg_path, const char *model_path, const mamba_config *c, double state_bytes,
                        const constant_sample *sm, int n, long n_tokens, const char *feed)
{
    const double MiB = 1024.0 * 1024.0;
    double *xs, *a, *b, *d, ymax = 0.0;
    char sub[400], names_buf[3][96], cpu[128];
    const char *omp = getenv("OMP_NUM_THREADS");
    const char *names[3], *cols[3], *dashes[3];
    svg_plot pt, pm;
    int i, nf = 0;
    FILE *f = fopen(svg_path, "w");
    if (!f) { fprintf(stderr, "constant: cannot write %s\n", svg_path); return 0; }
    xs = (double *)malloc(sizeof(double) * (size_t)n * 4);
    if (!xs) { fclose(f); return 0; }
    a = xs + n; b = a + n; d = b + n;
    cpu_name(cpu, sizeof cpu);
    snprintf(sub, sizeof sub, "%s: n_layer %d, d_model %d, d_inner %d, d_state %d; %ld tokens, %s; OMP_NUM_THREADS=%s",
             model_path, c->n_layer, c->d_model, c->d_inner, c->d_state, n_tokens, feed, omp ? omp : "unset");
    svg_begin(f, 1000, 760, "Token 100,000 costs what token 1 costs: the state stays put, a Transformer's KV cache grows", sub);

    /* 1. time per token: the y range from the medians (a busy machine's
       spike in a p90 is clipped, its value stays in the file) */
    for (i = 0; i < n; i++) if (sm[i].median > ymax && sm[i].full) ymax = sm[i].median;
    for (i = 0; i < n; i++) if (sm[i].fork > ymax) ymax = sm[i].fork;
    ymax *= 1.5;
    pt.x = 90; pt.y = 80; pt.w = 700; pt.h = 250; pt.x0 = 0; pt.x1 = (double)n_tokens; pt.y0 = 0;
    pt.y1 = ymax; pt.xlog = pt.ylog = 0;
    svg_text(f, pt.x, pt.y - 10, "ink", "start", 0,
             "time of one mamba_step() at each position of one real %ld-step run, every step timed (spikes: other jobs)",
             n_tokens);
    svg_axes(f, &pt, "position in the sequence (tokens)", "ms per token");
    for (i = 0; i < n; i++) /* the windowed numbers once the window is full (or the run ends) */
        if (sm[i].full) { xs[nf] = (double)sm[i].pos; a[nf] = sm[i].p10; b[nf] = sm[i].p90; d[nf] = sm[i].median; nf++; }
    svg_clip_begin(f, &pt, "clip-time");
    svg_band(f, &pt, "ms p10-p90", svg_okabe_ito[1], xs, a, b, nf);
    svg_series(f, &pt, "ms median", svg_okabe_ito[1], NULL, xs, d, nf, 0);
    nf = 0;
    for (i = 0; i < n; i++)
        if (sm[i].fork >= 0) { xs[nf] = (double)sm[i].pos; a[nf] = sm[i].fork; nf++; }
    svg_series(f, &pt, "ms fork", svg_okabe_ito[3], "1 4", xs, a, nf, 1);
    svg_clip_end(f);
    names[0] = "median of the last 1000 steps";
    names[1] = "10th-90th percentile of them";
    names[2] = "the step at a table row, forked 15x: median";
    cols[0] = svg_okabe_ito[1]; cols[1] = svg_okabe_ito[1]; cols[2] = svg_okabe_ito[3];
    dashes[0] = NULL; dashes[1] = "band"; dashes[2] = "1 4";
    svg_legend(f, pt.x + 20, pt.y + pt.h - 44, names, cols, dashes, 3);

    /* 2. memory */
    for (i = 0; i < n; i++) {
        xs[i] = (double)sm[i].pos;
        a[i] = kv_bytes(c->n_layer, c->d_model, sm[i].pos) / MiB;
        b[i] = state_bytes / MiB;
        d[i] = sm[i].rss / MiB;
    }
    pm.x = 90; pm.y = 420; pm.w = 700; pm.h = 250; pm.x0 = 0; pm.x1 = (double)n_tokens; pm.y0 = 0;
    pm.y1 = a[n - 1] > d[n - 1] ? a[n - 1] * 1.08 : d[n - 1] * 1.3;
    pm.xlog = pm.ylog = 0;
    svg_text(f, pm.x, pm.y - 10, "ink", "start", 0, "memory for one sequence");
    svg_axes(f, &pm, "position in the sequence (tokens)", "MiB");
    svg_series(f, &pm, "kv cache f32", svg_okabe_ito[0], "6 3", xs, a, n, 0);
    svg_series(f, &pm, "mamba state", svg_okabe_ito[2], NULL, xs, b, n, 0);
    if (sm[0].rss >= 0) svg_series(f, &pm, "rss", svg_okabe_ito[4], NULL, xs, d, n, 0);
    snprintf(names_buf[0], sizeof names_buf[0], "KV cache of a Transformer, same width and depth (f32): %.1f MiB at %ld",
             a[n - 1], n_tokens);
    snprintf(names_buf[1], sizeof names_buf[1], "Mamba state: %.1f KiB at every position", state_bytes / 1024.0);
    snprintf(names_buf[2], sizeof names_buf[2], "this process's RSS (model included)");
    names[0] = names_buf[0]; names[1] = names_buf[1]; names[2] = names_buf[2];
    cols[0] = svg_okabe_ito[0]; cols[1] = svg_okabe_ito[2]; cols[2] = svg_okabe_ito[4];
    dashes[0] = "6 3"; dashes[1] = dashes[2] = NULL;
    svg_legend(f, pm.x + 20, pm.y + 18, names, cols, dashes, sm[0].rss >= 0 ? 3 : 2);
    svg_text(f, pm.x, pm.y + pm.h + 56, "faint small", "start", 0,
             "KV cache = 2 x n_layer x d_model x 4 bytes per token (keys and values), computed; the Mamba state is mamba_state_size()");
    svg_text(f, pm.x, pm.y + pm.h + 72, "faint small", "start", 0, "measured on: %s", cpu[0] ? cpu : "an unknown CPU");
    svg_end(f);
    free(xs);
    if (fclose(f) != 0) { fprintf(stderr, "constant: cannot write %s\n", svg_path); return 0; }
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = "models/tinystories.mamba", *svg_path = NULL;
    constant_sample *samples = NULL;
    long every = 1;
    int n_samples = 0, cap_samples = 0;
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
        } else if (!strcmp(argv[i], "--svg") && i + 1 < argc) {
            svg_path = argv[++i];
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
    if (svg_path) { /* ~100 evenly spaced points, plus the table's rows */
        every = n_tokens / 100 > 1 ? n_tokens / 100 : 1;
        cap_samples = (int)(n_tokens / every) + n_marks + 2;
        samples = (constant_sample *)malloc(sizeof(constant_sample) * (size_t)cap_samples);
        if (!samples) goto done;
    }

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
        if (samples && (pos == marks[mark] || pos % every == 0) && n_samples < cap_samples) {
            int in_window = pos < CONSTANT_WINDOW ? (int)pos : CONSTANT_WINDOW;
            constant_sample *sp = samples + n_samples++;
            long rss = rss_kib();
            sp->pos = pos;
            sp->full = pos >= CONSTANT_WINDOW || pos == n_tokens;
            sp->p10 = 1e3 * quantile(window, in_window, 0.1, tmp);
            sp->median = 1e3 * median(window, in_window, tmp);
            sp->p90 = 1e3 * quantile(window, in_window, 0.9, tmp);
            sp->fork = pos == marks[mark] ? 1e3 * median(forks, CONSTANT_FORKS, tmp) : -1.0;
            sp->rss = rss < 0 ? -1.0 : 1024.0 * (double)rss;
        }
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
    if (samples) {
        if (!constant_svg(svg_path, path, c, (double)mamba_state_size(&model), samples, n_samples, n_tokens,
                          cycle ? "a fixed cycle of ids" : "greedy feedback"))
            goto done;
        printf("\npicture: %s (%d points)\n", svg_path, n_samples);
    }
    status = 0;
done:
    free(samples);
    free(logits);
    mamba_state_free(&probe);
    mamba_state_free(&state);
done_model:
    mamba_model_close(&model);
    return status;
}
