/* test_sampler.c - the samplers draw from the distributions they promise.

   Each case draws many tokens with a fixed seed from logits whose softmax
   is known, and compares the counts with the expected probabilities by a
   chi-square test (the bound is far in the tail: a correct sampler fails
   it about once in a million runs, and the seed is fixed anyway). */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "harness.h"

#include <stdlib.h>

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
    return harness_summary();
}
