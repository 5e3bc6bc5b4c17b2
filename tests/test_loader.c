/* test_loader.c - the loader refuses every malformed file with the right code.

   A valid file is built in memory (tests/model_builder.h); each case copies
   it, breaks one thing, and checks the result code. Run under ASan+UBSan by
   tests/t_sanitize.sh, this also proves no malformed file is read out of
   bounds. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "harness.h"
#include "model_builder.h"

#include <stdio.h>

/* a fresh 64-byte-aligned copy of the valid file, to break */
static unsigned char *copy_of(const mb_file *f, void **raw)
{
    *raw = malloc(f->size + 64);
    unsigned char *p = (unsigned char *)(((uintptr_t)*raw + 63) & ~(uintptr_t)63);
    memcpy(p, f->bytes, f->size);
    return p;
}

/* load a copy with one 32- or 64-bit field at off overwritten */
static mamba_result load_with(const mb_file *f, size_t off, uint64_t value, int width, mamba_model *m)
{
    void *raw;
    unsigned char *p = copy_of(f, &raw);
    mamba_result r;
    if (width == 32) mb_w32(p + off, (uint32_t)value);
    else mb_w64(p + off, value);
    r = mamba_model_init_memory(m, p, f->size);
    free(raw);
    return r;
}

#define ENTRY(i, field) (f.dir_offset + 48 * (size_t)(i) + (field))

static void test_valid(const mb_file *f)
{
    mamba_model m;
    mamba_state s;
    float logits[64];
    mamba_result r = mamba_model_init_memory(&m, f->bytes, f->size);
    CHECK(r == MAMBA_OK, "valid file: %s (%s)", mamba_result_string(r), m.error ? m.error : "");
    if (r != MAMBA_OK) return;
    CHECK(m.config.d_model == 16 && m.config.n_layer == 2 && m.config.d_inner == 32, "config read back");
    CHECK(m.config.n_vocab == 21 && m.config.n_vocab_padded == 24 && m.config.eos_id == 0, "vocab read back");
    CHECK(m.config.tied_lm_head == 1 && m.lm_head.data == m.embedding.data, "tied output matrix");
    CHECK(mamba_state_new(&s, &m) == MAMBA_OK, "state");
    CHECK(mamba_step(&m, &s, 23, logits) == MAMBA_OK, "last padded row is a valid input");
    CHECK(mamba_step(&m, &s, 24, logits) == MAMBA_ERR_TOKEN, "token past the embedding");
    CHECK(mamba_step(&m, &s, -1, logits) == MAMBA_ERR_TOKEN, "negative token");
    CHECK(s.pos == 1, "a refused token leaves the state alone (pos %ld)", s.pos);
    CHECK(mamba_step(NULL, &s, 0, logits) == MAMBA_ERR_INVALID_ARG, "NULL model");
    CHECK(mamba_step(&m, NULL, 0, logits) == MAMBA_ERR_INVALID_ARG, "NULL state");
    mamba_state_free(&s);
}

int main(void)
{
    mb_config c = mb_default();
    mb_file f;
    mamba_model m;
    size_t i;
    void *raw;
    unsigned char *p;
    int all_truncations_refused = 1;

    if (!mb_build(&c, &f)) { printf("out of memory\n"); return 1; }
    test_valid(&f);

    /* every truncated prefix, from 0 bytes to one byte short */
    for (i = 0; i < f.size; i++) {
        mamba_result r = mamba_model_init_memory(&m, f.bytes, i);
        if (r != MAMBA_ERR_TRUNCATED) {
            all_truncations_refused = 0;
            CHECK(r == MAMBA_ERR_TRUNCATED, "prefix of %zu bytes gave %s", i, mamba_result_string(r));
            break;
        }
    }
    CHECK(all_truncations_refused, "all %zu truncated prefixes refused", f.size);
    CHECK(mamba_model_init_memory(&m, NULL, f.size) == MAMBA_ERR_INVALID_ARG, "NULL data");
    CHECK(mamba_model_init_memory(&m, f.bytes + 1, f.size - 1) == MAMBA_ERR_ALIGN, "misaligned buffer");

    /* header fields */
    p = copy_of(&f, &raw); p[1] = 'X';
    CHECK(mamba_model_init_memory(&m, p, f.size) == MAMBA_ERR_BAD_MAGIC, "bad magic"); free(raw);
    CHECK(load_with(&f, 8, 3, 32, &m) == MAMBA_ERR_VERSION, "future version");
    CHECK(load_with(&f, 8, 0, 32, &m) == MAMBA_ERR_VERSION, "version 0");
    CHECK(load_with(&f, 12, 256, 32, &m) == MAMBA_ERR_VERSION, "other header size");
    CHECK(load_with(&f, 16, 0x78563412u, 32, &m) == MAMBA_ERR_ENDIAN, "swapped endianness");
    CHECK(m.error && strstr(m.error, "big-endian"), "message names big-endian: %s", m.error);
    CHECK(load_with(&f, 20, 0x0040B943u, 32, &m) == MAMBA_ERR_ENDIAN, "float sentinel swapped");
    CHECK(load_with(&f, 24, f.size + 1, 64, &m) == MAMBA_ERR_TRUNCATED, "file_bytes past the buffer");
    CHECK(load_with(&f, 24, 0xFFFFFFFFFFFFFFC0ull, 64, &m) == MAMBA_ERR_TRUNCATED, "huge file_bytes");
    CHECK(load_with(&f, 32, 4, 32, &m) == MAMBA_ERR_DIMENSION, "unknown arch");
    CHECK(load_with(&f, 32, 3, 32, &m) == MAMBA_ERR_VERSION, "Mamba-2 in a version-1 file");
    CHECK(load_with(&f, 36, 0x11, 32, &m) == MAMBA_ERR_DIMENSION, "unknown flag");
    CHECK(load_with(&f, 40, 0, 32, &m) == MAMBA_ERR_DIMENSION, "d_model 0");
    CHECK(load_with(&f, 40, 0x80000000u, 32, &m) == MAMBA_ERR_DIMENSION, "d_model huge");
    CHECK(load_with(&f, 44, MAMBA_MAX_LAYERS + 1, 32, &m) == MAMBA_ERR_DIMENSION, "too many layers");
    CHECK(load_with(&f, 48, 0xFFFFFFFFu, 32, &m) == MAMBA_ERR_DIMENSION, "d_inner huge");
    CHECK(load_with(&f, 52, 0, 32, &m) == MAMBA_ERR_DIMENSION, "d_state 0");
    CHECK(load_with(&f, 56, 65, 32, &m) == MAMBA_ERR_DIMENSION, "d_conv too wide");
    CHECK(load_with(&f, 60, 0, 32, &m) == MAMBA_ERR_DIMENSION, "dt_rank 0");
    CHECK(load_with(&f, 64, 0x7FFFFFFFu, 32, &m) == MAMBA_ERR_DIMENSION, "vocab huge");
    CHECK(load_with(&f, 68, 25, 32, &m) == MAMBA_ERR_DIMENSION, "n_vocab > n_vocab_padded");
    CHECK(load_with(&f, 72, 0x7FC00000u, 32, &m) == MAMBA_ERR_DIMENSION, "norm_eps NaN");
    CHECK(load_with(&f, 72, 0, 32, &m) == MAMBA_ERR_DIMENSION, "norm_eps 0");
    CHECK(load_with(&f, 84, 24, 32, &m) == MAMBA_ERR_DIMENSION, "eos outside the vocabulary");
    CHECK(load_with(&f, 92, 0, 32, &m) == MAMBA_ERR_TENSOR, "no tensors");
    CHECK(load_with(&f, 92, 0xFFFFFFFFu, 32, &m) == MAMBA_ERR_TENSOR, "absurd tensor count");
    CHECK(load_with(&f, 96, 130, 64, &m) == MAMBA_ERR_ALIGN, "misaligned directory");
    CHECK(load_with(&f, 96, f.size - 8, 64, &m) == MAMBA_ERR_BOUNDS, "directory runs past the end");
    CHECK(load_with(&f, 96, 0xFFFFFFFFFFFFFFF8ull, 64, &m) == MAMBA_ERR_BOUNDS, "directory offset wraps");
    CHECK(load_with(&f, 112, 16, 64, &m) == MAMBA_ERR_ALIGN, "tokenizer size without offset");
    CHECK(load_with(&f, 104, 8, 64, &m) == MAMBA_ERR_BOUNDS, "tokenizer offset without size");
    CHECK(load_with(&f, 120, 1, 64, &m) == MAMBA_ERR_VERSION, "reserved bytes set");

    /* tensor directory entries (entry 0 is the embedding, 1 the first norm, 2 in_proj) */
    CHECK(load_with(&f, ENTRY(0, 0), 99, 32, &m) == MAMBA_ERR_TENSOR, "unknown role");
    CHECK(load_with(&f, ENTRY(1, 4), 2, 32, &m) == MAMBA_ERR_TENSOR, "layer out of range");
    CHECK(load_with(&f, ENTRY(1, 4), 1, 32, &m) == MAMBA_ERR_TENSOR, "duplicate tensor");
    CHECK(m.error_role && !strcmp(m.error_role, "norm") && m.error_layer == 1, "error names the tensor");
    CHECK(load_with(&f, ENTRY(0, 8), 7, 32, &m) == MAMBA_ERR_TENSOR, "unknown dtype");
    CHECK(load_with(&f, ENTRY(1, 8), 1, 32, &m) == MAMBA_ERR_TENSOR, "f16 norm is not allowed");
    CHECK(load_with(&f, ENTRY(0, 12), 1, 32, &m) == MAMBA_ERR_TENSOR, "wrong ndim");
    CHECK(load_with(&f, ENTRY(2, 16), 63, 32, &m) == MAMBA_ERR_TENSOR, "wrong shape");
    CHECK(load_with(&f, ENTRY(2, 24), 1, 32, &m) == MAMBA_ERR_TENSOR, "junk in unused shape entry");
    CHECK(load_with(&f, ENTRY(2, 40), 4, 64, &m) == MAMBA_ERR_TENSOR, "byte count does not match");
    CHECK(load_with(&f, ENTRY(2, 32), 0x1004, 64, &m) == MAMBA_ERR_ALIGN, "misaligned tensor");
    CHECK(load_with(&f, ENTRY(2, 32), f.size - 64, 64, &m) == MAMBA_ERR_BOUNDS, "tensor runs past the end");
    CHECK(load_with(&f, ENTRY(2, 32), 0xFFFFFFFFFFFFFFC0ull, 64, &m) == MAMBA_ERR_BOUNDS, "tensor offset wraps");
    CHECK(load_with(&f, ENTRY(0, 40), 0xFFFFFFFFFFFFFFFCull, 64, &m) == MAMBA_ERR_TENSOR, "huge byte count");
    /* one tensor fewer: the last entry (norm_f) disappears */
    CHECK(load_with(&f, 92, f.n_tensors - 1, 32, &m) == MAMBA_ERR_TENSOR, "missing tensor");
    CHECK(m.error_role && !strcmp(m.error_role, "norm_f"), "missing tensor is named (%s)", m.error_role);
    /* flags that call for tensors the file lacks, or deny ones it has */
    CHECK(load_with(&f, 36, 1 | 8, 32, &m) == MAMBA_ERR_TENSOR, "lm_head flagged but absent");
    CHECK(load_with(&f, 36, 0, 32, &m) == MAMBA_ERR_TENSOR, "conv bias present but not flagged");

    /* every single-byte corruption of header and directory: any code, no crash */
    {
        size_t end = f.dir_offset + 48 * (size_t)f.n_tensors, ok = 0, refused = 0;
        p = copy_of(&f, &raw);
        for (i = 0; i < end; i++) {
            unsigned char old = p[i];
            int b;
            for (b = 0; b < 8; b++) {
                mamba_result r;
                p[i] = (unsigned char)(old ^ (1u << b));
                r = mamba_model_init_memory(&m, p, f.size);
                if (r == MAMBA_OK) {
                    mamba_state s;
                    float logits[64];
                    if (m.config.n_vocab_padded <= 64 && mamba_state_new(&s, &m) == MAMBA_OK) {
                        mamba_step(&m, &s, 1, logits);
                        mamba_state_free(&s);
                    }
                    ok++;
                } else {
                    refused++;
                }
            }
            p[i] = old;
        }
        free(raw);
        printf("bit flips in header+directory: %zu refused, %zu still loadable\n", refused, ok);
        CHECK(refused > ok, "most bit flips are refused");
    }
    mb_free(&f);

    /* the other dtypes and options load too */
    {
        uint32_t dt;
        for (dt = 0; dt < 3; dt++) {
            c = mb_default();
            c.dtype = dt;
            c.flags = 1 | 2 | 4 | 8;
            c.tokenizer_bytes = 40;
            if (!mb_build(&c, &f)) return 1;
            CHECK(mamba_model_init_memory(&m, f.bytes, f.size) == MAMBA_OK, "dtype %u with biases, lm_head: %s", (unsigned)dt,
                  m.error ? m.error : "");
            CHECK(m.tokenizer == f.bytes + 128 + 48 * f.n_tensors && m.tokenizer_bytes == 40, "tokenizer section");
            CHECK(m.lm_head.data != m.embedding.data, "separate lm_head");
            mb_free(&f);
        }
        c = mb_default();
        c.arch = 2;
        if (!mb_build(&c, &f)) return 1;
        CHECK(mamba_model_init_memory(&m, f.bytes, f.size) == MAMBA_ERR_DIMENSION, "falcon needs mixer_rms_eps");
        mb_free(&f);
    }
    return harness_summary();
}
