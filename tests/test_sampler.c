/* test_sampler.c - the samplers draw from the distributions they promise.

   Each case draws many tokens with a fixed seed from logits whose softmax
   is known, and compares the counts with the expected probabilities by a
   chi-square test (the bound is far in the tail: a correct sampler fails
   it about once in a million runs, and the seed is fixed anyway). */
#define _POSIX_C_SOURCE 200809L /* alarm: a watchdog for the quadratic repetition penalty */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "harness.h"

#include <float.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#define DRAWS 200000

/* draw DRAWS tokens; return the chi-square of the counts against expect[]
   (tokens with expect 0 must never appear: returns 1e30 if one does) */
static double chi_square(const mamba_sampler *smp, const double *probs, int n, const int *recent, int n_recent,
                         const double *expect, unsigned long long seed)
{
    float logits[16];
    int work[16], counts[16] = {0}, i, d;
    double chi = 0.0;
    mamba_rng rng;
    mamba_rng_seed(&rng, seed);
    for (d = 0; d < DRAWS; d++) {
        int t;
        for (i = 0; i < n; i++) logits[i] = (float)log(probs[i]);
        t = mamba_sample(smp, &rng, logits, n, recent, n_recent, work);
        if (t < 0 || t >= n) return 1e30;
        counts[t]++;
    }
    for (i = 0; i < n; i++) {
        double e = expect[i] * DRAWS;
        if (expect[i] == 0.0) {
            if (counts[i]) return 1e30;
            continue;
        }
        chi += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi;
}

/* the chi-square 1-in-a-million bound for up to 4 degrees of freedom is ~33 */
#define CHI_MAX 33.0

/* the same draws from logits given directly (NaN and +-Inf allowed) */
static double chi_square_logits(const mamba_sampler *smp, const float *lg0, int n, const double *expect,
                                unsigned long long seed)
{
    float logits[16];
    int work[16], counts[16] = {0}, i, d;
    double chi = 0.0;
    mamba_rng rng;
    mamba_rng_seed(&rng, seed);
    for (d = 0; d < DRAWS; d++) {
        int t;
        memcpy(logits, lg0, sizeof(float) * (size_t)n);
        t = mamba_sample(smp, &rng, logits, n, NULL, 0, work);
        if (t < 0 || t >= n) return 1e30;
        counts[t]++;
    }
    for (i = 0; i < n; i++) {
        double e = expect[i] * DRAWS;
        if (expect[i] == 0.0) {
            if (counts[i]) return 1e30;
            continue;
        }
        chi += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi;
}

/* the token drawn every time from these logits in `draws` draws, or -2 if
   the draws disagree */
static int always(const mamba_sampler *smp, const float *lg0, int n, int draws)
{
    float logits[16];
    int work[16], d, first = -3;
    mamba_rng rng;
    mamba_rng_seed(&rng, 11);
    for (d = 0; d < draws; d++) {
        int t;
        memcpy(logits, lg0, sizeof(float) * (size_t)n);
        t = mamba_sample(smp, &rng, logits, n, NULL, 0, work);
        if (d == 0) first = t;
        else if (t != first) return -2;
    }
    return first;
}

/* what the watchdog reports when it fires (set before each alarm) */
static const char *watchdog_what = "";

static void watchdog(int sig)
{
    static const char msg[] = "FAIL test_sampler: did not finish within 120 s (quadratic?): ";
    (void)sig;
    if (write(1, msg, sizeof msg - 1) < 0 || write(1, watchdog_what, strlen(watchdog_what)) < 0 ||
        write(1, "\n", 1) < 0)
        _exit(2);
    _exit(1);
}

/* 1 if idx[0..k) holds exactly the k most likely of idx[0..n) (ties by id) */
static int is_top(const float *p, const int *idx, int n, int k)
{
    int a, b;
    for (a = 0; a < k; a++)
        for (b = k; b < n; b++)
            if (!mamba__before(p, idx[a], idx[b])) return 0;
    return 1;
}

/* The selection and the sort under top-k and top-p stay O(n log n) at
   worst: top-p on a flat distribution (a high temperature) sorts every
   candidate, which an insertion sort did in O(n^2) (1.9 s for 400,000 ids
   here; a reversed order of 10^6 would take hours); and a median-of-three
   quickselect can be led into O(n^2) by a crafted order, so it falls back to
   a heap. Both paths are checked against brute force. */
static void test_sort_bounds(void)
{
    enum { N = 1000000 };
    float *p = (float *)malloc(sizeof(float) * N);
    int *idx = (int *)malloc(sizeof(int) * N), i, ok = 1, trial;
    mamba_rng g;
    if (!p || !idx) { CHECK(0, "out of memory"); return; }
    for (i = 0; i < N; i++) { p[i] = (float)i / (float)N; idx[i] = i; } /* ascending: the sort's worst order */
    fflush(stdout);
    watchdog_what = "sorting 10^6 candidates in reverse order";
    signal(SIGALRM, watchdog);
    alarm(120);
    mamba__sort_top(p, idx, N);
    alarm(0);
    for (i = 0; i < N; i++) ok &= idx[i] == N - 1 - i;
    CHECK(ok, "10^6 candidates sorted by descending p");
    /* small random cases with many ties: heap selection, quickselect, both sorts */
    mamba_rng_seed(&g, 77);
    for (trial = 0; trial < 3000 && ok; trial++) {
        int n = 1 + (int)(mamba_rng_u32(&g) % 300), k = 1 + (int)(mamba_rng_u32(&g) % (unsigned)n), j;
        for (i = 0; i < n; i++) { p[i] = (float)(mamba_rng_u32(&g) % 7); idx[i] = n - 1 - i; }
        mamba__select_top_heap(p, idx, n, k);
        ok &= is_top(p, idx, n, k);
        for (i = 0; i < n; i++) idx[i] = i;
        mamba__select_top(p, idx, n, k);
        ok &= is_top(p, idx, n, k);
        mamba__sort_top(p, idx, k);
        for (j = 1; j < k; j++) ok &= mamba__before(p, idx[j - 1], idx[j]);
    }
    CHECK(ok, "heap selection, quickselect and the sort agree with brute force (trial %d)", trial);
    free(p);
    free(idx);
}

/* Every parameter over its whole range, NaN and +-Inf logits (issue 13,
   items 1, 2, 6): each case has a defined result, never an id outside
   0..n-1, never a read outside work (ASan in tests/t_sanitize.sh). */
static void test_edges(void)
{
    const float nan_f = (float)nan(""), inf = (float)HUGE_VAL;
    /* probabilities 0.05 0.15 0.5 0.3: the best is not token 0, so a
       sampler that falls back to 0 is caught */
    float lg[4];
    mamba_sampler s = mamba_sampler_default();
    int i;
    lg[0] = (float)log(0.05); lg[1] = (float)log(0.15); lg[2] = (float)log(0.5); lg[3] = (float)log(0.3);

    /* min-p above 1, +Inf, exactly 1: the best alone (it used to drop every
       candidate and read work[-1]) */
    {
        const float mins[4] = {1.5f, 1.0f, 1e30f, 0.0f};
        int k;
        for (k = 0; k < 4; k++) {
            s.min_p = k == 3 ? inf : mins[k];
            CHECK(always(&s, lg, 4, 2000) == 2, "min_p %g keeps the best only", (double)s.min_p);
        }
        s.top_k = 3; s.top_p = 0.2f; /* with the other filters too */
        CHECK(always(&s, lg, 4, 2000) == 2, "min_p +Inf after top-k and top-p");
        s = mamba_sampler_default();
        /* the tokens tied with the best all stay, in their proportion */
        {
            float tie[4] = {1.0f, 3.0f, 3.0f, 0.0f};
            double e[4] = {0, 0.5, 0.5, 0}, chi;
            s.min_p = inf;
            chi = chi_square_logits(&s, tie, 4, e, 21);
            CHECK(chi < CHI_MAX, "min_p +Inf with a tie at the top draws both: chi2 %.2f", chi);
            s.min_p = nan_f;
            {
                double z = exp(1.0) + 2 * exp(3.0) + 1.0, e2[4];
                e2[0] = exp(1.0) / z; e2[1] = exp(3.0) / z; e2[2] = e2[1]; e2[3] = 1.0 / z;
                chi = chi_square_logits(&s, tie, 4, e2, 22);
                CHECK(chi < CHI_MAX, "min_p NaN is off: chi2 %.2f", chi);
            }
            s = mamba_sampler_default();
        }
    }
    /* one NaN logit anywhere: never drawn, the others keep their softmax
       (it used to make every probability NaN and return token 0) */
    for (i = 0; i < 4; i++) {
        float l2[4];
        double e[4], rest = 0, chi;
        int k;
        memcpy(l2, lg, sizeof l2);
        l2[i] = nan_f;
        for (k = 0; k < 4; k++) rest += k == i ? 0.0 : exp((double)lg[k]);
        for (k = 0; k < 4; k++) e[k] = k == i ? 0.0 : exp((double)lg[k]) / rest;
        chi = chi_square_logits(&s, l2, 4, e, 30 + (unsigned long long)i);
        CHECK(chi < CHI_MAX, "a NaN logit at %d is never drawn, the rest are the softmax: chi2 %.2f", i, chi);
    }
    /* +Inf: always drawn, the first of several; with every filter on */
    {
        float l2[4];
        memcpy(l2, lg, sizeof l2);
        l2[3] = inf;
        CHECK(always(&s, l2, 4, 1000) == 3, "a single +Inf logit is drawn");
        l2[1] = inf;
        CHECK(always(&s, l2, 4, 1000) == 1, "two +Inf logits: the first");
        l2[0] = nan_f;
        s.top_k = 2; s.top_p = 0.5f; s.min_p = 0.5f; s.temperature = 0.7f;
        CHECK(always(&s, l2, 4, 1000) == 1, "+Inf with NaN and every filter");
        s = mamba_sampler_default();
    }
    /* -Inf: never drawn while a finite logit is left; all -Inf or all NaN: argmax */
    {
        float l2[4] = {0, 0, 0, 0};
        double e[4] = {0, 0.5, 0, 0.5}, chi;
        l2[0] = -inf; l2[2] = -inf;
        chi = chi_square_logits(&s, l2, 4, e, 40);
        CHECK(chi < CHI_MAX, "-Inf logits are never drawn: chi2 %.2f", chi);
        l2[1] = -inf; l2[3] = -inf;
        CHECK(always(&s, l2, 4, 100) == 0, "all -Inf: token 0 (mamba_argmax)");
        l2[0] = nan_f; l2[1] = nan_f; l2[2] = nan_f; l2[3] = nan_f;
        CHECK(always(&s, l2, 4, 100) == 0, "all NaN: token 0 (mamba_argmax)");
        l2[2] = -inf;
        CHECK(always(&s, l2, 4, 100) == 2, "NaN and one -Inf: the -Inf (mamba_argmax: %d)", mamba_argmax(l2, 4));
    }
    /* tiny, zero, negative, NaN temperatures: greedy (1e-45 used to overflow
       1/T and return token 0, so `generate --temp 1e-45` stopped at once) */
    {
        const float temps[8] = {1e-45f, FLT_MIN / 2, FLT_MIN, 1e-30f, 1e-6f, 0.0f, -1.0f, 0.0f};
        int k;
        for (k = 0; k < 8; k++) {
            s.temperature = k == 7 ? nan_f : temps[k];
            CHECK(always(&s, lg, 4, 1000) == 2, "temperature %g: greedy", (double)s.temperature);
        }
        s.temperature = -inf;
        CHECK(always(&s, lg, 4, 100) == 2, "temperature -Inf: greedy");
        /* a tie at the top: the first, as mamba_argmax */
        {
            float tie[4] = {1.0f, 3.0f, 3.0f, 0.0f};
            s.temperature = 1e-45f;
            CHECK(always(&s, tie, 4, 1000) == 1, "subnormal temperature with a tie: the first best");
        }
        s = mamba_sampler_default();
    }
    /* the greedy samplers agree with mamba_argmax on random logits with NaN and +-Inf in them */
    {
        mamba_rng g;
        int trial, agree = 1;
        mamba_rng_seed(&g, 5);
        for (trial = 0; trial < 20000; trial++) {
            float l2[16], keep[16];
            int work[16], n = 1 + (int)(mamba_rng_u32(&g) % 16), k, a, t;
            for (k = 0; k < n; k++) {
                unsigned u = mamba_rng_u32(&g) % 10;
                l2[k] = u == 0 ? nan_f : u == 1 ? inf : u == 2 ? -inf : (float)(mamba_rng_u32(&g) % 5);
            }
            memcpy(keep, l2, sizeof keep);
            a = mamba_argmax(keep, n);
            s.temperature = trial & 1 ? 1e-45f : 0.0f;
            t = mamba_sample(&s, &g, l2, n, NULL, 0, work);
            if (t != a) agree = 0;
            /* at T = 1 the draw is never a NaN, and is a +Inf if there is one */
            memcpy(l2, keep, sizeof keep);
            s.temperature = 1.0f;
            t = mamba_sample(&s, &g, l2, n, NULL, 0, work);
            if (t < 0 || t >= n || (keep[t] != keep[t] && keep[a] == keep[a]) || (keep[a] == inf && t != a)) agree = 0;
        }
        CHECK(agree, "greedy and tiny-temperature sampling are mamba_argmax; T = 1 never draws NaN, always +Inf");
        s = mamba_sampler_default();
    }
    /* temperature +Inf: uniform over the finite logits */
    {
        float l2[5];
        double e[5] = {1.0 / 3, 1.0 / 3, 0, 0, 1.0 / 3}, chi;
        l2[0] = (float)log(0.5); l2[1] = (float)log(0.3); l2[2] = -inf; l2[3] = nan_f; l2[4] = -3e38f;
        s.temperature = inf;
        chi = chi_square_logits(&s, l2, 5, e, 50);
        CHECK(chi < CHI_MAX, "temperature +Inf is uniform over the finite logits: chi2 %.2f", chi);
        l2[0] = 3e38f; /* gaps near 2 FLT_MAX at a small temperature: no overflow to NaN */
        s.temperature = 1e-30f;
        CHECK(always(&s, l2, 5, 100) == 0, "huge gaps, tiny T: the best");
        s = mamba_sampler_default();
    }
    /* top-p over its range: NaN and >= 1 off, <= 0 the best alone */
    {
        double e[4] = {0.05, 0.15, 0.5, 0.3}, chi;
        const float tp[4] = {0.0f, -1.0f, 1e-30f, 0.0f};
        int k;
        s.top_p = nan_f;
        chi = chi_square_logits(&s, lg, 4, e, 60);
        CHECK(chi < CHI_MAX, "top_p NaN is off: chi2 %.2f", chi);
        s.top_p = inf;
        chi = chi_square_logits(&s, lg, 4, e, 61);
        CHECK(chi < CHI_MAX, "top_p +Inf is off: chi2 %.2f", chi);
        for (k = 0; k < 4; k++) {
            s.top_p = k == 3 ? -inf : tp[k];
            CHECK(always(&s, lg, 4, 1000) == 2, "top_p %g: the best alone", (double)s.top_p);
        }
        s = mamba_sampler_default();
        /* top-k over its range */
        s.top_k = INT_MIN;
        chi = chi_square_logits(&s, lg, 4, e, 62);
        CHECK(chi < CHI_MAX, "top_k INT_MIN is off: chi2 %.2f", chi);
        s.top_k = INT_MAX;
        chi = chi_square_logits(&s, lg, 4, e, 63);
        CHECK(chi < CHI_MAX, "top_k INT_MAX is off: chi2 %.2f", chi);
        s.top_k = 1;
        CHECK(always(&s, lg, 4, 1000) == 2, "top_k 1: the best");
        s = mamba_sampler_default();
    }
    /* repetition penalty over its range */
    {
        int recent[3] = {0, 1, 2}, work[4];
        float l2[4];
        mamba_rng g;
        const float offs[4] = {0.0f, -2.0f, 1.0f, 0.0f};
        int k, ok = 1;
        mamba_rng_seed(&g, 1);
        s.temperature = 0.0f; /* greedy: the logits are left penalised, not turned into probabilities */
        for (k = 0; k < 5; k++) {
            l2[0] = 2.0f; l2[1] = 0.0f; l2[2] = -1.0f; l2[3] = 1.0f;
            s.repetition_penalty = k == 3 ? nan_f : k == 4 ? -inf : offs[k];
            mamba_sample(&s, &g, l2, 4, recent, 3, work);
            ok &= l2[0] == 2.0f && l2[1] == 0.0f && l2[2] == -1.0f && l2[3] == 1.0f;
        }
        CHECK(ok, "penalty 0, negative, 1, NaN, -Inf: off");
        l2[0] = 2.0f; l2[1] = 0.0f; l2[2] = -1.0f; l2[3] = 1.0f;
        s.repetition_penalty = inf;
        CHECK(mamba_sample(&s, &g, l2, 4, recent, 3, work) == 3 && l2[0] == 0.0f && l2[1] == 0.0f && l2[2] == -inf,
              "penalty +Inf: 2 -> 0, 0 stays 0 (not NaN), -1 -> -Inf (got %g %g %g)", (double)l2[0], (double)l2[1],
              (double)l2[2]);
        l2[0] = inf; l2[1] = 5.0f; l2[2] = -1.0f; l2[3] = 1.0f;
        CHECK(mamba_sample(&s, &g, l2, 4, recent, 1, work) == 1 && l2[0] == 0.0f, "penalty +Inf on a +Inf logit: 0");
        l2[0] = 1.0f; l2[1] = 5.0f; l2[2] = -1.0f; l2[3] = 1.0f;
        s.repetition_penalty = 1e-45f; /* far below 1: 1 / 1e-45 overflows to +Inf, which is then drawn */
        s.temperature = 1.0f;
        CHECK(mamba_sample(&s, &g, l2, 4, recent, 1, work) == 0, "penalty 1e-45 lifts a recent token to +Inf");
        s = mamba_sampler_default();
    }
    /* the de-duplication is linear: 10^6 distinct recent ids (and each three
       times over) are penalised exactly once each. The quadratic one took
       hours here; the watchdog turns that into a failure, not a hang. */
    {
        enum { N = 1000000 };
        float *l2 = (float *)malloc(sizeof(float) * N);
        int *recent = (int *)malloc(sizeof(int) * 3 * N), *work = (int *)malloc(sizeof(int) * N);
        mamba_rng g;
        int k, ok = 1;
        if (!l2 || !recent || !work) { CHECK(0, "out of memory"); return; }
        for (k = 0; k < N; k++) recent[k] = (int)(((long long)k * 7919) % N); /* a permutation: 7919 is prime */
        for (k = 0; k < 2 * N; k++) recent[N + k] = recent[k % N];
        for (k = 0; k < N; k++) l2[k] = k == 77 ? 0.5f : -1.0f;
        mamba_rng_seed(&g, 2);
        s.temperature = 0.0f;
        s.repetition_penalty = 2.0f;
        fflush(stdout); /* the watchdog's _exit drops stdio buffers */
        watchdog_what = "the repetition penalty over 10^6 recent ids";
        signal(SIGALRM, watchdog);
        alarm(120);
        CHECK(mamba_sample(&s, &g, l2, N, recent, 3 * N, work) == 77, "the best stays the best");
        alarm(0);
        for (k = 0; k < N; k++) ok &= l2[k] == (k == 77 ? 0.25f : -2.0f);
        CHECK(ok, "3 * 10^6 recent ids, 10^6 distinct: each penalised once");
        s = mamba_sampler_default();
        free(l2); free(recent); free(work);
    }
}

int main(void)
{
    const double p4[4] = {0.5, 0.3, 0.15, 0.05};
    mamba_sampler s = mamba_sampler_default();
    mamba_rng a, b;
    int i, same = 1;

    /* the generator: reproducible, seeds give different streams, uniform mean */
    {
        double mean = 0.0;
        mamba_rng_seed(&a, 42);
        mamba_rng_seed(&b, 42);
        for (i = 0; i < 1000; i++) same &= mamba_rng_u32(&a) == mamba_rng_u32(&b);
        CHECK(same, "same seed, same stream");
        mamba_rng_seed(&b, 43);
        CHECK(mamba_rng_u32(&a) != mamba_rng_u32(&b), "other seed, other stream");
        mamba_rng_seed(&a, 0);
        for (i = 0; i < 100000; i++) {
            float f = mamba_rng_float(&a);
            if (f < 0.0f || f >= 1.0f) same = 0;
            mean += f;
        }
        CHECK(same, "floats in [0, 1)");
        CHECK_NEAR(mean / 100000, 0.5, 0.005);
    }
    {
        double e[4] = {0.5, 0.3, 0.15, 0.05}, chi = chi_square(&s, p4, 4, NULL, 0, e, 1);
        CHECK(chi < CHI_MAX, "temperature 1 draws the softmax: chi2 %.2f", chi);
    }
    {
        /* T = 0.5 squares the probabilities: 0.25, 0.09, 0.0225, 0.0025 over 0.365 */
        double z = 0.25 + 0.09 + 0.0225 + 0.0025, e[4], chi;
        e[0] = 0.25 / z; e[1] = 0.09 / z; e[2] = 0.0225 / z; e[3] = 0.0025 / z;
        s.temperature = 0.5f;
        chi = chi_square(&s, p4, 4, NULL, 0, e, 2);
        CHECK(chi < CHI_MAX, "temperature 0.5: chi2 %.2f", chi);
        s = mamba_sampler_default();
    }
    {
        double e[4] = {0.5 / 0.8, 0.3 / 0.8, 0, 0}, chi;
        s.top_k = 2;
        chi = chi_square(&s, p4, 4, NULL, 0, e, 3);
        CHECK(chi < CHI_MAX, "top-k 2: chi2 %.2f", chi);
        s = mamba_sampler_default();
        s.top_p = 0.7f; /* 0.5 is not enough, 0.5 + 0.3 is */
        chi = chi_square(&s, p4, 4, NULL, 0, e, 4);
        CHECK(chi < CHI_MAX, "top-p 0.7: chi2 %.2f", chi);
        s = mamba_sampler_default();
    }
    {
        double e[4] = {1, 0, 0, 0}, chi;
        s.top_p = 0.4f;
        chi = chi_square(&s, p4, 4, NULL, 0, e, 5);
        CHECK(chi < CHI_MAX, "top-p 0.4 keeps only the best: chi2 %.2f", chi);
        s = mamba_sampler_default();
    }
    {
        /* min-p 0.2: floor 0.1, so 0.05 goes; 0.5, 0.3, 0.15 over 0.95 */
        double e[4] = {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}, chi;
        s.min_p = 0.2f;
        chi = chi_square(&s, p4, 4, NULL, 0, e, 6);
        CHECK(chi < CHI_MAX, "min-p 0.2: chi2 %.2f", chi);
        s = mamba_sampler_default();
    }
    {
        /* penalty 2 on token 0 (listed twice, applied once): its logit log 0.5 < 0
           is doubled: exp(2 log 0.5) = 0.25, so 0.25, 0.3, 0.15, 0.05 over 0.75 */
        int recent[3] = {0, 0, 2};
        double e[4], chi;
        e[0] = 0.25 / 0.75; e[1] = 0.3 / 0.75; e[2] = 0.15 / 0.75; e[3] = 0.05 / 0.75;
        s.repetition_penalty = 2.0f;
        chi = chi_square(&s, p4, 4, recent, 2, e, 7);
        CHECK(chi < CHI_MAX, "repetition penalty: chi2 %.2f", chi);
        /* a positive logit is divided instead */
        {
            float lg[3] = {2.0f, 1.5f, -1.0f};
            int work[3];
            s.temperature = 0.0f;
            CHECK(mamba_sample(&s, &a, lg, 3, recent, 1, work) == 1, "penalised 2.0 -> 1.0 loses to 1.5");
        }
        s = mamba_sampler_default();
    }
    {
        /* composition: top-k 3 leaves 0.5, 0.3, 0.15, renormalised over 0.95 to
           0.526, 0.316, 0.158; top-p 0.8 then needs the first two (0.842) */
        double e[4] = {0.5 / 0.8, 0.3 / 0.8, 0, 0}, chi;
        s.top_k = 3;
        s.top_p = 0.8f;
        chi = chi_square(&s, p4, 4, NULL, 0, e, 8);
        CHECK(chi < CHI_MAX, "top-k 3 + top-p 0.8: chi2 %.2f", chi);
        /* top-p 0.9 needs all three (0.842 < 0.9) */
        {
            double e3[4] = {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0};
            s.top_p = 0.9f;
            chi = chi_square(&s, p4, 4, NULL, 0, e3, 9);
            CHECK(chi < CHI_MAX, "top-k 3 + top-p 0.9: chi2 %.2f", chi);
        }
        s = mamba_sampler_default();
    }
    {
        /* greedy, ties, and the padding rows past n are never drawn */
        float lg[6] = {0.1f, 3.0f, 3.0f, -1.0f, 100.0f, 100.0f};
        int work[6], t, bad = 0;
        s.temperature = 0.0f;
        CHECK(mamba_sample(&s, &a, lg, 4, NULL, 0, work) == 1, "greedy takes the first best");
        s = mamba_sampler_default();
        for (i = 0; i < 10000; i++) {
            float l2[6] = {0.1f, 3.0f, 3.0f, -1.0f, 100.0f, 100.0f};
            t = mamba_sample(&s, &a, l2, 4, NULL, 0, work);
            bad |= t < 0 || t >= 4;
        }
        CHECK(!bad, "only ids below n are drawn");
        CHECK(mamba_sample(&s, &a, NULL, 4, NULL, 0, work) == -1, "NULL logits");
        CHECK(mamba_sample(&s, &a, lg, 0, NULL, 0, work) == -1, "n = 0");
        CHECK(mamba_sample(&s, &a, lg, 4, NULL, 2, work) == -1, "recent NULL with n_recent 2");
    }
    {
        /* a vocabulary-sized case: top-p over 50,000 random logits picks exactly
           the prefix a full sort picks */
        enum { N = 50000 };
        float *lg = (float *)malloc(sizeof(float) * N), *pr = (float *)malloc(sizeof(float) * N);
        int *work = (int *)malloc(sizeof(int) * N), *hits = (int *)calloc(N, sizeof(int));
        int d, outside = 0, k;
        double sum = 0, mass = 0, thresh;
        mamba_rng g;
        mamba_rng_seed(&g, 99);
        for (i = 0; i < N; i++) { lg[i] = 4.0f * mamba_rng_float(&g) * mamba_rng_float(&g) * 3.0f; }
        for (i = 0; i < N; i++) sum += exp(lg[i] - 12.0);
        /* the nucleus by brute force: descending probabilities until mass >= 0.5 */
        for (i = 0; i < N; i++) pr[i] = (float)(exp(lg[i] - 12.0) / sum);
        {
            float *sorted = (float *)malloc(sizeof(float) * N);
            memcpy(sorted, pr, sizeof(float) * N);
            {
                int gap, j;
                for (gap = N / 2; gap > 0; gap /= 2)
                    for (i = gap; i < N; i++) {
                        float v = sorted[i];
                        for (j = i; j >= gap && sorted[j - gap] < v; j -= gap) sorted[j] = sorted[j - gap];
                        sorted[j] = v;
                    }
            }
            for (k = 0; k < N && mass < 0.5; k++) mass += sorted[k];
            thresh = sorted[k - 1];
            free(sorted);
        }
        s.top_p = 0.5f;
        for (d = 0; d < 20000; d++) {
            int t;
            memcpy(pr, lg, sizeof(float) * N);
            t = mamba_sample(&s, &g, pr, N, NULL, 0, work);
            if (t < 0 || exp(lg[t] - 12.0) / sum < thresh * (1 - 1e-5)) outside++;
            else hits[t]++;
        }
        CHECK(outside == 0, "top-p 0.5 over 50k ids: %d draws outside the %d-token nucleus", outside, k);
        free(lg); free(pr); free(work); free(hits);
    }
    test_edges();
    test_sort_bounds();
    return harness_summary();
}
