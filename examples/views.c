/* views.c - the views of a state space model, computed and compared.

   A teaching program for docs/recurrent-view.md. It needs no model file and no
   mamba.h: only libc and libm, all in double precision so that the views that
   must agree are seen to agree to ~1e-15.

       cc -std=c99 -O2 -Wall -Wextra -pedantic examples/views.c -o build/views -lm
       ./build/views [--svg FILE]

   --svg FILE also draws three of the views (examples/svg.h, found beside
   this file): the S4 kernel against the kernels the S6 layer applies from
   two positions, the ZOH/Euler gap as the step halves, and the S6 layer
   as the lower-triangular matrix y = M x, and Mamba-2's (SSD) matrix.

   Sections (each printed line is "label key=value ..." so tests/t_views.sh can
   parse it and recompute every number independently):

     1. continuous   the system h'(t) = A h(t) + B x(t), y(t) = C h(t)  (Mamba 1a,b)
     2. discretise   step size delta: zero-order hold versus Mamba's B ~ delta*B
     3. lti          S4: recurrent view (Mamba 2a,b) == convolution (Mamba 3a,b)
     4. s6           Mamba: delta, B, C depend on the input: no single kernel;
                     the scan computes it; delta decides forget or remember.
     5. state        why the state is fixed and a KV cache is not (mamba-130m).
     6. ssd          Mamba-2: one scalar decay per head makes the layer, for
                     all the head's channels at once, the lower-triangular
                     matrix M = L o (C B^T) applied to the inputs, and its
                     chunked form; all three agree (Dao & Gu 2024, "SSD").

   Names follow Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective
   State Spaces" (2023), Section 2 and Algorithm 2, and Gu, Goel & Re,
   "Efficiently Modeling Long Sequences with Structured State Spaces" (S4, 2022),
   sections 2.1 (continuous), 2.3 (recurrent), 2.4 (convolutional). S4 writes u
   for the input and x for the state; Mamba, and this file, write x and h.
   Everything is diagonal, as in S4D and Mamba: A, Abar are vectors of length N
   and every matrix operation below is elementwise over the N state entries. */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "svg.h" /* beside this file: no mamba.h, no other library */

#define N 4   /* d_state: size of the hidden state h of one channel        */
#define L 32  /* sequence length for the time-invariant comparison          */
#define D 2   /* d_inner of the tiny selective model: channels scanned      */
#define LS 24 /* sequence length for the selective model                    */

/* The continuous parameters, shared by every section.
   S4D-Real initialisation: A_n = -(n+1). Mamba-1 initialises A exactly so
   (A_log = log(1..N), A = -exp(A_log)), one copy per channel. */
static void make_abc(double A[N], double B[N], double C[N])
{
    int n;
    for (n = 0; n < N; n++) {
        A[n] = -(double)(n + 1);
        B[n] = 1.0;
        C[n] = 1.0 / (double)(n + 1);
    }
}

/* Zero-order hold (Mamba eq. 4; S4D and Mamba use it, the first S4 used the
   bilinear transform instead):
       Abar = exp(delta A)
       Bbar = (delta A)^-1 (exp(delta A) - I) delta B
   For diagonal A the second line is, entry by entry, expm1(delta a) / a * b.
   expm1 keeps full precision when delta*a is tiny, where exp(x) - 1 would
   cancel away most digits. */
static void zoh(double delta, const double A[N], const double B[N],
                double Abar[N], double Bbar[N])
{
    int n;
    for (n = 0; n < N; n++) {
        Abar[n] = exp(delta * A[n]);
        Bbar[n] = expm1(delta * A[n]) / A[n] * B[n];
    }
}

/* Deterministic input signals, written as formulas so a test can rebuild them. */
static double input_x(int t) { return sin(0.5 * t) + 0.3 * (double)((t * 7) % 5 - 2); }

static double softplus(double z) { return z > 30.0 ? z : log1p(exp(z)); }

static double max2(double a, double b) { return a > b ? a : b; }

static void section_continuous(void)
{
    double A[N], B[N], C[N], Abar[N], Bbar[N], h_zoh[N] = {0}, h_eul[N] = {0};
    double dt = 0.1, y_exact = 0.0, y_zoh = 0.0, y_eul = 0.0;
    int n, t;

    make_abc(A, B, C);
    printf("== 1. continuous system  h'(t) = A h(t) + B x(t),  y(t) = C h(t)\n");
    printf("   S4D-Real, N=%d:", N);
    for (n = 0; n < N; n++) printf("  A%d=%g", n, A[n]);
    printf("  B=1  C_n=1/(n+1)\n");
    /* For a step input x(t) = 1, h(0) = 0, each entry solves in closed form:
       h_n(t) = b_n (exp(a_n t) - 1) / a_n. ZOH assumes x is constant over each
       step, which is exactly true here, so ZOH must hit the exact curve. */
    zoh(dt, A, B, Abar, Bbar);
    for (t = 0; t < 10; t++) /* 10 steps of 0.1 reach time 1 */
        for (n = 0; n < N; n++) {
            h_zoh[n] = Abar[n] * h_zoh[n] + Bbar[n] * 1.0;
            h_eul[n] = Abar[n] * h_eul[n] + dt * B[n] * 1.0; /* Mamba's Bbar */
        }
    for (n = 0; n < N; n++) {
        y_exact += C[n] * B[n] * expm1(A[n] * 1.0) / A[n];
        y_zoh += C[n] * h_zoh[n];
        y_eul += C[n] * h_eul[n];
    }
    printf("   step input x=1 from t=0; y at t=1 (10 steps of dt=0.1):\n");
    printf("step_response t=1 y_exact=%.15f y_zoh=%.15f y_euler=%.15f\n",
           y_exact, y_zoh, y_eul);
}

static void section_discretise(void)
{
    double A[N], B[N], C[N], Abar[N], Bbar[N];
    double dt = 0.1, prev_abs = 0.0, prev_rel = 0.0;
    int k, n;

    make_abc(A, B, C);
    printf("== 2. discretise with step dt:  Abar = exp(dt A) (both),\n");
    printf("   ZOH  Bbar = (dt A)^-1 (exp(dt A) - I) dt B   vs  Mamba  Bbar ~ dt B\n");
    printf("   per entry: expm1(dt a)/a - dt = a dt^2/2 + ...: abs diff O(dt^2), rel O(dt)\n");
    for (k = 0; k < 6; k++, dt /= 2.0) {
        double abs_d = 0.0, rel_d = 0.0;
        zoh(dt, A, B, Abar, Bbar);
        for (n = 0; n < N; n++) {
            double d = fabs(Bbar[n] - dt * B[n]);
            abs_d = max2(abs_d, d);
            rel_d = max2(rel_d, d / fabs(Bbar[n]));
        }
        printf("zoh_vs_euler dt=%.7g max_abs_diff=%.6e max_rel_diff=%.6e", dt, abs_d, rel_d);
        if (k > 0)
            printf(" abs_ratio=%.4f rel_ratio=%.4f", prev_abs / abs_d, prev_rel / rel_d);
        printf("\n");
        prev_abs = abs_d;
        prev_rel = rel_d;
    }
    printf("   halving dt divides the abs diff by ~4 and the rel diff by ~2.\n");
}

static void section_lti(void)
{
    double A[N], B[N], C[N], Abar[N], Bbar[N], h[N] = {0}, K[L], x[L];
    double y_rec[L], y_conv[L], dt = 0.1, maxd = 0.0;
    int n, t, k;

    make_abc(A, B, C);
    zoh(dt, A, B, Abar, Bbar);
    for (t = 0; t < L; t++) x[t] = input_x(t);
    printf("== 3. S4 (time-invariant, dt=%g, ZOH, L=%d): two views, one answer\n", dt, L);

    /* Recurrent view (Mamba eq. 2a, 2b; S4 section 2.3): O(L N), state carried. */
    for (t = 0; t < L; t++) {
        y_rec[t] = 0.0;
        for (n = 0; n < N; n++) {
            h[n] = Abar[n] * h[n] + Bbar[n] * x[t]; /* h_t = Abar h_{t-1} + Bbar x_t */
            y_rec[t] += C[n] * h[n];                /* y_t = C h_t                   */
        }
    }
    /* Convolutional view (Mamba eq. 3a, 3b; S4 section 2.4): unroll the recurrence,
       h_t = sum_k Abar^k Bbar x_{t-k}, so y = Kbar * x with the kernel
       Kbar = (C Bbar, C Abar Bbar, ..., C Abar^(L-1) Bbar). It exists only
       because Abar, Bbar, C are the same at every step. */
    for (k = 0; k < L; k++) {
        K[k] = 0.0;
        for (n = 0; n < N; n++) K[k] += C[n] * pow(Abar[n], (double)k) * Bbar[n];
    }
    for (t = 0; t < L; t++) {
        y_conv[t] = 0.0;
        for (k = 0; k <= t; k++) y_conv[t] += K[k] * x[t - k];
        maxd = max2(maxd, fabs(y_conv[t] - y_rec[t]));
    }
    printf("lti kernel K0=%.12e K1=%.12e K2=%.12e K3=%.12e\n", K[0], K[1], K[2], K[3]);
    printf("lti conv_vs_recurrence L=%d max_abs_diff=%.3e y_last=%.15f\n", L, maxd, y_rec[L - 1]);
}

/* The tiny selective SSM (Mamba's S6, Algorithm 2). Each token is a vector
   u_t of D channel inputs (in Mamba: x after in_proj, conv and SiLU). The made-up
   projections play the role of x_proj and dt_proj:
       delta_t = softplus(Wdt u_t + bdt)      (D)   one step size per channel
       B_t     = WB u_t                       (N)   shared by all channels
       C_t     = WC u_t                       (N)
   and per channel d, per state entry n (Mamba's Bbar ~ delta B, as in the code):
       h_t[d,n] = exp(delta_t[d] A[n]) h_{t-1}[d,n] + delta_t[d] B_t[n] u_t[d]
       y_t[d]   = sum_n C_t[n] h_t[d,n]                                       */
static const double Wdt[D][D] = {{1.0, 0.5}, {-0.5, 1.0}};
static const double bdt[D] = {-1.0, -0.5};
static const double WB[N][D] = {{0.5, -0.3}, {0.2, 0.4}, {-0.4, 0.1}, {0.3, 0.3}};
static const double WC[N][D] = {{0.6, 0.1}, {-0.2, 0.5}, {0.3, -0.4}, {0.1, 0.2}};

static void input_u(int t, double u[D]) { u[0] = input_x(t); u[1] = cos(0.3 * t); }

/* delta, B, C for one token: the selection mechanism. */
static void select_params(const double u[D], double delta[D], double Bt[N], double Ct[N])
{
    int d, n;
    for (d = 0; d < D; d++) delta[d] = softplus(Wdt[d][0] * u[0] + Wdt[d][1] * u[1] + bdt[d]);
    for (n = 0; n < N; n++) {
        Bt[n] = WB[n][0] * u[0] + WB[n][1] * u[1];
        Ct[n] = WC[n][0] * u[0] + WC[n][1] * u[1];
    }
}

/* One step of the selective scan for all channels (what the selective scan of
   mamba.h does for d_inner channels); fills y. */
static void s6_step(const double A[N], double h[D][N], const double u[D], double y[D])
{
    double delta[D], Bt[N], Ct[N];
    int d, n;
    select_params(u, delta, Bt, Ct);
    for (d = 0; d < D; d++) {
        y[d] = 0.0;
        for (n = 0; n < N; n++) {
            h[d][n] = exp(delta[d] * A[n]) * h[d][n] + delta[d] * Bt[n] * u[d];
            y[d] += Ct[n] * h[d][n];
        }
    }
}

/* Channel 0's "kernel" seen from position t: y_t[0] = sum_s M[t][s] u_s[0] with
       M[t][s] = sum_n C_t[n] (prod_{r=s+1..t} exp(delta_r A[n])) delta_s B_s[n].
   In the LTI case M[t][s] = Kbar[t-s]; here it depends on t, not just on t-s. */
static double s6_matrix(const double A[N], int t, int s)
{
    double u[D], dr[D], ds[D], Bs[N], Cs[N], Bt[N], Ct[N], decay[N], m = 0.0;
    int n, r;
    for (n = 0; n < N; n++) decay[n] = 1.0;
    for (r = s + 1; r <= t; r++) { /* Abar_t ... Abar_{s+1}: the steps after s */
        input_u(r, u);
        select_params(u, dr, Bt, Ct);
        for (n = 0; n < N; n++) decay[n] *= exp(dr[0] * A[n]);
    }
    input_u(s, u);
    select_params(u, ds, Bs, Cs); /* Bbar_s = delta_s B_s */
    input_u(t, u);
    select_params(u, dr, Bt, Ct); /* C_t */
    for (n = 0; n < N; n++) m += Ct[n] * decay[n] * ds[0] * Bs[n];
    return m;
}

static void section_s6(void)
{
    double A[N], B[N], C[N], h[D][N] = {{0}}, u[D], y[D], yscan[LS];
    double maxd = 0.0, kdiff = 0.0, ysum = 0.0;
    int t, s, k;

    make_abc(A, B, C);
    printf("== 4. S6 (Mamba): delta, B, C computed from each token u_t (D=%d, N=%d)\n", D, N);
    for (t = 0; t < LS; t++) {
        input_u(t, u);
        s6_step(A, h, u, y);
        yscan[t] = y[0];
        ysum += y[0] + y[1];
    }
    /* The scan's outputs equal the matrix form y = M u (the "attention-like"
       view of Mamba-2), which costs O(L^2) instead of O(L). */
    for (t = 0; t < LS; t++) {
        double ym = 0.0;
        for (s = 0; s <= t; s++) {
            input_u(s, u);
            ym += s6_matrix(A, t, s) * u[0];
        }
        maxd = max2(maxd, fabs(ym - yscan[t]));
    }
    printf("s6 kernel_at t=10 lag0=%.10e lag1=%.10e lag2=%.10e lag3=%.10e\n",
           s6_matrix(A, 10, 10), s6_matrix(A, 10, 9), s6_matrix(A, 10, 8), s6_matrix(A, 10, 7));
    printf("s6 kernel_at t=20 lag0=%.10e lag1=%.10e lag2=%.10e lag3=%.10e\n",
           s6_matrix(A, 20, 20), s6_matrix(A, 20, 19), s6_matrix(A, 20, 18), s6_matrix(A, 20, 17));
    for (k = 0; k < 4; k++)
        kdiff = max2(kdiff, fabs(s6_matrix(A, 10, 10 - k) - s6_matrix(A, 20, 20 - k)));
    printf("s6 kernels_differ lags=0..3 max_abs_diff=%.6e  (LTI would give 0)\n", kdiff);
    printf("s6 scan_vs_matrix L=%d max_abs_diff=%.3e y_sum=%.15f\n", LS, maxd, ysum);

    /* Selection at work: the same state h (after LS tokens) meets one more
       token. Its delta decides what survives: exp(delta A) -> 0 for large
       delta (reset, focus on this token), -> 1 for small delta (ignore the
       token, keep the past). kept = |exp(delta A) h| / |h| over channel 0;
       share = |delta B u| / |h_new|: how much of the new state is this token. */
    printf("   one more token; large delta resets, small delta remembers:\n");
    for (k = 0; k < 2; k++) {
        double tok[D], delta[D], Bt[N], Ct[N], hold = 0.0, kept = 0.0, inp = 0.0, hnew = 0.0;
        int n;
        tok[0] = k == 0 ? 6.0 : -6.0;
        tok[1] = k == 0 ? 3.0 : -3.0;
        select_params(tok, delta, Bt, Ct);
        for (n = 0; n < N; n++) {
            double a = exp(delta[0] * A[n]) * h[0][n], b = delta[0] * Bt[n] * tok[0];
            hold += h[0][n] * h[0][n];
            kept += a * a;
            inp += b * b;
            hnew += (a + b) * (a + b);
        }
        printf("s6 gate u=(%g,%g) delta=%.6e old_state_kept=%.6e token_share=%.6e\n",
               tok[0], tok[1], delta[0], sqrt(kept / hold), sqrt(inp / hnew));
    }
}

/* Why Mamba's memory is fixed: per layer it carries the SSM state h
   (d_inner x d_state) and the causal-conv window (d_inner x d_conv; the
   newest column is the current input, so d_conv - 1 would do). A Transformer
   instead caches a key and a value vector (d_model each) per layer for every
   token it has seen. Sizes of state-spaces/mamba-130m against a Transformer of
   the same width; 24 Mamba blocks (~6 d_model^2 weights each) weigh about as
   much as 12 Transformer blocks (~12 d_model^2 each). */
static void section_sizes(void)
{
    const long d_model = 768, n_layer = 24, d_inner = 1536, d_state = 16, d_conv = 4;
    long per_layer = d_inner * d_state + d_inner * d_conv, total = n_layer * per_layer;
    long layers[2] = {12, 24};
    int i;
    printf("== 5. memory per sequence: fixed state versus growing KV cache (floats)\n");
    printf("state mamba130m d_inner=%ld d_state=%ld d_conv=%ld n_layer=%ld per_layer=%ld"
           " total=%ld bytes_f32=%ld\n", d_inner, d_state, d_conv, n_layer, per_layer,
           total, 4 * total);
    for (i = 0; i < 2; i++) {
        long per_tok = 2 * layers[i] * d_model;
        printf("kv_cache d_model=%ld n_layer=%ld per_token=%ld at_2048=%ld"
               " tokens_to_exceed_state=%ld\n", d_model, layers[i], per_tok,
               2048 * per_tok, total / per_tok + 1);
    }
}

/* Mamba-2 (Dao & Gu, "Transformers are SSMs", 2024): A is one scalar per head,
   so every channel of the head decays alike, and the head's D channels (its
   head_dim P) share one delta_t, B_t and C_t:
       S_t[p][n] = exp(delta_t A2) S_{t-1}[p][n] + delta_t x_t[p] B_t[n]
       y_t[p]    = sum_n C_t[n] S_t[p][n]
   Unrolled, y_t[p] = sum_{s<=t} M[t][s] x_s[p] with one matrix for all p,
       M[t][s] = (C_t . B_s) exp(A2 (delta_{s+1} + ... + delta_t)) delta_s
              = L[t][s] (C B^T)[t][s],   L[t][s] = exp(segsum) delta_s,
   the "attention-like" quadratic form: a lower-triangular mask times C B^T,
   input-dependent (no convolution), yet a matrix product. The chunked form
   does M inside chunks of Q tokens and carries S between them. Inputs: x_t =
   u_t of section 4, delta_t = that section's delta_t[0], B_t, C_t as there. */
#define A2 (-0.7)
#define QC 4 /* chunk length */

static double ssd_delta(int t, double Bt[N], double Ct[N], double x[D])
{
    double delta[D];
    input_u(t, x);
    select_params(x, delta, Bt, Ct);
    return delta[0];
}

/* M[t][s], from the definition */
static double ssd_matrix(int t, int s)
{
    double Bt[N], Ct[N], Bs[N], Cs[N], x[D], seg = 0.0, cb = 0.0, ds;
    int r, n;
    for (r = s + 1; r <= t; r++) seg += ssd_delta(r, Bt, Ct, x);
    ds = ssd_delta(s, Bs, Cs, x);
    ssd_delta(t, Bt, Ct, x);
    for (n = 0; n < N; n++) cb += Ct[n] * Bs[n];
    return cb * exp(A2 * seg) * ds;
}

static void section_ssd(void)
{
    double S[D][N] = {{0}}, yrec[LS][D], x[D], Bt[N], Ct[N], dq = 0.0, dc = 0.0, ysum = 0.0;
    int t, s, p, n, c0;
    printf("== 6. Mamba-2 (SSD): one decay per head; recurrence == M = L o (C B^T) == chunked\n");
    for (t = 0; t < LS; t++) { /* 1. the recurrence: O(L P N) */
        double dt = ssd_delta(t, Bt, Ct, x);
        for (p = 0; p < D; p++) {
            yrec[t][p] = 0.0;
            for (n = 0; n < N; n++) {
                S[p][n] = exp(dt * A2) * S[p][n] + dt * x[p] * Bt[n];
                yrec[t][p] += Ct[n] * S[p][n];
            }
            ysum += yrec[t][p];
        }
    }
    for (t = 0; t < LS; t++) /* 2. the quadratic form: O(L^2 (N + P)) */
        for (p = 0; p < D; p++) {
            double y = 0.0;
            for (s = 0; s <= t; s++) {
                ssd_delta(s, Bt, Ct, x);
                y += ssd_matrix(t, s) * x[p];
            }
            dq = max2(dq, fabs(y - yrec[t][p]));
        }
    /* 3. chunked: M inside a chunk (Y_diag), the carried state S from the
          chunks before (Y_off = C_t . decay S), then S passed on */
    for (p = 0; p < D; p++)
        for (n = 0; n < N; n++) S[p][n] = 0.0;
    for (c0 = 0; c0 < LS; c0 += QC) {
        const int c1 = c0 + QC < LS ? c0 + QC : LS;
        double Snew[D][N], seg_all = 0.0;
        for (t = c0; t < c1; t++) {
            double seg = 0.0, y[D] = {0.0, 0.0};
            for (s = c0 + 1; s <= t; s++) seg += ssd_delta(s, Bt, Ct, x);
            seg += ssd_delta(c0, Bt, Ct, x); /* the decay from the chunk's start includes token c0 */
            ssd_delta(t, Bt, Ct, x);
            for (p = 0; p < D; p++)
                for (n = 0; n < N; n++) y[p] += Ct[n] * exp(A2 * seg) * S[p][n]; /* Y_off */
            for (s = c0; s <= t; s++) { /* Y_diag */
                double m = ssd_matrix(t, s);
                ssd_delta(s, Bt, Ct, x);
                for (p = 0; p < D; p++) y[p] += m * x[p];
            }
            for (p = 0; p < D; p++) dc = max2(dc, fabs(y[p] - yrec[t][p]));
        }
        for (t = c0; t < c1; t++) seg_all += ssd_delta(t, Bt, Ct, x);
        for (p = 0; p < D; p++)
            for (n = 0; n < N; n++) Snew[p][n] = exp(A2 * seg_all) * S[p][n];
        for (s = c0; s < c1; s++) { /* each token's input, decayed to the chunk's end */
            double seg = 0.0, ds;
            for (t = s + 1; t < c1; t++) seg += ssd_delta(t, Bt, Ct, x);
            ds = ssd_delta(s, Bt, Ct, x);
            for (p = 0; p < D; p++)
                for (n = 0; n < N; n++) Snew[p][n] += exp(A2 * seg) * ds * x[p] * Bt[n];
        }
        for (p = 0; p < D; p++)
            for (n = 0; n < N; n++) S[p][n] = Snew[p][n];
    }
    printf("ssd recurrent L=%d P=%d N=%d A=%g y_sum=%.15f\n", LS, D, N, A2, ysum);
    printf("ssd M_at t=10 lag0=%.10e lag1=%.10e lag2=%.10e lag3=%.10e\n", ssd_matrix(10, 10), ssd_matrix(10, 9),
           ssd_matrix(10, 8), ssd_matrix(10, 7));
    printf("ssd quadratic_vs_recurrent max_abs_diff=%.3e  (the same M for every channel p)\n", dq);
    printf("ssd chunked_vs_recurrent Q=%d max_abs_diff=%.3e\n", QC, dc);
}

/* The picture (--svg): the same functions compute it as the text above, so
   the numbers agree; tests/t_pictures.sh checks that they do. */
static int views_svg(const char *svg_path)
{
    enum { KL = 21 }; /* lags 0..20: all the kernel seen from t = 20 has */
    double A[N], B[N], C[N], Abar[N], Bbar[N], lag[KL], ks4[KL], k10[11], k20[KL];
    double dts[6], abs_d[6], rel_d[6], M[LS][LS], dt = 0.1, lo, hi, ylo, yhi;
    const char *names[3], *cols[3], *dashes[3];
    char col[8];
    int k, n, t, s;
    svg_plot pk, pz;
    FILE *f = fopen(svg_path, "w");
    if (!f) { fprintf(stderr, "views: cannot write %s\n", svg_path); return 0; }

    make_abc(A, B, C);
    zoh(0.1, A, B, Abar, Bbar);
    ylo = yhi = 0.0;
    for (k = 0; k < KL; k++) {
        lag[k] = k;
        ks4[k] = 0.0;
        for (n = 0; n < N; n++) ks4[k] += C[n] * pow(Abar[n], (double)k) * Bbar[n];
        k20[k] = s6_matrix(A, 20, 20 - k);
        if (k <= 10) k10[k] = s6_matrix(A, 10, 10 - k);
    }
    for (k = 0; k < KL; k++) {
        double m = k <= 10 ? (k10[k] < k20[k] ? k10[k] : k20[k]) : k20[k];
        double x = k <= 10 ? (k10[k] > k20[k] ? k10[k] : k20[k]) : k20[k];
        if (ks4[k] < m) m = ks4[k];
        if (ks4[k] > x) x = ks4[k];
        if (m < ylo) ylo = m;
        if (x > yhi) yhi = x;
    }
    for (k = 0; k < 6; k++, dt /= 2.0) {
        dts[k] = dt;
        abs_d[k] = rel_d[k] = 0.0;
        zoh(dt, A, B, Abar, Bbar);
        for (n = 0; n < N; n++) {
            double d = fabs(Bbar[n] - dt * B[n]);
            abs_d[k] = max2(abs_d[k], d);
            rel_d[k] = max2(rel_d[k], d / fabs(Bbar[n]));
        }
    }

    svg_begin(f, 980, 960, "Selection rules out one convolution: the S6 kernel changes with the position, S4's does not",
              "examples/views.c: S4D-Real, N = 4 state entries; the selective model of section 4 (D = 2 channels, 24 tokens)");

    /* 1. kernels: y_t = sum_k K[k] x_{t-k} */
    pk.x = 90; pk.y = 90; pk.w = 380; pk.h = 260; pk.x0 = 0; pk.x1 = KL - 1;
    pk.y0 = ylo - 0.05 * (yhi - ylo); pk.y1 = yhi + 0.05 * (yhi - ylo); pk.xlog = pk.ylog = 0;
    svg_text(f, pk.x, pk.y - 12, "ink", "start", 0, "1. the kernel: weight of the input k tokens back");
    svg_axes(f, &pk, "lag k (tokens back)", "weight on x at t - k (no unit)");
    svg_series(f, &pk, "s4 kernel", NULL, "6 3", lag, ks4, KL, 1);
    svg_series(f, &pk, "s6 kernel at t=10", svg_okabe_ito[0], NULL, lag, k10, 11, 1);
    svg_series(f, &pk, "s6 kernel at t=20", svg_okabe_ito[1], NULL, lag, k20, KL, 1);
    names[0] = "S4: the same K at every t (dt = 0.1)";
    names[1] = "S6 seen from t = 10: M[10][10 - k]";
    names[2] = "S6 seen from t = 20: M[20][20 - k]";
    cols[0] = NULL; cols[1] = svg_okabe_ito[0]; cols[2] = svg_okabe_ito[1];
    dashes[0] = "6 3"; dashes[1] = dashes[2] = NULL;
    svg_legend(f, pk.x + 150, pk.y + 18, names, cols, dashes, 3);

    /* 2. ZOH against Euler (Mamba's B ~ delta B) as the step halves */
    pz.x = 580; pz.y = 90; pz.w = 360; pz.h = 260; pz.x0 = 0.002; pz.x1 = 0.2;
    pz.y0 = pow(10.0, floor(log10(abs_d[5]))); pz.y1 = pow(10.0, ceil(log10(rel_d[0]))); pz.xlog = pz.ylog = 1;
    svg_text(f, pz.x - 40, pz.y - 12, "ink", "start", 0, "2. ZOH vs Euler B: the gap as the step \xce\x94 halves");
    svg_axes(f, &pz, "step \xce\x94 (time units, log scale)", "max |ZOH B - \xce\x94 B| (log)");
    svg_series(f, &pz, "abs diff", svg_okabe_ito[2], NULL, dts, abs_d, 6, 1);
    svg_series(f, &pz, "rel diff", svg_okabe_ito[3], NULL, dts, rel_d, 6, 1);
    names[0] = "absolute: / 4 per halving (slope 2)";
    names[1] = "relative: / 2 per halving (slope 1)";
    cols[0] = svg_okabe_ito[2]; cols[1] = svg_okabe_ito[3];
    svg_legend(f, pz.x + 150, pz.y + pz.h - 30, names, cols, NULL, 2);

    /* 3. the layer as a matrix: y_t = sum_{s <= t} M[t][s] x_s */
    lo = hi = s6_matrix(A, 0, 0);
    for (t = 0; t < LS; t++)
        for (s = 0; s <= t; s++) {
            M[t][s] = s6_matrix(A, t, s);
            if (M[t][s] < lo) lo = M[t][s];
            if (M[t][s] > hi) hi = M[t][s];
        }
    {
        const double mx = 90, my = 470, cs = 15;
        svg_text(f, mx, my - 30, "ink", "start", 0, "3. the S6 layer as a matrix: y = M x, M lower-triangular (channel 0)");
        svg_text(f, mx, my - 14, "faint small", "start", 0,
                 "row t: the weights of inputs s \xe2\x89\xa4 t in output t; the scan: O(L), the matrix: O(L\xc2\xb2)");
        for (t = 0; t < LS; t++)
            for (s = 0; s < LS; s++) {
                if (s > t) {
                    fprintf(f, "<rect class=\"grid\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
                            mx + s * cs, my + t * cs, cs, cs);
                    continue;
                }
                svg_viridis(svg_scale(M[t][s], lo, hi, SVG_SIGNED_SQRT), col);
                fprintf(f, "<rect class=\"cell\" x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\""
                           " data-t=\"%d\" data-s=\"%d\" data-m=\"%.9g\"><title>M[%d][%d] = %.5g</title></rect>\n",
                        mx + s * cs, my + t * cs, cs + 0.2, cs + 0.2, col, t, s, M[t][s], t, s, M[t][s]);
            }
        for (t = 0; t < LS; t += 4) {
            svg_text(f, mx - 5, my + (t + 0.5) * cs + 4, "ink small", "end", 0, "%d", t);
            svg_text(f, mx + (t + 0.5) * cs, my + LS * cs + 14, "ink small", "middle", 0, "%d", t);
        }
        svg_text(f, mx + LS * cs / 2, my + LS * cs + 32, "ink", "middle", 0, "input position s (tokens)");
        svg_text(f, mx - 34, my + LS * cs / 2, "ink", "middle", -90, "output position t (tokens)");
        svg_text(f, mx + LS * cs - 4, my + 4 * cs, "faint", "end", 0, "0 above the diagonal:");
        svg_text(f, mx + LS * cs - 4, my + 4 * cs + 16, "faint", "end", 0, "no token sees the future");
        svg_colorbar(f, mx + LS * cs + 20, my, 14, LS * cs, lo, hi, SVG_SIGNED_SQRT, "M[t][s] (no unit; sqrt scale either side of 0)");
    }
    /* 4. Mamba-2's M (section 6): one decay per head, M = L o (C B^T) */
    lo = hi = ssd_matrix(0, 0);
    for (t = 0; t < LS; t++)
        for (s = 0; s <= t; s++) {
            M[t][s] = ssd_matrix(t, s);
            if (M[t][s] < lo) lo = M[t][s];
            if (M[t][s] > hi) hi = M[t][s];
        }
    {
        const double mx = 600, my = 470, cs = 10;
        svg_text(f, mx - 20, my - 30, "ink", "start", 0, "4. Mamba-2 (SSD): M = L \xe2\x88\x98 (C B\xe1\xb5\x80)");
        svg_text(f, mx - 20, my - 14, "faint small", "start", 0, "A one scalar (%g): one M for every channel of the head", A2);
        for (t = 0; t < LS; t++)
            for (s = 0; s <= t; s++) {
                svg_viridis(svg_scale(M[t][s], lo, hi, SVG_SIGNED_SQRT), col);
                fprintf(f, "<rect class=\"ssdcell\" x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\""
                           " data-t=\"%d\" data-s=\"%d\" data-m=\"%.9g\"><title>M[%d][%d] = %.5g</title></rect>\n",
                        mx + s * cs, my + t * cs, cs + 0.2, cs + 0.2, col, t, s, M[t][s], t, s, M[t][s]);
            }
        for (t = 0; t < LS; t += 8) {
            svg_text(f, mx - 5, my + (t + 0.5) * cs + 4, "ink small", "end", 0, "%d", t);
            svg_text(f, mx + (t + 0.5) * cs, my + LS * cs + 14, "ink small", "middle", 0, "%d", t);
        }
        svg_text(f, mx + LS * cs / 2, my + LS * cs + 30, "ink small", "middle", 0, "input position s (tokens)");
        svg_colorbar(f, mx + LS * cs + 16, my, 12, LS * cs, lo, hi, SVG_SIGNED_SQRT, "M[t][s] (sqrt scale)");
        svg_text(f, 560, my + 300, "ink", "start", 0, "In S4, M[t][s] = K[t - s]: every diagonal is constant,");
        svg_text(f, 560, my + 318, "ink", "start", 0, "so the layer is one convolution (panel 1, dashed).");
        svg_text(f, 560, my + 342, "ink", "start", 0, "In S6, \xce\x94, B and C come from each token: the diagonals");
        svg_text(f, 560, my + 360, "ink", "start", 0, "vary, rows 10 and 20 read back differently (panel 1),");
        svg_text(f, 560, my + 378, "ink", "start", 0, "and only the scan (or the matrix) computes y.");
        svg_text(f, 560, my + 402, "ink", "start", 0, "Mamba-2 keeps the input dependence but makes A a scalar:");
        svg_text(f, 560, my + 420, "ink", "start", 0, "M is a mask L times C B\xe1\xb5\x80, a matrix product in blocks");
        svg_text(f, 560, my + 438, "ink", "start", 0, "(the \"attention-like\" view of the same layer).");
    }
    svg_end(f);
    if (fclose(f) != 0) { fprintf(stderr, "views: cannot write %s\n", svg_path); return 0; }
    return 1;
}

int main(int argc, char **argv)
{
    const char *svg_path = NULL;
    if (argc == 3 && !strcmp(argv[1], "--svg")) svg_path = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "usage: views [--svg FILE]\n");
        return 2;
    }
    section_continuous();
    section_discretise();
    section_lti();
    section_s6();
    section_sizes();
    section_ssd();
    if (svg_path) {
        if (!views_svg(svg_path)) return 1;
        printf("picture: %s\n", svg_path);
    }
    return 0;
}
