/* model_builder.h - write a small, valid .mamba file in memory, for tests.

   Tests mutate what this writes (truncate it, flip fields) and check that the
   loader refuses each mutation with the right code. It follows docs/format.md
   on its own, byte by byte, so a mistake in the loader and a mistake here are
   unlikely to cancel out; the golden tests cover the converter's files. */
#ifndef MODEL_BUILDER_H
#define MODEL_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct mb_config {
    uint32_t arch, flags, d_model, n_layer, d_inner, d_state, d_conv, dt_rank, n_vocab_padded, n_vocab;
    float norm_eps, mixer_rms_eps;
    uint32_t dtype; /* of the matrices: 0 f32, 1 f16, 2 bf16 */
    uint32_t tokenizer_bytes; /* a dummy section of this size, 0 for none */
} mb_config;

typedef struct mb_file {
    unsigned char *bytes; /* 64-byte aligned, free with mb_free() */
    size_t size;
    size_t dir_offset;    /* where the tensor directory starts */
    uint32_t n_tensors;
    void *raw;
} mb_file;

static mb_config mb_default(void)
{
    mb_config c;
    c.arch = 1; c.flags = 1; /* conv bias, tied */
    c.d_model = 16; c.n_layer = 2; c.d_inner = 32; c.d_state = 4; c.d_conv = 4; c.dt_rank = 3;
    c.n_vocab_padded = 24; c.n_vocab = 21; c.norm_eps = 1e-5f; c.mixer_rms_eps = 0.0f;
    c.dtype = 0; c.tokenizer_bytes = 0;
    return c;
}

static void mb_w32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

static void mb_w64(unsigned char *p, uint64_t v)
{
    mb_w32(p, (uint32_t)v);
    mb_w32(p + 4, (uint32_t)(v >> 32));
}

static void mb_wf(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    mb_w32(p, u);
}

/* a deterministic generator: xorshift32, mapped to [-scale, scale) */
static float mb_rand(uint32_t *s, float scale)
{
    *s ^= *s << 13; *s ^= *s >> 17; *s ^= *s << 5;
    return scale * ((float)(*s >> 8) / 8388608.0f - 1.0f);
}

/* f32 -> f16 by truncation toward zero (the tests only need some valid half) */
static uint16_t mb_f16(float f)
{
    uint32_t u, sign, man;
    int e;
    memcpy(&u, &f, 4);
    sign = (u >> 16) & 0x8000u;
    e = (int)((u >> 23) & 0xFF) - 127 + 15;
    man = (u >> 13) & 0x3FFu;
    if (e <= 0) return (uint16_t)sign;
    if (e >= 31) return (uint16_t)(sign | 0x7BFFu);
    return (uint16_t)(sign | ((uint32_t)e << 10) | man);
}

typedef struct mb_tensor { uint32_t role, layer, ndim, shape[2]; int matrix; } mb_tensor;

/* the tensors the config calls for, in the writer's order */
static int mb_list(const mb_config *c, mb_tensor *t)
{
    int n = 0;
    uint32_t l;
#define MB_T(r, L, nd, s0, s1, mat) do { t[n].role = r; t[n].layer = L; t[n].ndim = nd; \
    t[n].shape[0] = s0; t[n].shape[1] = s1; t[n].matrix = mat; n++; } while (0)
    MB_T(1, 0, 2, c->n_vocab_padded, c->d_model, 1);
    for (l = 0; l < c->n_layer; l++) {
        MB_T(16, l, 1, c->d_model, 0, 0);
        MB_T(17, l, 2, 2 * c->d_inner, c->d_model, 1);
        if (c->flags & 2u) MB_T(18, l, 1, 2 * c->d_inner, 0, 0);
        MB_T(19, l, 2, c->d_inner, c->d_conv, 0);
        if (c->flags & 1u) MB_T(20, l, 1, c->d_inner, 0, 0);
        MB_T(21, l, 2, c->dt_rank + 2 * c->d_state, c->d_inner, 1);
        MB_T(22, l, 2, c->d_inner, c->dt_rank, 1);
        MB_T(23, l, 1, c->d_inner, 0, 0);
        MB_T(24, l, 2, c->d_inner, c->d_state, 0);
        MB_T(25, l, 1, c->d_inner, 0, 0);
        MB_T(26, l, 2, c->d_model, c->d_inner, 1);
        if (c->flags & 4u) MB_T(27, l, 1, c->d_model, 0, 0);
    }
    MB_T(2, 0, 1, c->d_model, 0, 0);
    if (c->flags & 8u) MB_T(3, 0, 2, c->n_vocab_padded, c->d_model, 1);
#undef MB_T
    return n;
}

static size_t mb_align64(size_t x) { return (x + 63) & ~(size_t)63; }

/* Build the file; returns 0 on allocation failure. */
static int mb_build(const mb_config *c, mb_file *f)
{
    mb_tensor *t = (mb_tensor *)malloc(sizeof(mb_tensor) * (4 + 12 * c->n_layer));
    int n, i;
    size_t off, dir, tok = 0, total;
    uint32_t seed = 12345u;
    unsigned char *p;
    if (!t) return 0;
    n = mb_list(c, t);
    dir = 128;
    off = dir + 48 * (size_t)n;
    if (c->tokenizer_bytes) { tok = (off + 7) & ~(size_t)7; off = tok + c->tokenizer_bytes; }
    total = off;
    for (i = 0; i < n; i++) {
        size_t count = (size_t)t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1);
        size_t elem = t[i].matrix && c->dtype ? 2 : 4;
        total = mb_align64(total) + count * elem;
    }
    f->raw = malloc(total + 64);
    if (!f->raw) { free(t); return 0; }
    p = (unsigned char *)(((uintptr_t)f->raw + 63) & ~(uintptr_t)63);
    memset(p, 0, total);
    memcpy(p, "\x89MAMBA\r\n", 8);
    mb_w32(p + 8, 1); mb_w32(p + 12, 128); mb_w32(p + 16, 0x12345678u); mb_wf(p + 20, 370.5f);
    mb_w64(p + 24, total);
    mb_w32(p + 32, c->arch); mb_w32(p + 36, c->flags); mb_w32(p + 40, c->d_model); mb_w32(p + 44, c->n_layer);
    mb_w32(p + 48, c->d_inner); mb_w32(p + 52, c->d_state); mb_w32(p + 56, c->d_conv); mb_w32(p + 60, c->dt_rank);
    mb_w32(p + 64, c->n_vocab_padded); mb_w32(p + 68, c->n_vocab); mb_wf(p + 72, c->norm_eps);
    mb_wf(p + 76, c->mixer_rms_eps);
    mb_w32(p + 80, 0xFFFFFFFFu); mb_w32(p + 84, 0); mb_w32(p + 88, 0xFFFFFFFFu);
    mb_w32(p + 92, (uint32_t)n); mb_w64(p + 96, dir);
    mb_w64(p + 104, tok); mb_w64(p + 112, c->tokenizer_bytes);
    if (c->tokenizer_bytes) memset(p + tok, 0xAB, c->tokenizer_bytes);
    for (i = 0; i < n; i++) {
        unsigned char *e = p + dir + 48 * (size_t)i;
        size_t count = (size_t)t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1), k;
        uint32_t dtype = t[i].matrix ? c->dtype : 0;
        off = mb_align64(off);
        mb_w32(e, t[i].role); mb_w32(e + 4, t[i].layer); mb_w32(e + 8, dtype); mb_w32(e + 12, t[i].ndim);
        mb_w32(e + 16, t[i].shape[0]); mb_w32(e + 20, t[i].ndim == 2 ? t[i].shape[1] : 0);
        mb_w64(e + 32, off); mb_w64(e + 40, count * (dtype ? 2 : 4));
        for (k = 0; k < count; k++) {
            float v;
            switch (t[i].role) {
            case 16: case 2: v = 1.0f + mb_rand(&seed, 0.1f); break;              /* norms near 1 */
            case 24: v = -(float)(1 + k % c->d_state) * (1.0f + mb_rand(&seed, 0.05f)); break; /* A < 0 */
            case 23: v = -3.0f + mb_rand(&seed, 2.0f); break;                     /* dt bias: small Delta */
            case 25: v = 1.0f; break;                                              /* D */
            default: v = mb_rand(&seed, 0.3f); break;
            }
            if (dtype == 0) mb_wf(p + off + 4 * k, v);
            else {
                uint16_t h;
                if (dtype == 1) h = mb_f16(v);
                else { uint32_t u; memcpy(&u, &v, 4); h = (uint16_t)(u >> 16); }
                p[off + 2 * k] = (unsigned char)h; p[off + 2 * k + 1] = (unsigned char)(h >> 8);
            }
        }
        off += count * (dtype ? 2 : 4);
    }
    f->bytes = p;
    f->size = total;
    f->dir_offset = dir;
    f->n_tensors = (uint32_t)n;
    free(t);
    return 1;
}

static void mb_free(mb_file *f) { free(f->raw); f->raw = NULL; f->bytes = NULL; }

#endif
