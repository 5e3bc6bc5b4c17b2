/* mamba.h - v0.1.0 - Mamba (selective state space, "S6") language models in one C99 header - MIT, see end

   Runs a Mamba-1 or Falcon-Mamba language model token by token on the CPU,
   from weights that stay where they are (a file mapped into memory, a
   `const` array in flash). libc and libm only; OpenMP optional.

   ====================================================================
   QUICK START
   ====================================================================
   Define MAMBA_IMPLEMENTATION in exactly one C or C++ file before the
   include; every other file includes the header alone.

       #define MAMBA_IMPLEMENTATION
       #include "mamba.h"

       mamba_model model;
       mamba_state state;
       mamba_result r = mamba_model_open(&model, "models/tinystories.mamba");
       if (r != MAMBA_OK) { printf("%s: %s\n", mamba_result_string(r), model.error); return 1; }
       mamba_state_new(&state, &model);
       float *logits = malloc(sizeof(float) * model.config.n_vocab_padded);
       int token = 0;
       for (int i = 0; i < 100; i++) {
           mamba_step(&model, &state, token, logits);   // one token in, one row of logits out
           token = mamba_argmax(logits, model.config.n_vocab); // or a sampler
       }
       mamba_state_free(&state);
       mamba_model_close(&model);

   ====================================================================
   CONFIGURATION (grep "CONFIG:" for every knob; define before the include)
   ====================================================================
   CONFIG: MAMBA_STATIC          every function `static`: a private copy per translation unit
   CONFIG: MAMBA_API             the storage class of public functions (default extern)
   CONFIG: MAMBA_NO_STDIO        drop mamba_model_open() and every <stdio.h> use
   CONFIG: MAMBA_NO_MMAP         read the file into the heap instead of mapping it
   CONFIG: MAMBA_MALLOC/MAMBA_FREE   the allocator (define both or neither)
   CONFIG: MAMBA_MAX_LAYERS      layers a model may have (default 128; sizes mamba_model)
   CONFIG: MAMBA_ASSERT          checks of programmer errors (default assert())

   ====================================================================
   THEORY: the recurrent view, in one screen
   ====================================================================
   A state space model maps an input sequence x_t to an output y_t through a
   hidden state h of fixed size, here one N-vector per channel:

       continuous:   h'(t) = A h(t) + B x(t)          y(t) = C h(t) + D x(t)
       discrete:     h_t   = Abar h_{t-1} + Bbar x_t  y_t  = C h_t + D x_t
       with step Delta:  Abar = exp(Delta A),  Bbar = Delta B  (Mamba's simplification
                         of the zero-order hold (Delta A)^-1 (exp(Delta A) - I) Delta B)

   S4 keeps A, B, C, Delta fixed, so the whole map is one convolution. Mamba
   ("S6", Gu & Dao 2023) computes Delta, B and C from the input at every step:
   the model chooses per token how much to remember (small Delta: Abar ~ 1)
   and how much to overwrite (large Delta: Abar ~ 0). There is then no single
   convolution kernel, and the model runs as the recurrence above: a fixed
   amount of work and memory per token, whatever the position.

   One block (layer) of the language model, per token, for d_inner channels:

       r            residual stream, d_model floats
       u  = RMSNorm(r) * w_norm
       (x, z) = in_proj(u)                  two d_inner vectors
       x  = SiLU(causal depthwise conv1d over the last d_conv x's)
       (delta, B, C) = x_proj(x)            dt_rank, d_state, d_state
       Delta = softplus(dt_proj(delta) + dt_bias)        d_inner
       h[c][n] = exp(Delta[c] A[c][n]) h[c][n] + Delta[c] B[n] x[c]
       y[c]    = sum_n C[n] h[c][n] + D[c] x[c]
       y  = y * SiLU(z)
       r  = r + out_proj(y)

   and after the last block, logits = lm_head(RMSNorm(r) * w_norm_f).
   mamba_step() below is written line by line against this.

   ====================================================================
   FILE FORMAT (docs/format.md has the full tables)
   ====================================================================
   Little-endian. A 128-byte header: magic "\x89MAMBA\r\n", format version (1),
   header size, an endianness sentinel 0x12345678, a float sentinel 370.5f,
   the file size, the architecture, flags (biases present, separate lm_head),
   the dimensions, the norm epsilons, the special token ids, then the offsets
   of the tensor directory and of the optional tokenizer section. The
   directory has one 48-byte entry per tensor: role, layer, dtype, ndim,
   shape[4], offset, nbytes. Tensors start on 64-byte boundaries, layer by
   layer. A is stored folded, A = -exp(A_log), as the converter computes it.

   ====================================================================
   SECURITY: what the loader checks (a model file is untrusted input)
   ====================================================================
   In this order, before a single pointer into the file is formed: the size
   covers the header; the magic; the format version and header size; the
   endianness and float sentinels; the file size in the header against the
   bytes given; every dimension against its limit (LIMITS below); the
   relations between dimensions and the products that size the tensors
   (overflow-checked); the directory and tokenizer section inside the file;
   then per tensor: a known role, a layer in range, an allowed dtype, exactly
   the expected shape and byte count, 64-byte aligned offset, in bounds
   (by subtracting from the trusted size, never adding to an untrusted
   offset), no duplicates, and at the end none missing. A failed load returns
   a code and sets model.error to the check that failed (and
   model.error_role / model.error_layer for a tensor). mamba_step() rejects a
   token id outside the embedding with MAMBA_ERR_TOKEN.

   ====================================================================
   LIMITS
   ====================================================================
   d_model <= 65536, n_layer <= MAMBA_MAX_LAYERS, d_inner <= 262144,
   d_state <= 1024, d_conv <= 64, dt_rank <= 65536, vocabulary <= 16777216
   rows. Weights: f32, f16 or bf16 matrices; everything else f32. One token
   at a time (no batched prompt path yet). Mamba-1 and Falcon-Mamba blocks;
   not Mamba-2.

   ====================================================================
   RECENT CHANGES (full history at the end of the file)
   ====================================================================
   0.1.0  first release: loader, state, mamba_step, f32/f16/bf16 weights.
*/
#ifndef MAMBA_H
#define MAMBA_H

#include <stddef.h> /* size_t */

#define MAMBA_VERSION_MAJOR 0
#define MAMBA_VERSION_MINOR 1
#define MAMBA_VERSION_PATCH 0
#define MAMBA_VERSION_STRING "0.1.0"
/* The weight-file format has its own version: a library reads files of
   exactly this version (it says so with MAMBA_ERR_VERSION otherwise). */
#define MAMBA_FORMAT_VERSION 1

#ifndef MAMBA_API /* CONFIG: MAMBA_API */
#ifdef MAMBA_STATIC /* CONFIG: MAMBA_STATIC */
#if defined(__GNUC__) || defined(__clang__)
#define MAMBA_API static __attribute__((unused)) /* a copy need not use every function */
#else
#define MAMBA_API static
#endif
#else
#define MAMBA_API extern
#endif
#endif

#ifndef MAMBA_MAX_LAYERS /* CONFIG: MAMBA_MAX_LAYERS */
#define MAMBA_MAX_LAYERS 128
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- >>results ------------------------------------------------------- */

/* Every fallible call returns one of these; MAMBA_OK is zero, errors are
   negative. mamba_result_string() names each in a short sentence. */
typedef enum mamba_result {
    MAMBA_OK = 0,
    MAMBA_ERR_INVALID_ARG = -1,      /* NULL where a pointer is needed, a bad size */
    MAMBA_ERR_OUT_OF_MEMORY = -2,    /* the allocator said no */
    MAMBA_ERR_IO = -3,               /* the file could not be opened, mapped or read */
    MAMBA_ERR_TRUNCATED = -4,        /* fewer bytes than the header says */
    MAMBA_ERR_BAD_MAGIC = -5,        /* not a .mamba file */
    MAMBA_ERR_VERSION = -6,          /* a format version this library does not read */
    MAMBA_ERR_ENDIAN = -7,           /* wrong byte order or float format */
    MAMBA_ERR_DIMENSION = -8,        /* a dimension out of limits or inconsistent */
    MAMBA_ERR_TENSOR = -9,           /* a tensor missing, duplicated, misshapen or of a bad dtype */
    MAMBA_ERR_BOUNDS = -10,          /* a tensor or section outside the file */
    MAMBA_ERR_ALIGN = -11,           /* a tensor not aligned as required */
    MAMBA_ERR_TOKEN = -12,           /* a token id outside the vocabulary */
    MAMBA_ERR_BUFFER_TOO_SMALL = -13, /* the caller's buffer cannot hold the result */
    MAMBA_ERR_TOKENIZER = -14        /* no tokenizer section, or a malformed one */
} mamba_result;

/* A static, human-readable string for a result code. Never NULL. */
MAMBA_API const char *mamba_result_string(mamba_result r);

/* ---- >>types --------------------------------------------------------- */

typedef enum mamba_arch {
    MAMBA_ARCH_MAMBA1 = 1, /* state-spaces/mamba, transformers "mamba" */
    MAMBA_ARCH_FALCON = 2  /* transformers "falcon_mamba": + RMS norms on delta, B, C */
} mamba_arch;

typedef enum mamba_dtype {
    MAMBA_DTYPE_F32 = 0,
    MAMBA_DTYPE_F16 = 1, /* IEEE half */
    MAMBA_DTYPE_BF16 = 2 /* the upper 16 bits of an f32 */
} mamba_dtype;

/* The model's hyperparameters, as read from the file. */
typedef struct mamba_config {
    int arch;           /* mamba_arch */
    int d_model;        /* width of the residual stream */
    int n_layer;        /* number of Mamba blocks */
    int d_inner;        /* channels inside a block (expand * d_model usually) */
    int d_state;        /* N: state size per channel */
    int d_conv;         /* width of the causal depthwise convolution */
    int dt_rank;        /* rank of the delta projection */
    int n_vocab_padded; /* rows of the embedding and of the output matrix */
    int n_vocab;        /* real vocabulary: ids >= n_vocab are never sampled */
    float norm_eps;     /* RMSNorm epsilon */
    float mixer_rms_eps; /* Falcon-Mamba's epsilon for delta, B, C (0 otherwise) */
    int bos_id, eos_id, pad_id; /* -1 when absent */
    int conv_bias, in_proj_bias, out_proj_bias, tied_lm_head; /* 0 or 1 */
} mamba_config;

/* A read-only view of a weight matrix in the file: rows x cols, row-major,
   elements of type dtype. */
typedef struct mamba_matrix {
    const void *data;
    int dtype; /* mamba_dtype */
    int rows, cols;
} mamba_matrix;

/* One Mamba block's weights: pointers into the model file. */
typedef struct mamba_layer {
    const float *norm;          /* (d_model) RMSNorm weight */
    mamba_matrix in_proj;       /* (2*d_inner, d_model) -> x, then z */
    const float *in_proj_bias;  /* (2*d_inner) or NULL */
    const float *conv_weight;   /* (d_inner, d_conv) */
    const float *conv_bias;     /* (d_inner) or NULL */
    mamba_matrix x_proj;        /* (dt_rank + 2*d_state, d_inner) -> delta, B, C */
    mamba_matrix dt_proj;       /* (d_inner, dt_rank) */
    const float *dt_bias;       /* (d_inner) */
    const float *A;             /* (d_inner, d_state), already -exp(A_log) */
    const float *D;             /* (d_inner) skip connection */
    mamba_matrix out_proj;      /* (d_model, d_inner) */
    const float *out_proj_bias; /* (d_model) or NULL */
} mamba_layer;

/* A loaded model. Immutable after loading: any number of states, on any
   number of threads, may use one model at once. Its pointers point into the
   bytes it was loaded from, which must outlive it. Fields are read-only. */
typedef struct mamba_model {
    mamba_config config;
    mamba_matrix embedding;    /* (n_vocab_padded, d_model) */
    mamba_matrix lm_head;      /* (n_vocab_padded, d_model); the embedding when tied */
    const float *norm_f;       /* (d_model) */
    mamba_layer layers[MAMBA_MAX_LAYERS];
    const unsigned char *tokenizer; /* optional tokenizer section, or NULL */
    size_t tokenizer_bytes;
    const unsigned char *data; /* the whole file */
    size_t size;
    const char *error;       /* after a failed load: the check that failed */
    const char *error_role;  /* ... and the tensor it concerns, or NULL */
    int error_layer;         /* ... and its layer, or -1 */
    void *owned;             /* what mamba_model_close() releases */
    size_t owned_bytes;
    int owned_kind;          /* 0 nothing, 1 heap, 2 mmap */
} mamba_model;

/* The recurrent state of one sequence, plus the scratch space one step
   needs, so mamba_step() never allocates. Fork it with mamba_state_copy(). */
typedef struct mamba_state {
    int n_layer, d_model, d_inner, d_state, d_conv, dt_rank; /* shapes it was made for */
    float *conv;   /* (n_layer, d_inner, d_conv): the last d_conv inputs of each conv, oldest first */
    float *ssm;    /* (n_layer, d_inner, d_state): h */
    float *r;      /* (d_model) residual stream */
    float *u;      /* (d_model) normed input of a block, later the block's output */
    float *xz;     /* (2*d_inner) in_proj output: x then z */
    float *dbc;    /* (dt_rank + 2*d_state) x_proj output: delta, B, C */
    float *delta;  /* (d_inner) Delta */
    float *y;      /* (d_inner) SSM output */
    long pos;      /* tokens consumed since the last reset */
    void *owned;   /* heap block when made by mamba_state_new() */
} mamba_state;

/* ---- >>api ----------------------------------------------------------- */

/* Load a model from size bytes at data, without copying: the model points
   into data, which the caller keeps alive and unchanged until the model is
   no longer used (flash, an mmap, a static array). data must be at least
   4-byte aligned (the tensors inside are 64-byte aligned relative to it).
   Checks everything listed under SECURITY. On failure returns the code and
   sets m->error. Costs one pass over the tensor directory. */
MAMBA_API mamba_result mamba_model_init_memory(mamba_model *m, const void *data, size_t size);

#ifndef MAMBA_NO_STDIO
/* Load a model from a file: maps it read-only where the platform can,
   reads it into the heap otherwise. Release with mamba_model_close().
   Errors: MAMBA_ERR_IO, MAMBA_ERR_OUT_OF_MEMORY, or any load error. If the
   file changes on disk while mapped, the model sees the change: do not
   rewrite a model file that a running program has open. */
MAMBA_API mamba_result mamba_model_open(mamba_model *m, const char *path);
#endif

/* Release what the model owns (a mapping or a heap copy); a model loaded
   with mamba_model_init_memory() owns nothing. Safe to call twice. */
MAMBA_API void mamba_model_close(mamba_model *m);

/* Bytes of memory a state for this model needs (state + scratch):
   4 * (n_layer*d_inner*(d_conv + d_state) + 2*d_model + 4*d_inner
        + dt_rank + 2*d_state) plus alignment. */
MAMBA_API size_t mamba_state_size(const mamba_model *m);

/* Make a zeroed state in the caller's memory (at least mamba_state_size()
   bytes, aligned to 16). The state points into mem; nothing to free.
   Errors: MAMBA_ERR_INVALID_ARG, MAMBA_ERR_BUFFER_TOO_SMALL. */
MAMBA_API mamba_result mamba_state_init(mamba_state *s, const mamba_model *m, void *mem, size_t bytes);

/* Make a zeroed state in memory from MAMBA_MALLOC; free with mamba_state_free(). */
MAMBA_API mamba_result mamba_state_new(mamba_state *s, const mamba_model *m);
MAMBA_API void mamba_state_free(mamba_state *s);

/* Forget the sequence: zero the recurrent state, position 0. */
MAMBA_API void mamba_state_reset(mamba_state *s);

/* Copy src's recurrent state and position into dst (a fork: both then go
   on independently). Both must be made for the same model shapes, else
   MAMBA_ERR_INVALID_ARG. */
MAMBA_API mamba_result mamba_state_copy(mamba_state *dst, const mamba_state *src);

/* Advance the state by one token and write the n_vocab_padded logits of the
   next token into logits (may be NULL to skip the output matrix, e.g. while
   reading a prompt). Never allocates; the same work at every position.
   Errors: MAMBA_ERR_INVALID_ARG (NULL, or a state made for another model's
   shapes), MAMBA_ERR_TOKEN (token outside 0..n_vocab_padded-1); on error the
   state is unchanged. */
MAMBA_API mamba_result mamba_step(const mamba_model *m, mamba_state *s, int token, float *logits);

/* Index of the largest of the first n logits (the first one on ties):
   greedy decoding. n is usually config.n_vocab, so padding rows never win. */
MAMBA_API int mamba_argmax(const float *logits, int n);

/* ---- >>forward-api (batched prompt processing) ------------------------ */

/* ---- >>snapshot-api (state save/load) --------------------------------- */

/* ---- >>sampler-api ---------------------------------------------------- */

/* A random number generator whose whole state is this struct: the caller
   owns it, seeds it, and may copy it to replay a generation. Same seed,
   same logits -> same tokens, on any machine and any thread count.
   (xorshift64*, Vigna 2016; statistically plenty for sampling text.) */
typedef struct mamba_rng {
    unsigned long long s; /* never 0 after seeding */
} mamba_rng;

MAMBA_API void mamba_rng_seed(mamba_rng *rng, unsigned long long seed);
MAMBA_API unsigned int mamba_rng_u32(mamba_rng *rng);  /* uniform in 0..2^32-1 */
MAMBA_API float mamba_rng_float(mamba_rng *rng);       /* uniform in [0, 1), 24 bits */

/* How to turn logits into the next token. The filters compose in this
   order, as in Hugging Face's generate(): repetition penalty, temperature,
   then top-k, top-p and min-p on the softmax (each on what the previous
   left, renormalised), then one draw.
   mamba_sampler_default() gives plain sampling at temperature 1. */
typedef struct mamba_sampler {
    float temperature;        /* <= 0: greedy (argmax); 1: the model's distribution */
    int top_k;                /* keep the k most likely tokens; <= 0 off */
    float top_p;              /* keep the smallest set with mass >= top_p; >= 1 off */
    float min_p;              /* keep tokens with p >= min_p * p_max; <= 0 off */
    float repetition_penalty; /* > 1 discourages recent tokens (CTRL, Keskar 2019); 1 off */
} mamba_sampler;

MAMBA_API mamba_sampler mamba_sampler_default(void);

/* Pick the next token from the first n logits (n is config.n_vocab, so
   the padding rows of the output matrix are never drawn). recent holds the
   last n_recent tokens for the repetition penalty (may be NULL when
   n_recent is 0). The logits are overwritten (with probabilities); work
   is caller memory for n ints. Never allocates; O(n) on average (top-k and
   top-p select their candidates by partial quickselect, not a full sort).
   Returns the token id in 0..n-1, or -1 for bad arguments (NULL, n < 1). */
MAMBA_API int mamba_sample(const mamba_sampler *smp, mamba_rng *rng, float *logits, int n, const int *recent,
                           int n_recent, int *work);

/* ---- >>tokenizer-api -------------------------------------------------- */

#ifdef __cplusplus
}
#endif

#endif /* MAMBA_H */

/* ===================================================================== */
/*                          IMPLEMENTATION                               */
/* ===================================================================== */
#ifdef MAMBA_IMPLEMENTATION
#ifndef MAMBA__IMPLEMENTED
#define MAMBA__IMPLEMENTED

/* ---- >>config -------------------------------------------------------- */

#include <math.h>
#include <string.h>
#include <stdint.h>

#if defined(MAMBA_MALLOC) && defined(MAMBA_FREE)
/* both given: use them */
#elif !defined(MAMBA_MALLOC) && !defined(MAMBA_FREE)
#include <stdlib.h>
#define MAMBA_MALLOC(n) malloc(n)
#define MAMBA_FREE(p) free(p)
#else
#error "mamba.h: define both MAMBA_MALLOC and MAMBA_FREE, or neither"
#endif

#ifndef MAMBA_ASSERT
#include <assert.h>
#define MAMBA_ASSERT(x) assert(x)
#endif

#ifndef MAMBA_NO_STDIO
#include <stdio.h>
#if !defined(MAMBA_NO_MMAP) && (defined(__unix__) || defined(__APPLE__))
#define MAMBA__HAVE_MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#endif

#ifdef __cplusplus
#define MAMBA__RESTRICT
#else
#define MAMBA__RESTRICT restrict
#endif

/* OpenMP is optional: the pragma vanishes without -fopenmp, so a plain
   build does not warn. Only loops over independent outputs use it. */
#ifdef _OPENMP
#define MAMBA__PARALLEL_FOR _Pragma("omp parallel for schedule(static)")
#else
#define MAMBA__PARALLEL_FOR
#endif

/* Limits of the dimensions a file may declare (see LIMITS). */
#define MAMBA__MAX_D_MODEL 65536
#define MAMBA__MAX_D_INNER 262144
#define MAMBA__MAX_D_STATE 1024
#define MAMBA__MAX_D_CONV 64
#define MAMBA__MAX_DT_RANK 65536
#define MAMBA__MAX_VOCAB 16777216

#define MAMBA__HEADER_BYTES 128
#define MAMBA__ENTRY_BYTES 48
#define MAMBA__ENDIAN_CHECK 0x12345678u
#define MAMBA__FLOAT_CHECK_BITS 0x43B94000u /* 370.5f */
#define MAMBA__NONE 0xFFFFFFFFu

/* Tensor roles of the directory (docs/format.md). */
enum {
    MAMBA__ROLE_EMBEDDING = 1,
    MAMBA__ROLE_NORM_F = 2,
    MAMBA__ROLE_LM_HEAD = 3,
    MAMBA__ROLE_NORM = 16,
    MAMBA__ROLE_IN_PROJ = 17,
    MAMBA__ROLE_IN_PROJ_BIAS = 18,
    MAMBA__ROLE_CONV_WEIGHT = 19,
    MAMBA__ROLE_CONV_BIAS = 20,
    MAMBA__ROLE_X_PROJ = 21,
    MAMBA__ROLE_DT_PROJ = 22,
    MAMBA__ROLE_DT_BIAS = 23,
    MAMBA__ROLE_A = 24,
    MAMBA__ROLE_D = 25,
    MAMBA__ROLE_OUT_PROJ = 26,
    MAMBA__ROLE_OUT_PROJ_BIAS = 27,
    MAMBA__ROLE_FIRST_LAYER = 16,
    MAMBA__ROLE_LAST_LAYER = 27
};

/* ---- >>helpers ------------------------------------------------------- */

/* Little-endian readers: a file is bytes, never a struct. */
static uint32_t mamba__rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t mamba__rd64(const unsigned char *p)
{
    return (uint64_t)mamba__rd32(p) | ((uint64_t)mamba__rd32(p + 4) << 32);
}

static float mamba__bits_to_f32(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* a * b into *out unless it overflows size_t; returns 1 on success. */
static int mamba__mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > (size_t)-1 / a) return 0;
    *out = a * b;
    return 1;
}

/* Record why a load failed: a static string, kept in the object that failed
   (no global error state). */
static mamba_result mamba__fail(mamba_model *m, mamba_result r, const char *why)
{
    m->error = why;
    return r;
}

/* IEEE half -> float, exact, without relying on hardware or _Float16. */
static float mamba__f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1Fu) {
        bits = sign | 0x7F800000u | (man << 13); /* inf or NaN */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13); /* normal: rebias 15 -> 127 */
    } else if (man == 0) {
        bits = sign; /* signed zero */
    } else {
        /* subnormal half: value = man * 2^-24; normalise it for f32 */
        uint32_t e = 113u;
        while ((man & 0x400u) == 0) {
            man <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((man & 0x3FFu) << 13);
    }
    return mamba__bits_to_f32(bits);
}

/* bf16 is the top half of an f32: widening is a shift. */
static float mamba__bf16_to_f32(uint16_t b)
{
    return mamba__bits_to_f32((uint32_t)b << 16);
}

/* ---- >>kernels ------------------------------------------------------- */

/* Dot product of n floats. Eight partial sums break the dependency chain so
   the compiler can keep several FMAs in flight (and vectorise). */
static float mamba__dot_f32(const float *MAMBA__RESTRICT w, const float *MAMBA__RESTRICT x, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float sum;
    int i = 0, k;
    for (; i + 8 <= n; i += 8)
        for (k = 0; k < 8; k++) acc[k] += w[i + k] * x[i + k];
    sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) sum += w[i] * x[i];
    return sum;
}

static float mamba__dot_f16(const uint16_t *MAMBA__RESTRICT w, const float *MAMBA__RESTRICT x, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float sum;
    int i = 0, k;
    for (; i + 8 <= n; i += 8)
        for (k = 0; k < 8; k++) acc[k] += mamba__f16_to_f32(w[i + k]) * x[i + k];
    sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) sum += mamba__f16_to_f32(w[i]) * x[i];
    return sum;
}

static float mamba__dot_bf16(const uint16_t *MAMBA__RESTRICT w, const float *MAMBA__RESTRICT x, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float sum;
    int i = 0, k;
    for (; i + 8 <= n; i += 8)
        for (k = 0; k < 8; k++) acc[k] += mamba__bf16_to_f32(w[i + k]) * x[i + k];
    sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) sum += mamba__bf16_to_f32(w[i]) * x[i];
    return sum;
}

/* out = W x (+ bias):  out[r] = sum_c W[r][c] x[c] (+ bias[r])
   PyTorch: F.linear(x, weight, bias). W is rows x cols in any stored dtype;
   arithmetic is f32. Rows are independent, so they are split across
   threads, and each row's sum is computed the same way whatever the thread
   count: the result is bit-identical for any number of threads. This is
   where decoding spends its time: every weight is read once per token. */
static void mamba__matvec(float *MAMBA__RESTRICT out, const mamba_matrix *W, const float *MAMBA__RESTRICT x,
                          const float *bias)
{
    int rows = W->rows, cols = W->cols, r;
    MAMBA__PARALLEL_FOR
    for (r = 0; r < rows; r++) {
        size_t off = (size_t)r * (size_t)cols;
        float v;
        if (W->dtype == MAMBA_DTYPE_F32)
            v = mamba__dot_f32((const float *)W->data + off, x, cols);
        else if (W->dtype == MAMBA_DTYPE_F16)
            v = mamba__dot_f16((const uint16_t *)W->data + off, x, cols);
        else
            v = mamba__dot_bf16((const uint16_t *)W->data + off, x, cols);
        out[r] = bias ? v + bias[r] : v;
    }
}

/* RMSNorm:  out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]
   mamba_ssm.ops.triton.layer_norm.RMSNorm / transformers MambaRMSNorm.
   The sum of squares is accumulated in double: d_model terms of mixed
   magnitude, once per layer, cheap. weight may be NULL for Falcon-Mamba's
   weightless norm of delta, B and C. out may equal x. */
static void mamba__rmsnorm(float *out, const float *x, const float *weight, int n, float eps)
{
    double ss = 0.0;
    float scale;
    int i;
    for (i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (i = 0; i < n; i++) out[i] = weight ? x[i] * scale * weight[i] : x[i] * scale;
}

/* SiLU (swish):  silu(v) = v * sigmoid(v) = v / (1 + exp(-v)).  F.silu. */
static float mamba__silu(float v)
{
    return v / (1.0f + expf(-v));
}

/* softplus(v) = log(1 + exp(v)), the smooth ReLU that keeps Delta > 0.
   F.softplus (beta 1) returns v itself above its threshold of 20, where
   log1p(exp(v)) and v agree to f32 precision anyway; we do the same so the
   two agree bit for bit there. */
static float mamba__softplus(float v)
{
    return v > 20.0f ? v : log1pf(expf(v));
}

/* Causal depthwise convolution, one step, for every channel c:
     window[c] <- (window[c][1..d_conv-1], x[c])      shift in the new input
     x[c]      <- SiLU(sum_k weight[c][k] window[c][k] + bias[c])
   Mamba.step: conv_state.copy_(torch.roll(conv_state, -1)); conv_state[:, :, -1] = x;
   x = sum(conv_state * rearrange(conv1d.weight, "d 1 w -> d w")) + conv1d.bias; act(x).
   The window holds the last d_conv inputs, oldest first, so weight[c][d_conv-1]
   meets the newest: the same causal alignment as conv1d with padding d_conv-1. */
static void mamba__conv_step(float *x, float *window, const float *weight, const float *bias, int d_inner,
                             int d_conv)
{
    int c;
    MAMBA__PARALLEL_FOR
    for (c = 0; c < d_inner; c++) {
        float *w = window + (size_t)c * (size_t)d_conv;
        const float *k = weight + (size_t)c * (size_t)d_conv;
        float acc = bias ? bias[c] : 0.0f;
        int j;
        for (j = 0; j + 1 < d_conv; j++) w[j] = w[j + 1];
        w[d_conv - 1] = x[c];
        for (j = 0; j < d_conv; j++) acc += k[j] * w[j];
        x[c] = mamba__silu(acc);
    }
}

/* The selective scan, one step (the "S6" recurrence), for channel c and
   state index n (Mamba.step, the branch without selective_state_update):
     dA    = exp(Delta[c] * A[c][n])                  Abar: discretised A (ZOH)
     dB    = Delta[c] * B[n]                          Bbar: Euler step for B
     h     = dA * h + dB * x[c]                       h_t = Abar h_{t-1} + Bbar x_t
     y[c]  = sum_n h[c][n] C[n] + D[c] x[c]           y_t = C h_t + D x_t
     y[c] *= SiLU(z[c])                               the gate
   A is negative (A = -exp(A_log)), so exp(Delta A) lies in (0, 1): a large
   Delta forgets the old state and takes in x, a small one keeps it.
   Channels are independent: they are split across threads. */
static void mamba__ssm_step(float *y, float *h, const float *x, const float *z, const float *delta,
                            const float *A, const float *B, const float *C, const float *D, int d_inner,
                            int d_state)
{
    int c;
    MAMBA__PARALLEL_FOR
    for (c = 0; c < d_inner; c++) {
        float *hc = h + (size_t)c * (size_t)d_state;
        const float *Ac = A + (size_t)c * (size_t)d_state;
        float dt = delta[c], xc = x[c], acc = 0.0f;
        int n;
        for (n = 0; n < d_state; n++) {
            hc[n] = expf(dt * Ac[n]) * hc[n] + (dt * B[n]) * xc;
            acc += hc[n] * C[n];
        }
        acc += D[c] * xc;
        y[c] = acc * mamba__silu(z[c]);
    }
}

/* ---- >>step ---------------------------------------------------------- */

/* One Mamba block (MixerModel's Block with Mamba as its mixer), in place on
   the residual stream s->r. mixer_seq_simple.Block: residual add, then norm,
   then mixer; written here as r = r + mixer(norm(r)), which is the same. */
static void mamba__block(const mamba_model *m, mamba_state *s, int l)
{
    const mamba_config *cfg = &m->config;
    const mamba_layer *L = &m->layers[l];
    const int d_inner = cfg->d_inner, d_state = cfg->d_state, dt_rank = cfg->dt_rank;
    float *x = s->xz;              /* (d_inner) first half of in_proj's output */
    float *z = s->xz + d_inner;    /* (d_inner) second half: the gate */
    float *dt_in = s->dbc;         /* (dt_rank) the low-rank delta */
    float *B = s->dbc + dt_rank;   /* (d_state) */
    float *C = B + d_state;        /* (d_state) */
    float *window = s->conv + (size_t)l * (size_t)d_inner * (size_t)cfg->d_conv;
    float *h = s->ssm + (size_t)l * (size_t)d_inner * (size_t)d_state;
    int i;

    /* u = RMSNorm(r) * w_norm                       Block.norm */
    mamba__rmsnorm(s->u, s->r, L->norm, cfg->d_model, cfg->norm_eps);
    /* (x, z) = in_proj(u)                           xz = self.in_proj(hidden_states); x, z = xz.chunk(2) */
    mamba__matvec(s->xz, &L->in_proj, s->u, L->in_proj_bias);
    /* x = SiLU(conv1d(x)) over the last d_conv x's  the conv_state update in Mamba.step */
    mamba__conv_step(x, window, L->conv_weight, L->conv_bias, d_inner, cfg->d_conv);
    /* (delta, B, C) = x_proj(x)                     x_db = self.x_proj(x); torch.split(...) */
    mamba__matvec(s->dbc, &L->x_proj, x, NULL);
    if (cfg->arch == MAMBA_ARCH_FALCON) {
        /* Falcon-Mamba normalises each part, without a weight, before use. */
        mamba__rmsnorm(dt_in, dt_in, NULL, dt_rank, cfg->mixer_rms_eps);
        mamba__rmsnorm(B, B, NULL, d_state, cfg->mixer_rms_eps);
        mamba__rmsnorm(C, C, NULL, d_state, cfg->mixer_rms_eps);
    }
    /* Delta = softplus(dt_proj(delta) + dt_bias)    dt = F.softplus(F.linear(dt, W) + bias) */
    mamba__matvec(s->delta, &L->dt_proj, dt_in, L->dt_bias);
    for (i = 0; i < d_inner; i++) s->delta[i] = mamba__softplus(s->delta[i]);
    /* h = exp(Delta A) h + Delta B x;  y = (C h + D x) * SiLU(z) */
    mamba__ssm_step(s->y, h, x, z, s->delta, L->A, B, C, L->D, d_inner, d_state);
    /* r = r + out_proj(y)                           out = self.out_proj(y); residual add in fp32 */
    mamba__matvec(s->u, &L->out_proj, s->y, L->out_proj_bias);
    for (i = 0; i < cfg->d_model; i++) s->r[i] += s->u[i];
}

static int mamba__state_fits(const mamba_model *m, const mamba_state *s)
{
    const mamba_config *c = &m->config;
    return s->n_layer == c->n_layer && s->d_model == c->d_model && s->d_inner == c->d_inner &&
           s->d_state == c->d_state && s->d_conv == c->d_conv && s->dt_rank == c->dt_rank;
}

MAMBA_API mamba_result mamba_step(const mamba_model *m, mamba_state *s, int token, float *logits)
{
    const mamba_config *cfg;
    size_t row;
    int l;
    if (!m || !s || !s->r) return MAMBA_ERR_INVALID_ARG;
    cfg = &m->config;
    if (!mamba__state_fits(m, s)) return MAMBA_ERR_INVALID_ARG;
    if (token < 0 || token >= cfg->n_vocab_padded) return MAMBA_ERR_TOKEN;

    /* r = embedding[token]                          MixerModel.embedding */
    row = (size_t)token * (size_t)cfg->d_model;
    if (m->embedding.dtype == MAMBA_DTYPE_F32) {
        memcpy(s->r, (const float *)m->embedding.data + row, sizeof(float) * (size_t)cfg->d_model);
    } else {
        const uint16_t *e = (const uint16_t *)m->embedding.data + row;
        for (l = 0; l < cfg->d_model; l++)
            s->r[l] = m->embedding.dtype == MAMBA_DTYPE_F16 ? mamba__f16_to_f32(e[l]) : mamba__bf16_to_f32(e[l]);
    }
    for (l = 0; l < cfg->n_layer; l++) mamba__block(m, s, l);
    s->pos++;
    if (logits) {
        /* logits = lm_head(RMSNorm(r) * w_norm_f)    MixerModel.norm_f, MambaLMHeadModel.lm_head */
        mamba__rmsnorm(s->u, s->r, m->norm_f, cfg->d_model, cfg->norm_eps);
        mamba__matvec(logits, &m->lm_head, s->u, NULL);
    }
    return MAMBA_OK;
}

MAMBA_API int mamba_argmax(const float *logits, int n)
{
    int i, best = 0;
    for (i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

/* ---- >>load ---------------------------------------------------------- */

static const char *mamba__role_name(uint32_t role)
{
    switch (role) {
    case MAMBA__ROLE_EMBEDDING: return "embedding";
    case MAMBA__ROLE_NORM_F: return "norm_f";
    case MAMBA__ROLE_LM_HEAD: return "lm_head";
    case MAMBA__ROLE_NORM: return "norm";
    case MAMBA__ROLE_IN_PROJ: return "in_proj.weight";
    case MAMBA__ROLE_IN_PROJ_BIAS: return "in_proj.bias";
    case MAMBA__ROLE_CONV_WEIGHT: return "conv1d.weight";
    case MAMBA__ROLE_CONV_BIAS: return "conv1d.bias";
    case MAMBA__ROLE_X_PROJ: return "x_proj.weight";
    case MAMBA__ROLE_DT_PROJ: return "dt_proj.weight";
    case MAMBA__ROLE_DT_BIAS: return "dt_proj.bias";
    case MAMBA__ROLE_A: return "A";
    case MAMBA__ROLE_D: return "D";
    case MAMBA__ROLE_OUT_PROJ: return "out_proj.weight";
    case MAMBA__ROLE_OUT_PROJ_BIAS: return "out_proj.bias";
    default: return NULL;
    }
}

/* What the config says one tensor must look like: its shape, whether the
   flags call for it, whether it may be stored in a half type. Returns 0 for
   an unknown role. */
static int mamba__expect(const mamba_config *c, uint32_t role, uint32_t shape[2], int *ndim, int *wanted,
                         int *matrix)
{
    uint32_t dm = (uint32_t)c->d_model, di = (uint32_t)c->d_inner, ds = (uint32_t)c->d_state;
    *ndim = 1;
    *wanted = 1;
    *matrix = 0;
    shape[1] = 0;
    switch (role) {
    case MAMBA__ROLE_EMBEDDING: *ndim = 2; *matrix = 1; shape[0] = (uint32_t)c->n_vocab_padded; shape[1] = dm; break;
    case MAMBA__ROLE_LM_HEAD:
        *ndim = 2; *matrix = 1; *wanted = !c->tied_lm_head;
        shape[0] = (uint32_t)c->n_vocab_padded; shape[1] = dm;
        break;
    case MAMBA__ROLE_NORM_F: shape[0] = dm; break;
    case MAMBA__ROLE_NORM: shape[0] = dm; break;
    case MAMBA__ROLE_IN_PROJ: *ndim = 2; *matrix = 1; shape[0] = 2 * di; shape[1] = dm; break;
    case MAMBA__ROLE_IN_PROJ_BIAS: shape[0] = 2 * di; *wanted = c->in_proj_bias; break;
    case MAMBA__ROLE_CONV_WEIGHT: *ndim = 2; shape[0] = di; shape[1] = (uint32_t)c->d_conv; break;
    case MAMBA__ROLE_CONV_BIAS: shape[0] = di; *wanted = c->conv_bias; break;
    case MAMBA__ROLE_X_PROJ: *ndim = 2; *matrix = 1; shape[0] = (uint32_t)c->dt_rank + 2 * ds; shape[1] = di; break;
    case MAMBA__ROLE_DT_PROJ: *ndim = 2; *matrix = 1; shape[0] = di; shape[1] = (uint32_t)c->dt_rank; break;
    case MAMBA__ROLE_DT_BIAS: shape[0] = di; break;
    case MAMBA__ROLE_A: *ndim = 2; shape[0] = di; shape[1] = ds; break;
    case MAMBA__ROLE_D: shape[0] = di; break;
    case MAMBA__ROLE_OUT_PROJ: *ndim = 2; *matrix = 1; shape[0] = dm; shape[1] = di; break;
    case MAMBA__ROLE_OUT_PROJ_BIAS: shape[0] = dm; *wanted = c->out_proj_bias; break;
    default: return 0;
    }
    return 1;
}

/* Read and check the 128-byte header into m->config (checks 1 to 5 of
   SECURITY). On success *file_bytes is the trusted size of the file. */
static mamba_result mamba__load_header(mamba_model *m, const unsigned char *p, size_t size, uint64_t *file_bytes)
{
    static const unsigned char magic[8] = {0x89, 'M', 'A', 'M', 'B', 'A', '\r', '\n'};
    mamba_config *c = &m->config;
    uint32_t v[14], flags, endian;
    size_t bytes, per_layer;
    int i;

    /* 1. size covers the header */
    if (size < MAMBA__HEADER_BYTES) return mamba__fail(m, MAMBA_ERR_TRUNCATED, "file is smaller than the 128-byte header");
    /* 2. magic */
    if (memcmp(p, magic, 8) != 0) return mamba__fail(m, MAMBA_ERR_BAD_MAGIC, "magic bytes are not \\x89MAMBA\\r\\n");
    /* 3. version */
    if (mamba__rd32(p + 8) != MAMBA_FORMAT_VERSION)
        return mamba__fail(m, MAMBA_ERR_VERSION, "format version is not the one this library reads (1)");
    if (mamba__rd32(p + 12) != MAMBA__HEADER_BYTES) return mamba__fail(m, MAMBA_ERR_VERSION, "header size is not 128");
    /* 4. sentinels: a file written on a big-endian machine or with another
          float format would not survive the checks below, but it deserves
          its own message. */
    endian = mamba__rd32(p + 16);
    if (endian != MAMBA__ENDIAN_CHECK)
        return mamba__fail(m, MAMBA_ERR_ENDIAN, endian == 0x78563412u ? "file was written big-endian"
                                                                     : "endianness sentinel is wrong");
    if (mamba__rd32(p + 20) != MAMBA__FLOAT_CHECK_BITS)
        return mamba__fail(m, MAMBA_ERR_ENDIAN, "float sentinel is not 370.5 in IEEE-754 binary32");
    *file_bytes = mamba__rd64(p + 24);
    if (*file_bytes < MAMBA__HEADER_BYTES || *file_bytes > (uint64_t)size)
        return mamba__fail(m, MAMBA_ERR_TRUNCATED, "file is shorter than the size in its header");

    /* 5. every dimension within its limit */
    for (i = 0; i < 14; i++) v[i] = mamba__rd32(p + 32 + 4 * i);
    flags = v[1];
    if (v[0] != MAMBA_ARCH_MAMBA1 && v[0] != MAMBA_ARCH_FALCON)
        return mamba__fail(m, MAMBA_ERR_DIMENSION, "unknown architecture");
    if (flags & ~0xFu) return mamba__fail(m, MAMBA_ERR_DIMENSION, "unknown flag bits are set");
    if (v[2] < 1 || v[2] > MAMBA__MAX_D_MODEL) return mamba__fail(m, MAMBA_ERR_DIMENSION, "d_model out of range");
    if (v[3] < 1 || v[3] > MAMBA_MAX_LAYERS) return mamba__fail(m, MAMBA_ERR_DIMENSION, "n_layer out of range");
    if (v[4] < 1 || v[4] > MAMBA__MAX_D_INNER) return mamba__fail(m, MAMBA_ERR_DIMENSION, "d_inner out of range");
    if (v[5] < 1 || v[5] > MAMBA__MAX_D_STATE) return mamba__fail(m, MAMBA_ERR_DIMENSION, "d_state out of range");
    if (v[6] < 1 || v[6] > MAMBA__MAX_D_CONV) return mamba__fail(m, MAMBA_ERR_DIMENSION, "d_conv out of range");
    if (v[7] < 1 || v[7] > MAMBA__MAX_DT_RANK) return mamba__fail(m, MAMBA_ERR_DIMENSION, "dt_rank out of range");
    if (v[8] < 1 || v[8] > MAMBA__MAX_VOCAB) return mamba__fail(m, MAMBA_ERR_DIMENSION, "n_vocab_padded out of range");
    c->arch = (int)v[0];
    c->conv_bias = (int)(flags & 1u);
    c->in_proj_bias = (int)((flags >> 1) & 1u);
    c->out_proj_bias = (int)((flags >> 2) & 1u);
    c->tied_lm_head = !((flags >> 3) & 1u);
    c->d_model = (int)v[2];
    c->n_layer = (int)v[3];
    c->d_inner = (int)v[4];
    c->d_state = (int)v[5];
    c->d_conv = (int)v[6];
    c->dt_rank = (int)v[7];
    c->n_vocab_padded = (int)v[8];
    c->n_vocab = (int)v[9];
    c->norm_eps = mamba__bits_to_f32(v[10]);
    c->mixer_rms_eps = mamba__bits_to_f32(v[11]);
    /* the epsilons: finite, positive and small (NaN fails every comparison) */
    if (!(c->norm_eps > 0.0f && c->norm_eps < 1.0f)) return mamba__fail(m, MAMBA_ERR_DIMENSION, "norm_eps is not in (0, 1)");
    if (c->arch == MAMBA_ARCH_FALCON && !(c->mixer_rms_eps > 0.0f && c->mixer_rms_eps < 1.0f))
        return mamba__fail(m, MAMBA_ERR_DIMENSION, "mixer_rms_eps is not in (0, 1)");

    /* 6. relations between dimensions */
    if (v[9] < 1 || v[9] > v[8]) return mamba__fail(m, MAMBA_ERR_DIMENSION, "n_vocab is not in 1..n_vocab_padded");
    {
        uint32_t ids[3]; /* bos, eos, pad */
        ids[0] = v[12];
        ids[1] = v[13];
        ids[2] = mamba__rd32(p + 88);
        for (i = 0; i < 3; i++)
            if (ids[i] != MAMBA__NONE && ids[i] >= v[8])
                return mamba__fail(m, MAMBA_ERR_DIMENSION, "a special token id is outside the vocabulary");
        c->bos_id = ids[0] == MAMBA__NONE ? -1 : (int)ids[0];
        c->eos_id = ids[1] == MAMBA__NONE ? -1 : (int)ids[1];
        c->pad_id = ids[2] == MAMBA__NONE ? -1 : (int)ids[2];
    }
    /* The largest tensors and the state must have sizes size_t can hold
       (this matters on 32-bit targets; the limits keep each factor small). */
    if (!mamba__mul((size_t)v[8], (size_t)v[2], &bytes) || !mamba__mul(bytes, 4, &bytes) ||
        !mamba__mul((size_t)v[4], (size_t)v[2], &bytes) || !mamba__mul(bytes, 8, &bytes) ||
        !mamba__mul((size_t)v[4], (size_t)v[5] + (size_t)v[6], &per_layer) ||
        !mamba__mul(per_layer, (size_t)v[3], &bytes) || !mamba__mul(bytes, 4, &bytes))
        return mamba__fail(m, MAMBA_ERR_DIMENSION, "tensor sizes overflow this platform's size_t");
    if (mamba__rd64(p + 120) != 0) return mamba__fail(m, MAMBA_ERR_VERSION, "reserved header bytes are not zero");
    return MAMBA_OK;
}

MAMBA_API mamba_result mamba_model_init_memory(mamba_model *m, const void *data, size_t size)
{
    const unsigned char *p = (const unsigned char *)data;
    unsigned char seen[MAMBA__ROLE_LAST_LAYER + 1][MAMBA_MAX_LAYERS];
    uint64_t file_bytes, dir_off, tok_off, tok_bytes, n_tensors;
    mamba_result r;
    mamba_config *c;
    uint32_t t;
    int l, role;

    if (!m) return MAMBA_ERR_INVALID_ARG;
    memset(m, 0, sizeof *m);
    m->error_layer = -1;
    if (!p) return mamba__fail(m, MAMBA_ERR_INVALID_ARG, "data is NULL");
    if (((uintptr_t)p & 3u) != 0) return mamba__fail(m, MAMBA_ERR_ALIGN, "data is not 4-byte aligned");
    r = mamba__load_header(m, p, size, &file_bytes);
    if (r != MAMBA_OK) return r;
    c = &m->config;

    /* 7. the directory and the tokenizer section lie inside the file. Each
          test subtracts from the trusted file size, so no sum can wrap. */
    n_tensors = mamba__rd32(p + 92);
    dir_off = mamba__rd64(p + 96);
    tok_off = mamba__rd64(p + 104);
    tok_bytes = mamba__rd64(p + 112);
    if (n_tensors < 1 || n_tensors > 3 + 12 * (uint64_t)c->n_layer)
        return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor count is impossible for n_layer");
    if (dir_off < MAMBA__HEADER_BYTES || dir_off % 8 != 0)
        return mamba__fail(m, MAMBA_ERR_ALIGN, "tensor directory offset is not a multiple of 8 past the header");
    if (dir_off > file_bytes || n_tensors * MAMBA__ENTRY_BYTES > file_bytes - dir_off)
        return mamba__fail(m, MAMBA_ERR_BOUNDS, "tensor directory extends past the end of the file");
    if (tok_bytes == 0) {
        if (tok_off != 0) return mamba__fail(m, MAMBA_ERR_BOUNDS, "tokenizer offset set but its size is 0");
    } else {
        if (tok_off < MAMBA__HEADER_BYTES || tok_off % 8 != 0)
            return mamba__fail(m, MAMBA_ERR_ALIGN, "tokenizer offset is not a multiple of 8 past the header");
        if (tok_off > file_bytes || tok_bytes > file_bytes - tok_off)
            return mamba__fail(m, MAMBA_ERR_BOUNDS, "tokenizer section extends past the end of the file");
    }

    /* 8. every tensor: role, layer, dtype, shape, size, alignment, bounds */
    memset(seen, 0, sizeof seen);
    for (t = 0; t < (uint32_t)n_tensors; t++) {
        const unsigned char *e = p + dir_off + (uint64_t)t * MAMBA__ENTRY_BYTES;
        uint32_t erole = mamba__rd32(e), elayer = mamba__rd32(e + 4), dtype = mamba__rd32(e + 8);
        uint32_t ndim = mamba__rd32(e + 12), want_shape[2];
        uint64_t off = mamba__rd64(e + 32), nbytes = mamba__rd64(e + 40), count;
        int want_ndim, wanted, matrix, per_layer, d;
        size_t elem;
        const void *ptr;
        mamba_matrix mat;

        m->error_role = mamba__role_name(erole);
        m->error_layer = (int)(elayer > 0x7FFFFFFFu ? 0x7FFFFFFF : elayer);
        if (!mamba__expect(c, erole, want_shape, &want_ndim, &wanted, &matrix))
            return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor has an unknown role");
        per_layer = erole >= MAMBA__ROLE_FIRST_LAYER;
        if (per_layer ? elayer >= (uint32_t)c->n_layer : elayer != 0)
            return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor layer index is out of range");
        if (!wanted) return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor is present but the flags say it is not");
        if (seen[erole][elayer]) return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor appears twice");
        seen[erole][elayer] = 1;
        if (dtype == MAMBA_DTYPE_F32) elem = 4;
        else if ((dtype == MAMBA_DTYPE_F16 || dtype == MAMBA_DTYPE_BF16) && matrix) elem = 2;
        else return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor dtype is unknown or not allowed for its role");
        if (ndim != (uint32_t)want_ndim) return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor has the wrong number of dimensions");
        for (d = 0; d < 4; d++) {
            uint32_t got = mamba__rd32(e + 16 + 4 * d);
            uint32_t want = d < want_ndim ? want_shape[d] : 0;
            if (got != want) return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor shape does not match the config");
        }
        count = (uint64_t)want_shape[0] * (want_ndim == 2 ? (uint64_t)want_shape[1] : 1u);
        if (nbytes != count * elem) return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor byte count does not match its shape");
        if (off % 64 != 0) return mamba__fail(m, MAMBA_ERR_ALIGN, "tensor offset is not a multiple of 64");
        if (off > file_bytes || nbytes > file_bytes - off)
            return mamba__fail(m, MAMBA_ERR_BOUNDS, "tensor extends past the end of the file");
        /* only now is it safe to form the pointer */
        ptr = p + off;
        mat.data = ptr;
        mat.dtype = (int)dtype;
        mat.rows = (int)want_shape[0];
        mat.cols = (int)want_shape[1];
        l = (int)elayer;
        switch (erole) {
        case MAMBA__ROLE_EMBEDDING: m->embedding = mat; break;
        case MAMBA__ROLE_LM_HEAD: m->lm_head = mat; break;
        case MAMBA__ROLE_NORM_F: m->norm_f = (const float *)ptr; break;
        case MAMBA__ROLE_NORM: m->layers[l].norm = (const float *)ptr; break;
        case MAMBA__ROLE_IN_PROJ: m->layers[l].in_proj = mat; break;
        case MAMBA__ROLE_IN_PROJ_BIAS: m->layers[l].in_proj_bias = (const float *)ptr; break;
        case MAMBA__ROLE_CONV_WEIGHT: m->layers[l].conv_weight = (const float *)ptr; break;
        case MAMBA__ROLE_CONV_BIAS: m->layers[l].conv_bias = (const float *)ptr; break;
        case MAMBA__ROLE_X_PROJ: m->layers[l].x_proj = mat; break;
        case MAMBA__ROLE_DT_PROJ: m->layers[l].dt_proj = mat; break;
        case MAMBA__ROLE_DT_BIAS: m->layers[l].dt_bias = (const float *)ptr; break;
        case MAMBA__ROLE_A: m->layers[l].A = (const float *)ptr; break;
        case MAMBA__ROLE_D: m->layers[l].D = (const float *)ptr; break;
        case MAMBA__ROLE_OUT_PROJ: m->layers[l].out_proj = mat; break;
        case MAMBA__ROLE_OUT_PROJ_BIAS: m->layers[l].out_proj_bias = (const float *)ptr; break;
        default: break;
        }
    }

    /* 9. nothing the config calls for is missing */
    for (role = 1; role <= MAMBA__ROLE_LAST_LAYER; role++) {
        uint32_t shape[2];
        int ndim, wanted, matrix, n = role >= MAMBA__ROLE_FIRST_LAYER ? c->n_layer : 1;
        if (!mamba__expect(c, (uint32_t)role, shape, &ndim, &wanted, &matrix) || !wanted) continue;
        for (l = 0; l < n; l++) {
            if (!seen[role][l]) {
                m->error_role = mamba__role_name((uint32_t)role);
                m->error_layer = l;
                return mamba__fail(m, MAMBA_ERR_TENSOR, "a tensor the config needs is missing");
            }
        }
    }
    if (c->tied_lm_head) m->lm_head = m->embedding;
    if (tok_bytes) {
        m->tokenizer = p + tok_off;
        m->tokenizer_bytes = (size_t)tok_bytes;
    }
    m->data = p;
    m->size = (size_t)file_bytes;
    m->error = NULL;
    m->error_role = NULL;
    m->error_layer = -1;
    return MAMBA_OK;
}

#ifndef MAMBA_NO_STDIO
MAMBA_API mamba_result mamba_model_open(mamba_model *m, const char *path)
{
    mamba_result r;
    size_t size;
    if (!m) return MAMBA_ERR_INVALID_ARG;
    memset(m, 0, sizeof *m);
    m->error_layer = -1;
    if (!path) return mamba__fail(m, MAMBA_ERR_INVALID_ARG, "path is NULL");
#ifdef MAMBA__HAVE_MMAP
    {
        struct stat st;
        void *map;
        int fd = open(path, O_RDONLY);
        if (fd < 0) return mamba__fail(m, MAMBA_ERR_IO, "cannot open the file");
        if (fstat(fd, &st) != 0 || st.st_size < 0) {
            close(fd);
            return mamba__fail(m, MAMBA_ERR_IO, "cannot stat the file");
        }
        if ((uint64_t)st.st_size < MAMBA__HEADER_BYTES) {
            close(fd);
            return mamba__fail(m, MAMBA_ERR_TRUNCATED, "file is smaller than the 128-byte header");
        }
        if ((uint64_t)st.st_size > (uint64_t)(size_t)-1) {
            close(fd);
            return mamba__fail(m, MAMBA_ERR_IO, "file is too large to map");
        }
        size = (size_t)st.st_size;
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd); /* the mapping stays valid */
        if (map == MAP_FAILED) return mamba__fail(m, MAMBA_ERR_IO, "cannot map the file");
        r = mamba_model_init_memory(m, map, size);
        if (r != MAMBA_OK) {
            munmap(map, size);
            return r;
        }
        m->owned = map;
        m->owned_bytes = size;
        m->owned_kind = 2;
        return MAMBA_OK;
    }
#else
    {
        FILE *f = fopen(path, "rb");
        unsigned char *buf;
        long end;
        if (!f) return mamba__fail(m, MAMBA_ERR_IO, "cannot open the file");
        if (fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
            fclose(f);
            return mamba__fail(m, MAMBA_ERR_IO, "cannot find the size of the file");
        }
        size = (size_t)end;
        buf = (unsigned char *)MAMBA_MALLOC(size ? size : 1);
        if (!buf) {
            fclose(f);
            return mamba__fail(m, MAMBA_ERR_OUT_OF_MEMORY, "cannot allocate memory for the file");
        }
        if (fread(buf, 1, size, f) != size) {
            fclose(f);
            MAMBA_FREE(buf);
            return mamba__fail(m, MAMBA_ERR_IO, "cannot read the file");
        }
        fclose(f);
        r = mamba_model_init_memory(m, buf, size);
        if (r != MAMBA_OK) {
            MAMBA_FREE(buf);
            return r;
        }
        m->owned = buf;
        m->owned_bytes = size;
        m->owned_kind = 1;
        return MAMBA_OK;
    }
#endif
}
#endif /* MAMBA_NO_STDIO */

MAMBA_API void mamba_model_close(mamba_model *m)
{
    if (!m) return;
#ifdef MAMBA__HAVE_MMAP
    if (m->owned_kind == 2) munmap(m->owned, m->owned_bytes);
#endif
    if (m->owned_kind == 1) MAMBA_FREE(m->owned);
    m->owned = NULL;
    m->owned_kind = 0;
    m->data = NULL;
}

/* ---- >>state --------------------------------------------------------- */

/* The floats a state holds, in the order mamba__state_carve() lays them out.
   The loader's limits keep this far below overflow. */
static size_t mamba__state_floats(const mamba_config *c)
{
    size_t nl = (size_t)c->n_layer, di = (size_t)c->d_inner;
    return nl * di * (size_t)c->d_conv + nl * di * (size_t)c->d_state + 2 * (size_t)c->d_model + 4 * di +
           (size_t)c->dt_rank + 2 * (size_t)c->d_state;
}

MAMBA_API size_t mamba_state_size(const mamba_model *m)
{
    if (!m || !m->data) return 0;
    return mamba__state_floats(&m->config) * sizeof(float) + 16; /* + room to align */
}

static void mamba__state_carve(mamba_state *s, const mamba_config *c, float *f)
{
    size_t nl = (size_t)c->n_layer, di = (size_t)c->d_inner;
    s->n_layer = c->n_layer;
    s->d_model = c->d_model;
    s->d_inner = c->d_inner;
    s->d_state = c->d_state;
    s->d_conv = c->d_conv;
    s->dt_rank = c->dt_rank;
    s->conv = f;
    f += nl * di * (size_t)c->d_conv;
    s->ssm = f;
    f += nl * di * (size_t)c->d_state;
    s->r = f;
    f += (size_t)c->d_model;
    s->u = f;
    f += (size_t)c->d_model;
    s->xz = f;
    f += 2 * di;
    s->delta = f;
    f += di;
    s->y = f;
    f += di;
    s->dbc = f;
    memset(s->conv, 0, sizeof(float) * mamba__state_floats(c));
    s->pos = 0;
}

MAMBA_API mamba_result mamba_state_init(mamba_state *s, const mamba_model *m, void *mem, size_t bytes)
{
    uintptr_t a;
    size_t skip;
    if (!s || !m || !m->data || !mem) return MAMBA_ERR_INVALID_ARG;
    memset(s, 0, sizeof *s);
    a = (uintptr_t)mem;
    skip = (size_t)((16u - (a & 15u)) & 15u); /* align the floats to 16 bytes */
    if (bytes < mamba_state_size(m)) return MAMBA_ERR_BUFFER_TOO_SMALL;
    mamba__state_carve(s, &m->config, (float *)(void *)((unsigned char *)mem + skip));
    return MAMBA_OK;
}

MAMBA_API mamba_result mamba_state_new(mamba_state *s, const mamba_model *m)
{
    void *mem;
    size_t bytes;
    mamba_result r;
    if (!s || !m || !m->data) return MAMBA_ERR_INVALID_ARG;
    bytes = mamba_state_size(m);
    mem = MAMBA_MALLOC(bytes);
    if (!mem) return MAMBA_ERR_OUT_OF_MEMORY;
    r = mamba_state_init(s, m, mem, bytes);
    if (r != MAMBA_OK) {
        MAMBA_FREE(mem);
        return r;
    }
    s->owned = mem;
    return MAMBA_OK;
}

MAMBA_API void mamba_state_free(mamba_state *s)
{
    if (!s) return;
    if (s->owned) MAMBA_FREE(s->owned);
    memset(s, 0, sizeof *s);
}

MAMBA_API void mamba_state_reset(mamba_state *s)
{
    size_t n;
    if (!s || !s->conv) return;
    n = (size_t)s->n_layer * (size_t)s->d_inner * ((size_t)s->d_conv + (size_t)s->d_state);
    memset(s->conv, 0, sizeof(float) * n); /* conv then ssm: one contiguous block */
    s->pos = 0;
}

MAMBA_API mamba_result mamba_state_copy(mamba_state *dst, const mamba_state *src)
{
    size_t n;
    if (!dst || !src || !dst->conv || !src->conv) return MAMBA_ERR_INVALID_ARG;
    if (dst->n_layer != src->n_layer || dst->d_model != src->d_model || dst->d_inner != src->d_inner ||
        dst->d_state != src->d_state || dst->d_conv != src->d_conv || dst->dt_rank != src->dt_rank)
        return MAMBA_ERR_INVALID_ARG;
    if (dst == src) return MAMBA_OK;
    n = (size_t)src->n_layer * (size_t)src->d_inner * ((size_t)src->d_conv + (size_t)src->d_state);
    memcpy(dst->conv, src->conv, sizeof(float) * n);
    dst->pos = src->pos;
    return MAMBA_OK;
}

/* ---- >>forward (batched prompt processing) ---------------------------- */

/* ---- >>snapshot (state save/load) ------------------------------------- */

/* ---- >>sampler -------------------------------------------------------- */

MAMBA_API void mamba_rng_seed(mamba_rng *rng, unsigned long long seed)
{
    /* splitmix64 scrambles the seed so that 0, 1, 2 ... give unrelated streams */
    unsigned long long z = seed + 0x9E3779B97F4A7C15ull;
    if (!rng) return;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    rng->s = z ? z : 0x2545F4914F6CDD1Dull;
}

MAMBA_API unsigned int mamba_rng_u32(mamba_rng *rng)
{
    unsigned long long x = rng->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->s = x;
    return (unsigned int)((x * 0x2545F4914F6CDD1Dull) >> 32) & 0xFFFFFFFFu;
}

MAMBA_API float mamba_rng_float(mamba_rng *rng)
{
    return (float)(mamba_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

MAMBA_API mamba_sampler mamba_sampler_default(void)
{
    mamba_sampler s;
    s.temperature = 1.0f;
    s.top_k = 0;
    s.top_p = 1.0f;
    s.min_p = 0.0f;
    s.repetition_penalty = 1.0f;
    return s;
}

/* Partial quickselect on idx[0..n) by descending p: afterwards the k most
   likely tokens are in idx[0..k), in no particular order. Average O(n). The
   pivot is the median of three, so sorted input is no worst case. Equal
   probabilities are ordered by token id, so the result is deterministic. */
static int mamba__before(const float *p, int a, int b)
{
    return p[a] > p[b] || (p[a] == p[b] && a < b);
}

static void mamba__select_top(const float *p, int *idx, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, i = lo, j = hi, pivot, t;
        /* median of three as the pivot */
        int a = idx[lo], b = idx[mid], c = idx[hi];
        if (mamba__before(p, b, a)) { t = a; a = b; b = t; }
        if (mamba__before(p, c, b)) { t = b; b = c; c = t; }
        if (mamba__before(p, b, a)) { t = a; a = b; b = t; }
        pivot = b;
        while (i <= j) {
            while (mamba__before(p, idx[i], pivot)) i++;
            while (mamba__before(p, pivot, idx[j])) j--;
            if (i <= j) {
                t = idx[i]; idx[i] = idx[j]; idx[j] = t;
                i++;
                j--;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

/* Insertion sort of a few candidates by descending p (k is small). */
static void mamba__sort_top(const float *p, int *idx, int k)
{
    int i, j;
    for (i = 1; i < k; i++) {
        int v = idx[i];
        for (j = i; j > 0 && mamba__before(p, v, idx[j - 1]); j--) idx[j] = idx[j - 1];
        idx[j] = v;
    }
}

MAMBA_API int mamba_sample(const mamba_sampler *smp, mamba_rng *rng, float *logits, int n, const int *recent,
                           int n_recent, int *work)
{
    float *p = logits, pmax, inv_t, r, acc;
    double sum;
    int i, j, m;
    if (!smp || !rng || !logits || !work || n < 1 || n_recent < 0 || (n_recent > 0 && !recent)) return -1;

    /* 1. repetition penalty: each distinct recent token once; positive
          logits are divided, negative ones multiplied (both lower it) */
    if (smp->repetition_penalty > 0.0f && smp->repetition_penalty != 1.0f) {
        for (i = 0; i < n_recent; i++) {
            int t = recent[i], seen = 0;
            if (t < 0 || t >= n) continue;
            for (j = 0; j < i && !seen; j++) seen = recent[j] == t;
            if (seen) continue;
            p[t] = p[t] > 0.0f ? p[t] / smp->repetition_penalty : p[t] * smp->repetition_penalty;
        }
    }
    /* 2. temperature 0 means greedy */
    if (!(smp->temperature > 0.0f)) return mamba_argmax(p, n);

    /* 3. softmax of logits / T, with the maximum subtracted so exp never overflows */
    inv_t = 1.0f / smp->temperature;
    pmax = p[mamba_argmax(p, n)];
    sum = 0.0;
    for (i = 0; i < n; i++) {
        p[i] = expf((p[i] - pmax) * inv_t);
        sum += p[i];
    }
    for (i = 0; i < n; i++) p[i] = (float)(p[i] / sum);

    /* 4. the candidates: every token with p > 0 */
    m = 0;
    for (i = 0; i < n; i++)
        if (p[i] > 0.0f) work[m++] = i;
    if (m == 0) return mamba_argmax(logits, n);
    /* 5. top-k: the k most likely, by quickselect */
    if (smp->top_k > 0 && smp->top_k < m) {
        mamba__select_top(p, work, m, smp->top_k);
        m = smp->top_k;
    }
    /* 6. top-p (nucleus): the smallest prefix of the sorted candidates whose
          mass is >= top_p of what is left (renormalised after top-k, as
          Hugging Face does). Select the top 64, 256, ... until they hold
          enough mass, so only a handful are ever sorted. */
    if (smp->top_p < 1.0f) {
        int k = 64;
        double mass, target = 0.0;
        for (i = 0; i < m; i++) target += p[work[i]];
        target *= smp->top_p;
        for (;;) {
            if (k > m) k = m;
            mamba__select_top(p, work, m, k);
            mass = 0.0;
            for (i = 0; i < k; i++) mass += p[work[i]];
            if (mass >= target || k == m) break;
            k *= 4;
        }
        mamba__sort_top(p, work, k);
        mass = 0.0;
        for (i = 0; i < k; i++) {
            mass += p[work[i]];
            if (mass >= target) {
                i++;
                break;
            }
        }
        m = i < k ? i : k;
    }
    /* 7. min-p: drop tokens far less likely than the best one. The best has
          p = exp(0) / sum, the largest, and always survives; the ratio is the
          same before and after renormalising, so the order with 5 and 6
          matters not. */
    if (smp->min_p > 0.0f) {
        float floor_p = smp->min_p * (float)(1.0 / sum);
        for (i = j = 0; i < m; i++)
            if (p[work[i]] >= floor_p) work[j++] = work[i];
        m = j;
    }
    /* 8. one draw from what is left, renormalised */
    sum = 0.0;
    for (i = 0; i < m; i++) sum += p[work[i]];
    r = mamba_rng_float(rng) * (float)sum;
    acc = 0.0f;
    for (i = 0; i < m; i++) {
        acc += p[work[i]];
        if (r < acc) return work[i];
    }
    return work[m - 1]; /* rounding left r at the very top */
}


/* ---- >>tokenizer ------------------------------------------------------ */

/* ---- >>results ------------------------------------------------------- */

MAMBA_API const char *mamba_result_string(mamba_result r)
{
    /* no default: -Wall (-Wswitch) names a code that lacks a string */
    switch (r) {
    case MAMBA_OK: return "ok";
    case MAMBA_ERR_INVALID_ARG: return "invalid argument";
    case MAMBA_ERR_OUT_OF_MEMORY: return "out of memory";
    case MAMBA_ERR_IO: return "input/output error";
    case MAMBA_ERR_TRUNCATED: return "file is truncated";
    case MAMBA_ERR_BAD_MAGIC: return "not a mamba.h model file (bad magic)";
    case MAMBA_ERR_VERSION: return "unsupported file format version";
    case MAMBA_ERR_ENDIAN: return "wrong byte order or float format";
    case MAMBA_ERR_DIMENSION: return "bad model dimensions";
    case MAMBA_ERR_TENSOR: return "bad tensor directory entry";
    case MAMBA_ERR_BOUNDS: return "data outside the file";
    case MAMBA_ERR_ALIGN: return "misaligned data";
    case MAMBA_ERR_TOKEN: return "token id out of range";
    case MAMBA_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case MAMBA_ERR_TOKENIZER: return "missing or malformed tokenizer";
    }
    return "unknown result code";
}

#endif /* MAMBA__IMPLEMENTED */
#endif /* MAMBA_IMPLEMENTATION */

/*
   REVISION HISTORY
   0.1.0 (2026-11-28)  first release: zero-copy loader with hostile-input
                       checks, mmap loader, caller-memory states, mamba_step
                       for Mamba-1 and Falcon-Mamba, f32/f16/bf16 matrices.

   ------------------------------------------------------------------------
   LICENSE (MIT)

   Copyright (c) 2026 the mamba.h authors

   Permission is hereby granted, free of charge, to any person obtaining a
   copy of this software and associated documentation files (the
   "Software"), to deal in the Software without restriction, including
   without limitation the rights to use, copy, modify, merge, publish,
   distribute, sublicense, and/or sell copies of the Software, and to permit
   persons to whom the Software is furnished to do so, subject to the
   following conditions:

   The above copyright notice and this permission notice shall be included
   in all copies or substantial portions of the Software.

   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
   OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
   MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN
   NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
   DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
   OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE
   USE OR OTHER DEALINGS IN THE SOFTWARE.
*/
