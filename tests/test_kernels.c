/* test_kernels.c - each kernel of mamba.h against values worked out by hand. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "harness.h"

int main(void)
{
    /* softplus: log(1 + e^0) = ln 2; past the threshold of 20 it is the identity */
    CHECK_NEAR(mamba__softplus(0.0f), 0.69314718, 1e-7);
    CHECK_NEAR(mamba__softplus(-30.0f), 9.3576e-14, 1e-18);
    CHECK(mamba__softplus(20.5f) == 20.5f, "threshold");
    CHECK_NEAR(mamba__softplus(19.0f), 19.0000000056, 2e-6);
    /* silu(1) = 1 / (1 + 1/e) = 0.7310585786 */
    CHECK_NEAR(mamba__silu(1.0f), 0.7310585786, 1e-7);
    CHECK_NEAR(mamba__silu(-2.0f), -0.2384058440, 1e-7);
    CHECK(mamba__silu(0.0f) == 0.0f, "silu(0)");

    /* RMSNorm of (3, 4): mean square 12.5, so x / sqrt(12.5) * w */
    {
        float x[2] = {3, 4}, w[2] = {1, 2}, out[2];
        mamba__rmsnorm(out, x, w, 2, 0.0f);
        CHECK_NEAR(out[0], 3 / 3.5355339059, 1e-6);
        CHECK_NEAR(out[1], 2 * 4 / 3.5355339059, 1e-6);
        mamba__rmsnorm(out, x, NULL, 2, 12.5f); /* weightless, eps doubles the mean square */
        CHECK_NEAR(out[0], 3 / 5.0, 1e-6);
    }

    /* half and bfloat16 */
    CHECK(mamba__f16_to_f32(0x3C00) == 1.0f, "f16 1");
    CHECK(mamba__f16_to_f32(0xC000) == -2.0f, "f16 -2");
    CHECK(mamba__f16_to_f32(0x7BFF) == 65504.0f, "f16 max");
    CHECK(mamba__f16_to_f32(0x0001) == 5.9604644775390625e-08f, "f16 smallest subnormal");
    CHECK(mamba__f16_to_f32(0x03FF) == 6.0975551605224609375e-05f, "f16 largest subnormal");
    CHECK(mamba__f16_to_f32(0x3555) == 0.333251953125f, "f16 1/3");
    CHECK(mamba__bf16_to_f32(0x3F80) == 1.0f, "bf16 1");
    CHECK(mamba__bf16_to_f32(0xC049) == -3.140625f, "bf16 -pi");

    /* matvec: (2x3) times (1, 2, 3) plus bias, in each dtype */
    {
        float w[6] = {1, 2, 3, -1, 0.5f, 0.25f}, x[3] = {1, 2, 3}, b[2] = {10, 20}, out[2];
        uint16_t h[6] = {0x3C00, 0x4000, 0x4200, 0xBC00, 0x3800, 0x3400};
        uint16_t bf[6] = {0x3F80, 0x4000, 0x4040, 0xBF80, 0x3F00, 0x3E80};
        mamba_matrix W;
        W.data = w; W.dtype = MAMBA_DTYPE_F32; W.rows = 2; W.cols = 3;
        mamba__matvec(out, &W, x, b);
        CHECK(out[0] == 24.0f && out[1] == 20.75f, "f32 matvec %g %g", out[0], out[1]);
        W.data = h; W.dtype = MAMBA_DTYPE_F16;
        mamba__matvec(out, &W, x, NULL);
        CHECK(out[0] == 14.0f && out[1] == 0.75f, "f16 matvec %g %g", out[0], out[1]);
        W.data = bf; W.dtype = MAMBA_DTYPE_BF16;
        mamba__matvec(out, &W, x, NULL);
        CHECK(out[0] == 14.0f && out[1] == 0.75f, "bf16 matvec %g %g", out[0], out[1]);
    }
    /* a long dot product takes the unrolled path and the tail */
    {
        float w[37], x[37];
        int i;
        for (i = 0; i < 37; i++) { w[i] = (float)(i + 1); x[i] = 1.0f; }
        CHECK(mamba__dot_f32(w, x, 37) == 703.0f, "sum 1..37");
    }

    /* conv step, d_conv 3, one channel: window (1, 2, 3) -> shift in 4 -> (2, 3, 4);
       out = silu(0.5*2 + 0.25*3 + 1*4 + 0.5) = silu(6.25) */
    {
        float window[3] = {1, 2, 3}, weight[3] = {0.5f, 0.25f, 1.0f}, bias[1] = {0.5f}, x[1] = {4};
        mamba__conv_step(x, window, weight, bias, 1, 3);
        CHECK(window[0] == 2 && window[1] == 3 && window[2] == 4, "window shifted");
        CHECK_NEAR(x[0], 6.25 / (1 + exp(-6.25)), 1e-6);
        window[0] = window[1] = window[2] = 0; x[0] = 2;
        mamba__conv_step(x, window, weight, NULL, 1, 3); /* no bias: silu(1 * 2) */
        CHECK_NEAR(x[0], 2 / (1 + exp(-2.0)), 1e-6);
    }

    /* the selective scan, one channel, d_state 2:
       Delta 0.5, A (-1, -2), B (1, 2), C (3, -1), x 2, D 0.5, z 1, h (0.4, -0.2)
       h0 = e^-0.5 * 0.4 + 0.5*1*2 = 1.242612264;  h1 = e^-1 * -0.2 + 0.5*2*2 = 1.926424112
       y = 3*h0 - h1 + 0.5*2 = 2.801412680, times silu(1) = 0.7310585786 -> 2.047996735 */
    {
        float y[1], h[2] = {0.4f, -0.2f}, x[1] = {2}, z[1] = {1}, delta[1] = {0.5f};
        float A[2] = {-1, -2}, B[2] = {1, 2}, C[2] = {3, -1}, D[1] = {0.5f};
        mamba__ssm_step(y, h, x, z, delta, A, B, C, D, 1, 2);
        CHECK_NEAR(h[0], 1.242612264, 1e-6);
        CHECK_NEAR(h[1], 1.926424112, 1e-6);
        CHECK_NEAR(y[0], 2.047996735, 1e-6);
    }
    {
        /* named arrays, not compound literals: this file also compiles as C++ */
        const float ties[4] = {1, 5, 5, 2}, cut[3] = {1, 5, 9};
        CHECK(mamba_argmax(ties, 4) == 1, "argmax takes the first of ties");
        CHECK(mamba_argmax(cut, 2) == 1, "argmax stops at n");
    }
    CHECK(!strcmp(mamba_result_string(MAMBA_ERR_TOKEN), "token id out of range"), "result string");
    /* the scan in Mamba-2's shape (the seam of mamba__scan_io): 4 heads of
       head_dim 3, 2 groups of B and C, one A and one Delta per head, over
       3 tokens; against the recurrence written out here in double */
    {
        enum { H = 4, P = 3, G = 2, N = 5, T = 3 };
        float h[H * P * N], x[T * H * P], dl[T * H], bc[T * 2 * G * N], y[T * H * P], A[H], D[H];
        double hr[H * P * N];
        mamba__scan_io io;
        int i, t, hd, p, n;
        for (i = 0; i < H * P * N; i++) hr[i] = h[i] = 0.01f * (float)(i % 7) - 0.02f;
        for (i = 0; i < T * H * P; i++) x[i] = 0.1f * (float)(i % 5) - 0.2f;
        for (i = 0; i < T * H; i++) dl[i] = 0.05f + 0.1f * (float)(i % 3);
        for (i = 0; i < T * 2 * G * N; i++) bc[i] = 0.3f * (float)(i % 4) - 0.4f;
        for (i = 0; i < H; i++) {
            A[i] = -0.5f - (float)i;
            D[i] = 0.25f * (float)i;
        }
        mamba__scan_set(&io, H, P, G, N, 0, 0, A, D, h, x, dl, bc, bc + G * N, y);
        io.ldx = H * P;
        io.ldd = H;
        io.ldbc = 2 * G * N;
        io.ldy = H * P;
        mamba__scan(&io, T, 1);
        for (t = 0; t < T; t++)
            for (hd = 0; hd < H; hd++) {
                const double dt = dl[t * H + hd], dA = exp(dt * A[hd]);
                const float *B = bc + t * 2 * G * N + (hd / (H / G)) * N, *C = B + G * N;
                for (p = 0; p < P; p++) {
                    const int c = hd * P + p;
                    double acc = 0.0;
                    for (n = 0; n < N; n++) {
                        hr[c * N + n] = dA * hr[c * N + n] + dt * B[n] * x[t * H * P + c];
                        acc += hr[c * N + n] * C[n];
                    }
                    CHECK_NEAR(y[t * H * P + c], acc + D[hd] * x[t * H * P + c], 1e-5);
                }
            }
        for (i = 0; i < H * P * N; i++) CHECK_NEAR(h[i], hr[i], 1e-5);
    }

    /* Mamba-1's shape through the fast kernels (channels in lanes with
       batched, the state in lanes without; 37 channels leave a tail) over 3
       tokens, against the reference */
    {
        enum { DI = 37, N = 16, T = 3 };
        float h0[DI * N], h1[DI * N], x[T * DI], dl[T * DI], bc[T * 2 * N], A[DI * N], D[DI], y0[T * DI], y1[T * DI];
        mamba__scan_io io;
        int i, batched;
        for (batched = 0; batched < 2; batched++) {
            for (i = 0; i < DI * N; i++) {
                h0[i] = h1[i] = 0.02f * (float)(i % 9) - 0.08f;
                A[i] = -0.1f - 0.05f * (float)(i % 11);
            }
            for (i = 0; i < T * DI; i++) {
                x[i] = 0.07f * (float)(i % 13) - 0.4f;
                dl[i] = 0.02f + 0.03f * (float)(i % 7);
            }
            for (i = 0; i < T * 2 * N; i++) bc[i] = 0.2f * (float)(i % 6) - 0.5f;
            for (i = 0; i < DI; i++) D[i] = 0.1f * (float)(i % 4);
            mamba__scan_set(&io, DI, 1, 1, N, 1, 0, A, D, h0, x, dl, bc, bc + N, y0);
            io.ldx = DI;
            io.ldd = DI;
            io.ldbc = 2 * N;
            io.ldy = DI;
            mamba__scan_scalar(&io, 0, DI, T);
            io.h = h1;
            io.y = y1;
            mamba__scan(&io, T, batched);
            for (i = 0; i < T * DI; i++) CHECK_NEAR(y1[i], y0[i], 1e-5 * (1.0 + fabs(y0[i])));
            for (i = 0; i < DI * N; i++) CHECK_NEAR(h1[i], h0[i], 1e-5 * (1.0 + fabs(h0[i])));
        }
    }

    return harness_summary();
}
