/* test_threads.c - one model, many threads, each with its own state.

   The contract (mamba.h, struct mamba_model): a loaded model is immutable,
   and any number of states may use it at once from any threads. Here
   THREADS pthreads share one model; each runs its own token sequence with
   mamba_step, mamba_forward (its own scratch) and a snapshot save/load in
   the middle, and must produce exactly (memcmp) the logits the same work
   gave on the main thread alone. Under ThreadSanitizer (tests/t_tsan.sh)
   this also proves the library makes no unsynchronised write to anything
   shared. Three models: f32, f16 and bf16 matrices. */
#define _POSIX_C_SOURCE 200809L
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "harness.h"
#include "model_builder.h"

#include <pthread.h>
#include <stdio.h>

#define THREADS 4
#define STEPS 48  /* tokens per thread */
#define CUT 20    /* where the snapshot is taken and reloaded */

typedef struct job {
    const mamba_model *m;
    int id;         /* also the seed of the token sequence */
    int nv;         /* n_vocab_padded */
    float *out;     /* (2 * STEPS, nv): the step rows, then the forward rows */
    int status;     /* 0 ok, else what failed */
} job;

static int tok(int seed, int i, int n_vocab)
{
    return (int)(((unsigned)seed * 2654435761u + (unsigned)i * 40503u + (unsigned)(i * i)) % (unsigned)n_vocab);
}

/* the whole workload of one thread; the same function makes the reference */
static void *work(void *arg)
{
    job *j = (job *)arg;
    const mamba_model *m = j->m;
    mamba_state s, t;
    int toks[STEPS], i;
    unsigned char *blob = NULL, *scratch = NULL;
    size_t blob_bytes, sbytes = mamba_forward_scratch_size(m, 8), w;
    j->status = 1;
    for (i = 0; i < STEPS; i++) toks[i] = tok(j->id, i, m->config.n_vocab);
    if (mamba_state_new(&s, m) != MAMBA_OK) return NULL;
    if (mamba_state_new(&t, m) != MAMBA_OK) { mamba_state_free(&s); return NULL; }
    blob_bytes = mamba_state_snapshot_size(&s);
    blob = (unsigned char *)malloc(blob_bytes);
    scratch = (unsigned char *)malloc(sbytes);
    if (!blob || !scratch) goto done;
    j->status = 2;
    /* token by token, with a save at CUT and the rest from the reloaded copy */
    for (i = 0; i < CUT; i++)
        if (mamba_step(m, &s, toks[i], j->out + (size_t)i * (size_t)j->nv) != MAMBA_OK) goto done;
    if (mamba_state_save(&s, m, blob, blob_bytes, &w) != MAMBA_OK) goto done;
    j->status = 3;
    if (mamba_state_load(&t, m, blob, w) != MAMBA_OK) goto done;
    for (; i < STEPS; i++)
        if (mamba_step(m, &t, toks[i], j->out + (size_t)i * (size_t)j->nv) != MAMBA_OK) goto done;
    j->status = 4;
    /* the same tokens through mamba_forward, every row, blocks of 8 */
    mamba_state_reset(&s);
    if (mamba_forward(m, &s, toks, STEPS, j->out + (size_t)STEPS * (size_t)j->nv, MAMBA_FORWARD_ALL_LOGITS,
                      scratch, sbytes) != MAMBA_OK)
        goto done;
    j->status = 0;
done:
    free(blob);
    free(scratch);
    mamba_state_free(&s);
    mamba_state_free(&t);
    return NULL;
}

static void run_model(uint32_t dtype, const char *name)
{
    mb_config c = mb_default();
    mb_file f;
    mamba_model m;
    job ref[THREADS], par[THREADS];
    pthread_t th[THREADS];
    size_t rows;
    int i, same = 1, ok = 1, started = 0;
    c.d_model = 48; c.d_inner = 96; c.n_layer = 3; c.d_state = 8; c.dt_rank = 4;
    c.n_vocab_padded = 160; c.n_vocab = 150; c.dtype = dtype;
    if (!mb_build(&c, &f) || mamba_model_init_memory(&m, f.bytes, f.size) != MAMBA_OK) {
        CHECK(0, "%s: build and load", name);
        return;
    }
    rows = (size_t)2 * STEPS * (size_t)m.config.n_vocab_padded;
    /* the reference: every job, one after another, on this thread */
    for (i = 0; i < THREADS; i++) {
        ref[i].m = &m; ref[i].id = i + 1; ref[i].nv = m.config.n_vocab_padded;
        ref[i].out = (float *)calloc(rows, sizeof(float));
        par[i] = ref[i];
        par[i].out = (float *)calloc(rows, sizeof(float));
        work(&ref[i]);
        if (ref[i].status != 0) ok = 0;
    }
    CHECK(ok, "%s: single-threaded reference runs", name);
    /* the same jobs, all at once */
    for (i = 0; i < THREADS; i++)
        if (pthread_create(&th[i], NULL, work, &par[i]) == 0) started++;
    CHECK(started == THREADS, "%s: started %d threads", name, started);
    for (i = 0; i < started; i++) pthread_join(th[i], NULL);
    for (i = 0; i < THREADS; i++) {
        if (par[i].status != 0) {
            ok = 0;
            printf("  %s thread %d failed at stage %d\n", name, i, par[i].status);
        }
        if (memcmp(par[i].out, ref[i].out, rows * sizeof(float)) != 0) same = 0;
    }
    CHECK(ok, "%s: every thread ran its whole job", name);
    CHECK(same, "%s: %d threads x %d tokens (step, snapshot, forward): logits bit-identical to single-threaded",
          name, THREADS, STEPS);
    /* and the jobs really differ from each other, so equality means something */
    CHECK(memcmp(ref[0].out, ref[1].out, rows * sizeof(float)) != 0, "%s: the jobs differ", name);
    for (i = 0; i < THREADS; i++) {
        free(ref[i].out);
        free(par[i].out);
    }
    mb_free(&f);
}

int main(void)
{
    run_model(0, "f32");
    run_model(1, "f16");
    run_model(2, "bf16");
    return harness_summary();
}
