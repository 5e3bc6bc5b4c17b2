/* fuzz_sampler.c - libFuzzer harness: every sampler parameter and every
   logit is untrusted (NaN, +-Inf, subnormal, huge).

   The input bytes are, in order (missing bytes read as 0):
     1  n: 1 + (b & 31) logits; with bit 7 set, 64 + 8 * (b & 127) (up to 1080), the
        given logits then repeat with a small ramp, so top-p's widening
        selection (64, 256, ...) is reached
     4  temperature   4 top_k   4 top_p   4 min_p   4 repetition_penalty
        (raw little-endian bits: any float, any int)
     8  the rng seed
     1  n_recent (0..63)
     2  each recent id (int16: out-of-range and negative ids included)
     4  each logit (raw float bits)
   mamba_sample() must return an id in 0..n-1, the same one twice from the
   same rng state, and keep the documented promises, checked against the
   logits after the repetition penalty (computed here from the documented
   rule): a +Inf logit is drawn (the first of several); a NaN one never
   while a number is left; -Inf never while a finite logit is left; all
   NaN gives 0; a greedy temperature (NaN, <= 0, below FLT_MIN) gives
   mamba_argmax. Buffers are malloc'ed at their exact sizes. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct reader { const uint8_t *p; size_t n; } reader;

static uint32_t rd32(reader *r)
{
    uint32_t v = 0;
    int i;
    for (i = 0; i < 4; i++) v |= (uint32_t)(r->n ? (r->n--, *r->p++) : 0) << (8 * i);
    return v;
}

static uint32_t rd16(reader *r)
{
    uint32_t v = 0;
    int i;
    for (i = 0; i < 2; i++) v |= (uint32_t)(r->n ? (r->n--, *r->p++) : 0) << (8 * i);
    return v;
}

static float rdf(reader *r)
{
    uint32_t b = rd32(r);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader rd;
    mamba_sampler s;
    mamba_rng rng, rng2;
    int n, n_recent, i, *recent, *work, t, t2, first_inf = -1, any_num = 0, any_finite = 0;
    float *logits, *given, *pen;
    unsigned long long seed;
    const float inf = (float)HUGE_VAL;
    rd.p = data;
    rd.n = size;
    if (size < 1) return 0;
    rd.n--;
    rd.p++;
    n = data[0] & 0x80 ? 64 + 8 * (data[0] & 0x7F) : 1 + (data[0] & 31);
    s.temperature = rdf(&rd);
    s.top_k = (int)rd32(&rd);
    s.top_p = rdf(&rd);
    s.min_p = rdf(&rd);
    s.repetition_penalty = rdf(&rd);
    seed = rd32(&rd);
    seed |= (unsigned long long)rd32(&rd) << 32;
    n_recent = rd.n ? (rd.n--, *rd.p++ & 63) : 0;
    recent = (int *)malloc(sizeof(int) * (size_t)(n_recent ? n_recent : 1));
    logits = (float *)malloc(sizeof(float) * (size_t)n);
    given = (float *)malloc(sizeof(float) * (size_t)n);
    pen = (float *)malloc(sizeof(float) * (size_t)n);
    work = (int *)malloc(sizeof(int) * (size_t)n);
    if (!recent || !logits || !given || !pen || !work) goto done;
    for (i = 0; i < n_recent; i++) {
        uint32_t v = rd16(&rd);
        recent[i] = v & 0x8000u ? (int)v - 0x10000 : (int)v; /* int16 */
    }
    {
        int m = 0;
        for (i = 0; i < n && rd.n >= 4; i++) given[m++] = rdf(&rd);
        if (m == 0) given[m++] = 0.0f;
        for (i = m; i < n; i++) given[i] = given[i % m] - (float)(i / m) * 1e-3f; /* a ramp over the repeats */
    }
    /* the penalty, as documented: each distinct recent id in 0..n-1 once */
    memcpy(pen, given, sizeof(float) * (size_t)n);
    if (s.repetition_penalty > 0.0f && s.repetition_penalty != 1.0f) {
        for (i = 0; i < n_recent; i++) {
            int k, seen = 0, id = recent[i];
            if (id < 0 || id >= n) continue;
            for (k = 0; k < i && !seen; k++) seen = recent[k] == id;
            if (seen) continue;
            if (pen[id] > 0.0f) {
                pen[id] /= s.repetition_penalty;
                if (pen[id] != pen[id]) pen[id] = 0.0f;
            } else if (pen[id] < 0.0f) {
                pen[id] *= s.repetition_penalty;
            }
        }
    }
    for (i = 0; i < n; i++) {
        if (pen[i] == inf && first_inf < 0) first_inf = i;
        any_num |= pen[i] == pen[i];
        any_finite |= pen[i] == pen[i] && pen[i] != inf && pen[i] != -inf;
    }

    mamba_rng_seed(&rng, seed);
    rng2 = rng;
    memcpy(logits, given, sizeof(float) * (size_t)n);
    t = mamba_sample(&s, &rng, logits, n, recent, n_recent, work);
    memcpy(logits, given, sizeof(float) * (size_t)n);
    t2 = mamba_sample(&s, &rng2, logits, n, recent, n_recent, work);
    if (t < 0 || t >= n || t != t2) __builtin_trap();
    if (first_inf >= 0 && t != first_inf) __builtin_trap();              /* +Inf: the first */
    if (!any_num && t != 0) __builtin_trap();                             /* all NaN: 0 */
    if (any_num && pen[t] != pen[t]) __builtin_trap();                    /* never a NaN */
    if (any_finite && first_inf < 0 && pen[t] == -inf) __builtin_trap(); /* never -Inf */
    if (!(s.temperature >= FLT_MIN) && t != mamba_argmax(pen, n)) __builtin_trap(); /* greedy */
    if (mamba_sample(&s, &rng, logits, n, recent, -1, work) != -1) __builtin_trap();
done:
    free(recent);
    free(logits);
    free(given);
    free(pen);
    free(work);
    return 0;
}
