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
   CONFIG: MAMBA_NO_SIMD         portable scalar kernels only (the readable reference)
   CONFIG: MAMBA_FORWARD_BLOCK   tokens per block in mamba_forward() scratch sizing
   CONFIG: MAMBA_PAR_MIN_WORK    smallest loop of mamba_step() split across OpenMP threads
   CONFIG: MAMBA_PREFETCH_AHEAD  bytes ahead a decode kernel prefetches its weights (2048; 0 none)
   CONFIG: MAMBA_BATCH_ROWS, MAMBA_BATCH_COLS, MAMBA_BATCH_PANEL_BYTES  how mamba_step_batch()
                                 cuts a matrix (AVX-512: 12 rows x 128 columns; 64 KB panels)
   CONFIG: MAMBA_BATCH_FEW       the most sequences whose f32/f16/bf16 matrices mamba_step_batch()
                                 takes through mamba_step()'s four row streams, two at a time
                                 (AVX-512; default found at run time: all on AMD Zen 4 and Zen 5,
                                 else none)
   CONFIG: MAMBA_THREADS_ADAPT   1 (default): each state times its calls with all threads and
                                 with one, and uses the faster (a busy core); 0: always all
   CONFIG: MAMBA_SSD_CHUNK       0 (default): Mamba-2 prompts use the recurrence; Q: the chunked
                                 SSD form in chunks of Q tokens (a measured alternative)

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

   Mamba-2 (arch 3) makes A one scalar per head and shares B and C across a
   group of heads: d_inner = H heads of P channels, G groups,
       (z, xBC, dt) = in_proj(u)            d_inner, d_inner + 2 G N, H
       xBC = SiLU(causal conv1d over xBC);  x (H x P), B (G x N), C (G x N)
       Delta[h] = softplus(dt[h] + dt_bias[h])   (clamped when a limit is set)
       S[h][p][n] = exp(Delta[h] A[h]) S[h][p][n] + Delta[h] x[h][p] B[g][n]
       y[h][p]    = sum_n C[g][n] S[h][p][n] + D x[h][p]     g = h / (H / G)
       y  = RMSNorm per group of d_inner/G channels (y * SiLU(z)) * w
       r  = r + out_proj(y)
   mamba__block_mamba2() follows mamba2.py Mamba2.step: the same scan
   (mamba__scan) in another shape, and a gated norm (mamba__gated_norm).

   ====================================================================
   FILE FORMAT (docs/format.md has the full tables)
   ====================================================================
   Little-endian. A 128-byte header: magic "\x89MAMBA\r\n", format version (1;
   2 for Mamba-2, whose header is 160 bytes: + heads, head size, groups, and
   the clamp of Delta),
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
   BAD INPUT: what each gets (tests/test_badinput.c checks every line)
   ====================================================================
   token id < 0 or >= n_vocab_padded   MAMBA_ERR_TOKEN from mamba_step and
                                       mamba_forward; state and logits unchanged
                                       (forward checks all ids before any work)
   id in n_vocab..n_vocab_padded-1     accepted (the padding rows exist);
                                       mamba_argmax(l, n_vocab) never returns one
   empty prompt                        mamba_forward(n = 0): no-op, MAMBA_OK;
                                       there are no logits before a first token:
                                       step bos_id (when >= 0) or a chosen token
   zero-length generation              nothing to call; the state stays usable
   NULL model, state, buffer, path     MAMBA_ERR_INVALID_ARG from every function
                                       returning mamba_result; no-ops:
                                       mamba_model_close, mamba_state_free,
                                       mamba_state_reset, mamba_rng_seed;
                                       0 from mamba_state_size, _snapshot_size,
                                       mamba_forward_scratch_size, mamba_rng_u32,
                                       mamba_rng_float; -1 from mamba_argmax and
                                       mamba_sample; logits NULL in mamba_step:
                                       advance without computing them.
                                       Tokenizer: INVALID_ARG for a NULL or
                                       zeroed tokenizer; 0 from
                                       mamba_encode_work_size, mamba_detok_flush;
                                       mamba_detok_init(NULL) is a no-op
   a model whose load failed, closed   MAMBA_ERR_INVALID_ARG from every entry
                                       point (state_size/_init/_new, step,
                                       forward and its scratch size, save,
                                       load, tokenizer_from_model): m->data is
                                       NULL and the model keeps no pointer
                                       into bytes it released (a refusal by
                                       MAMBA_LOAD_CHECK_FINITE included)
   a zeroed (never made) state         MAMBA_ERR_INVALID_ARG; free/reset: no-op
   a state of other shapes             MAMBA_ERR_INVALID_ARG (step, copy, save,
                                       load)
   NaN or infinite weights             load fine unchecked (NaN logits, no
                                       crash); MAMBA_LOAD_CHECK_FINITE refuses
                                       them: MAMBA_ERR_NONFINITE + the tensor
   NaN or infinite logits              mamba_argmax skips NaN (0 if all NaN);
                                       mamba_sample agrees: never draws a NaN,
                                       always draws a +Inf (the first of
                                       several), never -Inf while a finite
                                       logit is left; all NaN: 0
   any sampler parameter, NaN, +-Inf   a meaning for every value (see
                                       mamba_sampler): temperature NaN, <= 0 or
                                       below FLT_MIN is greedy (mamba_argmax),
                                       +Inf uniform; min_p > 1 or +Inf keeps
                                       the best; top_p, min_p, penalty NaN:
                                       off; an id in 0..n-1, never a crash
   many recent ids (repetition)        O(n + n_recent), no allocation: each
                                       distinct id penalised once
   flat or crafted logits              mamba_sample is O(n log n) at worst
                                       (top-p on a flat distribution, a bad
                                       order for quickselect), never O(n^2)
   damaged or foreign state snapshot   its own code: see >>snapshot-api
   snapshot position above LONG_MAX    MAMBA_ERR_STATE_CHECKSUM; up to it
                                       accepted, and stepping on stops the
                                       count at LONG_MAX (never overflows)
   a directory, FIFO, socket, device   MAMBA_ERR_IO from mamba_model_open at
                                       once (POSIX; the read build too),
                                       never a wait on a FIFO's writer
   malformed tokenizer section         MAMBA_ERR_TOKENIZER + t->error; counts
                                       bounded at init (2^20 added tokens of
                                       <= 1024 bytes; 256 regex sets/alts);
                                       encoding stays linear in the text (a
                                       trie for added tokens, a step budget
                                       for the regex: ERR_TOKENIZER past it)
   model file changed after mmap       see mamba_model_open: may show; a
                                       truncation kills with SIGBUS; copy or
                                       rename() instead
   Not checkable, so undefined: an uninitialised (garbage) struct, a buffer
   shorter than its stated size, a model whose bytes are freed while used,
   a tokenizer used after the model it came from is closed.

   ====================================================================
   LIMITS
   ====================================================================
   d_model <= 65536, n_layer <= MAMBA_MAX_LAYERS, d_inner <= 262144,
   d_state <= 1024, d_conv <= 64, dt_rank <= 65536, vocabulary <= 16777216
   rows. Weights: f32, f16, bf16, q8 (int8 in blocks of 32 with an f16
   scale), q4_0 or iq4_nl (4 bits in blocks of 32 with an f16 scale: ggml's
   Q4_0 and IQ4_NL values) or q4_k (ggml's Q4_K super-blocks of 256)
   matrices; everything else f32. Mamba-1,
   Falcon-Mamba and Mamba-2 blocks (Mamba-2: n_groups divides n_heads,
   d_inner + 2 n_groups d_state <= 262144; no gated-MLP slice, d_ssm =
   d_inner). SIMD: AVX-512, AVX2/FMA/F16C, NEON, chosen at compile time.
   Tokenizers: BPE only (byte-level, or SentencePiece-style with byte
   fallback); no Unigram or WordPiece (tools/tokpack.py says what it refuses).

   ====================================================================
   RECENT CHANGES (full history at the end of the file)
   ====================================================================
   next   Mamba-2 (arch 3, format version 2): mamba_step and mamba_forward
          with grouped B/C, a decay per head and the grouped gated RMSNorm;
          version-1 files load unchanged.
          OpenMP beside a busy core: every call, short ones too (a quiet
          machine's 2-thread speed is kept), is timed on all threads and on
          one; a call on all threads that falls behind one thread's pace
          finishes on one, and two such calls switch the state to one thread
          (>>threads), so 2 threads are not slower than 1 there.
          4-bit weights q4_0, iq4_nl and q4_k (dtypes 4, 5, 6; GGUF Q4_0 /
          IQ4_NL / Q4_K load bit for bit through tools/convert.py, which now
          reads GGUF).
          mamba_step_batch: n sequences a token each, every weight read once
          for all, bit-identical to mamba_step; every architecture and dtype.
   0.1.0  first release: hostile-input loader, mamba_step, mamba_forward,
          f32/f16/bf16/q8 weights with SIMD kernels, samplers, GPT-NeoX BPE
          tokenizer, state snapshots.
*/
#ifndef MAMBA_H
#define MAMBA_H

#include <stddef.h> /* size_t */

#define MAMBA_VERSION_MAJOR 0
#define MAMBA_VERSION_MINOR 1
#define MAMBA_VERSION_PATCH 0
#define MAMBA_VERSION_STRING "0.1.0"
/* The weight-file format has its own version: a library reads files of
   versions 1 (Mamba-1, Falcon-Mamba) up to this one (2: the Mamba-2 header
   fields), and says MAMBA_ERR_VERSION otherwise. */
#define MAMBA_FORMAT_VERSION 2

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
    MAMBA_ERR_TOKENIZER = -14,       /* no tokenizer section, or a malformed one */
    /* state snapshots (mamba_state_load) and checked loads; numbered from -20
       to leave room for the codes above */
    MAMBA_ERR_STATE_MAGIC = -20,     /* not a state snapshot (bad magic) */
    MAMBA_ERR_STATE_VERSION = -21,   /* a snapshot version this library does not read */
    MAMBA_ERR_STATE_MODEL = -22,     /* a snapshot of another model (shape or fingerprint) */
    MAMBA_ERR_STATE_CHECKSUM = -23,  /* a corrupted snapshot (checksum or an impossible field) */
    MAMBA_ERR_NONFINITE = -24        /* a weight is NaN or infinite (MAMBA_LOAD_CHECK_FINITE) */
} mamba_result;

/* A static, human-readable string for a result code. Never NULL. */
MAMBA_API const char *mamba_result_string(mamba_result r);

/* ---- >>types --------------------------------------------------------- */

typedef enum mamba_arch {
    MAMBA_ARCH_MAMBA1 = 1, /* state-spaces/mamba, transformers "mamba" */
    MAMBA_ARCH_FALCON = 2, /* transformers "falcon_mamba": + RMS norms on delta, B, C */
    MAMBA_ARCH_MAMBA2 = 3  /* state-spaces Mamba2, transformers "mamba2": heads, grouped B/C, gated norm */
} mamba_arch;

typedef enum mamba_dtype {
    MAMBA_DTYPE_F32 = 0,
    MAMBA_DTYPE_F16 = 1, /* IEEE half */
    MAMBA_DTYPE_BF16 = 2, /* the upper 16 bits of an f32 */
    MAMBA_DTYPE_Q8 = 3,    /* int8 in blocks of 32 with an f16 scale each (docs/format.md) */
    MAMBA_DTYPE_Q4_0 = 4,  /* 4-bit levels -8..7 in blocks of 32, an f16 scale each (ggml's Q4_0) */
    MAMBA_DTYPE_IQ4_NL = 5, /* 4-bit indices into ggml's IQ4_NL 16 levels, blocks of 32, f16 scales */
    MAMBA_DTYPE_Q4_K = 6    /* ggml's Q4_K: 4-bit, 6-bit scales and minimums per 32, f16 per 256 */
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
    float mixer_rms_eps; /* Falcon-Mamba's epsilon for delta, B, C; Mamba-2's gated norm's (0 otherwise) */
    int bos_id, eos_id, pad_id; /* -1 when absent */
    int conv_bias, in_proj_bias, out_proj_bias, tied_lm_head; /* 0 or 1 */
    /* Mamba-2 (arch 3; for the others n_heads = d_inner, head_dim = n_groups = 1
       and the rest 0, dt_max inf): d_inner = n_heads * head_dim; head h reads
       the B and C of group h / (n_heads / n_groups); dt_rank is 0 */
    int n_heads, head_dim, n_groups;
    int d_per_channel;    /* D is (d_inner), else (n_heads) */
    int gate_norm;        /* the gated RMSNorm is there (rmsnorm=True) */
    int norm_before_gate; /* RMSNorm(y) * SiLU(z), else RMSNorm(y * SiLU(z)) */
    float dt_min, dt_max; /* Delta is clamped to [dt_min, dt_max] (0 and inf: no clamp) */
} mamba_config;

/* A read-only view of a weight matrix in the file: rows x cols, row-major,
   elements of type dtype. */
typedef struct mamba_matrix {
    const void *data;
    int dtype; /* mamba_dtype */
    int rows, cols;
} mamba_matrix;

/* One block's weights: pointers into the model file, the superset of what
   the architectures use. A field the architecture or the file's flags do
   not call for stays NULL (a matrix: data NULL). Which role fills which
   field: the table MAMBA__ROLES (>>roles). Shapes for Mamba-1 and
   Falcon-Mamba, where conv channels = d_inner; Mamba-2 has conv channels =
   d_inner + 2 n_groups d_state (x, B, C) and in_proj rows = d_inner + conv
   channels + n_heads (z, x, B, C, dt). */
typedef struct mamba_layer {
    const float *norm;          /* (d_model) RMSNorm weight */
    mamba_matrix in_proj;       /* (2*d_inner, d_model) -> x, then z; Mamba-2 (in_proj rows, d_model) -> z, x, B, C, dt */
    const float *in_proj_bias;  /* (in_proj rows) or NULL */
    const float *conv_weight;   /* (conv channels, d_conv) */
    const float *conv_bias;     /* (conv channels) or NULL */
    mamba_matrix x_proj;        /* (dt_rank + 2*d_state, d_inner) -> delta, B, C; Mamba-1 family only */
    mamba_matrix dt_proj;       /* (d_inner, dt_rank); Mamba-1 family only */
    const float *dt_bias;       /* (n_heads): one per head, every channel a head in Mamba-1 (d_inner) */
    const float *A;             /* already -exp(A_log): (d_inner, d_state) in Mamba-1; (n_heads) in Mamba-2 */
    const float *D;             /* skip connection: (d_inner); Mamba-2 (n_heads) unless per channel */
    const float *gate_norm;     /* (d_inner) weight of a gated RMSNorm before out_proj (Mamba-2); NULL in Mamba-1 */
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

/* What an observer of the blocks sees (mamba_state_observe): one layer of
   one token, after its selective scan. Every pointer is read-only and valid
   only during the call (state scratch or model weights, overwritten by the
   next layer); copy what you keep. */
typedef struct mamba_observation {
    int layer;         /* 0 .. n_layer-1 */
    long pos;          /* the token's position: tokens consumed before it */
    int d_inner, d_state;
    const float *x;    /* (d_inner) the scan's input, SiLU(conv(x)) */
    const float *z;    /* (d_inner) the gate's input */
    const float *delta; /* (n_heads) Delta = softplus(dt_proj(...) + dt_bias) */
    const float *B, *C; /* (n_groups, d_state) each */
    const float *A;    /* (d_inner, d_state) the layer's A (negative); Mamba-2 (n_heads) */
    const float *h;    /* (d_inner, d_state) the state after this token */
    const float *y;    /* (d_inner) C h + D x, before the gate (and the gated norm) */
    int n_heads, head_dim, n_groups; /* Mamba-1: d_inner, 1, 1; channel c is in head c / head_dim */
    double kept;       /* mean over (c, n) of exp(delta[c] A[c][n]): the share of h kept */
    double state_norm; /* |h|, the Frobenius norm of h */
} mamba_observation;

/* An observer: called with the user pointer given to mamba_state_observe(). */
typedef void (*mamba_observer)(void *user, const mamba_observation *o);
/* OpenMP builds only: how many threads a state's calls use, chosen by timing
   them (see >>threads in the implementation). Zeroed by mamba_state_init();
   the caller never needs to touch it. */
typedef struct mamba_thread_choice {
    double sec[2];  /* seconds per token with all threads [0] and with one [1]: the count in use
                       a running average, the other its last try; 0: not measured */
    double spent;   /* seconds of calls since the last try of the count not in use */
    double wait;    /* seconds to spend before the next try */
    double strikes; /* calls on all threads that fell 1.5x behind one thread, less 1/8 per call
                       that kept pace; 2 switch to one thread */
    int use;        /* 0: all of omp_get_max_threads(), 1: one thread */
    int tried;      /* calls seen, up to 3: all on one thread, the first (cold) not timed */
    int streak;     /* tries in a row that confirmed the count in use (0..4) */
    int again;      /* 1: the next call tries all threads again, a try that came close (its woken
                       thread started cold) */
} mamba_thread_choice;

/* The recurrent state of one sequence, plus the scratch space one step
   needs, so mamba_step() never allocates. Fork it with mamba_state_copy().
   The recurrent part is conv then ssm, one block of
       n_layer * (conv_channels * conv_width + n_heads * head_dim * d_state)
   floats; for Mamba-1 and Falcon-Mamba (conv_channels = n_heads = d_inner,
   conv_width = d_conv, head_dim = 1) that is n_layer*d_inner*(d_conv + d_state). */
typedef struct mamba_state {
    int n_layer, d_model, d_inner, d_state, d_conv, dt_rank; /* shapes it was made for */
    int conv_channels, conv_width; /* a layer's conv window: conv_channels x conv_width */
    int n_heads, head_dim;         /* a layer's h: n_heads x head_dim x d_state */
    int in_proj_rows;              /* length of xz: Mamba-1 2*d_inner; Mamba-2 z, x, B, C, dt */
    float *conv;   /* (n_layer, conv_channels, conv_width): the last conv_width inputs of each conv channel,
                      oldest first, the newest the current input */
    float *ssm;    /* (n_layer, n_heads, head_dim, d_state): h, right after conv */
    float *r;      /* (d_model) residual stream */
    float *u;      /* (d_model) normed input of a block, later the block's output */
    float *xz;     /* (in_proj_rows) in_proj output: x then z (Mamba-2: z, x, B, C, dt) */
    float *dbc;    /* (dt_rank + 2*d_state) x_proj output: delta, B, C */
    float *delta;  /* (d_inner) Delta (Mamba-2: n_heads of it) */
    float *y;      /* (d_inner) SSM output */
    float *xs;     /* (nbx) scale of each block of 32 of a q8 matvec's input, where
                      nbx = ceil(max(d_model, d_inner, dt_rank) / 32); with AVX-512 then (nbx) each
                      block's sum for q4_k (MAMBA__INPUT_Q16T) */
    void *xq;      /* (32 * nbx) int16: that input quantised (q8 weights only) */
    long pos;      /* tokens consumed since the last reset; stops at LONG_MAX, never wraps */
    void *owned;   /* heap block when made by mamba_state_new() */
    mamba_observer observer; /* mamba_state_observe(); NULL (the default): none */
    void *observer_user;
    mamba_thread_choice threads[2]; /* OpenMP: [0] mamba_step's, [1] mamba_forward's (>>threads) */
    int batch_few; /* mamba_step_batch: the most sequences whose f32/f16/bf16 products take mamba_step's
                      four row streams in passes of two inputs (mamba__matvec_few), found by mamba_state_init */
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
   Errors: MAMBA_ERR_IO, MAMBA_ERR_OUT_OF_MEMORY, or any load error.
   On POSIX systems only a regular file is read: the path is opened
   non-blocking and fstat'ed first, so a directory, a FIFO (even one with
   no writer: no wait), a socket or a device gives MAMBA_ERR_IO at once, in
   the mmap and the MAMBA_NO_MMAP builds alike; when open() itself fails,
   errno keeps the system's reason. (Without POSIX, fopen() is all there
   is: such a path is the caller's to avoid.)
   A file changed on disk while mapped (MAP_PRIVATE, read-only): a change
   made in place may or may not show in the model (on Linux it does, for
   every page: the loader's checks were made on the old bytes, so a bad
   change can give wrong or NaN logits, though never an out-of-bounds
   read, as every pointer and size was fixed at load); a file truncated
   while mapped makes the next read of a page past the new end raise
   SIGBUS, which kills the process: no error code can report it. So never
   rewrite or truncate a model file in place while a program runs it:
   write a new file and rename() it over the old one (the mapping keeps
   the old file), or, if files may change under you, copy the bytes and
   use mamba_model_init_memory() on the copy (or build with MAMBA_NO_MMAP,
   which reads the file into the heap). tests/test_badinput.c shows both. */
MAMBA_API mamba_result mamba_model_open(mamba_model *m, const char *path);
#endif

/* Load options for the _ex loaders (a bit set; 0 is the plain load). */
#define MAMBA_LOAD_CHECK_FINITE 1u /* scan every weight; refuse NaN or infinity */

/* mamba_model_init_memory() with options. MAMBA_LOAD_CHECK_FINITE reads
   every value of every tensor (f32, f16, bf16, and the f16 scales of q8;
   int8 values are always finite) and refuses the first NaN or infinity
   with MAMBA_ERR_NONFINITE, m->error set, m->error_role naming the tensor
   and m->error_layer its layer (-1 for embedding, norm_f, lm_head). Costs
   one pass over all the weights, once. Without it a non-finite weight
   loads and turns logits into NaN: no crash, but no text either. A refused
   model is unusable (m->data is NULL). Unknown flag bits:
   MAMBA_ERR_INVALID_ARG. */
MAMBA_API mamba_result mamba_model_init_memory_ex(mamba_model *m, const void *data, size_t size, unsigned flags);

#ifndef MAMBA_NO_STDIO
/* mamba_model_open() with the options above; a refused file is closed
   again (nothing to release), m->error and friends kept. */
MAMBA_API mamba_result mamba_model_open_ex(mamba_model *m, const char *path, unsigned flags);
#endif

/* Release what the model owns (a mapping or a heap copy); a model loaded
   with mamba_model_init_memory() owns nothing. Safe to call twice. */
MAMBA_API void mamba_model_close(mamba_model *m);

/* Bytes of memory a state for this model needs (state + scratch):
   4 * (R + 2*d_model + 4*d_inner + dt_rank + 2*d_state + 17*nbx) plus
   alignment, where R is the recurrent part (see mamba_state) and
   nbx = ceil(max(d_model, d_inner, dt_rank) / 32) (the q8 scratch; 18*nbx
   where AVX-512 takes q4_k's block terms, MAMBA__INPUT_Q16T). */
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

/* Watch the blocks of this state: from now on mamba_step() (and
   mamba_forward(), which then goes token by token) calls fn(user, &o) once
   per layer and token, after the layer's scan and before its gate, with
   the vectors and statistics of mamba_observation. fn must not use this
   state (nor free it) during the call; the observation's pointers are valid
   only during the call. The observer computes its statistics over
   d_inner x d_state entries per layer (an exp each): slow, for tracing
   and teaching. fn NULL switches it off; a state starts without one, and
   mamba_state_copy() leaves dst's own. Unset, the cost is one predictable
   branch per layer. A NULL s is a no-op. */
MAMBA_API void mamba_state_observe(mamba_state *s, mamba_observer fn, void *user);

/* Bytes a weight matrix takes in the model file: what reading it once
   costs (rows times the row bytes of its dtype, scales included); 0 for
   NULL or a dtype this library does not know. */
MAMBA_API size_t mamba_matrix_bytes(const mamba_matrix *w);

/* The short name of a weight type ("f32", "f16", "bf16", "q8", "q4_0",
   "iq4_nl", "q4_k": the --dtype names of tools/convert.py), a static string;
   "unknown" for a dtype this library does not know. */
MAMBA_API const char *mamba_dtype_string(int dtype);

/* Index of the largest of the first n logits (the first one on ties):
   greedy decoding. n is usually config.n_vocab, so padding rows never win.
   NaN logits never win (0 if all are NaN); -1 for NULL or n < 1. */
MAMBA_API int mamba_argmax(const float *logits, int n);

/* ---- >>forward-api (batched prompt processing) ------------------------ */

/* mamba_forward() reads a prompt in blocks of up to `block` tokens at a time.
   Within a block every projection is a matrix-matrix product: each weight
   row is read once and used for all the block's tokens, so a prompt costs
   arithmetic rather than memory bandwidth. Its scratch memory is the
   caller's, like the state's: ask the size, then pass a buffer.

   CONFIG: MAMBA_FORWARD_BLOCK   a good block size for the scratch (default 256 tokens:
                                 31 KB a token, 7.9 MB for mamba-130m; each block
                                 reads every weight once, so larger blocks read
                                 less, while 64 already reuses each weight 64 times) */
#ifndef MAMBA_FORWARD_BLOCK
#define MAMBA_FORWARD_BLOCK 256
#endif
#define MAMBA_FORWARD_MAX_BLOCK 1024 /* the largest block mamba_forward() uses */

/* flags of mamba_forward() */
#define MAMBA_FORWARD_ALL_LOGITS 1 /* logits of every token, not only the last */

/* Bytes of scratch mamba_forward() needs to work in blocks of `block`
   tokens (1..MAMBA_FORWARD_MAX_BLOCK):
     4 * block * (2*d_model + 4*d_inner + dt_rank + 2*d_state)
   plus at most 64 bytes of alignment per array. 0 for bad arguments. */
MAMBA_API size_t mamba_forward_scratch_size(const mamba_model *m, int block);

/* Advance the state over tokens[0..n-1], as n calls of mamba_step() would,
   and write logits: with flags 0, the n_vocab_padded logits after the last
   token; with MAMBA_FORWARD_ALL_LOGITS, n rows of n_vocab_padded, row i the
   logits after tokens[i] (logits then holds n * n_vocab_padded floats).
   logits may be NULL to only advance the state. n == 0 does nothing.

   scratch/scratch_bytes: caller memory, any alignment, used only during the
   call (one scratch per concurrent call). The block size is the largest
   whose mamba_forward_scratch_size() fits in scratch_bytes (at most
   MAMBA_FORWARD_MAX_BLOCK). The results do not depend on the block size nor
   on the thread count (bit for bit), and agree with mamba_step() to float
   rounding (the summation order differs: about 1e-6 relative, 7e-6 after
   2000 tokens in tests/t_forward.sh; both stay as close to the float64
   reference as each other). With
   scratch NULL it falls back to one mamba_step() per token. Never allocates.

   Errors: MAMBA_ERR_INVALID_ARG (NULL model/state, a model whose load
   failed or that was closed, tokens NULL with n > 0, n < 0, a state of
   other shapes), MAMBA_ERR_BUFFER_TOO_SMALL (scratch below
   one token's worth), MAMBA_ERR_TOKEN (any token outside
   0..n_vocab_padded-1). All tokens are checked before any work: on every
   error the state and the logits are unchanged. */
MAMBA_API mamba_result mamba_forward(const mamba_model *m, mamba_state *s, const int *tokens, int n, float *logits,
                                     int flags, void *scratch, size_t scratch_bytes);

/* ---- >>snapshot-api (state save/load) --------------------------------- */

/* A snapshot is a state saved to bytes: to cache a long prompt and resume
   from it many times, to move a conversation between processes or machines,
   or to survive a restart. Only the recurrent part is saved (the conv
   windows, h, the position); the scratch space is recomputed by the next
   mamba_step(). Loading a snapshot and stepping on gives bit-identical
   logits to never having stopped.

   The blob, version 1, all integers little-endian, the floats written byte
   by byte as little-endian IEEE binary32 (so a blob moves between machines):

     offset size
       0     8   magic "\x89MSTATE\n"
       8     4   blob version (MAMBA_SNAPSHOT_VERSION)
      12     4   n_layer        16 4 d_model     20 4 d_inner
      24     4   d_state        28 4 d_conv      32 4 dt_rank
      36     4   zero (reserved)
      40     8   pos, the tokens consumed (at most LONG_MAX of the loading machine)
      48     8   the model fingerprint (below)
      56     8   F, the number of floats: the state's recurrent part (see
                 mamba_state; Mamba-1: n_layer*d_inner*(d_conv + d_state))
      64    4F   the conv windows (mamba_state.conv), then h (.ssm)
    64+4F    8   checksum: FNV-1a 64 over bytes 0 .. 64+4F-1

   The fingerprint is FNV-1a 64 over, in this order: the 32-bit
   little-endian values of arch, d_model, n_layer, d_inner, d_state,
   d_conv, dt_rank, n_vocab_padded, n_vocab, the bits of norm_eps and of
   mixer_rms_eps, conv_bias, in_proj_bias, out_proj_bias, tied_lm_head and
   the dtype of the embedding; then raw weight bytes: the first and the last
   64 bytes of the embedding, all of norm_f up to 64 bytes, and the first 64
   bytes of each layer's in_proj, A and out_proj. So a snapshot is refused by
   a model of another shape and by a different model of the same shape; a
   model that differs from the saving one only in weights outside that
   sample (a fine-tune that froze exactly those rows) is not detected. It
   costs a few kilobytes of hashing per save or load.

   Size of a snapshot: 72 + 4 * F. */
#define MAMBA_SNAPSHOT_VERSION 1

/* Bytes mamba_state_save() writes for this state; 0 for NULL or a state
   that was never made. */
MAMBA_API size_t mamba_state_snapshot_size(const mamba_state *s);

/* Write the snapshot of s, made for model m, into buf (cap bytes). On
   success *written (may be NULL) is the blob's size. Errors:
   MAMBA_ERR_INVALID_ARG (NULL s, m or buf, or s not made for m's shapes),
   MAMBA_ERR_BUFFER_TOO_SMALL (cap < mamba_state_snapshot_size(s); then
   *written is the size needed). Reads s, never changes it. */
MAMBA_API mamba_result mamba_state_save(const mamba_state *s, const mamba_model *m, void *buf, size_t cap,
                                        size_t *written);

/* Load a snapshot into s, a state made for model m (mamba_state_new or
   _init). The blob is checked in this order: MAMBA_ERR_INVALID_ARG (NULL s,
   m or buf; s not made for m); MAMBA_ERR_TRUNCATED (len shorter than the
   blob's header or than the size its header gives); MAMBA_ERR_STATE_MAGIC;
   MAMBA_ERR_STATE_VERSION (a version other than MAMBA_SNAPSHOT_VERSION);
   MAMBA_ERR_STATE_CHECKSUM (a changed byte: FNV-1a maps any one-byte change
   to another hash, so every single-bit flip is refused, by this code or,
   in the magic, version or float count, by the codes before it; also an
   impossible field under a good checksum: a nonzero reserved word, a pos
   above LONG_MAX); MAMBA_ERR_STATE_MODEL
   (the sizes or the fingerprint are not m's). Bytes past the blob's end
   (len larger than needed) are ignored. s is changed only when everything
   checks out; on any error it is exactly as before. Costs one pass over
   the blob to check it and one to copy it. */
MAMBA_API mamba_result mamba_state_load(mamba_state *s, const mamba_model *m, const void *buf, size_t len);

/* ---- >>checkpoint-api (prefix checkpoints) ------------------------------ */

/* A recurrent state cannot be wound back: the state after token 1000 says
   nothing about the state after token 400. So to change a long input at
   token 400 (an edited document, a chat whose last turn is retried) without
   reading it all again, keep copies of the state at points along the way.
   A checkpoint store does that: it holds the token history that was read
   and copies of the state at every `interval` tokens of it (and at the end
   of each call); a lookup finds the longest prefix of a new token sequence
   that the history shares and that has a checkpoint, restores that state,
   and only the rest is read.

   Built on the public pieces only: the copies are mamba_state_copy()s,
   and mamba_forward() gives bit-identical results for any split of its
   input, so restoring at token p and reading the rest gives exactly (bit
   for bit) the state and logits of reading everything from the start, as
   long as both go through mamba_forward() with a scratch buffer (any size)
   or both token by token (scratch NULL): the two paths differ in rounding
   (see mamba_forward). tests/test_checkpoint.c checks it.

   Memory (all the caller's, asked then given, like a state's):
     mamba_checkpoints_size(m, capacity, max_tokens)
       = capacity * (mamba_state_size(m) + sizeof(mamba_state) + 2 * sizeof(int))
         + max_tokens * sizeof(int) + 64 (alignment)
   One checkpoint is one state: about 4 * n_layer * d_inner * (d_conv +
   d_state) bytes, 2.98 MB for mamba-130m (24 * 1536 * 20 floats, plus 35 KB
   of the state's scratch), 11.8 MB for mamba-790m (48 * 3072 * 20), 0.13 MB
   for the shipped tinystories model. A 5,000-token document with a
   checkpoint every 256 tokens: 20 checkpoints, 60 MB for mamba-130m; an
   edit at token p then costs reading 5000 - 256 * floor(p / 256) tokens.

   The store holds one linear history. Checkpoints always lie on it: adding
   a sequence that departs from the history at token k drops the
   checkpoints after k (they describe a text that is gone). For several
   independent sequences (documents, users), use one store each.

   When every slot is taken, adding a checkpoint first drops one: by
   default the one whose neighbours are closest together (the remaining
   checkpoints stay spread over the whole history); with the flag
   MAMBA_CHECKPOINTS_KEEP_RECENT the one earliest in the history (a chat's
   undo wants the most recent turns).

   Not thread-safe to change (add, forward, clear) while another thread
   uses the store; any number of threads may restore from it at once. */
#define MAMBA_CHECKPOINTS_KEEP_RECENT 1u     /* when full, drop the earliest checkpoint */
#define MAMBA_CHECKPOINTS_MAX_CAPACITY 65536 /* checkpoints one store may hold */
#define MAMBA_CHECKPOINTS_MAX_TOKENS (1 << 30) /* history length and interval */

/* Called, when set, with every checkpoint as it is made: s is the state
   after tokens[0..n-1] (s->pos == n). s and tokens are only valid during
   the call (the store keeps its own copy when it has slots; with capacity
   0 the callback is the only consumer, e.g. to mamba_state_save() each
   checkpoint to a file). It must not call the store. */
typedef void (*mamba_checkpoint_fn)(void *user, const mamba_state *s, const int *tokens, int n);

/* A store of checkpoints in caller memory (mamba_checkpoints_init) or
   MAMBA_MALLOC'd (mamba_checkpoints_new). Fields are read-only except the
   callback pair, which the caller may set at any time. */
typedef struct mamba_checkpoints {
    const mamba_model *model; /* the states are this model's; it must outlive the store */
    int capacity;             /* slots for states */
    int interval;             /* a checkpoint every `interval` tokens of the history; 0: only at ends */
    int max_tokens;           /* the longest history it can hold */
    unsigned flags;           /* MAMBA_CHECKPOINTS_* */
    int n_tokens;             /* the history: tokens[0..n_tokens-1] */
    int *tokens;              /* (max_tokens) */
    int n_used;               /* checkpoints held */
    int *order;               /* (capacity) the used slots, by position */
    int *pos;                 /* (capacity) the position of each slot's state; -1 when free */
    mamba_state *slot;        /* (capacity) states, each in its own piece of the memory */
    mamba_checkpoint_fn on_checkpoint; /* optional, see above */
    void *user;                        /* passed to on_checkpoint */
    void *owned;                       /* heap block when made by mamba_checkpoints_new() */
} mamba_checkpoints;

/* Bytes of memory a store of `capacity` checkpoints (0..MAMBA_CHECKPOINTS_
   MAX_CAPACITY) and a history of up to max_tokens tokens (0..MAMBA_
   CHECKPOINTS_MAX_TOKENS) needs: the formula above. 0 for a NULL or
   unloaded model, a count out of range, or a size that would not fit in
   size_t. */
MAMBA_API size_t mamba_checkpoints_size(const mamba_model *m, int capacity, int max_tokens);

/* Make an empty store in the caller's memory (at least mamba_checkpoints_
   size() bytes, any alignment). The store points into mem, which the caller
   keeps alive and does not touch while the store is used; nothing to free.
   interval is 0 (checkpoints only where a call ends) or 1..MAMBA_
   CHECKPOINTS_MAX_TOKENS; flags is 0 or MAMBA_CHECKPOINTS_KEEP_RECENT.
   Errors: MAMBA_ERR_INVALID_ARG (NULL c, m or mem, an unloaded model, a
   count out of range, an unknown flag), MAMBA_ERR_BUFFER_TOO_SMALL. */
MAMBA_API mamba_result mamba_checkpoints_init(mamba_checkpoints *c, const mamba_model *m, int capacity,
                                              int max_tokens, int interval, unsigned flags, void *mem,
                                              size_t bytes);

/* The same in memory from MAMBA_MALLOC (mamba_checkpoints_size() bytes);
   release with mamba_checkpoints_free(). Errors: those of _init, and
   MAMBA_ERR_OUT_OF_MEMORY. */
MAMBA_API mamba_result mamba_checkpoints_new(mamba_checkpoints *c, const mamba_model *m, int capacity,
                                             int max_tokens, int interval, unsigned flags);
/* Release a store from mamba_checkpoints_new() (and zero the struct);
   NULL or a zeroed store: no-op. A store from _init owns nothing. */
MAMBA_API void mamba_checkpoints_free(mamba_checkpoints *c);

/* Forget the history and every checkpoint (the memory stays in use). */
MAMBA_API void mamba_checkpoints_clear(mamba_checkpoints *c);

/* The lookup: find the checkpoint with the longest prefix of tokens[0..n-1]
   that the history shares, and copy it into s (made for the store's
   model); if there is none, reset s. *pos (may be NULL) is then the
   tokens s has read, 0..n: the caller reads tokens[*pos..n-1] next. To get
   logits for the last token, look up n - 1 tokens (so at least one is
   left to read), as mamba_checkpoints_forward() does. The store is only
   read. Costs comparing up to n tokens and copying one state.
   Errors: MAMBA_ERR_INVALID_ARG (NULL c or s, tokens NULL with n > 0,
   n < 0, s not made for the store's model); s is then unchanged. */
MAMBA_API mamba_result mamba_checkpoints_restore(const mamba_checkpoints *c, mamba_state *s, const int *tokens,
                                                 int n, int *pos);

/* Record that s is the state after tokens[0..n-1] (s->pos must be n: the
   state read exactly these tokens since its last reset): the history
   becomes tokens[0..n-1], the checkpoints after the first token where it
   departs from the old history are dropped, a copy of s is stored at n
   (replacing one there; dropping one by the rule above when full; none
   when capacity is 0), and on_checkpoint is called. Use it after reading
   tokens by other means (mamba_step while generating). n == 0 does nothing
   (the empty prefix is a reset state). s and tokens are copied, not kept.
   Costs comparing up to n tokens, copying the new ones and one state.
   Errors: MAMBA_ERR_INVALID_ARG (NULL c or s, tokens NULL with n > 0, n < 0,
   s->pos != n, s not made for the store's model), MAMBA_ERR_BUFFER_TOO_SMALL
   (n > max_tokens); the store is then unchanged. */
MAMBA_API mamba_result mamba_checkpoints_add(mamba_checkpoints *c, const mamba_state *s, const int *tokens, int n);

/* Read tokens[0..n-1] into s with the store's help: restore the longest
   stored prefix of tokens[0..n-2] (of tokens[0..n-1] when logits is NULL),
   then read the rest with mamba_forward() in pieces that end at every
   multiple of the interval and at n, adding a checkpoint at each piece's
   end (mamba_checkpoints_add). Afterwards s has read tokens[0..n-1] exactly
   as mamba_forward() from a reset state would have, bit for bit, and
   logits (n_vocab_padded floats, may be NULL) are those after tokens[n-1].
   *n_read (may be NULL) is the number of tokens actually read, n minus the
   restored prefix. scratch/scratch_bytes as mamba_forward() (NULL: token by
   token); n == 0 does nothing. Never allocates.
   Errors, all found before any work (s, logits and the store are then
   unchanged): MAMBA_ERR_INVALID_ARG (NULL c or s, tokens NULL with n > 0,
   n < 0, s not made for the store's model), MAMBA_ERR_BUFFER_TOO_SMALL
   (n > max_tokens, or a scratch below one token's worth), MAMBA_ERR_TOKEN
   (a token outside 0..n_vocab_padded-1). */
MAMBA_API mamba_result mamba_checkpoints_forward(mamba_checkpoints *c, mamba_state *s, const int *tokens, int n,
                                                 float *logits, void *scratch, size_t scratch_bytes, int *n_read);

/* ---- >>batch-api (many sequences, one token each) ----------------------- */

/* Advance n independent states (n sequences: users of a server, beams,
   samples) by one token each, as n calls of mamba_step() would, bit for
   bit, but reading every weight from memory once for all of them (a
   matrix-matrix product over the n inputs instead of n matrix-vector
   products). Decoding one sequence is bound by the memory bandwidth (every
   weight read per token); n at once cost little more than one until the
   arithmetic is the limit.
   How: an f32, f16 or bf16 matrix goes through in groups of rows (12 with
   AVX-512 and AVX2, 8 elsewhere) and blocks of columns (128 with AVX-512,
   256 elsewhere; CONFIG: MAMBA_BATCH_ROWS, MAMBA_BATCH_COLS): the inputs'
   block stays in L1 while the group's rows meet it in triples (NEON:
   pairs), each weight widened once in registers for up to 8 inputs (4 with
   AVX2), one of mamba_step()'s two accumulators at a time (3 rows x 8
   inputs in 24 registers); with AVX-512BW a q8 or 4-bit row pair is
   loaded and unpacked once for 4 inputs; elsewhere a quantised matrix goes
   through in panels of rows that fit in L2 (CONFIG:
   MAMBA_BATCH_PANEL_BYTES), one input after another. n = 1 is mamba_step()'s own matvec. On
   an AMD Zen 4 or Zen 5 (found by mamba_state_init; CONFIG:
   MAMBA_BATCH_FEW) an f32/f16/bf16 matrix instead goes through as
   mamba_step() reads it, four distant rows side by side, each group of four
   rows through the inputs two at a time, which measured faster there (the
   figures: CONFIG MAMBA_BATCH_FEW).
   Bit-identical to mamba_step(): each (row, sequence) sum is made by the
   same operations in the same order as mamba_step()'s kernel makes it
   (the same two accumulators, chunks, reduction and tail; for the
   quantised types the same exact integer block sums and f32 steps), only
   the rows and sequences are interleaved; everything else is per state,
   the same calls. tests/test_batch.c checks it for every dtype, Mamba-1,
   Falcon-Mamba and Mamba-2, 1 to 64 sequences, 2 threads.
   Cost (README, "Many sequences at once"): on the 2-core AVX-512 Xeon it
   was measured on, one thread, the 790m-shaped model, 8 sequences gave
   3.7x the tokens per CPU second of one in f16 (3.4x before the rows came
   in pairs; the issue's target was 5x, the README says what holds it
   back), 5.4x in f32; 2.5x in q8, 1.9x in q4_0 (measured before).

   states: n distinct states made for m (no state twice), each at its own
   position; tokens: n ids; logits: n rows of n_vocab_padded floats, row j
   for states[j], or NULL. Uses only the states' own scratch: never
   allocates. n is 0..MAMBA_BATCH_MAX (0 does nothing); every architecture
   (Mamba-1, Falcon-Mamba, Mamba-2) and weight type. A state's observer
   (mamba_state_observe) sees each layer as in mamba_step().
   Errors, all found before any work (every state is then unchanged):
   MAMBA_ERR_INVALID_ARG (NULL model, states or tokens, n out of range, a
   NULL or zeroed state, a state of other shapes, a state given twice),
   MAMBA_ERR_TOKEN (a token outside 0..n_vocab_padded-1). */
#define MAMBA_BATCH_MAX 64
MAMBA_API mamba_result mamba_step_batch(const mamba_model *m, mamba_state *const *states, int n, const int *tokens,
                                        float *logits);

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
/* (a NULL rng: mamba_rng_seed does nothing, the other two return 0) */

/* How to turn logits into the next token. The filters compose in this
   order, as in Hugging Face's generate(): repetition penalty, temperature,
   then top-k, top-p and min-p on the softmax (each on what the previous
   left, renormalised), then one draw.
   mamba_sampler_default() gives plain sampling at temperature 1.
   Every value of every field has a meaning (NaN and +-Inf included), as
   below; none makes mamba_sample() fail or return an id outside 0..n-1. */
typedef struct mamba_sampler {
    float temperature;        /* <= 0, NaN or below FLT_MIN: greedy (mamba_argmax);
                                 1: the model's distribution; +Inf: uniform over the
                                 tokens whose logits are finite */
    int top_k;                /* keep the k most likely tokens; <= 0 (or >= n) off */
    float top_p;              /* keep the smallest set with mass >= top_p; >= 1 or NaN
                                 off; <= 0 keeps the most likely token alone */
    float min_p;              /* keep tokens with p >= min_p * p_max; <= 0 or NaN off;
                                 >= 1 (+Inf too) keeps the tokens tied with the best */
    float repetition_penalty; /* > 1 discourages recent tokens (CTRL, Keskar 2019),
                                 < 1 favours them; 1, <= 0 or NaN off; +Inf takes a
                                 recent positive logit to 0 and a negative to -Inf */
} mamba_sampler;

MAMBA_API mamba_sampler mamba_sampler_default(void);

/* Pick the next token from the first n logits (n is config.n_vocab, so
   the padding rows of the output matrix are never drawn). recent holds the
   last n_recent tokens for the repetition penalty (may be NULL when
   n_recent is 0; ids outside 0..n-1 are skipped; each distinct id is
   penalised once). The logits are overwritten (with probabilities); work
   is caller memory for n ints. Never allocates; O(n + n_recent) on average
   (top-k and top-p select their candidates by partial quickselect, not a
   full sort), O(n log n + n_recent) at worst, whatever the logits and
   parameters (a flat distribution under top-p sorts every candidate: a
   heapsort; a quickselect that goes badly falls back to a heap).
   Non-finite logits: a NaN logit is never drawn (probability 0); a +Inf
   logit is always drawn, the first one if there are several (what
   mamba_argmax picks); all NaN gives 0, as mamba_argmax. A greedy choice
   (see temperature) is mamba_argmax of the penalised logits: the first of
   equal best logits. Returns the token id in 0..n-1, or -1 for bad
   arguments (NULL, n < 1, n_recent < 0, recent NULL with n_recent > 0). */
MAMBA_API int mamba_sample(const mamba_sampler *smp, mamba_rng *rng, float *logits, int n, const int *recent,
                           int n_recent, int *work);

/* ---- >>tokenizer-api -------------------------------------------------- */
#define MAMBA_HAS_TOKENIZER 1

/* >>tokenizer  BPE exactly as Hugging Face's `tokenizers` runs a
   tokenizer.json, in the two designs current models use:

   byte-level BPE (GPT-2/GPT-NeoX, GPT-4/cl100k, Llama-3, Qwen2/Qwen3):
   1. Added tokens that are not "normalized" (<|endoftext|>, <|im_start|>,
      and non-special ones like Qwen's <think>) are cut out of the raw text
      first, leftmost match first, longest match at a position first. Each
      becomes its id; the text between them goes on.
   2. NFC (when the tokenizer has it): each remaining piece is put in Unicode
      Normalization Form C, so "e" + U+0301 and U+00E9 give the same ids.
      NFC = full canonical decomposition, then marks sorted by their
      canonical combining class, then canonical composition (UAX #15).
   3. "Normalized" added tokens (GPT-NeoX's runs of spaces) are cut out of
      the normalized text, again leftmost-longest.
   4. The pre-tokenizer regex splits each piece into words. GPT-2's is
        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
      cl100k's and Qwen's add case-insensitive contractions, one optional
      non-letter before letters, digits in groups of 1-3 (Qwen: one by one)
      and \s*[\r\n]+. The section carries the regex compiled into a small
      program (alternatives of greedy repeats of one character set, tried in
      order, with backtracking), so every such regex runs on one matcher.
   5. BPE on each word: the word's UTF-8 bytes start as one symbol each;
      then the adjacent pair with the lowest merge rank is merged into one
      symbol, again and again (ties: leftmost), until no pair has a merge.

   SentencePiece-style BPE (Llama-2, Mistral v1 and v3, Zamba2, Codestral):
   1. as above (added tokens, then NFC if any);
   2. " " and "▁" (U+2581) become one character, the visible space; a "▁" is
      put before each piece (the Prepend normaliser: every piece between
      added tokens; Metaspace "first": only at the start of the text, and
      not if the piece starts with a space);
   3. BPE on the whole piece (no regex): it starts as one symbol per
      character; a character without a piece becomes its UTF-8 bytes as the
      tokens <0x00>..<0xFF> (byte_fallback), else the unknown token (runs of
      them fused into one with fuse_unk).

   Decoding gives exactly Hugging Face's decode(ids, skip_special_tokens=
   false): each id stands for an exact byte string (the packer undoes GPT-2's
   byte<->character map and SentencePiece's "▁"); byte-level text that is not
   valid UTF-8 gets one U+FFFD per maximal ill-formed sequence; a run of
   byte-fallback tokens that is not valid UTF-8 gets one U+FFFD per byte; and
   where the decoder has Strip, the text's first space is removed.

   The tokenizer is a view of a packed section (tools/tokpack.py writes it;
   the model file can carry it): nothing is copied and nothing allocated. */

/* bits of mamba_tokenizer.flags (the section's) */
#define MAMBA_TOK_NFC 0x1u           /* NFC normaliser */
#define MAMBA_TOK_SENTENCEPIECE 0x2u /* BPE on characters, spaces as "▁" */
#define MAMBA_TOK_BYTE_FALLBACK 0x4u /* unknown characters become <0xNN> tokens */
#define MAMBA_TOK_FUSE_UNK 0x8u      /* a run of unknown characters is one unk */
#define MAMBA_TOK_STRIP 0x10u        /* decoding drops the text's first space */
#define MAMBA_TOK_META_SPLIT 0x20u   /* Metaspace split: a word starts at each "▁" */
#define MAMBA_TOK_ADD_BOS 0x40u      /* the template adds bos_id first */
#define MAMBA_TOK_ADD_EOS 0x80u      /* the template adds eos_id last */
#define MAMBA_TOK_DROP_GAPS 0x100u   /* text the regex does not match is dropped */

typedef struct mamba_tokenizer {
    const unsigned char *data;  /* the section; owned by the caller, must outlive this */
    size_t bytes;               /* its validated size */
    unsigned version;           /* section layout: 1 (GPT-NeoX only) or 2 */
    unsigned flags;             /* MAMBA_TOK_* */
    unsigned n_vocab;           /* ids are 0 .. n_vocab-1 */
    int unk_id, bos_id, eos_id; /* -1 when the tokenizer has none */
    int add_bos, add_eos;       /* 1 if the template adds bos_id first / eos_id last */
    unsigned prepend;           /* "▁" before a piece: 0 never, 1 each, 2 each unless "▁", 3 first */
    unsigned n_merges, n_added, n_class, n_ccc, n_decomp, n_decomp_pool, n_comp;
    unsigned n_chars, n_nodes, n_edges, max_added_bytes, n_sets, n_lits, n_alts, n_items;
    unsigned n_hash, max_probe; /* the merge hash: slots (0: none, binary search), longest probe */
    unsigned comp_min_second;   /* no canonical composition has a second character below this */
    int sp_words;               /* SentencePiece: no merge joins a character to a following "▁",
                                   so a piece can be cut into words before each "▁" run */
    unsigned max_token_bytes;   /* longest byte string of one id */
    unsigned detok_bytes;       /* output room mamba_detok_push() needs */
    unsigned cp_per_byte_x2;    /* bound: code points after decomposition per input byte, times 2 */
    unsigned utf8_per_byte;     /* bound: normalized UTF-8 bytes per input byte */
    const unsigned char *tok_offsets, *tok_blob, *byte_ids, *merges, *added, *added_blob;
    const unsigned char *cls, *ccc, *decomp, *decomp_pool, *comp;
    const unsigned char *chars, *byte_tok, *nodes, *edges, *sets, *lits, *alts, *items, *hash;
    unsigned ascii_id[128];       /* SentencePiece: the piece of each ASCII character, or 0xFFFFFFFF */
    unsigned char ascii_class[128]; /* character class of each ASCII character */
    unsigned ascii_sets[128];     /* the regex sets (when at most 32) holding each ASCII character */
    unsigned alt_first[32];       /* the sets a match of regex alternative k can begin in */
    unsigned char first_raw[32];  /* bitset: first bytes of non-normalized added tokens */
    unsigned char first_norm[32]; /* bitset: first bytes of normalized added tokens */
    const char *error;          /* the check that failed, when init fails */
} mamba_tokenizer;

/* Validate a packed tokenizer section (hostile input: every offset, count,
   order and id is checked before use, and every count is bounded: at most
   2^20 added tokens of at most 1024 bytes, 256 regex sets and alternatives)
   and point t into it. The caller keeps `section` alive as long as t is
   used. Cost: one pass over the section (a few ms for a 150k vocabulary).
   Errors: MAMBA_ERR_INVALID_ARG (NULL), else MAMBA_ERR_TOKENIZER with
   t->error naming the failed check. */
MAMBA_API mamba_result mamba_tokenizer_init(mamba_tokenizer *t, const void *section, size_t bytes);

/* The same on the section the model file carries (m->tokenizer). Returns
   MAMBA_ERR_TOKENIZER if the model has none, MAMBA_ERR_INVALID_ARG for a
   model whose load failed or that was closed. The tokenizer is a view of
   the model's bytes: close the model only after its last use. */
MAMBA_API mamba_result mamba_tokenizer_from_model(mamba_tokenizer *t, const mamba_model *m);

/* Bytes of working memory that mamba_encode() needs, at most, for any input
   of `len` bytes (about 90 * len + 64 for GPT-NeoX; the bound holds for the
   worst input, e.g. len invalid bytes forming one 3*len-byte word).
   Byte-level text needs far less: 6 bytes per input byte between two added
   tokens, plus 28 bytes per byte of the longest pre-tokenized word, so a
   fixed 1 MiB buffer encodes any normal prose of any length; a
   SentencePiece-style tokenizer has no pre-tokenizer, so the "word" is the
   whole text between two added tokens (34 bytes per input byte), unless no
   merge joins a character to a following "▁" (Llama-2, Mistral: then the
   words begin at each run of spaces, t->sp_words). When a
   buffer is too small mamba_encode() says so (MAMBA_ERR_BUFFER_TOO_SMALL),
   never overruns it. Returns (size_t)-1 if the bound overflows size_t. */
MAMBA_API size_t mamba_encode_work_size(const mamba_tokenizer *t, size_t len);

/* Encode `len` bytes of UTF-8 text into ids, exactly as Hugging Face's
   Tokenizer.encode(text, add_special_tokens=false) with the same
   tokenizer.json (no BOS/EOS: t->add_bos and t->bos_id say what the template
   adds). Invalid UTF-8: each maximal ill-formed subsequence becomes U+FFFD,
   as Python's bytes.decode(errors="replace") and JavaScript's TextDecoder
   do, and that string is encoded. len == 0 gives 0 ids. text may be NULL
   when len is 0. Cost: linear in len (added tokens are found with a trie, at
   most max_added_bytes steps a position; the regex has a work budget).
   `work`/`work_bytes`: caller memory (see mamba_encode_work_size); not kept.
   On MAMBA_OK, *n_ids ids were written. If max_ids is too small the ids that
   fit are written, *n_ids is set to the number needed, and the result is
   MAMBA_ERR_BUFFER_TOO_SMALL; the same code, with *n_ids = 0, when `work` is
   too small. MAMBA_ERR_TOKENIZER if a (hostile) section's regex exceeds its
   work budget. Thread-safe: t is only read. */
MAMBA_API mamba_result mamba_encode(const mamba_tokenizer *t, const char *text, size_t len,
                                    int *ids, size_t max_ids, size_t *n_ids,
                                    void *work, size_t work_bytes);

/* The exact bytes of one id, zero-copy: *bytes points into the section,
   *len may be 0 (an id with no token). A token may end inside a UTF-8
   character (byte-level BPE splits characters freely; a byte-fallback token
   is one byte): use mamba_detok to print a stream. MAMBA_ERR_TOKEN for an id
   outside 0..n_vocab-1. */
MAMBA_API mamba_result mamba_decode_token(const mamba_tokenizer *t, int id,
                                          const char **bytes, size_t *len);

/* Decode n ids into out: exactly Hugging Face's decode(ids,
   skip_special_tokens=false), always valid UTF-8 (see >>tokenizer above for
   the U+FFFD rules and Strip). *n_out is the byte count; if it exceeds cap,
   out holds the first cap bytes and the result is MAMBA_ERR_BUFFER_TOO_SMALL.
   MAMBA_ERR_TOKEN for an id out of range. At most 3 bytes per input byte. */
MAMBA_API mamba_result mamba_decode(const mamba_tokenizer *t, const int *ids, size_t n,
                                    char *out, size_t cap, size_t *n_out);

/* Streaming decoder: push ids one at a time, get bytes that end on a whole
   UTF-8 character. A trailing incomplete-but-so-far-valid UTF-8 sequence
   (at most 3 bytes) is held back until the next push completes it.
   Byte-level tokens: bytes that can never be valid UTF-8 are passed through
   unchanged, so the output stream is byte-exact. Byte-fallback tokens: each
   byte that cannot be completed becomes U+FFFD (a stream cannot wait for the
   end of a run, so a run mixing whole characters and bad bytes keeps its
   whole characters where decode() replaces all of it; a valid run, which is
   all the encoder makes, decodes the same). With MAMBA_TOK_STRIP the
   stream's first space is dropped, as decode() drops the text's: to continue
   text printed otherwise (a prompt), push its ids first and discard the
   output. Call mamba_detok_flush() at the end of the stream. */
typedef struct mamba_detok {
    unsigned char held[4];
    unsigned n_held;
    unsigned started;           /* a byte has been written (Strip applies before) */
    unsigned fallback;          /* the held bytes are from byte-fallback tokens */
} mamba_detok;

MAMBA_API void mamba_detok_init(mamba_detok *d);
/* out must hold t->detok_bytes bytes (max_token_bytes + 3 for byte-level
   BPE, + 9 with byte fallback: always enough); with less,
   MAMBA_ERR_BUFFER_TOO_SMALL and nothing is consumed. */
MAMBA_API mamba_result mamba_detok_push(const mamba_tokenizer *t, mamba_detok *d, int id,
                                        char *out, size_t cap, size_t *n_out);
/* Write what is held (0..3 raw bytes, or up to 3 U+FFFD for byte-fallback
   bytes: 9 bytes) to out (MAMBA_DETOK_FLUSH_BYTES of room) and return the
   count. */
#define MAMBA_DETOK_FLUSH_BYTES 9
MAMBA_API size_t mamba_detok_flush(mamba_detok *d, char *out);

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

#include <float.h> /* FLT_MIN */
#include <limits.h> /* LONG_MAX */
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
#if defined(__unix__) || defined(__APPLE__)
/* POSIX files: open non-blocking and fstat before reading, so a FIFO, a
   directory or a device is refused instead of blocking or misread */
#define MAMBA__HAVE_POSIX 1
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#if !defined(MAMBA_NO_MMAP)
#define MAMBA__HAVE_MMAP 1
#include <sys/mman.h>
#endif
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
/* the same, only when the local `mamba__par` is non-zero: a fork/join costs
   microseconds, so loops with little work stay on the calling thread */
#define MAMBA__PARALLEL_FOR_IF _Pragma("omp parallel for schedule(static) if(mamba__par)")
/* items taken one at a time by whichever thread is free: a thread slowed
   by another program on its core then does fewer items instead of holding
   the loop until it finishes its fixed share (mamba_forward's products) */
#define MAMBA__PARALLEL_FOR_DYN _Pragma("omp parallel for schedule(dynamic)")
#else
#define MAMBA__PARALLEL_FOR_DYN
#define MAMBA__PARALLEL_FOR
#define MAMBA__PARALLEL_FOR_IF
#endif
/* CONFIG: MAMBA_PAR_MIN_WORK  work (weights, or channels x state entries)
   below which a loop of mamba_step() stays on the calling thread: a
   fork/join costs microseconds, and on 2 cores the small shipped model
   decoded faster on one thread than on two. 1 threads every loop. */
#ifndef MAMBA_PAR_MIN_WORK
#define MAMBA_PAR_MIN_WORK 131072
#endif
#define MAMBA__PAR_MIN_WORK MAMBA_PAR_MIN_WORK
/* CONFIG: MAMBA_THREADS_ADAPT  see >>threads: 1 times each state's calls and
   uses one thread where all are slower (a busy core); 0 always uses all */
#ifndef MAMBA_THREADS_ADAPT
#define MAMBA_THREADS_ADAPT 1
#endif
#if defined(_OPENMP) && MAMBA_THREADS_ADAPT
#include <omp.h>
#endif
/* CONFIG: MAMBA_SSD_CHUNK  0 (default): mamba_forward()'s Mamba-2 scan is
   the exact recurrence; Q (16 .. 256, a multiple of 16): the chunked SSD
   form in chunks of Q tokens where it applies (AVX-512 or AVX2, head_dim
   64, d_state up to 128). Within 1e-5 of the recurrence, but its rounding then
   depends on the block size; >>forward says why it is not the default. */
#ifndef MAMBA_SSD_CHUNK
#define MAMBA_SSD_CHUNK 0
#endif

/* Limits of the dimensions a file may declare (see LIMITS). */
#define MAMBA__MAX_D_MODEL 65536
#define MAMBA__MAX_D_INNER 262144
#define MAMBA__MAX_D_STATE 1024
#define MAMBA__MAX_D_CONV 64
#define MAMBA__MAX_DT_RANK 65536
#define MAMBA__MAX_VOCAB 16777216

#define MAMBA__HEADER_BYTES 128    /* format version 1; the first 128 bytes of every version */
#define MAMBA__HEADER_BYTES_V2 160 /* format version 2: + the Mamba-2 fields at 128 */
#define MAMBA__ENTRY_BYTES 48
#define MAMBA__ENDIAN_CHECK 0x12345678u
#define MAMBA__FLOAT_CHECK_BITS 0x43B94000u /* 370.5f */
#define MAMBA__NONE 0xFFFFFFFFu

/* Tensor roles: the table MAMBA__ROLES under >>roles. */

/* ---- >>helpers ------------------------------------------------------- */

/* Little-endian readers: a file is bytes, never a struct. */
static uint32_t mamba__rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint16_t mamba__rd16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

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

/* Make a model unusable and forget every pointer it holds into the bytes it
   was loaded from (those may be unmapped or freed next): every field of
   mamba_model but the config, the error fields and what it owns (for
   mamba_model_close). A NULL data is what makes every entry point refuse
   the model; a new field that points into the bytes is zeroed here too. */
static void mamba__forget(mamba_model *m)
{
    memset(&m->embedding, 0, sizeof m->embedding);
    memset(&m->lm_head, 0, sizeof m->lm_head);
    memset(m->layers, 0, sizeof m->layers);
    m->norm_f = NULL;
    m->tokenizer = NULL;
    m->data = NULL;
    m->tokenizer_bytes = m->size = 0;
}

/* Record why a load failed: a static string, kept in the object that failed
   (no global error state). A failed model keeps no pointer into the bytes. */
static mamba_result mamba__fail(mamba_model *m, mamba_result r, const char *why)
{
    m->error = why;
    mamba__forget(m);
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

/* The kernels, one operation after another: for each, the scalar reference
   first, then its AVX-512, AVX2 and NEON forms; where a form is missing a
   macro names the reference instead. The SIMD path is chosen once, here,
   for the whole header, from the compiler's target macros (-march=native
   sets them for the machine):
     AVX-512F                       16 floats a vector (x86-64-v4)
     AVX2 + FMA (F16C for f16)       8 floats a vector (x86-64-v3)
     NEON on AArch64                 4 floats a vector (every ARMv8-A core)
     Helium (MVE) on Armv8.1-M       4 floats a vector (Cortex-M55, M85): the
                                     decode kernels only (integer and f16 dot
                                     products, the scan); mamba_forward's tiles
                                     take the portable path there
     anything else                   the *_scalar references.
   Each fast form computes the reference's sum in another order, and
   tests/test_simd.c, test_kernels.c and test_forward.c hold every one to
   its reference on awkward lengths. Whatever the path, an output's sum is
   computed the same way on any thread, so the output does not depend on
   the thread count.
   CONFIG: MAMBA_NO_SIMD         use the scalar kernels even where SIMD exists */
#if !defined(MAMBA_NO_SIMD) && defined(__AVX512F__)
#define MAMBA__AVX512 1
#include <immintrin.h>
#elif !defined(MAMBA_NO_SIMD) && defined(__AVX2__) && defined(__FMA__)
#define MAMBA__AVX2 1
#include <immintrin.h>
#elif !defined(MAMBA_NO_SIMD) && defined(__ARM_NEON) && defined(__aarch64__)
#define MAMBA__NEON 1
#include <arm_neon.h>
#elif !defined(MAMBA_NO_SIMD) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 3) == 3
#define MAMBA__MVE 1 /* integer and floating-point Helium (-mcpu=cortex-m55) */
#include <arm_mve.h>
#endif
#if defined(MAMBA__AVX512) || defined(MAMBA__AVX2) || defined(MAMBA__NEON)
#define MAMBA__SIMD 1
#endif

/* All intrinsic code of the header sits between this push and its pop at
   the end of >>kernels. GCC 12's AVX-512 intrinsics start from their own
   `__Y = __Y` placeholder and warn about it where they are inlined (GCC
   bug 105593, mostly as C++): not ours to fix, and the pop keeps the
   warnings on for everything after the header. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif


/* One f16 block scale to f32 in a single instruction where there is one
   (F16C's vcvtph2ps, AArch64's fcvt); the portable converter otherwise. */
#if (defined(MAMBA__AVX512) || defined(MAMBA__AVX2)) && defined(__F16C__)
#define MAMBA__HALF(h) _cvtsh_ss(h)
#elif defined(MAMBA__NEON)
#define MAMBA__HALF(h) vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0)
#elif defined(MAMBA__MVE)
/* the FPU's vcvtb.f32.f16 (every core with Helium has half-precision) */
static float mamba__half_mve(uint16_t h)
{
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}
#define MAMBA__HALF(h) mamba__half_mve(h)
#else
#define MAMBA__HALF(h) mamba__f16_to_f32(h)
#endif


/* q8 (docs/format.md, dtype 3): int8 weights in blocks of 32 along a row,
   one f16 scale per block:  w[r][c] = d[r][c / 32] * q[r][c].  A matrix of
   R rows and C columns holds nb = ceil(C / 32) blocks a row: first R*nb*32
   int8 (each row padded with zeros to whole blocks, so every row starts on
   a 32-byte boundary), then R*nb f16 scales. */
#define MAMBA__Q8_BLOCK 32

/* The scalar references are called only where no SIMD path exists (and by
   the tests); a few helpers only by other parts or programs (bench.c). */
#if defined(__GNUC__) || defined(__clang__)
#define MAMBA__MAYBE_UNUSED __attribute__((unused))
#else
#define MAMBA__MAYBE_UNUSED
#endif

static int mamba__q8_blocks(int cols)
{
    return (cols + MAMBA__Q8_BLOCK - 1) / MAMBA__Q8_BLOCK;
}

/* -- dot products of weight rows with x ------------------------------------
   out[k] = sum_i w_k[i] x[i] for up to MAMBA__NR rows w_k, weights widened
   to f32. Decoding reads each weight once, so these loops run at the speed
   of memory, and on this kind of machine a core reads one sequential
   stream well below the rate it reads several: the matvec hands a kernel
   rows from MAMBA__NR places of the matrix at once (mamba__matvec_x), and
   the kernel reads them side by side, loading each slice of x once for all
   of them. Every row's sum is computed by the same sequence of operations
   whichever slot and call it takes, so a row's result does not depend on
   its companions, the thread count or the split.
   The reference keeps eight partial sums (breaking the dependency chain,
   and letting a compiler vectorise where nothing else does). The fast form
   is written once, over a few vector macros that each instruction set
   defines below: two accumulators a row (an FMA's latency is 4 cycles;
   with four rows that is eight chains), weights converted to f32 in
   registers, and a scalar tail, never a read past the end. */
#if defined(__GNUC__) || defined(__clang__)
#define MAMBA__INLINE inline __attribute__((always_inline))
#else
#define MAMBA__INLINE inline
#endif
#define MAMBA__NR 4 /* rows a kernel call reads side by side */
/* The loops over a call's rows run nr <= MAMBA__NR times, nr a constant
   where the kernel is inlined: unrolled whole, each row's accumulators
   stay in registers (GCC's -O2 otherwise keeps the arrays on the stack). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define MAMBA__ROWS_UNROLLED _Pragma("GCC unroll 4")
#elif defined(__clang__)
#define MAMBA__ROWS_UNROLLED _Pragma("clang loop unroll(full)")
#else
#define MAMBA__ROWS_UNROLLED
#endif
/* the same for the loops over up to 8 (row, input) pairs of the batch kernels */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define MAMBA__UNROLL8 _Pragma("GCC unroll 8")
#elif defined(__clang__)
#define MAMBA__UNROLL8 _Pragma("clang loop unroll(full)")
#else
#define MAMBA__UNROLL8
#endif

/* CONFIG: MAMBA_PREFETCH_AHEAD  bytes ahead of its reads that a decode
   kernel asks for each row's weights (a software prefetch into L2, one a
   cache line); 0 asks for none. Even with four streams a core keeps too
   few lines in flight to read at the rate of memory once each weight takes
   a few instructions: on this Xeon f16 rows read 10.4 GB/s without,
   15.2 with, beside 15.6 for a plain four-stream read (docs/kernels-notes.md).
   A prefetch never faults, so it may point past the end of a matrix. */
#ifndef MAMBA_PREFETCH_AHEAD
#if defined(MAMBA__MVE)
#define MAMBA_PREFETCH_AHEAD 0 /* a microcontroller reads flash and SRAM: nothing to ask for ahead */
#else
#define MAMBA_PREFETCH_AHEAD 2048
#endif
#endif
#if MAMBA_PREFETCH_AHEAD > 0 && (defined(__GNUC__) || defined(__clang__))
/* the address is made as an integer: a pointer past the end of its object
   would be undefined even unused */
#define MAMBA__WPREFETCH(p) /* NOLINTNEXTLINE(performance-no-int-to-ptr): the address is only a hint */ \
    __builtin_prefetch((const void *)((uintptr_t)(const void *)(p) + MAMBA_PREFETCH_AHEAD), 0, 2) /* NOLINT(performance-no-int-to-ptr) */
#else
#define MAMBA__WPREFETCH(p) ((void)(p))
#endif
/* one prefetch per 64-byte line of the `bytes` a row reads from byte o on */
#define MAMBA__WPREFETCH_LINES(w, o, bytes)                                                                             \
    do {                                                                                                               \
        size_t mamba__o;                                                                                               \
        for (mamba__o = 0; mamba__o < (size_t)(bytes); mamba__o += 64)                                                 \
            if ((bytes) >= 64 || ((o) & 63) == 0) MAMBA__WPREFETCH((uintptr_t)(const void *)(w) + (o) + mamba__o);    \
    } while (0)

/* one prefetch per 64-byte line of the `bytes` at byte o from w (a
   shorter span only where it begins a line), for reading (rw 0) or writing
   (1), into the cache level `loc` names (__builtin_prefetch's 0-3); the
   address made as an integer, as above. MAMBA_PREFETCH_AHEAD 0 switches
   these off too. */
#if MAMBA_PREFETCH_AHEAD > 0 && (defined(__GNUC__) || defined(__clang__))
#define MAMBA__PREFETCH_SPAN(w, o, bytes, rw, loc)                                                                      \
    do {                                                                                                               \
        size_t mamba__o;                                                                                               \
        for (mamba__o = 0; mamba__o < (size_t)(bytes); mamba__o += 64)                                                 \
            if ((bytes) >= 64 || ((o) & 63) == 0)                                                                      \
                __builtin_prefetch((const void *)((uintptr_t)(const void *)(w) + (o) + mamba__o), rw, loc); /* NOLINT(performance-no-int-to-ptr) */ \
    } while (0)
#else
#define MAMBA__PREFETCH_SPAN(w, o, bytes, rw, loc) ((void)(w), (void)(o))
#endif
/* the `bytes` of weights at byte o + ahead, into L2 (ahead > 0: the batch
   kernel's own distance) */
#define MAMBA__WPREFETCH_AT(w, o, bytes) MAMBA__PREFETCH_SPAN(w, o, bytes, 0, 2)
/* MAMBA__SPREFETCH(p, o, bytes): the `bytes` of state at byte o from p
   asked for, to be written. The scan of one token walks a layer's state once, channel after
   channel (Mamba-1: d_inner x d_state floats, 196 KB a layer of mamba-790m,
   9.4 MB a sequence), so mamba_step_batch's 8 sequences (75 MB) find their
   state in DRAM, not in the cache: the scan asks for the channel
   MAMBA__SCAN_AHEAD on while it updates this one (an AMD EPYC Zen 5, 790m
   shapes, 8 sequences: the scan 18% of a batch step without, 9% with).
   Mamba-2's state is larger still (heads x head_dim x d_state: 18.9 MB a
   sequence of mamba2-130m), and the weights streaming through the cache
   push it out every token, so even one sequence's decode finds it in
   DRAM: mamba__scan_head asks the same way, a channel of a head at a
   time (Zen 5, mamba2-130m f16, one thread: 93-101 tokens/s against
   73-80 without, where the scan had been 24% of a token) */
#define MAMBA__SCAN_AHEAD 16
#define MAMBA__SPREFETCH(p, o, bytes) MAMBA__PREFETCH_SPAN(p, o, bytes, 1, 3)

/* weight i of a row stored as dtype (f32, f16 or bf16), widened */
static MAMBA__INLINE float mamba__widen(const void *w, int i, int dtype)
{
    if (dtype == MAMBA_DTYPE_F32) return ((const float *)w)[i];
    if (dtype == MAMBA_DTYPE_F16) return mamba__f16_to_f32(((const uint16_t *)w)[i]);
    return mamba__bf16_to_f32(((const uint16_t *)w)[i]);
}

static MAMBA__INLINE float mamba__dot_scalar(const void *MAMBA__RESTRICT w, const float *MAMBA__RESTRICT x, int n,
                                             int dtype)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float sum;
    int i = 0, k;
    for (; i + 8 <= n; i += 8)
        for (k = 0; k < 8; k++) acc[k] += mamba__widen(w, i + k, dtype) * x[i + k];
    sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) sum += mamba__widen(w, i, dtype) * x[i];
    return sum;
}
#define mamba__dot_f32_scalar(w, x, n) mamba__dot_scalar(w, x, n, MAMBA_DTYPE_F32)
#define mamba__dot_f16_scalar(w, x, n) mamba__dot_scalar(w, x, n, MAMBA_DTYPE_F16)
#define mamba__dot_bf16_scalar(w, x, n) mamba__dot_scalar(w, x, n, MAMBA_DTYPE_BF16)

/* What an instruction set provides for the fast form:
     MAMBA__VN                floats a vector; mamba__vf its type
     MAMBA__VZERO() VLOAD(p) VFMA(a, b, acc) VADD(a, b) VSUM(v)
     mamba__vwiden(w, i, dt)  the VN weights at w + i widened to f32
     MAMBA__VF16              1 if it widens f16 (AVX2 needs F16C) */
#if defined(MAMBA__AVX512)
#define MAMBA__VN 16
typedef __m512 mamba__vf;
#define MAMBA__VZERO() _mm512_setzero_ps()
#define MAMBA__VLOAD(p) _mm512_loadu_ps(p)
#define MAMBA__VFMA(a, b, acc) _mm512_fmadd_ps(a, b, acc)
#define MAMBA__VADD(a, b) _mm512_add_ps(a, b)
#define MAMBA__VSUM(v) _mm512_reduce_add_ps(v)
#define MAMBA__VF16 1
/* vcvtph2ps (exact), or a zero-extension of bfloat16 shifted into the top half */
static MAMBA__INLINE __m512 mamba__vwiden(const void *w, int i, int dtype)
{
    const __m256i *p = (const __m256i *)(const void *)((const uint16_t *)w + i);
    if (dtype == MAMBA_DTYPE_F32) return _mm512_loadu_ps((const float *)w + i);
    if (dtype == MAMBA_DTYPE_F16) return _mm512_cvtph_ps(_mm256_loadu_si256(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p)), 16));
}
#elif defined(MAMBA__AVX2)
static float mamba__hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#define MAMBA__VN 8
typedef __m256 mamba__vf;
#define MAMBA__VZERO() _mm256_setzero_ps()
#define MAMBA__VLOAD(p) _mm256_loadu_ps(p)
#define MAMBA__VFMA(a, b, acc) _mm256_fmadd_ps(a, b, acc)
#define MAMBA__VADD(a, b) _mm256_add_ps(a, b)
#define MAMBA__VSUM(v) mamba__hsum256(v)
#if defined(__F16C__)
#define MAMBA__VF16 1
#endif
static MAMBA__INLINE __m256 mamba__vwiden(const void *w, int i, int dtype)
{
    const __m128i *p = (const __m128i *)(const void *)((const uint16_t *)w + i);
    if (dtype == MAMBA_DTYPE_F32) return _mm256_loadu_ps((const float *)w + i);
#if defined(__F16C__)
    if (dtype == MAMBA_DTYPE_F16) return _mm256_cvtph_ps(_mm_loadu_si128(p));
#endif
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p)), 16));
}
#elif defined(MAMBA__NEON) || defined(MAMBA__MVE)
/* NEON and Helium (MVE) share the 4-lane operations; their horizontal sum
   and widening load differ */
#define MAMBA__VN 4
typedef float32x4_t mamba__vf;
#define MAMBA__VZERO() vdupq_n_f32(0.0f)
#define MAMBA__VLOAD(p) vld1q_f32(p)
#define MAMBA__VFMA(a, b, acc) vfmaq_f32(acc, a, b)
#define MAMBA__VADD(a, b) vaddq_f32(a, b)
#define MAMBA__VF16 1
#if defined(MAMBA__NEON)
#define MAMBA__VSUM(v) vaddvq_f32(v)
/* fcvtl (exact); bfloat16 by a shift */
static MAMBA__INLINE float32x4_t mamba__vwiden(const void *w, int i, int dtype)
{
    if (dtype == MAMBA_DTYPE_F32) return vld1q_f32((const float *)w + i);
    if (dtype == MAMBA_DTYPE_F16) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)w + i)));
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)w + i), 16));
}
#else /* MAMBA__MVE */
/* The sum of 4 lanes, in the pairwise order of the other paths (Helium has
   no floating-point add across lanes) */
static float mamba__hsum_mve(float32x4_t v)
{
    return (vgetq_lane_f32(v, 0) + vgetq_lane_f32(v, 1)) + (vgetq_lane_f32(v, 2) + vgetq_lane_f32(v, 3));
}

/* Four f16 in the low halves of 32-bit lanes to f32, exactly, in integer
   steps: a normal value moves its exponent and mantissa into place and
   rebiases the exponent (127 - 15 = 112); a subnormal (exponent 0) is its
   mantissa times 2^-24, converted from the integer. The vector vcvtb.f32.f16
   would do it in one instruction, but qemu 7.2 (Debian 12) executes it as
   the opposite conversion (f32 to f16), so the kernels would be tested
   against something no core does. Inf and NaN are not handled: weights are
   proven finite when the model is loaded (mamba__nonfinite_f16). */
static MAMBA__INLINE float32x4_t mamba__f16x4_mve(uint32x4_t h)
{
    const uint32x4_t mag = vandq_u32(h, vdupq_n_u32(0x7FFFu)), sign = vshlq_n_u32(vshrq_n_u32(h, 15), 31);
    const uint32x4_t normal = vaddq_u32(vshlq_n_u32(mag, 13), vdupq_n_u32(112u << 23));
    const float32x4_t sub = vmulq_n_f32(vcvtq_f32_u32(mag), 5.9604644775390625e-8f); /* 2^-24 */
    const mve_pred16_t is_normal = vcmpcsq_n_u32(mag, 0x0400u); /* unsigned >= */
    return vreinterpretq_f32_u32(vorrq_u32(vpselq_u32(normal, vreinterpretq_u32_f32(sub), is_normal), sign));
}

/* 4 weights at w + i widened to f32: a load, or a widening load of four
   16-bit values into the low halves of 32-bit lanes, then the conversion
   above (f16) or a shift (bfloat16) */
static MAMBA__INLINE float32x4_t mamba__load4_mve(const void *w, int i, int dtype)
{
    if (dtype == MAMBA_DTYPE_F32) return vld1q_f32((const float *)w + i);
    if (dtype == MAMBA_DTYPE_F16) return mamba__f16x4_mve(vldrhq_u32((const uint16_t *)w + i));
    return vreinterpretq_f32_u32(vshlq_n_u32(vldrhq_u32((const uint16_t *)w + i), 16));
}
#define MAMBA__VSUM(v) mamba__hsum_mve(v)
#define mamba__vwiden mamba__load4_mve
/* eight vector registers: one row at a time (the weights are in flash, no
   streams to keep busy) */
#define MAMBA__VROWS 1
#endif
#endif

/* CONFIG: MAMBA_BATCH_FEW  the most sequences of one mamba_step_batch()
   call whose f32, f16 and bf16 matrices take mamba_step()'s own rows (four
   distant streams, each asked for ahead) in passes of two inputs
   (mamba__matvec_few, AVX-512) instead of groups of adjacent rows through
   every input (dot_rows_n). Unset: each state finds it on the CPU it is made
   on (mamba_state_init): every batch (MAMBA_BATCH_MAX) on AMD families 19h
   and 1Ah (Zen 4, Zen 5), 1 (never) elsewhere. On Zen 4, whose AVX-512 runs
   on 256-bit halves, the groups of rows read memory at about half the rate
   of the four streams (12 against 25-29 GB/s), and the passes, which
   re-read four rows from L1 or L2 for each pair of inputs, made 1.3x the
   tokens at N = 8 (790m f16, 1 and 2 threads; f32 1.1-1.5x; N = 2 and 4
   within the spread). On Zen 5 (a 512-bit datapath) the passes made
   1.10-1.29x the f32 tokens at N = 8 (790m, one thread, five alternated
   rounds) and the same f16 tokens within the spread (0.88-1.07x),
   docs/kernels-notes.md. The Xeon, where the groups of rows were tuned,
   has not measured the passes. */
#if !defined(MAMBA_BATCH_FEW) && defined(MAMBA__AVX512) && (defined(__GNUC__) || defined(__clang__)) &&              \
    (defined(__x86_64__) || defined(__i386__))
#define MAMBA__BATCH_FEW_CPUID 1
#include <cpuid.h>
#endif
static int mamba__batch_few_here(void)
{
#if defined(MAMBA_BATCH_FEW)
    return MAMBA_BATCH_FEW;
#elif defined(MAMBA__BATCH_FEW_CPUID)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(0, &a, &b, &c, &d) && b == signature_AMD_ebx && __get_cpuid(1, &a, &b, &c, &d)) {
        const unsigned family = ((a >> 8) & 0xFu) == 0xFu ? 0xFu + ((a >> 20) & 0xFFu) : (a >> 8) & 0xFu;
        if (family == 0x19u || family == 0x1Au) return MAMBA_BATCH_MAX; /* Zen 4, Zen 5 */
    }
    return 1;
#else
    return 1;
#endif
}

#ifdef MAMBA__VN
/* MAMBA__VKEEP(v): v stays in a register. With AVX-512, gcc folds each
   load of an input into every FMA that uses it (a memory operand per row),
   so the batch kernel's rows x inputs made a load of an input per FMA,
   and the loads, not the FMAs, set its pace (an AMD EPYC Zen 5, a 6144 x
   1536 f16 matrix through 8 inputs from L2, rows in pairs: 3.8-4.1 ns a
   64-byte line of weights with it, 4.3-4.6 without). The same holds for an
   f32 row's chunk, which needs no widening: mamba__dotv keeps both when it
   takes two inputs. An empty asm with v as its operand asks for nothing
   but the register. */
#if defined(MAMBA__AVX512) && (defined(__GNUC__) || defined(__clang__))
#define MAMBA__VKEEP(v) __asm__("" : "+v"(v))
#else
#define MAMBA__VKEEP(v) ((void)0)
#endif
/* inputs mamba__dotv takes at once: MAMBA__NR rows x 2 inputs x 2
   accumulators and the inputs' 4 chunks in 20 of AVX-512's 32 registers
   (mamba__matvec_few); 1 elsewhere */
#if defined(MAMBA__AVX512)
#define MAMBA__XD 2
#else
#define MAMBA__XD 1
#endif
/* what a call of mamba__dotv asks memory for while it reads its rows: NULL,
   each row's own bytes MAMBA_PREFETCH_AHEAD on (one pass over the rows);
   else share `part` of `parts` of the rows at next[k], a line pair every
   `parts` chunk pairs, so the passes of mamba__matvec_few after the first,
   whose rows are in L1 or L2, bring in the next four rows while they
   compute, and that group's passes find them in L2 */
typedef struct {
    const void *next[MAMBA__NR];
    int part, parts;
} mamba__pfplan;
/* rows w[0..nr-1] . x[t] into out[t * nr + k] for ni <= MAMBA__XD inputs;
   nr and ni are constants where it is inlined (nr 1 or MAMBA__NR), so the
   loops unroll. A (row, input)'s sum, its two accumulators, chunks,
   reduction and tail, does not depend on the other rows or inputs: one
   input is mamba_step's matvec, two are mamba_step_batch's passes. */
static MAMBA__INLINE void mamba__dotv(float *out, const void *const *w, int nr, const float *const *x, int ni, int n,
                                      int dtype, const mamba__pfplan *pf)
{
    const size_t es = dtype == MAMBA_DTYPE_F32 ? 4 : 2; /* bytes a weight */
    const size_t cp = 2 * MAMBA__VN * es;               /* bytes of a chunk pair of a row */
    mamba__vf a0[MAMBA__NR][MAMBA__XD], a1[MAMBA__NR][MAMBA__XD];
    size_t po = 0;
    int i = 0, k, t, j, c = 0;
    if (pf) po = (size_t)pf->part * (((size_t)n * es / (size_t)pf->parts + cp - 1) / cp * cp);
    MAMBA__ROWS_UNROLLED
    for (k = 0; k < nr; k++)
        for (t = 0; t < ni; t++) a0[k][t] = a1[k][t] = MAMBA__VZERO();
    for (; i + 2 * MAMBA__VN <= n; i += 2 * MAMBA__VN) {
        mamba__vf x0[MAMBA__XD], x1[MAMBA__XD];
        for (t = 0; t < ni; t++) {
            x0[t] = MAMBA__VLOAD(x[t] + i);
            x1[t] = MAMBA__VLOAD(x[t] + i + MAMBA__VN);
            if (ni > 1) { /* one input stays in registers as it is */
                MAMBA__VKEEP(x0[t]);
                MAMBA__VKEEP(x1[t]);
            }
        }
        if (pf && c == 0) {
            for (k = 0; k < nr; k++) MAMBA__WPREFETCH_AT(pf->next[k], po, cp);
            po += cp;
        }
        if (pf && ++c == pf->parts) c = 0;
        MAMBA__ROWS_UNROLLED
        for (k = 0; k < nr; k++) {
            if (!pf) MAMBA__WPREFETCH_LINES(w[k], (size_t)i * es, cp);
            {
                mamba__vf v0 = mamba__vwiden(w[k], i, dtype), v1 = mamba__vwiden(w[k], i + MAMBA__VN, dtype);
                if (ni > 1) { /* so does the row's chunk pair: else each FMA loads it again (f32) */
                    MAMBA__VKEEP(v0);
                    MAMBA__VKEEP(v1);
                }
                for (t = 0; t < ni; t++) {
                    a0[k][t] = MAMBA__VFMA(v0, x0[t], a0[k][t]);
                    a1[k][t] = MAMBA__VFMA(v1, x1[t], a1[k][t]);
                }
            }
        }
    }
    if (i + MAMBA__VN <= n) {
        MAMBA__ROWS_UNROLLED
        for (k = 0; k < nr; k++) {
            const mamba__vf v0 = mamba__vwiden(w[k], i, dtype);
            for (t = 0; t < ni; t++) a0[k][t] = MAMBA__VFMA(v0, MAMBA__VLOAD(x[t] + i), a0[k][t]);
        }
        i += MAMBA__VN;
    }
    MAMBA__ROWS_UNROLLED
    for (k = 0; k < nr; k++)
        for (t = 0; t < ni; t++) {
            float sum = MAMBA__VSUM(MAMBA__VADD(a0[k][t], a1[k][t]));
            for (j = i; j < n; j++) sum += mamba__widen(w[k], j, dtype) * x[t][j];
            out[t * nr + k] = sum;
        }
}
static MAMBA__INLINE float mamba__dot1(const void *w, const float *MAMBA__RESTRICT x, int n, int dtype)
{
    const float *x1 = x;
    float v;
    mamba__dotv(&v, &w, 1, &x1, 1, n, dtype, NULL);
    return v;
}
/* CONFIG: MAMBA_BATCH_ROWS, MAMBA_BATCH_COLS  the register-blocked batch
   product (mamba__dot_rows_n_f) takes rows in groups of MAMBA_BATCH_ROWS
   through columns in blocks of MAMBA_BATCH_COLS (a multiple of 32): a
   block of every input (8 x 256 floats: 8 KB) stays in L1 while the
   group's rows meet it, where whole inputs (8 x 3072 floats, say) would
   not; so do the group's accumulators (12 rows x 16 vectors: 12 KB with
   AVX-512). The inputs are read where they are (the states' scratch, 16-byte
   aligned): a copy to vector alignment, which paid when a row at a time
   loaded every input twice per chunk, cost more than the split loads once
   rows came in pairs (790m f16, 8 inputs: 241-244 ms a step copied, 233-234
   not). With AVX2 the rows go in triples (mamba__dotv_x), so a group is 12
   (four whole triples) and mamba_step_batch's panels are whole groups: on
   an AMD EPYC (Zen 3), one in_proj-shaped f16 matrix (6144 x 1536) through
   8 inputs from memory took 13.5-15.5 ns a 64-byte line of weights, where
   rows in pairs in groups of 8 took 18.2-21.5 (docs/kernels-notes.md).
   AVX-512 takes triples too (32 registers: 3 rows x 8 inputs), in groups
   of 12, through blocks of 128 columns: on an AMD EPYC (Zen 5) the same
   matrix from memory took 4.5 ns a line (median of 7 runs; 4.0 at best)
   where the earlier pairs in groups of 8 and blocks of 256 took 7.1 (6.3),
   and blocks of 256 with triples 4.5-4.6 against 3.9-4.1 */
#ifndef MAMBA_BATCH_ROWS
#if defined(MAMBA__AVX2) || defined(MAMBA__AVX512)
#define MAMBA_BATCH_ROWS 12
#else
#define MAMBA_BATCH_ROWS 8
#endif
#endif
#ifndef MAMBA_BATCH_COLS
#if defined(MAMBA__AVX512)
#define MAMBA_BATCH_COLS 128
#else
#define MAMBA_BATCH_COLS 256
#endif
#endif
/* The batch's product (mamba_step_batch): rows w0, w1, w2 (nrow <= MAMBA__XR
   of them) against ni <= MAMBA__XN inputs x[t], over the VN-column chunks of [0, len)
   of one parity: par 0 takes chunks 0, 2, 4 ..., par 1 chunks 1, 3, 5 ...
   (len is a multiple of 2 * VN). mamba__dotv sums a row's even chunks into
   its a0 and its odd ones into a1, each in column order: acc0[2t + par]
   (row 0, input t) continues exactly that accumulator, as acc1 does for row
   1 (acc2 for row 2), so with mamba__dotv_x_end these are the bits of the
   decode matvec. One parity at a time keeps 3 rows x 8 inputs in 24
   registers (AVX-512: 32 registers), 2 rows x 8 inputs in 16 (NEON: 32) or
   3 rows x 4 inputs in 12 (AVX2: 16): each widened chunk of weights serves
   the inputs and each load of an input the rows (11 loads for 24 FMAs, 10
   for 16, or 7 for 12, where a row at a time with both of its accumulators
   needs 18 for 16). The pass of
   par 0 asks for the bytes from `ahead0` on (row k's from ahead0 + k
   blocks) as far as it reads its own (the next group of rows:
   mamba__dot_rows_n_f). ni, nrow and par are constants where it is
   inlined. */
#if defined(MAMBA__AVX512)
#define MAMBA__XN 8 /* inputs a call takes at most: 3 rows x 8 inputs of accumulators in 32 registers */
#define MAMBA__XR 3 /* rows a call takes at most */
#define MAMBA__XG 8 /* inputs a sweep over the columns takes (below): one call */
#elif defined(MAMBA__NEON)
#define MAMBA__XN 8 /* inputs a call takes at most: 2 rows x 8 inputs of accumulators in 32 registers */
#define MAMBA__XR 2 /* rows a call takes at most */
#define MAMBA__XG 8 /* inputs a sweep over the columns takes (below): one call */
#elif defined(MAMBA__AVX2)
#define MAMBA__XN 4 /* 16 registers (AVX2): 3 rows x 4 inputs of accumulators, 3 widened chunks, 1 input */
#define MAMBA__XR 3 /* a triple's accumulators: acc2 */
/* inputs one sweep over a group's columns takes (mamba__dot_rows_n_f), in
   calls of MAMBA__XN: the second call finds the block of weights in L1,
   where a second sweep re-read the group (36 KB of f16) from L2 (Zen 3,
   in_proj, 8 inputs from DRAM: 13.3-15.5 ns a line against 15.1-18.4) */
#define MAMBA__XG 8
#else
#define MAMBA__XN 4 /* Helium: the batch takes the one-row kernels (MAMBA__VROWS) */
#define MAMBA__XR 2
#define MAMBA__XG 4
#endif
static MAMBA__INLINE void mamba__dotv_x(mamba__vf *acc0, mamba__vf *acc1, mamba__vf *acc2, const void *w0,
                                        const void *w1, const void *w2, int nrow, uintptr_t ahead0, const float *const *x,
                                        int ni, int par, int len, int dtype)
{
    const size_t es = dtype == MAMBA_DTYPE_F32 ? 4 : 2;
    mamba__vf a0[MAMBA__XN], a1[MAMBA__XN], a2[MAMBA__XN];
    int i, t;
    MAMBA__UNROLL8
    for (t = 0; t < ni; t++) {
        a0[t] = acc0[2 * t + par];
        a1[t] = nrow > 1 ? acc1[2 * t + par] : a0[t];
        a2[t] = nrow > 2 ? acc2[2 * t + par] : a0[t];
    }
    for (i = par * MAMBA__VN; i < len; i += 2 * MAMBA__VN) {
        const mamba__vf v0 = mamba__vwiden(w0, i, dtype), v1 = nrow > 1 ? mamba__vwiden(w1, i, dtype) : v0;
        const mamba__vf v2 = nrow > 2 ? mamba__vwiden(w2, i, dtype) : v0;
        if (par == 0) {
            int k;
            for (k = 0; k < nrow; k++)
                MAMBA__WPREFETCH_AT(ahead0 + (size_t)k * MAMBA_BATCH_COLS * es, (size_t)i * es, 2 * MAMBA__VN * es);
        }
        MAMBA__UNROLL8
        for (t = 0; t < ni; t++) {
            mamba__vf xv = MAMBA__VLOAD(x[t] + i);
            MAMBA__VKEEP(xv);
            a0[t] = MAMBA__VFMA(v0, xv, a0[t]);
            if (nrow > 1) a1[t] = MAMBA__VFMA(v1, xv, a1[t]);
            if (nrow > 2) a2[t] = MAMBA__VFMA(v2, xv, a2[t]);
        }
    }
    MAMBA__UNROLL8
    for (t = 0; t < ni; t++) {
        acc0[2 * t + par] = a0[t];
        if (nrow > 1) acc1[2 * t + par] = a1[t];
        if (nrow > 2) acc2[2 * t + par] = a2[t];
    }
}
/* mamba__dotv_x for both parities and any ni <= MAMBA__XN: in pieces of
   MAMBA__XN, 4, 2 and 1 inputs, each size a constant in its own copy of
   the loop (a piece after the first finds the weights in L1) */
#define MAMBA__DOTV_X(m, nrow, par)                                                                                    \
    mamba__dotv_x(acc0 + 2 * t, acc1 + 2 * t, acc2 + 2 * t, w0, w1, w2, nrow, ahead0, xt, m, par, len, dtype)
#define MAMBA__DOTV_X2(m, nrow) (MAMBA__DOTV_X(m, nrow, 0), MAMBA__DOTV_X(m, nrow, 1))
#define MAMBA__DOTV_XM(nrow)                                                                                           \
    do {                                                                                                               \
        if (m == MAMBA__XN) MAMBA__DOTV_X2(MAMBA__XN, nrow);                                                           \
        else if (m == 4) MAMBA__DOTV_X2(4, nrow);                                                                      \
        else if (m == 2) MAMBA__DOTV_X2(2, nrow);                                                                      \
        else MAMBA__DOTV_X2(1, nrow);                                                                                  \
    } while (0)
static MAMBA__INLINE void mamba__dotv_xn(mamba__vf *acc0, mamba__vf *acc1, mamba__vf *acc2, const void *w0,
                                         const void *w1, const void *w2, int nrow, uintptr_t ahead0,
                                         const float *const *x, int ni, int len, int dtype)
{
    int t = 0;
    while (t < ni) {
        const int m = ni - t >= MAMBA__XN ? MAMBA__XN : ni - t >= 4 ? 4 : ni - t >= 2 ? 2 : 1;
        const float *const *xt = x + t;
        if (MAMBA__XR > 2 && nrow > 2) MAMBA__DOTV_XM(3);
        else if (nrow > 1) MAMBA__DOTV_XM(2);
        else MAMBA__DOTV_XM(1);
        t += m;
    }
}
/* The end of mamba__dotv for one (row, input) whose whole chunks are in
   a0, a1: a last VN columns from i into a0, the reduction, the scalar tail */
static MAMBA__INLINE float mamba__dotv_x_end(mamba__vf a0, mamba__vf a1, const void *w, const float *x, int i, int n,
                                             int dtype)
{
    float sum;
    if (i + MAMBA__VN <= n) {
        a0 = MAMBA__VFMA(mamba__vwiden(w, i, dtype), MAMBA__VLOAD(x + i), a0);
        i += MAMBA__VN;
    }
    sum = MAMBA__VSUM(MAMBA__VADD(a0, a1));
    for (; i < n; i++) sum += mamba__widen(w, i, dtype) * x[i];
    return sum;
}
#define mamba__dot_f32(w, x, n) mamba__dot1(w, x, n, MAMBA_DTYPE_F32)
#define mamba__dot_bf16(w, x, n) mamba__dot1(w, x, n, MAMBA_DTYPE_BF16)
#if defined(MAMBA__VROWS) && MAMBA__VROWS == 1
/* a path with few registers: the rows of a call one after another */
static MAMBA__INLINE void mamba__dotv_each(float *out, const void *const *w, const float *MAMBA__RESTRICT x, int n,
                                           int dtype)
{
    int k;
    for (k = 0; k < MAMBA__NR; k++) out[k] = mamba__dot1(w[k], x, n, dtype);
}
#define MAMBA__DOTN(out, w, x, n, dt) mamba__dotv_each(out, w, x, n, dt)
#else
#define MAMBA__DOTN(out, w, x, n, dt) mamba__dotv(out, w, MAMBA__NR, &(x), 1, n, dt, NULL)
#endif
#define mamba__dotn_f32(out, w, x, n) MAMBA__DOTN(out, w, x, n, MAMBA_DTYPE_F32)
#define mamba__dotn_bf16(out, w, x, n) MAMBA__DOTN(out, w, x, n, MAMBA_DTYPE_BF16)
#ifdef MAMBA__VF16
#define mamba__dot_f16(w, x, n) mamba__dot1(w, x, n, MAMBA_DTYPE_F16)
#define mamba__dotn_f16(out, w, x, n) MAMBA__DOTN(out, w, x, n, MAMBA_DTYPE_F16)
#endif
#endif
/* elsewhere the references, a row at a time */
#ifndef mamba__dot_f32
#define mamba__dot_f32 mamba__dot_f32_scalar
#define mamba__dot_bf16 mamba__dot_bf16_scalar
#endif
#ifndef mamba__dot_f16
#define mamba__dot_f16 mamba__dot_f16_scalar
#endif
static MAMBA__MAYBE_UNUSED void mamba__dotn_scalar(float *out, const void *const *w, const float *MAMBA__RESTRICT x,
                                                   int n, int dtype)
{
    int k;
    for (k = 0; k < MAMBA__NR; k++) out[k] = mamba__dot_scalar(w[k], x, n, dtype);
}
#ifndef mamba__dotn_f32
#define mamba__dotn_f32(out, w, x, n) mamba__dotn_scalar(out, w, x, n, MAMBA_DTYPE_F32)
#define mamba__dotn_bf16(out, w, x, n) mamba__dotn_scalar(out, w, x, n, MAMBA_DTYPE_BF16)
#endif
#ifndef mamba__dotn_f16
#define mamba__dotn_f16(out, w, x, n) mamba__dotn_scalar(out, w, x, n, MAMBA_DTYPE_F16)
#endif

/* q8 times a vector: both sides as integers.  mamba_step's matvec first
   quantises its input x once, block by block (blocks of 32, as the weights):

     s[b]  = max_{i in b} |x_i| / 32767          (one f32 scale a block)
     xq_i  = round(x_i / s[b])                    (int16, |xq_i| <= 32767)

   and then every row is

     W x  ~=  sum_b  (d[b] s[b]) * (sum_{i in b} q_i xq_i)

   The inner sum is exact integer arithmetic (32 products of at most
   128 * 32767 each: far inside int32), which one SIMD multiply-add of
   int16 pairs does 32 (AVX-512) at a time with no int-to-float conversion
   per weight: one conversion and one FMA a block remain. That is what makes
   the product faster than memory; converting each int8 to f32 was not.
   Accuracy: rounding moves x_i by at most s[b]/2 = max|x_b|/65534, while the
   int8 weight already carries up to max|w_b|/254: the added error is ~1/258
   of the one the weights carry (measured: docs/kernels-notes.md). A scale
   per block rather than one for the whole input keeps an outlier from
   coarsening the rest of the vector. int8 activations (int8 x int8
   products) would add max|x_b|/254, as much again as the weights.
   Padding: xq is zero past n up to the end of the last block, so the dot
   products run over whole blocks, reading the padding of the weights (it is
   in the file) times zero, never past the end.
   Non-finite input: a block holding a NaN or an infinity gets s[b] = NaN,
   so the rows come out NaN, as an f32 product would be non-finite. A block
   whose max|x| is below 1e-30 counts as zero (keeps 32767/max finite; no
   activation of a model is that small and not rounded away already). */
#define MAMBA__Q8_XMAX 32767.0f
#define MAMBA__Q8_XTINY 1e-30f
#define MAMBA__FLT_MAX 3.40282347e38f

/* x (n floats) -> xq (32 * ceil(n/32) int16) and xs (ceil(n/32) scales) */
static MAMBA__MAYBE_UNUSED void mamba__q8_quant_x_scalar(int16_t *MAMBA__RESTRICT xq, float *MAMBA__RESTRICT xs,
                                                         const float *MAMBA__RESTRICT x, int n)
{
    int b, i;
    for (b = 0; b * MAMBA__Q8_BLOCK < n; b++) {
        const float *xb = x + b * MAMBA__Q8_BLOCK;
        int16_t *qb = xq + b * MAMBA__Q8_BLOCK;
        int len = n - b * MAMBA__Q8_BLOCK < MAMBA__Q8_BLOCK ? n - b * MAMBA__Q8_BLOCK : MAMBA__Q8_BLOCK;
        float amax = 0.0f, inv;
        int finite = 1;
        for (i = 0; i < len; i++) {
            float a = fabsf(xb[i]);
            if (!(a <= MAMBA__FLT_MAX)) finite = 0; /* NaN or infinity */
            else if (a > amax) amax = a;
        }
        if (!finite || amax < MAMBA__Q8_XTINY) {
            xs[b] = finite ? 0.0f : NAN;
            for (i = 0; i < MAMBA__Q8_BLOCK; i++) qb[i] = 0;
            continue;
        }
        inv = MAMBA__Q8_XMAX / amax;
        xs[b] = amax / MAMBA__Q8_XMAX;
        /* round to nearest, ties to even (what the SIMD converters do):
           rintf in the default rounding mode (one instruction where the
           target has one: compilers inline it). The product is rounded to
           float first, as the SIMD forms do; a bare `v + 1.5 * 2^23` trick
           was fused into one FMA where a compiler contracts across
           statements (g++ by default), which rounds differently. */
        for (i = 0; i < len; i++) qb[i] = (int16_t)rintf(xb[i] * inv);
        for (; i < MAMBA__Q8_BLOCK; i++) qb[i] = 0;
    }
}
#if defined(MAMBA__AVX512)
/* mamba__q8_quant_x_scalar, 16 lanes at a time: the same max, the same
   divisions, and vcvtps2dq rounds to nearest even as the scalar trick does,
   so xq and xs come out identical (tests/test_simd.c checks). */
static void mamba__q8_quant_x(int16_t *MAMBA__RESTRICT xq, float *MAMBA__RESTRICT xs, const float *MAMBA__RESTRICT x,
                              int n)
{
    const __m512 big = _mm512_set1_ps(MAMBA__FLT_MAX);
    int b;
    for (b = 0; b * MAMBA__Q8_BLOCK < n; b++) {
        int left = n - b * MAMBA__Q8_BLOCK;
        /* masked lanes (past n) load as zero: they quantise to the zero padding */
        __mmask16 k0 = (__mmask16)(left >= 16 ? 0xFFFFu : (1u << left) - 1u);
        __mmask16 k1 = (__mmask16)(left >= 32 ? 0xFFFFu : left <= 16 ? 0u : (1u << (left - 16)) - 1u);
        __m512 v0 = _mm512_maskz_loadu_ps(k0, x + b * MAMBA__Q8_BLOCK);
        __m512 v1 = _mm512_maskz_loadu_ps(k1, x + b * MAMBA__Q8_BLOCK + 16);
        __m512 a0 = _mm512_abs_ps(v0), a1 = _mm512_abs_ps(v1);
        int16_t *qb = xq + b * MAMBA__Q8_BLOCK;
        float amax, inv;
        if (_mm512_cmp_ps_mask(a0, big, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a1, big, _CMP_NLE_UQ)) amax = NAN;
        else amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
        if (!(amax >= MAMBA__Q8_XTINY)) { /* NaN or infinity inside, or all (near) zero */
            xs[b] = amax != amax ? NAN : 0.0f;
            _mm512_storeu_si512((void *)qb, _mm512_setzero_si512());
            continue;
        }
        inv = MAMBA__Q8_XMAX / amax;
        xs[b] = amax / MAMBA__Q8_XMAX;
        _mm256_storeu_si256((__m256i *)(void *)qb, _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(inv)))));
        _mm256_storeu_si256((__m256i *)(void *)(qb + 16),
                            _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(inv)))));
    }
}

#define MAMBA__HAVE_Q8_QUANT_X 1
#endif
/* elsewhere the scalar quantiser: it runs once per matvec, over one input vector */
#ifndef MAMBA__HAVE_Q8_QUANT_X
#define mamba__q8_quant_x mamba__q8_quant_x_scalar
#endif

/* The block terms of a prepared input (MAMBA__INPUT_Q16T): after its nb
   scales, xs[nb + b] = the sum of block b's 32 int16, exact (below 2^21).
   A type whose weights carry an offset per block (q4_k's minimum) takes its
   share of the sum from here, once a row per block, instead of summing xq
   again in every row (MAMBA__Q16_TERMS: where a kernel takes them). */
static void mamba__q16_terms(float *MAMBA__RESTRICT xs, const int16_t *MAMBA__RESTRICT xq, int nb)
{
    int b, i;
    for (b = 0; b < nb; b++) {
        int32_t s = 0;
        for (i = 0; i < MAMBA__Q8_BLOCK; i++) s += xq[(size_t)b * MAMBA__Q8_BLOCK + i];
        xs[nb + b] = (float)s;
    }
}

/* sum_b (d[b] xs[b]) * (sum_{i in b} q_i xq_i) over nb whole blocks */
static MAMBA__MAYBE_UNUSED float mamba__dot_q8x16_scalar(const int8_t *MAMBA__RESTRICT q, const uint16_t *MAMBA__RESTRICT d,
                                                         const int16_t *MAMBA__RESTRICT xq,
                                                         const float *MAMBA__RESTRICT xs, int nb)
{
    float sum = 0.0f;
    int b, i;
    for (b = 0; b < nb; b++) {
        const int8_t *qb = q + b * MAMBA__Q8_BLOCK;
        const int16_t *xb = xq + b * MAMBA__Q8_BLOCK;
        int32_t acc = 0;
        for (i = 0; i < MAMBA__Q8_BLOCK; i++) acc += (int32_t)qb[i] * (int32_t)xb[i];
        sum += (mamba__f16_to_f32(d[b]) * xs[b]) * (float)acc;
    }
    return sum;
}
#if defined(MAMBA__AVX512) && defined(__AVX512BW__) && defined(__AVX512VL__)
/* The integer dot products need AVX-512BW (bytes and words in 512-bit
   vectors) and VL (masked 256-bit loads), which every AVX-512 core since
   Skylake-SP has; a target with AVX-512F alone (Xeon Phi) takes the
   scalar ones. */
#define MAMBA__AVX512BW 1
/* 32 int8 -> 32 int16, sign-extended (vpmovsxbw) */
static MAMBA__INLINE __m512i mamba__load_q8x32(const int8_t *p)
{
    return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)p));
}

/* The sums of the 16 lanes of each of a, b, c, d, into out[0..3]: halves
   folded onto halves, then quarters, then within 128 bits. One fixed order
   per vector, whatever the other three hold, so a row's sum does not depend
   on which rows share the call. */
static void mamba__hsum4x16(float *out, __m512 a, __m512 b, __m512 c, __m512 d)
{
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
    __m512 t = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
    t = _mm512_add_ps(t, _mm512_permute_ps(t, 0x4E)); /* 128-bit lane k now sums vector k */
    t = _mm512_add_ps(t, _mm512_permute_ps(t, 0xB1));
    _mm_storeu_ps(out, _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                                                    12, 8, 4, 0), t)));
}

/* The accumulators of nr rows (nr <= MAMBA__NR = 4) summed into
   out[0..nr-1]: one call of mamba__hsum4x16, a missing row repeated */
static MAMBA__INLINE void mamba__hsum_rows(float *out, const __m512 *a, int nr)
{
    float res[4];
    int k;
    mamba__hsum4x16(res, a[0], a[nr > 1], a[nr > 2 ? 2 : 0], a[nr > 3 ? 3 : 0]);
    for (k = 0; k < nr; k++) out[k] = res[k];
}

/* The sums of the accumulators a[0..n-1] (n <= 8) into out: hsum4x16 four
   at a time (a missing one repeated), each vector's sum in its one order */
static MAMBA__INLINE void mamba__hsum_n(float *out, const __m512 *a, int n)
{
    int i;
    for (i = 0; i < n; i += 4) {
        float res[4];
        const int m = n - i < 4 ? n - i : 4;
        int k;
        mamba__hsum4x16(res, a[i], a[i + (m > 1)], a[i + (m > 2 ? 2 : 0)], a[i + (m > 3 ? 3 : 0)]);
        for (k = 0; k < m; k++) out[i + k] = res[k];
    }
}
/* d[b] xs[b] for the m <= 16 blocks from b0 in the lanes of a vector: one
   vcvtph2ps for 16 scales, no scalar f16 conversion a block */
static MAMBA__INLINE __m512 mamba__scales16(const uint16_t *d, const float *xs, int b0, int m)
{
    __mmask16 k = (__mmask16)(m == 16 ? 0xFFFFu : (1u << m) - 1u);
    return _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, d + b0)), _mm512_maskz_loadu_ps(k, xs + b0));
}

/* mamba__dot_q8x16_scalar for the rows q[k], d[k] (k < nr), read side by
   side. Per block one vpmaddwd: 32 int8 x int16 products summed in pairs
   into 16 int32 lanes, each exact and below 2^24, so converting them to f32
   is exact too; then one FMA by the block's scale, broadcast from memory.
   AVX512-VNNI's vpdpwssd would fold an int32 accumulate into the multiply,
   but every block has its own scale: nothing to accumulate in int32 across
   blocks. Two blocks at a time into two accumulators a row, so one FMA does
   not wait for the other; the rows share each load of xq. */
static MAMBA__INLINE void mamba__q8v(float *out, const int8_t *const *q, const uint16_t *const *d, int nr,
                                     const int16_t *MAMBA__RESTRICT xq, const float *MAMBA__RESTRICT xs, int nb)
{
    __m512 a0[MAMBA__NR], a1[MAMBA__NR];
    float s[MAMBA__NR][16];
    int k, b0, j;
    MAMBA__ROWS_UNROLLED
    for (k = 0; k < nr; k++) a0[k] = a1[k] = _mm512_setzero_ps();
    for (b0 = 0; b0 < nb; b0 += 16) {
        int m = nb - b0 < 16 ? nb - b0 : 16;
        MAMBA__ROWS_UNROLLED
        for (k = 0; k < nr; k++) {
            MAMBA__WPREFETCH((uintptr_t)(d[k] + b0) + 32); /* the scales, 2 bytes a block */
            _mm512_storeu_ps(s[k], mamba__scales16(d[k], xs, b0, m));
        }
        for (j = 0; j + 2 <= m; j += 2) {
            const int16_t *xb = xq + (b0 + j) * MAMBA__Q8_BLOCK;
            const __m512i x0 = _mm512_loadu_si512((const void *)xb), x1 = _mm512_loadu_si512((const void *)(xb + 32));
            MAMBA__ROWS_UNROLLED
            for (k = 0; k < nr; k++) {
                const int8_t *qb = q[k] + (b0 + j) * MAMBA__Q8_BLOCK;
                __m512i p0, p1;
                MAMBA__WPREFETCH(qb);
                p0 = _mm512_madd_epi16(mamba__load_q8x32(qb), x0);
                p1 = _mm512_madd_epi16(mamba__load_q8x32(qb + MAMBA__Q8_BLOCK), x1);
                a0[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), _mm512_set1_ps(s[k][j]), a0[k]);
                a1[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), _mm512_set1_ps(s[k][j + 1]), a1[k]);
            }
        }
        if (j < m) {
            const __m512i x0 = _mm512_loadu_si512((const void *)(xq + (b0 + j) * MAMBA__Q8_BLOCK));
            MAMBA__ROWS_UNROLLED
            for (k = 0; k < nr; k++) {
                __m512i p0 = _mm512_madd_epi16(mamba__load_q8x32(q[k] + (b0 + j) * MAMBA__Q8_BLOCK), x0);
                a0[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), _mm512_set1_ps(s[k][j]), a0[k]);
            }
        }
    }
    MAMBA__ROWS_UNROLLED
    for (k = 0; k < nr; k++) a0[k] = _mm512_add_ps(a0[k], a1[k]);
    mamba__hsum_rows(out, a0, nr);
}
static float mamba__dot_q8x16(const int8_t *q, const uint16_t *d, const int16_t *MAMBA__RESTRICT xq,
                              const float *MAMBA__RESTRICT xs, int nb)
{
    float v;
    mamba__q8v(&v, &q, &d, 1, xq, xs, nb);
    return v;
}
#define mamba__dotn_q8x16(out, q, d, xq, xs, nb) mamba__q8v(out, q, d, MAMBA__NR, xq, xs, nb)
/* mamba__q8v for nr <= 2 rows and ni <= 4 prepared inputs at once, into
   out[k * ni + t] (mamba_step_batch): every (row, input) sum by the very
   operations of mamba__q8v in its order, so the same bits; a row's int8
   are loaded and widened once for the ni inputs, an input's blocks loaded
   once for the nr rows. nr and ni are constants where it is inlined. */
static MAMBA__INLINE void mamba__q8v_x(float *out, const int8_t *const *q, const uint16_t *const *d, int nr,
                                       const int16_t *const *xq, const float *const *xs, int ni, int nb)
{
    __m512 a0[8], a1[8];
    float s[8][16];
    int k, t, b0, j;
    MAMBA__UNROLL8
    for (k = 0; k < nr * ni; k++) a0[k] = a1[k] = _mm512_setzero_ps();
    for (b0 = 0; b0 < nb; b0 += 16) {
        int m = nb - b0 < 16 ? nb - b0 : 16;
        MAMBA__ROWS_UNROLLED
        for (k = 0; k < nr; k++) {
            MAMBA__WPREFETCH((uintptr_t)(d[k] + b0) + 32); /* the scales, 2 bytes a block */
            MAMBA__ROWS_UNROLLED
            for (t = 0; t < ni; t++) _mm512_storeu_ps(s[k * ni + t], mamba__scales16(d[k], xs[t], b0, m));
        }
        for (j = 0; j + 2 <= m; j += 2) {
            __m512i w0[2], w1[2];
            MAMBA__ROWS_UNROLLED
            for (k = 0; k < nr; k++) {
                const int8_t *qb = q[k] + (b0 + j) * MAMBA__Q8_BLOCK;
                MAMBA__WPREFETCH(qb);
                w0[k] = mamba__load_q8x32(qb);
                w1[k] = mamba__load_q8x32(qb + MAMBA__Q8_BLOCK);
            }
            MAMBA__ROWS_UNROLLED
            for (t = 0; t < ni; t++) {
                const int16_t *xb = xq[t] + (b0 + j) * MAMBA__Q8_BLOCK;
                const __m512i x0 = _mm512_loadu_si512((const void *)xb), x1 = _mm512_loadu_si512((const void *)(xb + 32));
                MAMBA__ROWS_UNROLLED
                for (k = 0; k < nr; k++) {
                    const int c = k * ni + t;
                    a0[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_madd_epi16(w0[k], x0)), _mm512_set1_ps(s[c][j]), a0[c]);
                    a1[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_madd_epi16(w1[k], x1)), _mm512_set1_ps(s[c][j + 1]),
                                            a1[c]);
                }
            }
        }
        if (j < m) {
            __m512i w0[2];
            MAMBA__ROWS_UNROLLED
            for (k = 0; k < nr; k++) w0[k] = mamba__load_q8x32(q[k] + (b0 + j) * MAMBA__Q8_BLOCK);
            MAMBA__ROWS_UNROLLED
            for (t = 0; t < ni; t++) {
                const __m512i x0 = _mm512_loadu_si512((const void *)(xq[t] + (b0 + j) * MAMBA__Q8_BLOCK));
                MAMBA__ROWS_UNROLLED
                for (k = 0; k < nr; k++) {
                    const int c = k * ni + t;
                    a0[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_madd_epi16(w0[k], x0)), _mm512_set1_ps(s[c][j]), a0[c]);
                }
            }
        }
    }
    MAMBA__UNROLL8
    for (k = 0; k < nr * ni; k++) a0[k] = _mm512_add_ps(a0[k], a1[k]);
    mamba__hsum_n(out, a0, nr * ni);
}

#elif defined(MAMBA__AVX2)
/* mamba__dot_q8x16_scalar: per block two vpmaddwd (16 int8 x int16 products
   each, summed in pairs) into 8 int32 lanes of 4 products (below 2^24:
   exact in f32), then one FMA by the block's scale */
static float mamba__dot_q8x16(const int8_t *MAMBA__RESTRICT q, const uint16_t *MAMBA__RESTRICT d,
                              const int16_t *MAMBA__RESTRICT xq, const float *MAMBA__RESTRICT xs, int nb)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int b;
#define MAMBA__Q8X16(p) _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define MAMBA__I16X16(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
    for (b = 0; b < nb; b++) {
        const int8_t *qb = q + b * MAMBA__Q8_BLOCK;
        const int16_t *xb = xq + b * MAMBA__Q8_BLOCK;
        __m256i p = _mm256_add_epi32(_mm256_madd_epi16(MAMBA__Q8X16(qb), MAMBA__I16X16(xb)),
                                     _mm256_madd_epi16(MAMBA__Q8X16(qb + 16), MAMBA__I16X16(xb + 16)));
        __m256 s = _mm256_set1_ps(MAMBA__HALF(d[b]) * xs[b]);
        if (b & 1) a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), s, a1);
        else a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), s, a0);
    }
#undef MAMBA__Q8X16
#undef MAMBA__I16X16
    return mamba__hsum256(_mm256_add_ps(a0, a1));
}
#define MAMBA__HAVE_DOT_Q8X16 1
/* Block b of one row (qb, scale h) into a[t] for ni <= 4 prepared inputs:
   the row's int8 loaded and widened once, then per input the very
   operations of mamba__dot_q8x16 on that block */
static MAMBA__INLINE void mamba__q8x16_blk(__m256 *a, const int8_t *qb, float h, const int16_t *const *xq,
                                           const float *const *xs, int b, int ni)
{
    const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)qb));
    const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(qb + 16)));
    int t;
    MAMBA__UNROLL8
    for (t = 0; t < ni; t++) {
        const int16_t *xb = xq[t] + b * MAMBA__Q8_BLOCK;
        __m256i p = _mm256_add_epi32(_mm256_madd_epi16(w0, _mm256_loadu_si256((const __m256i *)(const void *)xb)),
                                     _mm256_madd_epi16(w1, _mm256_loadu_si256((const __m256i *)(const void *)(xb + 16))));
        a[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(h * xs[t][b]), a[t]);
    }
}
/* mamba__dot_q8x16 of one row against ni <= 4 prepared inputs at once, into
   out[t] (mamba_step_batch): the even blocks into a0, the odd ones into a1,
   each input's sum by the very operations of mamba__dot_q8x16 in its order,
   so the same bits; a block's int8 are loaded and widened once, and its
   scale converted once, for the ni inputs. ni is a constant where it is
   inlined. */
static MAMBA__INLINE void mamba__q8x16_x(float *out, const int8_t *MAMBA__RESTRICT q, const uint16_t *MAMBA__RESTRICT d,
                                         const int16_t *const *xq, const float *const *xs, int ni, int nb)
{
    __m256 a0[4], a1[4];
    int b, t;
    MAMBA__UNROLL8
    for (t = 0; t < ni; t++) a0[t] = a1[t] = _mm256_setzero_ps();
    for (b = 0; b + 2 <= nb; b += 2) {
        mamba__q8x16_blk(a0, q + b * MAMBA__Q8_BLOCK, MAMBA__HALF(d[b]), xq, xs, b, ni);
        mamba__q8x16_blk(a1, q + (b + 1) * MAMBA__Q8_BLOCK, MAMBA__HALF(d[b + 1]), xq, xs, b + 1, ni);
    }
    if (b < nb) mamba__q8x16_blk(a0, q + b * MAMBA__Q8_BLOCK, MAMBA__HALF(d[b]), xq, xs, b, ni);
    MAMBA__UNROLL8
    for (t = 0; t < ni; t++) out[t] = mamba__hsum256(_mm256_add_ps(a0[t], a1[t]));
}
#define MAMBA__HAVE_Q8X16_X 1
#elif defined(MAMBA__NEON)
/* mamba__dot_q8x16_scalar: per block eight smlal (int16 x int16 -> int32
   multiply-accumulate, 4 lanes each) into two int32 accumulators, then one
   conversion and one FMA by the block's scale */
static float mamba__dot_q8x16(const int8_t *MAMBA__RESTRICT q, const uint16_t *MAMBA__RESTRICT d,
                              const int16_t *MAMBA__RESTRICT xq, const float *MAMBA__RESTRICT xs, int nb)
{
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0;
    int b, i;
    for (b = 0; b < nb; b++) {
        const int8_t *qb = q + b * MAMBA__Q8_BLOCK;
        const int16_t *xb = xq + b * MAMBA__Q8_BLOCK;
        int32x4_t s0 = vdupq_n_s32(0), s1 = s0;
        for (i = 0; i < MAMBA__Q8_BLOCK; i += 16) {
            int8x16_t v = vld1q_s8(qb + i);
            int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_s8(vget_high_s8(v));
            int16x8_t x0 = vld1q_s16(xb + i), x1 = vld1q_s16(xb + i + 8);
            s0 = vmlal_s16(s0, vget_low_s16(lo), vget_low_s16(x0));
            s1 = vmlal_s16(s1, vget_high_s16(lo), vget_high_s16(x0));
            s0 = vmlal_s16(s0, vget_low_s16(hi), vget_low_s16(x1));
            s1 = vmlal_s16(s1, vget_high_s16(hi), vget_high_s16(x1));
        }
        if (b & 1) a1 = vfmaq_n_f32(a1, vcvtq_f32_s32(vaddq_s32(s0, s1)), MAMBA__HALF(d[b]) * xs[b]);
        else a0 = vfmaq_n_f32(a0, vcvtq_f32_s32(vaddq_s32(s0, s1)), MAMBA__HALF(d[b]) * xs[b]);
    }
    return vaddvq_f32(vaddq_f32(a0, a1));
}
#define MAMBA__HAVE_DOT_Q8X16 1
/* mamba__dot_q8x16 of one row against ni <= 4 prepared inputs at once, into
   out[t] (mamba_step_batch): each input's int32 lanes hold the same exact
   sums (lane l: the products of the block's columns l mod 4), then the very
   f32 operations of mamba__dot_q8x16 in its order, so the same bits; the
   row's int8 of a block are loaded and widened once, and its scale
   converted once, for the ni inputs. ni is a constant where it is inlined. */
static MAMBA__INLINE void mamba__q8x16_x(float *out, const int8_t *MAMBA__RESTRICT q, const uint16_t *MAMBA__RESTRICT d,
                                         const int16_t *const *xq, const float *const *xs, int ni, int nb)
{
    float32x4_t a0[4], a1[4];
    int b, i, t;
    for (t = 0; t < ni; t++) a0[t] = a1[t] = vdupq_n_f32(0.0f);
    for (b = 0; b < nb; b++) {
        const int8_t *qb = q + b * MAMBA__Q8_BLOCK;
        const float h = MAMBA__HALF(d[b]);
        int16x8_t w[4];
        int32x4_t s0[4], s1[4];
        for (i = 0; i < 2; i++) {
            int8x16_t v = vld1q_s8(qb + 16 * i);
            w[2 * i] = vmovl_s8(vget_low_s8(v));
            w[2 * i + 1] = vmovl_s8(vget_high_s8(v));
        }
        for (t = 0; t < ni; t++) {
            const int16_t *xb = xq[t] + b * MAMBA__Q8_BLOCK;
            s0[t] = s1[t] = vdupq_n_s32(0);
            for (i = 0; i < 2; i++) {
                int16x8_t x0 = vld1q_s16(xb + 16 * i), x1 = vld1q_s16(xb + 16 * i + 8);
                s0[t] = vmlal_s16(s0[t], vget_low_s16(w[2 * i]), vget_low_s16(x0));
                s1[t] = vmlal_s16(s1[t], vget_high_s16(w[2 * i]), vget_high_s16(x0));
                s0[t] = vmlal_s16(s0[t], vget_low_s16(w[2 * i + 1]), vget_low_s16(x1));
                s1[t] = vmlal_s16(s1[t], vget_high_s16(w[2 * i + 1]), vget_high_s16(x1));
            }
            if (b & 1) a1[t] = vfmaq_n_f32(a1[t], vcvtq_f32_s32(vaddq_s32(s0[t], s1[t])), h * xs[t][b]);
            else a0[t] = vfmaq_n_f32(a0[t], vcvtq_f32_s32(vaddq_s32(s0[t], s1[t])), h * xs[t][b]);
        }
    }
    for (t = 0; t < ni; t++) out[t] = vaddvq_f32(vaddq_f32(a0[t], a1[t]));
}
#define MAMBA__HAVE_Q8X16_X 1
#elif defined(MAMBA__MVE)
/* mamba__dot_q8x16_scalar: per block four vmladava (8 int8 weights, widened
   by the load, times 8 int16 inputs, summed across the lanes into one int32:
   the same exact integer as the reference's), then the reference's very f32
   operations, so the result is the reference's to the bit */
static float mamba__dot_q8x16(const int8_t *MAMBA__RESTRICT q, const uint16_t *MAMBA__RESTRICT d,
                              const int16_t *MAMBA__RESTRICT xq, const float *MAMBA__RESTRICT xs, int nb)
{
    float sum = 0.0f;
    int b;
    for (b = 0; b < nb; b++) {
        const int8_t *qb = q + b * MAMBA__Q8_BLOCK;
        const int16_t *xb = xq + b * MAMBA__Q8_BLOCK;
        int32_t acc = vmladavq_s16(vldrbq_s16(qb), vld1q_s16(xb));
        acc = vmladavaq_s16(acc, vldrbq_s16(qb + 8), vld1q_s16(xb + 8));
        acc = vmladavaq_s16(acc, vldrbq_s16(qb + 16), vld1q_s16(xb + 16));
        acc = vmladavaq_s16(acc, vldrbq_s16(qb + 24), vld1q_s16(xb + 24));
        sum += (MAMBA__HALF(d[b]) * xs[b]) * (float)acc;
    }
    return sum;
}
#define MAMBA__HAVE_DOT_Q8X16 1
#endif
#if !defined(MAMBA__AVX512BW) && !defined(MAMBA__HAVE_DOT_Q8X16)
#define mamba__dot_q8x16 mamba__dot_q8x16_scalar
#endif
#ifndef mamba__dotn_q8x16
/* MAMBA__NR rows, one after another */
static void mamba__dotn_q8x16(float *out, const int8_t *const *q, const uint16_t *const *d,
                              const int16_t *MAMBA__RESTRICT xq, const float *MAMBA__RESTRICT xs, int nb)
{
    int k;
    for (k = 0; k < MAMBA__NR; k++) out[k] = mamba__dot_q8x16(q[k], d[k], xq, xs, nb);
}
#endif

/* Where row r of a q8 matrix lives: its nb = ceil(cols/32) blocks of
   int8, and its nb scales after all the rows' int8. */
static const int8_t *mamba__q8_row(const mamba_matrix *W, int r, const uint16_t **d)
{
    size_t nb = (size_t)mamba__q8_blocks(W->cols);
    const int8_t *q = (const int8_t *)W->data;
    *d = (const uint16_t *)(const void *)(q + (size_t)W->rows * nb * MAMBA__Q8_BLOCK) + (size_t)r * nb;
    return q + (size_t)r * nb * MAMBA__Q8_BLOCK;
}

/* -- the weight types ------------------------------------------------------
   Everything that depends on how a matrix is stored lives in one entry of
   mamba__wtypes[] (as ggml's type traits): its block, its bytes, its row
   dot products, its dequantiser, the input format it wants and its finite
   check. Nothing else in the header looks at a dtype; a dtype without an
   entry is refused by the loader. Adding a weight type = its kernels + one
   entry (4 q4_0 and 5 iq4_nl were added so: their block below).
   A type's two dot products: dot_row (one row with an f32 x, any input
   format made inside) and dot_rows (MAMBA__NR rows with the input the
   matvec prepared once, mamba__xin). */

/* The input of a matvec as every row reads it: x itself, and for a type
   that wants x quantised (MAMBA__INPUT_Q16) xq and xs (mamba__q8_quant_x),
   and for MAMBA__INPUT_Q16T the block terms after the scales in xs. */
typedef struct mamba__xin {
    const float *x;
    const int16_t *xq;
    const float *xs;
} mamba__xin;

/* Row r of an f32 / f16 / bf16 matrix: its address (esize bytes a weight) */
static const void *mamba__frow(const mamba_matrix *W, int r, size_t esize)
{
    return (const unsigned char *)W->data + (size_t)r * (size_t)W->cols * esize;
}
/* The MAMBA__NR rows r[k] of such a matrix into w[k] */
static void mamba__frows(const void **w, const mamba_matrix *W, const int *r, size_t esize)
{
    int k;
    for (k = 0; k < MAMBA__NR; k++) w[k] = mamba__frow(W, r[k], esize);
}

static float mamba__dot_row_f32(const mamba_matrix *W, int r, const float *MAMBA__RESTRICT x)
{
    return mamba__dot_f32(mamba__frow(W, r, 4), x, W->cols);
}
static float mamba__dot_row_f16(const mamba_matrix *W, int r, const float *MAMBA__RESTRICT x)
{
    return mamba__dot_f16(mamba__frow(W, r, 2), x, W->cols);
}
static float mamba__dot_row_bf16(const mamba_matrix *W, int r, const float *MAMBA__RESTRICT x)
{
    return mamba__dot_bf16(mamba__frow(W, r, 2), x, W->cols);
}
static void mamba__dot_rows_f32(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in)
{
    const void *w[MAMBA__NR];
    mamba__frows(w, W, r, 4);
    mamba__dotn_f32(out, w, in->x, W->cols);
}
static void mamba__dot_rows_f16(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in)
{
    const void *w[MAMBA__NR];
    mamba__frows(w, W, r, 2);
    mamba__dotn_f16(out, w, in->x, W->cols);
}
static void mamba__dot_rows_bf16(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in)
{
    const void *w[MAMBA__NR];
    mamba__frows(w, W, r, 2);
    mamba__dotn_bf16(out, w, in->x, W->cols);
}
/* dot_rows_few of the float types: dot_rows's rows through n <=
   MAMBA__XD inputs at once (mamba__dotv) */
#if MAMBA__XD > 1
static MAMBA__INLINE void mamba__dot_rows_few_f(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in,
                                                int n, const int *next, int part, int parts, int dtype)
{
    const size_t es = dtype == MAMBA_DTYPE_F32 ? 4 : 2;
    const void *w[MAMBA__NR];
    const float *x[MAMBA__XD];
    mamba__pfplan plan, *pf = NULL;
    int t;
    mamba__frows(w, W, r, es);
    if (next) {
        mamba__frows(plan.next, W, next, es);
        plan.part = part;
        plan.parts = parts;
        pf = &plan;
    }
    for (t = 0; t < n; t++) x[t] = in[t].x;
    if (n == 1) mamba__dotv(out, w, MAMBA__NR, x, 1, W->cols, dtype, pf);
    else mamba__dotv(out, w, MAMBA__NR, x, 2, W->cols, dtype, pf);
}
#define MAMBA__DOT_ROWS_FEW(name, dt)                                                                                  \
    static void name(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in, int n, const int *next,    \
                     int part, int parts)                                                                              \
    {                                                                                                                  \
        mamba__dot_rows_few_f(out, W, r, in, n, next, part, parts, dt);                                                \
    }
MAMBA__DOT_ROWS_FEW(mamba__dot_rows_few_f32, MAMBA_DTYPE_F32)
MAMBA__DOT_ROWS_FEW(mamba__dot_rows_few_f16, MAMBA_DTYPE_F16)
MAMBA__DOT_ROWS_FEW(mamba__dot_rows_few_bf16, MAMBA_DTYPE_BF16)
#else
#define mamba__dot_rows_few_f32 NULL
#define mamba__dot_rows_few_f16 NULL
#define mamba__dot_rows_few_bf16 NULL
#endif

/* out[j][r] = row r . in[j].x for rows r0 <= r < r1 and inputs j < n, each
   exactly what mamba__matvec_x gives row r (the batch of mamba_step_batch).
   With a vector form: for each group of rows, each group of up to
   MAMBA__XG inputs, each block of columns, each pair (AVX2: triple) of rows
   of the group through the inputs' block (mamba__dotv_xn), the
   accumulators kept on the stack between blocks; then mamba__dotv_x_end.
   Elsewhere one product after another, from the cache. */
static MAMBA__INLINE void mamba__dot_rows_n_f(float *const *out, const mamba_matrix *W, int r0, int r1,
                                              const mamba__xin *in, int n, int dtype)
{
    const size_t es = dtype == MAMBA_DTYPE_F32 ? 4 : 2;
    const int cols = W->cols;
    int r = r0, j;
#if defined(MAMBA__VN) && !(defined(MAMBA__VROWS) && MAMBA__VROWS == 1)
#ifdef MAMBA__VF16
    const int vec = 1;
#else
    const int vec = dtype != MAMBA_DTYPE_F16; /* AVX2 without F16C widens f16 in the reference only */
#endif
    const int whole = cols / (2 * MAMBA__VN) * (2 * MAMBA__VN); /* columns in whole chunks */
    mamba__vf acc[MAMBA_BATCH_ROWS][2 * MAMBA__XG];
    for (; vec && r < r1; r += MAMBA_BATCH_ROWS) {
        const int nr = r1 - r < MAMBA_BATCH_ROWS ? r1 - r : MAMBA_BATCH_ROWS;
        /* the next group's rows, asked for in the order of their bytes (one
           stream) as far on as this group reads: its block c0 of row k at
           (c0 / MAMBA_BATCH_COLS * nr + k) blocks on from `next` */
        const uintptr_t next = (uintptr_t)mamba__frow(W, r, es) + (size_t)nr * (size_t)cols * es;
        int k, t, c0;
        for (j = 0; j < n; j += MAMBA__XG) {
            const int ni = n - j < MAMBA__XG ? n - j : MAMBA__XG;
            for (k = 0; k < nr; k++)
                for (t = 0; t < 2 * ni; t++) acc[k][t] = MAMBA__VZERO();
            for (c0 = 0; c0 < whole; c0 += MAMBA_BATCH_COLS) {
                const int len = whole - c0 < MAMBA_BATCH_COLS ? whole - c0 : MAMBA_BATCH_COLS;
                const size_t blk = (size_t)(c0 / MAMBA_BATCH_COLS) * (size_t)nr;
                const float *xp[MAMBA__XG];
                for (t = 0; t < ni; t++) xp[t] = in[j + t].x + c0;
                for (k = 0; k < nr; k += MAMBA__XR) {
                    const int nk = nr - k < MAMBA__XR ? nr - k : MAMBA__XR;
                    const void *w0 = (const unsigned char *)mamba__frow(W, r + k, es) + (size_t)c0 * es;
                    const void *w1 = nk > 1 ? (const unsigned char *)mamba__frow(W, r + k + 1, es) + (size_t)c0 * es : w0;
                    const void *w2 = nk > 2 ? (const unsigned char *)mamba__frow(W, r + k + 2, es) + (size_t)c0 * es : w0;
                    mamba__vf *c1 = acc[k + (nk > 1)], *c2 = acc[k + (nk > 2 ? 2 : 0)];
                    const uintptr_t a0 = next + (blk + (size_t)k) * (size_t)MAMBA_BATCH_COLS * es;
                    if (nk > 2) mamba__dotv_xn(acc[k], c1, c2, w0, w1, w2, 3, a0, xp, ni, len, dtype);
                    else if (nk > 1) mamba__dotv_xn(acc[k], c1, c2, w0, w1, w2, 2, a0, xp, ni, len, dtype);
                    else mamba__dotv_xn(acc[k], c1, c2, w0, w1, w2, 1, a0, xp, ni, len, dtype);
                }
            }
            for (k = 0; k < nr; k++) {
                const void *w = mamba__frow(W, r + k, es);
                for (t = 0; t < ni; t++)
                    out[j + t][r + k] =
                        mamba__dotv_x_end(acc[k][2 * t], acc[k][2 * t + 1], w, in[j + t].x, whole, cols, dtype);
            }
        }
    }
#endif
    for (; r < r1; r++) {
        const void *w = mamba__frow(W, r, es);
        for (j = 0; j < n; j++)
            out[j][r] = dtype == MAMBA_DTYPE_F32   ? mamba__dot_f32(w, in[j].x, cols)
                        : dtype == MAMBA_DTYPE_F16 ? mamba__dot_f16(w, in[j].x, cols)
                                                   : mamba__dot_bf16(w, in[j].x, cols);
    }
}
static void mamba__dot_rows_n_f32(float *const *out, const mamba_matrix *W, int r0, int r1, const mamba__xin *in,
                                  int n)
{
    mamba__dot_rows_n_f(out, W, r0, r1, in, n, MAMBA_DTYPE_F32);
}
static void mamba__dot_rows_n_f16(float *const *out, const mamba_matrix *W, int r0, int r1, const mamba__xin *in,
                                  int n)
{
    mamba__dot_rows_n_f(out, W, r0, r1, in, n, MAMBA_DTYPE_F16);
}
static void mamba__dot_rows_n_bf16(float *const *out, const mamba_matrix *W, int r0, int r1, const mamba__xin *in,
                                   int n)
{
    mamba__dot_rows_n_f(out, W, r0, r1, in, n, MAMBA_DTYPE_BF16);
}

/* The columns of x a row of an int16-input type quantises at a time when
   it has no prepared input (256 bytes of int16 on the stack) */
#define MAMBA__Q8_CHUNK 128

/* Blocks [b0, b0 + nb) of row r with the quantised input of those blocks */
typedef float (*mamba__qblocks_fn)(const mamba_matrix *W, int r, int b0, int nb, const int16_t *MAMBA__RESTRICT xq,
                                   const float *MAMBA__RESTRICT xs);

/* A row of an int16-input type (q8, the 4-bit types) with an f32 x
   (mamba_forward()'s scalar products, the matvec without scratch): the same
   quantisation of x and the same integer products as the prepared input of
   mamba__matvec_x, but x is quantised a chunk at a time into a small stack
   buffer, for every row again: the same numbers up to the order of the
   final f32 sum, at about twice the cost. */
static float mamba__dot_row_q16(const mamba_matrix *W, int r, const float *MAMBA__RESTRICT x, mamba__qblocks_fn f)
{
    int16_t xq[MAMBA__Q8_CHUNK];
    float xs[MAMBA__Q8_CHUNK / MAMBA__Q8_BLOCK], sum = 0.0f;
    int c;
    for (c = 0; c < W->cols; c += MAMBA__Q8_CHUNK) {
        int len = W->cols - c < MAMBA__Q8_CHUNK ? W->cols - c : MAMBA__Q8_CHUNK;
        mamba__q8_quant_x(xq, xs, x + c, len);
        sum += f(W, r, c / MAMBA__Q8_BLOCK, mamba__q8_blocks(len), xq, xs);
    }
    return sum;
}

static float mamba__q8_blocks_dot(const mamba_matrix *W, int r, int b0, int nb, const int16_t *MAMBA__RESTRICT xq,
                                  const float *MAMBA__RESTRICT xs)
{
    const uint16_t *d;
    const int8_t *q = mamba__q8_row(W, r, &d);
    return mamba__dot_q8x16(q + (size_t)b0 * MAMBA__Q8_BLOCK, d + b0, xq, xs, nb);
}
static float mamba__dot_row_q8(const mamba_matrix *W, int r, const float *MAMBA__RESTRICT x)
{
    return mamba__dot_row_q16(W, r, x, mamba__q8_blocks_dot);
}
static void mamba__dot_rows_q8(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in)
{
    const int8_t *q[MAMBA__NR];
    const uint16_t *d[MAMBA__NR];
    int k;
    for (k = 0; k < MAMBA__NR; k++) q[k] = mamba__q8_row(W, r[k], &d[k]);
    mamba__dotn_q8x16(out, q, d, in->xq, in->xs, mamba__q8_blocks(W->cols));
}

#if defined(MAMBA__AVX512BW)
/* rows r, r+1 (nr of them) . inputs j..j+ni-1 (ni 1, 2 or 4) into out */
static void mamba__q8_block_n(float *const *out, int r, int nr, const int8_t *const *q, const uint16_t *const *d,
                              const mamba__xin *in, int j, int ni, int nb)
{
    const int16_t *xq[4];
    const float *xs[4];
    float v[8];
    int k, t;
    for (t = 0; t < ni; t++) {
        xq[t] = in[j + t].xq;
        xs[t] = in[j + t].xs;
    }
    if (nr == 2)
        if (ni == 4) mamba__q8v_x(v, q, d, 2, xq, xs, 4, nb);
        else if (ni == 2) mamba__q8v_x(v, q, d, 2, xq, xs, 2, nb);
        else mamba__q8v_x(v, q, d, 2, xq, xs, 1, nb);
    else if (ni == 4) mamba__q8v_x(v, q, d, 1, xq, xs, 4, nb);
    else if (ni == 2) mamba__q8v_x(v, q, d, 1, xq, xs, 2, nb);
    else mamba__q8v_x(v, q, d, 1, xq, xs, 1, nb);
    for (k = 0; k < nr; k++)
        for (t = 0; t < ni; t++) out[j + t][r + k] = v[k * ni + t];
}
/* dot_rows_n of q8 (mamba_step_batch): rows in pairs through the inputs
   four at a time (mamba__q8v_x); the same bits as dot_rows */
static void mamba__dot_rows_n_q8(float *const *out, const mamba_matrix *W, int r0, int r1, const mamba__xin *in, int n)
{
    const int nb = mamba__q8_blocks(W->cols);
    int r, j, k;
    for (r = r0; r < r1; r += 2) {
        const int nr = r1 - r < 2 ? 1 : 2;
        const int8_t *q[2];
        const uint16_t *d[2];
        for (k = 0; k < nr; k++) q[k] = mamba__q8_row(W, r + k, &d[k]);
        for (j = 0; j + 4 <= n; j += 4) mamba__q8_block_n(out, r, nr, q, d, in, j, 4, nb);
        if (j + 2 <= n) {
            mamba__q8_block_n(out, r, nr, q, d, in, j, 2, nb);
            j += 2;
        }
        if (j < n) mamba__q8_block_n(out, r, nr, q, d, in, j, 1, nb);
    }
}
#elif defined(MAMBA__HAVE_Q8X16_X)
/* Blocks [b0, b0 + nb) of one row (q, d: those blocks) against every input
   j < n into v[j], four inputs at a time (mamba__q8x16_x): each v[j] the
   bits of mamba__dot_q8x16 of those blocks */
static void mamba__q8x16_n(float *v, const int8_t *q, const uint16_t *d, const mamba__xin *in, int n, int b0, int nb)
{
    const int16_t *xq[4];
    const float *xs[4];
    int j = 0, t;
    while (j < n) {
        const int ni = n - j >= 4 ? 4 : n - j >= 2 ? 2 : 1;
        for (t = 0; t < ni; t++) {
            xq[t] = in[j + t].xq + (size_t)b0 * MAMBA__Q8_BLOCK;
            xs[t] = in[j + t].xs + b0;
        }
        if (ni == 4) mamba__q8x16_x(v + j, q, d, xq, xs, 4, nb);
        else if (ni == 2) mamba__q8x16_x(v + j, q, d, xq, xs, 2, nb);
        else mamba__q8x16_x(v + j, q, d, xq, xs, 1, nb);
        j += ni;
    }
}
/* dot_rows_n of q8 (mamba_step_batch) with AVX2 or NEON: a row at a time
   through the inputs (mamba__q8x16_n); the same bits as dot_rows */
static void mamba__dot_rows_n_q8(float *const *out, const mamba_matrix *W, int r0, int r1, const mamba__xin *in, int n)
{
    const int nb = mamba__q8_blocks(W->cols);
    float v[MAMBA_BATCH_MAX];
    int r, j;
    for (r = r0; r < r1; r++) {
        const uint16_t *d;
        const int8_t *q = mamba__q8_row(W, r, &d);
        mamba__q8x16_n(v, q, d, in, n, 0, nb);
        for (j = 0; j < n; j++) out[j][r] = v[j];
    }
}
#else
#define mamba__dot_rows_n_q8 mamba__dot_rows_n_each
#endif

/* Columns [k0, k0 + n) of row r widened to f32 into out: the embedding
   lookup (the whole row) and mamba_forward()'s weight panels. For a
   blocked type k0 is a multiple of its block. AVX-512 converts 16 at a
   time; the loops after it are the reference and the tails. */
static void mamba__dequant_f32(float *MAMBA__RESTRICT out, const mamba_matrix *W, int r, int k0, int n)
{
    memcpy(out, (const float *)W->data + (size_t)r * (size_t)W->cols + (size_t)k0, sizeof(float) * (size_t)n);
}

static void mamba__dequant_f16(float *MAMBA__RESTRICT out, const mamba_matrix *W, int r, int k0, int n)
{
    const uint16_t *w = (const uint16_t *)W->data + (size_t)r * (size_t)W->cols + (size_t)k0;
    int k = 0;
#if defined(MAMBA__AVX512)
    for (; k + 16 <= n; k += 16)
        _mm512_storeu_ps(out + k, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(w + k))));
#elif defined(MAMBA__MVE)
    for (; k + 4 <= n; k += 4) vst1q_f32(out + k, mamba__load4_mve(w, k, MAMBA_DTYPE_F16));
#endif
    for (; k < n; k++) out[k] = MAMBA__HALF(w[k]);
}

static void mamba__dequant_bf16(float *MAMBA__RESTRICT out, const mamba_matrix *W, int r, int k0, int n)
{
    const uint16_t *w = (const uint16_t *)W->data + (size_t)r * (size_t)W->cols + (size_t)k0;
    int k = 0;
#if defined(MAMBA__AVX512)
    for (; k + 16 <= n; k += 16)
        _mm512_storeu_ps(out + k, _mm512_castsi512_ps(_mm512_slli_epi32(
                                      _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(w + k))), 16)));
#endif
    for (; k < n; k++) out[k] = mamba__bf16_to_f32(w[k]);
}

/* q8: each int8 times its block's scale */
static void mamba__dequant_q8(float *MAMBA__RESTRICT out, const mamba_matrix *W, int r, int k0, int n)
{
    const uint16_t *d;
    const int8_t *q = mamba__q8_row(W, r, &d) + k0;
    int k = 0;
    d += k0 / MAMBA__Q8_BLOCK;
#if defined(MAMBA__AVX512)
    for (; k + 16 <= n; k += 16) {
        __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(q + k))));
        _mm512_storeu_ps(out + k, _mm512_mul_ps(v, _mm512_set1_ps(MAMBA__HALF(d[k / MAMBA__Q8_BLOCK]))));
    }
#endif
    for (; k < n; k++) out[k] = MAMBA__HALF(d[k / MAMBA__Q8_BLOCK]) * (float)q[k];
}

/* 1 if any of n floats stored at p (stride bytes apart) is NaN or
   infinite: all exponent bits set. fmt: the float's dtype (f32, f16, bf16). */
static int mamba__nonfinite_run(const unsigned char *p, size_t n, size_t stride, int fmt)
{
    size_t i;
    for (i = 0; i < n; i++, p += stride) {
        if (fmt == MAMBA_DTYPE_F32) {
            uint32_t v = mamba__rd32(p);
            if ((v & 0x7F800000u) == 0x7F800000u) return 1;
        } else {
            uint32_t h = mamba__rd16(p);
            uint32_t mask = fmt == MAMBA_DTYPE_F16 ? 0x7C00u : 0x7F80u; /* f16 : bf16 exponent */
            if ((h & mask) == mask) return 1;
        }
    }
    return 0;
}

/* The finite checks: where each type keeps values that can be non-finite. */
static int mamba__nonfinite_f32(const unsigned char *p, size_t rows, size_t cols)
{
    return mamba__nonfinite_run(p, rows * cols, 4, MAMBA_DTYPE_F32);
}
static int mamba__nonfinite_f16(const unsigned char *p, size_t rows, size_t cols)
{
    return mamba__nonfinite_run(p, rows * cols, 2, MAMBA_DTYPE_F16);
}
static int mamba__nonfinite_bf16(const unsigned char *p, size_t rows, size_t cols)
{
    return mamba__nonfinite_run(p, rows * cols, 2, MAMBA_DTYPE_BF16);
}
/* q8: the int8 values are finite by construction; the f16 scales follow
   the rows * blocks * 32 int8s */
static int mamba__nonfinite_q8(const unsigned char *p, size_t rows, size_t cols)
{
    size_t nb = (cols + MAMBA__Q8_BLOCK - 1) / MAMBA__Q8_BLOCK;
    return mamba__nonfinite_run(p + rows * nb * MAMBA__Q8_BLOCK, rows * nb, 2, MAMBA_DTYPE_F16);
}

/* -- 4-bit weights: q4_0 and iq4_nl (dtypes 4 and 5) ----------------------
   Blocks of 32 columns along a row, one f16 scale d per block:
       w[r][c] = d[r][c / 32] * level[nibble of (r, c)]
   q4_0:   level = nibble - 8                  (ggml's Q4_0 values)
   iq4_nl: level = mamba__iq4nl_levels[nibble] (ggml's IQ4_NL codebook:
           16 int8 levels, denser near zero, where most weights are)
   A block's 16 bytes hold value j in the low nibble of byte j and value
   j + 16 in its high nibble (ggml's order: GGUF Q4_0 and IQ4_NL blocks
   load bit for bit). As q8: all R*nb*16 bytes of nibbles first, row after
   row, then the R*nb f16 scales.
   The products: a block's 32 nibbles become 32 int8 levels (one table
   lookup each, vpshufb / tbl on SIMD), and from there they are q8 weights
   with the same int16 input (mamba__q8_quant_x). With AVX-512 the levels
   stay in registers (mamba__q4v); elsewhere 16 blocks at a time go through
   a 512-byte buffer on the stack into q8's integer dot (mamba__dot_q8x16). */
#define MAMBA__Q4_CHUNK 16 /* blocks unpacked at a time */

static const int8_t mamba__q4_0_levels[16] = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};
static const int8_t mamba__iq4nl_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                               1,    13,   25,  38,  53,  69,  89,  113};

/* nb blocks of nibbles (16 bytes each) -> 32 * nb int8 levels: the reference */
static MAMBA__MAYBE_UNUSED void mamba__q4_unpack_scalar(int8_t *MAMBA__RESTRICT out, const uint8_t *MAMBA__RESTRICT qs,
                                                        const int8_t *lv, int nb)
{
    int b, j;
    for (b = 0; b < nb; b++, qs += 16, out += 32) {
        for (j = 0; j < 16; j++) {
            out[j] = lv[qs[j] & 0x0F];
            out[j + 16] = lv[qs[j] >> 4];
        }
    }
}

#if defined(MAMBA__AVX512) || defined(MAMBA__AVX2)
/* pshufb looks each nibble up in the 16 levels: 16 values per instruction */
static void mamba__q4_unpack(int8_t *MAMBA__RESTRICT out, const uint8_t *MAMBA__RESTRICT qs, const int8_t *lv, int nb)
{
    const __m128i tbl = _mm_loadu_si128((const __m128i *)(const void *)lv), m = _mm_set1_epi8(0x0F);
    int b;
    for (b = 0; b < nb; b++, qs += 16, out += 32) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)qs);
        _mm_storeu_si128((__m128i *)(void *)out, _mm_shuffle_epi8(tbl, _mm_and_si128(v, m)));
        _mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_shuffle_epi8(tbl, _mm_and_si128(_mm_srli_epi16(v, 4), m)));
    }
}
#elif defined(MAMBA__NEON)
/* tbl looks each nibble up in the 16 levels: 16 values per instruction */
static void mamba__q4_unpack(int8_t *MAMBA__RESTRICT out, const uint8_t *MAMBA__RESTRICT qs, const int8_t *lv, int nb)
{
    const int8x16_t tbl = vld1q_s8(lv);
    const uint8x16_t m = vdupq_n_u8(0x0F);
    int b;
    for (b = 0; b < nb; b++, qs += 16, out += 32) {
        uint8x16_t v = vld1q_u8(qs);
        vst1q_s8(out, vqtbl1q_s8(tbl, vandq_u8(v, m)));
        vst1q_s8(out + 16, vqtbl1q_s8(tbl, vshrq_n_u8(v, 4)));
    }
}
#elif defined(MAMBA__MVE)
/* Helium has no byte table lookup: a gather load from the 16 levels, with
   the nibbles as the offsets, 16 values per instruction */
static void mamba__q4_unpack(int8_t *MAMBA__RESTRICT out, const uint8_t *MAMBA__RESTRICT qs, const int8_t *lv, int nb)
{
    int b;
    for (b = 0; b < nb; b++, qs += 16, out += 32) {
        uint8x16_t v = vld1q_u8(qs);
        vst1q_s8(out, vldrbq_gather_offset_s8(lv, vandq_u8(v, vdupq_n_u8(0x0F))));
        vst1q_s8(out + 16, vldrbq_gather_offset_s8(lv, vshrq_n_u8(v, 4)));
    }
}
#else
#define mamba__q4_unpack mamba__q4_unpack_scalar
#endif

/* Row r's nibbles, and its scales into *d */
static const uint8_t *mamba__q4_row(const mamba_matrix *W, int r, const uint16_t **d)
{
    size_t nb = (size_t)mamba__q8_blocks(W->cols);
    const uint8_t *q = (const uint8_t *)W->data;
    *d = (const uint16_t *)(const void *)(q + (size_t)W->rows * nb * 16) + (size_t)r * nb;
    return q + (size_t)r * nb * 16;
}

/* sum_b (d[b] xs[b]) * (sum_{i in b} level_i xq_i): the reference, block by
   block as mamba__dot_q8x16_scalar */
static MAMBA__MAYBE_UNUSED float mamba__dot_q4x16_scalar(const uint8_t *MAMBA__RESTRICT q, const uint16_t *MAMBA__RESTRICT d,
                                                         const int16_t *MAMBA__RESTRICT xq,
                                                         const float *MAMBA__RESTRICT xs, int nb, const int8_t *lv)
{
    int8_t w[32];
    float sum = 0.0f;
    int b;
    for (b = 0; b < nb; b++) {
        mamba__q4_unpack_scalar(w, q + b * 16, lv, 1);
        sum += mamba__dot_q8x16_scalar(w, d + b, xq + b * MAMBA__Q8_BLOCK, xs + b, 1);
    }
    return sum;
}

#if defined(MAMBA__AVX512BW)
/* The rows q[k], d[k] (k < nr) side by side, the nibbles unpacked in
   registers: 32 bytes (two blocks) a row at a time, vpshufb looks the low
   nibbles up in the 16 levels (values 0..15 of both blocks) and the high
   ones (values 16..31), vpmovsxbw widens each to 32 int16, and vpmaddwd
   multiplies them with xq gathered in the same order (once per pair of
   blocks for all the rows). Lanes 0..7 of the sum then hold the first
   block's products, 8..15 the second's: one conversion and one FMA by a
   vector of both blocks' scales (vpermps from the 16 made at once). The
   integer block sums are exact, so this is mamba__dot_q4x16_scalar up to
   the order of the f32 sum. */
static MAMBA__INLINE void mamba__q4v(float *out, const uint8_t *const *q, const uint16_t *const *d, int nr,
                                     const int16_t *MAMBA__RESTRICT xq, const float *MAMBA__RESTRICT xs, int nb,
                                     const int8_t *lv)
{
    const __m128i tbl1 = _mm_loadu_si128((const __m128i *)(const void *)lv), m1 = _mm_set1_epi8(0x0F);
    const __m256i tbl = _mm256_broadcastsi128_si256(tbl1), m4 = _mm256_set1_epi8(0x0F);
    const __m512i pair = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), two = _mm512_set1_epi32(2);
    __m512 acc[MAMBA__NR], s[MAMBA__NR];
    int k, b0, j;
#define MAMBA__LOAD256(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
    MAMBA__ROWS_UNROLLED
    for (k = 0; k < nr; k++) acc[k] = _mm512_setzero_ps();
    for (b0 = 0; b0 < nb; b0 += 16) {
        int m = nb - b0 < 16 ? nb - b0 : 16;
        __m512i idx = pair;
        MAMBA__ROWS_UNROLLED
        for (k = 0; k < nr; k++) {
            MAMBA__WPREFETCH((uintptr_t)(d[k] + b0) + 32);
            s[k] = mamba__scales16(d[k], xs, b0, m);
        }
        for (j = 0; j + 2 <= m; j += 2, idx = _mm512_add_epi32(idx, two)) {
            const int16_t *xb = xq + (b0 + j) * MAMBA__Q8_BLOCK;
            const __m512i xlo = _mm512_inserti64x4(_mm512_castsi256_si512(MAMBA__LOAD256(xb)), MAMBA__LOAD256(xb + 32), 1);
            const __m512i xhi = _mm512_inserti64x4(_mm512_castsi256_si512(MAMBA__LOAD256(xb + 16)), MAMBA__LOAD256(xb + 48), 1);
            MAMBA__ROWS_UNROLLED
            for (k = 0; k < nr; k++) {
                const __m256i v = MAMBA__LOAD256(q[k] + (b0 + j) * 16);
                MAMBA__WPREFETCH_LINES(q[k], (size_t)(b0 + j) * 16, 32);
                const __m256i lo = _mm256_shuffle_epi8(tbl, _mm256_and_si256(v, m4));
                const __m256i hi = _mm256_shuffle_epi8(tbl, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
                __m512i p = _mm512_add_epi32(_mm512_madd_epi16(_mm512_cvtepi8_epi16(lo), xlo),
                                             _mm512_madd_epi16(_mm512_cvtepi8_epi16(hi), xhi));
                acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(idx, s[k]), acc[k]);
            }
        }
        if (j < m) { /* one block left: values 0..15 then 16..31, as xq */
            const __m512i x0 = _mm512_loadu_si512((const void *)(xq + (b0 + j) * MAMBA__Q8_BLOCK));
            const __m512i one = _mm512_set1_epi32(j);
            MAMBA__ROWS_UNROLLED
            for (k = 0; k < nr; k++) {
                const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(q[k] + (b0 + j) * 16));
                const __m128i lo = _mm_shuffle_epi8(tbl1, _mm_and_si128(v, m1));
                const __m128i hi = _mm_shuffle_epi8(tbl1, _mm_and_si128(_mm_srli_epi16(v, 4), m1));
                __m512i p = _mm512_madd_epi16(
                    _mm512_cvtepi8_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1)), x0);
                acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(one, s[k]), acc[k]);
            }
        }
    }
#undef MAMBA__LOAD256
    mamba__hsum_rows(out, acc, nr);
}
static float mamba__dot_q4x16(const uint8_t *q, const uint16_t *d, const int16_t *MAMBA__RESTRICT xq,
                              const float *MAMBA__RESTRICT xs, int nb, const int8_t *lv)
{
    float v;
    mamba__q4v(&v, &q, &d, 1, xq, xs, nb, lv);
    return v;
}
/* vpmaddwd of a and b plus acc, exact in int32 (the products of a block
   are far below 2^31): AVX512-VNNI's vpdpwssd in one instruction */
#if defined(__AVX512VNNI__)
#define MAMBA__MADD_ADD(acc, a, b) _mm512_dpwssd_epi32(acc, a, b)
#else
#define MAMBA__MADD_ADD(acc, a, b) _mm512_add_epi32(acc, _mm512_madd_epi16(a, b))
#endif

/* mamba__q4v for nr <= 2 rows and ni <= 4 prepared inputs at once, into
   out[k * ni + t] (mamba_step_batch): every (row, input) sum by the very
   operations of mamba__q4v, in its order (the integer block sums are exact,
   however they are added), so the same bits; the nibbles of a row are
   unpacked once for the ni inputs and an input's pair of blocks gathered
   once for the nr rows. nr and ni are constants where it is inlined. */
static MAMBA__INLINE void mamba__q4v_x(float *out, const uint8_t *const *q, const uint16_t *const *d, int nr,
                                       const mamba__xin *in, int ni, int nb, const int8_t *lv)
{
    const __m128i tbl1 = _mm_loadu_si128((const __m128i *)(const void *)lv), m1 = _mm_set1_epi8(0x0F);
    const __m256i tbl = _mm256_broadcastsi128_si256(tbl1), m4 = _mm256_set1_epi8(0x0F);
    const __m512i pair = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), two = _mm512_set1_epi32(2);
    __m512 acc[8], s[8];
    int k, t, b0, j;
#define MAMBA__LOAD256(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
    MAMBA__UNROLL8
    for (k = 0; k < nr * ni; k++) acc[k] = _mm512_setzero_ps();
    for (b0 = 0; b0 < nb; b0 += 16) {
        int m = nb - b0 < 16 ? nb - b0 : 16;
        __m512i idx = pair;
        MAMBA__ROWS_UNROLLED
        for (k = 0; k < nr; k++) {
            MAMBA__WPREFETCH((uintptr_t)(d[k] + b0) + 32);
            MAMBA__ROWS_UNROLLED
            for (t = 0; t < ni; t++) s[k * ni + t] = mamba__scales16(d[k], in[t].xs, b0, m);
        }
        for (j = 0; j + 2 <= m; j += 2, idx = _mm512_add_epi32(idx, two)) {
            __m512i lo[2], hi[2];
            MAMBA__ROWS_UNROLLED
            for (k = 0; k < nr; k++) {
                const __m256i v = MAMBA__LOAD256(q[k] + (b0 + j) * 16);
                MAMBA__WPREFETCH_LINES(q[k], (size_t)(b0 + j) * 16, 32);
                lo[k] = _mm512_cvtepi8_epi16(_mm256_shuffle_epi8(tbl, _mm256_and_si256(v, m4)));
                hi[k] = _mm512_cvtepi8_epi16(_mm256_shuffle_epi8(tbl, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)));
            }
            MAMBA__ROWS_UNROLLED
            for (t = 0; t < ni; t++) {
                const int16_t *xb = in[t].xq + (b0 + j) * MAMBA__Q8_BLOCK;
                const __m512i xlo = _mm512_inserti64x4(_mm512_castsi256_si512(MAMBA__LOAD256(xb)), MAMBA__LOAD256(xb + 32), 1);
                const __m512i xhi = _mm512_inserti64x4(_mm512_castsi256_si512(MAMBA__LOAD256(xb + 16)), MAMBA__LOAD256(xb + 48), 1);
                MAMBA__ROWS_UNROLLED
                for (k = 0; k < nr; k++) {
                    __m512i p = MAMBA__MADD_ADD(_mm512_madd_epi16(lo[k], xlo), hi[k], xhi);
                    acc[k * ni + t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(idx, s[k * ni + t]),
                                                      acc[k * ni + t]);
                }
            }
        }
        if (j < m) { /* one block left: values 0..15 then 16..31, as xq */
            const __m512i one = _mm512_set1_epi32(j);
            __m512i w[2];
            MAMBA__ROWS_UNROLLED
            for (k = 0; k < nr; k++) {
                const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(q[k] + (b0 + j) * 16));
                const __m128i lo = _mm_shuffle_epi8(tbl1, _mm_and_si128(v, m1));
                const __m128i hi = _mm_shuffle_epi8(tbl1, _mm_and_si128(_mm_srli_epi16(v, 4), m1));
                w[k] = _mm512_cvtepi8_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
            }
            MAMBA__ROWS_UNROLLED
            for (t = 0; t < ni; t++) {
                const __m512i x0 = _mm512_loadu_si512((const void *)(in[t].xq + (b0 + j) * MAMBA__Q8_BLOCK));
                MAMBA__ROWS_UNROLLED
                for (k = 0; k < nr; k++) {
                    __m512i p = _mm512_madd_epi16(w[k], x0);
                    acc[k * ni + t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(one, s[k * ni + t]),
                                                      acc[k * ni + t]);
                }
            }
        }
    }
#undef MAMBA__LOAD256
    mamba__hsum_n(out, acc, nr * ni);
}

#define mamba__dotn_q4x16(out, q, d, xq, xs, nb, lv) mamba__q4v(out, q, d, MAMBA__NR, xq, xs, nb, lv)
#elif defined(MAMBA__MVE)
/* Helium: no buffer. Per half block, eight bytes widened to 16-bit lanes by
   the load, their low and high nibbles looked up in the levels by two
   gathers (values j and j + 16 of the block, ggml's order), and each
   multiplied into its 8 inputs by vmladava: the reference's exact integer
   block sums, then its very f32 operations (the same bits). */
static float mamba__dot_q4x16(const uint8_t *MAMBA__RESTRICT q, const uint16_t *MAMBA__RESTRICT d,
                              const int16_t *MAMBA__RESTRICT xq, const float *MAMBA__RESTRICT xs, int nb,
                              const int8_t *lv)
{
    const uint16x8_t m = vdupq_n_u16(0x0F);
    float sum = 0.0f;
    int b;
    for (b = 0; b < nb; b++) {
        const uint8_t *qb = q + b * 16;
        const int16_t *xb = xq + b * MAMBA__Q8_BLOCK;
        uint16x8_t v0 = vldrbq_u16(qb), v1 = vldrbq_u16(qb + 8);
        int32_t acc = vmladavq_s16(vldrbq_gather_offset_s16(lv, vandq_u16(v0, m)), vld1q_s16(xb));
        acc = vmladavaq_s16(acc, vldrbq_gather_offset_s16(lv, vandq_u16(v1, m)), vld1q_s16(xb + 8));
        acc = vmladavaq_s16(acc, vldrbq_gather_offset_s16(lv, vshrq_n_u16(v0, 4)), vld1q_s16(xb + 16));
        acc = vmladavaq_s16(acc, vldrbq_gather_offset_s16(lv, vshrq_n_u16(v1, 4)), vld1q_s16(xb + 24));
        sum += (MAMBA__HALF(d[b]) * xs[b]) * (float)acc;
    }
    return sum;
}
#else
/* elsewhere MAMBA__Q4_CHUNK blocks unpacked into L1, then q8's integer dot */
static float mamba__dot_q4x16(const uint8_t *MAMBA__RESTRICT q, const uint16_t *MAMBA__RESTRICT d,
                              const int16_t *MAMBA__RESTRICT xq, const float *MAMBA__RESTRICT xs, int nb,
                              const int8_t *lv)
{
    int8_t w[MAMBA__Q4_CHUNK * MAMBA__Q8_BLOCK];
    float sum = 0.0f;
    int b;
    for (b = 0; b < nb; b += MAMBA__Q4_CHUNK) {
        int m = nb - b < MAMBA__Q4_CHUNK ? nb - b : MAMBA__Q4_CHUNK;
        mamba__q4_unpack(w, q + b * 16, lv, m);
        sum += mamba__dot_q8x16(w, d + b, xq + b * MAMBA__Q8_BLOCK, xs + b, m);
    }
    return sum;
}
#endif
#if !defined(MAMBA__AVX512BW)
/* MAMBA__NR rows, one after another */
static void mamba__dotn_q4x16(float *out, const uint8_t *const *q, const uint16_t *const *d,
                              const int16_t *MAMBA__RESTRICT xq, const float *MAMBA__RESTRICT xs, int nb,
                              const int8_t *lv)
{
    int k;
    for (k = 0; k < MAMBA__NR; k++) out[k] = mamba__dot_q4x16(q[k], d[k], xq, xs, nb, lv);
}
#endif

/* The entry points of a 4-bit type: the kernels above with its levels */
static float mamba__q4_blocks_dot(const mamba_matrix *W, int r, int b0, int nb, const int16_t *MAMBA__RESTRICT xq,
                                  const float *MAMBA__RESTRICT xs, const int8_t *lv)
{
    const uint16_t *d;
    const uint8_t *q = mamba__q4_row(W, r, &d);
    return mamba__dot_q4x16(q + (size_t)b0 * 16, d + b0, xq, xs, nb, lv);
}
static float mamba__q4_0_blocks_dot(const mamba_matrix *W, int r, int b0, int nb, const int16_t *MAMBA__RESTRICT xq,
                                    const float *MAMBA__RESTRICT xs)
{
    return mamba__q4_blocks_dot(W, r, b0, nb, xq, xs, mamba__q4_0_levels);
}
static float mamba__iq4nl_blocks_dot(const mamba_matrix *W, int r, int b0, int nb, const int16_t *MAMBA__RESTRICT xq,
                                     const float *MAMBA__RESTRICT xs)
{
    return mamba__q4_blocks_dot(W, r, b0, nb, xq, xs, mamba__iq4nl_levels);
}
static float mamba__dot_row_q4_0(const mamba_matrix *W, int r, const float *MAMBA__RESTRICT x)
{
    return mamba__dot_row_q16(W, r, x, mamba__q4_0_blocks_dot);
}
static float mamba__dot_row_iq4nl(const mamba_matrix *W, int r, const float *MAMBA__RESTRICT x)
{
    return mamba__dot_row_q16(W, r, x, mamba__iq4nl_blocks_dot);
}

static void mamba__dot_rows_q4(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in,
                               const int8_t *lv)
{
    const uint8_t *q[MAMBA__NR];
    const uint16_t *d[MAMBA__NR];
    int k;
    for (k = 0; k < MAMBA__NR; k++) q[k] = mamba__q4_row(W, r[k], &d[k]);
    mamba__dotn_q4x16(out, q, d, in->xq, in->xs, mamba__q8_blocks(W->cols), lv);
}
#if defined(MAMBA__AVX512BW)
/* rows r, r+1 (nr of them) . inputs j..j+ni-1 (ni 1, 2 or 4) into out */
static void mamba__q4_block_n(float *const *out, int r, int nr, const uint8_t *const *q, const uint16_t *const *d,
                              const mamba__xin *in, int j, int ni, int nb, const int8_t *lv)
{
    float v[8];
    int k, t;
    if (nr == 2)
        if (ni == 4) mamba__q4v_x(v, q, d, 2, in + j, 4, nb, lv);
        else if (ni == 2) mamba__q4v_x(v, q, d, 2, in + j, 2, nb, lv);
        else mamba__q4v_x(v, q, d, 2, in + j, 1, nb, lv);
    else if (ni == 4) mamba__q4v_x(v, q, d, 1, in + j, 4, nb, lv);
    else if (ni == 2) mamba__q4v_x(v, q, d, 1, in + j, 2, nb, lv);
    else mamba__q4v_x(v, q, d, 1, in + j, 1, nb, lv);
    for (k = 0; k < nr; k++)
        for (t = 0; t < ni; t++) out[j + t][r + k] = v[k * ni + t];
}
/* dot_rows_n of a 4-bit type (mamba_step_batch): rows in pairs through
   the inputs four at a time (mamba__q4v_x); the same bits as dot_rows */
static void mamba__dot_rows_n_q4(float *const *out, const mamba_matrix *W, int r0, int r1, const mamba__xin *in, int n,
                                 const int8_t *lv)
{
    const int nb = mamba__q8_blocks(W->cols);
    int r, j, k;
    for (r = r0; r < r1; r += 2) {
        const int nr = r1 - r < 2 ? 1 : 2;
        const uint8_t *q[2];
        const uint16_t *d[2];
        for (k = 0; k < nr; k++) q[k] = mamba__q4_row(W, r + k, &d[k]);
        for (j = 0; j + 4 <= n; j += 4) mamba__q4_block_n(out, r, nr, q, d, in, j, 4, nb, lv);
        if (j + 2 <= n) {
            mamba__q4_block_n(out, r, nr, q, d, in, j, 2, nb, lv);
            j += 2;
        }
        if (j < n) mamba__q4_block_n(out, r, nr, q, d, in, j, 1, nb, lv);
    }
}
#define MAMBA__HAVE_Q4_ROWS_N 1
#elif defined(MAMBA__HAVE_Q8X16_X) && !defined(MAMBA__MVE) /* MVE's dot_q4x16 is not chunked */
/* dot_rows_n of a 4-bit type (mamba_step_batch) with AVX2 or NEON: a row
   at a time, MAMBA__Q4_CHUNK blocks unpacked once into L1 for every input
   and each chunk's sums added in mamba__dot_q4x16's order (mamba__q8x16_n):
   the same bits as dot_rows */
static void mamba__dot_rows_n_q4(float *const *out, const mamba_matrix *W, int r0, int r1, const mamba__xin *in, int n,
                                 const int8_t *lv)
{
    const int nb = mamba__q8_blocks(W->cols);
    int8_t w[MAMBA__Q4_CHUNK * MAMBA__Q8_BLOCK];
    float v[MAMBA_BATCH_MAX], sum[MAMBA_BATCH_MAX];
    int r, j, b;
    for (r = r0; r < r1; r++) {
        const uint16_t *d;
        const uint8_t *q = mamba__q4_row(W, r, &d);
        for (j = 0; j < n; j++) sum[j] = 0.0f;
        for (b = 0; b < nb; b += MAMBA__Q4_CHUNK) {
            const int m = nb - b < MAMBA__Q4_CHUNK ? nb - b : MAMBA__Q4_CHUNK;
            mamba__q4_unpack(w, q + b * 16, lv, m);
            mamba__q8x16_n(v, w, d + b, in, n, b, m);
            for (j = 0; j < n; j++) sum[j] += v[j];
        }
        for (j = 0; j < n; j++) out[j][r] = sum[j];
    }
}
#define MAMBA__HAVE_Q4_ROWS_N 1
#endif
#ifdef MAMBA__HAVE_Q4_ROWS_N
#define MAMBA__Q4_ROWS_N(name, lv)                                                                                     \
    static void name(float *const *out, const mamba_matrix *W, int r0, int r1, const mamba__xin *in, int n)            \
    {                                                                                                                  \
        mamba__dot_rows_n_q4(out, W, r0, r1, in, n, lv);                                                               \
    }
MAMBA__Q4_ROWS_N(mamba__dot_rows_n_q4_0, mamba__q4_0_levels)
MAMBA__Q4_ROWS_N(mamba__dot_rows_n_iq4nl, mamba__iq4nl_levels)
#else
#define mamba__dot_rows_n_q4_0 mamba__dot_rows_n_each
#define mamba__dot_rows_n_iq4nl mamba__dot_rows_n_each
#endif
static void mamba__dot_rows_q4_0(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in)
{
    mamba__dot_rows_q4(out, W, r, in, mamba__q4_0_levels);
}
static void mamba__dot_rows_iq4nl(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in)
{
    mamba__dot_rows_q4(out, W, r, in, mamba__iq4nl_levels);
}

/* Columns [k0, k0 + n) of row r widened to f32 (k0 a multiple of 32):
   mamba_forward()'s weight panels. With AVX-512 a whole block is two
   lookups of 16 levels (vpshufb), widened to 32-bit (vpmovsxbd), converted
   and scaled 16 at a time, the reference's very products; with AVX2 and
   NEON 8 and 4 at a time. The loop after it is the reference and the tail. */
static void mamba__dequant_q4(float *MAMBA__RESTRICT out, const mamba_matrix *W, int r, int k0, int n, const int8_t *lv)
{
    int8_t w[MAMBA__Q8_BLOCK];
    const uint16_t *d;
    const uint8_t *q = mamba__q4_row(W, r, &d);
    int k = 0, i;
#if defined(MAMBA__AVX512) || defined(MAMBA__AVX2)
    const __m128i tbl = _mm_loadu_si128((const __m128i *)(const void *)lv), m4 = _mm_set1_epi8(0x0F);
    for (; k + MAMBA__Q8_BLOCK <= n; k += MAMBA__Q8_BLOCK) {
        const int b = (k0 + k) / MAMBA__Q8_BLOCK;
        const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(q + (size_t)b * 16));
        const __m128i lo = _mm_shuffle_epi8(tbl, _mm_and_si128(v, m4));
        const __m128i hi = _mm_shuffle_epi8(tbl, _mm_and_si128(_mm_srli_epi16(v, 4), m4));
#if defined(MAMBA__AVX512)
        const __m512 s = _mm512_set1_ps(MAMBA__HALF(d[b]));
        _mm512_storeu_ps(out + k, _mm512_mul_ps(s, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo))));
        _mm512_storeu_ps(out + k + 16, _mm512_mul_ps(s, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi))));
#else
        const __m256 s = _mm256_set1_ps(MAMBA__HALF(d[b]));
        _mm256_storeu_ps(out + k, _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
        _mm256_storeu_ps(out + k + 8, _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
        _mm256_storeu_ps(out + k + 16, _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
        _mm256_storeu_ps(out + k + 24, _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
#endif
    }
#elif defined(MAMBA__NEON)
    const int8x16_t tbl = vld1q_s8(lv);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    for (; k + MAMBA__Q8_BLOCK <= n; k += MAMBA__Q8_BLOCK) {
        const int b = (k0 + k) / MAMBA__Q8_BLOCK;
        const uint8x16_t v = vld1q_u8(q + (size_t)b * 16);
        const float s = MAMBA__HALF(d[b]);
        int8x16_t h[2];
        int t;
        h[0] = vqtbl1q_s8(tbl, vandq_u8(v, m4));
        h[1] = vqtbl1q_s8(tbl, vshrq_n_u8(v, 4));
        for (t = 0; t < 2; t++) {
            const int16x8_t a = vmovl_s8(vget_low_s8(h[t])), c = vmovl_s8(vget_high_s8(h[t]));
            float *o = out + k + 16 * t;
            vst1q_f32(o, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(a))), s));
            vst1q_f32(o + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(a))), s));
            vst1q_f32(o + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(c))), s));
            vst1q_f32(o + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(c))), s));
        }
    }
#endif
    for (; k < n; k += MAMBA__Q8_BLOCK) {
        int b = (k0 + k) / MAMBA__Q8_BLOCK, len = n - k < MAMBA__Q8_BLOCK ? n - k : MAMBA__Q8_BLOCK;
        float s = MAMBA__HALF(d[b]);
        mamba__q4_unpack(w, q + (size_t)b * 16, lv, 1);
        for (i = 0; i < len; i++) out[k + i] = s * (float)w[i];
    }
}
static void mamba__dequant_q4_0(float *MAMBA__RESTRICT out, const mamba_matrix *W, int r, int k0, int n)
{
    mamba__dequant_q4(out, W, r, k0, n, mamba__q4_0_levels);
}
static void mamba__dequant_iq4nl(float *MAMBA__RESTRICT out, const mamba_matrix *W, int r, int k0, int n)
{
    mamba__dequant_q4(out, W, r, k0, n, mamba__iq4nl_levels);
}

/* the nibbles are finite by construction; the f16 scales follow the
   rows * blocks * 16 bytes */
static int mamba__nonfinite_q4(const unsigned char *p, size_t rows, size_t cols)
{
    size_t nb = (cols + MAMBA__Q8_BLOCK - 1) / MAMBA__Q8_BLOCK;
    return mamba__nonfinite_run(p + rows * nb * 16, rows * nb, 2, MAMBA_DTYPE_F16);
}

/* -- 4-bit k-quants: q4_k (dtype 6) ----------------------------------------
   ggml's block_q4_K, kept byte for byte (a GGUF Q4_K tensor loads as it
   is): a row is ceil(cols / 256) super-blocks of 144 bytes,
       bytes 0..1    d     (f16)  the scale of the sub-block scales
       bytes 2..3    dmin  (f16)  the scale of the sub-block minimums
       bytes 4..15   8 six-bit scales sc[j] and minimums m[j], packed as
                     ggml's get_scale_min_k4 reads them (mamba__q4k_scale_min)
       bytes 16..143 256 nibbles: for each 64 columns g (0..3), 32 bytes whose
                     low nibbles are columns 64g + l and high nibbles
                     columns 64g + 32 + l (l < 32)
   and column c of sub-block j = c / 32 (0..7) of a super-block is
       w = (d * sc[j]) * q - (dmin * m[j]),   q the nibble, 0..15
   (dequantize_row_q4_K). Columns past the row (the last super-block of a
   row that is not whole super-blocks) are never read: they meet the
   zeros of the int16 input's padding, or no sub-block at all.
   The products take q8's int16 input (x ~ xs[b] * xq, blocks of 32, which
   are the sub-blocks), so for sub-block b of the row
       sum w x = xs[b] ((d sc) sum q xq - (dmin m) sum xq)
   with both sums exact integers (below 2^24). The reference adds these per
   sub-block; the SIMD forms keep the two terms in two accumulators and sum
   them in their own order. */
#define MAMBA__QK 256     /* columns per q4_k super-block */
#define MAMBA__QK_BYTES 144

/* Sub-block j's 6-bit scale and minimum from the 12 packed bytes s
   (ggml's get_scale_min_k4): j < 4 in the low 6 bits of s[j] and s[j + 4];
   j >= 4 from the nibbles of s[j + 4] and the top 2 bits of s[j - 4], s[j] */
static MAMBA__INLINE void mamba__q4k_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Row r's super-blocks */
static const uint8_t *mamba__q4k_row(const mamba_matrix *W, int r)
{
    size_t ns = ((size_t)W->cols + MAMBA__QK - 1) / MAMBA__QK;
    return (const uint8_t *)W->data + (size_t)r * ns * MAMBA__QK_BYTES;
}

/* The factors of a super-block's sub-blocks: fa[j] = (d sc[j]) xs[j] and
   fm[j] = (dmin m[j]) xs[j], for its n <= 8 sub-blocks with input scales xs */
static MAMBA__INLINE void mamba__q4k_factors(float *fa, float *fm, const uint8_t *blk, const float *xs, int n)
{
    const float d = MAMBA__HALF(mamba__rd16(blk)), dmin = MAMBA__HALF(mamba__rd16(blk + 2));
    int j, sc, m;
    for (j = 0; j < n; j++) {
        mamba__q4k_scale_min(blk + 4, j, &sc, &m);
        fa[j] = (d * (float)sc) * xs[j];
        fm[j] = (dmin * (float)m) * xs[j];
    }
    for (; j < 8; j++) fa[j] = fm[j] = 0.0f;
}

/* sum_b fa[b] (sum q xq) - fm[b] (sum xq) over the row's nb sub-blocks:
   the reference, one sub-block after another */
static MAMBA__MAYBE_UNUSED float mamba__dot_q4k_scalar(const uint8_t *MAMBA__RESTRICT q, const int16_t *MAMBA__RESTRICT xq,
                                                       const float *MAMBA__RESTRICT xs, int nb)
{
    float sum = 0.0f, fa[8], fm[8];
    int b, i;
    for (b = 0; b < nb; b++) {
        const uint8_t *blk = q + (size_t)(b / 8) * MAMBA__QK_BYTES;
        const uint8_t *qs = blk + 16 + (b % 8) / 2 * 32;
        const int shift = (b & 1) * 4;
        const int16_t *xb = xq + (size_t)b * MAMBA__Q8_BLOCK;
        int32_t a = 0, s = 0;
        if (b % 8 == 0) mamba__q4k_factors(fa, fm, blk, xs + b, nb - b < 8 ? nb - b : 8);
        for (i = 0; i < 32; i++) {
            a += ((qs[i] >> shift) & 15) * xb[i];
            s += xb[i];
        }
        sum += fa[b % 8] * (float)a - fm[b % 8] * (float)s;
    }
    return sum;
}

#if defined(MAMBA__AVX512) || defined(MAMBA__AVX2)
/* mamba__q4k_factors 8 at a time, the scalar loop's very products: the 12
   packed bytes rearranged into 8 scale bytes and 8 minimum bytes by 32-bit
   masks and shifts (x86 is little-endian: byte i of the copy is s[i]),
   widened and multiplied by d (or dmin) and xs in 256-bit vectors */
static MAMBA__INLINE void mamba__q4k_factors8(float *fa, float *fm, const uint8_t *blk, const float *xs, int n)
{
    uint32_t u[4], mlo;
    float x8[8];
    __m256 sc, mn, vx;
    memcpy(u, blk + 4, 12);
    u[3] = ((u[2] >> 4) & 0x0F0F0F0Fu) | (((u[1] >> 6) & 0x03030303u) << 4); /* m[4..7] */
    mlo = u[1] & 0x3F3F3F3Fu;                                                /* m[0..3] */
    u[1] = (u[2] & 0x0F0F0F0Fu) | (((u[0] >> 6) & 0x03030303u) << 4);        /* sc[4..7] */
    u[2] = mlo;
    u[0] &= 0x3F3F3F3Fu;                                                     /* sc[0..3] */
    if (n < 8) { /* the last super-block of a row cut short: xs ends with it */
        memset(x8, 0, sizeof x8);
        memcpy(x8, xs, sizeof(float) * (size_t)n);
        xs = x8;
    }
    vx = _mm256_loadu_ps(xs);
    sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)u)));
    mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(u + 2))));
    _mm256_storeu_ps(fa, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(MAMBA__HALF(mamba__rd16(blk))), sc), vx));
    _mm256_storeu_ps(fm, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(MAMBA__HALF(mamba__rd16(blk + 2))), mn), vx));
}
#define mamba__q4k_factors_fast mamba__q4k_factors8
#else
#define mamba__q4k_factors_fast mamba__q4k_factors
#endif

/* MAMBA__Q16_TERMS: 1 where a kernel takes the block terms (q4_k's AVX-512
   ones, mamba__q4kv), so where q4_k's input and the state's xs carry them */
#if defined(MAMBA__AVX512BW)
#define MAMBA__Q16_TERMS 1
#else
#define MAMBA__Q16_TERMS 0
#endif
#if defined(MAMBA__AVX512BW)
/* A super-block's 8 block terms (xs + nb, MAMBA__INPUT_Q16T) from b0, m of
   them there: the factors fm of the blocks past m are 0 */
static MAMBA__INLINE __m256 mamba__q4k_terms8(const float *xs, int nb, int b0, int m)
{
    return _mm256_maskz_loadu_ps((__mmask8)((1u << m) - 1u), xs + nb + b0);
}
/* The rows q[k] (k < nr) side by side. Per sub-block a row: its 32 nibbles
   masked (or shifted) out of the 32 bytes it shares with its neighbour,
   widened to int16 (vpmovzxbw) and multiplied with xq by vpmaddwd into 16
   int32 lanes; one conversion and one FMA by the sub-block's factor fa,
   broadcast from memory. The minimum's part, sum_j fm[j] * (sum of block
   j's xq), is one 8-lane FMA a super-block a row: the factors fm of the
   super-block's 8 blocks (mamba__q4k_factors8) against the input's block
   terms (MAMBA__INPUT_Q16T), where an FMA a sub-block summed xq again in
   every row (790m q4_k, one thread, Zen 4: 19.8-21.0 tokens/s against
   18.4-19.1, alternated; docs/kernels-notes.md). */
static MAMBA__INLINE void mamba__q4kv(float *out, const uint8_t *const *q, int nr, const int16_t *MAMBA__RESTRICT xq,
                                      const float *MAMBA__RESTRICT xs, int nb)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m512 acc[MAMBA__NR], acc2[MAMBA__NR];
    __m256 accm[MAMBA__NR];
    float fa[MAMBA__NR][8], fm[MAMBA__NR][8];
    int k, b0, j;
    MAMBA__ROWS_UNROLLED
    for (k = 0; k < nr; k++) {
        acc[k] = acc2[k] = _mm512_setzero_ps();
        accm[k] = _mm256_setzero_ps();
    }
    for (b0 = 0; b0 < nb; b0 += 8) {
        const int m = nb - b0 < 8 ? nb - b0 : 8;
        const size_t off = (size_t)(b0 / 8) * MAMBA__QK_BYTES;
        const __m256 t8 = mamba__q4k_terms8(xs, nb, b0, m);
        MAMBA__ROWS_UNROLLED
        for (k = 0; k < nr; k++) {
            MAMBA__WPREFETCH_LINES(q[k], off, MAMBA__QK_BYTES);
            mamba__q4k_factors8(fa[k], fm[k], q[k] + off, xs + b0, m);
            accm[k] = _mm256_fmadd_ps(_mm256_loadu_ps(fm[k]), t8, accm[k]);
        }
        for (j = 0; j < m; j += 2) {
            const int two = j + 1 < m; /* the odd sub-block is there */
            const int16_t *xb = xq + (size_t)(b0 + j) * MAMBA__Q8_BLOCK;
            const __m512i x0 = _mm512_loadu_si512((const void *)xb);
            const __m512i x1 = two ? _mm512_loadu_si512((const void *)(xb + 32)) : _mm512_setzero_si512();
            MAMBA__ROWS_UNROLLED
            for (k = 0; k < nr; k++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(q[k] + off + 16 + (size_t)j * 16));
                const __m512i p0 = _mm512_madd_epi16(_mm512_cvtepu8_epi16(_mm256_and_si256(v, m4)), x0);
                acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), _mm512_set1_ps(fa[k][j]), acc[k]);
                if (two) {
                    const __m512i p1 =
                        _mm512_madd_epi16(_mm512_cvtepu8_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4)), x1);
                    acc2[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), _mm512_set1_ps(fa[k][j + 1]), acc2[k]);
                }
            }
        }
    }
    MAMBA__ROWS_UNROLLED
    for (k = 0; k < nr; k++) acc[k] = _mm512_sub_ps(_mm512_add_ps(acc[k], acc2[k]), _mm512_zextps256_ps512(accm[k]));
    mamba__hsum_rows(out, acc, nr);
}
static float mamba__dot_q4k(const uint8_t *q, const int16_t *MAMBA__RESTRICT xq, const float *MAMBA__RESTRICT xs, int nb)
{
    float v;
    mamba__q4kv(&v, &q, 1, xq, xs, nb);
    return v;
}
#define mamba__dotn_q4k(out, q, xq, xs, nb) mamba__q4kv(out, q, MAMBA__NR, xq, xs, nb)
/* mamba__q4kv of one row against ni <= 4 prepared inputs at once, into
   out[t] (mamba_step_batch): each input's sum by the very operations of
   mamba__q4kv in its order, so the same bits; the row's nibbles are
   unpacked and widened once for the ni inputs, and each input's factors
   made from the row's packed scales. ni is a constant where it is inlined. */
static MAMBA__INLINE void mamba__q4kv_x(float *out, const uint8_t *q, const mamba__xin *in, int ni, int nb)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m512 acc[4], acc2[4];
    __m256 accm[4];
    float fa[4][8], fm[4][8];
    int t, b0, j;
    MAMBA__ROWS_UNROLLED
    for (t = 0; t < ni; t++) {
        acc[t] = acc2[t] = _mm512_setzero_ps();
        accm[t] = _mm256_setzero_ps();
    }
    for (b0 = 0; b0 < nb; b0 += 8) {
        const int m = nb - b0 < 8 ? nb - b0 : 8;
        const size_t off = (size_t)(b0 / 8) * MAMBA__QK_BYTES;
        MAMBA__WPREFETCH_LINES(q, off, MAMBA__QK_BYTES);
        MAMBA__ROWS_UNROLLED
        for (t = 0; t < ni; t++) {
            mamba__q4k_factors8(fa[t], fm[t], q + off, in[t].xs + b0, m);
            accm[t] = _mm256_fmadd_ps(_mm256_loadu_ps(fm[t]), mamba__q4k_terms8(in[t].xs, nb, b0, m), accm[t]);
        }
        for (j = 0; j < m; j += 2) {
            const int two = j + 1 < m; /* the odd sub-block is there */
            const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(q + off + 16 + (size_t)j * 16));
            const __m512i w0 = _mm512_cvtepu8_epi16(_mm256_and_si256(v, m4));
            const __m512i w1 = _mm512_cvtepu8_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
            MAMBA__ROWS_UNROLLED
            for (t = 0; t < ni; t++) {
                const int16_t *xb = in[t].xq + (size_t)(b0 + j) * MAMBA__Q8_BLOCK;
                const __m512i x0 = _mm512_loadu_si512((const void *)xb);
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_madd_epi16(w0, x0)), _mm512_set1_ps(fa[t][j]), acc[t]);
                if (two) {
                    const __m512i x1 = _mm512_loadu_si512((const void *)(xb + 32));
                    acc2[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_madd_epi16(w1, x1)), _mm512_set1_ps(fa[t][j + 1]),
                                              acc2[t]);
                }
            }
        }
    }
    MAMBA__ROWS_UNROLLED
    for (t = 0; t < ni; t++) acc[t] = _mm512_sub_ps(_mm512_add_ps(acc[t], acc2[t]), _mm512_zextps256_ps512(accm[t]));
    mamba__hsum_n(out, acc, ni);
}
#define MAMBA__HAVE_Q4K_X 1
#elif defined(MAMBA__AVX2)
/* mamba__dot_q4k_scalar: per sub-block its 32 nibbles (one 32-byte load,
   masked or shifted), widened to int16 16 at a time and multiplied with
   xq by vpmaddwd into 8 int32 lanes; the sums of xq by vpmaddwd with ones;
   one FMA each by the sub-block's two factors, in two accumulators */
static float mamba__dot_q4k(const uint8_t *MAMBA__RESTRICT q, const int16_t *MAMBA__RESTRICT xq,
                            const float *MAMBA__RESTRICT xs, int nb)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps(), accm = acc;
    float fa[8], fm[8];
    int b;
    for (b = 0; b < nb; b++) {
        const uint8_t *blk = q + (size_t)(b / 8) * MAMBA__QK_BYTES;
        const int16_t *xb = xq + (size_t)b * MAMBA__Q8_BLOCK;
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 16 + (b % 8) / 2 * 32));
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)xb);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)(xb + 16));
        __m256i p, s;
        if (b % 8 == 0) mamba__q4k_factors_fast(fa, fm, blk, xs + b, nb - b < 8 ? nb - b : 8);
        v = _mm256_and_si256(b & 1 ? _mm256_srli_epi16(v, 4) : v, m4);
        p = _mm256_add_epi32(_mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(v)), x0),
                             _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm256_extracti128_si256(v, 1)), x1));
        s = _mm256_add_epi32(_mm256_madd_epi16(x0, ones), _mm256_madd_epi16(x1, ones));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(fa[b % 8]), acc);
        accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(fm[b % 8]), accm);
    }
    return mamba__hsum256(_mm256_sub_ps(acc, accm));
}
#elif defined(MAMBA__NEON)
/* mamba__dot_q4k_scalar: per sub-block its 32 nibbles (two 16-byte loads,
   masked or shifted), widened to int16 and multiplied with xq by smlal
   into int32 lanes; the sums of xq by sadalp; one FMA each by the
   sub-block's two factors, in two accumulators */
static float mamba__dot_q4k(const uint8_t *MAMBA__RESTRICT q, const int16_t *MAMBA__RESTRICT xq,
                            const float *MAMBA__RESTRICT xs, int nb)
{
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0.0f), accm = acc;
    float fa[8], fm[8];
    int b, i;
    for (b = 0; b < nb; b++) {
        const uint8_t *blk = q + (size_t)(b / 8) * MAMBA__QK_BYTES;
        const uint8_t *qs = blk + 16 + (b % 8) / 2 * 32;
        const int16_t *xb = xq + (size_t)b * MAMBA__Q8_BLOCK;
        int32x4_t p0 = vdupq_n_s32(0), p1 = p0, s = p0;
        if (b % 8 == 0) mamba__q4k_factors(fa, fm, blk, xs + b, nb - b < 8 ? nb - b : 8);
        for (i = 0; i < 32; i += 16) {
            uint8x16_t v = vld1q_u8(qs + i);
            int16x8_t lo, hi, x0 = vld1q_s16(xb + i), x1 = vld1q_s16(xb + i + 8);
            v = b & 1 ? vshrq_n_u8(v, 4) : vandq_u8(v, m4);
            lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v)));
            hi = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(v)));
            p0 = vmlal_s16(p0, vget_low_s16(lo), vget_low_s16(x0));
            p1 = vmlal_s16(p1, vget_high_s16(lo), vget_high_s16(x0));
            p0 = vmlal_s16(p0, vget_low_s16(hi), vget_low_s16(x1));
            p1 = vmlal_s16(p1, vget_high_s16(hi), vget_high_s16(x1));
            s = vpadalq_s16(vpadalq_s16(s, x0), x1);
        }
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(vaddq_s32(p0, p1)), fa[b % 8]);
        accm = vfmaq_n_f32(accm, vcvtq_f32_s32(s), fm[b % 8]);
    }
    return vaddvq_f32(vsubq_f32(acc, accm));
}
#else
#define mamba__dot_q4k mamba__dot_q4k_scalar
#endif
#if !defined(MAMBA__AVX512BW)
/* MAMBA__NR rows, one after another */
static void mamba__dotn_q4k(float *out, const uint8_t *const *q, const int16_t *MAMBA__RESTRICT xq,
                            const float *MAMBA__RESTRICT xs, int nb)
{
    int k;
    for (k = 0; k < MAMBA__NR; k++) out[k] = mamba__dot_q4k(q[k], xq, xs, nb);
}
#endif

/* The entry points (b0 is a whole number of super-blocks: MAMBA__Q8_CHUNK
   columns are half of one, so mamba__dot_row_q16's chunks would split
   them; the row dot quantises x a super-block at a time instead) */
static float mamba__dot_row_q4k(const mamba_matrix *W, int r, const float *MAMBA__RESTRICT x)
{
    int16_t xq[MAMBA__QK];
    float xs[(1 + MAMBA__Q16_TERMS) * MAMBA__QK / MAMBA__Q8_BLOCK], sum = 0.0f; /* the scales, then the block terms */
    const uint8_t *q = mamba__q4k_row(W, r);
    int c;
    for (c = 0; c < W->cols; c += MAMBA__QK) {
        int len = W->cols - c < MAMBA__QK ? W->cols - c : MAMBA__QK;
        mamba__q8_quant_x(xq, xs, x + c, len);
        if (MAMBA__Q16_TERMS) mamba__q16_terms(xs, xq, mamba__q8_blocks(len)); /* MAMBA__Q4K_INPUT */
        sum += mamba__dot_q4k(q + (size_t)(c / MAMBA__QK) * MAMBA__QK_BYTES, xq, xs, mamba__q8_blocks(len));
    }
    return sum;
}
static void mamba__dot_rows_q4k(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in)
{
    const uint8_t *q[MAMBA__NR];
    int k;
    for (k = 0; k < MAMBA__NR; k++) q[k] = mamba__q4k_row(W, r[k]);
    mamba__dotn_q4k(out, q, in->xq, in->xs, mamba__q8_blocks(W->cols));
}
#ifdef MAMBA__HAVE_Q4K_X
/* dot_rows_n of q4_k (mamba_step_batch): a row at a time through the
   inputs four at a time (mamba__q4kv_x); the same bits as dot_rows */
static void mamba__dot_rows_n_q4k(float *const *out, const mamba_matrix *W, int r0, int r1, const mamba__xin *in, int n)
{
    const int nb = mamba__q8_blocks(W->cols);
    int r, j;
    for (r = r0; r < r1; r++) {
        const uint8_t *q = mamba__q4k_row(W, r);
        float v[4];
        int t;
        for (j = 0; j < n;) {
            const int ni = n - j >= 4 ? 4 : n - j >= 2 ? 2 : 1;
            if (ni == 4) mamba__q4kv_x(v, q, in + j, 4, nb);
            else if (ni == 2) mamba__q4kv_x(v, q, in + j, 2, nb);
            else mamba__q4kv_x(v, q, in + j, 1, nb);
            for (t = 0; t < ni; t++) out[j + t][r] = v[t];
            j += ni;
        }
    }
}
#else
#define mamba__dot_rows_n_q4k mamba__dot_rows_n_each
#endif

/* Columns [k0, k0 + n) of row r widened to f32 (k0 a multiple of 32):
   (d sc) q - (dmin m), a multiply then a subtraction as ggml's
   dequantize_row_q4_K (a compiler that fuses the two in the scalar loop
   moves a value by at most its last bit); SIMD forms a whole sub-block at
   a time, 16, 8 or 4 values per instruction */
static void mamba__dequant_q4k(float *MAMBA__RESTRICT out, const mamba_matrix *W, int r, int k0, int n)
{
    const uint8_t *q = mamba__q4k_row(W, r);
    int k;
    for (k = 0; k < n;) {
        const int c = k0 + k, b = c / MAMBA__Q8_BLOCK, len = n - k < MAMBA__Q8_BLOCK ? n - k : MAMBA__Q8_BLOCK;
        const uint8_t *blk = q + (size_t)(b / 8) * MAMBA__QK_BYTES;
        const uint8_t *qs = blk + 16 + (b % 8) / 2 * 32;
        const int shift = (b & 1) * 4;
        int sc, m, i;
        float d1, m1;
        mamba__q4k_scale_min(blk + 4, b % 8, &sc, &m);
        d1 = MAMBA__HALF(mamba__rd16(blk)) * (float)sc;
        m1 = MAMBA__HALF(mamba__rd16(blk + 2)) * (float)m;
        i = 0;
#if defined(MAMBA__AVX512)
        if (len == MAMBA__Q8_BLOCK) {
            const __m512 vd = _mm512_set1_ps(d1), vm = _mm512_set1_ps(m1);
            const __m128i m4 = _mm_set1_epi8(0x0F);
            for (; i < 32; i += 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(qs + i));
                v = _mm_and_si128(shift ? _mm_srli_epi16(v, 4) : v, m4);
                _mm512_storeu_ps(out + k + i,
                                 _mm512_sub_ps(_mm512_mul_ps(vd, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v))), vm));
            }
        }
#elif defined(MAMBA__AVX2)
        if (len == MAMBA__Q8_BLOCK) {
            const __m256 vd = _mm256_set1_ps(d1), vm = _mm256_set1_ps(m1);
            const __m128i m4 = _mm_set1_epi8(0x0F);
            for (; i < 32; i += 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(qs + i));
                v = _mm_and_si128(shift ? _mm_srli_epi16(v, 4) : v, m4);
                _mm256_storeu_ps(out + k + i,
                                 _mm256_sub_ps(_mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v))), vm));
                _mm256_storeu_ps(out + k + i + 8, _mm256_sub_ps(_mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
                                                                                      _mm_srli_si128(v, 8)))),
                                                                vm));
            }
        }
#elif defined(MAMBA__NEON)
        if (len == MAMBA__Q8_BLOCK) {
            const float32x4_t vm = vdupq_n_f32(m1);
            for (; i < 32; i += 16) {
                uint8x16_t v = vld1q_u8(qs + i);
                uint16x8_t lo, hi;
                v = shift ? vshrq_n_u8(v, 4) : vandq_u8(v, vdupq_n_u8(0x0F));
                lo = vmovl_u8(vget_low_u8(v));
                hi = vmovl_u8(vget_high_u8(v));
                vst1q_f32(out + k + i, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo))), d1), vm));
                vst1q_f32(out + k + i + 4, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_high_u16(lo))), d1), vm));
                vst1q_f32(out + k + i + 8, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi))), d1), vm));
                vst1q_f32(out + k + i + 12, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_high_u16(hi))), d1), vm));
            }
        }
#endif
        for (; i < len; i++) out[k + i] = d1 * (float)((qs[i] >> shift) & 15) - m1;
        k += len;
    }
}

/* the nibbles and 6-bit scales are finite by construction; d and dmin
   are the first two f16 of each 144-byte super-block */
static int mamba__nonfinite_q4k(const unsigned char *p, size_t rows, size_t cols)
{
    size_t ns = rows * ((cols + MAMBA__QK - 1) / MAMBA__QK);
    return mamba__nonfinite_run(p, ns, MAMBA__QK_BYTES, MAMBA_DTYPE_F16) ||
           mamba__nonfinite_run(p + 2, ns, MAMBA__QK_BYTES, MAMBA_DTYPE_F16);
}

/* The input formats a weight type can want from a matvec (mamba__matvec_x):
   the x as it is (f32), or x quantised once per matvec into the state's
   scratch (mamba_state.xq/.xs: at most 2 bytes a column and one float per
   32 columns), then read by every row. */
enum {
    MAMBA__INPUT_F32 = 0,
    MAMBA__INPUT_Q16 = 1, /* int16 per block of 32 + f32 scale (mamba__q8_quant_x) */
    MAMBA__INPUT_Q16T = 2 /* that, and after the nb scales each block's sum (mamba__q16_terms) */
};
/* what q4_k's kernels want: the block terms where they take the
   minimum's part from them (MAMBA__Q16_TERMS); elsewhere they sum xq */
#define MAMBA__Q4K_INPUT (MAMBA__Q16_TERMS ? MAMBA__INPUT_Q16T : MAMBA__INPUT_Q16)

typedef struct mamba__wtype {
    const char *name;
    /* row r . x, x as W->cols floats (any input format is made inside) */
    float (*dot_row)(const mamba_matrix *W, int r, const float *MAMBA__RESTRICT x);
    /* rows r[0..MAMBA__NR-1] (repeats allowed) . the prepared input into
       out[0..MAMBA__NR-1], read side by side; a row's sum must not depend
       on its slot or its companions (mamba__matvec_x) */
    void (*dot_rows)(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in);
    /* out[j][r] = row r . the prepared input in[j] for r0 <= r < r1 and
       j < n, each sum exactly what dot_rows gives row r, the rows read
       from memory once for all n inputs (mamba_step_batch) */
    void (*dot_rows_n)(float *const *out, const mamba_matrix *W, int r0, int r1, const mamba__xin *in, int n);
    /* rows r[0..MAMBA__NR-1] as dot_rows reads them, against n <=
       MAMBA__XD prepared inputs in[j] at once, into out[j * MAMBA__NR + k],
       each sum exactly what dot_rows gives (mamba__matvec_few); NULL: the
       type has none (dot_rows_n then) */
    void (*dot_rows_few)(float *out, const mamba_matrix *W, const int *r, const mamba__xin *in, int n,
                         const int *next, int part, int parts);
    /* columns [k0, k0+n) of row r widened to f32 (k0 a multiple of block) */
    void (*dequant_cols)(float *MAMBA__RESTRICT out, const mamba_matrix *W, int r, int k0, int n);
    /* 1 if a stored value or scale of a rows x cols matrix at p is not finite */
    int (*nonfinite)(const unsigned char *p, size_t rows, size_t cols);
    int dtype;       /* its code in the file (mamba_dtype); the entry's index */
    int block;       /* columns per block; a row is ceil(cols / block) blocks */
    int block_bytes; /* bytes per block, its scales included */
    int input;       /* MAMBA__INPUT_*: what mamba__matvec_x prepares for it */
} mamba__wtype;

static void mamba__dot_range(float *out, const mamba_matrix *W, int r0, int r1, const mamba__xin *in);
/* dot_rows_n of a type without a multi-input kernel: the rows through one
   input after another (mamba_step_batch keeps them in the L2 cache) */
static MAMBA__MAYBE_UNUSED void mamba__dot_rows_n_each(float *const *out, const mamba_matrix *W, int r0, int r1,
                                                        const mamba__xin *in, int n)
{
    int j;
    for (j = 0; j < n; j++) mamba__dot_range(out[j], W, r0, r1, &in[j]);
}

/* In dtype order: entry i is dtype i (mamba__wtype_of() checks). */
static const mamba__wtype mamba__wtypes[] = {
    {"f32", mamba__dot_row_f32, mamba__dot_rows_f32, mamba__dot_rows_n_f32,
     mamba__dot_rows_few_f32, mamba__dequant_f32, mamba__nonfinite_f32,
     MAMBA_DTYPE_F32, 1, 4, MAMBA__INPUT_F32},
    {"f16", mamba__dot_row_f16, mamba__dot_rows_f16, mamba__dot_rows_n_f16,
     mamba__dot_rows_few_f16, mamba__dequant_f16, mamba__nonfinite_f16,
     MAMBA_DTYPE_F16, 1, 2, MAMBA__INPUT_F32},
    {"bf16", mamba__dot_row_bf16, mamba__dot_rows_bf16, mamba__dot_rows_n_bf16,
     mamba__dot_rows_few_bf16, mamba__dequant_bf16, mamba__nonfinite_bf16,
     MAMBA_DTYPE_BF16, 1, 2,
     MAMBA__INPUT_F32},
    {"q8", mamba__dot_row_q8, mamba__dot_rows_q8, mamba__dot_rows_n_q8, NULL, mamba__dequant_q8, mamba__nonfinite_q8, MAMBA_DTYPE_Q8,
     MAMBA__Q8_BLOCK, MAMBA__Q8_BLOCK + 2, MAMBA__INPUT_Q16},
    {"q4_0", mamba__dot_row_q4_0, mamba__dot_rows_q4_0, mamba__dot_rows_n_q4_0, NULL, mamba__dequant_q4_0, mamba__nonfinite_q4, MAMBA_DTYPE_Q4_0,
     MAMBA__Q8_BLOCK, 16 + 2, MAMBA__INPUT_Q16},
    {"iq4_nl", mamba__dot_row_iq4nl, mamba__dot_rows_iq4nl, mamba__dot_rows_n_iq4nl, NULL, mamba__dequant_iq4nl, mamba__nonfinite_q4,
     MAMBA_DTYPE_IQ4_NL, MAMBA__Q8_BLOCK, 16 + 2, MAMBA__INPUT_Q16},
    {"q4_k", mamba__dot_row_q4k, mamba__dot_rows_q4k, mamba__dot_rows_n_q4k, NULL, mamba__dequant_q4k, mamba__nonfinite_q4k,
     MAMBA_DTYPE_Q4_K, MAMBA__QK, MAMBA__QK_BYTES, MAMBA__Q4K_INPUT}};

/* The entry of a dtype, or NULL for a dtype this library does not know. */
static const mamba__wtype *mamba__wtype_of(int dtype)
{
    const size_t n = sizeof mamba__wtypes / sizeof mamba__wtypes[0];
    if (dtype < 0 || (size_t)dtype >= n || mamba__wtypes[dtype].dtype != dtype) return NULL;
    return &mamba__wtypes[dtype];
}

/* Bytes of one row of cols columns stored as t (what decoding reads a row). */
static size_t mamba__wtype_row_bytes(const mamba__wtype *t, size_t cols)
{
    return (cols + (size_t)t->block - 1) / (size_t)t->block * (size_t)t->block_bytes;
}

/* Bytes of a rows x cols matrix of dtype into *out (64-bit: the loader
   sizes untrusted shapes with it); 0 for a dtype without an entry. */
static int mamba__matrix_bytes64(int dtype, uint64_t rows, uint64_t cols, uint64_t *out)
{
    const mamba__wtype *t = mamba__wtype_of(dtype);
    if (!t) return 0;
    *out = rows * ((cols + (uint64_t)t->block - 1) / (uint64_t)t->block) * (uint64_t)t->block_bytes;
    return 1;
}

/* Bytes of one row of a matrix in the file (for q8: its int8 blocks plus
   their scales). tests/test_simd.c checks it. */
static MAMBA__MAYBE_UNUSED size_t mamba__row_bytes(int dtype, int cols)
{
    const mamba__wtype *t = mamba__wtype_of(dtype);
    return t ? mamba__wtype_row_bytes(t, (size_t)cols) : 0;
}

/* Row r of W (any dtype) dotted with x (W->cols floats). */
static float mamba__dot_row(const mamba_matrix *W, int r, const float *MAMBA__RESTRICT x)
{
    return mamba__wtypes[W->dtype].dot_row(W, r, x);
}

/* Columns [k0, k0 + n) of row r of W widened to f32 into out. */
static MAMBA__MAYBE_UNUSED void mamba__dequant_cols(float *MAMBA__RESTRICT out, const mamba_matrix *W, int r, int k0,
                                                    int n)
{
    mamba__wtypes[W->dtype].dequant_cols(out, W, r, k0, n);
}

/* Row r of W widened to f32 into out (W->cols floats). */
static MAMBA__MAYBE_UNUSED void mamba__dequant_row(float *MAMBA__RESTRICT out, const mamba_matrix *W, int r)
{
    mamba__dequant_cols(out, W, r, 0, W->cols);
}

/* out[r] = W[r] . x (+ bias[r]) for rows r0 <= r < r1, on the calling
   thread: the piece a caller with its own threading (a matrix-matrix
   product over a block of tokens, say) splits its work into. */
static MAMBA__MAYBE_UNUSED void mamba__matvec_rows(float *MAMBA__RESTRICT out, const mamba_matrix *W, const float *MAMBA__RESTRICT x,
                               const float *bias, int r0, int r1)
{
    int r;
    for (r = r0; r < r1; r++) {
        float v = mamba__dot_row(W, r, x);
        out[r] = bias ? v + bias[r] : v;
    }
}

/* Rows [r0, r1) of W with the prepared input into out[r0..r1-1], four
   consecutive rows a call of the type's dot_rows (a short last group
   repeats row r0): the same bits as mamba__matvec_x gives those rows. */
static MAMBA__MAYBE_UNUSED void mamba__dot_range(float *out, const mamba_matrix *W, int r0, int r1,
                                                 const mamba__xin *in)
{
    const mamba__wtype *wt = &mamba__wtypes[W->dtype];
    int r, k;
    for (r = r0; r < r1; r += MAMBA__NR) {
        int rr[MAMBA__NR];
        float v[MAMBA__NR];
        for (k = 0; k < MAMBA__NR; k++) rr[k] = r + k < r1 ? r + k : r0;
        wt->dot_rows(v, W, rr, in);
        for (k = 0; k < MAMBA__NR && r + k < r1; k++) out[r + k] = v[k];
    }
}

/* out = W x (+ bias):  out[r] = sum_c W[r][c] x[c] (+ bias[r])
   PyTorch: F.linear(x, weight, bias). W is rows x cols in any stored dtype;
   arithmetic is f32, except that a q8 or 4-bit W meets x rounded to int16
   in integer products (mamba__q8_quant_x_scalar). This is where decoding
   spends its time: every weight is read once per token, so the speed is
   the memory bandwidth.
   Streams: one core reads one sequential stream at well below the rate it
   reads several side by side (this Xeon: 12 GB/s against 16 with four;
   docs/kernels-notes.md), so the rows are cut in MAMBA__NR = 4 quarters of
   nq rows and step g reads row g of each quarter, g, g + nq, g + 2 nq,
   g + 3 nq, in one kernel call: four streams through the matrix, each
   sequential. A short last quarter repeats row g in the missing slots
   (read from cache, the result dropped).
   Threads: one parallel region per matrix over the steps (schedule(static):
   each thread a contiguous run of steps, so four streams of its own), and
   on 2 cores one fork/join per matrix (about 100 per token) costs a few
   microseconds against milliseconds of reading. Each row's sum is computed
   the same way whatever slot, step or thread takes it: bit-identical for
   any thread count.
   Input: xq and xs are scratch for x quantised to int16 (32 * ceil(cols/32)
   int16 and ceil(cols/32) floats; see mamba__q8_quant_x_scalar), made once
   here for the types that want it. They live in the state (mamba_state.xq,
   .xs), sized for the widest input of a step, rather than on the stack: a
   few KB for big models would not fit the 4 KB stack of a small
   microcontroller (embedded/), and in the state they add about a tenth to
   the f32 scratch already there (mamba-130m: 3.3 KB to 31 KB, beside 2.9 MB
   of recurrent state). NULL: the slower way without, a row at a time. */
static void mamba__matvec_x(float *MAMBA__RESTRICT out, const mamba_matrix *W, const float *MAMBA__RESTRICT x,
                            const float *bias, int16_t *MAMBA__RESTRICT xq, float *MAMBA__RESTRICT xs)
{
    const mamba__wtype *wt = mamba__wtype_of(W->dtype);
    const int rows = W->rows, nq = (rows + MAMBA__NR - 1) / MAMBA__NR;
    int mamba__par = (size_t)rows * (size_t)W->cols >= MAMBA__PAR_MIN_WORK, g;
    mamba__xin in;
    (void)mamba__par;
    MAMBA_ASSERT(wt != NULL); /* the loader refuses a dtype without an entry */
    in.x = x;
    in.xq = xq;
    in.xs = xs;
    if (wt->input != MAMBA__INPUT_F32) {
        if (!xq) {
            MAMBA__PARALLEL_FOR_IF
            for (g = 0; g < rows; g++) {
                float v = wt->dot_row(W, g, x);
                out[g] = bias ? v + bias[g] : v;
            }
            return;
        }
        /* quantise x once, on the calling thread, before the rows fork:
           every thread then reads the same xq and xs */
        mamba__q8_quant_x(xq, xs, x, W->cols);
        if (wt->input == MAMBA__INPUT_Q16T) mamba__q16_terms(xs, xq, mamba__q8_blocks(W->cols));
    }
    MAMBA__PARALLEL_FOR_IF
    for (g = 0; g < nq; g++) {
        int r[MAMBA__NR], k;
        float v[MAMBA__NR];
        for (k = 0; k < MAMBA__NR; k++) r[k] = g + k * nq < rows ? g + k * nq : g;
        wt->dot_rows(v, W, r, &in);
        for (k = 0; k < MAMBA__NR; k++)
            if (g + k * nq < rows) out[g + k * nq] = bias ? v[k] + bias[g + k * nq] : v[k];
    }
}

/* The same without scratch (q8 then quantises x for every row again:
   slower, same numbers up to the order of the final sum) */
static MAMBA__MAYBE_UNUSED void mamba__matvec(float *MAMBA__RESTRICT out, const mamba_matrix *W,
                                              const float *MAMBA__RESTRICT x, const float *bias)
{
    mamba__matvec_x(out, W, x, bias, NULL, NULL);
}

/* RMSNorm:  out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]
   mamba_ssm.ops.triton.layer_norm.RMSNorm / transformers MambaRMSNorm.
   The sum of squares is accumulated in double: d_model terms of mixed
   magnitude, once per layer. With AVX-512 in 16 double lanes (each square
   of a float is exact in double, so only the order of the additions
   differs from one sum, and the float scale rounded from it lands on the
   same float but for a 1e-16 chance): the one running sum's 4-cycle add
   per term was 4.5% of a Mamba-2 prompt. weight may be NULL for
   Falcon-Mamba's weightless norm of delta, B and C. out may equal x. */
static void mamba__rmsnorm(float *out, const float *x, const float *weight, int n, float eps)
{
    double ss = 0.0;
    float scale;
    int i = 0;
#if defined(MAMBA__AVX512)
    {
        __m512d a0 = _mm512_setzero_pd(), a1 = a0;
        for (; i + 16 <= n; i += 16) {
            const __m512 v = _mm512_loadu_ps(x + i);
            const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
            const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
            a0 = _mm512_fmadd_pd(lo, lo, a0);
            a1 = _mm512_fmadd_pd(hi, hi, a1);
        }
        ss = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    }
#endif
    for (; i < n; i++) ss += (double)x[i] * (double)x[i];
    scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    i = 0;
#if defined(MAMBA__AVX512)
    {
        const __m512 sv = _mm512_set1_ps(scale);
        for (; i + 16 <= n; i += 16) {
            const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), sv);
            _mm512_storeu_ps(out + i, weight ? _mm512_mul_ps(v, _mm512_loadu_ps(weight + i)) : v);
        }
    }
#endif
    for (; i < n; i++) out[i] = weight ? x[i] * scale * weight[i] : x[i] * scale;
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

/* exp in SIMD lanes, for the scan's exp(Delta A): d_inner * d_state calls a
   layer (590k a token for mamba-130m), too many for libm's expf one at a
   time (docs/kernels-notes.md). The classic method:
     exp(v) = 2^k * exp(r),  k = round(v / ln 2),  r = v - k ln 2 in [-ln2/2, ln2/2]
   with ln 2 split in two (0.693359375 is exact in a float, the rest is a
   small correction) so r keeps its low bits, exp(r) as
   1 + r + r^2 (p5 + r (p4 + ... r p0)) (the coefficients are the Cephes
   expf minimax fit), and 2^k put into the float's exponent. About 1 ulp
   from expf over the range the scan uses. */
#define MAMBA__EXP_P0 1.9875691500e-4f
#define MAMBA__EXP_P1 1.3981999507e-3f
#define MAMBA__EXP_P2 8.3334519073e-3f
#define MAMBA__EXP_P3 4.1665795894e-2f
#define MAMBA__EXP_P4 1.6666665459e-1f
#define MAMBA__EXP_P5 5.0000001201e-1f
#define MAMBA__LN2_HI 0.693359375f
#define MAMBA__LN2_LO (-2.12194440e-4f)
/* From k = round(v / ln 2): r = v - k ln 2 (in two parts), then p = exp(r)
   as the polynomial above, in one instruction set's FMA(a, b, c) = a b + c,
   FNMA(a, b, c) = c - a b (both fused), MUL, ADD and SET1 (broadcast).
   Written once; each path below expands it with its own intrinsics. */
#define MAMBA__EXP_POLY(p, r, k, v, FMA, FNMA, MUL, ADD, SET1)        \
    do {                                                              \
        (r) = FNMA(k, SET1(MAMBA__LN2_HI), v);                        \
        (r) = FNMA(k, SET1(MAMBA__LN2_LO), r);                        \
        (p) = FMA(SET1(MAMBA__EXP_P0), r, SET1(MAMBA__EXP_P1));       \
        (p) = FMA(p, r, SET1(MAMBA__EXP_P2));                         \
        (p) = FMA(p, r, SET1(MAMBA__EXP_P3));                         \
        (p) = FMA(p, r, SET1(MAMBA__EXP_P4));                         \
        (p) = FMA(p, r, SET1(MAMBA__EXP_P5));                         \
        (p) = FMA(p, MUL(r, r), ADD(r, SET1(1.0f)));                  \
    } while (0)
#if defined(MAMBA__AVX512)
/* 16 lanes; _mm512_scalef_ps does p * 2^k including underflow to denormals
   and zero, so the clamps only keep k in range. */
static __m512 mamba__vexp16(__m512 v)
{
    __m512 k, r, p;
    v = _mm512_min_ps(v, _mm512_set1_ps(88.7f));
    v = _mm512_max_ps(v, _mm512_set1_ps(-104.0f)); /* below this exp is 0 in f32 */
    k = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.44269504089f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    MAMBA__EXP_POLY(p, r, k, v, _mm512_fmadd_ps, _mm512_fnmadd_ps, _mm512_mul_ps, _mm512_add_ps, _mm512_set1_ps);
    return _mm512_scalef_ps(p, k);
}

/* SiLU of 16 floats: v / (1 + exp(-v)); mamba__silu() is the reference. */
static __m512 mamba__silu16(__m512 v)
{
    __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(v, _mm512_add_ps(one, mamba__vexp16(_mm512_sub_ps(_mm512_setzero_ps(), v))));
}

/* softplus of 16 floats; mamba__softplus() is the reference.
     softplus(v) = max(v, 0) + log1p(w),  w = exp(-|v|) in (0, 1]
     log1p(w)    = 2 atanh(s),  s = w / (2 + w) in (0, 1/3]
                 = 2 s (1 + s^2/3 + s^4/5 + ... + s^14/15) + O(s^16/17)
   s is formed without cancellation, so the relative error stays at a few
   ulp even for tiny w (the truncation is (1/9)^8/17 = 1.4e-9). Above 20 it
   returns v itself, like F.softplus's threshold and mamba__softplus(). */
static __m512 mamba__softplus16(__m512 v)
{
    __m512 av = _mm512_abs_ps(v);
    __m512 w = mamba__vexp16(_mm512_sub_ps(_mm512_setzero_ps(), av));
    __m512 s = _mm512_div_ps(w, _mm512_add_ps(_mm512_set1_ps(2.0f), w));
    __m512 s2 = _mm512_mul_ps(s, s);
    __m512 p = _mm512_set1_ps(1.0f / 15.0f), res;
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 13.0f));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 11.0f));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 9.0f));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 7.0f));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 5.0f));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 3.0f));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f));
    res = _mm512_fmadd_ps(_mm512_add_ps(s, s), p, _mm512_max_ps(v, _mm512_setzero_ps()));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(20.0f), _CMP_GT_OQ), res, v);
}
#elif defined(MAMBA__AVX2)
/* 8 lanes; 2^k is built in the exponent bits, so v is clamped to where
   that stays a normal float (below -87.3 the result is 1e-38, not 0). */
static __m256 mamba__vexp8(__m256 v)
{
    __m256 k, r, p;
    __m256i e;
    v = _mm256_min_ps(v, _mm256_set1_ps(88.3f));
    v = _mm256_max_ps(v, _mm256_set1_ps(-87.3f));
    k = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504089f)),
                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    MAMBA__EXP_POLY(p, r, k, v, _mm256_fmadd_ps, _mm256_fnmadd_ps, _mm256_mul_ps, _mm256_add_ps, _mm256_set1_ps);
    e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#elif defined(MAMBA__NEON)
/* NEON's fused forms take the addend first: vfmaq_f32(c, a, b) = c + a b */
#define MAMBA__NEON_FMA(a, b, c) vfmaq_f32(c, a, b)
#define MAMBA__NEON_FNMA(a, b, c) vfmsq_f32(c, a, b)
/* 4 lanes, the same reduction and polynomial as mamba__vexp8(). */
static float32x4_t mamba__vexp4(float32x4_t v)
{
    float32x4_t k, r, p;
    int32x4_t e;
    v = vminq_f32(v, vdupq_n_f32(88.3f));
    v = vmaxq_f32(v, vdupq_n_f32(-87.3f));
    k = vrndnq_f32(vmulq_f32(v, vdupq_n_f32(1.44269504089f)));
    MAMBA__EXP_POLY(p, r, k, v, MAMBA__NEON_FMA, MAMBA__NEON_FNMA, vmulq_f32, vaddq_f32, vdupq_n_f32);
    e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}
#elif defined(MAMBA__MVE)
/* 4 lanes, NEON's mamba__vexp4 in Helium's names, with its constants as
   scalar operands (vfmaq_n: a + b * s, vfmasq_n: a * b + s, s from a core
   register): Helium has eight vector registers, too few to hold the
   polynomial as well. The same fused operations, so the same values. */
static float32x4_t mamba__vexp4(float32x4_t v)
{
    float32x4_t k, r, p;
    int32x4_t e;
    v = vminnmq_f32(v, vdupq_n_f32(88.3f));
    v = vmaxnmq_f32(v, vdupq_n_f32(-87.3f));
    k = vrndnq_f32(vmulq_n_f32(v, 1.44269504089f)); /* vrintn: to nearest even */
    r = vfmaq_n_f32(v, k, -MAMBA__LN2_HI);          /* v - k ln2, in two parts */
    r = vfmaq_n_f32(r, k, -MAMBA__LN2_LO);
    p = vfmasq_n_f32(vdupq_n_f32(MAMBA__EXP_P0), r, MAMBA__EXP_P1);
    p = vfmasq_n_f32(p, r, MAMBA__EXP_P2);
    p = vfmasq_n_f32(p, r, MAMBA__EXP_P3);
    p = vfmasq_n_f32(p, r, MAMBA__EXP_P4);
    p = vfmasq_n_f32(p, r, MAMBA__EXP_P5);
    p = vfmaq_f32(vaddq_n_f32(r, 1.0f), p, vmulq_f32(r, r));
    e = vshlq_n_s32(vaddq_n_s32(vcvtq_s32_f32(k), 127), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}
#endif

/* v[i] = f16(v[i]) for the whole groups of 16 from i on (AVX-512), leaving
   i after them; the scalar loop that follows does the rest. */
#if defined(MAMBA__AVX512)
#define MAMBA__MAP16(f16, v, i, n) \
    for (; (i) + 16 <= (n); (i) += 16) _mm512_storeu_ps((v) + (i), (f16)(_mm512_loadu_ps((v) + (i))))
#else
#define MAMBA__MAP16(f16, v, i, n) (void)0
#endif

/* v[i] = SiLU(v[i]) for i < n */
static void mamba__silu_n(float *v, int n)
{
    int i = 0;
    MAMBA__MAP16(mamba__silu16, v, i, n);
    for (; i < n; i++) v[i] = mamba__silu(v[i]);
}

/* v[i] = softplus(v[i]) for i < n */
static void mamba__softplus_n(float *v, int n)
{
    int i = 0;
    MAMBA__MAP16(mamba__softplus16, v, i, n);
    for (; i < n; i++) v[i] = mamba__softplus(v[i]);
}

/* y[i] *= SiLU(z[i]) for i < n: the output gate, y * F.silu(z), 16 at a
   time with AVX-512. */
static void mamba__gate(float *y, const float *z, int n)
{
    int i = 0;
#if defined(MAMBA__AVX512)
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), mamba__silu16(_mm512_loadu_ps(z + i))));
#endif
    for (; i < n; i++) y[i] *= mamba__silu(z[i]);
}

/* SiLU of n floats in each of T rows ldx apart, the rows across threads */
static void mamba__silu_rows(float *x, size_t ldx, int n, int T)
{
    int t;
    int mamba__par = T > 1;
    (void)mamba__par;
    MAMBA__PARALLEL_FOR_IF
    for (t = 0; t < T; t++) mamba__silu_n(x + (size_t)t * ldx, n);
}

/* -- the causal conv ---------------------------------------------------------
   Causal depthwise convolution over T tokens, for every channel c, token
   after token (T = 1 in mamba_step):
     window[c] <- (window[c][1..d_conv-1], x[t][c])    shift in the new input
     x[t][c]   <- SiLU(sum_k weight[c][k] window[c][k] + bias[c])
   Mamba.step: conv_state.copy_(torch.roll(conv_state, -1)); conv_state[:, :, -1] = x;
   x = sum(conv_state * rearrange(conv1d.weight, "d 1 w -> d w")) + conv1d.bias; act(x).
   The window holds the last d_conv inputs, oldest first, so weight[c][d_conv-1]
   meets the newest: the same causal alignment as conv1d with padding d_conv-1,
   and the window left in the state carries on into the next call.
   The kernels below leave out the SiLU; mamba__conv() applies it after. */
static void mamba__conv_scalar(float *x, size_t ldx, float *window, const float *weight, const float *bias, int c0,
                               int c1, int d_conv, int T)
{
    int c, t, j;
    for (c = c0; c < c1; c++) {
        float *w = window + (size_t)c * (size_t)d_conv;
        const float *k = weight + (size_t)c * (size_t)d_conv;
        for (t = 0; t < T; t++) {
            float *xc = x + (size_t)t * ldx + c;
            float acc = bias ? bias[c] : 0.0f;
            for (j = 0; j + 1 < d_conv; j++) w[j] = w[j + 1];
            w[d_conv - 1] = *xc;
            for (j = 0; j < d_conv; j++) acc += k[j] * w[j];
            *xc = acc;
        }
    }
}

#if defined(MAMBA__AVX512)
/* 16 channels c0..c0+15 at once, one lane per channel; the window of each
   lane is d_conv registers (shifting them is renaming), gathered once per
   call and kept across the T tokens. */
static void mamba__conv16(float *x, size_t ldx, float *window, const float *weight, const float *bias, int c0,
                          int d_conv, int T)
{
    __m512 w[8], k[8], acc, b;
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(d_conv));
    float *win = window + (size_t)c0 * (size_t)d_conv;
    int t, j;
    for (j = 0; j < d_conv; j++) {
        w[j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF, idx, win + j, 4);
        k[j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF, idx, weight + (size_t)c0 * (size_t)d_conv + j, 4);
    }
    b = bias ? _mm512_loadu_ps(bias + c0) : _mm512_setzero_ps();
    for (t = 0; t < T; t++) {
        float *xc = x + (size_t)t * ldx + c0;
        for (j = 0; j + 1 < d_conv; j++) w[j] = w[j + 1];
        w[d_conv - 1] = _mm512_loadu_ps(xc);
        acc = b;
        for (j = 0; j < d_conv; j++) acc = _mm512_fmadd_ps(k[j], w[j], acc);
        _mm512_storeu_ps(xc, acc);
    }
    for (j = 0; j < d_conv; j++) _mm512_i32scatter_ps(win + j, idx, w[j], 4);
}
#elif defined(MAMBA__AVX2)
/* AVX2: mamba__conv16 in 8 lanes, 8 channels c0..c0+7, the same FMA chain
   per channel (the scalar loop's rounding differs: tests/t_forward.sh
   holds forward to step). The windows are copied in and out by plain loops
   (a gather is no faster for 8 lines). */
static void mamba__conv8(float *x, size_t ldx, float *window, const float *weight, const float *bias, int c0,
                         int d_conv, int T)
{
    __m256 w[8], k[8], acc, b;
    float tw[8 * 8], tk[8 * 8];
    float *win = window + (size_t)c0 * (size_t)d_conv;
    const float *wk = weight + (size_t)c0 * (size_t)d_conv;
    int t, j, l;
    for (l = 0; l < 8; l++) /* tw[j][l]: tap j of channel c0 + l */
        for (j = 0; j < d_conv; j++) {
            tw[j * 8 + l] = win[(size_t)l * (size_t)d_conv + (size_t)j];
            tk[j * 8 + l] = wk[(size_t)l * (size_t)d_conv + (size_t)j];
        }
    for (j = 0; j < d_conv; j++) {
        w[j] = _mm256_loadu_ps(tw + j * 8);
        k[j] = _mm256_loadu_ps(tk + j * 8);
    }
    b = bias ? _mm256_loadu_ps(bias + c0) : _mm256_setzero_ps();
    for (t = 0; t < T; t++) {
        float *xc = x + (size_t)t * ldx + c0;
        for (j = 0; j + 1 < d_conv; j++) w[j] = w[j + 1];
        w[d_conv - 1] = _mm256_loadu_ps(xc);
        acc = b;
        for (j = 0; j < d_conv; j++) acc = _mm256_fmadd_ps(k[j], w[j], acc);
        _mm256_storeu_ps(xc, acc);
    }
    for (j = 0; j < d_conv; j++) _mm256_storeu_ps(tw + j * 8, w[j]);
    for (l = 0; l < 8; l++)
        for (j = 0; j < d_conv; j++) win[(size_t)l * (size_t)d_conv + (size_t)j] = tw[j * 8 + l];
}
#endif

/* The conv of a block: x is T rows ldx floats apart (channel c of token t
   at x[t * ldx + c]). batched (mamba_forward) lets 16 channels go in SIMD
   lanes, whose gathers pay off only over many tokens; the channels are
   independent, so they split across threads. */
static void mamba__conv(float *x, size_t ldx, float *window, const float *weight, const float *bias, int d_inner,
                        int d_conv, int T, int batched)
{
    const int ng = (d_inner + 15) / 16;
    int g;
    int mamba__par = (size_t)T * (size_t)d_inner * (size_t)d_conv >= MAMBA__PAR_MIN_WORK;
    (void)mamba__par;
    (void)batched;
    MAMBA__PARALLEL_FOR_IF
    for (g = 0; g < ng; g++) {
        const int c0 = 16 * g, c1 = c0 + 16 < d_inner ? c0 + 16 : d_inner;
#if defined(MAMBA__AVX512)
        if (batched && c1 - c0 == 16 && d_conv <= 8) {
            mamba__conv16(x, ldx, window, weight, bias, c0, d_conv, T);
            continue;
        }
#elif defined(MAMBA__AVX2)
        if (batched && c1 - c0 == 16 && d_conv <= 8) {
            mamba__conv8(x, ldx, window, weight, bias, c0, d_conv, T);
            mamba__conv8(x, ldx, window, weight, bias, c0 + 8, d_conv, T);
            continue;
        }
#endif
        mamba__conv_scalar(x, ldx, window, weight, bias, c0, c1, d_conv, T);
    }
    mamba__silu_rows(x, ldx, d_inner, T); /* x = SiLU(x) */
}

/* One token's conv for every channel (tests/test_kernels.c) */
#define mamba__conv_step(x, window, weight, bias, d_inner, d_conv) \
    mamba__conv(x, 0, window, weight, bias, d_inner, d_conv, 1, 0)

/* -- the selective scan ------------------------------------------------------
   The "S6" recurrence over T tokens, token after token, in the shape of
   llama.cpp's ssm_scan: n_head heads of head_dim channels each (channel
   c = head * head_dim + p), n_group groups of B and C shared by
   n_head / n_group heads each, a state of d_state per channel:
     dA    = exp(Delta[hd] * A[hd][n])                Abar: discretised A (ZOH)
     dB    = Delta[hd] * B[g][n]                      Bbar: Euler step for B
     h[c][n] = dA * h[c][n] + dB * x[c]               h_t = Abar h_{t-1} + Bbar x_t
     y[c]  = sum_n h[c][n] C[g][n] + D[hd] x[c]       y_t = C h_t + D x_t
   (Mamba.step, the branch without selective_state_update). Mamba-1 is
   n_head = d_inner, head_dim 1, one group, A per (channel, state);
   Mamba-2 is n_head heads of head_dim P, G groups and one A per head
   (a_per_state 0: A[hd][n] = A[hd]). The gate y *= SiLU(z) is not part of
   the scan (mamba__gate): Mamba-2 normalises before gating.
   A is negative (A = -exp(A_log)), so exp(Delta A) lies in (0, 1): a large
   Delta forgets the old state and takes in x, a small one keeps it.
   Heads are independent: they are split across threads. */
typedef struct mamba__scan_io {
    const float *A;     /* see a_per_state */
    const float *D;     /* (n_head) skip connection */
    float *h;           /* (n_head, head_dim, d_state) the state, updated in place */
    const float *x;     /* (T, n_head * head_dim), rows ldx apart */
    const float *delta; /* (T, n_head), rows ldd apart: Delta, after the softplus */
    const float *B, *C; /* (T, n_group * d_state) each, rows ldbc apart */
    float *y;           /* (T, n_head * head_dim), rows ldy apart */
    size_t ldx, ldd, ldbc, ldy;
    int n_head, head_dim, n_group, d_state;
    int a_per_state;    /* 1: A is (n_head, d_state) (Mamba-1); 0: (n_head) (Mamba-2) */
    int d_per_channel;  /* 1: D is (n_head * head_dim), one per channel (Mamba-2's D_has_hdim); 0: (n_head) */
} mamba__scan_io;

/* Fill a mamba__scan_io for one token (strides 0; a block of T tokens then
   sets ldx, ldd, ldbc and ldy to its rows'): the shape, A and D, the state
   h, the inputs x, delta, B, C and the output y. Mamba-1's shape is
   (d_inner, 1, 1, d_state, 1, 0). */
static void mamba__scan_set(mamba__scan_io *io, int n_head, int head_dim, int n_group, int d_state, int a_per_state,
                            int d_per_channel, const float *A, const float *D, float *h, const float *x,
                            const float *delta, const float *B, const float *C, float *y)
{
    io->n_head = n_head;
    io->head_dim = head_dim;
    io->n_group = n_group;
    io->d_state = d_state;
    io->a_per_state = a_per_state;
    io->d_per_channel = d_per_channel;
    io->A = A;
    io->D = D;
    io->h = h;
    io->x = x;
    io->delta = delta;
    io->B = B;
    io->C = C;
    io->y = y;
    io->ldx = io->ldd = io->ldbc = io->ldy = 0;
}

/* One channel, one token: h[n] = exp(dt A[n*astep]) h[n] + (dt B[n]) x;
   returns sum_n h[n] C[n] (the recurrence as the reference writes it). */
static float mamba__scan_row_scalar(float *hc, const float *A, int astep, float dt, float xc, const float *B,
                                    const float *C, int d_state)
{
    float acc = 0.0f;
    int n;
    for (n = 0; n < d_state; n++) {
        hc[n] = expf(dt * A[(size_t)n * (size_t)astep]) * hc[n] + (dt * B[n]) * xc;
        acc += hc[n] * C[n];
    }
    return acc;
}

/* The readable reference, for any shape: heads [h0, h1), each channel
   through its T tokens in order. */
static void mamba__scan_scalar(const mamba__scan_io *s, int h0, int h1, int T)
{
    const int P = s->head_dim, N = s->d_state, per_group = s->n_head / s->n_group;
    const int astep = s->a_per_state ? 1 : 0;
    int hd, p, t;
    for (hd = h0; hd < h1; hd++) {
        const float *Ah = s->A + (size_t)hd * (size_t)(s->a_per_state ? N : 1);
        const size_t g = (size_t)(hd / per_group) * (size_t)N;
        for (p = 0; p < P; p++) {
            const size_t c = (size_t)hd * (size_t)P + (size_t)p;
            float *hc = s->h + c * (size_t)N;
            for (t = 0; t < T; t++) {
                const float xc = s->x[(size_t)t * s->ldx + c], dt = s->delta[(size_t)t * s->ldd + (size_t)hd];
                const float v = mamba__scan_row_scalar(hc, Ah, astep, dt, xc, s->B + (size_t)t * s->ldbc + g,
                                                       s->C + (size_t)t * s->ldbc + g, N);
                s->y[(size_t)t * s->ldy + c] = v + s->D[s->d_per_channel ? c : (size_t)hd] * xc;
            }
        }
    }
}

/* One Mamba-1 channel, one token, the state index n in SIMD lanes:
   mamba__scan_row_scalar() with astep 1. AVX-512 takes 16 states at a
   time, a short last group masked; AVX2 8 and NEON or Helium 4, the tail
   by the reference (NEON and Helium take Delta and x as scalar operands:
   Helium has eight vector registers, see its mamba__vexp4). */
#define mamba__scan_channel_scalar(hc, Ac, dt, xc, B, C, d_state) \
    mamba__scan_row_scalar(hc, Ac, 1, dt, xc, B, C, d_state)
#if defined(MAMBA__AVX512) || defined(MAMBA__AVX2) || defined(MAMBA__NEON) || defined(MAMBA__MVE)
static float mamba__scan_channel(float *hc, const float *Ac, float dts, float xs, const float *B, const float *C,
                                 int d_state)
{
    int n;
#if defined(MAMBA__AVX512)
    const __m512 dt = _mm512_set1_ps(dts), xc = _mm512_set1_ps(xs);
    __m512 acc = _mm512_setzero_ps();
    for (n = 0; n < d_state; n += 16) {
        __mmask16 k = (__mmask16)(d_state - n >= 16 ? 0xFFFFu : (1u << (d_state - n)) - 1u);
        __m512 hn = _mm512_maskz_loadu_ps(k, hc + n);
        __m512 dB = _mm512_mul_ps(dt, _mm512_maskz_loadu_ps(k, B + n));
        hn = _mm512_fmadd_ps(mamba__vexp16(_mm512_mul_ps(dt, _mm512_maskz_loadu_ps(k, Ac + n))), hn,
                             _mm512_mul_ps(dB, xc));
        _mm512_mask_storeu_ps(hc + n, k, hn);
        acc = _mm512_fmadd_ps(hn, _mm512_maskz_loadu_ps(k, C + n), acc);
    }
    return _mm512_reduce_add_ps(acc);
#elif defined(MAMBA__AVX2)
    const __m256 dt = _mm256_set1_ps(dts), xc = _mm256_set1_ps(xs);
    __m256 acc = _mm256_setzero_ps();
    for (n = 0; n + 8 <= d_state; n += 8) {
        __m256 dB = _mm256_mul_ps(dt, _mm256_loadu_ps(B + n));
        __m256 hn = _mm256_fmadd_ps(mamba__vexp8(_mm256_mul_ps(dt, _mm256_loadu_ps(Ac + n))),
                                    _mm256_loadu_ps(hc + n), _mm256_mul_ps(dB, xc));
        _mm256_storeu_ps(hc + n, hn);
        acc = _mm256_fmadd_ps(hn, _mm256_loadu_ps(C + n), acc);
    }
    return mamba__hsum256(acc) + mamba__scan_channel_scalar(hc + n, Ac + n, dts, xs, B + n, C + n, d_state - n);
#else /* NEON, Helium */
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (n = 0; n + 4 <= d_state; n += 4) {
        float32x4_t dB = vmulq_n_f32(vld1q_f32(B + n), dts);
        float32x4_t hn = vfmaq_f32(vmulq_n_f32(dB, xs), mamba__vexp4(vmulq_n_f32(vld1q_f32(Ac + n), dts)),
                                   vld1q_f32(hc + n));
        vst1q_f32(hc + n, hn);
        acc = vfmaq_f32(acc, hn, vld1q_f32(C + n));
    }
    return MAMBA__VSUM(acc) + mamba__scan_channel_scalar(hc + n, Ac + n, dts, xs, B + n, C + n, d_state - n);
#endif
}
#else
#define mamba__scan_channel mamba__scan_channel_scalar
#endif

/* One Mamba-2 head hd (a_per_state 0), token t: mamba__scan_scalar()'s
   loops for that head and token, the state index n in SIMD lanes. The
   decay exp(Delta A) is one number for the whole head, so it is taken once
   (the reference takes the same expf of the same product for every n),
   and the work is the head_dim * d_state multiply-adds; B and C of the
   head's group stay in L1 across its head_dim channels. The input term is
   rounded as llama.cpp's ssm_scan rounds it, (x Delta) B[n], one multiply
   a state fewer than the reference's (Delta B[n]) x, and dA h + that is
   one FMA (tests/test_simd.c holds the two within rounding). */
#if defined(MAMBA__AVX512) || defined(MAMBA__AVX2) || defined(MAMBA__NEON)
static void mamba__scan_head(const mamba__scan_io *s, int hd, int t)
{
    const int P = s->head_dim, N = s->d_state;
    const size_t g = (size_t)(hd / (s->n_head / s->n_group)) * (size_t)N;
    const float *B = s->B + (size_t)t * s->ldbc + g, *C = s->C + (size_t)t * s->ldbc + g;
    const float dts = s->delta[(size_t)t * s->ldd + (size_t)hd], dAs = expf(dts * s->A[hd]);
    int p;
    for (p = 0; p < P; p++) {
        const size_t c = (size_t)hd * (size_t)P + (size_t)p;
        float *hc = s->h + c * (size_t)N;
        const float xs = s->x[(size_t)t * s->ldx + c], xdts = xs * dts;
        float acc;
        int n = 0;
        MAMBA__SPREFETCH(s->h, (c + MAMBA__SCAN_AHEAD) * (size_t)N * sizeof(float), (size_t)N * sizeof(float));
#if defined(MAMBA__AVX512)
        const __m512 dA = _mm512_set1_ps(dAs), xdt = _mm512_set1_ps(xdts);
        __m512 va = _mm512_setzero_ps();
        for (; n < N; n += 16) { /* a short last group is masked */
            const __mmask16 k = (__mmask16)(N - n >= 16 ? 0xFFFFu : (1u << (N - n)) - 1u);
            __m512 hn = _mm512_fmadd_ps(dA, _mm512_maskz_loadu_ps(k, hc + n),
                                        _mm512_mul_ps(xdt, _mm512_maskz_loadu_ps(k, B + n)));
            _mm512_mask_storeu_ps(hc + n, k, hn);
            va = _mm512_fmadd_ps(hn, _mm512_maskz_loadu_ps(k, C + n), va);
        }
        acc = _mm512_reduce_add_ps(va);
#elif defined(MAMBA__AVX2)
        const __m256 dA = _mm256_set1_ps(dAs), xdt = _mm256_set1_ps(xdts);
        __m256 va = _mm256_setzero_ps();
        for (; n + 8 <= N; n += 8) {
            __m256 hn = _mm256_fmadd_ps(dA, _mm256_loadu_ps(hc + n), _mm256_mul_ps(xdt, _mm256_loadu_ps(B + n)));
            _mm256_storeu_ps(hc + n, hn);
            va = _mm256_fmadd_ps(hn, _mm256_loadu_ps(C + n), va);
        }
        acc = mamba__hsum256(va);
#else
        const float32x4_t dA = vdupq_n_f32(dAs), xdt = vdupq_n_f32(xdts);
        float32x4_t va = vdupq_n_f32(0.0f);
        for (; n + 4 <= N; n += 4) {
            float32x4_t hn = vfmaq_f32(vmulq_f32(xdt, vld1q_f32(B + n)), dA, vld1q_f32(hc + n));
            vst1q_f32(hc + n, hn);
            va = vfmaq_f32(va, hn, vld1q_f32(C + n));
        }
        acc = vaddvq_f32(va);
#endif
        for (; n < N; n++) { /* the tail (AVX2, NEON) */
            hc[n] = dAs * hc[n] + xdts * B[n];
            acc += hc[n] * C[n];
        }
        s->y[(size_t)t * s->ldy + c] = acc + s->D[s->d_per_channel ? c : (size_t)hd] * xs;
    }
}
#define MAMBA__HAVE_SCAN_HEAD 1
#endif

#if defined(MAMBA__AVX512)
/* One Mamba-2 head over T tokens (mamba_forward), head_dim and d_state
   multiples of 16: 16 channels p of the head in the lanes, so C h sums
   over n inside each lane (no reduction across lanes), and a tile of
   16 channels x 16 states of h lives in 16 registers across a chunk of up
   to MAMBA__SH_CHUNK tokens (loaded and transposed once, transposed and
   stored back once per chunk: 64-token chunks paid ~15% of the scan in
   gathers and scatters, 256-token ones pay ~4x less). The
   decay of each of the chunk's tokens is taken once into dA[]. Per token
   and state: the multiply and two FMAs of mamba__scan_head, in the same
   rounding, and the n order of the sum; the tile's partial sums of C h
   wait in y between tiles of n. (Four partial sums instead of one chain
   of 16 FMAs measured no faster: the tokens' chains overlap.) */
/* The 16 registers of a tile, named h0 .. h15 so that they stay registers:
   as an array indexed in a loop, gcc 12 kept h on the stack and every
   update went through a store and a load (the scans ran at half speed). */
#define MAMBA__SH_CHUNK 256
#define MAMBA__REP16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define MAMBA__SH_LOAD(j) __m512 h##j = r[j];
#define MAMBA__SH_SAVE(j) r[j] = h##j;
#define MAMBA__SH_STEP(j)                                                     \
    h##j = _mm512_fmadd_ps(a, h##j, _mm512_mul_ps(xdt, _mm512_set1_ps(B[j]))); \
    acc = _mm512_fmadd_ps(h##j, _mm512_set1_ps(C[j]), acc);
/* r[i] lane j <- r[j] lane i: a 16 x 16 transpose in 64 shuffles (pairs
   of floats, pairs of pairs, then the 4 x 4 blocks of 128 bits), its own
   inverse. It turns 16 rows of the state (16 states of one channel each,
   contiguous) into a tile with the channels in lanes, and back: 16 loads
   and 64 shuffles where a gather of 16 lines each took ~4x as long. */
static void mamba__tr16(__m512 r[16])
{
    __m512 t[16];
    int i, k;
    for (i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (i = 0; i < 16; i += 4) { /* r[i + k], 128-bit lane L: rows i .. i+3 of column 4L + k */
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    for (k = 0; k < 4; k++) { /* the 4 x 4 blocks of r[k], r[4 + k], r[8 + k], r[12 + k] */
        const __m512 u0 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x44), u1 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xEE);
        const __m512 u2 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x44);
        const __m512 u3 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xEE);
        t[k] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[4 + k] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
        t[8 + k] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[12 + k] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
    }
    for (i = 0; i < 16; i++) r[i] = t[i];
}

static void mamba__scan_head16(const mamba__scan_io *s, int hd, int T)
{
    const int P = s->head_dim, N = s->d_state;
    const size_t g = (size_t)(hd / (s->n_head / s->n_group)) * (size_t)N, c0 = (size_t)hd * (size_t)P;
    float *hh = s->h + c0 * (size_t)N;
    float dA[MAMBA__SH_CHUNK];
    __m512 r[16];
    int t0, p0, n0, t, j;
    for (t0 = 0; t0 < T; t0 += MAMBA__SH_CHUNK) {
        const int tn = T - t0 < MAMBA__SH_CHUNK ? T - t0 : MAMBA__SH_CHUNK;
        for (t = 0; t < tn; t++) dA[t] = expf(s->delta[((size_t)t0 + (size_t)t) * s->ldd + (size_t)hd] * s->A[hd]);
        for (p0 = 0; p0 < P; p0 += 16) {
            for (n0 = 0; n0 < N; n0 += 16) {
                float *hb = hh + (size_t)p0 * (size_t)N + (size_t)n0;
                for (j = 0; j < 16; j++) r[j] = _mm512_loadu_ps(hb + (size_t)j * (size_t)N); /* channel p0 + j */
                mamba__tr16(r); /* r[j] lane i: channel p0 + i, state n0 + j */
                {
                MAMBA__REP16(MAMBA__SH_LOAD)
                for (t = 0; t < tn; t++) {
                    const size_t tt = (size_t)t0 + (size_t)t;
                    const float *B = s->B + tt * s->ldbc + g + n0, *C = s->C + tt * s->ldbc + g + n0;
                    float *yt = s->y + tt * s->ldy + c0 + (size_t)p0;
                    const __m512 a = _mm512_set1_ps(dA[t]);
                    const __m512 xdt = _mm512_mul_ps(_mm512_loadu_ps(s->x + tt * s->ldx + c0 + (size_t)p0),
                                                     _mm512_set1_ps(s->delta[tt * s->ldd + (size_t)hd]));
                    __m512 acc = n0 ? _mm512_loadu_ps(yt) : _mm512_setzero_ps();
                    MAMBA__REP16(MAMBA__SH_STEP)
                    _mm512_storeu_ps(yt, acc);
                }
                MAMBA__REP16(MAMBA__SH_SAVE)
                }
                mamba__tr16(r);
                for (j = 0; j < 16; j++) _mm512_storeu_ps(hb + (size_t)j * (size_t)N, r[j]);
            }
        }
    }
    for (t = 0; t < T; t++) /* y += D x */
        for (p0 = 0; p0 < P; p0 += 16) {
            const size_t c = c0 + (size_t)p0;
            float *yt = s->y + (size_t)t * s->ldy + c;
            const __m512 x = _mm512_loadu_ps(s->x + (size_t)t * s->ldx + c);
            const __m512 D = s->d_per_channel ? _mm512_loadu_ps(s->D + c) : _mm512_set1_ps(s->D[hd]);
            _mm512_storeu_ps(yt, _mm512_add_ps(_mm512_loadu_ps(yt), _mm512_mul_ps(D, x)));
        }
}
#endif

#if defined(MAMBA__AVX512) || defined(MAMBA__AVX2)
/* The chunked "SSD" form of the same scan (Dao & Gu 2024, ssd_minimal_
   discrete), one Mamba-2 head over T tokens, for head_dim 64 and d_state a
   multiple of 16 up to 128, AVX-512 and AVX2 (CONFIG: MAMBA_SSD_CHUNK picks it in
   mamba_forward; by default the recurrence above runs, see >>forward for
   the measurement). Inside a chunk of q <= Q tokens, with a = A[hd] and
   cum_i = sum_{k <= i} Delta_k a (the chunk's own tokens, in double):

       y_i = exp(cum_i) C_i . S0                       Y_off: the state at
           + sum_{j <= i} exp(cum_i - cum_j)               the chunk's start
                          (C_i . B_j) Delta_j x_j      Y_diag: (L o C B^T) X
           + D x_i
       S   = exp(cum_{q-1}) S0                         the state carried
           + sum_j exp(cum_{q-1} - cum_j) Delta_j x_j B_j^T     to the next

   which is the recurrence S <- exp(Delta_i a) S + Delta_i x_i B_i^T,
   y_i = C_i . S + D x_i unrolled over the chunk (decays multiply, so they
   add in the exponent). All three parts are matrix products, run here as
   register tiles of 4 rows by 64 lanes: C B^T (q x q x N, lanes over j),
   Y (q x (N + q) x P, lanes over the head's 64 channels) and the new state
   (N x q x P). Per token: N P + q P / 2 + q N / 2 multiply-adds for y and
   N P for the state, against the recurrence's 2 N P and N P multiplies.
   The state is held transposed, St[n][p], for the head's T tokens. Results
   differ from the recurrence's in rounding (tests/test_simd.c holds them
   within 1e-5), and depend on where chunks start: here at multiples of Q
   from the block's first token. */
#define MAMBA__SSD_QMAX 256
#define MAMBA__SSD_NMAX 128
#define MAMBA__SSD_P 64
static MAMBA__MAYBE_UNUSED int mamba__ssd_fits(const mamba__scan_io *s, int Q)
{
    return s->head_dim == MAMBA__SSD_P && s->d_state % 16 == 0 && s->d_state <= MAMBA__SSD_NMAX && Q >= 16 &&
           Q <= MAMBA__SSD_QMAX && Q % 16 == 0 && !s->a_per_state;
}
/* The parts of mamba__ssd_head that are the same for every ISA, in plain C
   (products, no sums: the same bits as the vector code would give).
   The head's state hh[p][n] in or out of its transposed copy St[n][p]: */
static MAMBA__MAYBE_UNUSED void mamba__ssd_state_io(float *St, float *hh, int N, int in)
{
    size_t p, n;
    for (p = 0; p < MAMBA__SSD_P; p++)
        for (n = 0; n < (size_t)N; n++) {
            if (in)
                St[n * MAMBA__SSD_P + p] = hh[p * (size_t)N + n];
            else
                hh[p * (size_t)N + n] = St[n * MAMBA__SSD_P + p];
        }
}
/* a chunk of q tokens from t0: cd[i] = cum_i in double (lanes i = q .. qpad - 1
   repeat cum_{q-1}, masked by the caller), E[i] = exp(cum_i), and per token
   xd_j = Delta_j x_j and xe_j = exp(cum_{q-1} - cum_j) xd_j (64 floats each) */
static MAMBA__MAYBE_UNUSED void mamba__ssd_chunk_in(const mamba__scan_io *s, int hd, int t0, int q, int qpad,
                                                    double *cd, float *E, float *xd, float *xe)
{
    const double a = (double)s->A[hd];
    const size_t c0 = (size_t)hd * MAMBA__SSD_P;
    double c = 0.0;
    int i;
    size_t p;
    for (i = 0; i < q; i++) {
        c += (double)s->delta[((size_t)t0 + (size_t)i) * s->ldd + (size_t)hd] * a;
        cd[i] = c;
        E[i] = expf((float)c);
    }
    for (; i < qpad; i++) cd[i] = c;
    for (i = 0; i < q; i++) {
        const size_t tt = (size_t)t0 + (size_t)i;
        const float dt = s->delta[tt * s->ldd + (size_t)hd], e = expf((float)(cd[q - 1] - cd[i]));
        const float *xi = s->x + tt * s->ldx + c0;
        for (p = 0; p < MAMBA__SSD_P; p++) {
            const float v = dt * xi[p];
            xd[(size_t)i * MAMBA__SSD_P + p] = v;
            xe[(size_t)i * MAMBA__SSD_P + p] = e * v;
        }
    }
}
#if defined(MAMBA__AVX512)
/* acc##r##k: row r (of 4), lanes 16 k .. 16 k + 15 (of 64) */
#define MAMBA__SSD_REP4(M, r) M(r, 0) M(r, 1) M(r, 2) M(r, 3)
#define MAMBA__SSD_REP44(M) MAMBA__SSD_REP4(M, 0) MAMBA__SSD_REP4(M, 1) MAMBA__SSD_REP4(M, 2) MAMBA__SSD_REP4(M, 3)
#define MAMBA__SSD_DECL(r, k) __m512 acc##r##k = _mm512_setzero_ps();
/* acc[r][k] += w[r] * v[k]: w a row's scalar, v 64 floats at src */
#define MAMBA__SSD_FMA(r, k) acc##r##k = _mm512_fmadd_ps(w##r, v##k, acc##r##k);
/* acc[r][k] *= w[r] */
#define MAMBA__SSD_SCALE(r, k) acc##r##k = _mm512_mul_ps(w##r, acc##r##k);
/* acc[r][k] = w[r] St[n + r][16 k ..], and back */
#define MAMBA__SSD_LOAD(r, k) acc##r##k = _mm512_mul_ps(w##r, _mm512_loadu_ps(St + (size_t)(n + (r)) * P + 16 * (k)));
#define MAMBA__SSD_STORE(r, k) _mm512_storeu_ps(St + (size_t)(n + (r)) * P + 16 * (k), acc##r##k);
/* y of token i + r (when in the chunk), lanes 16 k ..: acc + D x */
#define MAMBA__SSD_Y(r, k)                                                                                     \
    if (i + (r) < q) {                                                                                         \
        const size_t tt = (size_t)t0 + (size_t)(i + (r)), cc = c0 + 16 * (size_t)(k);                           \
        const __m512 x = _mm512_loadu_ps(s->x + tt * s->ldx + cc);                                             \
        const __m512 D = s->d_per_channel ? _mm512_loadu_ps(s->D + cc) : _mm512_set1_ps(s->D[hd]);             \
        _mm512_storeu_ps(s->y + tt * s->ldy + cc, _mm512_fmadd_ps(D, x, acc##r##k));                            \
    }
static MAMBA__MAYBE_UNUSED void mamba__ssd_head(const mamba__scan_io *s, int hd, int T, int Q)
{
    enum { QM = MAMBA__SSD_QMAX, NM = MAMBA__SSD_NMAX, P = MAMBA__SSD_P };
    float St[NM * P];          /* the state, transposed: St[n][p] */
    float xd[QM * P], xe[QM * P]; /* Delta_j x_j, and exp(cum_{q-1} - cum_j) Delta_j x_j */
    float Bt[NM * (QM + 16)];  /* B transposed, Bt[n][j], rows ldb apart */
    float Mr[4 * QM];          /* 4 rows of exp(cum_i - cum_j) C_i . B_j, 0 above the diagonal */
    double cd[QM + 16];
    float E[QM];
    const int N = s->d_state;
    const size_t g = (size_t)(hd / (s->n_head / s->n_group)) * (size_t)N, c0 = (size_t)hd * (size_t)P;
    float *hh = s->h + c0 * (size_t)N;
    int t0, i, j, n;
    mamba__ssd_state_io(St, hh, N, 1);
    for (t0 = 0; t0 < T; t0 += Q) {
        const int q = T - t0 < Q ? T - t0 : Q, q16 = (q + 15) & ~15;
        const size_t ldb = (size_t)q16 + 16; /* + 16: rows 1 KB apart would share 4 sets of L1 */
        float Elast;
        mamba__ssd_chunk_in(s, hd, t0, q, q16, cd, E, xd, xe);
        Elast = E[q - 1];
        for (j = 0; j < q16; j += 16) /* Bt by 16 x 16 tiles (rows past the chunk repeat its last: masked) */
            for (n = 0; n < N; n += 16) {
                __m512 r[16];
                int l;
                for (l = 0; l < 16; l++)
                    r[l] = _mm512_loadu_ps(s->B + ((size_t)t0 + (size_t)(j + l < q ? j + l : q - 1)) * s->ldbc + g +
                                           (size_t)n);
                mamba__tr16(r);
                for (l = 0; l < 16; l++) _mm512_storeu_ps(Bt + (size_t)(n + l) * ldb + (size_t)j, r[l]);
            }
        /* y, 4 tokens at a time (a short last group repeats its last row) */
        for (i = 0; i < q; i += 4) {
            const float *Cr[4];
            int r, jv, nj = (i + 3 < q ? i + 3 : q - 1) / 16 + 1; /* j vectors up to the diagonal */
            for (r = 0; r < 4; r++)
                Cr[r] = s->C + ((size_t)t0 + (size_t)(i + r < q ? i + r : q - 1)) * s->ldbc + g;
            /* Mr[r][j] = exp(cum_i - cum_j) C_i . B_j for j <= i, else 0 */
            for (jv = 0; jv < nj; jv++) {
                __m512 m0 = _mm512_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
                for (n = 0; n < N; n++) {
                    const __m512 b = _mm512_loadu_ps(Bt + (size_t)n * ldb + (size_t)jv * 16);
                    m0 = _mm512_fmadd_ps(_mm512_set1_ps(Cr[0][n]), b, m0);
                    m1 = _mm512_fmadd_ps(_mm512_set1_ps(Cr[1][n]), b, m1);
                    m2 = _mm512_fmadd_ps(_mm512_set1_ps(Cr[2][n]), b, m2);
                    m3 = _mm512_fmadd_ps(_mm512_set1_ps(Cr[3][n]), b, m3);
                }
                for (r = 0; r < 4; r++) {
                    const int ir = i + r < q ? i + r : q - 1, j0 = jv * 16;
                    const __m512 m = r == 0 ? m0 : r == 1 ? m1 : r == 2 ? m2 : m3;
                    const __m512d ci = _mm512_set1_pd(cd[ir]);
                    const __m256 lo = _mm512_cvtpd_ps(_mm512_sub_pd(ci, _mm512_loadu_pd(cd + j0)));
                    const __m256 hi = _mm512_cvtpd_ps(_mm512_sub_pd(ci, _mm512_loadu_pd(cd + j0 + 8)));
                    const __m512 d = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)),
                                                                         _mm256_castps_pd(hi), 1));
                    /* j <= ir only: above the diagonal exp would overflow, and inf 0 is NaN */
                    const __mmask16 k =
                        (__mmask16)(ir - j0 >= 15 ? 0xFFFFu : ir < j0 ? 0u : (1u << (ir - j0 + 1)) - 1u);
                    _mm512_storeu_ps(Mr + (size_t)r * QM + (size_t)j0,
                                     _mm512_maskz_mul_ps(k, mamba__vexp16(_mm512_maskz_mov_ps(k, d)), m));
                }
            }
            {
                MAMBA__SSD_REP44(MAMBA__SSD_DECL)
                __m512 v0, v1, v2, v3, w0, w1, w2, w3;
                int jn = (i + 3 < q ? i + 3 : q - 1) + 1;
                for (n = 0; n < N; n++) { /* Y_off before its scale: C_i . S0 */
                    const float *sn = St + (size_t)n * P;
                    v0 = _mm512_loadu_ps(sn), v1 = _mm512_loadu_ps(sn + 16);
                    v2 = _mm512_loadu_ps(sn + 32), v3 = _mm512_loadu_ps(sn + 48);
                    w0 = _mm512_set1_ps(Cr[0][n]), w1 = _mm512_set1_ps(Cr[1][n]);
                    w2 = _mm512_set1_ps(Cr[2][n]), w3 = _mm512_set1_ps(Cr[3][n]);
                    MAMBA__SSD_REP44(MAMBA__SSD_FMA)
                }
                w0 = _mm512_set1_ps(E[i]), w1 = _mm512_set1_ps(E[i + 1 < q ? i + 1 : q - 1]);
                w2 = _mm512_set1_ps(E[i + 2 < q ? i + 2 : q - 1]), w3 = _mm512_set1_ps(E[i + 3 < q ? i + 3 : q - 1]);
                MAMBA__SSD_REP44(MAMBA__SSD_SCALE)
                for (j = 0; j < jn; j++) { /* Y_diag */
                    const float *xj = xd + (size_t)j * P;
                    v0 = _mm512_loadu_ps(xj), v1 = _mm512_loadu_ps(xj + 16);
                    v2 = _mm512_loadu_ps(xj + 32), v3 = _mm512_loadu_ps(xj + 48);
                    w0 = _mm512_set1_ps(Mr[j]), w1 = _mm512_set1_ps(Mr[QM + j]);
                    w2 = _mm512_set1_ps(Mr[2 * QM + j]), w3 = _mm512_set1_ps(Mr[3 * QM + j]);
                    MAMBA__SSD_REP44(MAMBA__SSD_FMA)
                }
                MAMBA__SSD_REP44(MAMBA__SSD_Y)
            }
        }
        /* the state: St[n] = exp(cum_{q-1}) St[n] + sum_j B_j[n] xe_j, 4 states at a time */
        for (n = 0; n < N; n += 4) {
            MAMBA__SSD_REP44(MAMBA__SSD_DECL)
            __m512 v0, v1, v2, v3, w0 = _mm512_set1_ps(Elast), w1 = w0, w2 = w0, w3 = w0;
            MAMBA__SSD_REP44(MAMBA__SSD_LOAD)
            for (j = 0; j < q; j++) {
                const float *xj = xe + (size_t)j * P, *Bj = s->B + ((size_t)t0 + (size_t)j) * s->ldbc + g + n;
                v0 = _mm512_loadu_ps(xj), v1 = _mm512_loadu_ps(xj + 16);
                v2 = _mm512_loadu_ps(xj + 32), v3 = _mm512_loadu_ps(xj + 48);
                w0 = _mm512_set1_ps(Bj[0]), w1 = _mm512_set1_ps(Bj[1]);
                w2 = _mm512_set1_ps(Bj[2]), w3 = _mm512_set1_ps(Bj[3]);
                MAMBA__SSD_REP44(MAMBA__SSD_FMA)
            }
            MAMBA__SSD_REP44(MAMBA__SSD_STORE)
        }
    }
    mamba__ssd_state_io(St, hh, N, 0);
}
#else
/* AVX2: the same kernel in 8-lane registers. Sixteen of them cannot hold
   a 4 x 64 tile, so a tile is 4 rows by 16 lanes (8 accumulators, two
   input vectors, the four rows' broadcasts) and each row group goes over
   the head's 64 channels in 4 strips; B is transposed by plain copies.
   The same sums in the same order per output, so the same error bound
   (tests/test_simd.c). */
/* acc##r##k: row r (of 4), lanes 8 k .. 8 k + 7 of the strip (of 16) */
#define MAMBA__SSD8_REP(M) M(0, 0) M(0, 1) M(1, 0) M(1, 1) M(2, 0) M(2, 1) M(3, 0) M(3, 1)
#define MAMBA__SSD8_DECL(r, k) __m256 acc##r##k = _mm256_setzero_ps();
#define MAMBA__SSD8_FMA(r, k) acc##r##k = _mm256_fmadd_ps(w##r, v##k, acc##r##k);
#define MAMBA__SSD8_SCALE(r, k) acc##r##k = _mm256_mul_ps(w##r, acc##r##k);
#define MAMBA__SSD8_LOAD(r, k) \
    acc##r##k = _mm256_mul_ps(w##r, _mm256_loadu_ps(St + (size_t)(n + (r)) * P + (size_t)p0 + 8 * (k)));
#define MAMBA__SSD8_STORE(r, k) _mm256_storeu_ps(St + (size_t)(n + (r)) * P + (size_t)p0 + 8 * (k), acc##r##k);
#define MAMBA__SSD8_Y(r, k)                                                                                    \
    if (i + (r) < q) {                                                                                         \
        const size_t tt = (size_t)t0 + (size_t)(i + (r)), cc = c0 + (size_t)p0 + 8 * (size_t)(k);              \
        const __m256 x = _mm256_loadu_ps(s->x + tt * s->ldx + cc);                                             \
        const __m256 D = s->d_per_channel ? _mm256_loadu_ps(s->D + cc) : _mm256_set1_ps(s->D[hd]);             \
        _mm256_storeu_ps(s->y + tt * s->ldy + cc, _mm256_fmadd_ps(D, x, acc##r##k));                            \
    }
static MAMBA__MAYBE_UNUSED void mamba__ssd_head(const mamba__scan_io *s, int hd, int T, int Q)
{
    enum { QM = MAMBA__SSD_QMAX, NM = MAMBA__SSD_NMAX, P = MAMBA__SSD_P };
    float St[NM * P];             /* the state, transposed: St[n][p] */
    float xd[QM * P], xe[QM * P]; /* Delta_j x_j, and exp(cum_{q-1} - cum_j) Delta_j x_j */
    float Bt[NM * (QM + 8)];      /* B transposed, Bt[n][j], rows ldb apart */
    float Mr[4 * QM];             /* 4 rows of exp(cum_i - cum_j) C_i . B_j, 0 above the diagonal */
    double cd[QM + 8];
    float E[QM];
    const int N = s->d_state;
    const size_t g = (size_t)(hd / (s->n_head / s->n_group)) * (size_t)N, c0 = (size_t)hd * (size_t)P;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    float *hh = s->h + c0 * (size_t)N;
    int t0, i, j, n, p0;
    mamba__ssd_state_io(St, hh, N, 1);
    for (t0 = 0; t0 < T; t0 += Q) {
        const int q = T - t0 < Q ? T - t0 : Q, q8 = (q + 7) & ~7;
        const size_t ldb = (size_t)q8 + 8; /* + 8: rows 1 KB apart would share L1 sets */
        float Elast;
        mamba__ssd_chunk_in(s, hd, t0, q, q8, cd, E, xd, xe);
        Elast = E[q - 1];
        for (j = 0; j < q8; j++) { /* columns past the chunk repeat its last (masked) */
            const float *Bj = s->B + ((size_t)t0 + (size_t)(j < q ? j : q - 1)) * s->ldbc + g;
            for (n = 0; n < N; n++) Bt[(size_t)n * ldb + (size_t)j] = Bj[n];
        }
        for (i = 0; i < q; i += 4) { /* y, 4 tokens at a time (a short last group repeats its last row) */
            const float *Cr[4];
            int r, jv, nj = (i + 3 < q ? i + 3 : q - 1) / 8 + 1, jn = (i + 3 < q ? i + 3 : q - 1) + 1;
            for (r = 0; r < 4; r++)
                Cr[r] = s->C + ((size_t)t0 + (size_t)(i + r < q ? i + r : q - 1)) * s->ldbc + g;
            for (jv = 0; jv < nj; jv++) { /* Mr[r][j] = exp(cum_i - cum_j) C_i . B_j for j <= i, else 0 */
                __m256 m0 = _mm256_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
                for (n = 0; n < N; n++) {
                    const __m256 b = _mm256_loadu_ps(Bt + (size_t)n * ldb + (size_t)jv * 8);
                    m0 = _mm256_fmadd_ps(_mm256_set1_ps(Cr[0][n]), b, m0);
                    m1 = _mm256_fmadd_ps(_mm256_set1_ps(Cr[1][n]), b, m1);
                    m2 = _mm256_fmadd_ps(_mm256_set1_ps(Cr[2][n]), b, m2);
                    m3 = _mm256_fmadd_ps(_mm256_set1_ps(Cr[3][n]), b, m3);
                }
                for (r = 0; r < 4; r++) {
                    const int ir = i + r < q ? i + r : q - 1, j0 = jv * 8;
                    const __m256 m = r == 0 ? m0 : r == 1 ? m1 : r == 2 ? m2 : m3;
                    const __m256d ci = _mm256_set1_pd(cd[ir]);
                    const __m128 lo = _mm256_cvtpd_ps(_mm256_sub_pd(ci, _mm256_loadu_pd(cd + j0)));
                    const __m128 hi = _mm256_cvtpd_ps(_mm256_sub_pd(ci, _mm256_loadu_pd(cd + j0 + 4)));
                    /* j <= ir only: above the diagonal exp would overflow, and inf 0 is NaN */
                    const __m256 k = _mm256_castsi256_ps(
                        _mm256_cmpgt_epi32(_mm256_set1_epi32(ir - j0 + 1), lane));
                    const __m256 d = _mm256_and_ps(k, _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1));
                    _mm256_storeu_ps(Mr + (size_t)r * QM + (size_t)j0, _mm256_and_ps(k, _mm256_mul_ps(mamba__vexp8(d), m)));
                }
            }
            for (p0 = 0; p0 < P; p0 += 16) {
                MAMBA__SSD8_REP(MAMBA__SSD8_DECL)
                __m256 v0, v1, w0, w1, w2, w3;
                for (n = 0; n < N; n++) { /* Y_off before its scale: C_i . S0 */
                    const float *sn = St + (size_t)n * P + (size_t)p0;
                    v0 = _mm256_loadu_ps(sn), v1 = _mm256_loadu_ps(sn + 8);
                    w0 = _mm256_set1_ps(Cr[0][n]), w1 = _mm256_set1_ps(Cr[1][n]);
                    w2 = _mm256_set1_ps(Cr[2][n]), w3 = _mm256_set1_ps(Cr[3][n]);
                    MAMBA__SSD8_REP(MAMBA__SSD8_FMA)
                }
                w0 = _mm256_set1_ps(E[i]), w1 = _mm256_set1_ps(E[i + 1 < q ? i + 1 : q - 1]);
                w2 = _mm256_set1_ps(E[i + 2 < q ? i + 2 : q - 1]), w3 = _mm256_set1_ps(E[i + 3 < q ? i + 3 : q - 1]);
                MAMBA__SSD8_REP(MAMBA__SSD8_SCALE)
                for (j = 0; j < jn; j++) { /* Y_diag */
                    const float *xj = xd + (size_t)j * P + (size_t)p0;
                    v0 = _mm256_loadu_ps(xj), v1 = _mm256_loadu_ps(xj + 8);
                    w0 = _mm256_set1_ps(Mr[j]), w1 = _mm256_set1_ps(Mr[QM + j]);
                    w2 = _mm256_set1_ps(Mr[2 * QM + j]), w3 = _mm256_set1_ps(Mr[3 * QM + j]);
                    MAMBA__SSD8_REP(MAMBA__SSD8_FMA)
                }
                MAMBA__SSD8_REP(MAMBA__SSD8_Y)
            }
        }
        /* the state: St[n] = exp(cum_{q-1}) St[n] + sum_j B_j[n] xe_j, 4 states by 16 channels at a time */
        for (n = 0; n < N; n += 4)
            for (p0 = 0; p0 < P; p0 += 16) {
                MAMBA__SSD8_REP(MAMBA__SSD8_DECL)
                __m256 v0, v1, w0 = _mm256_set1_ps(Elast), w1 = w0, w2 = w0, w3 = w0;
                MAMBA__SSD8_REP(MAMBA__SSD8_LOAD)
                for (j = 0; j < q; j++) {
                    const float *xj = xe + (size_t)j * P + (size_t)p0, *Bj = s->B + ((size_t)t0 + (size_t)j) * s->ldbc + g + n;
                    v0 = _mm256_loadu_ps(xj), v1 = _mm256_loadu_ps(xj + 8);
                    w0 = _mm256_set1_ps(Bj[0]), w1 = _mm256_set1_ps(Bj[1]);
                    w2 = _mm256_set1_ps(Bj[2]), w3 = _mm256_set1_ps(Bj[3]);
                    MAMBA__SSD8_REP(MAMBA__SSD8_FMA)
                }
                MAMBA__SSD8_REP(MAMBA__SSD8_STORE)
            }
    }
    mamba__ssd_state_io(St, hh, N, 0);
}
#endif
#endif

#if defined(MAMBA__AVX512)
/* 16 Mamba-1 channels c0..c0+15 over T tokens, one lane per channel,
   d_state a multiple of 16. State indices go 16 at a time: h for 16
   channels x 16 states lives in 16 registers across all T tokens (gathered
   once, scattered back once); y[t] collects the partial sums of C h over
   the state chunks in n order, as the reference does. */
static void mamba__scan16(const mamba__scan_io *s, int c0, int T)
{
    const int d_state = s->d_state;
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(d_state));
    float *hb = s->h + (size_t)c0 * (size_t)d_state;
    const float *Ab = s->A + (size_t)c0 * (size_t)d_state;
    int n0, t, j;
    for (n0 = 0; n0 < d_state; n0 += 16) {
        __m512 hv[16], Av[16];
        for (j = 0; j < 16; j++) {
            hv[j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF, idx, hb + n0 + j, 4);
            Av[j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF, idx, Ab + n0 + j, 4);
        }
        for (t = 0; t < T; t++) {
            const float *B = s->B + (size_t)t * s->ldbc + n0, *C = s->C + (size_t)t * s->ldbc + n0;
            float *yt = s->y + (size_t)t * s->ldy + c0;
            __m512 dt = _mm512_loadu_ps(s->delta + (size_t)t * s->ldd + c0);
            __m512 dtx = _mm512_mul_ps(dt, _mm512_loadu_ps(s->x + (size_t)t * s->ldx + c0));
            __m512 acc = n0 ? _mm512_loadu_ps(yt) : _mm512_setzero_ps();
            for (j = 0; j < 16; j++) {
                __m512 dA = mamba__vexp16(_mm512_mul_ps(dt, Av[j]));
                hv[j] = _mm512_fmadd_ps(dA, hv[j], _mm512_mul_ps(dtx, _mm512_set1_ps(B[j])));
                acc = _mm512_fmadd_ps(hv[j], _mm512_set1_ps(C[j]), acc);
            }
            _mm512_storeu_ps(yt, acc);
        }
        for (j = 0; j < 16; j++) _mm512_i32scatter_ps(hb + n0 + j, idx, hv[j], 4);
    }
    for (t = 0; t < T; t++) { /* y += D x */
        float *yt = s->y + (size_t)t * s->ldy + c0;
        _mm512_storeu_ps(yt, _mm512_fmadd_ps(_mm512_loadu_ps(s->D + c0),
                                             _mm512_loadu_ps(s->x + (size_t)t * s->ldx + c0), _mm512_loadu_ps(yt)));
    }
}
#endif

/* The scan of a block of T tokens (T = 1 in mamba_step), heads across
   threads: Mamba-1's one-channel heads in groups of 16, any other shape one
   head at a time. Mamba-1's shape takes the SIMD kernels: with batched
   (mamba_forward) 16 channels in lanes (mamba__scan16, whose gathers pay
   off only over many tokens), else the state in lanes per channel
   (mamba__scan_channel); Mamba-2's (one A per head) the state in lanes per
   channel of a head (mamba__scan_head), token after token; any other shape
   the reference. Which kernel a
   channel takes depends on the shape and batched alone, never on T or the
   thread, so mamba_forward's results do not depend on its block size. */
static void mamba__scan(const mamba__scan_io *s, int T, int batched)
{
    const int N = s->d_state;
    const int mamba1 = s->head_dim == 1 && s->n_group == 1 && s->a_per_state;
    const int per = mamba1 ? 16 : 1, ng = (s->n_head + per - 1) / per; /* heads a thread's unit */
    const size_t work = (size_t)T * (size_t)s->n_head * (size_t)s->head_dim * (size_t)N;
    int g;
    int mamba__par = work >= (MAMBA__PAR_MIN_WORK + 7) / 8; /* exp-heavy: 8x the work per entry */
    (void)mamba__par;
    (void)batched;
    MAMBA__PARALLEL_FOR_IF
    for (g = 0; g < ng; g++) {
        const int h0 = per * g, h1 = h0 + per < s->n_head ? h0 + per : s->n_head;
        int c, t;
        if (!mamba1) {
#if defined(MAMBA__HAVE_SCAN_HEAD)
            if (!s->a_per_state) { /* Mamba-2: head h0 */
#if (defined(MAMBA__AVX512) || defined(MAMBA__AVX2)) && MAMBA_SSD_CHUNK > 0
                if (batched && mamba__ssd_fits(s, MAMBA_SSD_CHUNK)) {
                    mamba__ssd_head(s, h0, T, MAMBA_SSD_CHUNK);
                    continue;
                }
#endif
#if defined(MAMBA__AVX512)
                if (batched && s->head_dim % 16 == 0 && N % 16 == 0) {
                    mamba__scan_head16(s, h0, T);
                    continue;
                }
#endif
                for (t = 0; t < T; t++) mamba__scan_head(s, h0, t);
                continue;
            }
#endif
            mamba__scan_scalar(s, h0, h1, T);
            continue;
        }
#if defined(MAMBA__AVX512)
        if (batched && h1 - h0 == 16 && N % 16 == 0) {
            mamba__scan16(s, h0, T);
            continue;
        }
#endif
        for (c = h0; c < h1; c++) {
            float *hc = s->h + (size_t)c * (size_t)N;
            const float *Ac = s->A + (size_t)c * (size_t)N;
            MAMBA__SPREFETCH(s->h, ((size_t)c + MAMBA__SCAN_AHEAD) * (size_t)N * sizeof(float), (size_t)N * sizeof(float));
            for (t = 0; t < T; t++) {
                const float xc = s->x[(size_t)t * s->ldx + c];
                const float v = mamba__scan_channel(hc, Ac, s->delta[(size_t)t * s->ldd + c], xc,
                                                    s->B + (size_t)t * s->ldbc, s->C + (size_t)t * s->ldbc, N);
                s->y[(size_t)t * s->ldy + c] = v + s->D[c] * xc;
            }
        }
    }
}

/* The scan of Mamba-1 (heads = d_inner, head size 1, one group, A per
   (channel, state)) for one token. */
#define mamba__ssm_step_io(io, y, h, x, delta, A, B, C, D, d_inner, d_state) \
    mamba__scan_set(io, d_inner, 1, 1, d_state, 1, 0, A, D, h, x, delta, B, C, y)
/* One token of it for every channel, gate included (the shape
   tests/test_simd.c and test_kernels.c hold the kernels to): the fast
   kernels, and the reference. */
static MAMBA__MAYBE_UNUSED void mamba__ssm_step(float *y, float *h, const float *x, const float *z, const float *delta,
                                                const float *A, const float *B, const float *C, const float *D,
                                                int d_inner, int d_state)
{
    mamba__scan_io io;
    mamba__ssm_step_io(&io, y, h, x, delta, A, B, C, D, d_inner, d_state);
    mamba__scan(&io, 1, 0);
    mamba__gate(y, z, d_inner);
}
static MAMBA__MAYBE_UNUSED void mamba__ssm_step_scalar(float *y, float *h, const float *x, const float *z,
                                                       const float *delta, const float *A, const float *B,
                                                       const float *C, const float *D, int d_inner, int d_state)
{
    mamba__scan_io io;
    int c;
    mamba__ssm_step_io(&io, y, h, x, delta, A, B, C, D, d_inner, d_state);
    mamba__scan_scalar(&io, 0, d_inner, 1);
    for (c = 0; c < d_inner; c++) y[c] *= mamba__silu(z[c]);
}

/* -- Mamba-2's Delta and gated norm ------------------------------------------
   delta[h] = softplus(dt[h] + dt_bias[h]) for the H heads, then clamped to
   [lo, hi] unless that is [0, inf]: transformers' torch.clamp(dt,
   *time_step_limit) and the chunked mamba_ssm path's dt_limit. Mamba2.step
   has no clamp; with the default limit the clamp does nothing, so all
   agree there. */
static void mamba__delta_heads(float *delta, const float *dt, const float *dt_bias, int H, float lo, float hi)
{
    int h;
    for (h = 0; h < H; h++) delta[h] = dt[h] + dt_bias[h];
    mamba__softplus_n(delta, H);
    if (lo > 0.0f || hi < HUGE_VALF)
        for (h = 0; h < H; h++) delta[h] = delta[h] < lo ? lo : delta[h] > hi ? hi : delta[h];
}

/* The gated RMSNorm of Mamba-2 over y (n = d_inner channels in G groups):
     norm_before_gate = 0:  y = RMSNorm_g(y * SiLU(z)) * w     (the default)
     norm_before_gate = 1:  y = RMSNorm_g(y) * w * SiLU(z)
   RMSNorm_g takes the mean square over each group of n/G channels on its
   own: layernorm_gated.rms_norm_ref with group_size = d_ssm // ngroups, as
   Mamba2 builds its RMSNormGated, and as the fused kernel and llama.cpp
   compute it. (Not transformers' MambaRMSNormGated, nor mamba_ssm's
   mamba_split_conv1d_scan_ref, which normalise all of d_inner at once
   whatever n_groups is.) w NULL: no norm, y * SiLU(z) (rmsnorm=False). */
static void mamba__gated_norm(float *y, const float *z, const float *w, int n, int G, float eps,
                              int norm_before_gate)
{
    const int gs = n / G;
    int g;
    if (!w || !norm_before_gate) mamba__gate(y, z, n);
    if (!w) return;
    for (g = 0; g < G; g++)
        mamba__rmsnorm(y + (size_t)g * (size_t)gs, y + (size_t)g * (size_t)gs, w + (size_t)g * (size_t)gs, gs, eps);
    if (norm_before_gate) mamba__gate(y, z, n);
}

/* -- the matrix products of a block of tokens (mamba_forward) ------------- */
#ifdef MAMBA__SIMD
/* The block's matrix products,
       out[t][r] = sum_k W[r][k] X[t][k] (+ bias[r])          (F.linear)
   Decoding forms each output as a dot product of a weight row with x.
   Over a block the same sums are laid out as an outer product, the way
   BLAS kernels do it: a tile of MR = 6 weight rows by 64 tokens keeps its
   6 x 64 running sums in 24 registers of 16 lanes, one (row, token) sum per
   lane. For each k, one weight of each row is broadcast to all 16 lanes and
   multiplied into 16 tokens' inputs at once:

       acc[i][t0 .. t0+63] += W[r0+i][k] * X[t0 .. t0+63][k]     24 FMAs

   so every lane ends as a finished sum and nothing is added across lanes.
   Two copies make the loads cheap:
   - the block's inputs are transposed once per product into panels of 64
     tokens, xt[k][64], so a step's 4 input vectors are 256 bytes in a row,
     and a panel is one sequential stream through the k loop;
   - the weight rows are widened to f32, from whatever dtype the file
     stores (this is where f16, bf16 and q8 become f32; f32 rows are read
     where they lie), KC = 128 columns at a time, into panels that stay in
     cache while all the block's tokens pass under them: each weight is
     read from memory once per block and converted once, then used T times
     (the loop order: mamba__fw_rowblock).
   A step is 4 loads, 6 broadcasts and 24 FMAs: the FMAs set the pace.
   With AVX2 (16 registers of 8 lanes) a tile is 6 rows by 16 tokens, 12
   registers, and the input panels are 16 tokens wide (MAMBA__FW_PW); NEON
   does the same with 24 registers of 4 lanes, four tiles side by side
   across a 64-token panel.

   Rounding: a (row, token) sum adds k in order within a chain of 32
   columns, then adds the chain sums in order, never one chain of all K:
   long chains drift from mamba_step() (whose dot products sum partial sums
   pairwise), and 32 keeps a 2,000-token prompt within the 1e-5 the tests
   allow (docs/kernels-notes.md). That order depends on k alone, so a
   result is the same whatever the block size, the tile its token lands in,
   or the thread that computes it. No lane sums at the end of a tile: what
   the dot-product kernel this replaced lost 15-25% to. */
#define MAMBA__FW_MR 6     /* weight rows per tile */
#define MAMBA__FW_KC 128   /* columns per weight panel (6 x 128 floats); a 64-token input panel is 32 KB */
#define MAMBA__FW_CHAIN 32 /* columns per chain of sums (see Rounding) */
#define MAMBA__FW_TSUB 256 /* tokens per pass over a chunk (sums: 6 x 256 floats a tile) */
#define MAMBA__FW_MC 8     /* tiles (of 6 rows) per work item, at most (mamba__fw_rowblock) */
/* tokens per input panel (mamba__fw_pack_x, mamba__fw_rowblock) */
#ifdef MAMBA__AVX2
#define MAMBA__FW_PW 16
#else
#define MAMBA__FW_PW 64
#endif

/* An empty asm that claims to change v: the compiler must keep v in a
   register as it is. mamba__fw_tile64() uses it on its 4 input vectors,
   one of which gcc 12 otherwise keeps on the stack and reloads 6 times a
   step although registers are free. */
#if defined(__GNUC__) || defined(__clang__)
#define MAMBA__FW_KEEP(v) __asm__("" : "+v"(v))
#else
#define MAMBA__FW_KEEP(v) ((void)0)
#endif

#ifdef MAMBA__AVX512
/* A 16 x 16 transpose in registers: r[j] holds row j, then r[i] holds
   column i. Three rounds of shuffles, each pairing what the last one built:
   2 x 2 blocks of floats within 128-bit lanes (unpack), 4 x 4 (shuffle_ps),
   then the 128-bit lanes themselves (shuffle_f32x4, twice). */
static void mamba__fw_transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    int m, q;
    for (m = 0; m < 8; m++) {
        t[2 * m] = _mm512_unpacklo_ps(r[2 * m], r[2 * m + 1]);
        t[2 * m + 1] = _mm512_unpackhi_ps(r[2 * m], r[2 * m + 1]);
    }
    for (m = 0; m < 4; m++) { /* u[4m + q]: element q + 4L of rows 4m .. 4m+3 in lane L */
        u[4 * m] = _mm512_shuffle_ps(t[4 * m], t[4 * m + 2], 0x44);
        u[4 * m + 1] = _mm512_shuffle_ps(t[4 * m], t[4 * m + 2], 0xEE);
        u[4 * m + 2] = _mm512_shuffle_ps(t[4 * m + 1], t[4 * m + 3], 0x44);
        u[4 * m + 3] = _mm512_shuffle_ps(t[4 * m + 1], t[4 * m + 3], 0xEE);
    }
    for (q = 0; q < 4; q++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88), v1 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xDD);
        __m512 w0 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88), w1 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xDD);
        r[q] = _mm512_shuffle_f32x4(v0, w0, 0x88);
        r[q + 8] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
        r[q + 4] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        r[q + 12] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
    }
}
#endif

/* X (T rows, ldx floats apart, K columns) into panels: tokens t0 .. t0+w-1
   at xt + K*t0 as xt[k*w + j] = X[t0 + j][k]. Panels are w = PW tokens,
   then 16-token panels for what is left; tokens past T are zeros. */
static void mamba__fw_pack_x(float *xt, const float *X, int ldx, int K, int T)
{
    const int nfull = T / MAMBA__FW_PW, npanel = nfull + (T - MAMBA__FW_PW * nfull + 15) / 16;
    int p;
    MAMBA__PARALLEL_FOR_DYN
    for (p = 0; p < npanel; p++) {
        const int t0 = p < nfull ? MAMBA__FW_PW * p : MAMBA__FW_PW * nfull + 16 * (p - nfull);
        const int w = p < nfull ? MAMBA__FW_PW : 16;
        float *dst = xt + (size_t)K * (size_t)t0;
        int j, k;
#ifdef MAMBA__AVX512
        /* 16 tokens x 16 columns at a time, transposed in registers */
        const int n = T - t0 < w ? T - t0 : w;
        int j0, i;
        for (j0 = 0; j0 < w; j0 += 16)
            for (k = 0; k < K; k += 16) {
                const int kk = K - k < 16 ? K - k : 16;
                const __mmask16 mask = (__mmask16)((1u << kk) - 1u);
                __m512 r[16];
                for (j = 0; j < 16; j++)
                    r[j] = j0 + j < n ? _mm512_maskz_loadu_ps(mask, X + (size_t)(t0 + j0 + j) * (size_t)ldx + k)
                                      : _mm512_setzero_ps();
                mamba__fw_transpose16(r);
                for (i = 0; i < kk; i++) _mm512_storeu_ps(dst + (size_t)(k + i) * (size_t)w + j0, r[i]);
            }
        continue;
#endif
        for (j = 0; j < w; j++) {
            if (t0 + j < T) {
                const float *src = X + (size_t)(t0 + j) * (size_t)ldx;
                for (k = 0; k < K; k++) dst[(size_t)k * (size_t)w + (size_t)j] = src[k];
            } else
                for (k = 0; k < K; k++) dst[(size_t)k * (size_t)w + (size_t)j] = 0.0f;
        }
    }
}

#ifdef MAMBA__AVX512
/* One step of k for weight row i of the tile: broadcast, then FMAs. */
#define MAMBA__FW_ROW64(i)                                          \
    do {                                                            \
        const __m512 w = _mm512_set1_ps(wp[(i) * ldw + k]); \
        a##i##0 = _mm512_fmadd_ps(w, x0, a##i##0);                  \
        a##i##1 = _mm512_fmadd_ps(w, x1, a##i##1);                  \
        a##i##2 = _mm512_fmadd_ps(w, x2, a##i##2);                  \
        a##i##3 = _mm512_fmadd_ps(w, x3, a##i##3);                  \
    } while (0)
/* A chunk's sum into the tile's running sums: stored by the first chunk,
   added by the others (the chunk order of the rounding note above). */
#define MAMBA__FW_PUT(p, a) _mm512_storeu_ps((p), first ? (a) : _mm512_add_ps(_mm512_loadu_ps(p), (a)))
#define MAMBA__FW_PUT64(i)                                   \
    do {                                                     \
        float *o = res + (size_t)(i) * MAMBA__FW_TSUB;       \
        MAMBA__FW_PUT(o, a##i##0);                           \
        MAMBA__FW_PUT(o + 16, a##i##1);                      \
        MAMBA__FW_PUT(o + 32, a##i##2);                      \
        MAMBA__FW_PUT(o + 48, a##i##3);                      \
    } while (0)

/* The 6 x 64 tile over one chunk of kc columns: res[i][0..63] gets
   sum_k wp[i][k] * xt[k][0..63], weight row i at wp + i * ldw. xt is a
   64-token panel at the chunk. */
static void mamba__fw_tile64(float *res, const float *wp, int ldw, const float *xt, int kc, int first)
{
    int c, k;
    for (c = 0; c < kc; c += MAMBA__FW_CHAIN, first = 0) {
        const int end = kc - c < MAMBA__FW_CHAIN ? kc : c + MAMBA__FW_CHAIN;
        __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00;
        __m512 a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00;
        __m512 a33 = a00, a40 = a00, a41 = a00, a42 = a00, a43 = a00, a50 = a00, a51 = a00, a52 = a00;
        __m512 a53 = a00;
        for (k = c; k < end; k++) {
            const float *x = xt + (size_t)k * 64;
            __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
            __m512 x2 = _mm512_loadu_ps(x + 32), x3 = _mm512_loadu_ps(x + 48);
            MAMBA__FW_KEEP(x0); MAMBA__FW_KEEP(x1); MAMBA__FW_KEEP(x2); MAMBA__FW_KEEP(x3);
            MAMBA__FW_ROW64(0); MAMBA__FW_ROW64(1); MAMBA__FW_ROW64(2);
            MAMBA__FW_ROW64(3); MAMBA__FW_ROW64(4); MAMBA__FW_ROW64(5);
        }
        MAMBA__FW_PUT64(0); MAMBA__FW_PUT64(1); MAMBA__FW_PUT64(2);
        MAMBA__FW_PUT64(3); MAMBA__FW_PUT64(4); MAMBA__FW_PUT64(5);
    }
}

/* The same for 16 tokens (the block's last tokens), in a panel of w tokens:
   6 sums of 16 lanes, each formed exactly as a lane of mamba__fw_tile64()
   forms it. */
static void mamba__fw_tile16(float *res, const float *wp, int ldw, const float *xt, int w, int kc, int first)
{
    int c, k;
    for (c = 0; c < kc; c += MAMBA__FW_CHAIN, first = 0) {
        const int end = kc - c < MAMBA__FW_CHAIN ? kc : c + MAMBA__FW_CHAIN;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        for (k = c; k < end; k++) {
            const __m512 x = _mm512_loadu_ps(xt + (size_t)k * (size_t)w);
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(wp[k]), x, a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(wp[ldw + k]), x, a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(wp[2 * ldw + k]), x, a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(wp[3 * ldw + k]), x, a3);
            a4 = _mm512_fmadd_ps(_mm512_set1_ps(wp[4 * ldw + k]), x, a4);
            a5 = _mm512_fmadd_ps(_mm512_set1_ps(wp[5 * ldw + k]), x, a5);
        }
        MAMBA__FW_PUT(res, a0);
        MAMBA__FW_PUT(res + MAMBA__FW_TSUB, a1);
        MAMBA__FW_PUT(res + 2 * MAMBA__FW_TSUB, a2);
        MAMBA__FW_PUT(res + 3 * MAMBA__FW_TSUB, a3);
        MAMBA__FW_PUT(res + 4 * MAMBA__FW_TSUB, a4);
        MAMBA__FW_PUT(res + 5 * MAMBA__FW_TSUB, a5);
    }
}
#elif defined(MAMBA__NEON)
#define MAMBA__FW_PUT(p, a) vst1q_f32((p), first ? (a) : vaddq_f32(vld1q_f32(p), (a)))
#define MAMBA__FW_ROW16(i)                                              \
    do {                                                                \
        const float32x4_t w4 = vdupq_n_f32(wp[(i) * ldw + k]); \
        a##i##0 = vfmaq_f32(a##i##0, w4, x0);                           \
        a##i##1 = vfmaq_f32(a##i##1, w4, x1);                           \
        a##i##2 = vfmaq_f32(a##i##2, w4, x2);                           \
        a##i##3 = vfmaq_f32(a##i##3, w4, x3);                           \
    } while (0)
#define MAMBA__FW_PUT16(i)                                               \
    do {                                                                 \
        MAMBA__FW_PUT(res + (size_t)(i) * MAMBA__FW_TSUB, a##i##0);      \
        MAMBA__FW_PUT(res + (size_t)(i) * MAMBA__FW_TSUB + 4, a##i##1);  \
        MAMBA__FW_PUT(res + (size_t)(i) * MAMBA__FW_TSUB + 8, a##i##2);  \
        MAMBA__FW_PUT(res + (size_t)(i) * MAMBA__FW_TSUB + 12, a##i##3); \
    } while (0)
/* NEON (32 registers of 4 lanes): 6 rows by 16 tokens in 24 registers,
   the same sums in the same order as the x86 tiles. */
static void mamba__fw_tile16(float *res, const float *wp, int ldw, const float *xt, int w, int kc, int first)
{
    int c, k;
    for (c = 0; c < kc; c += MAMBA__FW_CHAIN, first = 0) {
        const int end = kc - c < MAMBA__FW_CHAIN ? kc : c + MAMBA__FW_CHAIN;
        float32x4_t a00 = vdupq_n_f32(0.0f), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00;
        float32x4_t a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00;
        float32x4_t a33 = a00, a40 = a00, a41 = a00, a42 = a00, a43 = a00, a50 = a00, a51 = a00, a52 = a00;
        float32x4_t a53 = a00;
        for (k = c; k < end; k++) {
            const float *x = xt + (size_t)k * (size_t)w;
            const float32x4_t x0 = vld1q_f32(x), x1 = vld1q_f32(x + 4), x2 = vld1q_f32(x + 8), x3 = vld1q_f32(x + 12);
            MAMBA__FW_ROW16(0); MAMBA__FW_ROW16(1); MAMBA__FW_ROW16(2);
            MAMBA__FW_ROW16(3); MAMBA__FW_ROW16(4); MAMBA__FW_ROW16(5);
        }
        MAMBA__FW_PUT16(0); MAMBA__FW_PUT16(1); MAMBA__FW_PUT16(2);
        MAMBA__FW_PUT16(3); MAMBA__FW_PUT16(4); MAMBA__FW_PUT16(5);
    }
}
#else /* MAMBA__AVX2 */
#define MAMBA__FW_PUT(p, a) _mm256_storeu_ps((p), first ? (a) : _mm256_add_ps(_mm256_loadu_ps(p), (a)))
#define MAMBA__FW_ROW16(i)                                                \
    do {                                                                  \
        const __m256 w8 = _mm256_broadcast_ss(wp + (i) * ldw + k); \
        a##i##0 = _mm256_fmadd_ps(w8, x0, a##i##0);                       \
        a##i##1 = _mm256_fmadd_ps(w8, x1, a##i##1);                       \
    } while (0)
#define MAMBA__FW_PUT16(i)                                          \
    do {                                                            \
        MAMBA__FW_PUT(res + (size_t)(i) * MAMBA__FW_TSUB, a##i##0);     \
        MAMBA__FW_PUT(res + (size_t)(i) * MAMBA__FW_TSUB + 8, a##i##1); \
    } while (0)
/* 6 rows by 16 tokens of a panel of w tokens, in 12 registers of 8 lanes;
   the same sums, in the same order, as the AVX-512 tiles. */
static void mamba__fw_tile16(float *res, const float *wp, int ldw, const float *xt, int w, int kc, int first)
{
    int c, k;
    for (c = 0; c < kc; c += MAMBA__FW_CHAIN, first = 0) {
        const int end = kc - c < MAMBA__FW_CHAIN ? kc : c + MAMBA__FW_CHAIN;
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
        __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
        for (k = c; k < end; k++) {
            const __m256 x0 = _mm256_loadu_ps(xt + (size_t)k * (size_t)w);
            const __m256 x1 = _mm256_loadu_ps(xt + (size_t)k * (size_t)w + 8);
            MAMBA__FW_ROW16(0); MAMBA__FW_ROW16(1); MAMBA__FW_ROW16(2);
            MAMBA__FW_ROW16(3); MAMBA__FW_ROW16(4); MAMBA__FW_ROW16(5);
        }
        MAMBA__FW_PUT16(0); MAMBA__FW_PUT16(1); MAMBA__FW_PUT16(2);
        MAMBA__FW_PUT16(3); MAMBA__FW_PUT16(4); MAMBA__FW_PUT16(5);
    }
}
#endif

/* Ask the cache for columns [k, k + KC) of rows r .. r+5 (fewer when n < 6)
   of W, which the next chunk of mamba__fw_rowblock() reads: the weights of
   a block come from DRAM once (for a model bigger than the cache), and
   this asks for them while the current chunk's FMAs run, instead of when
   the widening (or, for f32 read in place, the first tile) stalls on
   them. The offset of column k is taken in proportion along the row,
   which is near enough for any block layout. */
#if defined(__GNUC__) || defined(__clang__)
#define MAMBA__FW_PREFETCH(p) __builtin_prefetch(p)
#else
#define MAMBA__FW_PREFETCH(p) ((void)(p))
#endif
static void mamba__fw_prefetch(const mamba_matrix *W, int r, int n, int k)
{
    const size_t rb = mamba__row_bytes(W->dtype, W->cols);
    const size_t lo = rb * (size_t)k / (size_t)W->cols, kn = (size_t)k + MAMBA__FW_KC;
    const size_t hi = rb * (kn < (size_t)W->cols ? kn : (size_t)W->cols) / (size_t)W->cols;
    int i;
    for (i = 0; i < n && i < MAMBA__FW_MR; i++) {
        const unsigned char *row = (const unsigned char *)W->data + (size_t)(r + i) * rb;
        size_t b;
        for (b = lo; b < hi; b += 64) MAMBA__FW_PREFETCH(row + b);
    }
}

/* Rows r0 .. r0+nrows-1 (nrows <= MC x MR) of the product for tokens s0 ..
   s0+ns-1 (s0 a multiple of 64, ns <= TSUB; xt: the packed inputs of all T
   tokens): one work item of mamba__fw_matmul(). The loops
   are ordered so that every operand sits in the cache that suits how often
   it is read, as BLAS kernels do:
   - for a chunk of KC columns, the item's weights are widened once into
     wb (MC panels of 6 x KC floats, 24 KB, L1 and L2);
   - an input panel of those columns, PW x KC floats (64 tokens, 32 KB;
     16 tokens, 8 KB, with AVX2), is then loaded into L1 once and used by
     all the item's MC tiles, so the input vectors of a step come from L1
     (on a 32 KB L1 a 64-token panel did not stay there: the AVX2 product
     is faster with 16-token panels, docs/kernels-notes.md). Each input is
     used 6 times per load (6 rows a tile); streamed from L2 or beyond for
     every tile, as a loop over all of K for one tile at a time does, it
     held the FMAs back to half their rate (the inputs of a block are 1.5
     to 3 MB for mamba-790m's shapes: beyond L2);
   - the running sums res (the item's rows x up to 256 tokens, 48 KB) are read
     and written once per chain of 32 columns, and written to out at the
     end, 48 floats of a token in a row.
   Stack: wb and res, 72 KB. */
static void mamba__fw_rowblock(float *out, int ldo, const mamba_matrix *W, const float *bias, const float *xt, int T,
                               int s0, int ns, int r0, int nrows)
{
    const int K = W->cols, ng = (nrows + MAMBA__FW_MR - 1) / MAMBA__FW_MR;
    /* f32 rows are used where they lie (no copy; the last tile must not
       reach past the matrix): copying them cost 6% of the prompt in calls */
    const int direct = W->dtype == MAMBA_DTYPE_F32 && nrows == ng * MAMBA__FW_MR;
    const int ldw = direct ? K : MAMBA__FW_KC;
    float wb[MAMBA__FW_MC * MAMBA__FW_MR * MAMBA__FW_KC];
    float res[MAMBA__FW_MC * MAMBA__FW_MR * MAMBA__FW_TSUB];
    int k0, t0, g, i, t;
    /* rows past the matrix are zeros, computed and dropped */
    if (nrows < ng * MAMBA__FW_MR)
        memset(wb + (size_t)nrows * MAMBA__FW_KC, 0, sizeof(float) * (size_t)(ng * MAMBA__FW_MR - nrows) * MAMBA__FW_KC);
    for (k0 = 0; k0 < K; k0 += MAMBA__FW_KC) {
        const int kc = K - k0 < MAMBA__FW_KC ? K - k0 : MAMBA__FW_KC;
        if (!direct)
            for (i = 0; i < nrows; i++) mamba__dequant_cols(wb + (size_t)i * MAMBA__FW_KC, W, r0 + i, k0, kc);
        /* s0 is a multiple of 64, so PW-token steps meet the panels */
        for (t0 = s0; t0 < s0 + ns;) {
            const int w = T - t0 >= MAMBA__FW_PW ? MAMBA__FW_PW : 16;
            const float *xp = xt + (size_t)K * (size_t)t0 + (size_t)k0 * (size_t)w;
            for (g = 0; g < ng; g++) {
                float *rg = res + (size_t)g * MAMBA__FW_MR * MAMBA__FW_TSUB + (t0 - s0);
                const float *wp = direct ? (const float *)W->data + (size_t)(r0 + g * MAMBA__FW_MR) * (size_t)K + k0
                                         : wb + (size_t)g * MAMBA__FW_MR * MAMBA__FW_KC;
                if (t0 == s0 && k0 + kc < K) mamba__fw_prefetch(W, r0 + g * MAMBA__FW_MR, nrows - g * MAMBA__FW_MR, k0 + kc);
                if (w == 64) {
#ifdef MAMBA__AVX512
                    mamba__fw_tile64(rg, wp, ldw, xp, kc, k0 == 0);
#else
                    for (i = 0; i < 64; i += 16) mamba__fw_tile16(rg + i, wp, ldw, xp + i, 64, kc, k0 == 0);
#endif
                } else
                    mamba__fw_tile16(rg, wp, ldw, xp, 16, kc, k0 == 0); /* w = 16 */
            }
            t0 += w;
        }
    }
    for (t = 0; t < ns; t++) {
        float *o = out + (size_t)(s0 + t) * (size_t)ldo + r0;
        const float *rt = res + t;
        if (bias)
            for (i = 0; i < nrows; i++) o[i] = rt[(size_t)i * MAMBA__FW_TSUB] + bias[r0 + i];
        else
            for (i = 0; i < nrows; i++) o[i] = rt[(size_t)i * MAMBA__FW_TSUB];
    }
}
#endif /* MAMBA__SIMD */

/* out[t][r] = sum_k W[r][k] X[t][k] (+ bias[r])   for t < T, r < W->rows
   The block's F.linear: out = X W^T + b. out rows are ldo floats apart, X
   rows ldx floats apart (so a slice of a wider row can be an input); xt is
   scratch for the packed inputs (T rounded up to 16, times K floats).
   Threads share items of rows (6 at a time) by tokens; each output is
   summed within one item, whatever the split. With AVX-512, AVX2 or NEON
   this is the tiled product above, for every dtype; otherwise each (row,
   token) is mamba__dot_row(), the decode dot product, 4 rows at a time so
   that they stay in L1 while the block's tokens pass. */
static void mamba__fw_matmul(float *out, int ldo, const mamba_matrix *W, const float *bias, const float *X, int ldx,
                             int T, float *xt)
{
    const int rows = W->rows;
    int q;
#ifdef MAMBA__SIMD
    /* items of up to MC tiles, fewer for a matrix of few rows, so that
       there are enough items (8 when there can be) to share among threads */
    const int ng = (rows + MAMBA__FW_MR - 1) / MAMBA__FW_MR;
    const int per = ng / 8 < 1 ? 1 : ng / 8 > MAMBA__FW_MC ? MAMBA__FW_MC : ng / 8;
    const int rpi = per * MAMBA__FW_MR, ni = (rows + rpi - 1) / rpi;
    /* an item's tokens: as many (a multiple of 64, at most TSUB) as keep
       their packed inputs (ts x K floats) within 2 MB, which the items
       after it on the thread, the next rows, find again in L2; when one
       item took all the block's tokens, the inputs of a 512-token block
       (3 to 6 MB on mamba-790m's shapes) came from L3 for every item (the
       790m prompt: 3-10% more tokens per CPU second, docs/kernels-notes.md) */
    const int tfit = (int)(((size_t)1 << 19) / (size_t)W->cols) & ~63;
    const int ts = tfit < 64 ? 64 : tfit > MAMBA__FW_TSUB ? MAMBA__FW_TSUB : tfit, nsb = (T + ts - 1) / ts;
    mamba__fw_pack_x(xt, X, ldx, W->cols, T);
    MAMBA__PARALLEL_FOR_DYN
    for (q = 0; q < ni * nsb; q++) {
        const int sb = q / ni, ri = q - sb * ni; /* all rows of the first tokens, then the next tokens */
        mamba__fw_rowblock(out, ldo, W, bias, xt, T, sb * ts, T - sb * ts < ts ? T - sb * ts : ts, rpi * ri,
                           rows - rpi * ri < rpi ? rows - rpi * ri : rpi);
    }
#else
    const int nq = (rows + 3) / 4;
    (void)xt;
    MAMBA__PARALLEL_FOR
    for (q = 0; q < nq; q++) {
        const int r0 = 4 * q, nr = rows - r0 < 4 ? rows - r0 : 4;
        int i, t0;
        for (t0 = 0; t0 < T; t0++) {
            const float *x = X + (size_t)t0 * (size_t)ldx;
            for (i = 0; i < nr; i++) {
                float v = mamba__dot_row(W, r0 + i, x);
                out[(size_t)t0 * ldo + r0 + i] = bias ? v + bias[r0 + i] : v;
            }
        }
    }
#endif
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
/* ---- >>roles (the tensors of a model, per architecture) -------------- */

/* The tensor roles of the directory (docs/format.md, "Roles and
   shapes"), one line each. Everything the loader knows of a role comes from
   its line: its number in the file; its name (PyTorch's, for errors); one
   per model or one per layer; a weight matrix (stored in any weight type,
   loaded into a mamba_matrix) or f32 (a const float *); when the config
   calls for it (MAMBA__IF_*); its shape as named dimensions (MAMBA__DIM_*,
   cols NONE for a vector); and the field of mamba_model or mamba_layer it
   fills. From the table come the role numbers, the names, the expected
   shapes, the pointer assignment, the per-tensor finite check, the missing-
   tensor check and the bound on the tensor count. A new role is one line
   here, plus a dimension or a condition in mamba__arch_dims() if it needs a
   new one; a shape that depends on the architecture is a dimension that
   mamba__arch_dims() sizes per architecture. */
/*  X(ID,           num, name,              per,   kind, when,          rows,           cols,    field) */
#define MAMBA__ROLES(X)                                                                                    \
    X(EMBEDDING,       1, "embedding",       MODEL, MAT,  ALWAYS,        N_VOCAB_PADDED, D_MODEL, embedding)     \
    X(NORM_F,          2, "norm_f",          MODEL, F32,  ALWAYS,        D_MODEL,        NONE,    norm_f)        \
    X(LM_HEAD,         3, "lm_head",         MODEL, MAT,  UNTIED_HEAD,   N_VOCAB_PADDED, D_MODEL, lm_head)       \
    X(NORM,           16, "norm",            LAYER, F32,  ALWAYS,        D_MODEL,        NONE,    norm)          \
    X(IN_PROJ,        17, "in_proj.weight",  LAYER, MAT,  ALWAYS,        IN_PROJ_ROWS,   D_MODEL, in_proj)       \
    X(IN_PROJ_BIAS,   18, "in_proj.bias",    LAYER, F32,  IN_PROJ_BIAS,  IN_PROJ_ROWS,   NONE,    in_proj_bias)  \
    X(CONV_WEIGHT,    19, "conv1d.weight",   LAYER, F32,  ALWAYS,        CONV_DIM,       D_CONV,  conv_weight)   \
    X(CONV_BIAS,      20, "conv1d.bias",     LAYER, F32,  CONV_BIAS,     CONV_DIM,       NONE,    conv_bias)     \
    X(X_PROJ,         21, "x_proj.weight",   LAYER, MAT,  MAMBA1,        X_PROJ_ROWS,    D_INNER, x_proj)        \
    X(DT_PROJ,        22, "dt_proj.weight",  LAYER, MAT,  MAMBA1,        D_INNER,        DT_RANK, dt_proj)       \
    X(DT_BIAS,        23, "dt_proj.bias",    LAYER, F32,  ALWAYS,        N_HEADS,        NONE,    dt_bias)       \
    X(A,              24, "A",               LAYER, F32,  ALWAYS,        N_HEADS,        A_COLS,  A)             \
    X(D,              25, "D",               LAYER, F32,  ALWAYS,        D_ROWS,         NONE,    D)             \
    X(OUT_PROJ,       26, "out_proj.weight", LAYER, MAT,  ALWAYS,        D_MODEL,        D_INNER, out_proj)      \
    X(OUT_PROJ_BIAS,  27, "out_proj.bias",   LAYER, F32,  OUT_PROJ_BIAS, D_MODEL,        NONE,    out_proj_bias) \
    X(GATE_NORM,      28, "norm.weight (gated)", LAYER, F32, GATE_NORM,  D_INNER,        NONE,    gate_norm)

/* The named dimensions of the shapes above. */
enum {
    MAMBA__DIM_NONE,           /* no second axis: a vector */
    MAMBA__DIM_D_MODEL,
    MAMBA__DIM_D_INNER,
    MAMBA__DIM_D_STATE,
    MAMBA__DIM_D_CONV,
    MAMBA__DIM_DT_RANK,
    MAMBA__DIM_N_VOCAB_PADDED,
    MAMBA__DIM_IN_PROJ_ROWS,   /* rows of in_proj: Mamba-1 x then z, 2*d_inner */
    MAMBA__DIM_X_PROJ_ROWS,    /* rows of x_proj: delta, B, C, dt_rank + 2*d_state */
    MAMBA__DIM_CONV_DIM,       /* channels of the conv: Mamba-1 d_inner */
    MAMBA__DIM_CONV_WIDTH,     /* inputs a conv channel keeps in the state: Mamba-1 d_conv, the newest the current one */
    MAMBA__DIM_N_HEADS,        /* heads of the scan: Mamba-1 d_inner (every channel a head) */
    MAMBA__DIM_HEAD_DIM,       /* channels a head: Mamba-1 1 */
    MAMBA__DIM_A_COLS,         /* A per (head, state): Mamba-1 d_state; Mamba-2 0, a vector (one A a head) */
    MAMBA__DIM_D_ROWS,         /* D: Mamba-1 d_inner; Mamba-2 n_heads, or d_inner when per channel */
    MAMBA__DIM_COUNT
};

/* The conditions a role may be present under. */
enum {
    MAMBA__IF_ALWAYS,
    MAMBA__IF_CONV_BIAS,     /* flags bit 0 */
    MAMBA__IF_IN_PROJ_BIAS,  /* flags bit 1 */
    MAMBA__IF_OUT_PROJ_BIAS, /* flags bit 2 */
    MAMBA__IF_UNTIED_HEAD,   /* flags bit 3: an lm_head of its own */
    MAMBA__IF_MAMBA1,        /* the Mamba-1 family (arch 1, 2): delta through x_proj and dt_proj, A per (channel, state) */
    MAMBA__IF_GATE_NORM,     /* Mamba-2, flags bit 6: the gated RMSNorm */
    MAMBA__IF_COUNT
};

/* What the table's words stand for. */
#define MAMBA__PER_MODEL 0
#define MAMBA__PER_LAYER 1
#define MAMBA__PER_TYPE_MODEL mamba_model
#define MAMBA__PER_TYPE_LAYER mamba_layer
#define MAMBA__KIND_F32 0
#define MAMBA__KIND_MAT 1

/* the roles' numbers in the file: MAMBA__ROLE_EMBEDDING = 1, ... */
#define MAMBA__ROLE_NUMBER(id, num, ...) MAMBA__ROLE_##id = num,
enum { MAMBA__ROLES(MAMBA__ROLE_NUMBER) MAMBA__ROLE_NUMBERS_END };
#undef MAMBA__ROLE_NUMBER
/* their places in the table, and how many there are (MAMBA__ROLE_COUNT) */
#define MAMBA__ROLE_INDEX(id, ...) MAMBA__ROLE_AT_##id,
enum { MAMBA__ROLES(MAMBA__ROLE_INDEX) MAMBA__ROLE_COUNT };
#undef MAMBA__ROLE_INDEX

typedef struct mamba__role {
    uint32_t num;                 /* in the file's directory */
    const char *name;             /* for errors (m->error_role) */
    unsigned char per_layer;      /* MAMBA__PER_* */
    unsigned char matrix;         /* MAMBA__KIND_*: a mamba_matrix of any weight type, else f32 */
    unsigned char when;           /* MAMBA__IF_* */
    unsigned char rows, cols;     /* MAMBA__DIM_* */
    size_t field;                 /* offset of its pointer or mamba_matrix in mamba_model or mamba_layer */
} mamba__role;

#define MAMBA__ROLE_ROW(id, num, name, per, kind, when, rows, cols, field)                                \
    {num, name, MAMBA__PER_##per, MAMBA__KIND_##kind, MAMBA__IF_##when, MAMBA__DIM_##rows, MAMBA__DIM_##cols, \
     offsetof(MAMBA__PER_TYPE_##per, field)},
static const mamba__role mamba__roles[MAMBA__ROLE_COUNT] = {MAMBA__ROLES(MAMBA__ROLE_ROW)};
#undef MAMBA__ROLE_ROW

/* The role with number num in the file, or NULL. */
static const mamba__role *mamba__role_find(uint32_t num)
{
    int i;
    for (i = 0; i < MAMBA__ROLE_COUNT; i++)
        if (mamba__roles[i].num == num) return &mamba__roles[i];
    return NULL;
}

/* The sizes of the named dimensions for this config, and which conditions
   hold: the one place where the architecture decides a tensor's shape or
   presence, and the sizes of the state (mamba__state_shape). The loader's
   limits keep every size far below 2^32. */
static void mamba__arch_dims(const mamba_config *c, uint32_t dim[MAMBA__DIM_COUNT], unsigned char on[MAMBA__IF_COUNT])
{
    uint32_t di = (uint32_t)c->d_inner, ds = (uint32_t)c->d_state;
    dim[MAMBA__DIM_NONE] = 0;
    dim[MAMBA__DIM_D_MODEL] = (uint32_t)c->d_model;
    dim[MAMBA__DIM_D_INNER] = di;
    dim[MAMBA__DIM_D_STATE] = ds;
    dim[MAMBA__DIM_D_CONV] = (uint32_t)c->d_conv;
    dim[MAMBA__DIM_DT_RANK] = (uint32_t)c->dt_rank;
    dim[MAMBA__DIM_N_VOCAB_PADDED] = (uint32_t)c->n_vocab_padded;
    if (c->arch == MAMBA_ARCH_MAMBA2) {
        /* Mamba-2: in_proj gives z, then x, B, C (through the conv), then dt per head */
        uint32_t conv = di + 2 * (uint32_t)c->n_groups * ds;
        dim[MAMBA__DIM_IN_PROJ_ROWS] = di + conv + (uint32_t)c->n_heads;
        dim[MAMBA__DIM_X_PROJ_ROWS] = 0;
        dim[MAMBA__DIM_CONV_DIM] = conv;
        dim[MAMBA__DIM_CONV_WIDTH] = (uint32_t)c->d_conv;
        dim[MAMBA__DIM_N_HEADS] = (uint32_t)c->n_heads;
        dim[MAMBA__DIM_HEAD_DIM] = (uint32_t)c->head_dim;
        dim[MAMBA__DIM_A_COLS] = 0;
        dim[MAMBA__DIM_D_ROWS] = c->d_per_channel ? di : (uint32_t)c->n_heads;
    } else {
        /* Mamba-1 and Falcon-Mamba: every channel a head of one */
        dim[MAMBA__DIM_IN_PROJ_ROWS] = 2 * di;
        dim[MAMBA__DIM_X_PROJ_ROWS] = (uint32_t)c->dt_rank + 2 * ds;
        dim[MAMBA__DIM_CONV_DIM] = di;
        dim[MAMBA__DIM_CONV_WIDTH] = (uint32_t)c->d_conv;
        dim[MAMBA__DIM_N_HEADS] = di;
        dim[MAMBA__DIM_HEAD_DIM] = 1;
        dim[MAMBA__DIM_A_COLS] = ds;
        dim[MAMBA__DIM_D_ROWS] = di;
    }
    on[MAMBA__IF_ALWAYS] = 1;
    on[MAMBA__IF_CONV_BIAS] = (unsigned char)c->conv_bias;
    on[MAMBA__IF_IN_PROJ_BIAS] = (unsigned char)c->in_proj_bias;
    on[MAMBA__IF_OUT_PROJ_BIAS] = (unsigned char)c->out_proj_bias;
    on[MAMBA__IF_UNTIED_HEAD] = (unsigned char)!c->tied_lm_head;
    on[MAMBA__IF_MAMBA1] = (unsigned char)(c->arch == MAMBA_ARCH_MAMBA1 || c->arch == MAMBA_ARCH_FALCON);
    on[MAMBA__IF_GATE_NORM] = (unsigned char)(c->arch == MAMBA_ARCH_MAMBA2 && c->gate_norm);
}

/* One of the named dimensions of config c (mamba__arch_dims). */
static size_t mamba__arch_dim(const mamba_config *c, int which)
{
    uint32_t dim[MAMBA__DIM_COUNT];
    unsigned char on[MAMBA__IF_COUNT];
    mamba__arch_dims(c, dim, on);
    return dim[which];
}

/* Elements of a tensor of role R under config c (its rows times its cols). */
static size_t mamba__role_elems(const mamba_config *c, const mamba__role *R)
{
    uint32_t dim[MAMBA__DIM_COUNT];
    unsigned char on[MAMBA__IF_COUNT];
    mamba__arch_dims(c, dim, on);
    return (size_t)dim[R->rows] * (R->cols == MAMBA__DIM_NONE || !dim[R->cols] ? 1u : (size_t)dim[R->cols]);
}

/* Point the model's field for role R (of layer l) at a checked tensor. */
static void mamba__role_set(mamba_model *m, const mamba__role *R, int l, const mamba_matrix *w)
{
    unsigned char *base = R->per_layer ? (unsigned char *)&m->layers[l] : (unsigned char *)m;
    if (R->matrix) {
        memcpy(base + R->field, w, sizeof *w);
    } else {
        const float *f = (const float *)w->data;
        memcpy(base + R->field, &f, sizeof f);
    }
}

/* ---- >>state-layout (what a state holds, and where) -------------------- */

/* A state is one block of floats: the recurrent part, which reset, copy and
   a snapshot cover, then the scratch of one step:

     conv   n_layer x conv_channels x conv_width    every layer's conv window
     ssm    n_layer x n_heads x head_dim x d_state  every layer's h
     r, u, xz, delta, y, dbc, xs, xq                scratch (see mamba_state)

   mamba__state_shape() takes these sizes for a config from the named
   dimensions of >>roles (mamba__arch_dims: per architecture);
   mamba__state_layout() turns a state's sizes into counts and
   offsets. Nothing else computes the size of a part. */
typedef struct mamba__state_parts {
    size_t conv, ssm;   /* floats a layer's conv window and h hold */
    size_t recurrent;   /* floats of conv then ssm over all layers */
    size_t r, u, xz, delta, y, dbc, xs, xq; /* offsets in floats of the scratch arrays */
    size_t total;       /* floats in all */
} mamba__state_parts;

/* Blocks of 32 in the widest input of a matvec in a step (in_proj and
   lm_head read d_model floats, x_proj and out_proj d_inner, dt_proj
   dt_rank): the q8 scratch holds that many scales (floats) and 32 int16 a
   block (16 floats' worth), 17 floats a block in all; with AVX-512 as many
   block terms after the scales (q4_k: MAMBA__INPUT_Q16T), 18. */
static size_t mamba__state_q8_blocks(const mamba_state *s)
{
    int w = s->d_model > s->d_inner ? s->d_model : s->d_inner;
    if (s->dt_rank > w) w = s->dt_rank;
    return (size_t)mamba__q8_blocks(w);
}

/* The sizes a state for config c has (its fields up to the pointers). */
static void mamba__state_shape(mamba_state *s, const mamba_config *c)
{
    uint32_t dim[MAMBA__DIM_COUNT];
    unsigned char on[MAMBA__IF_COUNT];
    s->n_layer = c->n_layer;
    s->d_model = c->d_model;
    s->d_inner = c->d_inner;
    s->d_state = c->d_state;
    s->d_conv = c->d_conv;
    s->dt_rank = c->dt_rank;
    mamba__arch_dims(c, dim, on); /* the architecture's sizes */
    s->conv_channels = (int)dim[MAMBA__DIM_CONV_DIM];
    s->conv_width = (int)dim[MAMBA__DIM_CONV_WIDTH];
    s->n_heads = (int)dim[MAMBA__DIM_N_HEADS];
    s->head_dim = (int)dim[MAMBA__DIM_HEAD_DIM];
    s->in_proj_rows = (int)dim[MAMBA__DIM_IN_PROJ_ROWS];
}

/* Floats of a layer's conv window, and of its h. */
static size_t mamba__state_conv_floats(const mamba_state *s)
{
    return (size_t)s->conv_channels * (size_t)s->conv_width;
}

static size_t mamba__state_ssm_floats(const mamba_state *s)
{
    return (size_t)s->n_heads * (size_t)s->head_dim * (size_t)s->d_state;
}

/* n floats at *at: returns where they start and moves *at past them. */
static size_t mamba__state_take(size_t *at, size_t n)
{
    size_t start = *at;
    *at += n;
    return start;
}

/* Counts and offsets of every part of a state of s's sizes. The loader's
   limits keep every product far below overflow. */
static void mamba__state_layout(const mamba_state *s, mamba__state_parts *L)
{
    size_t di = (size_t)s->d_inner, at;
    L->conv = mamba__state_conv_floats(s);
    L->ssm = mamba__state_ssm_floats(s);
    L->recurrent = (size_t)s->n_layer * (L->conv + L->ssm);
    at = L->recurrent; /* then the scratch, each array after the last */
    L->r = mamba__state_take(&at, (size_t)s->d_model);
    L->u = mamba__state_take(&at, (size_t)s->d_model);
    L->xz = mamba__state_take(&at, (size_t)s->in_proj_rows);
    L->delta = mamba__state_take(&at, di);
    L->y = mamba__state_take(&at, di);
    L->dbc = mamba__state_take(&at, (size_t)s->dt_rank + 2 * (size_t)s->d_state);
    L->xs = mamba__state_take(&at, (1 + MAMBA__Q16_TERMS) * mamba__state_q8_blocks(s)); /* scales, q4_k's block terms */
    L->xq = mamba__state_take(&at, 16 * mamba__state_q8_blocks(s)); /* 4-byte aligned: room for 32 int16 a block */
    L->total = at;
}

/* 1 if the two states have the same sizes (a and b may be made, or only
   shaped by mamba__state_shape). */
static int mamba__state_same(const mamba_state *a, const mamba_state *b)
{
    return a->n_layer == b->n_layer && a->d_model == b->d_model && a->d_inner == b->d_inner &&
           a->d_state == b->d_state && a->d_conv == b->d_conv && a->dt_rank == b->dt_rank &&
           a->conv_channels == b->conv_channels && a->conv_width == b->conv_width && a->n_heads == b->n_heads &&
           a->head_dim == b->head_dim && a->in_proj_rows == b->in_proj_rows;
}

/* 1 if s was made for m's sizes. */
static int mamba__state_fits(const mamba_model *m, const mamba_state *s)
{
    mamba_state want;
    mamba__state_shape(&want, &m->config);
    return mamba__state_same(&want, s);
}

/* Layer l's conv window and h. */
static float *mamba__state_window(const mamba_state *s, int l)
{
    return s->conv + (size_t)l * mamba__state_conv_floats(s);
}

static float *mamba__state_h(const mamba_state *s, int l)
{
    return s->ssm + (size_t)l * mamba__state_ssm_floats(s);
}

/* ---- >>threads (how many threads a call uses) ------------------------ */

/* OpenMP threads meet at the end of every parallel loop, a few dozen times per
   token. When another program keeps one of the cores busy, the thread that
   shares it runs only in time slices of milliseconds and every loop waits for
   it: on 2 cores a token of the shipped model took 72x as long on 2 threads
   as on 1 (issue 19). The library cannot see the neighbour, but each state
   times its own calls, step and prompt block apart (they differ 64-fold in
   size): it runs with the count in use (all threads, the caller's
   omp_get_max_threads(), or one) and now and then tries the other for one
   call, and keeps the faster. No size decides it: on a quiet machine 2 threads
   gave the shipped model's 0.2 ms token 1.4x, beside a busy core they lose
   one time slice (1.5 ms on 2 cores under Linux) at a barrier.
   What a call on all threads can lose is bounded:
   - at every layer it checks its pace against one thread's: a call that has
     fallen 1.5x behind (plus a tenth of a call) runs the rest of it on one
     thread, so a neighbour costs it about one time slice, not one per barrier;
   - such a call is a strike; two strikes close together (a strike leaks
     away over 8 calls that kept pace) switch the state to one thread (a
     neighbour came), while one preempted call alone does not;
   - tries recur, spaced so that they cost at most 1/16 of the time and
     twice as far apart after each try that confirmed the count in use, up
     to 16x (mamba__thr_end); all threads must beat one by a tenth to be
     chosen; a try that is already losing after a layer is given up for the
     rest of the call (the first layer of a try of all threads gets twice
     the time: the woken thread starts cold), a try of all threads that ran
     to the end within an eighth of one thread is made again at the next
     call, once (the cold start may be all it lost by), and a try of all
     threads first times one fork/join of the woken threads and is over
     when that alone costs 1/8 of a layer on one thread (1/32 in a prompt
     block, which forks 4x as often), or when waking them took longer than
     two calls on one.
   Results never depend on the choice: every parallel loop splits
   independent outputs (rule 18). The thread count is set with
   omp_set_num_threads() (the calling thread's setting) and restored before
   returning. Nothing here allocates: the figures live in the state. */
#if defined(_OPENMP) && MAMBA_THREADS_ADAPT
#define MAMBA__THR_WARM 3   /* calls on one thread before the first try */
#define MAMBA__THR_STREAK 4 /* tries that confirmed the count in use space the next up to 2^4 = 16x */
typedef struct mamba__thr_call {
    double t0;   /* omp_get_wtime() at the start (after a try's probe) */
    double wake; /* seconds the probe's first fork took (waking the threads) */
    int n_all;   /* the caller's thread count, restored at the end */
    int arm;     /* the count running now: 0 all threads, 1 one */
    int trying;  /* this call tries the count not in use */
    int dropped; /* ... or ran on all threads: fell behind and switched part-way */
    int n_tok;   /* tokens this call handles */
} mamba__thr_call;

/* seconds one fork/join of the pool takes (mamba__thr_begin's probe) */
static double mamba__thr_fork(void)
{
    const double t0 = omp_get_wtime();
#pragma omp parallel
    {
        /* a body the compiler must keep: gcc and clang drop an empty region,
           and the probe then timed nothing */
        volatile int id = omp_get_thread_num();
        (void)id;
    }
    return omp_get_wtime() - t0;
}

/* a call of n_tok tokens in `parts` parts (layers): see mamba__thr_progress */
static void mamba__thr_begin(mamba_thread_choice *c, mamba__thr_call *k, int n_tok, int parts)
{
    k->n_all = omp_get_max_threads();
    k->t0 = k->wake = 0.0; /* t0 set again below when timed; keeps gcc from seeing it unset */
    k->n_tok = n_tok > 0 ? n_tok : 1;
    k->trying = k->dropped = 0;
    k->arm = 0;
    if (k->n_all <= 1) return;
    /* the first MAMBA__THR_WARM calls run on one thread: the first faults
       the weights and the scratch in (11x slower than the next for the
       shipped model here) and is not timed; the fastest of the next ones
       is the yardstick, two of them because a neighbour may stretch one
       (a 1.7 ms call took 74 ms beside a busy core) */
    if (c->tried < MAMBA__THR_WARM) {
        k->arm = 1;
        omp_set_num_threads(1);
        k->t0 = omp_get_wtime();
        return;
    }
    k->trying = c->spent >= c->wait;
    k->arm = c->use ^ k->trying;
    if (k->arm) omp_set_num_threads(1);
    k->t0 = omp_get_wtime();
    if (k->trying && k->arm == 0 && c->sec[1] > 0.0) {
        /* before trying all threads, time one fork/join: it costs what every
           loop of the call would wait. Two threads lose a layer when its forks
           cost half of it on one thread; a layer forks about 4 times in
           mamba_step and 16 in a block, so the try is over before any work
           when one fork costs 1/8 of a layer (1/32 in a block). The first
           fork only wakes the threads (tens of microseconds after calls on one
           thread, paid once, not by every loop): the second is the one timed,
           and the call is timed from after it (a lost try still counts the
           wake in what it cost: beside a busy core it can be a time slice). A
           quiet fork costs a microsecond or two; beside a busy core the first
           layer of a 64-token block of the 130m shapes took 500 ms on two
           threads, 21 ms on one. A wake that took longer than two whole calls
           on one thread is a thread that waited for its core (7-26 ms against
           a 1.8 ms block of the shipped model, 16 ms against a 0.2 ms step, at
           load 1-6; 69 us quiet): the try is over then, without a second fork
           that would wait again. */
        double fork = mamba__thr_fork();
        if (fork <= 2.0 * c->sec[1] * k->n_tok) {
            k->wake = fork;
            k->t0 = omp_get_wtime();
            fork = mamba__thr_fork();
        }
        if (fork > c->sec[1] * k->n_tok / (parts > 0 ? parts : 1) / (k->n_tok > 1 ? 32.0 : 8.0)) {
            c->sec[0] = c->sec[1] + fork / k->n_tok; /* at least that much slower */
            k->dropped = 1;
            k->arm = 1;
            omp_set_num_threads(1); /* t0 stays before the fork (or the wake): the call's time includes it */
        } else {
            k->t0 = omp_get_wtime();
        }
    }
}

/* after `done` of `total` parts (layers) of the call: a try that is losing,
   or a call on all threads that fell behind one thread's pace, switches to
   the other count for the rest of the call */
static void mamba__thr_progress(mamba_thread_choice *c, mamba__thr_call *k, int done, int total)
{
    double el, pace, slack;
    if (k->n_all <= 1 || c->tried < MAMBA__THR_WARM || k->dropped || (k->arm == 1 && !k->trying)) return;
    pace = c->sec[!k->arm] * k->n_tok; /* the other count's time for the whole call */
    if (pace <= 0.0) return;
    el = omp_get_wtime() - k->t0;
    /* a call in use gets a tenth of a call of slack: one preemption early
       in a long call (1.5 ms in the first layer of 24) is not a neighbour,
       and a neighbour costs each of the two calls that make the switch at
       most that tenth more. A try of all threads gets its first layer twice:
       the woken thread starts with cold caches, and on a quiet machine the
       shipped model's 64-token block took 527 us for its first layer on two
       threads, 325 for each next one, 365 on one thread; judged at 1.5x
       there, such tries were given up and the prompt stayed on one thread
       (issue 19). A neighbour's time slice still ends it there. */
    slack = !k->trying ? 0.1 : k->arm == 0 && done == 1 ? 1.5 / total : 0.0;
    if (el > pace * (1.5 * done / total + slack)) {
        if (k->trying) c->sec[k->arm] = el * total / done / k->n_tok; /* what the whole call would have taken */
        k->dropped = 1;
        k->arm = !k->arm;
        omp_set_num_threads(k->arm ? 1 : k->n_all);
    }
}

static void mamba__thr_end(mamba_thread_choice *c, mamba__thr_call *k)
{
    double el, per, lost;
    if (k->n_all <= 1) return;
    el = omp_get_wtime() - k->t0;
    per = el / k->n_tok;
    omp_set_num_threads(k->n_all);
    if (c->tried < MAMBA__THR_WARM) {
        if (c->tried > 0 && (c->sec[1] <= 0.0 || per < c->sec[1])) c->sec[1] = per;
        if (++c->tried == MAMBA__THR_WARM) c->use = 1; /* the next call tries all threads */
        return;
    }
    if (k->trying) {
        if (!k->dropped) c->sec[k->arm] = per;
        /* all threads must win by a tenth: beside a busy core a lucky call on
           two can beat one by a few percent, and the calls that then switch
           back cost more than staying on one thread costs on a quiet machine */
        if (!k->dropped && (c->sec[c->use] <= 0.0 || c->sec[k->arm] < (k->arm ? 1.0 : 0.9) * c->sec[c->use])) {
            /* the try won: a try of the old count would lose what it is slower by */
            lost = (c->sec[c->use] - c->sec[k->arm]) * k->n_tok;
            c->use = k->arm;
            c->streak = 0;
            c->strikes = 0.0;
            c->again = 0;
        } else if (!k->dropped && k->arm == 0 && !c->again && per < 1.125 * c->sec[1]) {
            /* a try of all threads that kept pace to the end and came within
               an eighth of one thread is made again at the next call, once:
               its woken thread started cold, and the yardstick is the faster
               of two calls on one thread. A lost try is not made again for
               16 calls or more, so one close loss kept a prompt on one thread
               for all of build/bench's calls (the shipped model's 64-token
               block: 12.06 ms on two threads against 11.13 on one on a loaded
               host, where its later calls on two took 7.5-8.9; issue 19).
               The second try is bounded as any try is (mamba__thr_progress),
               and a loss then backs off as usual. */
            c->again = 1;
            c->wait = c->spent = 0.0;
            return;
        } else {
            c->again = 0;
            lost = k->wake + el - c->sec[c->use] * k->n_tok; /* what this try cost beside the winner */
            /* at least half a call: a try given up at its first fork costs little,
               and a noisy yardstick (a one-thread call a neighbour slowed) can even
               make it negative; the next try then waits 16 calls, 32, 64, ... */
            if (lost < 0.5 * el) lost = 0.5 * el;
            if (c->streak < MAMBA__THR_STREAK) c->streak++;
        }
        /* the next try waits 16x what a try costs, twice as long after each try
           that confirmed the count in use, up to 16 times that (256x): tries
           take at most 1/16 of the time, and 1/256 while the machine stays the
           same; more saves little and starves a good choice (beside a busy
           core a lost try of the shipped model's block cost 14 ms, and at
           1024x the next try came after 4 minutes of calls) */
        c->wait = 16.0 * (lost > 0.0 ? lost : 0.0) * (double)(1 << c->streak);
        c->spent = 0.0;
        return;
    }
    /* a running average of the count in use, each call counted at most as
       twice the average, so one preempted call (4 ms beside 0.2 ms here)
       moves it by 1/8, not 3x: a neighbour shows as strikes below, and as
       calls that keep coming in slow */
    if (c->sec[c->use] > 0.0 && per > 2.0 * c->sec[c->use]) per = 2.0 * c->sec[c->use];
    c->sec[c->use] = 0.875 * c->sec[c->use] + 0.125 * per;
    c->spent += el;
    if (c->use == 1) return; /* one thread getting slower means a busier machine, no reason for more */
    if (k->dropped || (c->sec[1] > 0.0 && el > 1.5 * c->sec[1] * k->n_tok)) {
        c->strikes += 1.0;
        if (c->strikes >= 2.0) {
            /* a neighbour came: one thread now, and all threads again once
               16x what this call lost has been spent */
            c->use = 1;
            c->streak = 0;
            c->strikes = 0.0;
            c->spent = 0.0;
            c->wait = 16.0 * (el - c->sec[1] * k->n_tok > 0.0 ? el - c->sec[1] * k->n_tok : 0.5 * el);
        }
    } else {
        c->strikes = c->strikes > 0.125 ? c->strikes - 0.125 : 0.0;
        /* all threads slower on average than one thread's last figure (the
           machine changed without a strike): try one thread at the next call */
        if (c->sec[1] > 0.0 && c->sec[0] > 1.125 * c->sec[1]) c->spent = c->wait;
    }
}
#else
typedef struct mamba__thr_call {
    int unused;
} mamba__thr_call;
#define mamba__thr_begin(c, k, n, parts) ((void)(c), (void)(k), (void)(n), (void)(parts))
#define mamba__thr_progress(c, k, done, total) ((void)(c), (void)(k), (void)(done), (void)(total))
#define mamba__thr_end(c, k) ((void)(c), (void)(k))
#endif

/* ---- >>step ---------------------------------------------------------- */

/* The activations of a block of T tokens, row-major by token: mamba_step()
   passes T = 1 and the state's scratch, mamba_forward() its own scratch. */
typedef struct mamba__acts {
    int T;
    int batched;   /* 1: mamba_forward's matrix-matrix products and kernels */
    float *r;      /* (T, d_model) residual stream */
    float *u;      /* (T, d_model) normed input of a block, later the block's output */
    float *xz;     /* (T, 2*d_inner) in_proj output: x then z, per token */
    float *dbc;    /* (T, dt_rank + 2*d_state) x_proj output: delta, B, C */
    float *delta;  /* (T, d_inner) Delta */
    float *y;      /* (T, d_inner) SSM output */
    float *xt;     /* batched: a product's inputs, packed (mamba__fw_pack_x) */
    int16_t *xq;   /* not batched: the q8 input scratch of the matvecs ... */
    float *xs;     /* ... and its scales (mamba_state.xq, .xs) */
} mamba__acts;

/* out = X W^T (+ bias) for the T tokens (F.linear): one matrix-vector
   product per matrix in mamba_step, one matrix-matrix product in
   mamba_forward. Rows of X are ldx floats apart, rows of out ldo. */
static void mamba__linear(const mamba__acts *a, float *out, int ldo, const mamba_matrix *W, const float *bias,
                          const float *X, int ldx)
{
    if (a->batched) mamba__fw_matmul(out, ldo, W, bias, X, ldx, a->T, a->xt);
    else mamba__matvec_x(out, W, X, bias, a->xq, a->xs);
}

/* What the observer sees (mamba_state_observe): the statistics are
   computed only when an observer is set. */
static void mamba__observe(const mamba_model *m, const mamba_state *s, int l, const float *x, const float *z,
                           const float *B, const float *C, const float *h)
{
    const mamba_config *cfg = &m->config;
    const mamba_layer *L = &m->layers[l];
    const size_t di = (size_t)cfg->d_inner, N = (size_t)cfg->d_state, P = (size_t)cfg->head_dim;
    const int a_per_state = mamba__arch_dim(cfg, MAMBA__DIM_A_COLS) != 0; /* else one A a head */
    mamba_observation o;
    double kept = 0.0, h2 = 0.0;
    size_t c, n;
    for (c = 0; c < di; c++)
        for (n = 0; n < N; n++) {
            /* the factor the scan multiplied h[c][n] by (expf: the reference's) */
            const size_t hd = c / P;
            kept += (double)expf(s->delta[hd] * L->A[a_per_state ? c * N + n : hd]);
            h2 += (double)h[c * N + n] * (double)h[c * N + n];
        }
    o.layer = l;
    o.pos = s->pos;
    o.d_inner = cfg->d_inner;
    o.d_state = cfg->d_state;
    o.x = x;
    o.z = z;
    o.delta = s->delta;
    o.B = B;
    o.C = C;
    o.A = L->A;
    o.h = h;
    o.y = s->y;
    o.n_heads = cfg->n_heads;
    o.head_dim = cfg->head_dim;
    o.n_groups = cfg->n_groups;
    o.kept = kept / ((double)di * (double)N);
    o.state_norm = sqrt(h2);
    s->observer(s->observer_user, &o);
}

/* An architecture's block, and the switches that make configurations of
   one block function (Mamba-1 and Falcon-Mamba share theirs). */
typedef struct mamba__arch_ops mamba__arch_ops;
struct mamba__arch_ops {
    void (*block)(const mamba_model *m, mamba_state *s, int l, const mamba__acts *a, const mamba__arch_ops *ops);
    void (*batch)(const mamba_model *m, mamba_state *const *S, int n, int l); /* mamba_step_batch's block */
    int arch;     /* mamba_arch */
    int norm_dbc; /* Falcon-Mamba: RMS-normalise delta, B and C (no weight) before use */
};

/* The last step of every block: u = out_proj(y), then r = r + u in fp32
   (the residual stream), token by token across threads for a block of T. */
static void mamba__out_residual(const mamba__acts *a, const mamba_layer *L, int dm, int di)
{
    const int T = a->T;
    int t;
    int mamba__par = T > 1;
    (void)mamba__par;
    mamba__linear(a, a->u, dm, &L->out_proj, L->out_proj_bias, a->y, di);
    MAMBA__PARALLEL_FOR_IF
    for (t = 0; t < T; t++) {
        float *r = a->r + (size_t)t * dm;
        const float *u = a->u + (size_t)t * dm;
        int i;
        for (i = 0; i < dm; i++) r[i] += u[i];
    }
}

/* One Mamba block (MixerModel's Block with Mamba as its mixer) over the T
   tokens of a, in place on the residual stream a->r. mixer_seq_simple.Block:
   residual add, then norm, then mixer; written here as r = r + mixer(norm(r)),
   which is the same. Each line names the line of the reference it does. */
static void mamba__block_mamba1(const mamba_model *m, mamba_state *s, int l, const mamba__acts *a,
                                const mamba__arch_ops *ops)
{
    const mamba_config *cfg = &m->config;
    const mamba_layer *L = &m->layers[l];
    const int dm = cfg->d_model, di = cfg->d_inner, N = cfg->d_state, R = cfg->dt_rank, T = a->T;
    const int ldxz = 2 * di, ldbc = R + 2 * N;
    float *window = mamba__state_window(s, l); /* (d_inner, d_conv) */
    float *h = mamba__state_h(s, l);           /* (d_inner, d_state) */
    mamba__scan_io io;
    int t;
    int mamba__par = T > 1; /* the per-token loops fork only for a block of tokens */
    (void)mamba__par;

    /* u = RMSNorm(r) * w_norm                       Block.norm */
    MAMBA__PARALLEL_FOR_IF
    for (t = 0; t < T; t++)
        mamba__rmsnorm(a->u + (size_t)t * dm, a->r + (size_t)t * dm, L->norm, dm, cfg->norm_eps);
    /* (x, z) = in_proj(u)                           xz = self.in_proj(hidden_states); x, z = xz.chunk(2) */
    mamba__linear(a, a->xz, ldxz, &L->in_proj, L->in_proj_bias, a->u, dm);
    /* x = SiLU(conv1d(x)) over the last d_conv x's  the conv_state update in Mamba.step */
    mamba__conv(a->xz, (size_t)ldxz, window, L->conv_weight, L->conv_bias, di, cfg->d_conv, T, a->batched);
    /* (delta, B, C) = x_proj(x)                     x_db = self.x_proj(x); torch.split(...) */
    mamba__linear(a, a->dbc, ldbc, &L->x_proj, NULL, a->xz, ldxz);
    if (ops->norm_dbc) {
        /* Falcon-Mamba normalises each part, without a weight, before use. */
        MAMBA__PARALLEL_FOR_IF
        for (t = 0; t < T; t++) {
            float *p = a->dbc + (size_t)t * ldbc;
            mamba__rmsnorm(p, p, NULL, R, cfg->mixer_rms_eps);
            mamba__rmsnorm(p + R, p + R, NULL, N, cfg->mixer_rms_eps);
            mamba__rmsnorm(p + R + N, p + R + N, NULL, N, cfg->mixer_rms_eps);
        }
    }
    /* Delta = softplus(dt_proj(delta) + dt_bias)    dt = F.softplus(F.linear(dt, W) + bias) */
    mamba__linear(a, a->delta, di, &L->dt_proj, L->dt_bias, a->dbc, ldbc);
    MAMBA__PARALLEL_FOR_IF
    for (t = 0; t < T; t++) mamba__softplus_n(a->delta + (size_t)t * di, di);
    /* h = exp(Delta A) h + Delta B x;  y = C h + D x   (one head per channel) */
    mamba__ssm_step_io(&io, a->y, h, a->xz, a->delta, L->A, a->dbc + R, a->dbc + R + N, L->D, di, N);
    io.ldx = (size_t)ldxz; /* T rows: the strides of a's rows */
    io.ldd = (size_t)di;
    io.ldbc = (size_t)ldbc;
    io.ldy = (size_t)di;
    mamba__scan(&io, T, a->batched);
    if (s->observer) mamba__observe(m, s, l, a->xz, a->xz + di, io.B, io.C, h); /* T = 1: see mamba_forward */
    /* y = y * SiLU(z)                               y = y * self.act(z) */
    MAMBA__PARALLEL_FOR_IF
    for (t = 0; t < T; t++) mamba__gate(a->y + (size_t)t * di, a->xz + (size_t)t * ldxz + di, di);
    /* r = r + out_proj(y)                           out = self.out_proj(y); residual add in fp32 */
    mamba__out_residual(a, L, dm, di);
}

/* One Mamba-2 block (MixerModel's Block with Mamba2 as its mixer: the
   recurrent form of mamba2.py Mamba2.step) over the T tokens of a, in place
   on a->r; the same pieces as mamba__block_mamba1 in another order. A row
   of a->xz is z (d_inner), then xBC (conv channels: x as H heads of P, B
   and C as G groups of N each), then dt (H). */
static void mamba__block_mamba2(const mamba_model *m, mamba_state *s, int l, const mamba__acts *a,
                                const mamba__arch_ops *ops)
{
    const mamba_config *cfg = &m->config;
    const mamba_layer *L = &m->layers[l];
    const int dm = cfg->d_model, di = cfg->d_inner, N = cfg->d_state, T = a->T;
    const int H = cfg->n_heads, G = cfg->n_groups, conv_dim = di + 2 * G * N, ldxz = di + conv_dim + H;
    float *window = mamba__state_window(s, l); /* (conv_dim, d_conv) */
    float *h = mamba__state_h(s, l);           /* (H, P, N) */
    mamba__scan_io io;
    int t;
    int mamba__par = T > 1; /* the per-token loops fork only for a block of tokens */
    (void)mamba__par;
    (void)ops;

    /* u = RMSNorm(r) * w_norm                       Block.norm */
    MAMBA__PARALLEL_FOR_IF
    for (t = 0; t < T; t++)
        mamba__rmsnorm(a->u + (size_t)t * dm, a->r + (size_t)t * dm, L->norm, dm, cfg->norm_eps);
    /* (z, xBC, dt) = in_proj(u)                     zxbcdt = self.in_proj(u); torch.split(...) */
    mamba__linear(a, a->xz, ldxz, &L->in_proj, L->in_proj_bias, a->u, dm);
    /* xBC = SiLU(conv1d(xBC))                       the conv_state update in Mamba2.step */
    mamba__conv(a->xz + di, (size_t)ldxz, window, L->conv_weight, L->conv_bias, conv_dim, cfg->d_conv, T,
                a->batched);
    /* Delta = softplus(dt + dt_bias), clamped       dt = F.softplus(dt + self.dt_bias) */
    MAMBA__PARALLEL_FOR_IF
    for (t = 0; t < T; t++)
        mamba__delta_heads(a->delta + (size_t)t * (size_t)H, a->xz + (size_t)t * (size_t)ldxz + di + conv_dim,
                           L->dt_bias, H, cfg->dt_min, cfg->dt_max);
    /* S = exp(Delta A) S + Delta B x;  y = C S + D x  selective_state_update, per head and group */
    mamba__scan_set(&io, H, cfg->head_dim, G, N, 0, cfg->d_per_channel, L->A, L->D, h, a->xz + di, a->delta,
                    a->xz + 2 * (size_t)di, a->xz + 2 * (size_t)di + (size_t)G * (size_t)N, a->y);
    io.ldx = (size_t)ldxz; /* T rows: the strides of a's rows */
    io.ldd = (size_t)H;
    io.ldbc = (size_t)ldxz;
    io.ldy = (size_t)di;
    mamba__scan(&io, T, a->batched);
    if (s->observer) mamba__observe(m, s, l, io.x, a->xz, io.B, io.C, h); /* T = 1: see mamba_forward */
    /* y = RMSNorm_groups(y * SiLU(z)) * w           self.norm(y, z): RMSNormGated, group_size d_inner / G */
    MAMBA__PARALLEL_FOR_IF
    for (t = 0; t < T; t++)
        mamba__gated_norm(a->y + (size_t)t * di, a->xz + (size_t)t * (size_t)ldxz, L->gate_norm, di, G,
                          cfg->mixer_rms_eps, cfg->norm_before_gate);
    /* r = r + out_proj(y)                           out = self.out_proj(y); residual add in fp32 */
    mamba__out_residual(a, L, dm, di);
}

/* The one place that chooses a block per architecture (the loader has
   refused any other arch). A new architecture: its block function (or
   switches of an existing one) and a row here. */
static void mamba__block_batch(const mamba_model *m, mamba_state *const *S, int n, int l);
static void mamba__block_batch_mamba2(const mamba_model *m, mamba_state *const *S, int n, int l);
static const mamba__arch_ops mamba__archs[] = {
    {mamba__block_mamba1, mamba__block_batch, MAMBA_ARCH_MAMBA1, 0},
    {mamba__block_mamba1, mamba__block_batch, MAMBA_ARCH_FALCON, 1},
    {mamba__block_mamba2, mamba__block_batch_mamba2, MAMBA_ARCH_MAMBA2, 0}};

static const mamba__arch_ops *mamba__arch_of(int arch)
{
    size_t i;
    for (i = 0; i < sizeof mamba__archs / sizeof mamba__archs[0]; i++)
        if (mamba__archs[i].arch == arch) return &mamba__archs[i];
    return NULL;
}

MAMBA_API mamba_result mamba_step(const mamba_model *m, mamba_state *s, int token, float *logits)
{
    const mamba_config *cfg;
    const mamba__arch_ops *ops;
    mamba__acts a;
    mamba__thr_call thr;
    int l;
    /* m->data is NULL for a model that failed to load or was closed: its
       config may be filled in while its tensor pointers are not */
    if (!m || !s || !s->r || !m->data) return MAMBA_ERR_INVALID_ARG;
    cfg = &m->config;
    if (!mamba__state_fits(m, s)) return MAMBA_ERR_INVALID_ARG;
    if (token < 0 || token >= cfg->n_vocab_padded) return MAMBA_ERR_TOKEN;
    ops = mamba__arch_of(cfg->arch);
    MAMBA_ASSERT(ops != NULL); /* a loaded model has a known arch */

    mamba__thr_begin(&s->threads[0], &thr, 1, cfg->n_layer + 1); /* >>threads: all threads, or one */
    a.T = 1;
    a.batched = 0;
    a.r = s->r;
    a.u = s->u;
    a.xz = s->xz;
    a.dbc = s->dbc;
    a.delta = s->delta;
    a.y = s->y;
    a.xt = NULL;
    a.xq = (int16_t *)s->xq;
    a.xs = s->xs;
    /* r = embedding[token]                          MixerModel.embedding */
    mamba__dequant_row(s->r, &m->embedding, token); /* widened to f32 from any dtype */
    for (l = 0; l < cfg->n_layer; l++) {
        ops->block(m, s, l, &a, ops);
        mamba__thr_progress(&s->threads[0], &thr, l + 1, cfg->n_layer + 1);
    }
    if (s->pos < LONG_MAX) s->pos++; /* saturates: a loaded snapshot may say LONG_MAX */
    if (logits) {
        /* logits = lm_head(RMSNorm(r) * w_norm_f)    MixerModel.norm_f, MambaLMHeadModel.lm_head */
        mamba__rmsnorm(s->u, s->r, m->norm_f, cfg->d_model, cfg->norm_eps);
        mamba__matvec_x(logits, &m->lm_head, s->u, NULL, (int16_t *)s->xq, s->xs);
    }
    mamba__thr_end(&s->threads[0], &thr);
    return MAMBA_OK;
}

MAMBA_API void mamba_state_observe(mamba_state *s, mamba_observer fn, void *user)
{
    if (!s) return;
    s->observer = fn;
    s->observer_user = user;
}

MAMBA_API size_t mamba_matrix_bytes(const mamba_matrix *w)
{
    if (!w || !mamba__wtype_of(w->dtype) || w->rows < 0 || w->cols < 0) return 0;
    return (size_t)w->rows * mamba__row_bytes(w->dtype, w->cols);
}

MAMBA_API const char *mamba_dtype_string(int dtype)
{
    const mamba__wtype *t = mamba__wtype_of(dtype);
    return t ? t->name : "unknown";
}

MAMBA_API int mamba_argmax(const float *logits, int n)
{
    int i, best = 0;
    if (!logits || n < 1) return -1; /* which mamba_step() refuses as a token */
    for (i = 1; i < n; i++)
        if (logits[i] > logits[best] || (logits[best] != logits[best] && logits[i] == logits[i]))
            best = i; /* larger, or the first number after a leading NaN */
    return best;
}

/* ---- >>load ---------------------------------------------------------- */

/* Read and check the 128-byte header into m->config (checks 1 to 5 of
   SECURITY). On success *file_bytes is the trusted size of the file. */
static mamba_result mamba__load_header(mamba_model *m, const unsigned char *p, size_t size, uint64_t *file_bytes)
{
    static const unsigned char magic[8] = {0x89, 'M', 'A', 'M', 'B', 'A', '\r', '\n'};
    mamba_config *c = &m->config;
    uint32_t v[14], flags, endian, version, hbytes;
    size_t bytes, per_layer;
    int i;

    /* 1. size covers the header */
    if (size < MAMBA__HEADER_BYTES) return mamba__fail(m, MAMBA_ERR_TRUNCATED, "file is smaller than the 128-byte header");
    /* 2. magic */
    if (memcmp(p, magic, 8) != 0) return mamba__fail(m, MAMBA_ERR_BAD_MAGIC, "magic bytes are not \\x89MAMBA\\r\\n");
    /* 3. version: 1, or 2 with the Mamba-2 fields after the first 128 bytes */
    version = mamba__rd32(p + 8);
    if (version < 1 || version > MAMBA_FORMAT_VERSION)
        return mamba__fail(m, MAMBA_ERR_VERSION, "format version is not one this library reads (1 or 2)");
    hbytes = version == 1 ? MAMBA__HEADER_BYTES : MAMBA__HEADER_BYTES_V2;
    if (mamba__rd32(p + 12) != hbytes)
        return mamba__fail(m, MAMBA_ERR_VERSION, "header size is not 128 (version 1) or 160 (version 2)");
    if (size < hbytes) return mamba__fail(m, MAMBA_ERR_TRUNCATED, "file is smaller than its header");
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
    if (*file_bytes < hbytes || *file_bytes > (uint64_t)size)
        return mamba__fail(m, MAMBA_ERR_TRUNCATED, "file is shorter than the size in its header");

    /* 5. every dimension within its limit */
    for (i = 0; i < 14; i++) v[i] = mamba__rd32(p + 32 + 4 * i);
    flags = v[1];
    if (v[0] > 0x7FFFFFFFu || !mamba__arch_of((int)v[0])) /* a row of mamba__archs[] */
        return mamba__fail(m, MAMBA_ERR_DIMENSION, "unknown architecture");
    if ((v[0] == MAMBA_ARCH_MAMBA2) != (version == 2))
        return mamba__fail(m, MAMBA_ERR_VERSION, "Mamba-2 comes in format version 2, the others in version 1");
    /* bits 4..6 (D per channel, norm before gate, gated norm) are Mamba-2's */
    if (flags & ~(v[0] == MAMBA_ARCH_MAMBA2 ? 0x7Fu : 0xFu))
        return mamba__fail(m, MAMBA_ERR_DIMENSION, "unknown flag bits are set");
    if (v[2] < 1 || v[2] > MAMBA__MAX_D_MODEL) return mamba__fail(m, MAMBA_ERR_DIMENSION, "d_model out of range");
    if (v[3] < 1 || v[3] > MAMBA_MAX_LAYERS) return mamba__fail(m, MAMBA_ERR_DIMENSION, "n_layer out of range");
    if (v[4] < 1 || v[4] > MAMBA__MAX_D_INNER) return mamba__fail(m, MAMBA_ERR_DIMENSION, "d_inner out of range");
    if (v[5] < 1 || v[5] > MAMBA__MAX_D_STATE) return mamba__fail(m, MAMBA_ERR_DIMENSION, "d_state out of range");
    if (v[6] < 1 || v[6] > MAMBA__MAX_D_CONV) return mamba__fail(m, MAMBA_ERR_DIMENSION, "d_conv out of range");
    if (v[0] == MAMBA_ARCH_MAMBA2 ? v[7] != 0 : (v[7] < 1 || v[7] > MAMBA__MAX_DT_RANK))
        return mamba__fail(m, MAMBA_ERR_DIMENSION, "dt_rank out of range (0 for Mamba-2)");
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
    c->n_heads = c->d_inner; /* Mamba-1: every channel a head of size 1, one group, no clamp */
    c->head_dim = 1;
    c->n_groups = 1;
    c->dt_min = 0.0f;
    c->dt_max = HUGE_VALF;
    c->d_per_channel = (int)((flags >> 4) & 1u);
    c->norm_before_gate = (int)((flags >> 5) & 1u);
    c->gate_norm = (int)((flags >> 6) & 1u);
    /* the epsilons: finite, positive and small (NaN fails every comparison) */
    if (!(c->norm_eps > 0.0f && c->norm_eps < 1.0f)) return mamba__fail(m, MAMBA_ERR_DIMENSION, "norm_eps is not in (0, 1)");
    if ((c->arch == MAMBA_ARCH_FALCON || c->gate_norm) && !(c->mixer_rms_eps > 0.0f && c->mixer_rms_eps < 1.0f))
        return mamba__fail(m, MAMBA_ERR_DIMENSION, "mixer_rms_eps is not in (0, 1)");
    if (c->norm_before_gate && !c->gate_norm)
        return mamba__fail(m, MAMBA_ERR_DIMENSION, "norm_before_gate is set without the gated norm");
    if (version == 2) {
        /* the Mamba-2 fields: heads, groups and the clamp of Delta */
        uint32_t H = mamba__rd32(p + 128), P = mamba__rd32(p + 132), G = mamba__rd32(p + 136);
        c->dt_min = mamba__bits_to_f32(mamba__rd32(p + 140));
        c->dt_max = mamba__bits_to_f32(mamba__rd32(p + 144));
        if (mamba__rd32(p + 148) | mamba__rd32(p + 152) | mamba__rd32(p + 156))
            return mamba__fail(m, MAMBA_ERR_VERSION, "reserved header bytes are not zero");
        if (H < 1 || P < 1 || (uint64_t)H * P != v[4])
            return mamba__fail(m, MAMBA_ERR_DIMENSION, "n_heads * head_dim is not d_inner");
        if (G < 1 || H % G != 0) return mamba__fail(m, MAMBA_ERR_DIMENSION, "n_groups does not divide n_heads");
        /* conv channels d_inner + 2 G N within the d_inner limit keeps every product below */
        if ((uint64_t)v[4] + 2 * (uint64_t)G * v[5] > MAMBA__MAX_D_INNER)
            return mamba__fail(m, MAMBA_ERR_DIMENSION, "conv channels (d_inner + 2 n_groups d_state) out of range");
        /* 0 <= dt_min < dt_max (dt_max may be +inf); NaN fails */
        if (!(c->dt_min >= 0.0f && c->dt_min < c->dt_max && c->dt_min < HUGE_VALF))
            return mamba__fail(m, MAMBA_ERR_DIMENSION, "dt limits are not 0 <= dt_min < dt_max");
        if (!c->gate_norm && c->mixer_rms_eps != 0.0f)
            return mamba__fail(m, MAMBA_ERR_DIMENSION, "mixer_rms_eps is set without the gated norm");
        c->n_heads = (int)H;
        c->head_dim = (int)P;
        c->n_groups = (int)G;
    }

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
        !mamba__mul(mamba__arch_dim(c, MAMBA__DIM_IN_PROJ_ROWS), (size_t)v[2], &bytes) ||
        !mamba__mul(bytes, 4, &bytes) ||
        !mamba__mul(mamba__arch_dim(c, MAMBA__DIM_CONV_DIM) + (size_t)v[4], (size_t)v[5] + (size_t)v[6],
                    &per_layer) ||
        !mamba__mul(per_layer, (size_t)v[3], &bytes) || !mamba__mul(bytes, 4, &bytes))
        return mamba__fail(m, MAMBA_ERR_DIMENSION, "tensor sizes overflow this platform's size_t");
    if (mamba__rd64(p + 120) != 0) return mamba__fail(m, MAMBA_ERR_VERSION, "reserved header bytes are not zero");
    return MAMBA_OK;
}

/* The loader behind every entry point: checks 1 to 9 of SECURITY, and with
   MAMBA_LOAD_CHECK_FINITE every value of every tensor as it passes (the
   first non-finite one in directory order is reported, after the checks of
   the file's structure, which come first). */
static mamba_result mamba__load(mamba_model *m, const void *data, size_t size, unsigned flags)
{
    const unsigned char *p = (const unsigned char *)data;
    unsigned char seen[MAMBA__ROLE_COUNT][MAMBA_MAX_LAYERS], on[MAMBA__IF_COUNT];
    uint32_t dim[MAMBA__DIM_COUNT];
    uint64_t file_bytes, dir_off, tok_off, tok_bytes, n_tensors, max_tensors, hbytes;
    const char *bad = NULL; /* the first non-finite tensor */
    mamba_result r;
    mamba_config *c;
    uint32_t t;
    int l, i, bad_layer = -1;

    memset(m, 0, sizeof *m);
    m->error_layer = -1;
    if (!p) return mamba__fail(m, MAMBA_ERR_INVALID_ARG, "data is NULL");
    if (((uintptr_t)p & 3u) != 0) return mamba__fail(m, MAMBA_ERR_ALIGN, "data is not 4-byte aligned");
    r = mamba__load_header(m, p, size, &file_bytes);
    if (r != MAMBA_OK) return r;
    c = &m->config;
    mamba__arch_dims(c, dim, on);
    hbytes = mamba__rd32(p + 12); /* checked: 128 or 160, as the version says */

    /* 7. the directory and the tokenizer section lie inside the file. Each
          test subtracts from the trusted file size, so no sum can wrap. */
    n_tensors = mamba__rd32(p + 92);
    dir_off = mamba__rd64(p + 96);
    tok_off = mamba__rd64(p + 104);
    tok_bytes = mamba__rd64(p + 112);
    for (i = 0, max_tensors = 0; i < MAMBA__ROLE_COUNT; i++)
        max_tensors += mamba__roles[i].per_layer ? (uint64_t)c->n_layer : 1u;
    if (n_tensors < 1 || n_tensors > max_tensors)
        return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor count is impossible for n_layer");
    if (dir_off < hbytes || dir_off % 8 != 0)
        return mamba__fail(m, MAMBA_ERR_ALIGN, "tensor directory offset is not a multiple of 8 past the header");
    if (dir_off > file_bytes || n_tensors * MAMBA__ENTRY_BYTES > file_bytes - dir_off)
        return mamba__fail(m, MAMBA_ERR_BOUNDS, "tensor directory extends past the end of the file");
    if (tok_bytes == 0) {
        if (tok_off != 0) return mamba__fail(m, MAMBA_ERR_BOUNDS, "tokenizer offset set but its size is 0");
    } else {
        if (tok_off < hbytes || tok_off % 8 != 0)
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
        const mamba__role *R = mamba__role_find(erole);
        int want_ndim, d;
        mamba_matrix mat;

        m->error_role = R ? R->name : NULL;
        m->error_layer = (int)(elayer > 0x7FFFFFFFu ? 0x7FFFFFFF : elayer);
        if (!R) return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor has an unknown role");
        if (R->per_layer ? elayer >= (uint32_t)c->n_layer : elayer != 0)
            return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor layer index is out of range");
        if (!on[R->when]) return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor is present but the flags say it is not");
        if (seen[R - mamba__roles][elayer]) return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor appears twice");
        seen[R - mamba__roles][elayer] = 1;
        /* a weight type with an entry in mamba__wtypes[]; vectors are f32 */
        if (!mamba__wtype_of((int)dtype) || (!R->matrix && dtype != MAMBA_DTYPE_F32))
            return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor dtype is unknown or not allowed for its role");
        want_ndim = R->cols == MAMBA__DIM_NONE || !dim[R->cols] ? 1 : 2; /* a 0 second axis: a vector */
        want_shape[0] = dim[R->rows];
        want_shape[1] = dim[R->cols];
        if (ndim != (uint32_t)want_ndim) return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor has the wrong number of dimensions");
        for (d = 0; d < 4; d++) {
            uint32_t got = mamba__rd32(e + 16 + 4 * d);
            uint32_t want = d < want_ndim ? want_shape[d] : 0;
            if (got != want) return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor shape does not match the config");
        }
        mamba__matrix_bytes64((int)dtype, want_shape[0], want_ndim == 2 ? want_shape[1] : 1u, &count);
        if (nbytes != count) return mamba__fail(m, MAMBA_ERR_TENSOR, "tensor byte count does not match its shape");
        if (off % 64 != 0) return mamba__fail(m, MAMBA_ERR_ALIGN, "tensor offset is not a multiple of 64");
        if (off > file_bytes || nbytes > file_bytes - off)
            return mamba__fail(m, MAMBA_ERR_BOUNDS, "tensor extends past the end of the file");
        /* only now is it safe to form the pointer */
        mat.data = p + off;
        mat.dtype = (int)dtype;
        mat.rows = (int)want_shape[0];
        mat.cols = want_ndim == 2 ? (int)want_shape[1] : 1;
        if ((flags & MAMBA_LOAD_CHECK_FINITE) && !bad &&
            mamba__wtype_of(mat.dtype)->nonfinite((const unsigned char *)mat.data, (size_t)mat.rows, (size_t)mat.cols)) {
            bad = R->name;
            bad_layer = R->per_layer ? (int)elayer : -1;
        }
        mamba__role_set(m, R, (int)elayer, &mat);
    }

    /* 9. nothing the config calls for is missing */
    for (i = 0; i < MAMBA__ROLE_COUNT; i++) {
        const mamba__role *R = &mamba__roles[i];
        if (!on[R->when]) continue;
        for (l = 0; l < (R->per_layer ? c->n_layer : 1); l++) {
            if (!seen[i][l]) {
                m->error_role = R->name;
                m->error_layer = l;
                return mamba__fail(m, MAMBA_ERR_TENSOR, "a tensor the config needs is missing");
            }
        }
    }
    if (bad) {
        /* refused: m->data stays NULL, so mamba_state_new/_init and mamba_step refuse the model */
        m->error_role = bad;
        m->error_layer = bad_layer;
        return mamba__fail(m, MAMBA_ERR_NONFINITE, "a weight is NaN or infinite");
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

/* Load options a caller may pass, else MAMBA_ERR_INVALID_ARG (m zeroed). */
static int mamba__bad_flags(mamba_model *m, unsigned flags)
{
    if ((flags & ~MAMBA_LOAD_CHECK_FINITE) == 0) return 0;
    memset(m, 0, sizeof *m);
    m->error_layer = -1;
    mamba__fail(m, MAMBA_ERR_INVALID_ARG, "unknown load flags");
    return 1;
}

MAMBA_API mamba_result mamba_model_init_memory(mamba_model *m, const void *data, size_t size)
{
    return mamba_model_init_memory_ex(m, data, size, 0);
}

MAMBA_API mamba_result mamba_model_init_memory_ex(mamba_model *m, const void *data, size_t size, unsigned flags)
{
    if (!m) return MAMBA_ERR_INVALID_ARG;
    if (mamba__bad_flags(m, flags)) return MAMBA_ERR_INVALID_ARG;
    return mamba__load(m, data, size, flags);
}

/* Release what a model owns: kind 0 nothing, 1 heap, 2 mmap. */
static void mamba__release(void *owned, size_t bytes, int kind)
{
#ifdef MAMBA__HAVE_MMAP
    if (kind == 2) munmap(owned, bytes);
#endif
    if (kind == 1) MAMBA_FREE(owned);
    (void)bytes;
}

#ifndef MAMBA_NO_STDIO
MAMBA_API mamba_result mamba_model_open(mamba_model *m, const char *path)
{
    return mamba_model_open_ex(m, path, 0);
}

/* Map the file read-only where the platform can (kind 2), else read it
   into the heap (kind 1). On POSIX systems only a regular file is read: the
   path is opened non-blocking and fstat'ed first, so a FIFO with no writer
   returns at once instead of blocking for ever, and a directory, socket or
   device is refused (O_NONBLOCK does nothing to a regular file's reads).
   errno keeps the system's reason when a system call failed. */
static mamba_result mamba__map(mamba_model *m, const char *path, void **buf, size_t *size, int *kind)
{
    mamba_result code = MAMBA_ERR_IO;
    const char *why = NULL;
#ifdef MAMBA__HAVE_POSIX
    struct stat st;
    int err = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    *buf = NULL;
    *size = 0;
    if (fd < 0) return mamba__fail(m, MAMBA_ERR_IO, "cannot open the file"); /* errno says why */
    if (fstat(fd, &st) != 0) {
        err = errno;
        why = "cannot stat the file";
    } else if (!S_ISREG(st.st_mode)) {
        why = S_ISDIR(st.st_mode) ? "the path is a directory, not a file" : "not a regular file (a FIFO, socket or device)";
    } else if (st.st_size < 0 || (uint64_t)st.st_size < MAMBA__HEADER_BYTES) {
        code = MAMBA_ERR_TRUNCATED;
        why = "file is smaller than the 128-byte header";
    } else if ((uint64_t)st.st_size > (uint64_t)(size_t)-1) {
        why = "file is too large for this platform's memory";
    } else {
        *size = (size_t)st.st_size;
#ifdef MAMBA__HAVE_MMAP
        *kind = 2;
        *buf = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (*buf == MAP_FAILED) {
            err = errno;
            *buf = NULL;
            why = "cannot map the file";
        }
#else
        /* MAMBA_NO_MMAP: read it into the heap in pieces (read() may return
           less than asked, and a file may shrink while it is read) */
        *kind = 1;
        if ((*buf = MAMBA_MALLOC(*size)) == NULL) {
            code = MAMBA_ERR_OUT_OF_MEMORY;
            why = "cannot allocate memory for the file";
        } else {
            size_t got = 0;
            while (got < *size) {
                size_t want = *size - got < ((size_t)1 << 30) ? *size - got : ((size_t)1 << 30);
                ssize_t k = read(fd, (unsigned char *)*buf + got, want);
                if (k < 0 && errno == EINTR) continue;
                if (k <= 0) {
                    err = k < 0 ? errno : 0;
                    break;
                }
                got += (size_t)k;
            }
            if (got != *size) {
                MAMBA_FREE(*buf);
                *buf = NULL;
                why = "cannot read the file (or it shrank while read)";
            }
        }
#endif
    }
    close(fd); /* a mapping stays valid */
    if (err) errno = err;
#else
    /* plain C: no way to ask what the path is before opening it (a FIFO
       would block here); a directory fails in ftell or fread below */
    unsigned char head[MAMBA__HEADER_BYTES];
    long end = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return mamba__fail(m, MAMBA_ERR_IO, "cannot open the file");
    *buf = NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        why = "cannot find the size of the file";
    /* read the header before allocating: a directory (whose "size" can be
       LONG_MAX) or a short file fails here, not in a huge malloc */
    else if ((size_t)end < MAMBA__HEADER_BYTES) {
        code = MAMBA_ERR_TRUNCATED;
        why = "file is smaller than the 128-byte header";
    } else if (fread(head, 1, sizeof head, f) != sizeof head || fseek(f, 0, SEEK_SET) != 0) {
        why = "cannot read the file";
    } else if ((*buf = MAMBA_MALLOC((size_t)end)) == NULL) {
        code = MAMBA_ERR_OUT_OF_MEMORY;
        why = "cannot allocate memory for the file";
    } else if (fread(*buf, 1, (size_t)end, f) != (size_t)end) {
        MAMBA_FREE(*buf);
        why = "cannot read the file";
    }
    fclose(f);
    *size = (size_t)end;
    *kind = 1;
#endif
    return why ? mamba__fail(m, code, why) : MAMBA_OK;
}

MAMBA_API mamba_result mamba_model_open_ex(mamba_model *m, const char *path, unsigned flags)
{
    mamba_result r;
    void *buf;
    size_t size;
    int kind;
    if (!m) return MAMBA_ERR_INVALID_ARG;
    if (mamba__bad_flags(m, flags)) return MAMBA_ERR_INVALID_ARG;
    memset(m, 0, sizeof *m);
    m->error_layer = -1;
    if (!path) return mamba__fail(m, MAMBA_ERR_INVALID_ARG, "path is NULL");
    r = mamba__map(m, path, &buf, &size, &kind);
    if (r != MAMBA_OK) return r;
    r = mamba__load(m, buf, size, flags);
    if (r != MAMBA_OK) {
        mamba__release(buf, size, kind); /* m->error and friends stay */
        return r;
    }
    m->owned = buf;
    m->owned_bytes = size;
    m->owned_kind = kind;
    return MAMBA_OK;
}
#endif /* MAMBA_NO_STDIO */

MAMBA_API void mamba_model_close(mamba_model *m)
{
    if (!m) return;
    mamba__release(m->owned, m->owned_bytes, m->owned_kind);
    m->owned = NULL;
    m->owned_bytes = 0;
    m->owned_kind = 0;
    mamba__forget(m); /* no pointer into what was just released */
}

/* ---- >>state --------------------------------------------------------- */

MAMBA_API size_t mamba_state_size(const mamba_model *m)
{
    mamba_state shape;
    mamba__state_parts L;
    if (!m || !m->data) return 0;
    mamba__state_shape(&shape, &m->config);
    mamba__state_layout(&shape, &L);
    return L.total * sizeof(float) + 16; /* + room to align */
}

/* Lay a zeroed state for config c out over the floats at f. */
static void mamba__state_carve(mamba_state *s, const mamba_config *c, float *f)
{
    mamba__state_parts L;
    mamba__state_shape(s, c);
    mamba__state_layout(s, &L);
    s->conv = f;
    s->ssm = f + (size_t)s->n_layer * L.conv;
    s->r = f + L.r;
    s->u = f + L.u;
    s->xz = f + L.xz;
    s->delta = f + L.delta;
    s->y = f + L.y;
    s->dbc = f + L.dbc;
    s->xs = f + L.xs;
    s->xq = f + L.xq;
    memset(f, 0, sizeof(float) * L.total);
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
    s->batch_few = mamba__batch_few_here();
    return MAMBA_OK;
}

/* The two halves that every _new / _free pair shares (state, checkpoints).
   mamba__own: the caller's _init (result r) ran on mem from MAMBA_MALLOC;
   keep mem in *owned for the _free call, or give it back if r is an error.
   mamba__disown: free what an object owns, then zero the object (size bytes). */
static mamba_result mamba__own(void **owned, void *mem, mamba_result r)
{
    if (r != MAMBA_OK) {
        MAMBA_FREE(mem);
        return r;
    }
    *owned = mem;
    return MAMBA_OK;
}

static void mamba__disown(void *owned, void *object, size_t size)
{
    if (owned) MAMBA_FREE(owned);
    memset(object, 0, size);
}

MAMBA_API mamba_result mamba_state_new(mamba_state *s, const mamba_model *m)
{
    void *mem;
    size_t bytes;
    if (!s || !m || !m->data) return MAMBA_ERR_INVALID_ARG;
    bytes = mamba_state_size(m);
    mem = MAMBA_MALLOC(bytes);
    if (!mem) return MAMBA_ERR_OUT_OF_MEMORY;
    return mamba__own(&s->owned, mem, mamba_state_init(s, m, mem, bytes));
}

MAMBA_API void mamba_state_free(mamba_state *s)
{
    if (s) mamba__disown(s->owned, s, sizeof *s);
}

MAMBA_API void mamba_state_reset(mamba_state *s)
{
    mamba__state_parts L;
    if (!s || !s->conv) return;
    mamba__state_layout(s, &L);
    memset(s->conv, 0, sizeof(float) * L.recurrent); /* conv then ssm: one block */
    s->pos = 0;
}

MAMBA_API mamba_result mamba_state_copy(mamba_state *dst, const mamba_state *src)
{
    mamba__state_parts L;
    if (!dst || !src || !dst->conv || !src->conv || !mamba__state_same(dst, src)) return MAMBA_ERR_INVALID_ARG;
    if (dst == src) return MAMBA_OK;
    mamba__state_layout(src, &L);
    memcpy(dst->conv, src->conv, sizeof(float) * L.recurrent);
    dst->pos = src->pos;
    return MAMBA_OK;
}

/* ---- >>forward (batched prompt processing) ---------------------------- */

/* mamba_forward() computes exactly what mamba_step() computes, token after
   token, but one layer at a time for a block of T tokens:

       for each block of T tokens:
           r[t] = embedding[token t]                      T x d_model
           for each layer:                                (the block, mamba__block_mamba1)
               u   = RMSNorm(r) * w_norm                  per token
               xz  = u  in_proj^T                         (T x d_model)(d_model x 2 d_inner)
               x   = SiLU(conv(x))                        per channel, over t in order
               dbc = x  x_proj^T                          (T x d_inner)(d_inner x R+2N)
               delta = softplus(dbc[:, :R] dt_proj^T + b) (T x R)(R x d_inner)
               y   = scan over t, per channel             h stays in registers across t
               r  += y out_proj^T                         (T x d_inner)(d_inner x d_model)

   The four projections are matrix-matrix products (mamba__fw_matmul): a
   weight row is loaded once per block instead of once per token, which
   turns a memory-bound loop into a compute-bound one. The recurrent parts
   (conv, scan) must still go through t in order, but per channel: channels
   are independent, so they run 16 at a time in SIMD lanes and across
   threads. Threads only ever split independent outputs (rows, channels,
   tokens), and no sum depends on the block size, so results are bit-
   identical for any thread count and any block size.

   Mamba-2 (mamba__block_mamba2) is the same plan with two projections
   (in_proj, out_proj) and its scan per head (mamba__scan_head16 with
   AVX-512, mamba__scan_head token by token elsewhere: the exact
   recurrence). Its chunked "SSD" form, the scan as masked matrix products
   over chunks of Q tokens, is mamba__ssd_head, off by default (CONFIG:
   MAMBA_SSD_CHUNK), for two reasons. It is not measurably faster: on an
   AVX2 host (mamba2-130m shapes) it takes 0.81x the scan's time at Q = 32
   and 0.95x at Q = 64, and the scan is 14% of a 512-token prompt, so it
   could save under 3%; whole prompts measured 163 tokens per CPU second
   with the recurrence against 172 (Q 32) and 161 (Q 64) in f32, 166
   against 140 and 149 in f16, inside a spread of 10%. And its rounding
   depends on where chunks start, and a block's end is always a chunk's
   end, so its results depend on the block size, which the promise above
   rules out (tests/t_mamba2.sh fails on such a build for exactly that).
   The figures and how to take them: docs/kernels-notes.md. */


/* T*n floats rounded up to a 64-byte multiple; 0 on overflow. */
static size_t mamba__fw_part(size_t T, size_t n)
{
    size_t f;
    if (!mamba__mul(T, n, &f) || f > ((size_t)-1 - 64) / 8) return 0;
    return (f + 15) & ~(size_t)15;
}

/* Floats of scratch for blocks of T tokens; 0 on overflow. */
static size_t mamba__fw_floats(const mamba_config *c, int T)
{
    size_t t = (size_t)T, dm = (size_t)c->d_model, di = (size_t)c->d_inner;
    size_t dbc = (size_t)c->dt_rank + 2 * (size_t)c->d_state, xz = mamba__arch_dim(c, MAMBA__DIM_IN_PROJ_ROWS);
    size_t kmax = dm > di ? dm : di, p[5], sum;
    if ((size_t)c->dt_rank > kmax) kmax = (size_t)c->dt_rank;
    p[0] = mamba__fw_part(t, dm);     /* r, u */
    p[1] = mamba__fw_part(t, xz);     /* xz */
    p[2] = mamba__fw_part(t, dbc);    /* dbc */
    p[3] = mamba__fw_part(t, di);     /* delta, y */
    p[4] = mamba__fw_part((t + 15) & ~(size_t)15, kmax); /* xt */
    if (!p[0] || !p[1] || !p[2] || !p[3] || !p[4]) return 0;
    sum = 2 * p[0]; /* each part is below SIZE_MAX / 8: these sums cannot wrap */
    if (p[1] > (size_t)-1 / 4 - sum) return 0;
    sum += p[1];
    if (p[2] > (size_t)-1 / 4 - sum) return 0;
    sum += p[2];
    if (2 * p[3] > (size_t)-1 / 4 - sum) return 0;
    sum += 2 * p[3];
    if (p[4] > (size_t)-1 / 4 - sum) return 0;
    return sum + p[4];
}

MAMBA_API size_t mamba_forward_scratch_size(const mamba_model *m, int block)
{
    size_t f;
    if (!m || !m->data || block < 1 || block > MAMBA_FORWARD_MAX_BLOCK) return 0;
    f = mamba__fw_floats(&m->config, block);
    if (!f || f > ((size_t)-1 - 64) / sizeof(float)) return 0;
    return f * sizeof(float) + 64; /* + room to align the start to 64 bytes */
}

static void mamba__fw_carve(mamba__acts *b, const mamba_config *c, int T, float *f)
{
    size_t t = (size_t)T, di = (size_t)c->d_inner;
    b->r = f;
    f += mamba__fw_part(t, (size_t)c->d_model);
    b->u = f;
    f += mamba__fw_part(t, (size_t)c->d_model);
    b->xz = f;
    f += mamba__fw_part(t, mamba__arch_dim(c, MAMBA__DIM_IN_PROJ_ROWS));
    b->dbc = f;
    f += mamba__fw_part(t, (size_t)c->dt_rank + 2 * (size_t)c->d_state);
    b->delta = f;
    f += mamba__fw_part(t, di);
    b->y = f;
    f += mamba__fw_part(t, di);
    b->xt = f;
}

MAMBA_API mamba_result mamba_forward(const mamba_model *m, mamba_state *s, const int *tokens, int n, float *logits,
                                     int flags, void *scratch, size_t scratch_bytes)
{
    const mamba_config *cfg;
    const int all = (flags & MAMBA_FORWARD_ALL_LOGITS) != 0;
    const mamba__arch_ops *ops;
    mamba__acts b;
    size_t V;
    int T, b0, i, l;
    /* m->data is NULL for a model whose load failed or that was closed */
    if (!m || !s || !s->r || !m->data || n < 0 || (n > 0 && !tokens)) return MAMBA_ERR_INVALID_ARG;
    cfg = &m->config;
    if (!mamba__state_fits(m, s)) return MAMBA_ERR_INVALID_ARG;
    /* every token first, so an error leaves the state as it was */
    for (i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= cfg->n_vocab_padded) return MAMBA_ERR_TOKEN;
    if (n == 0) return MAMBA_OK;
    V = (size_t)cfg->n_vocab_padded;
    ops = mamba__arch_of(cfg->arch);
    MAMBA_ASSERT(ops != NULL); /* a loaded model has a known arch */
    /* no scratch, or an observer (which sees one token at a time): the
       token-by-token path (cannot fail now) */
    if (!scratch || s->observer) {
        for (i = 0; i < n; i++)
            mamba_step(m, s, tokens[i], !logits ? NULL : all ? logits + (size_t)i * V : i == n - 1 ? logits : NULL);
        return MAMBA_OK;
    }
    /* the largest block whose scratch fits */
    {
        /* an estimate from the bytes per token, then the exact size decides */
        size_t fit = scratch_bytes / (mamba_forward_scratch_size(m, 1) - 64);
        T = fit > MAMBA_FORWARD_MAX_BLOCK ? MAMBA_FORWARD_MAX_BLOCK : fit < 1 ? 1 : (int)fit;
        while (T > 1 && mamba_forward_scratch_size(m, T) > scratch_bytes) T--;
        while (T < MAMBA_FORWARD_MAX_BLOCK && mamba_forward_scratch_size(m, T + 1) <= scratch_bytes) T++;
        if (mamba_forward_scratch_size(m, T) > scratch_bytes) return MAMBA_ERR_BUFFER_TOO_SMALL;
    }
    {
        uintptr_t a = (uintptr_t)scratch;
        mamba__fw_carve(&b, cfg, T, (float *)(void *)((unsigned char *)scratch + ((64u - (a & 63u)) & 63u)));
        b.batched = 1;
        b.xq = NULL;
        b.xs = NULL;
    }

    for (b0 = 0; b0 < n; b0 += T) {
        const int nb = n - b0 < T ? n - b0 : T;
        mamba__thr_call thr;
        int t;
        mamba__thr_begin(&s->threads[1], &thr, nb, cfg->n_layer + 1); /* >>threads, per block */
        /* r[t] = embedding[token t], widened from any dtype as mamba_step() does */
        for (t = 0; t < nb; t++)
            mamba__dequant_row(b.r + (size_t)t * (size_t)cfg->d_model, &m->embedding, tokens[b0 + t]);
        b.T = nb;
        for (l = 0; l < cfg->n_layer; l++) {
            ops->block(m, s, l, &b, ops);
            mamba__thr_progress(&s->threads[1], &thr, l + 1, cfg->n_layer + 1);
        }
        if (logits && all) {
            /* logits[t] = lm_head(RMSNorm(r[t]) * w_norm_f) for the whole block */
            MAMBA__PARALLEL_FOR
            for (t = 0; t < nb; t++)
                mamba__rmsnorm(b.u + (size_t)t * cfg->d_model, b.r + (size_t)t * cfg->d_model, m->norm_f,
                               cfg->d_model, cfg->norm_eps);
            mamba__fw_matmul(logits + (size_t)b0 * V, (int)V, &m->lm_head, NULL, b.u, cfg->d_model, nb, b.xt);
        }
        if (b0 + nb == n) { /* leave the last residual in the state, as mamba_step() does */
            memcpy(s->r, b.r + (size_t)(nb - 1) * cfg->d_model, sizeof(float) * (size_t)cfg->d_model);
            if (logits && !all) {
                /* only the last token's logits: one matrix-vector product, as
                   mamba_step(); on the threads this block chose (a product on
                   all threads beside a busy core cost a tiny model's prompt
                   more than all its blocks on one) */
                mamba__rmsnorm(s->u, s->r, m->norm_f, cfg->d_model, cfg->norm_eps);
                mamba__matvec_x(logits, &m->lm_head, s->u, NULL, (int16_t *)s->xq, s->xs);
            }
        }
        mamba__thr_end(&s->threads[1], &thr);
    }
    s->pos = s->pos > LONG_MAX - n ? LONG_MAX : s->pos + n; /* saturates: a loaded snapshot may say LONG_MAX */
    return MAMBA_OK;
}

/* ---- >>snapshot (state save/load) ------------------------------------- */

#define MAMBA__SNAP_HEADER 64u
#define MAMBA__SNAP_TRAILER 8u

/* FNV-1a 64: h = (h ^ byte) * prime for each byte. Both steps are
   bijections of h for a fixed byte, and for a fixed h the first is a
   bijection of the byte, so changing any one byte of the input always
   changes the hash: every single-bit flip is caught, not just most. */
#define MAMBA__FNV_OFFSET 0xCBF29CE484222325ull
static uint64_t mamba__snap_fnv(uint64_t h, const unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

static void mamba__snap_w32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void mamba__snap_w64(unsigned char *p, uint64_t v)
{
    mamba__snap_w32(p, (uint32_t)v);
    mamba__snap_w32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t mamba__snap_fnv32(uint64_t h, uint32_t v)
{
    unsigned char b[4];
    mamba__snap_w32(b, v);
    return mamba__snap_fnv(h, b, 4);
}

/* Hash the first (or, with from_end, the last) min(n, 64) bytes at p. */
static uint64_t mamba__snap_fnv_sample(uint64_t h, const void *p, size_t n, int from_end)
{
    const unsigned char *b = (const unsigned char *)p;
    size_t k = n < 64 ? n : 64;
    if (!b) return mamba__snap_fnv32(h, 0); /* an absent tensor still moves the hash */
    return mamba__snap_fnv(h, from_end ? b + (n - k) : b, k);
}

/* Bytes of a matrix as stored (mamba__wtypes[]; a loaded model has no
   dtype without an entry). */
static size_t mamba__snap_matrix_bytes(const mamba_matrix *w)
{
    return (size_t)w->rows * mamba__row_bytes(w->dtype, w->cols);
}

/* The model fingerprint described under >>snapshot-api. */
static uint64_t mamba__snap_fingerprint(const mamba_model *m)
{
    const mamba_config *c = &m->config;
    uint64_t h = MAMBA__FNV_OFFSET;
    uint32_t bits;
    int l;
    h = mamba__snap_fnv32(h, (uint32_t)c->arch);
    h = mamba__snap_fnv32(h, (uint32_t)c->d_model);
    h = mamba__snap_fnv32(h, (uint32_t)c->n_layer);
    h = mamba__snap_fnv32(h, (uint32_t)c->d_inner);
    h = mamba__snap_fnv32(h, (uint32_t)c->d_state);
    h = mamba__snap_fnv32(h, (uint32_t)c->d_conv);
    h = mamba__snap_fnv32(h, (uint32_t)c->dt_rank);
    h = mamba__snap_fnv32(h, (uint32_t)c->n_vocab_padded);
    h = mamba__snap_fnv32(h, (uint32_t)c->n_vocab);
    memcpy(&bits, &c->norm_eps, 4);
    h = mamba__snap_fnv32(h, bits);
    memcpy(&bits, &c->mixer_rms_eps, 4);
    h = mamba__snap_fnv32(h, bits);
    h = mamba__snap_fnv32(h, (uint32_t)c->conv_bias);
    h = mamba__snap_fnv32(h, (uint32_t)c->in_proj_bias);
    h = mamba__snap_fnv32(h, (uint32_t)c->out_proj_bias);
    h = mamba__snap_fnv32(h, (uint32_t)c->tied_lm_head);
    if (c->arch == MAMBA_ARCH_MAMBA2) { /* (so Mamba-1 fingerprints are as before) */
        h = mamba__snap_fnv32(h, (uint32_t)c->n_heads);
        h = mamba__snap_fnv32(h, (uint32_t)c->n_groups);
        h = mamba__snap_fnv32(h, (uint32_t)(c->d_per_channel | c->gate_norm << 1 | c->norm_before_gate << 2));
        memcpy(&bits, &c->dt_min, 4);
        h = mamba__snap_fnv32(h, bits);
        memcpy(&bits, &c->dt_max, 4);
        h = mamba__snap_fnv32(h, bits);
    }
    h = mamba__snap_fnv32(h, (uint32_t)m->embedding.dtype);
    h = mamba__snap_fnv_sample(h, m->embedding.data, mamba__snap_matrix_bytes(&m->embedding), 0);
    h = mamba__snap_fnv_sample(h, m->embedding.data, mamba__snap_matrix_bytes(&m->embedding), 1);
    h = mamba__snap_fnv_sample(h, m->norm_f, 4 * mamba__role_elems(c, &mamba__roles[MAMBA__ROLE_AT_NORM_F]), 0);
    for (l = 0; l < c->n_layer; l++) {
        const mamba_layer *L = &m->layers[l];
        h = mamba__snap_fnv_sample(h, L->in_proj.data, mamba__snap_matrix_bytes(&L->in_proj), 0);
        h = mamba__snap_fnv_sample(h, L->A, 4 * mamba__role_elems(c, &mamba__roles[MAMBA__ROLE_AT_A]), 0);
        h = mamba__snap_fnv_sample(h, L->out_proj.data, mamba__snap_matrix_bytes(&L->out_proj), 0);
    }
    return h;
}

/* Floats a snapshot of s holds: the recurrent part of its layout. */
static size_t mamba__snap_floats(const mamba_state *s)
{
    mamba__state_parts L;
    mamba__state_layout(s, &L);
    return L.recurrent;
}

/* The sizes a snapshot's header records, in its order (bytes 12 .. 35). */
static void mamba__snap_sizes(const mamba_state *s, uint32_t v[6])
{
    v[0] = (uint32_t)s->n_layer;
    v[1] = (uint32_t)s->d_model;
    v[2] = (uint32_t)s->d_inner;
    v[3] = (uint32_t)s->d_state;
    v[4] = (uint32_t)s->d_conv;
    v[5] = (uint32_t)s->dt_rank;
}

MAMBA_API size_t mamba_state_snapshot_size(const mamba_state *s)
{
    if (!s || !s->conv) return 0;
    return MAMBA__SNAP_HEADER + 4 * mamba__snap_floats(s) + MAMBA__SNAP_TRAILER;
}

static const unsigned char mamba__snap_magic[8] = {0x89, 'M', 'S', 'T', 'A', 'T', 'E', '\n'};

MAMBA_API mamba_result mamba_state_save(const mamba_state *s, const mamba_model *m, void *buf, size_t cap,
                                        size_t *written)
{
    unsigned char *p = (unsigned char *)buf;
    uint32_t sizes[6];
    size_t nf, need, i;
    if (written) *written = 0;
    if (!s || !m || !buf || !s->conv || !m->data || !mamba__state_fits(m, s)) return MAMBA_ERR_INVALID_ARG;
    nf = mamba__snap_floats(s);
    need = mamba_state_snapshot_size(s);
    if (cap < need) {
        if (written) *written = need;
        return MAMBA_ERR_BUFFER_TOO_SMALL;
    }
    memcpy(p, mamba__snap_magic, 8);
    mamba__snap_w32(p + 8, MAMBA_SNAPSHOT_VERSION);
    mamba__snap_sizes(s, sizes);
    for (i = 0; i < 6; i++) mamba__snap_w32(p + 12 + 4 * i, sizes[i]);
    mamba__snap_w32(p + 36, 0);
    mamba__snap_w64(p + 40, (uint64_t)s->pos);
    mamba__snap_w64(p + 48, mamba__snap_fingerprint(m));
    mamba__snap_w64(p + 56, (uint64_t)nf);
    /* conv and ssm are one contiguous block (mamba__state_carve) */
    for (i = 0; i < nf; i++) {
        uint32_t bits;
        memcpy(&bits, &s->conv[i], 4);
        mamba__snap_w32(p + MAMBA__SNAP_HEADER + 4 * i, bits);
    }
    mamba__snap_w64(p + need - MAMBA__SNAP_TRAILER, mamba__snap_fnv(MAMBA__FNV_OFFSET, p, need - MAMBA__SNAP_TRAILER));
    if (written) *written = need;
    return MAMBA_OK;
}

MAMBA_API mamba_result mamba_state_load(mamba_state *s, const mamba_model *m, const void *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;
    uint32_t sizes[6];
    uint64_t nf, pos;
    size_t body, i;
    if (!s || !m || !buf || !s->conv || !m->data || !mamba__state_fits(m, s)) return MAMBA_ERR_INVALID_ARG;
    /* what it is, then which version: each readable once its bytes exist */
    if (len < 8) return MAMBA_ERR_TRUNCATED;
    if (memcmp(p, mamba__snap_magic, 8) != 0) return MAMBA_ERR_STATE_MAGIC;
    if (len < 12) return MAMBA_ERR_TRUNCATED;
    if (mamba__rd32(p + 8) != MAMBA_SNAPSHOT_VERSION) return MAMBA_ERR_STATE_VERSION;
    if (len < MAMBA__SNAP_HEADER + MAMBA__SNAP_TRAILER) return MAMBA_ERR_TRUNCATED;
    /* the float count against the bytes there are, by subtracting from the
       trusted len (no product of an untrusted count can wrap) */
    nf = mamba__rd64(p + 56);
    if (nf > (uint64_t)((len - MAMBA__SNAP_HEADER - MAMBA__SNAP_TRAILER) / 4)) return MAMBA_ERR_TRUNCATED;
    body = MAMBA__SNAP_HEADER + 4 * (size_t)nf;
    if (mamba__rd64(p + body) != mamba__snap_fnv(MAMBA__FNV_OFFSET, p, body)) return MAMBA_ERR_STATE_CHECKSUM;
    /* the checksum holds: now the fields mean what they say */
    pos = mamba__rd64(p + 40);
    if (mamba__rd32(p + 36) != 0 || pos > (uint64_t)LONG_MAX) return MAMBA_ERR_STATE_CHECKSUM;
    mamba__snap_sizes(s, sizes);
    for (i = 0; i < 6; i++)
        if (mamba__rd32(p + 12 + 4 * i) != sizes[i]) return MAMBA_ERR_STATE_MODEL;
    if (nf != (uint64_t)mamba__snap_floats(s)) return MAMBA_ERR_STATE_MODEL;
    if (mamba__rd64(p + 48) != mamba__snap_fingerprint(m)) return MAMBA_ERR_STATE_MODEL;
    /* everything checks out: only now touch the state */
    for (i = 0; i < (size_t)nf; i++) s->conv[i] = mamba__bits_to_f32(mamba__rd32(p + MAMBA__SNAP_HEADER + 4 * i));
    s->pos = (long)pos;
    return MAMBA_OK;
}

/* ---- >>checkpoint (prefix checkpoints) ---------------------------------- */

/* Built on the public API only (mamba_state_init/_copy/_reset and
   mamba_forward), so it follows whatever a state holds. The memory:

     [64 align] slot structs (capacity) | order (capacity ints) |
                pos (capacity ints) | tokens (max_tokens ints) |
                state 0 | state 1 | ...   (mamba_state_size(m) bytes each;
                                           mamba_state_init aligns inside)  */

/* 1 when the counts are in range. */
static int mamba__ckpt_counts_ok(int capacity, int max_tokens)
{
    return capacity >= 0 && capacity <= MAMBA_CHECKPOINTS_MAX_CAPACITY && max_tokens >= 0 &&
           max_tokens <= MAMBA_CHECKPOINTS_MAX_TOKENS;
}

/* The bytes before the first state (after the 64 of alignment room):
   every count is bounded above, so this cannot overflow. */
static size_t mamba__ckpt_head_bytes(int capacity, int max_tokens)
{
    size_t structs = ((size_t)capacity * sizeof(mamba_state) + 15) & ~(size_t)15;
    return structs + ((2 * (size_t)capacity * sizeof(int) + (size_t)max_tokens * sizeof(int) + 15) & ~(size_t)15);
}

MAMBA_API size_t mamba_checkpoints_size(const mamba_model *m, int capacity, int max_tokens)
{
    size_t per, states, head;
    if (!m || !m->data || !mamba__ckpt_counts_ok(capacity, max_tokens)) return 0;
    per = mamba_state_size(m);
    if (!per || !mamba__mul(per, (size_t)capacity, &states)) return 0;
    head = mamba__ckpt_head_bytes(capacity, max_tokens) + 64;
    if (states > (size_t)-1 - head) return 0;
    return head + states;
}

MAMBA_API mamba_result mamba_checkpoints_init(mamba_checkpoints *c, const mamba_model *m, int capacity,
                                              int max_tokens, int interval, unsigned flags, void *mem,
                                              size_t bytes)
{
    unsigned char *p;
    size_t need, per, structs;
    int i;
    if (!c || !m || !m->data || !mem) return MAMBA_ERR_INVALID_ARG;
    if (!mamba__ckpt_counts_ok(capacity, max_tokens) || interval < 0 || interval > MAMBA_CHECKPOINTS_MAX_TOKENS ||
        (flags & ~MAMBA_CHECKPOINTS_KEEP_RECENT) != 0)
        return MAMBA_ERR_INVALID_ARG;
    need = mamba_checkpoints_size(m, capacity, max_tokens);
    if (!need) return MAMBA_ERR_INVALID_ARG; /* does not fit in size_t */
    if (bytes < need) return MAMBA_ERR_BUFFER_TOO_SMALL;
    memset(c, 0, sizeof *c);
    c->model = m;
    c->capacity = capacity;
    c->interval = interval;
    c->max_tokens = max_tokens;
    c->flags = flags;
    per = mamba_state_size(m);
    structs = ((size_t)capacity * sizeof(mamba_state) + 15) & ~(size_t)15;
    p = (unsigned char *)mem + ((64u - ((uintptr_t)mem & 63u)) & 63u);
    c->slot = (mamba_state *)(void *)p;
    c->order = (int *)(void *)(p + structs);
    c->pos = c->order + capacity;
    c->tokens = c->pos + capacity;
    p += mamba__ckpt_head_bytes(capacity, max_tokens);
    for (i = 0; i < capacity; i++) {
        /* cannot fail: the model is loaded and each piece is per bytes */
        mamba_state_init(&c->slot[i], m, p + (size_t)i * per, per);
        c->pos[i] = -1;
    }
    return MAMBA_OK;
}

MAMBA_API mamba_result mamba_checkpoints_new(mamba_checkpoints *c, const mamba_model *m, int capacity,
                                             int max_tokens, int interval, unsigned flags)
{
    size_t bytes;
    void *mem;
    if (!c || !m || !m->data) return MAMBA_ERR_INVALID_ARG;
    bytes = mamba_checkpoints_size(m, capacity, max_tokens);
    if (!bytes) return MAMBA_ERR_INVALID_ARG;
    mem = MAMBA_MALLOC(bytes);
    if (!mem) return MAMBA_ERR_OUT_OF_MEMORY;
    return mamba__own(&c->owned, mem,
                      mamba_checkpoints_init(c, m, capacity, max_tokens, interval, flags, mem, bytes));
}

MAMBA_API void mamba_checkpoints_free(mamba_checkpoints *c)
{
    if (c) mamba__disown(c->owned, c, sizeof *c);
}

MAMBA_API void mamba_checkpoints_clear(mamba_checkpoints *c)
{
    int i;
    if (!c || !c->model) return;
    for (i = 0; i < c->capacity; i++) c->pos[i] = -1;
    c->n_used = 0;
    c->n_tokens = 0;
}

/* Tokens the history and tokens[0..n-1] share from the start. */
static int mamba__ckpt_common(const mamba_checkpoints *c, const int *tokens, int n)
{
    int k = 0, lim = n < c->n_tokens ? n : c->n_tokens;
    while (k < lim && c->tokens[k] == tokens[k]) k++;
    return k;
}

/* 1 when s is a state made for the store's model (mamba_forward with no
   tokens checks exactly that and does nothing else). */
static int mamba__ckpt_fits(const mamba_checkpoints *c, mamba_state *s)
{
    return mamba_forward(c->model, s, NULL, 0, NULL, 0, NULL, 0) == MAMBA_OK;
}

MAMBA_API mamba_result mamba_checkpoints_restore(const mamba_checkpoints *c, mamba_state *s, const int *tokens,
                                                 int n, int *pos)
{
    int k, j;
    if (pos) *pos = 0;
    if (!c || !c->model || !s || n < 0 || (n > 0 && !tokens)) return MAMBA_ERR_INVALID_ARG;
    if (!mamba__ckpt_fits(c, s)) return MAMBA_ERR_INVALID_ARG;
    k = mamba__ckpt_common(c, tokens, n);
    /* the order is by position: the last one at or before k wins */
    for (j = c->n_used - 1; j >= 0; j--) {
        int slot = c->order[j];
        if (c->pos[slot] <= k) {
            mamba_result r = mamba_state_copy(s, &c->slot[slot]);
            if (r != MAMBA_OK) return r;
            if (pos) *pos = c->pos[slot];
            return MAMBA_OK;
        }
    }
    mamba_state_reset(s);
    return MAMBA_OK;
}

/* The slot (an index into order) to drop from a full store, among the
   first `kept` of the order, when a checkpoint at new_pos is added. */
static int mamba__ckpt_victim(const mamba_checkpoints *c, int kept, int new_pos)
{
    int j, best = 0;
    long best_gap = -1;
    if (c->flags & MAMBA_CHECKPOINTS_KEEP_RECENT) return 0;
    for (j = 0; j < kept; j++) {
        long prev = j > 0 ? c->pos[c->order[j - 1]] : 0;
        long next = j + 1 < kept ? c->pos[c->order[j + 1]] : new_pos;
        if (best_gap < 0 || next - prev < best_gap) {
            best_gap = next - prev;
            best = j;
        }
    }
    return best;
}

MAMBA_API mamba_result mamba_checkpoints_add(mamba_checkpoints *c, const mamba_state *s, const int *tokens, int n)
{
    int k, kept, j, target = -1, drop = -1;
    if (!c || !c->model || !s || n < 0 || (n > 0 && !tokens)) return MAMBA_ERR_INVALID_ARG;
    /* mamba_forward with no tokens only reads s: the cast is safe */
    if (!mamba__ckpt_fits(c, (mamba_state *)s)) return MAMBA_ERR_INVALID_ARG;
    if (n == 0) return MAMBA_OK;
    if (s->pos != (long)n) return MAMBA_ERR_INVALID_ARG;
    if (n > c->max_tokens) return MAMBA_ERR_BUFFER_TOO_SMALL;
    k = mamba__ckpt_common(c, tokens, n);
    /* the checkpoints at or before k stay: a prefix of the order */
    kept = 0;
    while (kept < c->n_used && c->pos[c->order[kept]] <= k) kept++;
    if (c->capacity > 0) {
        if (kept > 0 && c->pos[c->order[kept - 1]] == n) { /* one there already: replace it */
            target = c->order[kept - 1];
            kept--;
        } else if (kept < c->n_used) { /* one after k is free to reuse */
            target = c->order[kept];
        } else if (c->n_used < c->capacity) {
            for (j = 0; j < c->capacity; j++)
                if (c->pos[j] < 0) break;
            target = j;
        } else {
            drop = mamba__ckpt_victim(c, kept, n);
            target = c->order[drop];
        }
        mamba_state_copy(&c->slot[target], s); /* cannot fail: s fits (checked above) */
    }
    /* commit: the checkpoints after k are gone, the victim too, then the new one at the end */
    for (j = kept; j < c->n_used; j++) c->pos[c->order[j]] = -1;
    if (drop >= 0) {
        c->pos[c->order[drop]] = -1;
        memmove(c->order + drop, c->order + drop + 1, sizeof(int) * (size_t)(kept - drop - 1));
        kept--;
    }
    c->n_used = kept;
    if (target >= 0) {
        c->pos[target] = n;
        c->order[c->n_used++] = target;
    }
    memcpy(c->tokens + k, tokens + k, sizeof(int) * (size_t)(n - k));
    c->n_tokens = n;
    if (c->on_checkpoint) c->on_checkpoint(c->user, s, c->tokens, n);
    return MAMBA_OK;
}

MAMBA_API mamba_result mamba_checkpoints_forward(mamba_checkpoints *c, mamba_state *s, const int *tokens, int n,
                                                 float *logits, void *scratch, size_t scratch_bytes, int *n_read)
{
    const mamba_model *m;
    int i, p;
    mamba_result r;
    if (n_read) *n_read = 0;
    if (!c || !c->model || !s || n < 0 || (n > 0 && !tokens)) return MAMBA_ERR_INVALID_ARG;
    m = c->model;
    if (!mamba__ckpt_fits(c, s)) return MAMBA_ERR_INVALID_ARG;
    if (n > c->max_tokens) return MAMBA_ERR_BUFFER_TOO_SMALL;
    if (scratch && scratch_bytes < mamba_forward_scratch_size(m, 1)) return MAMBA_ERR_BUFFER_TOO_SMALL;
    for (i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->config.n_vocab_padded) return MAMBA_ERR_TOKEN;
    if (n == 0) return MAMBA_OK;
    /* everything is checked: from here on nothing fails */
    r = mamba_checkpoints_restore(c, s, tokens, logits ? n - 1 : n, &p);
    if (r != MAMBA_OK) return r;
    if (n_read) *n_read = n - p;
    while (p < n) {
        int next = n;
        if (c->interval > 0) {
            int base = p - p % c->interval; /* the grid point at or before p */
            if (c->interval < n - base) next = base + c->interval;
        }
        r = mamba_forward(m, s, tokens + p, next - p, next == n ? logits : NULL, 0, scratch, scratch_bytes);
        if (r == MAMBA_OK) r = mamba_checkpoints_add(c, s, tokens, next);
        if (r != MAMBA_OK) return r;
        p = next;
    }
    return MAMBA_OK;
}

/* ---- >>batch (many sequences, one token each) --------------------------- */

/* CONFIG: MAMBA_BATCH_PANEL_BYTES  bytes of weights mamba_step_batch() takes
   through every sequence at a time: small enough to stay in the L2 cache
   beside the n inputs, large enough that a panel is a long stream */
#ifndef MAMBA_BATCH_PANEL_BYTES
#define MAMBA_BATCH_PANEL_BYTES 65536
#endif
/* rows a panel is a multiple of: whole groups of mamba__dot_rows_n_f where
   its rows go in triples (AVX2: a panel of 20 rows had left groups ending
   in a pair of rows, at 2/3 of a triple's FMAs a load), else 4 (the rows
   of a matvec call) */
#if defined(MAMBA__XR) && MAMBA__XR == 3
#define MAMBA__PANEL_UNIT MAMBA_BATCH_ROWS
#else
#define MAMBA__PANEL_UNIT 4
#endif

/* out[j] = W x[j] (+ bias) for n <= MAMBA__XD inputs of a type with a
   dot_rows_few: mamba__matvec_x's rows (four distant streams, each asked
   for ahead) read once for all n, each four rows through the inputs
   MAMBA__XD at a time. The groups of adjacent rows that dot_rows_n takes
   keep fewer reads in flight: on an AMD Zen 4 they read the 790m weights
   at about 12 GB/s against these rows' 25-29 (CONFIG: MAMBA_BATCH_FEW).
   The passes after the first ask for the next group's rows (mamba__pfplan),
   so the read goes on while they compute: 790m f32, 8 inputs, one thread,
   28.7-29.2 tokens/s against 25.1-25.3 when they asked for nothing new. */
#if defined(MAMBA__XD) && MAMBA__XD > 1
static void mamba__matvec_few(const mamba__wtype *wt, const mamba_matrix *W, int n, float *const *out,
                              const mamba__xin *in, const float *bias)
{
    const int rows = W->rows, nq = (rows + MAMBA__NR - 1) / MAMBA__NR;
    int mamba__par = (size_t)rows * (size_t)W->cols >= MAMBA__PAR_MIN_WORK, g;
    (void)mamba__par;
    MAMBA__PARALLEL_FOR_IF
    for (g = 0; g < nq; g++) {
        const int passes = (n + MAMBA__XD - 1) / MAMBA__XD;
        int r[MAMBA__NR], rn[MAMBA__NR], k, j, j0;
        float v[MAMBA__NR * MAMBA__XD];
        for (k = 0; k < MAMBA__NR; k++) {
            r[k] = g + k * nq < rows ? g + k * nq : g;
            rn[k] = g + 1 + k * nq < rows ? g + 1 + k * nq : r[k];
        }
        for (j0 = 0; j0 < n; j0 += MAMBA__XD) {
            const int m = n - j0 < MAMBA__XD ? n - j0 : MAMBA__XD;
            /* the first pass asks for its own rows ahead; the later ones
               for the next group's (mamba__pfplan) */
            const int later = j0 > 0 && g + 1 < nq;
            wt->dot_rows_few(v, W, r, in + j0, m, later ? rn : NULL, j0 / MAMBA__XD - 1, passes - 1);
            for (j = 0; j < m; j++)
                for (k = 0; k < MAMBA__NR; k++)
                    if (g + k * nq < rows)
                        out[j0 + j][g + k * nq] = bias ? v[j * MAMBA__NR + k] + bias[g + k * nq] : v[j * MAMBA__NR + k];
        }
    }
}
#endif

/* out[j] = W x[j] (+ bias) for j < n, each exactly as mamba__matvec_x()
   computes it: the weight type's own kernels from mamba__wtypes[], the same
   input preparation in each sequence's own scratch st[j]->xq/xs, and a
   row's sum does not depend on the rows or inputs it is computed with. The
   rows are read from memory once for all n inputs: the type's dot_rows_n
   takes a panel of rows (small enough for the L2 cache) through all of
   them. Threads split panels (independent rows): bit-identical for any
   thread count. */
static void mamba__matvec_batch(const mamba_matrix *W, int n, float *const *out, const float *const *x,
                                const float *bias, mamba_state *const *st)
{
    const mamba__wtype *wt = &mamba__wtypes[W->dtype];
    const int rows = W->rows;
    size_t rb = mamba__wtype_row_bytes(wt, (size_t)W->cols);
    size_t fit = rb ? (size_t)MAMBA_BATCH_PANEL_BYTES / rb : 4;
    int panel = fit >= (size_t)rows                ? (rows + 3) & ~3
                : fit < (size_t)MAMBA__PANEL_UNIT ? MAMBA__PANEL_UNIT
                                                  : (int)(fit / MAMBA__PANEL_UNIT) * MAMBA__PANEL_UNIT,
        np = (rows + panel - 1) / panel;
    int mamba__par = np > 1 && (size_t)rows * (size_t)W->cols >= MAMBA__PAR_MIN_WORK, p, j;
    mamba__xin in[MAMBA_BATCH_MAX];
    (void)mamba__par;
    if (n == 1) { /* one sequence: mamba_step's own matvec, four streams */
        mamba__matvec_x(out[0], W, x[0], bias, (int16_t *)st[0]->xq, st[0]->xs);
        return;
    }
    for (j = 0; j < n; j++) {
        in[j].x = x[j];
        in[j].xq = (const int16_t *)st[j]->xq;
        in[j].xs = st[j]->xs;
        if (wt->input != MAMBA__INPUT_F32) mamba__q8_quant_x((int16_t *)st[j]->xq, st[j]->xs, x[j], W->cols);
        if (wt->input == MAMBA__INPUT_Q16T) mamba__q16_terms(st[j]->xs, (const int16_t *)st[j]->xq, mamba__q8_blocks(W->cols));
    }
#if defined(MAMBA__XD) && MAMBA__XD > 1
    if (n <= st[0]->batch_few && wt->dot_rows_few) {
        mamba__matvec_few(wt, W, n, out, in, bias);
        return;
    }
#endif
    MAMBA__PARALLEL_FOR_IF
    for (p = 0; p < np; p++) {
        const int r0 = p * panel, r1 = r0 + panel < rows ? r0 + panel : rows;
        wt->dot_rows_n(out, W, r0, r1, in, n);
        if (bias) {
            int jj, r;
            for (jj = 0; jj < n; jj++)
                for (r = r0; r < r1; r++) out[jj][r] += bias[r];
        }
    }
}

/* mamba__block() for n states: the same calls line by line, the four
   projections batched. */
static void mamba__block_batch(const mamba_model *m, mamba_state *const *S, int n, int l)
{
    const mamba_config *cfg = &m->config;
    const mamba_layer *L = &m->layers[l];
    const int d_inner = cfg->d_inner, d_state = cfg->d_state, dt_rank = cfg->dt_rank;
    const size_t win = (size_t)l * (size_t)d_inner * (size_t)cfg->d_conv, hs = (size_t)l * (size_t)d_inner * (size_t)d_state;
    float *out[MAMBA_BATCH_MAX] = {0}; /* zeroed: gcc cannot see that entries 0..n-1 are set before use */
    const float *in[MAMBA_BATCH_MAX] = {0};
    int j, i;

    for (j = 0; j < n; j++) { /* u = RMSNorm(r) * w_norm */
        mamba__rmsnorm(S[j]->u, S[j]->r, L->norm, cfg->d_model, cfg->norm_eps);
        out[j] = S[j]->xz;
        in[j] = S[j]->u;
    }
    mamba__matvec_batch(&L->in_proj, n, out, in, L->in_proj_bias, S); /* (x, z) = in_proj(u) */
    for (j = 0; j < n; j++) {                                         /* x = SiLU(conv1d(x)) */
        mamba__conv_step(S[j]->xz, S[j]->conv + win, L->conv_weight, L->conv_bias, d_inner, cfg->d_conv);
        out[j] = S[j]->dbc;
        in[j] = S[j]->xz;
    }
    mamba__matvec_batch(&L->x_proj, n, out, in, NULL, S); /* (delta, B, C) = x_proj(x) */
    for (j = 0; j < n; j++) {
        float *dt_in = S[j]->dbc, *B = dt_in + dt_rank, *C = B + d_state;
        if (cfg->arch == MAMBA_ARCH_FALCON) {
            mamba__rmsnorm(dt_in, dt_in, NULL, dt_rank, cfg->mixer_rms_eps);
            mamba__rmsnorm(B, B, NULL, d_state, cfg->mixer_rms_eps);
            mamba__rmsnorm(C, C, NULL, d_state, cfg->mixer_rms_eps);
        }
        out[j] = S[j]->delta;
        in[j] = dt_in;
    }
    mamba__matvec_batch(&L->dt_proj, n, out, in, L->dt_bias, S); /* Delta = softplus(dt_proj(delta) + dt_bias) */
    for (j = 0; j < n; j++) {
        float *B = S[j]->dbc + dt_rank, *C = B + d_state;
        mamba__scan_io io;
        mamba__softplus_n(S[j]->delta, d_inner);
        /* h = exp(Delta A) h + Delta B x;  y = (C h + D x) * SiLU(z) */
        mamba__ssm_step_io(&io, S[j]->y, S[j]->ssm + hs, S[j]->xz, S[j]->delta, L->A, B, C, L->D, d_inner, d_state);
        mamba__scan(&io, 1, 0);
        if (S[j]->observer) mamba__observe(m, S[j], l, S[j]->xz, S[j]->xz + d_inner, B, C, S[j]->ssm + hs);
        mamba__gate(S[j]->y, S[j]->xz + d_inner, d_inner);
        out[j] = S[j]->u;
        in[j] = S[j]->y;
    }
    mamba__matvec_batch(&L->out_proj, n, out, in, L->out_proj_bias, S); /* r = r + out_proj(y) */
    for (j = 0; j < n; j++)
        for (i = 0; i < cfg->d_model; i++) S[j]->r[i] += S[j]->u[i];
}

/* mamba__block_mamba2() for n states: in_proj and out_proj batched, the
   steps between them (conv, Delta, the scan, the gated norm) per state with
   T = 1, as mamba_step() makes them. */
static void mamba__block_batch_mamba2(const mamba_model *m, mamba_state *const *S, int n, int l)
{
    const mamba_config *cfg = &m->config;
    const mamba_layer *L = &m->layers[l];
    const int dm = cfg->d_model, di = cfg->d_inner, N = cfg->d_state, H = cfg->n_heads, G = cfg->n_groups;
    const int conv_dim = di + 2 * G * N, ldxz = di + conv_dim + H;
    float *out[MAMBA_BATCH_MAX] = {0};
    const float *in[MAMBA_BATCH_MAX] = {0};
    int j, i;

    for (j = 0; j < n; j++) { /* u = RMSNorm(r) * w_norm */
        mamba__rmsnorm(S[j]->u, S[j]->r, L->norm, dm, cfg->norm_eps);
        out[j] = S[j]->xz;
        in[j] = S[j]->u;
    }
    mamba__matvec_batch(&L->in_proj, n, out, in, L->in_proj_bias, S); /* (z, xBC, dt) = in_proj(u) */
    for (j = 0; j < n; j++) {
        mamba_state *s = S[j];
        float *xz = s->xz; /* z (d_inner), xBC (conv_dim), dt (H) */
        mamba__scan_io io;
        /* xBC = SiLU(conv1d(xBC)) */
        mamba__conv(xz + di, (size_t)ldxz, mamba__state_window(s, l), L->conv_weight, L->conv_bias, conv_dim,
                    cfg->d_conv, 1, 0);
        /* Delta = softplus(dt + dt_bias), clamped */
        mamba__delta_heads(s->delta, xz + di + conv_dim, L->dt_bias, H, cfg->dt_min, cfg->dt_max);
        /* S = exp(Delta A) S + Delta B x;  y = C S + D x, per head and group */
        io.n_head = H;
        io.head_dim = cfg->head_dim;
        io.n_group = G;
        io.d_state = N;
        io.a_per_state = 0;
        io.d_per_channel = cfg->d_per_channel;
        io.A = L->A;
        io.D = L->D;
        io.h = mamba__state_h(s, l);
        io.x = xz + di;
        io.delta = s->delta;
        io.B = xz + 2 * (size_t)di;
        io.C = io.B + (size_t)G * (size_t)N;
        io.y = s->y;
        io.ldx = (size_t)ldxz;
        io.ldd = (size_t)H;
        io.ldbc = (size_t)ldxz;
        io.ldy = (size_t)di;
        mamba__scan(&io, 1, 0);
        if (s->observer) mamba__observe(m, s, l, io.x, xz, io.B, io.C, io.h);
        /* y = RMSNorm_groups(y * SiLU(z)) * w */
        mamba__gated_norm(s->y, xz, L->gate_norm, di, G, cfg->mixer_rms_eps, cfg->norm_before_gate);
        out[j] = s->u;
        in[j] = s->y;
    }
    mamba__matvec_batch(&L->out_proj, n, out, in, L->out_proj_bias, S); /* r = r + out_proj(y) */
    for (j = 0; j < n; j++)
        for (i = 0; i < dm; i++) S[j]->r[i] += S[j]->u[i];
}

MAMBA_API mamba_result mamba_step_batch(const mamba_model *m, mamba_state *const *states, int n, const int *tokens,
                                        float *logits)
{
    const mamba_config *cfg;
    void (*batch)(const mamba_model *, mamba_state *const *, int, int);
    int j, k, l;
    if (!m || !m->data || n < 0 || n > MAMBA_BATCH_MAX) return MAMBA_ERR_INVALID_ARG;
    if (n == 0) return MAMBA_OK;
    if (!states || !tokens) return MAMBA_ERR_INVALID_ARG;
    cfg = &m->config;
    for (j = 0; j < n; j++) {
        if (!states[j] || !states[j]->r || !mamba__state_fits(m, states[j])) return MAMBA_ERR_INVALID_ARG;
        for (k = 0; k < j; k++)
            if (states[k] == states[j]) return MAMBA_ERR_INVALID_ARG;
    }
    for (j = 0; j < n; j++)
        if (tokens[j] < 0 || tokens[j] >= cfg->n_vocab_padded) return MAMBA_ERR_TOKEN;

    for (j = 0; j < n; j++) mamba__dequant_row(states[j]->r, &m->embedding, tokens[j]); /* r = embedding[token] */
    batch = mamba__arch_of(cfg->arch)->batch; /* a row of mamba__archs[]: the loader refused the rest */
    for (l = 0; l < cfg->n_layer; l++) batch(m, states, n, l);
    for (j = 0; j < n; j++)
        if (states[j]->pos < LONG_MAX) states[j]->pos++; /* saturates, as in mamba_step */
    if (logits) { /* logits = lm_head(RMSNorm(r) * w_norm_f) */
        float *out[MAMBA_BATCH_MAX];
        const float *in[MAMBA_BATCH_MAX];
        for (j = 0; j < n; j++) {
            mamba__rmsnorm(states[j]->u, states[j]->r, m->norm_f, cfg->d_model, cfg->norm_eps);
            out[j] = logits + (size_t)j * (size_t)cfg->n_vocab_padded;
            in[j] = states[j]->u;
        }
        mamba__matvec_batch(&m->lm_head, n, out, in, NULL, states);
    }
    return MAMBA_OK;
}

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
    unsigned long long x;
    if (!rng) return 0; /* documented: NULL gives 0 (and mamba_rng_float 0.0f) */
    x = rng->s;
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
    /* cppcheck-suppress arrayIndexThenCheck ; a < b breaks ties by token id, it is no bounds check */
    return p[a] > p[b] || (p[a] == p[b] && a < b);
}

/* Heaps over idx[0..end) ordered by mamba__before, the worst at the root
   (each parent after its children): the tools for the two bounded paths
   below. */
static void mamba__sift_down(const float *p, int *idx, int root, int end)
{
    for (;;) {
        int child = 2 * root + 1, t;
        if (child >= end) return;
        if (child + 1 < end && mamba__before(p, idx[child], idx[child + 1])) child++; /* the later child */
        if (!mamba__before(p, idx[root], idx[child])) return;
        t = idx[root]; idx[root] = idx[child]; idx[child] = t;
        root = child;
    }
}

/* The k most likely of idx[0..n) into idx[0..k), by a heap of the best k
   seen so far: O(n log k) always. quickselect's fallback. */
static void mamba__select_top_heap(const float *p, int *idx, int n, int k)
{
    int i;
    for (i = k / 2 - 1; i >= 0; i--) mamba__sift_down(p, idx, i, k);
    for (i = k; i < n; i++) {
        if (mamba__before(p, idx[i], idx[0])) { /* better than the worst kept */
            int t = idx[0]; idx[0] = idx[i]; idx[i] = t;
            mamba__sift_down(p, idx, 0, k);
        }
    }
}

/* Partial quickselect (continued): a median of three can still be led into
   O(n^2) by a crafted order of logits, so after 2 log2(n) + 8 rounds that
   did not finish, the heap selection above does it in O(n log k) (the
   introselect idea, Musser 1997). */
static void mamba__select_top(const float *p, int *idx, int n, int k)
{
    int lo = 0, hi = n - 1, rounds = 8, m;
    for (m = n; m > 1; m >>= 1) rounds += 2;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, i = lo, j = hi, pivot, t;
        /* median of three as the pivot */
        int a = idx[lo], b = idx[mid], c = idx[hi];
        if (rounds-- == 0) {
            mamba__select_top_heap(p, idx, n, k);
            return;
        }
        if (mamba__before(p, b, a)) { t = a; a = b; b = t; } /* now a before b */
        if (mamba__before(p, c, b)) b = c;  /* b = the earlier of b, c (the later is not needed) */
        if (mamba__before(p, b, a)) b = a;  /* the median is the later of a and that */
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

/* Sort the k candidates in idx[0..k) by descending p: an insertion sort for
   a few, a heapsort beyond (top-p may sort every candidate of a flat
   distribution: O(k log k), not O(k^2)). */
static void mamba__sort_top(const float *p, int *idx, int k)
{
    int i, j;
    if (k > 32) {
        for (i = k / 2 - 1; i >= 0; i--) mamba__sift_down(p, idx, i, k);
        for (i = k - 1; i > 0; i--) { /* the worst to the end, again and again */
            int t = idx[0]; idx[0] = idx[i]; idx[i] = t;
            mamba__sift_down(p, idx, 0, i);
        }
        return;
    }
    for (i = 1; i < k; i++) {
        int v = idx[i];
        for (j = i; j > 0 && mamba__before(p, v, idx[j - 1]); j--) idx[j] = idx[j - 1];
        idx[j] = v;
    }
}

MAMBA_API int mamba_sample(const mamba_sampler *smp, mamba_rng *rng, float *logits, int n, const int *recent,
                           int n_recent, int *work)
{
    float *p = logits, r, acc, min_p;
    double sum, inv_t, pmax;
    int i, m, best;
    if (!smp || !rng || !logits || !work || n < 1 || n_recent < 0 || (n_recent > 0 && !recent)) return -1;

    /* 1. repetition penalty: each distinct recent token once; positive
          logits are divided, negative ones multiplied (both lower it). work
          marks the tokens already penalised: O(n + n_recent), whatever the
          ids. A penalty of +Inf takes a positive logit to 0 (+Inf / +Inf
          too, not NaN) and a negative one to -Inf; 0 stays 0. */
    if (smp->repetition_penalty > 0.0f && smp->repetition_penalty != 1.0f && n_recent > 0) {
        const float pen = smp->repetition_penalty;
        memset(work, 0, sizeof(int) * (size_t)n);
        for (i = 0; i < n_recent; i++) {
            int t = recent[i];
            if (t < 0 || t >= n || work[t]) continue;
            work[t] = 1;
            if (p[t] > 0.0f) {
                p[t] /= pen;
                if (p[t] != p[t]) p[t] = 0.0f; /* +Inf / +Inf */
            } else if (p[t] < 0.0f) {
                p[t] *= pen;
            }
        }
    }
    /* 2. greedy: a temperature that is NaN, <= 0, or below FLT_MIN (whose
          reciprocal overflows a float) is the limit T -> 0, mamba_argmax;
          so are logits whose best is +Inf (the first +Inf wins), NaN
          (every logit is NaN) or -Inf (nothing else is left). argmax never
          picks a NaN while there is a number. */
    best = mamba_argmax(p, n);
    if (!(smp->temperature >= FLT_MIN) || !(p[best] > -HUGE_VALF && p[best] < HUGE_VALF)) return best;

    /* 3. softmax of logits / T, with the maximum subtracted so exp never
          overflows. The scaled gap is formed in double, where it cannot
          overflow (|gap| <= 2 FLT_MAX, 1/T <= 1/FLT_MIN) nor make 0 * Inf at
          T = +Inf; NaN and -Inf logits get p = 0. */
    inv_t = 1.0 / (double)smp->temperature;
    pmax = (double)p[best];
    sum = 0.0;
    for (i = 0; i < n; i++) {
        double e = ((double)p[i] - pmax) * inv_t; /* <= 0; NaN for a NaN logit */
        p[i] = p[i] > -HUGE_VALF && e > -200.0 ? expf((float)e) : 0.0f; /* expf(-104) is already 0 */
        sum += p[i];
    }
    for (i = 0; i < n; i++) p[i] = (float)(p[i] / sum); /* sum >= 1: the best has exp(0) */

    /* 4. the candidates: every token with p > 0 (the best among them) */
    m = 0;
    for (i = 0; i < n; i++)
        if (p[i] > 0.0f) work[m++] = i;
    /* 5. top-k: the k most likely, by quickselect */
    if (smp->top_k > 0 && smp->top_k < m) {
        mamba__select_top(p, work, m, smp->top_k);
        m = smp->top_k;
    }
    /* 6. top-p (nucleus): the smallest prefix of the sorted candidates whose
          mass is >= top_p of what is left (renormalised after top-k, as
          Hugging Face does). Select the top 64, 256, ... until they hold
          enough mass, so only a handful are ever sorted. top_p <= 0 keeps
          the best alone; NaN is off, like >= 1. */
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
            k = k > m / 4 ? m : k * 4; /* never past m, never an int overflow */
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
    /* 7. min-p: drop tokens far less likely than the best one. p[best] is
          the largest p, and top-k and top-p always keep a token of the
          largest p; with min_p capped at 1 that token survives here too, so
          m >= 1 (min_p > 1 or +Inf keeps the tokens tied with the best).
          The ratio is the same before and after renormalising, so the order
          with 5 and 6 matters not. NaN is off, like <= 0. */
    min_p = smp->min_p > 1.0f ? 1.0f : smp->min_p; /* NaN stays NaN: off */
    if (min_p > 0.0f) {
        float floor_p = min_p * p[best];
        int j;
        for (i = j = 0; i < m; i++)
            if (p[work[i]] >= floor_p) work[j++] = work[i];
        m = j;
    }
    if (m < 1) return best; /* not reached (see 7) */
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

/* >>tokenizer-impl

   The packed section (all u32 little-endian, offsets from its first byte;
   tools/tokpack.py is the writer and documents every field):

     0 "MAMBATOK" | 8 version 1 or 2 | 12 header_bytes 128 (v1) / 256 (v2)
    16 total_bytes | 20 flags | 24 n_vocab | 28 n_merges | 32 n_added
    36 n_class | 40 n_ccc | 44 n_decomp | 48 n_decomp_pool | 52 n_comp
    56 token_blob_bytes | 60 added_blob_bytes | 64 max_token_bytes
    68.. offsets of: tok_offsets u32[n_vocab+1], tok_blob, byte_ids u32[256],
         merges {left,right,rank,result}[n_merges] sorted by (left,right),
         added {id,flags,off,len}[n_added], added_blob,
         class u32[n_class] (start<<8|class), ccc u32[n_ccc] (start<<8|ccc),
         decomp {cp, off<<3|len}[n_decomp] sorted, decomp_pool u32[],
         comp {first,second,composite}[n_comp] sorted by (first,second)
   version 2 only:
   112 unk_id | 116 bos_id | 120 eos_id | 124 prepend | 128 n_chars
   132 chars {cp,id}[n_chars] sorted | 136 byte_tok bitset[n_vocab]
   140 n_nodes | 144 nodes {first edge, n_edges, added index}[n_nodes]
   148 n_edges | 152 edges u32 byte<<24|child (breadth-first: edge k -> node k+2)
   156 max_added_bytes | 160 n_sets | 164 sets {neg | mask<<8, lit off, lit n}
   168 n_lits | 172 lits u32[] | 176 n_alts | 180 alts {first item, n}
   184 n_items | 188 items {set, min, max, kind}
   192 n_hash | 196 hash u32[n_hash] merge index (linear probing) | 200 max_probe
   A version 1 section (GPT-NeoX, as v0.1 wrote it) has no trie (its added
   tokens, at most 256, are sorted longest first and tried in turn) and no
   regex: it gets GPT-2's, the program below.

   Every read goes through mamba__rd32() (>>helpers), byte by byte: the
   section needs no alignment and the code runs the same on a big-endian
   machine. */

#define MAMBA__TOK_HEADER_V1 128u
#define MAMBA__TOK_HEADER_V2 256u
#define MAMBA__TOK_NONE 0xFFFFFFFFu
#define MAMBA__TOK_MAXCP 0x10FFFFu
#define MAMBA__TOK_MAX_ADDED (1u << 20)     /* added tokens (v2) */
#define MAMBA__TOK_MAX_ADDED_V1 256u        /* v1 tries each in turn: keep that cheap */
#define MAMBA__TOK_MAX_ADDED_BYTES 1024u    /* bounds the trie walk at one position */
#define MAMBA__TOK_MAX_SETS 256u
#define MAMBA__TOK_MAX_LITS 4096u
#define MAMBA__TOK_MAX_ALTS 256u
#define MAMBA__TOK_MAX_ITEMS 8u             /* items in one alternative (the recursion depth) */
#define MAMBA__TOK_SPACE 0x20u              /* SentencePiece's "▁" as the encoder holds it */
#define MAMBA__TOK_MAX_HASH (1u << 26)      /* merge hash slots */
#define MAMBA__TOK_MAX_PROBE 4096u

/* the merge hash's slot for the pair (l, r): tools/tokpack.py's merge_hash() */
static unsigned mamba__tok_hash(unsigned l, unsigned r)
{
    unsigned h = (l * 0x9E3779B1u + r) * 0x85EBCA77u;
    return (h ^ (h >> 15)) & 0xFFFFFFFFu;
}

/* element i (u32) of an array of u32 */
static unsigned mamba__tok_at(const unsigned char *arr, size_t i) { return mamba__rd32(arr + 4 * i); }

static mamba_result mamba__tok_fail(mamba_tokenizer *t, const char *why)
{
    t->error = why;
    return MAMBA_ERR_TOKENIZER;
}

/* Find an array of `count` elements of `elem` bytes at the u32 offset stored
   at header byte `field`; bounds are checked by subtracting from the trusted
   size, so no untrusted addition can wrap. */
static int mamba__tok_array(const unsigned char *s, size_t total, size_t header, unsigned field, size_t count,
                            size_t elem, const unsigned char **out)
{
    size_t off = mamba__rd32(s + field);
    if (off < header || off > total || (off & 3u)) return 0;
    if (count != 0 && elem > ((size_t)-1) / count) return 0;
    if (count * elem > total - off) return 0;
    *out = s + off;
    return 1;
}

/* length of the UTF-8 encoding of code point c */
static unsigned mamba__tok_u8len(unsigned c) { return c < 0x80 ? 1u : c < 0x800 ? 2u : c < 0x10000 ? 3u : 4u; }

static void mamba__tok_bitset(unsigned char *set, unsigned b) { set[b >> 3] |= (unsigned char)(1u << (b & 7)); }
static int mamba__tok_inset(const unsigned char *set, unsigned b) { return (set[b >> 3] >> (b & 7)) & 1; }

/* Check a start<<8|value range table: starts strictly increasing from 0. */
static int mamba__tok_ranges_ok(const unsigned char *arr, unsigned n, unsigned max_value)
{
    unsigned i, prev = 0;
    if (n == 0 || (mamba__tok_at(arr, 0) >> 8) != 0) return 0;
    for (i = 0; i < n; i++) {
        unsigned e = mamba__tok_at(arr, i), start = e >> 8;
        if ((e & 0xFFu) > max_value || start > MAMBA__TOK_MAXCP) return 0;
        if (i > 0 && start <= prev) return 0;
        prev = start;
    }
    return 1;
}

/* GPT-2's pre-tokenizer regex as a program (what tools/tokpack.py's
   compile_regex(GPT2_REGEX) writes into a version 2 section; test_tokenizer
   checks they agree), for version 1 sections:
     sets  0 ' | 1..8 s t r e v m l d | 9 space | 10 \p{L} | 11 \p{N}
           12 [^\s\p{L}\p{N}] | 13 \s | 14 \S
     alts  's 't 're 've 'm 'll 'd | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+
           \s+(?!\S) | \s+ */
#define MAMBA__W(x) (unsigned char)((x) & 0xFFu), (unsigned char)(((x) >> 8) & 0xFFu), \
                    (unsigned char)(((x) >> 16) & 0xFFu), (unsigned char)(((x) >> 24) & 0xFFu)
static const unsigned char mamba__tok_gpt2_sets[] = {MAMBA__W(0u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(2u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(3u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(4u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(5u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(6u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(7u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(8u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(9u), MAMBA__W(1u), MAMBA__W(512u), MAMBA__W(10u), MAMBA__W(0u), MAMBA__W(1024u), MAMBA__W(10u), MAMBA__W(0u), MAMBA__W(3585u), MAMBA__W(10u), MAMBA__W(0u), MAMBA__W(2048u), MAMBA__W(10u), MAMBA__W(0u), MAMBA__W(2049u), MAMBA__W(10u), MAMBA__W(0u)};
static const unsigned char mamba__tok_gpt2_lits[] = {MAMBA__W(39u), MAMBA__W(115u), MAMBA__W(116u), MAMBA__W(114u), MAMBA__W(101u), MAMBA__W(118u), MAMBA__W(109u), MAMBA__W(108u), MAMBA__W(100u), MAMBA__W(32u)};
static const unsigned char mamba__tok_gpt2_alts[] = {MAMBA__W(0u), MAMBA__W(2u), MAMBA__W(2u), MAMBA__W(2u), MAMBA__W(4u), MAMBA__W(3u), MAMBA__W(7u), MAMBA__W(3u), MAMBA__W(10u), MAMBA__W(2u), MAMBA__W(12u), MAMBA__W(3u), MAMBA__W(15u), MAMBA__W(2u), MAMBA__W(17u), MAMBA__W(2u), MAMBA__W(19u), MAMBA__W(2u), MAMBA__W(21u), MAMBA__W(2u), MAMBA__W(23u), MAMBA__W(2u), MAMBA__W(25u), MAMBA__W(1u)};
static const unsigned char mamba__tok_gpt2_items[] = {MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(2u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(3u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(4u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(5u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(4u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(6u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(7u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(7u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(8u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(9u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(10u), MAMBA__W(1u), MAMBA__W(0xFFFFFFFFu), MAMBA__W(0u), MAMBA__W(9u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(11u), MAMBA__W(1u), MAMBA__W(0xFFFFFFFFu), MAMBA__W(0u), MAMBA__W(9u), MAMBA__W(0u), MAMBA__W(1u), MAMBA__W(0u), MAMBA__W(12u), MAMBA__W(1u), MAMBA__W(0xFFFFFFFFu), MAMBA__W(0u), MAMBA__W(13u), MAMBA__W(1u), MAMBA__W(0xFFFFFFFFu), MAMBA__W(0u), MAMBA__W(14u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(1u), MAMBA__W(13u), MAMBA__W(1u), MAMBA__W(0xFFFFFFFFu), MAMBA__W(0u)};
#undef MAMBA__W

/* ---- Unicode lookups (binary searches over the packed tables) ---- */

/* value of the range containing c in a start<<8|value table */
static unsigned mamba__tok_range(const unsigned char *arr, unsigned n, unsigned c)
{
    unsigned lo = 0, hi = n; /* invariant: start[lo] <= c, answer in [lo, hi) */
    while (hi - lo > 1) {
        unsigned mid = lo + (hi - lo) / 2;
        if ((mamba__tok_at(arr, mid) >> 8) <= c) lo = mid; else hi = mid;
    }
    return mamba__tok_at(arr, lo) & 0xFFu;
}

enum { MAMBA__TOK_OTHER = 0, MAMBA__TOK_LETTER = 1, MAMBA__TOK_NUMBER = 2, MAMBA__TOK_SPACE_CLASS = 3 };

static unsigned mamba__tok_class_slow(const mamba_tokenizer *t, unsigned c)
{
    return mamba__tok_range(t->cls, t->n_class, c);
}
static unsigned mamba__tok_class(const mamba_tokenizer *t, unsigned c)
{
    return c < 128 ? t->ascii_class[c] : mamba__tok_range(t->cls, t->n_class, c);
}
/* SentencePiece: the id of the one-character piece c, or NONE */
static unsigned mamba__tok_char_slow(const mamba_tokenizer *t, unsigned c)
{
    unsigned lo = 0, hi = t->n_chars;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2, mc = mamba__tok_at(t->chars, 2 * (size_t)mid);
        if (mc == c) return mamba__tok_at(t->chars, 2 * (size_t)mid + 1);
        if (mc < c) lo = mid + 1; else hi = mid;
    }
    return MAMBA__TOK_NONE;
}
static unsigned mamba__tok_char(const mamba_tokenizer *t, unsigned c)
{
    return c < 128 ? t->ascii_id[c] : mamba__tok_char_slow(t, c);
}

/* the trie child of `node` on byte b, or NONE (edges sorted by byte) */
static unsigned mamba__tok_child(const mamba_tokenizer *t, unsigned node, unsigned b)
{
    const unsigned char *nd = t->nodes + 12 * (size_t)node;
    unsigned lo = mamba__rd32(nd), hi = lo + mamba__rd32(nd + 4);
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2, e = mamba__tok_at(t->edges, mid);
        if ((e >> 24) == b) return e & 0xFFFFFFu;
        if ((e >> 24) < b) lo = mid + 1; else hi = mid;
    }
    return MAMBA__TOK_NONE;
}

/* Version 2 parts of the header: the trie, the regex program, the
   SentencePiece tables. Called after the version 1 checks passed. */
static mamba_result mamba__tok_init_v2(mamba_tokenizer *t, const unsigned char *s, size_t total, size_t ablob)
{
    const size_t H = MAMBA__TOK_HEADER_V2;
    unsigned i, unk = mamba__rd32(s + 112), bos = mamba__rd32(s + 116), eos = mamba__rd32(s + 120);
    unsigned edges_seen = 0, terminals = 0;
    t->prepend = mamba__rd32(s + 124);
    t->n_chars = mamba__rd32(s + 128);
    t->n_nodes = mamba__rd32(s + 140);
    t->n_edges = mamba__rd32(s + 148);
    t->max_added_bytes = mamba__rd32(s + 156);
    t->n_sets = mamba__rd32(s + 160);
    t->n_lits = mamba__rd32(s + 168);
    t->n_alts = mamba__rd32(s + 176);
    t->n_items = mamba__rd32(s + 184);
    t->n_hash = mamba__rd32(s + 192);
    t->max_probe = mamba__rd32(s + 200);
    if ((unk != MAMBA__TOK_NONE && unk >= t->n_vocab) || (bos != MAMBA__TOK_NONE && bos >= t->n_vocab) ||
        (eos != MAMBA__TOK_NONE && eos >= t->n_vocab))
        return mamba__tok_fail(t, "tokenizer unk/bos/eos id out of range");
    if (((t->flags & MAMBA_TOK_ADD_BOS) && bos == MAMBA__TOK_NONE) || ((t->flags & MAMBA_TOK_ADD_EOS) && eos == MAMBA__TOK_NONE))
        return mamba__tok_fail(t, "tokenizer template adds a bos/eos it does not name");
    t->unk_id = unk == MAMBA__TOK_NONE ? -1 : (int)unk;
    t->bos_id = bos == MAMBA__TOK_NONE ? -1 : (int)bos;
    t->eos_id = eos == MAMBA__TOK_NONE ? -1 : (int)eos;
    t->add_bos = (t->flags & MAMBA_TOK_ADD_BOS) != 0;
    t->add_eos = (t->flags & MAMBA_TOK_ADD_EOS) != 0;
    if (t->prepend > 3 || (t->prepend && !(t->flags & MAMBA_TOK_SENTENCEPIECE)))
        return mamba__tok_fail(t, "tokenizer prepend mode unknown");
    if (t->n_added > MAMBA__TOK_MAX_ADDED || t->max_added_bytes > MAMBA__TOK_MAX_ADDED_BYTES)
        return mamba__tok_fail(t, "tokenizer has too many or too long added tokens");
    if (t->n_nodes < 2 || t->n_nodes > ablob + 2 || t->n_edges != t->n_nodes - 2)
        return mamba__tok_fail(t, "tokenizer trie size is wrong");
    if (t->n_sets > MAMBA__TOK_MAX_SETS || t->n_lits > MAMBA__TOK_MAX_LITS || t->n_alts > MAMBA__TOK_MAX_ALTS ||
        t->n_items > MAMBA__TOK_MAX_ALTS * MAMBA__TOK_MAX_ITEMS)
        return mamba__tok_fail(t, "tokenizer regex program too large");
    if (!mamba__tok_array(s, total, H, 132, t->n_chars, 8, &t->chars) ||
        !mamba__tok_array(s, total, H, 136, ((size_t)t->n_vocab + 7) / 8, 1, &t->byte_tok) ||
        !mamba__tok_array(s, total, H, 144, t->n_nodes, 12, &t->nodes) ||
        !mamba__tok_array(s, total, H, 152, t->n_edges, 4, &t->edges) ||
        !mamba__tok_array(s, total, H, 164, t->n_sets, 12, &t->sets) ||
        !mamba__tok_array(s, total, H, 172, t->n_lits, 4, &t->lits) ||
        !mamba__tok_array(s, total, H, 180, t->n_alts, 8, &t->alts) ||
        !mamba__tok_array(s, total, H, 188, t->n_items, 16, &t->items) ||
        !mamba__tok_array(s, total, H, 196, t->n_hash, 4, &t->hash))
        return mamba__tok_fail(t, "tokenizer array offset misaligned or out of bounds");
    /* the merge hash: every slot empty or a merge, every merge in exactly one
       slot within max_probe of its hash (so a lookup that stops there, or at
       an empty slot, never misses one) */
    if (t->n_hash) {
        unsigned used = 0, mask = t->n_hash - 1;
        if ((t->n_hash & mask) || t->n_hash > MAMBA__TOK_MAX_HASH || t->n_hash <= t->n_merges ||
            t->max_probe > MAMBA__TOK_MAX_PROBE)
            return mamba__tok_fail(t, "tokenizer merge hash size is wrong");
        for (i = 0; i < t->n_hash; i++) {
            unsigned e = mamba__tok_at(t->hash, i);
            if (e != MAMBA__TOK_NONE && e >= t->n_merges) return mamba__tok_fail(t, "tokenizer merge hash slot out of range");
            used += e != MAMBA__TOK_NONE;
        }
        if (used != t->n_merges) return mamba__tok_fail(t, "tokenizer merge hash does not hold every merge once");
        for (i = 0; i < t->n_merges; i++) {
            const unsigned char *m = t->merges + 16 * (size_t)i;
            unsigned h = mamba__tok_hash(mamba__rd32(m), mamba__rd32(m + 4)), k;
            for (k = 0; k <= t->max_probe; k++) {
                unsigned e = mamba__tok_at(t->hash, (h + k) & mask);
                if (e == i || e == MAMBA__TOK_NONE) break;
            }
            if (k > t->max_probe || mamba__tok_at(t->hash, (h + k) & mask) != i)
                return mamba__tok_fail(t, "tokenizer merge hash does not hold every merge once");
        }
    }
    for (i = 0; i < t->n_chars; i++) {
        unsigned cp = mamba__tok_at(t->chars, 2 * (size_t)i), id = mamba__tok_at(t->chars, 2 * (size_t)i + 1);
        if (cp > MAMBA__TOK_MAXCP || id >= t->n_vocab || (i > 0 && cp <= mamba__tok_at(t->chars, 2 * (size_t)i - 2)))
            return mamba__tok_fail(t, "tokenizer character table malformed");
    }
    /* the trie: breadth-first, so node i's edges come right after those of
       nodes 0..i-1 and edge k leads to node k + 2 (a tree: every node but
       the roots has one parent, and a child's index is above its parent's,
       so a walk always ends) */
    for (i = 0; i < t->n_nodes; i++) {
        const unsigned char *nd = t->nodes + 12 * (size_t)i;
        unsigned first = mamba__rd32(nd), n = mamba__rd32(nd + 4), entry = mamba__rd32(nd + 8), k;
        if (first != edges_seen || n > 256 || n > t->n_edges - edges_seen || (entry != MAMBA__TOK_NONE && entry >= t->n_added))
            return mamba__tok_fail(t, "tokenizer trie node malformed");
        for (k = 0; k < n; k++) {
            unsigned e = mamba__tok_at(t->edges, first + k);
            if ((e & 0xFFFFFFu) != first + k + 2 || first + k + 2 <= i ||
                (k > 0 && (e >> 24) <= (mamba__tok_at(t->edges, first + k - 1) >> 24)))
                return mamba__tok_fail(t, "tokenizer trie edge malformed");
        }
        edges_seen += n;
        terminals += entry != MAMBA__TOK_NONE;
    }
    /* every added token is spelt by the path to its node, and no other node
       claims one: the trie is exactly the added-token list */
    if (terminals != t->n_added) return mamba__tok_fail(t, "tokenizer trie does not match the added tokens");
    for (i = 0; i < t->n_added; i++) {
        const unsigned char *a = t->added + 16 * (size_t)i;
        unsigned fl = mamba__rd32(a + 4), off = mamba__rd32(a + 8), len = mamba__rd32(a + 12), k;
        unsigned node = fl & 1u;
        if (len > t->max_added_bytes) return mamba__tok_fail(t, "tokenizer added token longer than max_added_bytes");
        for (k = 0; k < len && node != MAMBA__TOK_NONE; k++) node = mamba__tok_child(t, node, t->added_blob[off + k]);
        if (node == MAMBA__TOK_NONE || mamba__rd32(t->nodes + 12 * (size_t)node + 8) != i)
            return mamba__tok_fail(t, "tokenizer trie does not match the added tokens");
    }
    {   /* the first bytes: the roots' edges */
        unsigned r;
        for (r = 0; r < 2; r++) {
            const unsigned char *nd = t->nodes + 12 * (size_t)r;
            unsigned first = mamba__rd32(nd), n = mamba__rd32(nd + 4), k;
            for (k = 0; k < n; k++) mamba__tok_bitset(r ? t->first_norm : t->first_raw, mamba__tok_at(t->edges, first + k) >> 24);
        }
    }
    /* the regex program */
    for (i = 0; i < t->n_sets; i++) {
        unsigned fl = mamba__tok_at(t->sets, 3 * (size_t)i), off = mamba__tok_at(t->sets, 3 * (size_t)i + 1);
        unsigned n = mamba__tok_at(t->sets, 3 * (size_t)i + 2), k;
        if ((fl & ~0xF01u) || off > t->n_lits || n > t->n_lits - off) return mamba__tok_fail(t, "tokenizer regex set malformed");
        for (k = 0; k < n; k++)
            if (mamba__tok_at(t->lits, off + k) > MAMBA__TOK_MAXCP) return mamba__tok_fail(t, "tokenizer regex literal out of range");
    }
    for (i = 0; i < t->n_alts; i++) {
        unsigned first = mamba__tok_at(t->alts, 2 * (size_t)i), n = mamba__tok_at(t->alts, 2 * (size_t)i + 1), k;
        if (n == 0 || n > MAMBA__TOK_MAX_ITEMS || first > t->n_items || n > t->n_items - first)
            return mamba__tok_fail(t, "tokenizer regex alternative malformed");
        for (k = first; k < first + n; k++) {
            const unsigned char *it = t->items + 16 * (size_t)k;
            unsigned set = mamba__rd32(it), lo = mamba__rd32(it + 4), hi = mamba__rd32(it + 8), kind = mamba__rd32(it + 12);
            if (set >= t->n_sets || lo > hi || hi == 0 || kind > 1 || (kind == 1 && (lo != 1 || hi != 1)))
                return mamba__tok_fail(t, "tokenizer regex item malformed");
        }
    }
    return MAMBA_OK;
}

static int mamba__tok_set_has(const mamba_tokenizer *t, unsigned set, unsigned w); /* >>tokenizer, the regex */

MAMBA_API mamba_result mamba_tokenizer_init(mamba_tokenizer *t, const void *section, size_t bytes)
{
    const unsigned char *s = (const unsigned char *)section;
    size_t total, blob, ablob, H;
    unsigned i, max_len = 0, ratio_x2 = 2, u8ratio = 3, comp_ratio = 1, comp_min2 = 0x1161u; /* Hangul V (and T) jamo compose by formula */
    if (!t) return MAMBA_ERR_INVALID_ARG;
    memset(t, 0, sizeof *t);
    if (!s) return MAMBA_ERR_INVALID_ARG;
    /* 1. header: size, magic, version, sizes */
    if (bytes < MAMBA__TOK_HEADER_V1) return mamba__tok_fail(t, "tokenizer section shorter than its header");
    if (memcmp(s, "MAMBATOK", 8) != 0) return mamba__tok_fail(t, "tokenizer section magic is not MAMBATOK");
    t->version = mamba__rd32(s + 8);
    if (t->version != 1 && t->version != 2) return mamba__tok_fail(t, "tokenizer section version is not 1 or 2");
    H = t->version == 1 ? MAMBA__TOK_HEADER_V1 : MAMBA__TOK_HEADER_V2;
    if (mamba__rd32(s + 12) != H) return mamba__tok_fail(t, "tokenizer header_bytes is not 128 (v1) or 256 (v2)");
    if (bytes < H) return mamba__tok_fail(t, "tokenizer section shorter than its header");
    total = mamba__rd32(s + 16);
    if (total < H || total > bytes) return mamba__tok_fail(t, "tokenizer total_bytes exceeds the section");
    t->flags = mamba__rd32(s + 20);
    if (t->flags & ~(t->version == 1 ? 1u : 0x1FFu)) return mamba__tok_fail(t, "tokenizer flags has unknown bits");
    if ((t->flags & (MAMBA_TOK_BYTE_FALLBACK | MAMBA_TOK_STRIP | MAMBA_TOK_META_SPLIT)) && !(t->flags & MAMBA_TOK_SENTENCEPIECE))
        return mamba__tok_fail(t, "tokenizer SentencePiece flags on a byte-level tokenizer");
    t->n_vocab = mamba__rd32(s + 24);
    t->n_merges = mamba__rd32(s + 28);
    t->n_added = mamba__rd32(s + 32);
    t->n_class = mamba__rd32(s + 36);
    t->n_ccc = mamba__rd32(s + 40);
    t->n_decomp = mamba__rd32(s + 44);
    t->n_decomp_pool = mamba__rd32(s + 48);
    t->n_comp = mamba__rd32(s + 52);
    blob = mamba__rd32(s + 56);
    ablob = mamba__rd32(s + 60);
    t->max_token_bytes = mamba__rd32(s + 64);
    t->unk_id = t->bos_id = t->eos_id = -1;
    if (t->n_vocab == 0 || t->n_vocab > 0x7FFFFFFFu) return mamba__tok_fail(t, "tokenizer n_vocab is 0 or too large");
    if (t->version == 1 && t->n_added > MAMBA__TOK_MAX_ADDED_V1)
        return mamba__tok_fail(t, "tokenizer v1 section with more than 256 added tokens (repack it: v2 has a trie)");
    /* 2. every array inside the section */
    if (!mamba__tok_array(s, total, H, 68, (size_t)t->n_vocab + 1, 4, &t->tok_offsets) ||
        !mamba__tok_array(s, total, H, 72, blob, 1, &t->tok_blob) ||
        !mamba__tok_array(s, total, H, 76, 256, 4, &t->byte_ids) ||
        !mamba__tok_array(s, total, H, 80, t->n_merges, 16, &t->merges) ||
        !mamba__tok_array(s, total, H, 84, t->n_added, 16, &t->added) ||
        !mamba__tok_array(s, total, H, 88, ablob, 1, &t->added_blob) ||
        !mamba__tok_array(s, total, H, 92, t->n_class, 4, &t->cls) ||
        !mamba__tok_array(s, total, H, 96, t->n_ccc, 4, &t->ccc) ||
        !mamba__tok_array(s, total, H, 100, t->n_decomp, 8, &t->decomp) ||
        !mamba__tok_array(s, total, H, 104, t->n_decomp_pool, 4, &t->decomp_pool) ||
        !mamba__tok_array(s, total, H, 108, t->n_comp, 12, &t->comp))
        return mamba__tok_fail(t, "tokenizer array offset misaligned or out of bounds");
    /* 3. token byte strings: offsets start at 0, never decrease, end at the blob size */
    if (mamba__tok_at(t->tok_offsets, 0) != 0 || mamba__tok_at(t->tok_offsets, t->n_vocab) != blob)
        return mamba__tok_fail(t, "tokenizer token offsets do not span the blob");
    for (i = 0; i < t->n_vocab; i++) {
        unsigned a = mamba__tok_at(t->tok_offsets, i), b = mamba__tok_at(t->tok_offsets, i + 1);
        if (b < a) return mamba__tok_fail(t, "tokenizer token offsets decrease");
        if (b - a > max_len) max_len = b - a;
    }
    if (max_len != t->max_token_bytes || max_len > 0x7FFFFFF0u) return mamba__tok_fail(t, "tokenizer max_token_bytes is wrong");
    for (i = 0; i < 256; i++) {
        unsigned id = mamba__tok_at(t->byte_ids, i);
        if (id != MAMBA__TOK_NONE && id >= t->n_vocab) return mamba__tok_fail(t, "tokenizer byte id out of range");
    }
    /* 4. merges: ids in range, sorted strictly by (left, right), and each
       result spells left's bytes then right's (so decode(encode(x)) == x) */
    for (i = 0; i < t->n_merges; i++) {
        const unsigned char *m = t->merges + 16 * (size_t)i;
        unsigned l = mamba__rd32(m), r = mamba__rd32(m + 4), res = mamba__rd32(m + 12);
        unsigned lo, ll, ro, rl, so, sl;
        if (l >= t->n_vocab || r >= t->n_vocab || res >= t->n_vocab)
            return mamba__tok_fail(t, "tokenizer merge id out of range");
        if (i > 0) {
            unsigned pl = mamba__rd32(m - 16), pr = mamba__rd32(m - 12);
            if (l < pl || (l == pl && r <= pr)) return mamba__tok_fail(t, "tokenizer merges not sorted");
        }
        lo = mamba__tok_at(t->tok_offsets, l); ll = mamba__tok_at(t->tok_offsets, l + 1) - lo;
        ro = mamba__tok_at(t->tok_offsets, r); rl = mamba__tok_at(t->tok_offsets, r + 1) - ro;
        so = mamba__tok_at(t->tok_offsets, res); sl = mamba__tok_at(t->tok_offsets, res + 1) - so;
        if ((size_t)ll + rl != sl || memcmp(t->tok_blob + so, t->tok_blob + lo, ll) != 0 ||
            memcmp(t->tok_blob + so + ll, t->tok_blob + ro, rl) != 0)
            return mamba__tok_fail(t, "tokenizer merge result is not left+right");
    }
    /* 5. added tokens: in range, non-empty (v1: longest first) */
    for (i = 0; i < t->n_added; i++) {
        const unsigned char *a = t->added + 16 * (size_t)i;
        unsigned id = mamba__rd32(a), fl = mamba__rd32(a + 4), off = mamba__rd32(a + 8), len = mamba__rd32(a + 12);
        if (id >= t->n_vocab || (fl & ~3u) || len == 0 || off > ablob || len > ablob - off)
            return mamba__tok_fail(t, "tokenizer added token malformed");
        if (t->version == 1) {
            if (i > 0 && len > mamba__rd32(a - 4)) return mamba__tok_fail(t, "tokenizer added tokens not longest first");
            mamba__tok_bitset((fl & 1u) ? t->first_norm : t->first_raw, t->added_blob[off]);
            if (len > t->max_added_bytes) t->max_added_bytes = len;
        }
    }
    /* 6. Unicode tables */
    if (!mamba__tok_ranges_ok(t->cls, t->n_class, 3)) return mamba__tok_fail(t, "tokenizer class table malformed");
    if (!mamba__tok_ranges_ok(t->ccc, t->n_ccc, 255)) return mamba__tok_fail(t, "tokenizer ccc table malformed");
    for (i = 0; i < t->n_decomp; i++) {
        unsigned cp = mamba__tok_at(t->decomp, 2 * (size_t)i), ol = mamba__tok_at(t->decomp, 2 * (size_t)i + 1);
        unsigned off = ol >> 3, len = ol & 7u, k, u8 = 0;
        if (cp > MAMBA__TOK_MAXCP || len == 0 || len > 4 || off > t->n_decomp_pool || len > t->n_decomp_pool - off)
            return mamba__tok_fail(t, "tokenizer decomposition malformed");
        if (i > 0 && cp <= mamba__tok_at(t->decomp, 2 * (size_t)i - 2))
            return mamba__tok_fail(t, "tokenizer decompositions not sorted");
        for (k = 0; k < len; k++) {
            unsigned c = mamba__tok_at(t->decomp_pool, off + k);
            if (c > MAMBA__TOK_MAXCP) return mamba__tok_fail(t, "tokenizer decomposition code point out of range");
            u8 += mamba__tok_u8len(c);
        }
        /* bounds for mamba_encode_work_size: cp needs u8len(cp) input bytes */
        k = mamba__tok_u8len(cp);
        if ((2 * len + k - 1) / k > ratio_x2) ratio_x2 = (2 * len + k - 1) / k;
        if ((u8 + k - 1) / k > u8ratio) u8ratio = (u8 + k - 1) / k;
    }
    for (i = 0; i < t->n_comp; i++) {
        const unsigned char *c = t->comp + 12 * (size_t)i;
        unsigned a = mamba__rd32(c), b = mamba__rd32(c + 4), x = mamba__rd32(c + 8);
        if (a > MAMBA__TOK_MAXCP || b > MAMBA__TOK_MAXCP || x > MAMBA__TOK_MAXCP)
            return mamba__tok_fail(t, "tokenizer composition code point out of range");
        if (i > 0) {
            unsigned pa = mamba__rd32(c - 12), pb = mamba__rd32(c - 8);
            if (a < pa || (a == pa && b <= pb)) return mamba__tok_fail(t, "tokenizer compositions not sorted");
        }
        if (b < comp_min2) comp_min2 = b;
        /* a composite longer in UTF-8 than its two parts would grow the text */
        if (mamba__tok_u8len(x) > mamba__tok_u8len(a) + mamba__tok_u8len(b)) comp_ratio = 2;
    }
    /* 7. version 2: trie, regex, SentencePiece tables; version 1: GPT-2's regex */
    if (t->version == 2) {
        mamba_result r = mamba__tok_init_v2(t, s, total, ablob);
        if (r != MAMBA_OK) { const char *why = t->error; memset(t, 0, sizeof *t); t->error = why; return r; }
    } else {
        t->sets = mamba__tok_gpt2_sets; t->n_sets = (unsigned)(sizeof mamba__tok_gpt2_sets / 12);
        t->lits = mamba__tok_gpt2_lits; t->n_lits = (unsigned)(sizeof mamba__tok_gpt2_lits / 4);
        t->alts = mamba__tok_gpt2_alts; t->n_alts = (unsigned)(sizeof mamba__tok_gpt2_alts / 8);
        t->items = mamba__tok_gpt2_items; t->n_items = (unsigned)(sizeof mamba__tok_gpt2_items / 16);
    }
    /* caches of the lookups every ASCII character makes */
    for (i = 0; i < 128; i++) {
        unsigned k;
        t->ascii_class[i] = (unsigned char)mamba__tok_class_slow(t, i);
        t->ascii_id[i] = mamba__tok_char_slow(t, i);
        for (k = 0; k < t->n_sets && k < 32; k++)
            t->ascii_sets[i] |= (unsigned)mamba__tok_set_has(t, k, i | (unsigned)t->ascii_class[i] << 24) << k;
    }
    /* the first character of a match of alternative k is in one of the sets
       of its items up to the first that must match (a lookahead there: any) */
    for (i = 0; i < t->n_alts && i < 32 && t->n_sets <= 32; i++) {
        unsigned first = mamba__tok_at(t->alts, 2 * (size_t)i), n = mamba__tok_at(t->alts, 2 * (size_t)i + 1), k;
        for (k = first; k < first + n; k++) {
            const unsigned char *it = t->items + 16 * (size_t)k;
            if (mamba__rd32(it + 12) == 1) { t->alt_first[i] = 0xFFFFFFFFu; break; }
            t->alt_first[i] |= 1u << mamba__rd32(it);
            if (mamba__rd32(it + 4) > 0) break;
        }
    }
    t->comp_min_second = comp_min2;
    /* (one pass over the merge results: is there a non-space byte before a space?) */
    if ((t->flags & MAMBA_TOK_SENTENCEPIECE) && !(t->flags & MAMBA_TOK_META_SPLIT) && t->ascii_id[MAMBA__TOK_SPACE] != MAMBA__TOK_NONE) {
        t->sp_words = 1;
        for (i = 0; i < t->n_merges && t->sp_words; i++) {
            unsigned res = mamba__rd32(t->merges + 16 * (size_t)i + 12), k;
            unsigned a = mamba__tok_at(t->tok_offsets, res), b = mamba__tok_at(t->tok_offsets, res + 1);
            for (k = a + 1; k < b; k++)
                if (t->tok_blob[k] == ' ' && t->tok_blob[k - 1] != ' ') { t->sp_words = 0; break; }
        }
    }
    t->cp_per_byte_x2 = ratio_x2;
    t->utf8_per_byte = u8ratio * comp_ratio;
    /* a push writes the token, plus what it completes or gives up: 3 held
       bytes, or with byte fallback 3 U+FFFD (9 bytes) and one more byte */
    t->detok_bytes = t->max_token_bytes + 3;
    if (t->flags & MAMBA_TOK_SENTENCEPIECE) t->detok_bytes = (t->max_token_bytes > 1 ? t->max_token_bytes : 1) + 9;
    t->data = s;
    t->bytes = total;
    return MAMBA_OK;
}

MAMBA_API mamba_result mamba_tokenizer_from_model(mamba_tokenizer *t, const mamba_model *m)
{
    if (!t || !m || !m->data) return MAMBA_ERR_INVALID_ARG; /* a failed or closed model */
    if (!m->tokenizer || m->tokenizer_bytes == 0) {
        memset(t, 0, sizeof *t);
        t->error = "the model file has no tokenizer section";
        return MAMBA_ERR_TOKENIZER;
    }
    return mamba_tokenizer_init(t, m->tokenizer, m->tokenizer_bytes);
}

static unsigned mamba__tok_ccc(const mamba_tokenizer *t, unsigned c)
{
    if (c < 0x300) return 0; /* no combining mark below U+0300: the common case */
    return mamba__tok_range(t->ccc, t->n_ccc, c);
}

/* Hangul syllables decompose and compose by arithmetic (Unicode ch. 3.12):
   S = SBase + (L * VCount + V) * TCount + T. */
#define MAMBA__TOK_SBASE 0xAC00u
#define MAMBA__TOK_LBASE 0x1100u
#define MAMBA__TOK_VBASE 0x1161u
#define MAMBA__TOK_TBASE 0x11A7u
#define MAMBA__TOK_LCOUNT 19u
#define MAMBA__TOK_VCOUNT 21u
#define MAMBA__TOK_TCOUNT 28u
#define MAMBA__TOK_SCOUNT (MAMBA__TOK_LCOUNT * MAMBA__TOK_VCOUNT * MAMBA__TOK_TCOUNT)

/* the composite of the pair (a, b), or 0 if they do not compose */
static unsigned mamba__tok_compose(const mamba_tokenizer *t, unsigned a, unsigned b)
{
    unsigned lo = 0, hi = t->n_comp;
    if (a - MAMBA__TOK_LBASE < MAMBA__TOK_LCOUNT && b - MAMBA__TOK_VBASE < MAMBA__TOK_VCOUNT)
        return MAMBA__TOK_SBASE + ((a - MAMBA__TOK_LBASE) * MAMBA__TOK_VCOUNT + (b - MAMBA__TOK_VBASE)) * MAMBA__TOK_TCOUNT;
    if (a - MAMBA__TOK_SBASE < MAMBA__TOK_SCOUNT && (a - MAMBA__TOK_SBASE) % MAMBA__TOK_TCOUNT == 0 &&
        b - MAMBA__TOK_TBASE - 1 < MAMBA__TOK_TCOUNT - 1)
        return a + (b - MAMBA__TOK_TBASE);
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const unsigned char *e = t->comp + 12 * (size_t)mid;
        unsigned ea = mamba__rd32(e), eb = mamba__rd32(e + 4);
        if (ea == a && eb == b) return mamba__rd32(e + 8);
        if (ea < a || (ea == a && eb < b)) lo = mid + 1; else hi = mid;
    }
    return 0;
}

/* Decode one UTF-8 character at s[0..n), n >= 1. Returns the bytes consumed;
   *cp gets the code point, or U+FFFD for an ill-formed sequence. The bytes
   consumed for an ill-formed sequence are its "maximal subpart" (the longest
   prefix of a valid sequence, at least one byte): the WHATWG / Unicode
   recommendation that Python and JavaScript follow. */
static size_t mamba__tok_utf8(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned b0 = s[0], need, c, lo = 0x80, hi = 0xBF;
    size_t i;
    if (b0 < 0x80) { *cp = b0; return 1; }
    if (b0 >= 0xC2 && b0 <= 0xDF) { need = 1; c = b0 & 0x1F; }
    else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2; c = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;      /* no overlong 3-byte forms */
        if (b0 == 0xED) hi = 0x9F;      /* no surrogates */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3; c = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;      /* no overlong 4-byte forms */
        if (b0 == 0xF4) hi = 0x8F;      /* nothing past U+10FFFF */
    } else { *cp = 0xFFFD; return 1; }
    for (i = 1; i <= need; i++) {
        unsigned b;
        if (i >= n) { *cp = 0xFFFD; return i; }
        b = s[i];
        if (b < lo || b > hi) { *cp = 0xFFFD; return i; }
        lo = 0x80; hi = 0xBF;
        c = (c << 6) | (b & 0x3F);
    }
    *cp = c;
    return need + 1;
}

static size_t mamba__tok_put_utf8(unsigned c, unsigned char *o)
{
    if (c < 0x80) { o[0] = (unsigned char)c; return 1; }
    if (c < 0x800) { o[0] = (unsigned char)(0xC0 | (c >> 6)); o[1] = (unsigned char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12)); o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F)); return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18)); o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F)); o[3] = (unsigned char)(0x80 | (c & 0x3F)); return 4;
}

/* ---- the encoder's state: output ids and working memory ---- */

/* ---- the encoder's state: output ids and working memory ---- */

typedef struct mamba__tok_enc {
    const mamba_tokenizer *t;
    int *ids;
    size_t max_ids, n_ids;      /* n_ids counts past max_ids: the size needed */
    unsigned char *work;        /* caller memory */
    size_t work_bytes;
    size_t budget;              /* regex steps left (a hostile program cannot run away) */
    size_t steps;               /* added-token matching steps (trie edges, v1 comparisons) */
    const unsigned *sets_of;    /* per code point of the piece: bit s = in regex set s (or NULL) */
    size_t sets_base;           /* the piece's first position */
    int too_small;              /* work memory ran out */
    int bad;                    /* the regex ran out of budget */
} mamba__tok_enc;

static void mamba__tok_emit(mamba__tok_enc *e, unsigned id)
{
    if (e->n_ids < e->max_ids) e->ids[e->n_ids] = (int)id;
    e->n_ids++;
}

/* Merge lookup: the hash (v2), else binary search of (left, right); 1 and
   rank/result if found. */
static int mamba__tok_merge(const mamba_tokenizer *t, unsigned l, unsigned r, unsigned *rank, unsigned *res)
{
    unsigned lo = 0, hi = t->n_merges;
    if (t->n_hash) {
        unsigned mask = t->n_hash - 1, h = mamba__tok_hash(l, r), k;
        for (k = 0; k <= t->max_probe; k++) {
            unsigned e = mamba__tok_at(t->hash, (h + k) & mask);
            const unsigned char *m;
            if (e == MAMBA__TOK_NONE) return 0;
            m = t->merges + 16 * (size_t)e;
            if (mamba__rd32(m) == l && mamba__rd32(m + 4) == r) {
                *rank = mamba__rd32(m + 8);
                *res = mamba__rd32(m + 12);
                return 1;
            }
        }
        return 0;
    }
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const unsigned char *m = t->merges + 16 * (size_t)mid;
        unsigned ml = mamba__rd32(m), mr = mamba__rd32(m + 4);
        if (ml == l && mr == r) { *rank = mamba__rd32(m + 8); *res = mamba__rd32(m + 12); return 1; }
        if (ml < l || (ml == l && mr < r)) lo = mid + 1; else hi = mid;
    }
    return 0;
}

/* A min-heap of candidate merges, keyed rank << 32 | position: the lowest
   rank first, and among equal ranks the leftmost, which is the order Hugging
   Face's BPE (word.rs, merge_all) pops them in. Entries go stale when a
   neighbour merges; they are checked when popped, not removed early. */
typedef unsigned long long mamba__tok_u64;

static void mamba__tok_heap_push(mamba__tok_u64 *h, size_t *n, mamba__tok_u64 v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static mamba__tok_u64 mamba__tok_heap_pop(mamba__tok_u64 *h, size_t *n)
{
    mamba__tok_u64 top = h[0], v = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (m > 0) h[i] = v;
    return top;
}

/* BPE on a short word (n <= MAMBA__TOK_SHORT symbols), in place: each
   round merges the pair of lowest rank, the leftmost of equal ones (the
   order the heap below pops them in); O(n^2) on a few symbols beats the
   heap's bookkeeping. */
#define MAMBA__TOK_SHORT 24
static void mamba__tok_bpe_short(mamba__tok_enc *e, const unsigned *id, size_t n)
{
    const mamba_tokenizer *t = e->t;
    unsigned sym[MAMBA__TOK_SHORT], rank[MAMBA__TOK_SHORT], res[MAMBA__TOK_SHORT];
    size_t m = 0, i;
    for (i = 0; i < n; i++)
        if (id[i] != MAMBA__TOK_NONE) sym[m++] = id[i];
    for (i = 0; i + 1 < m; i++)
        if (!mamba__tok_merge(t, sym[i], sym[i + 1], &rank[i], &res[i])) rank[i] = MAMBA__TOK_NONE;
    while (m > 1) {
        size_t best = 0;
        for (i = 1; i + 1 < m; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == MAMBA__TOK_NONE) break;
        sym[best] = res[best];
        for (i = best + 1; i + 1 < m; i++) { sym[i] = sym[i + 1]; rank[i] = rank[i + 1]; res[i] = res[i + 1]; }
        m--;
        if (best > 0 && !mamba__tok_merge(t, sym[best - 1], sym[best], &rank[best - 1], &res[best - 1]))
            rank[best - 1] = MAMBA__TOK_NONE;
        if (best + 1 < m && !mamba__tok_merge(t, sym[best], sym[best + 1], &rank[best], &res[best]))
            rank[best] = MAMBA__TOK_NONE;
    }
    for (i = 0; i < m; i++) mamba__tok_emit(e, sym[i]);
}

/* BPE on the n starting symbols id[0..n) (in the work memory; NONE marks a
   symbol that is dropped), with `avail` bytes at `mem` for the links and the
   heap. Symbols form a doubly linked list over the positions; a merged-away
   symbol gets id NONE. */
static void mamba__tok_bpe(mamba__tok_enc *e, unsigned *id, size_t n, unsigned char *mem, size_t avail)
{
    const mamba_tokenizer *t = e->t;
    unsigned rank, res;
    int *prev, *next;
    mamba__tok_u64 *heap;
    size_t i, nh = 0, cap, head = (size_t)-1, last = (size_t)-1;
    if (n == 0) return;
    if (n == 1) { /* the common one-symbol word: no merging possible */
        if (id[0] != MAMBA__TOK_NONE) mamba__tok_emit(e, id[0]);
        return;
    }
    if (n <= MAMBA__TOK_SHORT) { /* most words: scan for the best pair, no heap */
        mamba__tok_bpe_short(e, id, n);
        return;
    }
    /* memory: 8-byte aligned heap of 2n entries, then prev/next */
    {
        size_t pad = (size_t)(-(ptrdiff_t)(size_t)mem) & 7u, need;
        if (n > 0x7FFFFFF0u || avail < pad) { e->too_small = 1; return; }
        mem += pad; avail -= pad;
        need = n * (2 * sizeof(mamba__tok_u64) + 2 * sizeof(int));
        if (need > avail) { e->too_small = 1; return; }
    }
    heap = (mamba__tok_u64 *)(void *)mem;
    cap = 2 * n;
    prev = (int *)(void *)(mem + cap * sizeof(mamba__tok_u64));
    next = prev + n;
    for (i = 0; i < n; i++) {
        prev[i] = next[i] = -1;
        if (id[i] == MAMBA__TOK_NONE) continue;
        if (last != (size_t)-1) { next[last] = (int)i; prev[i] = (int)last; }
        else head = i;
        last = i;
    }
    if (head == (size_t)-1) return;
    for (i = head; next[i] >= 0; i = (size_t)next[i])
        if (mamba__tok_merge(t, id[i], id[next[i]], &rank, &res))
            mamba__tok_heap_push(heap, &nh, ((mamba__tok_u64)rank << 32) | i);
    while (nh > 0) {
        mamba__tok_u64 top = mamba__tok_heap_pop(heap, &nh);
        size_t p = (size_t)(top & 0xFFFFFFFFu), q;
        unsigned want = (unsigned)(top >> 32);
        int side;
        if (id[p] == MAMBA__TOK_NONE || next[p] < 0) continue;
        q = (size_t)next[p];
        if (!mamba__tok_merge(t, id[p], id[q], &rank, &res) || rank != want) continue; /* stale */
        id[p] = res;
        id[q] = MAMBA__TOK_NONE;
        next[p] = next[q];
        if (next[q] >= 0) prev[next[q]] = (int)p;
        /* the two new pairs (prev, p) and (p, next); if the heap is full,
           rebuild it from the live pairs (at most n-1), dropping stale ones */
        for (side = 0; side < 2; side++) {
            int a = side == 0 ? prev[p] : (int)p, b = side == 0 ? (int)p : next[p];
            if (a < 0 || b < 0) continue;
            if (!mamba__tok_merge(t, id[a], id[b], &rank, &res)) continue;
            if (nh == cap) {
                size_t k;
                nh = 0;
                for (k = head; next[k] >= 0; k = (size_t)next[k]) {
                    unsigned r2, s2;
                    if (mamba__tok_merge(t, id[k], id[next[k]], &r2, &s2) && !((int)k == a && r2 == rank))
                        mamba__tok_heap_push(heap, &nh, ((mamba__tok_u64)r2 << 32) | k);
                }
            }
            mamba__tok_heap_push(heap, &nh, ((mamba__tok_u64)rank << 32) | (size_t)a);
        }
    }
    for (i = head; ; i = (size_t)next[i]) {
        mamba__tok_emit(e, id[i]);
        if (next[i] < 0) break;
    }
}

/* 4-byte aligned start of the free work memory; 0 if there is none */
static unsigned *mamba__tok_align4(unsigned char *mem, size_t *avail)
{
    size_t pad = (size_t)(-(ptrdiff_t)(size_t)mem) & 3u;
    if (*avail < pad) { *avail = 0; return (unsigned *)(void *)mem; }
    *avail -= pad;
    return (unsigned *)(void *)(mem + pad);
}

/* The low 24 bits of a code-point slot hold the code point; the pre-tokenizer
   puts the character's class in bits 24-25 so each is looked up once. */
#define MAMBA__TOK_CP(w) ((w) & 0xFFFFFFu)

/* A byte-level word: code points cp[a..b) -> UTF-8 bytes -> byte ids -> BPE. */
static void mamba__tok_word_bytes(mamba__tok_enc *e, const unsigned *cp, size_t a, size_t b,
                                  unsigned char *mem, size_t avail)
{
    const mamba_tokenizer *t = e->t;
    unsigned *id = mamba__tok_align4(mem, &avail);
    size_t i, n = 0;
    if (b - a == 1 && MAMBA__TOK_CP(cp[a]) < 0x80) { /* a one-byte word */
        unsigned x = mamba__tok_at(t->byte_ids, MAMBA__TOK_CP(cp[a]));
        if (x != MAMBA__TOK_NONE) mamba__tok_emit(e, x);
        return;
    }
    for (i = a; i < b; i++) {
        unsigned char u[4];
        size_t k, m = mamba__tok_put_utf8(MAMBA__TOK_CP(cp[i]), u);
        if (avail / 4 - n < m) { e->too_small = 1; return; }
        for (k = 0; k < m; k++) id[n++] = mamba__tok_at(t->byte_ids, u[k]);
    }
    mamba__tok_bpe(e, id, n, (unsigned char *)(id + n), avail - 4 * n);
}

/* A SentencePiece word: code points cp[a..b), after a "▁" if `space`: one
   symbol per character (its piece), else its UTF-8 bytes as <0xNN> tokens
   (byte_fallback, when all of them exist), else unk (a run of unknown
   characters is one unk with fuse_unk), else nothing; then BPE. As Hugging
   Face's BPE::merge_word builds its first symbols. */
static void mamba__tok_word_sp(mamba__tok_enc *e, const unsigned *cp, size_t a, size_t b, int space,
                               unsigned char *mem, size_t avail)
{
    const mamba_tokenizer *t = e->t;
    unsigned *id = mamba__tok_align4(mem, &avail);
    size_t i, n = 0;
    int unk_open = 0;
    for (i = 0; i < b - a + (size_t)space; i++) {
        unsigned c = space ? (i == 0 ? MAMBA__TOK_SPACE : cp[a + i - 1]) : cp[a + i], x = mamba__tok_char(t, c);
        if (avail / 4 - n < 4) { e->too_small = 1; return; }
        if (x != MAMBA__TOK_NONE) { id[n++] = x; unk_open = 0; continue; }
        if (t->flags & MAMBA_TOK_BYTE_FALLBACK) {
            unsigned char u[4];
            size_t k, m = mamba__tok_put_utf8(c, u);
            for (k = 0; k < m && mamba__tok_at(t->byte_ids, u[k]) != MAMBA__TOK_NONE; k++) id[n + k] = mamba__tok_at(t->byte_ids, u[k]);
            if (k == m) { n += m; unk_open = 0; continue; }
        }
        if (t->unk_id >= 0 && !(unk_open && (t->flags & MAMBA_TOK_FUSE_UNK))) { id[n++] = (unsigned)t->unk_id; unk_open = 1; }
    }
    mamba__tok_bpe(e, id, n, (unsigned char *)(id + n), avail - 4 * n);
}

/* ---- the pre-tokenizer regex program ---- */

/* Is the code point slot w (class in bits 24-25) in set `set`? */
static int mamba__tok_set_has(const mamba_tokenizer *t, unsigned set, unsigned w)
{
    const unsigned char *row = t->sets + 12 * (size_t)set;
    unsigned fl = mamba__rd32(row), hit = (fl >> (8 + (w >> 24))) & 1u;
    if (!hit) {
        unsigned off = mamba__rd32(row + 4), n = mamba__rd32(row + 8), k, c = MAMBA__TOK_CP(w);
        for (k = 0; k < n; k++)
            if (mamba__tok_at(t->lits, off + k) == c) { hit = 1; break; }
    }
    return (int)(hit ^ (fl & 1u));
}

/* Match items k..k_end-1 of an alternative at cp[pos..end): the end of the
   match, or NONE. Each repeat is greedy and gives back one character at a
   time when the rest fails, as a backtracking regex engine (Oniguruma, which
   Hugging Face uses) does; the recursion is at most MAMBA__TOK_MAX_ITEMS
   deep, and every step is charged to e->budget. */
#define MAMBA__TOK_HAS(e, set, cp, pos) \
    ((e)->sets_of ? (int)(((e)->sets_of[(pos) - (e)->sets_base] >> (set)) & 1u) : mamba__tok_set_has((e)->t, (set), (cp)[pos]))
static size_t mamba__tok_items(mamba__tok_enc *e, const unsigned *cp, size_t pos, size_t end, unsigned k, unsigned k_end)
{
    const mamba_tokenizer *t = e->t;
    const unsigned char *it;
    unsigned set, lo, hi;
    size_t m = 0;
    if (k == k_end) return pos;
    it = t->items + 16 * (size_t)k;
    set = mamba__rd32(it); lo = mamba__rd32(it + 4); hi = mamba__rd32(it + 8);
    if (mamba__rd32(it + 12) == 1) { /* (?!set) */
        if (pos < end && MAMBA__TOK_HAS(e, set, cp, pos)) return (size_t)-1;
        return mamba__tok_items(e, cp, pos, end, k + 1, k_end);
    }
    while (m < hi && pos + m < end && MAMBA__TOK_HAS(e, set, cp, pos + m)) m++;
    if (e->budget < m + 1) { e->bad = 1; return (size_t)-1; }
    e->budget -= m + 1;
    if (m < lo) return (size_t)-1;
    if (k + 1 == k_end) return pos + m; /* the last item: nothing to give back for */
    for (;;) {
        size_t r = mamba__tok_items(e, cp, pos + m, end, k + 1, k_end);
        if (r != (size_t)-1 || e->bad || m == lo) return r;
        m--;
    }
}

/* Split cp[a..b) into words with the regex (leftmost match, alternatives in
   order; an empty match counts as none) and BPE each word. Characters no
   alternative matches form a piece of their own ("Isolated"), or are dropped
   (Split "Removed" inverted). */
static void mamba__tok_pretok(mamba__tok_enc *e, unsigned *cp, size_t a, size_t b, unsigned char *mem, size_t avail)
{
    const mamba_tokenizer *t = e->t;
    size_t i, gap = (size_t)-1;
    if (t->n_alts == 0) { mamba__tok_word_bytes(e, cp, a, b, mem, avail); return; }
    e->sets_of = NULL;
    if (t->n_sets <= 32) {
        /* each code point's sets, once: the alternatives test them often */
        unsigned *so = mamba__tok_align4(mem, &avail);
        if (avail / 4 < b - a) { e->too_small = 1; return; }
        for (i = a; i < b; i++) {
            unsigned c = cp[i], bits = 0;
            if (c < 128) {
                bits = t->ascii_sets[c];
            } else {
                unsigned k, w = c | mamba__tok_class(t, c) << 24;
                for (k = 0; k < t->n_sets; k++) bits |= (unsigned)mamba__tok_set_has(t, k, w) << k;
            }
            so[i - a] = bits;
        }
        e->sets_of = so;
        e->sets_base = a;
        mem = (unsigned char *)(so + (b - a));
        avail -= 4 * (b - a);
    } else {
        for (i = a; i < b; i++) cp[i] |= mamba__tok_class(t, cp[i]) << 24;
    }
    i = a;
    while (i < b && !e->too_small && !e->bad) {
        size_t r = (size_t)-1;
        unsigned k;
        for (k = 0; k < t->n_alts && !e->bad; k++) {
            unsigned first, n;
            if (e->sets_of && k < 32 && !(e->sets_of[i - a] & t->alt_first[k])) continue; /* cannot start here */
            first = mamba__tok_at(t->alts, 2 * (size_t)k);
            n = mamba__tok_at(t->alts, 2 * (size_t)k + 1);
            r = mamba__tok_items(e, cp, i, b, first, first + n);
            if (r != (size_t)-1 && r > i) break;
            r = (size_t)-1;
        }
        if (r == (size_t)-1) { if (gap == (size_t)-1) gap = i; i++; continue; }
        if (gap != (size_t)-1 && !(t->flags & MAMBA_TOK_DROP_GAPS)) mamba__tok_word_bytes(e, cp, gap, i, mem, avail);
        gap = (size_t)-1;
        mamba__tok_word_bytes(e, cp, i, r, mem, avail);
        i = r;
    }
    if (gap != (size_t)-1 && !(t->flags & MAMBA_TOK_DROP_GAPS) && !e->too_small && !e->bad)
        mamba__tok_word_bytes(e, cp, gap, b, mem, avail);
}

/* One piece of normalized text (between added tokens): words, then BPE.
   at_start: the piece begins the whole text (Metaspace "first"). */
static void mamba__tok_piece(mamba__tok_enc *e, unsigned *cp, size_t a, size_t b, int at_start,
                             unsigned char *mem, size_t avail)
{
    const mamba_tokenizer *t = e->t;
    size_t j, start;
    int space, first = 1;
    if (a >= b) return;
    if (!(t->flags & MAMBA_TOK_SENTENCEPIECE)) { mamba__tok_pretok(e, cp, a, b, mem, avail); return; }
    /* Metaspace: "▁" before the piece unless it starts with one; the
       Prepend normaliser put its "▁" in the segment already */
    space = (t->prepend == 2 || (t->prepend == 3 && at_start)) && cp[a] != MAMBA__TOK_SPACE;
    if (t->sp_words) {
        /* no merge can join across the start of a run of "▁": BPE on each
           word gives the same symbols as on the whole piece (merges in one
           word never touch another), in far less memory and time */
        for (start = a, j = a + 1; j <= b && !e->too_small; j++)
            if (j == b || (cp[j] == MAMBA__TOK_SPACE && cp[j - 1] != MAMBA__TOK_SPACE)) {
                mamba__tok_word_sp(e, cp, start, j, first && space, mem, avail);
                first = 0;
                start = j;
            }
        return;
    }
    if (!(t->flags & MAMBA_TOK_META_SPLIT)) { mamba__tok_word_sp(e, cp, a, b, space, mem, avail); return; }
    /* Metaspace split: each "▁" begins a word (MergedWithNext) */
    for (start = a, j = a + 1; j <= b && !e->too_small; j++)
        if (j == b || cp[j] == MAMBA__TOK_SPACE) {
            mamba__tok_word_sp(e, cp, start, j, first && space, mem, avail);
            first = 0;
            start = j;
        }
}

/* ---- added tokens ---- */

/* The longest raw (non-normalized) added token at s[0..n): its index in the
   added list and *len its bytes, or NONE. A trie walk of at most
   max_added_bytes steps (v1: each token in turn, longest first). */
static unsigned mamba__tok_added_raw(const mamba_tokenizer *t, const unsigned char *s, size_t n, size_t *len,
                                     size_t *steps)
{
    unsigned best = MAMBA__TOK_NONE, node = 0;
    size_t k;
    if (t->version == 1) {
        for (k = 0; k < t->n_added; k++) {
            ++*steps;
            const unsigned char *a = t->added + 16 * k;
            size_t al = mamba__rd32(a + 12);
            if (mamba__rd32(a + 4) & 1u) continue;
            if (al <= n && memcmp(s, t->added_blob + mamba__rd32(a + 8), al) == 0) { *len = al; return (unsigned)k; }
        }
        return MAMBA__TOK_NONE;
    }
    for (k = 0; k < n && k < t->max_added_bytes; k++) {
        unsigned entry;
        ++*steps;
        node = mamba__tok_child(t, node, s[k]);
        if (node == MAMBA__TOK_NONE) break;
        entry = mamba__rd32(t->nodes + 12 * (size_t)node + 8);
        if (entry != MAMBA__TOK_NONE) { best = entry; *len = k + 1; }
    }
    return best;
}

/* The same for normalized added tokens on code points cp[0..n): *len is the
   number of code points matched. */
static unsigned mamba__tok_added_norm(const mamba_tokenizer *t, const unsigned *cp, size_t n, size_t *len,
                                      size_t *steps)
{
    unsigned best = MAMBA__TOK_NONE, node = 1;
    size_t i, bytes = 0;
    if (t->version == 1) {
        size_t k;
        for (k = 0; k < t->n_added; k++) {
            const unsigned char *a = t->added + 16 * k, *c = t->added_blob + mamba__rd32(a + 8);
            size_t cl = mamba__rd32(a + 12), p = 0, m = 0;
            int ok = 1;
            ++*steps;
            if (!(mamba__rd32(a + 4) & 1u)) continue;
            while (p < cl && ok) {
                unsigned x;
                p += mamba__tok_utf8(c + p, cl - p, &x);
                if (m >= n || cp[m] != x) ok = 0;
                m++;
            }
            if (ok && m > 0) { *len = m; return (unsigned)k; }
        }
        return MAMBA__TOK_NONE;
    }
    for (i = 0; i < n; i++) {
        unsigned char u[4];
        size_t k, m = mamba__tok_put_utf8(cp[i], u);
        unsigned entry;
        if (bytes + m > t->max_added_bytes) break;
        bytes += m;
        *steps += m;
        for (k = 0; k < m && node != MAMBA__TOK_NONE; k++) node = mamba__tok_child(t, node, u[k]);
        if (node == MAMBA__TOK_NONE) break;
        entry = mamba__rd32(t->nodes + 12 * (size_t)node + 8);
        if (entry != MAMBA__TOK_NONE) { best = entry; *len = i + 1; }
    }
    return best;
}

/* A piece of raw text between two non-normalized added tokens: decode UTF-8,
   NFC, SentencePiece's space and Prepend, cut out normalized added tokens,
   then each piece: pre-tokenize, BPE. at_start: s is the start of the text. */
static void mamba__tok_segment(mamba__tok_enc *e, const unsigned char *s, size_t len, int at_start)
{
    const mamba_tokenizer *t = e->t;
    unsigned *cp;
    size_t n = 0, cap, i, start, pad;
    unsigned char *mem = e->work;
    size_t avail = e->work_bytes;
    if (len == 0) return;
    pad = (size_t)(-(ptrdiff_t)(size_t)mem) & 3u;
    if (avail < pad) { e->too_small = 1; return; }
    mem += pad; avail -= pad;
    cp = (unsigned *)(void *)mem;
    cap = avail / 4;
    if (t->prepend == 1) { /* the Prepend normaliser: "▁" before each non-empty piece */
        if (cap < 1) { e->too_small = 1; return; }
        cp[n++] = MAMBA__TOK_SPACE;
    }
    /* 1. UTF-8 -> code points, with full canonical decomposition (NFD) */
    for (i = 0; i < len;) {
        unsigned c;
        i += mamba__tok_utf8(s + i, len - i, &c);
        if (c == 0x2581u && (t->flags & MAMBA_TOK_SENTENCEPIECE)) c = MAMBA__TOK_SPACE; /* "▁" and " " are one */
        if (!(t->flags & MAMBA_TOK_NFC) || c < 0xC0) {
            if (n >= cap) { e->too_small = 1; return; }
            cp[n++] = c;
        } else if (c - MAMBA__TOK_SBASE < MAMBA__TOK_SCOUNT) {
            unsigned si = c - MAMBA__TOK_SBASE, tt = si % MAMBA__TOK_TCOUNT;
            if (cap - n < 3) { e->too_small = 1; return; }
            cp[n++] = MAMBA__TOK_LBASE + si / (MAMBA__TOK_VCOUNT * MAMBA__TOK_TCOUNT);
            cp[n++] = MAMBA__TOK_VBASE + (si % (MAMBA__TOK_VCOUNT * MAMBA__TOK_TCOUNT)) / MAMBA__TOK_TCOUNT;
            if (tt) cp[n++] = MAMBA__TOK_TBASE + tt;
        } else {
            unsigned lo = 0, hi = t->n_decomp, found = 0;
            while (lo < hi) {
                unsigned mid = lo + (hi - lo) / 2, mc = mamba__tok_at(t->decomp, 2 * (size_t)mid);
                if (mc == c) { found = 1; lo = mid; break; }
                if (mc < c) lo = mid + 1; else hi = mid;
            }
            if (found) {
                unsigned ol = mamba__tok_at(t->decomp, 2 * (size_t)lo + 1), k;
                if (cap - n < (ol & 7u)) { e->too_small = 1; return; }
                for (k = 0; k < (ol & 7u); k++) cp[n++] = mamba__tok_at(t->decomp_pool, (ol >> 3) + k);
            } else {
                if (n >= cap) { e->too_small = 1; return; }
                cp[n++] = c;
            }
        }
    }
    if (t->flags & MAMBA_TOK_NFC) {
        /* 2. canonical ordering: every run of non-starters (ccc != 0) is
           sorted stably by ccc. Most runs are 1-2 marks and already in
           order; otherwise a stable pass per distinct class present
           (O(run * classes), never quadratic in the run length) writes the
           sorted run into the free memory past the code points. */
        size_t r = 0;
        while (r < n) {
            size_t q;
            if (mamba__tok_ccc(t, cp[r]) == 0) { r++; continue; }
            q = r;
            while (q < n && mamba__tok_ccc(t, cp[q]) != 0) q++;
            if (q - r > 1) {
                size_t x, sorted = 1;
                for (x = r + 1; x < q && sorted; x++)
                    if (mamba__tok_ccc(t, cp[x - 1]) > mamba__tok_ccc(t, cp[x])) sorted = 0;
                if (!sorted) {
                    /* stable sort by ccc: one pass per distinct ccc value
                       present (at most 255), writing into the free memory */
                    size_t k = q - r, w = 0;
                    unsigned v, cur = 0;
                    unsigned *tmp;
                    if (cap - n < k) { e->too_small = 1; return; }
                    tmp = cp + n;
                    for (;;) {
                        unsigned nextv = 256;
                        for (x = r; x < q; x++) {
                            v = mamba__tok_ccc(t, cp[x]);
                            if (v == cur) tmp[w++] = cp[x];
                            else if (v > cur && v < nextv) nextv = v;
                        }
                        if (nextv == 256) break;
                        cur = nextv;
                    }
                    memcpy(cp + r, tmp, k * sizeof *cp);
                }
            }
            r = q;
        }
        /* 3. canonical composition (UAX #15): each character joins the last
           starter if nothing between them blocks it (a character in
           between blocks when its class is 0 or >= the character's own)
           and the pair has a primary composite. */
        {
            size_t out = 0, sp = (size_t)-1;
            unsigned last = 0;
            for (i = 0; i < n; i++) {
                unsigned c = cp[i], cc = mamba__tok_ccc(t, c);
                if (sp != (size_t)-1 && c >= t->comp_min_second && (out == sp + 1 || (last != 0 && last < cc))) {
                    unsigned x = mamba__tok_compose(t, cp[sp], c);
                    if (x) { cp[sp] = x; continue; }
                }
                if (cc == 0) sp = out;
                last = cc;
                cp[out++] = c;
            }
            n = out;
        }
    }
    /* 4. normalized added tokens (leftmost, longest at a position), then
       the pieces between them */
    mem = (unsigned char *)(cp + n);
    avail = (cap - n) * 4;
    start = 0;
    for (i = 0; i < n && !e->too_small && !e->bad;) {
        size_t m = 0;
        unsigned k = MAMBA__TOK_NONE;
        unsigned char lead[4];
        mamba__tok_put_utf8(cp[i], lead);
        if (mamba__tok_inset(t->first_norm, lead[0])) k = mamba__tok_added_norm(t, cp + i, n - i, &m, &e->steps);
        if (k != MAMBA__TOK_NONE) {
            mamba__tok_piece(e, cp, start, i, at_start && start == 0, mem, avail);
            mamba__tok_emit(e, mamba__rd32(t->added + 16 * (size_t)k));
            i += m;
            start = i;
        } else {
            i++;
        }
    }
    if (!e->too_small && !e->bad) mamba__tok_piece(e, cp, start, n, at_start && start == 0, mem, avail);
}

MAMBA_API size_t mamba_encode_work_size(const mamba_tokenizer *t, size_t len)
{
    /* code points: len * cp_per_byte_x2 / 2 (x4 bytes); the longest word:
       len * utf8_per_byte bytes, each needing 28 bytes of BPE state (one
       starting symbol per byte at most), plus one "▁" */
    size_t cps, wb, max = (size_t)-1;
    if (!t || !t->data) return 0;
    if (len > max / 64 / (t->cp_per_byte_x2 + 1) || len > max / 64 / (t->utf8_per_byte + 1)) return max;
    cps = (len * t->cp_per_byte_x2 + 1) / 2 + 4;
    wb = len * t->utf8_per_byte + 4;
    if (cps > max / 64 || wb > max / 64) return max;
    return cps * 8 + wb * (1 + 2 * sizeof(mamba__tok_u64) + 12) + 64; /* x8: code point + its regex sets */
}

/* mamba_encode, and the added-token matching steps it took in *steps (the
   test of the bound: at most max_added_bytes a byte, whatever n_added is) */
static mamba_result mamba__tok_encode(const mamba_tokenizer *t, const char *text, size_t len, int *ids, size_t max_ids,
                                      size_t *n_ids, void *work, size_t work_bytes, size_t *steps)
{
    mamba__tok_enc e;
    const unsigned char *s = (const unsigned char *)text;
    size_t i, start = 0, per = 16 * ((size_t)(t ? t->n_items : 0) + 1);
    *steps = 0;
    if (n_ids) *n_ids = 0;
    if (!t || !t->data || !n_ids || (!text && len) || (!ids && max_ids) || (!work && work_bytes))
        return MAMBA_ERR_INVALID_ARG;
    e.t = t; e.ids = ids; e.max_ids = max_ids; e.n_ids = 0;
    e.work = (unsigned char *)work; e.work_bytes = work ? work_bytes : 0; e.too_small = 0; e.bad = 0; e.steps = 0;
    /* the regex's work budget: 16 steps a character per item of the program,
       far more than any of the real regexes takes (each is linear: a run of
       one class is scanned a bounded number of times) */
    e.budget = len < ((size_t)-1) / per - 1 ? (len + 1) * per : (size_t)-1;
    /* non-normalized added tokens, on the raw bytes: safe because a valid
       UTF-8 string starting at a non-continuation byte decodes the same in
       any context, so matching bytes equals matching the decoded text */
    for (i = 0; i < len && !e.too_small && !e.bad;) {
        size_t m = 0;
        unsigned k = MAMBA__TOK_NONE;
        if (mamba__tok_inset(t->first_raw, s[i])) k = mamba__tok_added_raw(t, s + i, len - i, &m, &e.steps);
        if (k != MAMBA__TOK_NONE) {
            mamba__tok_segment(&e, s + start, i - start, start == 0);
            mamba__tok_emit(&e, mamba__rd32(t->added + 16 * (size_t)k));
            i += m;
            start = i;
        } else {
            i++;
        }
    }
    if (!e.too_small && !e.bad) mamba__tok_segment(&e, s + start, len - start, start == 0);
    *steps = e.steps;
    if (e.bad) { *n_ids = 0; return MAMBA_ERR_TOKENIZER; }
    if (e.too_small) { *n_ids = 0; return MAMBA_ERR_BUFFER_TOO_SMALL; }
    *n_ids = e.n_ids;
    return e.n_ids > max_ids ? MAMBA_ERR_BUFFER_TOO_SMALL : MAMBA_OK;
}

MAMBA_API mamba_result mamba_encode(const mamba_tokenizer *t, const char *text, size_t len,
                                    int *ids, size_t max_ids, size_t *n_ids,
                                    void *work, size_t work_bytes)
{
    size_t steps;
    return mamba__tok_encode(t, text, len, ids, max_ids, n_ids, work, work_bytes, &steps);
}

MAMBA_API mamba_result mamba_decode_token(const mamba_tokenizer *t, int id, const char **bytes, size_t *len)
{
    unsigned a, b;
    if (!t || !t->data || !bytes || !len) return MAMBA_ERR_INVALID_ARG;
    if (id < 0 || (unsigned)id >= t->n_vocab) return MAMBA_ERR_TOKEN;
    a = mamba__tok_at(t->tok_offsets, (size_t)id);
    b = mamba__tok_at(t->tok_offsets, (size_t)id + 1);
    *bytes = (const char *)(t->tok_blob + a);
    *len = b - a;
    return MAMBA_OK;
}

/* is id (in range) a byte-fallback token, decoding as one raw byte? */
static int mamba__tok_is_byte(const mamba_tokenizer *t, int id)
{
    return t->byte_tok && ((t->byte_tok[(unsigned)id >> 3] >> ((unsigned)id & 7u)) & 1);
}

/* What the UTF-8 bytes p[0..n) are: 1 a whole valid character (n bytes),
   0 the valid start of one (more bytes may complete it), -k not valid: its
   first k bytes (the maximal ill-formed subpart, k >= 1) are one U+FFFD. */
static int mamba__tok_utf8_state(const unsigned char *p, size_t n)
{
    /* p[0..n-1) is empty or the valid start of a character; mamba__tok_utf8
       consumes `need` bytes exactly when they are a valid character */
    unsigned c, need = p[0] < 0x80 ? 1u : p[0] < 0xC2 ? 0u : p[0] < 0xE0 ? 2u : p[0] < 0xF0 ? 3u : p[0] < 0xF5 ? 4u : 0u;
    size_t used;
    if (need == 0) return -1;
    used = mamba__tok_utf8(p, n, &c);
    if (used == need) return 1;
    if (used == n) return 0;
    return -(int)used;
}

/* The decoder's output: bytes up to cap, the count beyond it; `strip`: drop
   the first byte if it is a space (the Strip decoder). */
typedef struct mamba__tok_out {
    unsigned char *out;
    size_t cap, n;
    int strip;
} mamba__tok_out;

static void mamba__tok_put(mamba__tok_out *o, const unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (o->strip) { o->strip = 0; if (p[i] == ' ') continue; }
        if (o->n < o->cap) o->out[o->n] = p[i];
        o->n++;
    }
}

static const unsigned char mamba__tok_fffd[3] = {0xEF, 0xBF, 0xBD};

/* Bytes through a UTF-8 repair: whole characters out, each maximal
   ill-formed subsequence as one U+FFFD (Rust's from_utf8_lossy, what the
   ByteLevel decoder ends with); held[] keeps an incomplete character. */
static void mamba__tok_lossy(mamba__tok_out *o, unsigned char *held, unsigned *n_held, unsigned char b)
{
    held[(*n_held)++] = b;
    while (*n_held > 0) {
        int st = mamba__tok_utf8_state(held, *n_held);
        if (st == 0) return;
        if (st == 1) { mamba__tok_put(o, held, *n_held); *n_held = 0; return; }
        mamba__tok_put(o, mamba__tok_fffd, 3);
        memmove(held, held + (-st), *n_held - (unsigned)(-st));
        *n_held -= (unsigned)(-st);
    }
}

MAMBA_API mamba_result mamba_decode(const mamba_tokenizer *t, const int *ids, size_t n,
                                    char *out, size_t cap, size_t *n_out)
{
    mamba__tok_out o;
    size_t i;
    unsigned char held[4];
    unsigned n_held = 0;
    if (n_out) *n_out = 0;
    if (!t || !t->data || !n_out || (!ids && n) || (!out && cap)) return MAMBA_ERR_INVALID_ARG;
    for (i = 0; i < n; i++)
        if (ids[i] < 0 || (unsigned)ids[i] >= t->n_vocab) return MAMBA_ERR_TOKEN;
    o.out = (unsigned char *)out; o.cap = cap; o.n = 0; o.strip = (t->flags & MAMBA_TOK_STRIP) != 0;
    for (i = 0; i < n;) {
        const char *p;
        size_t l, k;
        mamba_decode_token(t, ids[i], &p, &l);
        if (!(t->flags & MAMBA_TOK_SENTENCEPIECE)) {
            /* ByteLevel: all the bytes, then from_utf8_lossy */
            for (k = 0; k < l; k++) mamba__tok_lossy(&o, held, &n_held, (unsigned char)p[k]);
            i++;
            continue;
        }
        if (!mamba__tok_is_byte(t, ids[i])) { mamba__tok_put(&o, (const unsigned char *)p, l); i++; continue; }
        /* ByteFallback: a run of byte tokens is its bytes if they are valid
           UTF-8, else one U+FFFD per byte */
        {
            int valid = 1;
            size_t j;
            for (j = i; j < n && mamba__tok_is_byte(t, ids[j]); j++) {
                const char *q;
                size_t ql;
                mamba_decode_token(t, ids[j], &q, &ql);
                if (ql != 1) { valid = 0; continue; }
                held[n_held++] = (unsigned char)q[0];
                {
                    int st = mamba__tok_utf8_state(held, n_held);
                    if (st < 0) valid = 0;
                    if (st != 0) n_held = 0;
                }
                if (n_held == 4) { valid = 0; n_held = 0; }
            }
            if (n_held) valid = 0;
            n_held = 0;
            for (k = i; k < j; k++) {
                const char *q;
                size_t ql;
                mamba_decode_token(t, ids[k], &q, &ql);
                if (valid) mamba__tok_put(&o, (const unsigned char *)q, ql);
                else mamba__tok_put(&o, mamba__tok_fffd, 3);
            }
            i = j;
        }
    }
    if (n_held) mamba__tok_put(&o, mamba__tok_fffd, 3); /* an incomplete character at the end */
    *n_out = o.n;
    return o.n > cap ? MAMBA_ERR_BUFFER_TOO_SMALL : MAMBA_OK;
}

/* How many bytes at the end of s[0..n) are the start of a UTF-8 character
   that is valid so far but not yet complete (0..3). */
static size_t mamba__tok_incomplete_tail(const unsigned char *s, size_t n)
{
    size_t k;
    for (k = 1; k <= 3 && k <= n; k++) {
        unsigned b = s[n - k];
        if (b >= 0x80 && b < 0xC0) continue; /* continuation: look further back */
        if (b >= 0xC2 && b <= 0xF4) {
            unsigned c;
            /* the lead at n-k: incomplete if the decoder runs out of input
               (rather than meeting a bad byte) */
            size_t used = mamba__tok_utf8(s + n - k, k, &c);
            if (c == 0xFFFD && used == k) {
                unsigned need = b <= 0xDF ? 2u : b <= 0xEF ? 3u : 4u;
                if (k < need) return k;
            }
        }
        return 0;
    }
    return 0;
}

MAMBA_API void mamba_detok_init(mamba_detok *d)
{
    if (d) { memset(d, 0, sizeof *d); }
}

MAMBA_API mamba_result mamba_detok_push(const mamba_tokenizer *t, mamba_detok *d, int id,
                                        char *out, size_t cap, size_t *n_out)
{
    const char *p;
    size_t l, total, tail;
    mamba_result r;
    mamba__tok_out o;
    if (n_out) *n_out = 0;
    if (!d || !out || !n_out || d->n_held > 3) return MAMBA_ERR_INVALID_ARG;
    r = mamba_decode_token(t, id, &p, &l);
    if (r != MAMBA_OK) return r;
    if (cap < t->detok_bytes) return MAMBA_ERR_BUFFER_TOO_SMALL;
    o.out = (unsigned char *)out; o.cap = cap; o.n = 0; o.strip = (t->flags & MAMBA_TOK_STRIP) && !d->started;
    if ((t->flags & MAMBA_TOK_SENTENCEPIECE) && mamba__tok_is_byte(t, id) && l == 1) {
        /* a byte-fallback byte: whole characters out, bad bytes as U+FFFD each */
        d->held[d->n_held++] = (unsigned char)p[0];
        d->fallback = 1;
        while (d->n_held > 0) {
            int st = mamba__tok_utf8_state(d->held, d->n_held);
            unsigned k;
            if (st == 0) break;
            if (st == 1) { mamba__tok_put(&o, d->held, d->n_held); d->n_held = 0; break; }
            for (k = 0; k < (unsigned)(-st); k++) mamba__tok_put(&o, mamba__tok_fffd, 3);
            memmove(d->held, d->held + (-st), d->n_held - (unsigned)(-st));
            d->n_held -= (unsigned)(-st);
        }
    } else if (t->flags & MAMBA_TOK_SENTENCEPIECE) {
        unsigned k;
        for (k = 0; k < d->n_held; k++) mamba__tok_put(&o, mamba__tok_fffd, 3); /* the run ended incomplete */
        d->n_held = 0;
        mamba__tok_put(&o, (const unsigned char *)p, l);
    } else {
        /* byte-level: the exact bytes, an incomplete character held back */
        memmove(out + d->n_held, p, l);
        memcpy(out, d->held, d->n_held);
        total = d->n_held + l;
        tail = mamba__tok_incomplete_tail((const unsigned char *)out, total);
        memcpy(d->held, out + total - tail, tail);
        d->n_held = (unsigned)tail;
        d->fallback = 0;
        o.n = total - tail;
    }
    if (o.n > 0 || !o.strip) d->started = 1; /* a byte went out, or was stripped */
    *n_out = o.n;
    return MAMBA_OK;
}

MAMBA_API size_t mamba_detok_flush(mamba_detok *d, char *out)
{
    size_t n;
    if (!d || !out || d->n_held > 3) return 0;
    n = d->n_held;
    if (d->fallback) {
        size_t k;
        for (k = 0; k < n; k++) memcpy(out + 3 * k, mamba__tok_fffd, 3);
        n *= 3;
    } else {
        memcpy(out, d->held, n);
    }
    if (n > 0) d->started = 1;
    d->n_held = 0;
    return n;
}

/* ---- >>results ------------------------------------------------------- */

MAMBA_API const char *mamba_result_string(mamba_result r)
{
    /* no default: -Wall (-Wswitch) names a code that lacks a string */
    switch (r) {
    case MAMBA_OK: return "ok";
    case MAMBA_ERR_INVALID_ARG: return "invalid argument";
    case MAMBA_ERR_OUT_OF_MEMORY: return "out of memory";
    case MAMBA_ERR_IO: return "input/output error";
    case MAMBA_ERR_TRUNCATED: return "data is truncated (a file or a snapshot)";
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
    case MAMBA_ERR_STATE_MAGIC: return "not a mamba.h state snapshot (bad magic)";
    case MAMBA_ERR_STATE_VERSION: return "unsupported state snapshot version";
    case MAMBA_ERR_STATE_MODEL: return "state snapshot belongs to another model";
    case MAMBA_ERR_STATE_CHECKSUM: return "state snapshot is corrupted (checksum mismatch)";
    case MAMBA_ERR_NONFINITE: return "a weight is NaN or infinite";
    }
    return "unknown result code";
}

#endif /* MAMBA__IMPLEMENTED */
#endif /* MAMBA_IMPLEMENTATION */

/*
   REVISION HISTORY
   0.1.0 (2026-11-28)  first release: zero-copy loader with hostile-input
                       checks, mmap loader, caller-memory states, mamba_step
                       for Mamba-1 and Falcon-Mamba, f32/f16/bf16/q8 matrices
                       with AVX-512/AVX2/NEON kernels, mamba_forward for
                       prompts, samplers with an explicit RNG, the GPT-NeoX
                       byte-level BPE tokenizer, checksummed state snapshots,
                       a checked (finite weights) load option.

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

