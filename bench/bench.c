/* bench.c - how fast mamba.h runs a model, beside the machine's own limits.

   usage: build/bench MODEL.mamba [--threads N] [--prompt N] [--gen N] [--rounds N] [--bw-mib N]
                                  [--no-decode] [--no-prompt]
          build/bench MODEL.mamba --batch N [...]   batched decoding (mamba_step_batch) of
                                                    1, 2, 4, ... N sequences: aggregate tokens/s

   Decoding one token reads every weight once, so its ceiling is the memory
   read bandwidth; reading a prompt can reuse each weight across tokens, so
   its ceiling is the arithmetic (FMA) peak. This program measures both
   ceilings itself, in the same process and interleaved with the model runs
   (the bandwidth of a shared host drifts), and prints each figure beside
   its ceiling. Every round runs: bandwidth probe, FMA probe, prompt (an untimed pass, then the timed one), decode;
   each printed figure is the median over the rounds (the fractions are the
   medians of the per-round fractions, so a drifting machine cancels out).

   The machine is often shared: every figure, probes included, also takes
   the CPU time the process got (CLOCK_PROCESS_CPUTIME_ID) and prints it
   as a share of the cores it asked for, CPU time / (wall time x threads).
   Below 0.9 a WARNING line says that the figure is not the machine's:
   another program held a core, and the wall-clock figure is low by about
   that share (a ratio of two figures taken in the same round is still
   fair when both got the same share, which the shares say).

   Output: one line per figure (median, then min..max over the rounds),
   then a `row:` line for the table of `make bench`. Nothing here is a
   test: it reports, it never fails on a slow machine. */
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
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#if defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#define MAX_ROUNDS 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the process (every thread): beside wall time it says how much
   of the machine a figure got on a busy host */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A timed span: wall and CPU seconds. share() = CPU / (wall x threads),
   1.0 when every thread had a core of its own all the time. */
typedef struct span {
    double w0, c0, wall, cpu;
} span;

static void span_start(span *s)
{
    s->w0 = now();
    s->c0 = cpu_now();
}

static double span_stop(span *s)
{
    s->wall = now() - s->w0;
    s->cpu = cpu_now() - s->c0;
    return s->wall;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double t[MAX_ROUNDS];
    memcpy(t, v, sizeof(double) * (size_t)n);
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static double vmin(const double *v, int n)
{
    double m = v[0];
    int i;
    for (i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

static double vmax(const double *v, int n)
{
    double m = v[0];
    int i;
    for (i = 1; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

static int n_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* ---- the bandwidth probes ---------------------------------------------

   The read probe: each thread sums its own contiguous slice of a buffer far
   larger than the last-level cache, so every byte comes from DRAM. One
   stream per thread is not always the limit: a core keeps only so many
   misses in flight, and its prefetchers follow a few pages at a time. So
   the slice is also cut into S parts read side by side, S streams at once
   (as a matrix-vector product reads S rows at once), for S = 1, 4 and 8,
   and the probe is the best of the three (each the median of 3 passes).
   A STREAM-like triad a[i] = b[i] + q c[i] checks it: counted as STREAM
   counts it (two reads and one write, 12 bytes an element), a triad faster
   than the read probe means the read probe missed the limit, and says so. */
static float read_sum(const float *p, size_t n)
{
    size_t i = 0;
    float s = 0.0f;
#if defined(__AVX512F__)
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
    }
    s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
#elif defined(__AVX2__)
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    float t[8];
    int k;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
    }
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (k = 0; k < 8; k++) s += t[k];
#elif defined(__ARM_NEON)
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 16 <= n; i += 16) {
        a0 = vaddq_f32(a0, vld1q_f32(p + i));
        a1 = vaddq_f32(a1, vld1q_f32(p + i + 4));
        a2 = vaddq_f32(a2, vld1q_f32(p + i + 8));
        a3 = vaddq_f32(a3, vld1q_f32(p + i + 12));
    }
    s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
#else
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k;
    for (; i + 8 <= n; i += 8)
        for (k = 0; k < 8; k++) a[k] += p[i + k];
    for (k = 0; k < 8; k++) s += a[k];
#endif
    for (; i < n; i++) s += p[i];
    return s;
}

/* n floats as S streams: S equal parts, read side by side 1 KB at a time */
#define STREAM_STEP 256
static float read_streams(const float *p, size_t n, int S)
{
    const size_t part = n / (size_t)S / STREAM_STEP * STREAM_STEP;
    size_t i;
    float s = 0.0f;
    int j;
    for (i = 0; i < part; i += STREAM_STEP)
        for (j = 0; j < S; j++) s += read_sum(p + (size_t)j * part + i, STREAM_STEP);
    return s + read_sum(p + (size_t)S * part, n - (size_t)S * part); /* the rest */
}

/* What the probes measured in one round, with the share of the cores they got */
typedef struct probe {
    double read;       /* bytes/s, the best of the stream counts */
    int read_streams;  /* ... which was */
    double read1;      /* bytes/s with one stream per thread */
    double triad;      /* bytes/s, STREAM's count */
    double share;      /* CPU / (wall x threads) over all passes */
} probe;

static double pass_read(const float *buf, size_t n, int S, float *sink, span *sp)
{
    float total = 0.0f;
    span_start(sp);
#ifdef _OPENMP
#pragma omp parallel reduction(+ : total)
    {
        size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
        size_t lo = n / nt * id, hi = id + 1 == nt ? n : n / nt * (id + 1);
        total += read_streams(buf + lo, hi - lo, S);
    }
#else
    total = read_streams(buf, n, S);
#endif
    *sink += total;
    return span_stop(sp);
}

static double pass_triad(float *a, const float *b, const float *c, size_t n, span *sp)
{
    long i, nn = (long)n;
    const float q = 3.0f;
    span_start(sp);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (i = 0; i < nn; i++) a[i] = b[i] + q * c[i];
    return span_stop(sp);
}

/* Run the probes over a fresh buffer of `bytes` (allocated and freed here,
   so it leaves the resident size): 0 in every field if it cannot allocate. */
static probe probe_bandwidth(size_t bytes, int threads, float *sink)
{
    static const int streams[3] = {1, 4, 8};
    size_t n = bytes / sizeof(float), i, m = n / 3;
    float *buf = (float *)malloc(n * sizeof(float));
    double t[3], cpu = 0.0, wall = 0.0;
    probe r;
    int pass, k;
    memset(&r, 0, sizeof r);
    if (!buf) return r;
    for (i = 0; i < n; i++) buf[i] = (float)(i & 7); /* touch every page */
    for (k = 0; k < 3; k++) {
        double bw;
        for (pass = 0; pass < 3; pass++) {
            span sp;
            t[pass] = pass_read(buf, n, streams[k], sink, &sp);
            cpu += sp.cpu;
            wall += sp.wall;
        }
        bw = (double)(n * sizeof(float)) / median(t, 3);
        if (k == 0) r.read1 = bw;
        if (bw > r.read) {
            r.read = bw;
            r.read_streams = streams[k];
        }
    }
    for (pass = 0; pass < 3; pass++) {
        span sp;
        t[pass] = pass_triad(buf, buf + m, buf + 2 * m, m, &sp);
        cpu += sp.cpu;
        wall += sp.wall;
    }
    r.triad = 12.0 * (double)m / median(t, 3);
    *sink += buf[m / 2];
    r.share = cpu / (wall * threads);
    free(buf);
    return r;
}

/* ---- the FMA probe ---------------------------------------------------

   Twelve independent chains of acc = acc * a + b in vector registers per
   thread: enough chains to cover the FMA latency on every core this was
   tried on, so the loop runs at the FMA units' throughput. Returns flop/s
   (an FMA counts two). */
#if defined(__AVX512F__)
#define FMA_LANES 16
#define FMA_ISA "AVX-512"
#elif defined(__AVX2__) && defined(__FMA__)
#define FMA_LANES 8
#define FMA_ISA "AVX2+FMA"
#elif defined(__ARM_NEON) && defined(__aarch64__)
#define FMA_LANES 4
#define FMA_ISA "NEON"
#else
#define FMA_LANES 1
#define FMA_ISA "scalar"
#endif

static float fma_chains(long iters)
{
    long i;
    float s = 0.0f;
#if defined(__AVX512F__)
#define FMA_STEP(v) v = _mm512_fmadd_ps(v, a, b)
    __m512 a = _mm512_set1_ps(0.9999999f), b = _mm512_set1_ps(1e-7f);
    /* twelve chains with twelve different starting values: equal ones would
       let the compiler merge them into one (common subexpressions), and the
       probe would time one latency-bound chain while counting twelve */
    __m512 c0 = _mm512_set1_ps(1.00f), c1 = _mm512_set1_ps(1.01f), c2 = _mm512_set1_ps(1.02f),
           c3 = _mm512_set1_ps(1.03f), c4 = _mm512_set1_ps(1.04f), c5 = _mm512_set1_ps(1.05f),
           c6 = _mm512_set1_ps(1.06f), c7 = _mm512_set1_ps(1.07f), c8 = _mm512_set1_ps(1.08f),
           c9 = _mm512_set1_ps(1.09f), c10 = _mm512_set1_ps(1.10f), c11 = _mm512_set1_ps(1.11f);
#elif defined(__AVX2__) && defined(__FMA__)
#define FMA_STEP(v) v = _mm256_fmadd_ps(v, a, b)
    __m256 a = _mm256_set1_ps(0.9999999f), b = _mm256_set1_ps(1e-7f);
    __m256 c0 = _mm256_set1_ps(1.00f), c1 = _mm256_set1_ps(1.01f), c2 = _mm256_set1_ps(1.02f),
           c3 = _mm256_set1_ps(1.03f), c4 = _mm256_set1_ps(1.04f), c5 = _mm256_set1_ps(1.05f),
           c6 = _mm256_set1_ps(1.06f), c7 = _mm256_set1_ps(1.07f), c8 = _mm256_set1_ps(1.08f),
           c9 = _mm256_set1_ps(1.09f), c10 = _mm256_set1_ps(1.10f), c11 = _mm256_set1_ps(1.11f);
#elif defined(__ARM_NEON) && defined(__aarch64__)
#define FMA_STEP(v) v = vfmaq_f32(b, v, a)
    float32x4_t a = vdupq_n_f32(0.9999999f), b = vdupq_n_f32(1e-7f);
    float32x4_t c0 = vdupq_n_f32(1.00f), c1 = vdupq_n_f32(1.01f), c2 = vdupq_n_f32(1.02f),
                c3 = vdupq_n_f32(1.03f), c4 = vdupq_n_f32(1.04f), c5 = vdupq_n_f32(1.05f),
                c6 = vdupq_n_f32(1.06f), c7 = vdupq_n_f32(1.07f), c8 = vdupq_n_f32(1.08f),
                c9 = vdupq_n_f32(1.09f), c10 = vdupq_n_f32(1.10f), c11 = vdupq_n_f32(1.11f);
#else
#define FMA_STEP(v) v = v * a + b
    volatile float va = 0.9999999f, vb = 1e-7f; /* opaque, so nothing is folded */
    float a = va, b = vb;
    float c0 = 1.00f, c1 = 1.01f, c2 = 1.02f, c3 = 1.03f, c4 = 1.04f, c5 = 1.05f, c6 = 1.06f, c7 = 1.07f,
          c8 = 1.08f, c9 = 1.09f, c10 = 1.10f, c11 = 1.11f;
#endif
    for (i = 0; i < iters; i++) {
        FMA_STEP(c0); FMA_STEP(c1); FMA_STEP(c2); FMA_STEP(c3); FMA_STEP(c4); FMA_STEP(c5);
        FMA_STEP(c6); FMA_STEP(c7); FMA_STEP(c8); FMA_STEP(c9); FMA_STEP(c10); FMA_STEP(c11);
    }
#if defined(__AVX512F__)
    s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
        _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)),
                      _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)))));
#elif defined(__AVX2__) && defined(__FMA__)
    {
        float t[8];
        int k;
        __m256 v = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
            _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)),
                          _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11))));
        _mm256_storeu_ps(t, v);
        for (k = 0; k < 8; k++) s += t[k];
    }
#elif defined(__ARM_NEON) && defined(__aarch64__)
    s = vaddvq_f32(vaddq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)),
        vaddq_f32(vaddq_f32(vaddq_f32(c4, c5), vaddq_f32(c6, c7)), vaddq_f32(vaddq_f32(c8, c9), vaddq_f32(c10, c11)))));
#else
    s = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
#endif
#undef FMA_STEP
    return s;
}

static double probe_fma(float *sink, double *share)
{
    const long iters = 20000000L;
    double t[3], cpu = 0.0, wall = 0.0;
    int pass, nt = n_threads();
    for (pass = 0; pass < 3; pass++) {
        float total = 0.0f;
        span sp;
        span_start(&sp);
#ifdef _OPENMP
#pragma omp parallel reduction(+ : total)
        total += fma_chains(iters);
#else
        total = fma_chains(iters);
#endif
        t[pass] = span_stop(&sp);
        cpu += sp.cpu;
        wall += sp.wall;
        *sink += total;
    }
    *share = cpu / (wall * nt);
    return (double)nt * (double)iters * 12.0 * FMA_LANES * 2.0 / median(t, 3);
}

/* ---- what the model reads and computes -------------------------------- */

static double matrix_bytes(const mamba_matrix *w)
{
    return (double)mamba_matrix_bytes(w);
}

/* Bytes of weights one decoded token reads: every layer tensor, norm_f, the
   output matrix, and one row of the embedding. */
static double bytes_per_token(const mamba_model *m)
{
    const mamba_config *c = &m->config;
    double small = 0, mats = 0;
    int l;
    for (l = 0; l < c->n_layer; l++) {
        const mamba_layer *L = &m->layers[l];
        mats += matrix_bytes(&L->in_proj) + matrix_bytes(&L->x_proj) + matrix_bytes(&L->dt_proj) +
                matrix_bytes(&L->out_proj);
        if (c->arch == MAMBA_ARCH_MAMBA2) { /* conv over x, B, C; dt_bias, A, D per head; the gated norm */
            double conv = (double)c->d_inner + 2.0 * c->n_groups * c->d_state;
            small += 4.0 * ((double)c->d_model + conv * (c->d_conv + 1) + 3.0 * c->n_heads + c->d_inner);
        } else {
            small += 4.0 * ((double)c->d_model /* norm */ + (double)c->d_inner * c->d_conv /* conv */ +
                            (double)c->d_inner * (3 + c->d_state) /* dt_bias, D, conv bias, A */);
        }
        if (L->in_proj_bias) small += 4.0 * L->in_proj.rows;
        if (L->out_proj_bias) small += 4.0 * c->d_model;
    }
    small += 4.0 * c->d_model; /* norm_f */
    return mats + small + matrix_bytes(&m->lm_head) + matrix_bytes(&m->embedding) / (double)m->embedding.rows;
}

/* Multiply-adds of the matrices, counted as 2 flops each, for one prompt
   token (the output matrix runs once per prompt, for the last token). */
static double layer_flops(const mamba_model *m)
{
    double f = 0;
    int l;
    for (l = 0; l < m->config.n_layer; l++) {
        const mamba_layer *L = &m->layers[l];
        f += 2.0 * ((double)L->in_proj.rows * L->in_proj.cols + (double)L->x_proj.rows * L->x_proj.cols +
                    (double)L->dt_proj.rows * L->dt_proj.cols + (double)L->out_proj.rows * L->out_proj.cols);
    }
    return f;
}

/* VmRSS and VmHWM of this process in bytes, from /proc (Linux); 0 if unknown. */
static void resident(double *rss, double *hwm)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    *rss = *hwm = 0;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        double kb;
        if (sscanf(line, "VmRSS: %lf", &kb) == 1) *rss = kb * 1024.0;
        if (sscanf(line, "VmHWM: %lf", &kb) == 1) *hwm = kb * 1024.0;
    }
    fclose(f);
}

/* Reset VmHWM to the current resident size (Linux >= 4.0), so the probe
   buffer of the bandwidth test does not count as the model's memory. */
static void reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

static int usage(void)
{
    fprintf(stderr, "usage: bench MODEL.mamba [--threads N] [--prompt N] [--gen N] [--rounds N] [--bw-mib N] "
                    "[--no-prompt] [--no-decode] [--batch N]\n");
    return 2;
}

/* "median (min..max)" of v into buf */
static const char *spread(char *buf, size_t size, const double *v, int n, double scale, const char *fmt)
{
    char a[32], b[32], c[32];
    snprintf(a, sizeof a, fmt, scale * median(v, n));
    snprintf(b, sizeof b, fmt, scale * vmin(v, n));
    snprintf(c, sizeof c, fmt, scale * vmax(v, n));
    snprintf(buf, size, "%s (%s..%s)", a, b, c);
    return buf;
}

/* the share line of a figure, and a warning when it had less than its cores */
static void print_share(const char *what, const double *share, int n, int threads)
{
    char buf[128];
    double lo = vmin(share, n);
    printf("cpu        %-10s got %s of %d core%s (CPU time / wall time / threads)\n", what,
           spread(buf, sizeof buf, share, n, 1.0, "%.2f"), threads, threads > 1 ? "s" : "");
    if (lo < 0.9)
        printf("WARNING    %s got only %.2f of its %d core%s in some round: another program held a core, "
               "so its figures are low by about that much\n", what, lo, threads, threads > 1 ? "s" : "");
}

/* "min..max" of v[0..n-1] */
static void range(const double *v, int n, double *lo, double *hi)
{
    int i;
    *lo = *hi = v[0];
    for (i = 1; i < n; i++) {
        if (v[i] < *lo) *lo = v[i];
        if (v[i] > *hi) *hi = v[i];
    }
}

/* --batch: mamba_step_batch() on nb = 1, 2, 4, ... max_n sequences, each
   round interleaved with the bandwidth and FMA probes. Per batch size:
   aggregate tokens/s (nb * steps / seconds) by the wall clock and by the
   CPU time the process got (the fair figure on a shared host: a neighbour
   holding the core stretches the wall clock, not the CPU time), medians
   and spreads over the rounds, the gain over nb = 1 (within each round, so
   the host's load cancels), and the two limits measured in the same run:
   nb sequences cannot go faster than nb x (read bandwidth / bytes of
   weights a step) while the weights are read once a step, nor faster than
   the FMA peak / the multiply-adds of a token. A `batchrow:` line per size
   feeds bench/batch.sh. */
static int bench_batch(const mamba_model *m, int max_n, int n_gen, int rounds, int bw_mib)
{
    static mamba_state st[MAMBA_BATCH_MAX];
    mamba_state *ps[MAMBA_BATCH_MAX];
    static double agg[8][MAX_ROUNDS], aggc[8][MAX_ROUNDS], cpu[8][MAX_ROUNDS];
    double bw[MAX_ROUNDS], fma[MAX_ROUNDS], bwc[MAX_ROUNDS], fmac[MAX_ROUNDS], flops_tok = layer_flops(m) + 2.0 * m->lm_head.rows * m->lm_head.cols,
           bpt = bytes_per_token(m), blo, bhi, flo, fhi, bwm, fmam, bwcm, fmacm;
    float *logits = (float *)malloc(sizeof(float) * (size_t)m->config.n_vocab_padded * (size_t)max_n), sink = 0;
    int tokens[MAMBA_BATCH_MAX], nsz = 0, sizes[8], r, k, i, j;
    for (k = 1; k <= max_n && nsz < 8; k *= 2) sizes[nsz++] = k;
    if (!logits) return 1;
    for (j = 0; j < max_n; j++) {
        if (mamba_state_new(&st[j], m) != MAMBA_OK) return 1;
        ps[j] = &st[j];
    }
    for (r = 0; r < rounds; r++) {
        double share;
        probe pr = probe_bandwidth((size_t)bw_mib << 20, n_threads(), &sink);
        bw[r] = pr.read;
        bwc[r] = pr.share > 0 ? pr.read / pr.share : pr.read; /* per second of the CPU it got */
        fma[r] = probe_fma(&sink, &share);
        fmac[r] = share > 0 ? fma[r] / share : fma[r];
        for (k = 0; k < nsz; k++) {
            const int nb = sizes[k];
            double t0, c0;
            for (j = 0; j < nb; j++) {
                mamba_state_reset(&st[j]);
                tokens[j] = (int)((7919L * j + 13) % m->config.n_vocab);
            }
            mamba_step_batch(m, ps, nb, tokens, logits); /* warm: the states, the pages */
            t0 = now();
            c0 = cpu_now();
            for (i = 0; i < n_gen; i++) {
                for (j = 0; j < nb; j++) tokens[j] = (int)((7919L * (i + j) + 13) % m->config.n_vocab);
                mamba_step_batch(m, ps, nb, tokens, logits);
            }
            c0 = cpu_now() - c0;
            t0 = now() - t0;
            agg[k][r] = (double)nb * n_gen / t0;
            aggc[k][r] = (double)nb * n_gen / c0 * n_threads(); /* per core-second of CPU */
            cpu[k][r] = c0 / (t0 * n_threads());
            sink += logits[0];
        }
    }
    range(bw, rounds, &blo, &bhi);
    range(fma, rounds, &flo, &fhi);
    bwm = median(bw, rounds);
    fmam = median(fma, rounds);
    bwcm = median(bwc, rounds);
    fmacm = median(fmac, rounds);
    printf("model      %s matrices, %d layers, d_model %d, %.1f MB of weights read per step, %.2f GFLOP a token; "
           "%d threads, %d steps, %d rounds\n",
           mamba_dtype_string(m->layers[0].in_proj.dtype), m->config.n_layer, m->config.d_model, bpt / 1e6,
           flops_tok / 1e9, n_threads(), n_gen, rounds);
    printf("machine    read bandwidth %.1f GB/s (%.1f..%.1f), FMA peak %.1f GFLOP/s (%.1f..%.1f) (%s)\n", bwm / 1e9,
           blo / 1e9, bhi / 1e9, fmam / 1e9, flo / 1e9, fhi / 1e9, FMA_ISA);
    printf("machine    per CPU second (the probes over the share of the core they got): read %.1f GB/s, FMA %.1f GFLOP/s\n",
           bwcm / 1e9, fmacm / 1e9);
    printf("limits     one sequence: %.1f tokens/s (bandwidth); any batch: %.1f tokens/s (FMA peak); per CPU second "
           "%.1f and %.1f\n",
           bwm / bpt, fmam / flops_tok, bwcm / bpt, fmacm / flops_tok);
    for (k = 0; k < nsz; k++) {
        double rat[MAX_ROUNDS], ratc[MAX_ROUNDS], lo, hi, clo, chi, rlo, rhi, qlo, qhi, lim, limc;
        for (r = 0; r < rounds; r++) { /* within a round: the same load on the host */
            rat[r] = agg[k][r] / agg[0][r];
            ratc[r] = aggc[k][r] / aggc[0][r];
        }
        range(agg[k], rounds, &lo, &hi);
        range(aggc[k], rounds, &clo, &chi);
        range(rat, rounds, &rlo, &rhi);
        range(ratc, rounds, &qlo, &qhi);
        lim = sizes[k] * bwm / bpt < fmam / flops_tok ? sizes[k] * bwm / bpt : fmam / flops_tok;
        limc = sizes[k] * bwcm / bpt < fmacm / flops_tok ? sizes[k] * bwcm / bpt : fmacm / flops_tok;
        printf("batch %2d   %8.1f tokens/s aggregate (%.1f..%.1f), %.2fx batch 1 (%.2f..%.2f); per CPU second %.1f "
               "(%.1f..%.1f), %.2fx (%.2f..%.2f); limits %.1f (wall), %.1f (CPU); %.1f%% of FMA peak; CPU/wall %.2f\n",
               sizes[k], median(agg[k], rounds), lo, hi, median(rat, rounds), rlo, rhi, median(aggc[k], rounds), clo,
               chi, median(ratc, rounds), qlo, qhi, lim, limc, 100 * median(aggc[k], rounds) * flops_tok / fmacm,
               median(cpu[k], rounds));
        /* batchrow: N, wall tok/s med lo hi, ratio; CPU tok/s med lo hi, ratio med lo hi; limits wall, CPU;
           read GB/s, FMA GFLOP/s (wall); the same per CPU second; CPU/wall */
        printf("batchrow: %d %.2f %.2f %.2f %.3f %.2f %.2f %.2f %.3f %.3f %.3f %.2f %.2f %.2f %.2f %.2f %.2f %.2f\n",
               sizes[k], median(agg[k], rounds), lo, hi, median(rat, rounds), median(aggc[k], rounds), clo, chi,
               median(ratc, rounds), qlo, qhi, lim, limc, bwm / 1e9, fmam / 1e9, bwcm / 1e9, fmacm / 1e9,
               median(cpu[k], rounds));
    }
    if (sink == 12345.678f) printf("\n");
    for (j = 0; j < max_n; j++) mamba_state_free(&st[j]);
    free(logits);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int threads = 1, n_prompt = 512, n_gen = 64, rounds = 5, bw_mib = 1024, batch = 0, i, r, do_prompt = 1;
    int do_decode = 1;
    mamba_model m;
    mamba_state s;
    mamba_result res;
    float *logits;
    int *tokens;
    float sink = 0.0f;
    double bw[MAX_ROUNDS], bw1[MAX_ROUNDS], triad[MAX_ROUNDS], fma[MAX_ROUNDS], pps[MAX_ROUNDS], dps[MAX_ROUNDS];
    double fbw[MAX_ROUNDS], ffma[MAX_ROUNDS], ffma_cpu[MAX_ROUNDS];
    double sh_probe[MAX_ROUNDS], sh_fma[MAX_ROUNDS], sh_prompt[MAX_ROUNDS], sh_decode[MAX_ROUNDS];
    int nstreams[MAX_ROUNDS];
    double rss = 0, hwm = 0, bpt, flops_tok;
    const char *prompt_how;
#ifdef MAMBA_FORWARD_ALL_LOGITS /* mamba.h has mamba_forward() */
    size_t scratch_bytes;
    void *scratch;
#endif

    for (i = 1; i < argc; i++) {
        int *dst = NULL;
        if (!strcmp(argv[i], "--threads")) dst = &threads;
        else if (!strcmp(argv[i], "--prompt")) dst = &n_prompt;
        else if (!strcmp(argv[i], "--gen")) dst = &n_gen;
        else if (!strcmp(argv[i], "--rounds")) dst = &rounds;
        else if (!strcmp(argv[i], "--bw-mib")) dst = &bw_mib;
        else if (!strcmp(argv[i], "--no-prompt")) do_prompt = 0;
        else if (!strcmp(argv[i], "--no-decode")) do_decode = 0;
        else if (!strcmp(argv[i], "--batch")) dst = &batch;
        else if (argv[i][0] == '-' || path) return usage();
        else path = argv[i];
        if (dst) {
            if (i + 1 >= argc) return usage();
            *dst = atoi(argv[++i]);
        }
    }
    if (!path || threads < 1 || n_prompt < 1 || n_gen < 1 || rounds < 1 || rounds > MAX_ROUNDS || bw_mib < 1 ||
        batch < 0 || batch > MAMBA_BATCH_MAX)
        return usage();
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    if (threads > 1) fprintf(stderr, "bench: built without OpenMP: running 1 thread\n");
    threads = 1;
#endif

    res = mamba_model_open(&m, path);
    if (res != MAMBA_OK) {
        fprintf(stderr, "bench: %s: %s (%s)\n", path, mamba_result_string(res), m.error ? m.error : "");
        return 1;
    }
    if (batch > 0) {
        int st = bench_batch(&m, batch, n_gen, rounds, bw_mib);
        mamba_model_close(&m);
        return st;
    }
    if (mamba_state_new(&s, &m) != MAMBA_OK) {
        fprintf(stderr, "bench: cannot allocate a state\n");
        return 1;
    }
    logits = (float *)malloc(sizeof(float) * (size_t)m.config.n_vocab_padded);
    tokens = (int *)malloc(sizeof(int) * (size_t)(n_prompt + n_gen));
#ifdef MAMBA_FORWARD_ALL_LOGITS /* mamba.h has mamba_forward() */
    scratch_bytes = mamba_forward_scratch_size(&m, MAMBA_FORWARD_BLOCK);
    scratch = malloc(scratch_bytes);
    if (!scratch) {
        fprintf(stderr, "bench: out of memory\n");
        return 1;
    }
#endif
    if (!logits || !tokens) {
        fprintf(stderr, "bench: out of memory\n");
        return 1;
    }
    /* a fixed, spread-out token sequence: every run reads the same rows */
    for (i = 0; i < n_prompt + n_gen; i++) tokens[i] = (int)((7919L * i + 13) % m.config.n_vocab);
    bpt = bytes_per_token(&m);
    flops_tok = layer_flops(&m) + 2.0 * m.lm_head.rows * m.lm_head.cols / n_prompt;

    /* warm-up: fault the mapped weights in, spin the threads up, and let the
       state settle its thread choice (>>threads in mamba.h: its first calls of
       each kind run on one thread, then it tries all of them), for steps and,
       four short passes, for prompt blocks: without these a 2-thread prompt
       round timed the library's own one-thread start and was reported as a
       neighbour holding a core */
    for (i = 0; i < 4; i++) mamba_step(&m, &s, tokens[i], logits);
#ifdef MAMBA_FORWARD_ALL_LOGITS /* mamba.h has mamba_forward() */
    if (do_prompt)
        for (i = 0; i < 4; i++) {
            mamba_state_reset(&s);
            mamba_forward(&m, &s, tokens, n_prompt < 64 ? n_prompt : 64, logits, 0, scratch, scratch_bytes);
        }
#endif

    for (r = 0; r < rounds; r++) {
        span sp;
        probe pb = probe_bandwidth((size_t)bw_mib << 20, threads, &sink);
        bw[r] = pb.read;
        bw1[r] = pb.read1;
        triad[r] = pb.triad;
        nstreams[r] = pb.read_streams;
        sh_probe[r] = pb.share;
        fma[r] = probe_fma(&sink, &sh_fma[r]);
        reset_hwm();

        mamba_state_reset(&s);
        pps[r] = ffma[r] = ffma_cpu[r] = sh_prompt[r] = 0.0;
        if (do_prompt) {
#ifdef MAMBA_FORWARD_ALL_LOGITS /* mamba.h has mamba_forward() */
            /* an untimed pass first: right after the probe's 1 GiB sweep the
               weights' page tables and the scratch are cold, and that first pass
               ran 20% slower on our host; the timed pass is the steady state
               (as llama.cpp's llama-bench times after a warm-up run) */
            mamba_forward(&m, &s, tokens, n_prompt, logits, 0, scratch, scratch_bytes);
            mamba_state_reset(&s);
#endif
            span_start(&sp);
#ifdef MAMBA_FORWARD_ALL_LOGITS /* mamba.h has mamba_forward() */
            mamba_forward(&m, &s, tokens, n_prompt, logits, 0, scratch, scratch_bytes);
            prompt_how = "mamba_forward";
#else
            for (i = 0; i < n_prompt; i++) mamba_step(&m, &s, tokens[i], i + 1 == n_prompt ? logits : NULL);
            prompt_how = "mamba_step per token: no mamba_forward yet";
#endif
            pps[r] = n_prompt / span_stop(&sp);
            sh_prompt[r] = sp.cpu / (sp.wall * threads);
            ffma[r] = pps[r] * flops_tok / fma[r];
            /* per CPU second: what the prompt did with the CPU time it got,
               beside what the probe did with its own */
            ffma_cpu[r] = ffma[r] * sh_fma[r] / sh_prompt[r];
        } else
            prompt_how = "not run";

        dps[r] = fbw[r] = sh_decode[r] = 0.0;
        if (do_decode) {
            span_start(&sp);
            for (i = 0; i < n_gen; i++) mamba_step(&m, &s, tokens[n_prompt + i], logits);
            dps[r] = n_gen / span_stop(&sp);
            sh_decode[r] = sp.cpu / (sp.wall * threads);
            sink += logits[0];
            fbw[r] = dps[r] * bpt / bw[r];
        }
        {
            double a, b;
            resident(&a, &b);
            if (a > rss) rss = a;
            if (b > hwm) hwm = b;
        }
    }

    {
        double mbw = median(bw, rounds), mfma = median(fma, rounds), mp = median(pps, rounds),
               md = median(dps, rounds), mfbw = median(fbw, rounds), mffma = median(ffma, rounds);
        double state_bytes = (double)mamba_state_size(&m);
        char b1[128], b2[128], b3[128];
        printf("model      %s: %s matrices, %d layers, d_model %d, %.1f MB file; threads %d, prompt %d, gen %d, "
               "medians (min..max) of %d rounds\n",
               path, mamba_dtype_string(m.layers[0].in_proj.dtype), m.config.n_layer, m.config.d_model, m.size / 1e6,
               threads, n_prompt, n_gen, rounds);
        printf("read       %s GB/s (best of 1, 4, 8 streams per thread: %d in the median round; 1 stream %.1f; "
               "%d MiB buffer)\n",
               spread(b1, sizeof b1, bw, rounds, 1e-9, "%.1f"), nstreams[rounds / 2], median(bw1, rounds) / 1e9,
               bw_mib);
        printf("triad      %s GB/s (STREAM's count, 12 bytes an element)%s\n",
               spread(b2, sizeof b2, triad, rounds, 1e-9, "%.1f"),
               median(triad, rounds) > 1.05 * mbw ? ": ABOVE the read probe, which then is not the limit" : "");
        printf("fma        %s GFLOP/s peak (%s, %d threads)\n", spread(b3, sizeof b3, fma, rounds, 1e-9, "%.1f"),
               FMA_ISA, threads);
        print_share("probes", sh_probe, rounds, threads);
        print_share("fma probe", sh_fma, rounds, threads);
        if (do_prompt) {
            printf("prompt     %s tokens/s (%s)\n", spread(b1, sizeof b1, pps, rounds, 1.0, "%.1f"), prompt_how);
            printf("fma        %s%% of FMA peak in the prompt (%.1f GFLOP/s); per CPU second %s%%\n",
                   spread(b2, sizeof b2, ffma, rounds, 100.0, "%.1f"), mp * flops_tok / 1e9,
                   spread(b3, sizeof b3, ffma_cpu, rounds, 100.0, "%.1f"));
            print_share("prompt", sh_prompt, rounds, threads);
        }
        if (do_decode) {
            printf("decode     %s tokens/s\n", spread(b1, sizeof b1, dps, rounds, 1.0, "%.1f"));
            printf("weights    %.1f MB read per decoded token\n", bpt / 1e6);
            printf("bandwidth  %s%% of measured read bandwidth (%.1f GB/s of %.1f)\n",
                   spread(b2, sizeof b2, fbw, rounds, 100.0, "%.1f"), md * bpt / 1e9, mbw / 1e9);
            print_share("decode", sh_decode, rounds, threads);
        }
        if (rss > 0)
            printf("memory     VmRSS %.1f MB, VmHWM %.1f MB (weights %.1f MB mapped, state %.1f MB)\n", rss / 1e6,
                   hwm / 1e6, m.size / 1e6, state_bytes / 1e6);
        else
            printf("memory     n/a (no /proc)\n");
        /* the table of make bench: dtype threads prompt (spread) decode (spread) read triad fma %bw %fma
           %fma-per-cpu shares(probe fma prompt decode) VmHWM */
        printf("row:       %s %d %.1f %.1f %.1f %.2f %.2f %.2f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.2f %.2f %.2f "
               "%.2f %.1f\n",
               mamba_dtype_string(m.layers[0].in_proj.dtype), threads, mp, vmin(pps, rounds), vmax(pps, rounds), md,
               vmin(dps, rounds), vmax(dps, rounds), mbw / 1e9, median(triad, rounds) / 1e9, mfma / 1e9,
               100 * mfbw, 100 * mffma, 100 * median(ffma_cpu, rounds), bpt / 1e6, vmin(sh_probe, rounds),
               vmin(sh_fma, rounds), vmin(sh_prompt, rounds), vmin(sh_decode, rounds), hwm / 1e6);
    }
    if (sink == 12345.678f) printf("\n"); /* keep the probes' results alive */
#ifdef MAMBA_FORWARD_ALL_LOGITS /* mamba.h has mamba_forward() */
    free(scratch);
#endif
    free(tokens);
    free(logits);
    mamba_state_free(&s);
    mamba_model_close(&m);
    return 0;
}
