/* test_simd.c - the fast dot products of mamba.h (AVX-512, AVX2, NEON, Helium:
   whichever this build compiled in) against the scalar references, on
   lengths that hit every tail, from misaligned pointers; and the q8 layout
   (blocks of 32, f16 scales, short last blocks) against a double-precision
   sum over weights dequantised here from the definition in docs/format.md. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "harness.h"

#include <math.h>
#include <stdlib.h>

static unsigned int rng_state = 12345u;

static float frand(void) /* uniform in [-1, 1) */
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

/* f32 -> f16 bits, round to nearest even (no overflow handling: not needed here) */
static uint16_t to_f16(float f)
{
    uint32_t b, sign, man;
    int exp;
    memcpy(&b, &f, 4);
    sign = (b >> 16) & 0x8000u;
    exp = (int)((b >> 23) & 0xFF) - 127 + 15;
    man = b & 0x7FFFFFu;
    if (exp <= 0) /* subnormal half: a multiple of 2^-24 (tiny block scales) */
        return (uint16_t)(sign | (uint32_t)lrintf(fabsf(f) * 16777216.0f));
    {
        uint32_t h = ((uint32_t)exp << 10) | (man >> 13), rest = man & 0x1FFFu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
        return (uint16_t)(sign | h);
    }
}

static uint16_t to_bf16(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

/* A q8 matrix laid out as docs/format.md says: rows*nb*32 int8, then
   rows*nb f16 scales. Quantised here from the definition. */
static unsigned char *make_q8(const float *w, int rows, int cols)
{
    int nb = (cols + 31) / 32, r, b, i;
    unsigned char *buf = (unsigned char *)calloc((size_t)rows * nb * 34 + 64, 1);
    int8_t *q = (int8_t *)buf;
    uint16_t *d = (uint16_t *)(void *)(buf + (size_t)rows * nb * 32);
    for (r = 0; r < rows; r++)
        for (b = 0; b < nb; b++) {
            float amax = 0, scale;
            for (i = b * 32; i < cols && i < b * 32 + 32; i++)
                if (fabsf(w[r * cols + i]) > amax) amax = fabsf(w[r * cols + i]);
            d[r * nb + b] = to_f16(amax / 127.0f);
            scale = mamba__f16_to_f32(d[r * nb + b]);
            for (i = b * 32; i < cols && i < b * 32 + 32; i++) {
                float v = scale > 0 ? w[r * cols + i] / scale : 0;
                v = v > 127 ? 127 : v < -127 ? -127 : v;
                q[(size_t)r * nb * 32 + i] = (int8_t)lrintf(v);
            }
            /* padding stays 0, as the writer leaves it; below it is also
               filled with junk once to show it is never read */
        }
    return buf;
}

/* The scan that io describes, twice from the same state: the reference into
   io's h and y, then mamba__scan (the SIMD kernels) into SB and yB. */
static void scan_both(mamba__scan_io *io, float *SB, float *yB, int T, int batched)
{
    mamba__scan_scalar(io, 0, io->n_head, T);
    io->h = SB;
    io->y = yB;
    mamba__scan(io, T, batched);
}

int main(void)
{
    static const int sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65,
                                79, 80, 100, 127, 128, 129, 255, 767, 768, 769, 1536, 1537};
    const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    float *w = (float *)malloc(sizeof(float) * 2100), *x = (float *)malloc(sizeof(float) * 2100);
    uint16_t *h = (uint16_t *)malloc(sizeof(uint16_t) * 2100), *bf = (uint16_t *)malloc(sizeof(uint16_t) * 2100);
    int s, i, off;
    const char *path =
#if defined(MAMBA__AVX512)
        "AVX-512";
#elif defined(MAMBA__AVX2)
        "AVX2";
#elif defined(MAMBA__NEON)
        "NEON";
#elif defined(MAMBA__MVE)
        "Helium (MVE)";
#else
        "scalar";
#endif
    printf("kernels under test: %s\n", path);
    if (!w || !x || !h || !bf) return 1;

    /* 1. every fast dot = its scalar reference, to float rounding. The bound:
          both sums differ only in order, so |fast - ref| <= n eps sum|w x|
          (the standard bound); in practice far less. Offsets 0..3 make the
          loads unaligned. */
    for (off = 0; off < 4; off++) {
        for (s = 0; s < nsizes; s++) {
            int n = sizes[s];
            double mag = 0, ref64 = 0;
            float ref, fast, tol;
            for (i = 0; i < n + 4; i++) {
                w[i] = frand();
                x[i] = frand();
                h[i] = to_f16(w[i]);
                bf[i] = to_bf16(w[i]);
            }
            for (i = 0; i < n; i++) {
                mag += fabs((double)w[off + i] * x[off + i]);
                ref64 += (double)w[off + i] * x[off + i];
            }
            tol = (float)(n * 1.2e-7 * mag + 1e-30);
            ref = mamba__dot_f32_scalar(w + off, x + off, n);
            fast = mamba__dot_f32(w + off, x + off, n);
            CHECK(fabsf(fast - ref) <= tol, "f32 n=%d off=%d: fast %.9g ref %.9g", n, off, fast, ref);
            CHECK(fabs(ref - ref64) <= tol, "f32 scalar n=%d: %.9g vs double %.9g", n, ref, ref64);
            ref = mamba__dot_f16_scalar(h + off, x + off, n);
            fast = mamba__dot_f16(h + off, x + off, n);
            CHECK(fabsf(fast - ref) <= tol, "f16 n=%d off=%d: fast %.9g ref %.9g", n, off, fast, ref);
            ref = mamba__dot_bf16_scalar(bf + off, x + off, n);
            fast = mamba__dot_bf16(bf + off, x + off, n);
            CHECK(fabsf(fast - ref) <= tol, "bf16 n=%d off=%d: fast %.9g ref %.9g", n, off, fast, ref);
        }
    }

    /* 1b. the decode matvec of f32 / f16 / bf16 matrices: it reads four rows
           from four quarters of the matrix in one kernel call (repeating a row
           where the last quarter is short); every row must come out with the
           very bits of the one-row dot product, and the bias added. 2..9 rows
           cover every short last quarter. */
    {
        static const int dts[3] = {MAMBA_DTYPE_F32, MAMBA_DTYPE_F16, MAMBA_DTYPE_BF16};
        static const int colss[4] = {1, 37, 64, 769};
        float bias[9], out[9];
        int t, c, rows, r;
        for (i = 0; i < 9; i++) bias[i] = 0.25f * (float)i;
        for (t = 0; t < 3; t++)
            for (c = 0; c < 4; c++)
                for (rows = 1; rows <= 9; rows++) {
                    const int cols = colss[c];
                    const size_t es = dts[t] == MAMBA_DTYPE_F32 ? 4 : 2;
                    mamba_matrix W;
                    unsigned char *m = (unsigned char *)malloc(es * (size_t)rows * cols);
                    for (i = 0; i < rows * cols; i++) {
                        float v = frand();
                        if (es == 4) memcpy(m + 4 * (size_t)i, &v, 4);
                        else {
                            uint16_t u = dts[t] == MAMBA_DTYPE_F16 ? to_f16(v) : to_bf16(v);
                            memcpy(m + 2 * (size_t)i, &u, 2);
                        }
                    }
                    for (i = 0; i < cols; i++) x[i] = frand();
                    W.data = m;
                    W.dtype = dts[t];
                    W.rows = rows;
                    W.cols = cols;
                    mamba__matvec_x(out, &W, x, bias, NULL, NULL);
                    for (r = 0; r < rows; r++) {
                        const void *row = m + es * (size_t)r * cols;
                        float one = dts[t] == MAMBA_DTYPE_F32   ? mamba__dot_f32(row, x, cols)
                                    : dts[t] == MAMBA_DTYPE_F16 ? mamba__dot_f16(row, x, cols)
                                                                : mamba__dot_bf16(row, x, cols);
                        CHECK(out[r] == one + bias[r], "%s matvec rows=%d cols=%d row %d: %.9g vs %.9g",
                              mamba_dtype_string(dts[t]), rows, cols, r, out[r], one + bias[r]);
                    }
                    free(m);
                }
    }

    /* 2. q8 matrices with rows of awkward lengths (48 = dt_rank of
          mamba-130m: 1.5 blocks). The input is quantised to int16 per
          block of 32 (mamba__q8_quant_x), then multiplied in integers:
          - the fast quantiser gives the very bits of the scalar one;
          - the scalar integer dot against a double sum of the dequantised
            weights times the UNquantised x: besides f32 rounding it may
            differ by what rounding x moved, |x_i - xq_i s_b| <= s_b / 2
            (s_b = max|x in block b| / 32767) plus the rounding of x_i / s_b
            in f32 (a 2^-24 relative error on a value up to 32767: 0.002
            of a step), so the bound is sum_i |w_i| s_b (0.5 + 0.01);
          - the fast dot against the scalar one, to f32 rounding (both sum
            exact integer block sums, in another order);
          - mamba__matvec_x (4 rows a call) gives the fast dot's very bits,
            and mamba__matvec (no scratch: quantises a chunk at a time) and
            mamba__matvec_rows the same to f32 rounding;
          - the embedding lookup against the definition. */
    for (s = 0; s < nsizes; s++) {
        int cols = sizes[s], rows = 5, r, nb = (cols + 31) / 32;
        mamba_matrix W;
        unsigned char *buf;
        float out[5], out2[5], out3[5], row[1600], xs[64], xs2[64];
        int16_t xq[2048], xq2[2048];
        float *ww = (float *)malloc(sizeof(float) * (size_t)rows * cols);
        const int8_t *q;
        const uint16_t *d;
        for (i = 0; i < rows * cols; i++) ww[i] = 0.05f * frand();
        for (i = 0; i < cols + 1; i++) x[i] = frand() * (i % 37 == 5 ? 20.0f : 1.0f); /* a few outliers */
        buf = make_q8(ww, rows, cols);
        q = (const int8_t *)buf;
        d = (const uint16_t *)(const void *)(buf + (size_t)rows * nb * 32);
        W.data = buf;
        W.dtype = MAMBA_DTYPE_Q8;
        W.rows = rows;
        W.cols = cols;
        for (i = 0; i < 2048; i++) xq[i] = xq2[i] = 7; /* junk: the padding must be overwritten */
        mamba__q8_quant_x_scalar(xq, xs, x + 1, cols);
        mamba__q8_quant_x(xq2, xs2, x + 1, cols);
        CHECK(memcmp(xq, xq2, sizeof(int16_t) * 32 * (size_t)nb) == 0 && memcmp(xs, xs2, sizeof(float) * (size_t)nb) == 0,
              "q8 quant_x cols=%d: fast and scalar differ", cols);
        for (i = cols; i < 32 * nb; i++) CHECK(xq[i] == 0, "q8 quant_x cols=%d: padding %d not zero", cols, i);
        mamba__matvec_x(out, &W, x + 1, NULL, xq2, xs2);
        mamba__matvec(out2, &W, x + 1, NULL);
        mamba__matvec_rows(out3, &W, x + 1, NULL, 0, rows);
        for (r = 0; r < rows; r++) {
            double ref64 = 0, mag = 0, wq_err = 0, xbound = 0;
            float ref, fast, tol;
            for (i = 0; i < cols; i++) {
                double wq = (double)mamba__f16_to_f32(d[r * nb + i / 32]) * q[(size_t)r * nb * 32 + i];
                ref64 += wq * x[1 + i];
                mag += fabs(wq * x[1 + i]);
                xbound += fabs(wq) * xs[i / 32] * 0.51;
                if (fabs(wq - ww[r * cols + i]) > wq_err) wq_err = fabs(wq - ww[r * cols + i]);
            }
            tol = (float)(cols * 1.2e-7 * mag + 1e-30);
            ref = mamba__dot_q8x16_scalar(q + (size_t)r * nb * 32, d + r * nb, xq, xs, nb);
            fast = mamba__dot_q8x16(q + (size_t)r * nb * 32, d + r * nb, xq, xs, nb);
            CHECK(fabs(ref - ref64) <= tol + xbound, "q8 scalar cols=%d row %d: %.9g vs double %.9g (bound %.3g)", cols,
                  r, ref, ref64, tol + xbound);
            CHECK(fabsf(fast - ref) <= tol, "q8 cols=%d row %d: fast %.9g ref %.9g", cols, r, fast, ref);
            CHECK(out[r] == fast, "q8 matvec_x cols=%d row %d: %.9g vs %.9g", cols, r, out[r], fast);
            CHECK(fabsf(out2[r] - fast) <= tol && fabsf(out3[r] - fast) <= tol,
                  "q8 matvec without scratch cols=%d row %d: %.9g %.9g vs %.9g", cols, r, out2[r], out3[r], fast);
            /* quantisation error of a weight: at most half a step, d/2 <= max|w|/254 (+ f16 rounding) */
            CHECK(wq_err <= 0.05 / 254 * 1.01, "q8 cols=%d: weight error %.3g", cols, wq_err);
            if (cols <= 1600) {
                mamba__dequant_row(row, &W, r);
                for (i = 0; i < cols; i++)
                    if (row[i] != mamba__f16_to_f32(d[r * nb + i / 32]) * (float)q[(size_t)r * nb * 32 + i]) break;
                CHECK(i == cols, "q8 dequant_row cols=%d row %d differs at %d", cols, r, i);
            }
        }
        /* junk in the padding of the last block changes nothing */
        if (cols % 32) {
            for (r = 0; r < rows; r++)
                for (i = cols; i < nb * 32; i++) ((int8_t *)buf)[(size_t)r * nb * 32 + i] = (int8_t)(100 - i);
            mamba__matvec_x(out2, &W, x + 1, NULL, xq2, xs2);
            mamba__matvec(out3, &W, x + 1, NULL);
            for (r = 0; r < rows; r++)
                CHECK(out2[r] == out[r] && fabsf(out3[r] - out[r]) <= 1e-6f * (fabsf(out[r]) + 1.0f),
                      "q8 padding was read (cols=%d)", cols);
        }
        free(buf);
        free(ww);
    }

    /* 2b. the quantiser on awkward blocks, fast against scalar bit for bit:
           all zero, below 1e-30 (counts as zero), one NaN, one infinity,
           ties of the rounding (x / s exactly k + 0.5), and max|x| at
           either sign; a NaN or infinity makes the matvec's rows NaN */
    {
        float xv[160], xs[5], xs2[5], out[5];
        int16_t xq[160], xq2[160];
        mamba_matrix W;
        unsigned char *buf;
        float *ww = (float *)malloc(sizeof(float) * 5 * 160);
        for (i = 0; i < 160; i++) xv[i] = frand();
        for (i = 0; i < 32; i++) xv[i] = 0.0f;          /* block 0: zero */
        for (i = 32; i < 64; i++) xv[i] = 1e-31f * frand(); /* block 1: tiny */
        xv[70] = NAN;                                    /* block 2: NaN */
        xv[100] = -INFINITY;                             /* block 3: infinity */
        xv[128] = -32767.0f;                             /* block 4: s = 1, ties */
        for (i = 129; i < 160; i++) xv[i] = (float)(i - 144) + 0.5f;
        mamba__q8_quant_x_scalar(xq, xs, xv, 160);
        mamba__q8_quant_x(xq2, xs2, xv, 160);
        CHECK(memcmp(xq, xq2, sizeof xq) == 0, "q8 quant_x awkward blocks: int16 differ");
        for (i = 0; i < 5; i++)
            CHECK(xs[i] == xs2[i] || (xs[i] != xs[i] && xs2[i] != xs2[i]), "q8 quant_x block %d: scale %g vs %g", i,
                  xs[i], xs2[i]);
        CHECK(xs[0] == 0.0f && xs[1] == 0.0f && xs[2] != xs[2] && xs[3] != xs[3] && xs[4] == 1.0f,
              "q8 quant_x scales: %g %g %g %g %g", xs[0], xs[1], xs[2], xs[3], xs[4]);
        CHECK(xq[128] == -32767 && xq[129] == -14 && xq[130] == -14 && xq[131] == -12 && xq[159] == 16,
              "q8 quant_x ties to even: %d %d %d %d %d", xq[128], xq[129], xq[130], xq[131], xq[159]);
        for (i = 0; i < 5 * 160; i++) ww[i] = 0.05f * frand();
        buf = make_q8(ww, 5, 160);
        W.data = buf;
        W.dtype = MAMBA_DTYPE_Q8;
        W.rows = 5;
        W.cols = 160;
        mamba__matvec_x(out, &W, xv, NULL, xq2, xs2);
        for (i = 0; i < 5; i++) CHECK(out[i] != out[i], "q8 matvec of a NaN/inf input: row %d is %g", i, out[i]);
        free(buf);
        free(ww);
    }

    /* 2c. the 4-bit types (q4_0, iq4_nl): a matrix laid out as docs/format.md
           says, quantised here to the nearest level of max|w| / top level;
           - the unpacking (pshufb / tbl) gives the scalar one's very bytes;
           - the scalar dot against a double sum of the dequantised weights
             times x, within f32 rounding and what rounding x moved (as q8);
           - the fast dot against the scalar one to f32 rounding, matvec_x
             the fast dot's bits, matvec without scratch to f32 rounding;
           - dequant_row against the definition, bit for bit;
           - junk in the padding nibbles changes nothing. */
    {
        static const int8_t lv0[16] = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};
        static const int8_t lvn[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
        int kind;
        for (kind = 0; kind < 2; kind++) {
            const int8_t *lv = kind ? lvn : lv0;
            int dtype = kind ? MAMBA_DTYPE_IQ4_NL : MAMBA_DTYPE_Q4_0;
            const char *name = kind ? "iq4_nl" : "q4_0";
            for (s = 0; s < nsizes; s++) {
                int cols = sizes[s], rows = 5, r, b, nb = (cols + 31) / 32, j;
                mamba_matrix W;
                float out[5], out2[5], out3[5], row[1600], xs[64];
                int16_t xq[2048];
                int8_t u1[2048], u2[2048];
                float *ww = (float *)malloc(sizeof(float) * (size_t)rows * cols);
                unsigned char *buf = (unsigned char *)calloc((size_t)rows * nb * 18 + 64, 1);
                uint8_t *q = buf;
                uint16_t *d = (uint16_t *)(void *)(buf + (size_t)rows * nb * 16);
                for (i = 0; i < rows * cols; i++) ww[i] = 0.05f * frand();
                for (i = 0; i < cols + 1; i++) x[i] = frand() * (i % 37 == 5 ? 20.0f : 1.0f);
                for (r = 0; r < rows; r++)
                    for (b = 0; b < nb; b++) {
                        float amax = 0, sc;
                        for (i = b * 32; i < cols && i < b * 32 + 32; i++)
                            if (fabsf(ww[r * cols + i]) > amax) amax = fabsf(ww[r * cols + i]);
                        d[r * nb + b] = to_f16(amax / (float)lv[15]);
                        sc = mamba__f16_to_f32(d[r * nb + b]);
                        for (i = 0; i < 32; i++) {
                            int c = b * 32 + i, best = 8, k;
                            float v = c < cols ? ww[r * cols + c] : 0.0f;
                            for (k = 0; k < 16; k++)
                                if (fabsf(v - sc * lv[k]) < fabsf(v - sc * lv[best])) best = k;
                            q[((size_t)r * nb + b) * 16 + (i & 15)] |= (uint8_t)(i < 16 ? best : best << 4);
                        }
                    }
                W.data = buf;
                W.dtype = dtype;
                W.rows = rows;
                W.cols = cols;
                mamba__q4_unpack_scalar(u1, q, lv, rows * nb > 64 ? 64 : rows * nb);
                mamba__q4_unpack(u2, q, lv, rows * nb > 64 ? 64 : rows * nb);
                CHECK(memcmp(u1, u2, 32 * (size_t)(rows * nb > 64 ? 64 : rows * nb)) == 0,
                      "%s unpack cols=%d: fast and scalar differ", name, cols);
                mamba__q8_quant_x(xq, xs, x + 1, cols);
                mamba__matvec_x(out, &W, x + 1, NULL, xq, xs);
                mamba__matvec(out2, &W, x + 1, NULL);
                mamba__matvec_rows(out3, &W, x + 1, NULL, 0, rows);
                for (r = 0; r < rows; r++) {
                    double ref64 = 0, mag = 0, xbound = 0;
                    float ref, fast, tol;
                    for (i = 0; i < cols; i++) {
                        uint8_t byte = q[((size_t)r * nb + i / 32) * 16 + (i & 15)];
                        int nib = (i & 31) < 16 ? byte & 15 : byte >> 4;
                        double wq = (double)mamba__f16_to_f32(d[r * nb + i / 32]) * lv[nib];
                        ref64 += wq * x[1 + i];
                        mag += fabs(wq * x[1 + i]);
                        xbound += fabs(wq) * xs[i / 32] * 0.51;
                    }
                    tol = (float)(cols * 1.2e-7 * mag + 1e-30);
                    ref = mamba__dot_q4x16_scalar(q + (size_t)r * nb * 16, d + r * nb, xq, xs, nb, lv);
                    fast = mamba__dot_q4x16(q + (size_t)r * nb * 16, d + r * nb, xq, xs, nb, lv);
                    CHECK(fabs(ref - ref64) <= tol + xbound, "%s scalar cols=%d row %d: %.9g vs double %.9g", name,
                          cols, r, ref, ref64);
                    CHECK(fabsf(fast - ref) <= tol, "%s cols=%d row %d: fast %.9g ref %.9g", name, cols, r, fast, ref);
                    CHECK(out[r] == fast, "%s matvec_x cols=%d row %d: %.9g vs %.9g", name, cols, r, out[r], fast);
                    CHECK(fabsf(out2[r] - fast) <= tol && fabsf(out3[r] - fast) <= tol,
                          "%s matvec without scratch cols=%d row %d: %.9g %.9g vs %.9g", name, cols, r, out2[r],
                          out3[r], fast);
                    if (cols <= 1600) {
                        mamba__dequant_row(row, &W, r);
                        for (i = 0; i < cols; i++) {
                            uint8_t byte = q[((size_t)r * nb + i / 32) * 16 + (i & 15)];
                            int nib = (i & 31) < 16 ? byte & 15 : byte >> 4;
                            if (row[i] != mamba__f16_to_f32(d[r * nb + i / 32]) * (float)lv[nib]) break;
                        }
                        CHECK(i == cols, "%s dequant_row cols=%d row %d differs at %d", name, cols, r, i);
                    }
                }
                if (cols % 32) { /* junk in the padding nibbles */
                    for (r = 0; r < rows; r++)
                        for (j = cols % 32; j < 32; j++) {
                            uint8_t *p = q + ((size_t)r * nb + nb - 1) * 16 + (j & 15);
                            *p = (uint8_t)(j < 16 ? (*p & 0xF0) | 0x0D : (*p & 0x0F) | 0xE0);
                        }
                    mamba__matvec_x(out2, &W, x + 1, NULL, xq, xs);
                    for (r = 0; r < rows; r++) CHECK(out2[r] == out[r], "%s padding was read (cols=%d)", name, cols);
                }
                free(buf);
                free(ww);
            }
        }
        CHECK(mamba__row_bytes(MAMBA_DTYPE_Q4_0, 48) == 36 && mamba__row_bytes(MAMBA_DTYPE_IQ4_NL, 768) == 432,
              "4-bit row bytes: 18 a block");
    }

    /* 2c'. q4_k (ggml's block_q4_K): random super-blocks (every scale, min,
           nibble and f16 d, dmin drawn at random), on every awkward width;
           the same checks as the 4-bit types above, the weights decoded
           here from docs/format.md's definition in double:
           w = d * sc[j] * q - dmin * m[j] */
    {
        for (s = 0; s < nsizes; s++) {
            int cols = sizes[s], rows = 5, r, j, ns = (cols + 255) / 256, nb = (cols + 31) / 32;
            mamba_matrix W;
            float out[5], out2[5], out3[5], row[1600], part[256], xs[128];
            int16_t xq[2048];
            size_t bytes = (size_t)rows * ns * 144;
            unsigned char *buf = (unsigned char *)malloc(bytes + 64);
            double *wq = (double *)malloc(sizeof(double) * (size_t)rows * cols);
            for (i = 0; i < (int)bytes; i++) buf[i] = (unsigned char)(rand() & 255);
            for (i = 0; i < rows * ns; i++) { /* d, dmin: small positive halves */
                uint16_t d = to_f16(0.002f * (1.0f + frand())), dm = to_f16(0.001f * (1.0f + frand()));
                buf[i * 144] = (unsigned char)(d & 255);
                buf[i * 144 + 1] = (unsigned char)(d >> 8);
                buf[i * 144 + 2] = (unsigned char)(dm & 255);
                buf[i * 144 + 3] = (unsigned char)(dm >> 8);
            }
            for (r = 0; r < rows; r++)
                for (i = 0; i < cols; i++) {
                    const unsigned char *blk = buf + ((size_t)r * ns + i / 256) * 144;
                    int c = i % 256, sb = c / 32, sc, mn, nib;
                    if (sb < 4) {
                        sc = blk[4 + sb] & 63;
                        mn = blk[8 + sb] & 63;
                    } else {
                        sc = (blk[8 + sb] & 15) | ((blk[sb] >> 6) << 4);
                        mn = (blk[8 + sb] >> 4) | ((blk[4 + sb] >> 6) << 4);
                    }
                    nib = (blk[16 + (c / 64) * 32 + c % 32] >> ((c / 32) % 2 * 4)) & 15;
                    wq[(size_t)r * cols + i] = (double)mamba__f16_to_f32((uint16_t)(blk[0] | blk[1] << 8)) * sc * nib -
                                               (double)mamba__f16_to_f32((uint16_t)(blk[2] | blk[3] << 8)) * mn;
                }
            for (i = 0; i < cols + 1; i++) x[i] = frand() * (i % 37 == 5 ? 20.0f : 1.0f);
            W.data = buf;
            W.dtype = MAMBA_DTYPE_Q4_K;
            W.rows = rows;
            W.cols = cols;
            mamba__q8_quant_x(xq, xs, x + 1, cols);
            mamba__matvec_x(out, &W, x + 1, NULL, xq, xs);
            mamba__matvec(out2, &W, x + 1, NULL);
            mamba__matvec_rows(out3, &W, x + 1, NULL, 0, rows);
            for (r = 0; r < rows; r++) {
                double ref64 = 0, mag = 0, xbound = 0;
                float ref, fast, tol;
                const uint8_t *q = buf + (size_t)r * ns * 144;
                for (i = 0; i < cols; i++) {
                    double v = wq[(size_t)r * cols + i];
                    ref64 += v * x[1 + i];
                    mag += fabs(v * x[1 + i]);
                    xbound += fabs(v) * xs[i / 32] * 0.51;
                }
                tol = (float)(cols * 2.4e-7 * mag + 1e-30);
                ref = mamba__dot_q4k_scalar(q, xq, xs, nb);
                fast = mamba__dot_q4k(q, xq, xs, nb);
                CHECK(fabs(ref - ref64) <= tol + xbound, "q4_k scalar cols=%d row %d: %.9g vs double %.9g", cols, r, ref,
                      ref64);
                CHECK(fabsf(fast - ref) <= tol, "q4_k cols=%d row %d: fast %.9g ref %.9g", cols, r, fast, ref);
                CHECK(out[r] == fast, "q4_k matvec_x cols=%d row %d: %.9g vs %.9g", cols, r, out[r], fast);
                CHECK(fabsf(out2[r] - fast) <= tol && fabsf(out3[r] - fast) <= tol,
                      "q4_k matvec without scratch cols=%d row %d: %.9g %.9g vs %.9g", cols, r, out2[r], out3[r], fast);
                if (cols <= 1600) {
                    mamba__dequant_row(row, &W, r);
                    for (i = 0; i < cols; i++) {
                        double v = wq[(size_t)r * cols + i];
                        if (fabs(row[i] - v) > 1.2e-7 * (fabs(v) + 0.06)) break;
                    }
                    CHECK(i == cols, "q4_k dequant_row cols=%d row %d differs at %d", cols, r, i);
                    for (j = 32; j < cols; j += 96) { /* a column range from a sub-block, as mamba_forward's panels */
                        int n = cols - j < 200 ? cols - j : 200;
                        mamba__dequant_cols(part, &W, r, j, n);
                        CHECK(memcmp(part, row + j, sizeof(float) * (size_t)n) == 0, "q4_k dequant_cols %d+%d cols=%d", j,
                              n, cols);
                    }
                }
            }
            if (cols % 256) { /* junk in the columns past the row */
                for (r = 0; r < rows; r++)
                    for (i = cols; i < ns * 256; i++) {
                        unsigned char *blk = buf + ((size_t)r * ns + ns - 1) * 144;
                        int c = i % 256;
                        blk[16 + (c / 64) * 32 + c % 32] ^= (unsigned char)((c / 32) % 2 ? 0xA0 : 0x0B);
                    }
                mamba__matvec_x(out2, &W, x + 1, NULL, xq, xs);
                for (r = 0; r < rows; r++) CHECK(out2[r] == out[r], "q4_k padding was read (cols=%d)", cols);
            }
            free(wq);
            free(buf);
        }
        CHECK(mamba__row_bytes(MAMBA_DTYPE_Q4_K, 256) == 144 && mamba__row_bytes(MAMBA_DTYPE_Q4_K, 768) == 432 &&
                  mamba__row_bytes(MAMBA_DTYPE_Q4_K, 257) == 288,
              "q4_k row bytes: 144 a super-block of 256");
    }

    /* 2d. f16 to f32, every finite f16 (normal, subnormal, zeros of either
           sign) exactly: the one-value converter of the block scales
           (MAMBA__HALF) and the vector one of an f16 row (dequant_row) */
    {
        static uint16_t all[63488];
        static float wide[63488];
        mamba_matrix W;
        int bad_half = 0, bad_row = 0, n = 0;
        unsigned u;
        for (u = 0; u < 65536u; u++)
            if ((u & 0x7C00u) != 0x7C00u) all[n++] = (uint16_t)u;
        W.data = all;
        W.dtype = MAMBA_DTYPE_F16;
        W.rows = 1;
        W.cols = n;
        mamba__dequant_row(wide, &W, 0);
        for (i = 0; i < n; i++) {
            float want = mamba__f16_to_f32(all[i]), half = MAMBA__HALF(all[i]);
            if (memcmp(&half, &want, sizeof want) != 0) bad_half++;
            if (memcmp(&wide[i], &want, sizeof want) != 0) bad_row++;
        }
        CHECK(n == 63488 && bad_half == 0 && bad_row == 0, "f16 -> f32 of every finite f16: %d wrong one at a time, %d in a row",
              bad_half, bad_row);
    }

    /* 3. the row sizes the bench and the loader use */
    CHECK(mamba__row_bytes(MAMBA_DTYPE_Q8, 48) == 68, "q8 row of 48 = 2 blocks = 68 bytes");
    CHECK(mamba__row_bytes(MAMBA_DTYPE_Q8, 768) == 816, "q8 row of 768 = 24 blocks");
    CHECK(mamba__row_bytes(MAMBA_DTYPE_F16, 7) == 14 && mamba__row_bytes(MAMBA_DTYPE_F32, 7) == 28, "row bytes");
    /* the names programs print (build/bench) come from the same table */
    CHECK(!strcmp(mamba_dtype_string(MAMBA_DTYPE_F32), "f32") && !strcmp(mamba_dtype_string(MAMBA_DTYPE_BF16), "bf16") &&
              !strcmp(mamba_dtype_string(MAMBA_DTYPE_Q8), "q8") && !strcmp(mamba_dtype_string(MAMBA_DTYPE_Q4_0), "q4_0") &&
              !strcmp(mamba_dtype_string(MAMBA_DTYPE_IQ4_NL), "iq4_nl") &&
              !strcmp(mamba_dtype_string(MAMBA_DTYPE_Q4_K), "q4_k"),
          "dtype names");
    CHECK(!strcmp(mamba_dtype_string(-1), "unknown") && !strcmp(mamba_dtype_string(99), "unknown"), "unknown dtype name");

    /* 4. the selective scan step (SIMD exp in lanes) against its scalar
          reference (libm expf), on d_state 1..40 (every tail), with Delta A
          from -0.001 down to -120 (where exp underflows to 0) */
    {
        enum { DI = 7, DS_MAX = 40 };
        static float hA[DI * DS_MAX], hB[DI * DS_MAX], h0[DI * DS_MAX], A[DI * DS_MAX];
        float xs[DI], zs[DI], dl[DI], Bv[DS_MAX], Cv[DS_MAX], Dv[DI], yA[DI], yB[DI];
        int ds, c, k, bad_h = 0, bad_y = 0;
        double worst = 0;
        for (ds = 1; ds <= DS_MAX; ds++) {
            for (c = 0; c < DI; c++) {
                xs[c] = frand();
                zs[c] = 2 * frand();
                dl[c] = 0.001f + 0.6f * (frand() + 1); /* Delta > 0 */
                Dv[c] = frand();
            }
            for (k = 0; k < ds; k++) {
                Bv[k] = frand();
                Cv[k] = frand();
            }
            for (i = 0; i < DI * ds; i++) {
                A[i] = -(float)pow(10.0, 2.2 * (frand() + 1) - 3.0); /* -0.001 .. -25 */
                hA[i] = hB[i] = h0[i] = 3 * frand();
            }
            A[0] = -100.0f; /* exp(Delta A) underflows for the larger Deltas */
            mamba__ssm_step_scalar(yA, hA, xs, zs, dl, A, Bv, Cv, Dv, DI, ds);
            mamba__ssm_step(yB, hB, xs, zs, dl, A, Bv, Cv, Dv, DI, ds);
            for (i = 0; i < DI * ds; i++) {
                /* exp within ~2 ulp: the error scales with the terms of
                   h = exp(Delta A) h0 + Delta B x, not with h (they may cancel) */
                double e = fabs((double)hB[i] - hA[i]);
                double terms = fabs(h0[i]) + fabs(dl[i / ds] * Bv[i % ds] * xs[i / ds]);
                if (e > 3e-7 * terms + 1e-30) bad_h++;
                if (e > worst) worst = e;
            }
            for (c = 0; c < DI; c++) {
                double mag = 0;
                for (k = 0; k < ds; k++) mag += fabs(hA[c * ds + k] * Cv[k]);
                mag += fabs(Dv[c] * xs[c]);
                if (fabs((double)yB[c] - yA[c]) > 1e-6 * mag + 1e-30) bad_y++;
            }
        }
        CHECK(bad_h == 0, "ssm_step state: %d elements off the reference (worst abs %.3g)", bad_h, worst);
        CHECK(bad_y == 0, "ssm_step output: %d channels off the reference", bad_y);
    }

    /* 5. the Mamba-2 scan (heads, grouped B/C, one A per head) against its
          scalar reference: d_state 1..40 and 128 (every tail), head sizes
          1..5, 1, 2 or 4 groups of heads, D per head and per channel; the
          group a head reads is h / (H / G), checked by giving each group a
          different B and C */
    {
        enum { HMAX = 8, PMAX = 5, NMAX = 128 };
        static float SA[HMAX * PMAX * NMAX], SB[HMAX * PMAX * NMAX], S0[HMAX * PMAX * NMAX];
        static float Bv[4 * NMAX], Cv[4 * NMAX];
        float xs[HMAX * PMAX], dl[HMAX], A[HMAX], Dv[HMAX * PMAX], yA[HMAX * PMAX], yB[HMAX * PMAX];
        mamba__scan_io io;
        int N, P, G, dpc, bad = 0, runs = 0;
        for (N = 1; N <= NMAX; N = N < 40 ? N + 1 : N < 64 ? 64 : 2 * N) { /* 1..40, 64, 128 */
            for (P = 1; P <= PMAX; P += 2)
                for (G = 1; G <= 4; G *= 2)
                    for (dpc = 0; dpc < 2; dpc++) {
                        const int H = 8, C = H * P;
                        int c, k2;
                        for (c = 0; c < C; c++) {
                            xs[c] = frand();
                            Dv[c] = frand();
                        }
                        for (c = 0; c < H; c++) {
                            dl[c] = 0.001f + 0.6f * (frand() + 1);
                            A[c] = -(float)pow(10.0, 2.2 * (frand() + 1) - 3.0);
                        }
                        A[0] = -100.0f;
                        for (k2 = 0; k2 < G * N; k2++) {
                            Bv[k2] = frand();
                            Cv[k2] = frand();
                        }
                        for (i = 0; i < C * N; i++) SA[i] = SB[i] = S0[i] = 3 * frand();
                        mamba__scan_set(&io, H, P, G, N, 0, dpc, A, Dv, SA, xs, dl, Bv, Cv, yA);
                        scan_both(&io, SB, yB, 1, runs & 1); /* the SIMD head kernel (mamba__scan_head) */
                        for (i = 0; i < C * N; i++)
                            if (fabs((double)SB[i] - SA[i]) > 1e-6 * (fabs(S0[i]) + 2.0) + 1e-30) bad++;
                        for (c = 0; c < C; c++) {
                            const int h = c / P, g = h / (H / G);
                            double mag = fabs(Dv[dpc ? c : h] * xs[c]), want = (double)(dpc ? Dv[c] : Dv[h]) * xs[c];
                            for (k2 = 0; k2 < N; k2++) {
                                /* the definition, in double, from the reference's own new state */
                                want += (double)SA[(size_t)c * N + k2] * Cv[g * N + k2];
                                mag += fabs(SA[(size_t)c * N + k2] * Cv[g * N + k2]);
                            }
                            if (fabs((double)yA[c] - want) > 1e-5 * mag + 1e-30) bad++;
                            if (fabs((double)yB[c] - yA[c]) > 1e-5 * mag + 1e-30) bad++;
                        }
                        /* and the new state itself: exp(delta A) S0 + delta x B[g] */
                        for (c = 0; c < C; c++) {
                            const int h = c / P, g = h / (H / G);
                            for (k2 = 0; k2 < N; k2++) {
                                double want = exp((double)dl[h] * A[h]) * S0[(size_t)c * N + k2] +
                                              (double)xs[c] * dl[h] * Bv[g * N + k2];
                                if (fabs(SA[(size_t)c * N + k2] - want) > 1e-6 * (fabs(S0[(size_t)c * N + k2]) + 2.0))
                                    bad++;
                            }
                        }
                        runs++;
                    }
        }
        CHECK(bad == 0 && runs > 0, "Mamba-2 scan: %d values off the reference in %d runs", bad, runs);
    }

#if defined(MAMBA__AVX512) || defined(MAMBA__AVX2)
    /* 5b. the chunked SSD form of that scan (mamba__ssd_head, head_dim 64,
          CONFIG: MAMBA_SSD_CHUNK) and the recurrence, both against the scan
          in double: chunks of 16, 64 and 256 tokens, blocks of 5, 70 and 300
          tokens (one short chunk, chunks and a short last one), d_state 16,
          48 and 128, one or two groups, D per head and per channel, and one
          head whose decay underflows within a chunk (A -100). An output is
          held to 1e-5 of the size of its terms, |D x| + sum_n |S[n] C[n]|
          (y itself can be far smaller: the terms cancel) */
    {
        enum { H = 2, P = 64, NM = 128, TM = 300 };
        static float S0[H * P * NM], SA[H * P * NM], SB[H * P * NM], xs[TM * H * P], bc[TM * 2 * 2 * NM];
        static float dl[TM * H], yA[TM * H * P], yB[TM * H * P];
        static double Sd[H * P * NM], yd[TM * H * P], mag[TM * H * P];
        static const int Ts[] = {5, 70, 300}, Ns[] = {16, 48, 128}, Qs[] = {16, 64, 256};
        float A[H], Dv[H * P];
        mamba__scan_io io;
        int ti, ni, qi, G, dpc, hd, bad = 0, runs = 0;
        double worst[2] = {0.0, 0.0}; /* the recurrence's, the SSD form's */
        for (ti = 0; ti < 3; ti++)
            for (ni = 0; ni < 3; ni++)
                for (qi = 0; qi < 3; qi++)
                    for (G = 1; G <= 2; G++)
                        for (dpc = 0; dpc < 2; dpc++) {
                            const int T = Ts[ti], N = Ns[ni], C = H * P;
                            int t, c, k2;
                            for (i = 0; i < T * C; i++) xs[i] = frand();
                            for (i = 0; i < T * 2 * G * N; i++) bc[i] = frand();
                            for (i = 0; i < T * H; i++) dl[i] = 0.001f + 0.3f * (frand() + 1);
                            A[0] = -(float)pow(10.0, 2.2 * (frand() + 1) - 3.0);
                            A[1] = (runs & 1) ? -100.0f : -(float)pow(10.0, 2.2 * (frand() + 1) - 3.0);
                            for (i = 0; i < C; i++) Dv[i] = frand();
                            for (i = 0; i < C * N; i++) S0[i] = SA[i] = SB[i] = frand();
                            for (i = 0; i < C * N; i++) Sd[i] = S0[i];
                            for (t = 0; t < T; t++) /* the definition, in double */
                                for (c = 0; c < C; c++) {
                                    const int h = c / P, g = h / (H / G);
                                    const double dt = dl[t * H + h], xv = xs[t * C + c], dA = exp(dt * A[h]);
                                    const float *Bt = bc + (size_t)t * 2 * G * N + g * N, *Ct = Bt + G * N;
                                    double acc = (dpc ? Dv[c] : Dv[h]) * xv, m = fabs(acc);
                                    for (k2 = 0; k2 < N; k2++) {
                                        double *sv = &Sd[(size_t)c * N + k2];
                                        *sv = dA * *sv + dt * xv * Bt[k2];
                                        acc += *sv * Ct[k2];
                                        m += fabs(*sv * Ct[k2]);
                                    }
                                    yd[t * C + c] = acc;
                                    mag[t * C + c] = m;
                                }
                            mamba__scan_set(&io, H, P, G, N, 0, dpc, A, Dv, SA, xs, dl, bc, bc + G * N, yA);
                            io.ldx = (size_t)C;
                            io.ldd = H;
                            io.ldbc = (size_t)(2 * G * N);
                            io.ldy = (size_t)C;
                            if (!mamba__ssd_fits(&io, Qs[qi])) {
                                bad++;
                                continue;
                            }
                            mamba__scan_scalar(&io, 0, H, T);
                            io.h = SB;
                            io.y = yB;
                            for (hd = 0; hd < H; hd++) mamba__ssd_head(&io, hd, T, Qs[qi]);
                            for (i = 0; i < C * N; i++) {
                                const double ea = fabs(SA[i] - Sd[i]) / (fabs(Sd[i]) + 1.0);
                                const double eb = fabs(SB[i] - Sd[i]) / (fabs(Sd[i]) + 1.0);
                                if (!(ea <= 1e-5) || !(eb <= 1e-5)) bad++;
                                worst[0] = ea > worst[0] ? ea : worst[0];
                                worst[1] = eb > worst[1] ? eb : worst[1];
                            }
                            for (i = 0; i < T * C; i++) {
                                const double ea = fabs(yA[i] - yd[i]) / mag[i], eb = fabs(yB[i] - yd[i]) / mag[i];
                                if (!(ea <= 1e-5) || !(eb <= 1e-5)) bad++;
                                worst[0] = ea > worst[0] ? ea : worst[0];
                                worst[1] = eb > worst[1] ? eb : worst[1];
                            }
                            runs++;
                        }
        CHECK(bad == 0 && runs == 108, "Mamba-2 scan, chunked SSD form: %d values off the double scan in %d runs "
              "(worst: recurrence %.3g, SSD %.3g)", bad, runs, worst[0], worst[1]);
        CHECK(!mamba__ssd_fits(&io, 8) && !mamba__ssd_fits(&io, 24) && !mamba__ssd_fits(&io, 512),
              "mamba__ssd_fits refuses chunks it has no room for");
        printf("Mamba-2 scan against double: worst relative error recurrence %.3g, SSD %.3g\n", worst[0], worst[1]);
    }
#endif

    /* 6. the Mamba-2 scan over a block of tokens (mamba_forward: with
          AVX-512, 16 channels of a head in lanes, mamba__scan_head16, for
          head_dim and d_state multiples of 16; else token after token)
          against the reference, 5 and 260 tokens (a chunk of 256 and a
          short one), rows ld apart as in the block */
    {
        enum { H = 4, PM = 32, NM = 48, TM = 260 };
        static float SA[H * PM * NM], SB[H * PM * NM], xs[TM * H * PM], bc[TM * 2 * 2 * NM], dl[TM * H];
        static float yA[TM * H * PM], yB[TM * H * PM];
        float A[H], Dv[H * PM];
        mamba__scan_io io;
        int P, N, G, dpc, T, bad = 0, runs = 0;
        for (T = 5; T <= TM; T += TM - 5)
            for (P = 16; P <= PM; P += 16)
                for (N = 16; N <= NM; N += 32)
                    for (G = 1; G <= 2; G++)
                        for (dpc = 0; dpc < 2; dpc++) {
                            const int C = H * P;
                            for (i = 0; i < T * C; i++) xs[i] = frand();
                            for (i = 0; i < T * 2 * G * N; i++) bc[i] = frand();
                            for (i = 0; i < T * H; i++) dl[i] = 0.001f + 0.3f * (frand() + 1);
                            for (i = 0; i < H; i++) A[i] = -(float)pow(10.0, 2.2 * (frand() + 1) - 3.0);
                            for (i = 0; i < C; i++) Dv[i] = frand();
                            for (i = 0; i < C * N; i++) SA[i] = SB[i] = frand();
                            mamba__scan_set(&io, H, P, G, N, 0, dpc, A, Dv, SA, xs, dl, bc, bc + G * N, yA);
                            io.ldx = (size_t)C;
                            io.ldd = H;
                            io.ldbc = (size_t)(2 * G * N);
                            io.ldy = (size_t)C;
                            scan_both(&io, SB, yB, T, 1);
                            for (i = 0; i < C * N; i++)
                                if (fabs((double)SB[i] - SA[i]) > 1e-5 * (fabs(SA[i]) + 1.0)) bad++;
                            for (i = 0; i < T * C; i++)
                                if (fabs((double)yB[i] - yA[i]) > 1e-5 * (fabs(yA[i]) + 1.0)) bad++;
                            runs++;
                        }
        CHECK(bad == 0 && runs == 32, "Mamba-2 scan over a block: %d values off the reference in %d runs", bad, runs);
    }

#ifdef MAMBA__SIMD
    /* 7. mamba_forward's tiled product (mamba__fw_matmul) in every dtype,
          bit for bit against the order the header documents: per (row,
          token), k in order with fused multiply-adds within chains of 32
          columns from k = 0, the chains' sums added in order, then the
          bias. Shapes cross every blocking edge: rows around the 6- and
          32-row tiles, columns around the chains and the 128-column
          panels, tokens around the 6-, 16- and 64-token panels; out and X
          rows wider than the product (ldo, ldx). Weights: random bytes
          masked with 0x3B, so every f16 scale is finite and below 1. */
    {
        static const int dts[7] = {MAMBA_DTYPE_F32, MAMBA_DTYPE_F16, MAMBA_DTYPE_BF16, MAMBA_DTYPE_Q8,
                                   MAMBA_DTYPE_Q4_0, MAMBA_DTYPE_IQ4_NL, MAMBA_DTYPE_Q4_K};
        static const int shapes[8][3] = {{1, 1, 1},    {5, 20, 7},     {33, 129, 13}, {70, 300, 70},
                                         {32, 256, 6}, {31, 33, 65},   {6, 128, 17},  {97, 96, 130}};
        int d, sh, bad = 0, runs = 0;
        for (d = 0; d < 7; d++)
            for (sh = 0; sh < 8; sh++) {
                const int rows = shapes[sh][0], K = shapes[sh][1], T = shapes[sh][2], ldo = rows + 3, ldx = K + 5;
                const size_t rb = mamba__row_bytes(dts[d], K);
                unsigned char *wbytes = (unsigned char *)malloc(rb * (size_t)rows + 64);
                float *X = (float *)malloc(sizeof(float) * (size_t)T * (size_t)ldx);
                float *out = (float *)malloc(sizeof(float) * (size_t)T * (size_t)ldo);
                float *xt = (float *)malloc(sizeof(float) * (size_t)((T + 5 + 15) & ~15) * (size_t)K);
                float *wrow = (float *)malloc(sizeof(float) * (size_t)K * (size_t)rows);
                float *bias = (float *)malloc(sizeof(float) * (size_t)rows);
                mamba_matrix W;
                int r, t, k, b;
                if (!wbytes || !X || !out || !xt || !wrow || !bias) {
                    CHECK(0, "tiled product: out of memory");
                    free(wbytes); free(X); free(out); free(xt); free(wrow); free(bias);
                    continue;
                }
                if (dts[d] == MAMBA_DTYPE_F32 || dts[d] == MAMBA_DTYPE_F16 || dts[d] == MAMBA_DTYPE_BF16) {
                    for (i = 0; i < rows * K; i++) {
                        float v = frand();
                        if (dts[d] == MAMBA_DTYPE_F32) memcpy(wbytes + 4 * (size_t)i, &v, 4);
                        else {
                            uint16_t h16 = dts[d] == MAMBA_DTYPE_F16 ? to_f16(v) : to_bf16(v);
                            memcpy(wbytes + 2 * (size_t)i, &h16, 2);
                        }
                    }
                } else
                    for (i = 0; i < (int)(rb * (size_t)rows); i++) wbytes[i] = (unsigned char)(frand() * 128.0f + 128.0f) & 0x3Bu;
                W.data = wbytes;
                W.dtype = dts[d];
                W.rows = rows;
                W.cols = K;
                for (r = 0; r < rows; r++) {
                    mamba__dequant_row(wrow + (size_t)r * (size_t)K, &W, r);
                    bias[r] = frand();
                }
                for (i = 0; i < T * ldx; i++) X[i] = frand();
                for (b = 0; b < 2; b++) {
                    for (i = 0; i < T * ldo; i++) out[i] = 7.0f;
                    mamba__fw_matmul(out, ldo, &W, b ? bias : NULL, X, ldx, T, xt);
                    for (t = 0; t < T; t++)
                        for (r = 0; r < ldo; r++) {
                            float want = 7.0f, got = out[(size_t)t * (size_t)ldo + (size_t)r];
                            if (r < rows) {
                                const float *wr = wrow + (size_t)r * (size_t)K, *xr = X + (size_t)t * (size_t)ldx;
                                float total = 0.0f;
                                int c;
                                for (c = 0; c < K; c += 32) {
                                    float chain = 0.0f;
                                    for (k = c; k < K && k < c + 32; k++) chain = fmaf(wr[k], xr[k], chain);
                                    total = c == 0 ? chain : total + chain;
                                }
                                want = b ? total + bias[r] : total;
                            }
                            if (memcmp(&want, &got, sizeof want) != 0) {
                                if (bad < 5)
                                    printf("  dtype %d %dx%d T=%d bias %d: out[%d][%d] %.9g, the documented order gives %.9g\n",
                                           dts[d], rows, K, T, b, t, r, got, want);
                                bad++;
                            }
                        }
                    runs++;
                }
                free(wbytes); free(X); free(out); free(xt); free(wrow); free(bias);
            }
        CHECK(bad == 0 && runs == 112, "tiled product: %d outputs off the documented order in %d runs", bad, runs);
    }
#endif

    free(w);
    free(x);
    free(h);
    free(bf);
    return harness_summary();
}
