/* embedded.c - mamba.h with no heap and no stdio: weights in a const array
   (flash), the state in a static buffer, greedy generation token by token.

   The same file builds three ways:

   1. `make` builds it like every example into build/embedded, with the tiny
      test model committed in examples/embedded_model.h (ss_long from
      tests/data, converted to f16, through tools/bin2c.py). It prints the
      same line as `build/generate MODEL`: the prompt id, then 32 greedy ids.
   2. With -DEMBEDDED_MODEL_HEADER='"path/model.h"' it embeds another model
      (made with tools/bin2c.py); EMBEDDED_ARENA_BYTES sizes the static buffer.
   3. With -DEMBEDDED_PLATFORM (embedded/run.sh, `make embedded`) it runs on
      a bare-metal Cortex-M under qemu: embedded/startup.c provides the
      output and the clock (semihosting, SysTick).

   What it needs (tests/t_embedded.sh checks the object file with nm): no
   malloc/free (MAMBA_MALLOC is defined to fail), no stdio (MAMBA_NO_STDIO;
   output goes through embedded_write(), which is POSIX write() on a host and
   semihosting on the target), no assert() (newlib's pulls in fprintf).
   Only memcpy/memset and expf/log1pf/sqrtf from libc/libm.

   MEMORY (floats are 4 bytes; sizes from the model header):
     flash   weights = the .mamba file, as is (zero-copy)
     RAM     state   = mamba_state_size() = 4 * (n_layer*d_inner*(d_conv + d_state)
                         + 2*d_model + 4*d_inner + dt_rank + 2*d_state + 17*nbx) + 16,
                       nbx = ceil(max(d_model, d_inner, dt_rank) / 32)
             logits  = 4 * n_vocab_padded
             model   = sizeof(mamba_model): a fixed struct of pointers, ~100 bytes
                       per layer slot (MAMBA_MAX_LAYERS slots, 16 here)
             stack   = a few hundred bytes (the loader's duplicate table is
                       15 (roles) * MAMBA_MAX_LAYERS bytes)
   embedded/README.md has the figures for the test model and the shipped one. */
#define MAMBA_NO_STDIO                      /* no mamba_model_open(), no <stdio.h> */
#define MAMBA_MALLOC(n) ((void)(n), (void *)0) /* no heap: mamba_state_new() would fail, */
#define MAMBA_FREE(p) ((void)(p))             /* and we never call it */
#define MAMBA_ASSERT(x) ((void)0)           /* the library asserts only programmer errors */
#ifndef MAMBA_MAX_LAYERS
#define MAMBA_MAX_LAYERS 16                 /* a smaller mamba_model struct (RAM) */
#endif
#define MAMBA_STATIC                        /* everything static: unused code drops out */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"

#ifdef EMBEDDED_MODEL_HEADER
#include EMBEDDED_MODEL_HEADER
#else
#include "embedded_model.h"
#endif

#ifndef EMBEDDED_ARENA_BYTES
#define EMBEDDED_ARENA_BYTES 65536 /* state + logits; embedded/run.sh sets the exact need */
#endif
#ifndef EMBEDDED_N_TOKENS
#define EMBEDDED_N_TOKENS 32 /* as in the comparison: generate -n 32 */
#endif
#ifndef EMBEDDED_PROMPT
#define EMBEDDED_PROMPT 0 /* generate --tokens 0 */
#endif

/* ---- the platform: bytes out, an exit code, optionally a clock ---------- */
#ifdef EMBEDDED_PLATFORM
/* embedded/startup.c: semihosting output, SysTick ticks and their clock,
   the deepest the stack has been */
void embedded_write(const char *s, int n);
unsigned long embedded_ticks(void);
unsigned long embedded_tick_hz(void);
unsigned long embedded_stack_peak(void);
#ifndef EMBEDDED_CLOCK_MHZ
#define EMBEDDED_CLOCK_MHZ 160 /* the clock the tokens/s estimate assumes */
#endif
#else
#if !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200112L
#endif
#include <unistd.h>
static void embedded_write(const char *s, int n)
{
    while (n > 0) {
        long w = (long)write(1, s, (size_t)n);
        if (w <= 0) return;
        s += w;
        n -= (int)w;
    }
}
#endif

/* A line buffer in place of printf. */
typedef struct embedded_out {
    char buf[128];
    int n;
} embedded_out;

static void out_flush(embedded_out *o)
{
    if (o->n) embedded_write(o->buf, o->n);
    o->n = 0;
}

static void out_char(embedded_out *o, char c)
{
    if (o->n == (int)sizeof o->buf) out_flush(o);
    o->buf[o->n++] = c;
}

static void out_str(embedded_out *o, const char *s)
{
    while (*s) out_char(o, *s++);
}

static void out_uint(embedded_out *o, unsigned long v)
{
    char digits[24];
    int k = 0;
    do {
        digits[k++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (k) out_char(o, digits[--k]);
}

static void out_int(embedded_out *o, long v)
{
    if (v < 0) {
        out_char(o, '-');
        out_uint(o, (unsigned long)(-(v + 1)) + 1u);
    } else {
        out_uint(o, (unsigned long)v);
    }
}

/* ---- static memory: nothing is allocated ------------------------------- */
/* The model struct (pointers into the weights) and the state's arena; the
   arena holds the state, then the logits. 16-byte aligned via the union. */
static mamba_model model;
static union {
    unsigned char bytes[EMBEDDED_ARENA_BYTES];
    double align;
} arena;

int main(void)
{
    embedded_out out;
    mamba_state state;
    mamba_result r;
    float *logits;
    size_t need, logits_at;
    int i, token = EMBEDDED_PROMPT;
#ifdef EMBEDDED_PLATFORM
    unsigned long t0, t1;
#endif

    out.n = 0;
    r = mamba_model_init_memory(&model, mamba_model_bytes.bytes, MAMBA_MODEL_BYTES_BYTES);
    if (r != MAMBA_OK) {
        out_str(&out, "embedded: model: ");
        out_str(&out, mamba_result_string(r));
        out_str(&out, ": ");
        out_str(&out, model.error ? model.error : "");
        out_char(&out, '\n');
        out_flush(&out);
        return 1;
    }
    /* arena = [state | logits (n_vocab_padded floats)] */
    logits_at = (mamba_state_size(&model) + 15u) & ~(size_t)15u;
    need = logits_at + sizeof(float) * (size_t)model.config.n_vocab_padded;
    if (need > sizeof arena.bytes) {
        out_str(&out, "embedded: EMBEDDED_ARENA_BYTES is too small: the model needs ");
        out_uint(&out, (unsigned long)need);
        out_char(&out, '\n');
        out_flush(&out);
        return 1;
    }
    r = mamba_state_init(&state, &model, arena.bytes, logits_at);
    if (r != MAMBA_OK) {
        out_str(&out, "embedded: state: ");
        out_str(&out, mamba_result_string(r));
        out_char(&out, '\n');
        out_flush(&out);
        return 1;
    }
    logits = (float *)(void *)(arena.bytes + logits_at);

#ifdef EMBEDDED_PLATFORM
    t0 = embedded_ticks();
#endif
    /* exactly build/generate's loop: the prompt id, then greedy ids until
       EMBEDDED_N_TOKENS or the end-of-sequence id */
    r = mamba_step(&model, &state, token, logits);
    if (r != MAMBA_OK) {
        out_str(&out, "embedded: prompt: ");
        out_str(&out, mamba_result_string(r));
        out_char(&out, '\n');
        out_flush(&out);
        return 1;
    }
    out_int(&out, token);
    out_char(&out, ' ');
    for (i = 0; i < EMBEDDED_N_TOKENS; i++) {
        token = mamba_argmax(logits, model.config.n_vocab);
        out_int(&out, token);
        out_char(&out, ' ');
        if (token == model.config.eos_id) break;
        if (mamba_step(&model, &state, token, logits) != MAMBA_OK) break;
    }
    out_char(&out, '\n');
#ifdef EMBEDDED_PLATFORM
    t1 = embedded_ticks();
    /* a second line the comparison ignores: what it cost. Under qemu
       -icount shift=0 an instruction is 1 ns of virtual time, so
       instructions = ticks * 1e9 / tick_hz; the tokens/s estimate assumes
       one instruction a cycle at EMBEDDED_CLOCK_MHZ (a real core stalls on
       flash and takes several cycles for some instructions: a bound from
       above, see embedded/README.md). */
    {
        unsigned long long insns = (unsigned long long)(t1 - t0) * 1000000000ull / embedded_tick_hz();
        unsigned long long per_token = insns / (unsigned long long)(state.pos ? state.pos : 1);
        unsigned long long tok_s10 = per_token ? 10ull * EMBEDDED_CLOCK_MHZ * 1000000ull / per_token : 0;
        out_str(&out, "# steps ");
        out_int(&out, state.pos);
        out_str(&out, " ticks ");
        out_uint(&out, t1 - t0);
        out_str(&out, " tick_hz ");
        out_uint(&out, embedded_tick_hz());
        out_str(&out, " insns_per_token ");
        out_uint(&out, (unsigned long)per_token);
        out_str(&out, " tokens_per_s_at_");
        out_uint(&out, EMBEDDED_CLOCK_MHZ);
        out_str(&out, "MHz ");
        out_uint(&out, (unsigned long)(tok_s10 / 10u));
        out_char(&out, '.');
        out_uint(&out, (unsigned long)(tok_s10 % 10u));
        out_str(&out, " stack_peak_bytes ");
        out_uint(&out, embedded_stack_peak());
    }
    out_str(&out, " state_bytes ");
    out_uint(&out, (unsigned long)mamba_state_size(&model));
    out_str(&out, " arena_bytes ");
    out_uint(&out, (unsigned long)need);
    out_str(&out, " model_struct_bytes ");
    out_uint(&out, (unsigned long)sizeof model);
    out_char(&out, '\n');
#endif
    out_flush(&out);
    return 0;
}
