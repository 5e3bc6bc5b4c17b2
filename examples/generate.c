/* generate.c - the program people run: a prompt in, a story out.

   build/generate MODEL.mamba -p "Once upon a time" -n 200 --temp 0.8 --top-p 0.9 --seed 42

   The prompt is encoded with the model's own tokenizer (a model file without
   one falls back to bytes: id = byte value) and read in one mamba_forward()
   call; then each new token is sampled, printed as soon as its bytes form
   whole UTF-8 characters, and fed back through mamba_step(). Generation
   stops at the end-of-text id or after -n tokens. Speeds go to stderr. */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MAX_PROMPT_BYTES (1 << 20)
#define REPEAT_WINDOW_MAX 1024

static void usage(FILE *f)
{
    fprintf(f,
            "usage: generate MODEL.mamba [options]\n"
            "  -p, --prompt TEXT       prompt text (default: start of a new document)\n"
            "  -f, --prompt-file FILE  read the prompt from a file\n"
            "  --tokens \"ID ID ...\"    prompt as token ids instead of text\n"
            "  -n N                    tokens to generate (default 256; 0 only reads the prompt)\n"
            "  --temp T                temperature (default 0.8; 0 = greedy)\n"
            "  --top-k K               keep the K most likely tokens (default 0 = off)\n"
            "  --top-p P               nucleus sampling (default 0.95; 1 = off)\n"
            "  --min-p P               drop tokens below P x the best (default 0 = off)\n"
            "  --repeat-penalty R      penalise recent tokens (default 1.0 = off)\n"
            "  --repeat-last N         how many recent tokens count (default 64)\n"
            "  --seed S                random seed (default 42; same seed, same text)\n"
            "  --threads N             OpenMP threads (default: all)\n"
            "  --ids                   print token ids instead of text\n"
            "  -q, --quiet             no speed report\n");
}

#if defined(__unix__) || defined(__APPLE__)
#include <sys/time.h>
static double wall_seconds(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}
#else
static double wall_seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }
#endif


int main(int argc, char **argv)
{
    const char *path = NULL, *prompt = NULL, *prompt_file = NULL, *ids_text = NULL;
    char *file_text = NULL;
    int n_gen = 256, repeat_last = 64, print_ids = 0, quiet = 0, threads = 0, i, status = 1;
    unsigned long long seed = 42;
    mamba_sampler smp = mamba_sampler_default();
    mamba_model model;
    mamba_state state;
    mamba_tokenizer tok;
    mamba_detok detok;
    mamba_rng rng;
    mamba_result r;
    int have_tok = 0, n_prompt = 0, n_done = 0, token, *prompt_ids = NULL, *work = NULL;
    int recent[REPEAT_WINDOW_MAX], n_recent = 0;
    float *logits = NULL;
    void *scratch = NULL, *encode_work = NULL;
    size_t scratch_bytes = 0;
    char *out = NULL;
    double t0, t1, t2;
    size_t prompt_len = 0;

    smp.temperature = 0.8f;
    smp.top_p = 0.95f;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        double v;
        long k;
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has) prompt = argv[++i];
        else if ((!strcmp(a, "-f") || !strcmp(a, "--prompt-file")) && has) prompt_file = argv[++i];
        else if (!strcmp(a, "--tokens") && has) ids_text = argv[++i];
        else if (!strcmp(a, "-n") && has && cli_long(argv[++i], 0, INT_MAX, &k)) n_gen = (int)k;
        else if (!strcmp(a, "--temp") && has && cli_double(argv[++i], 0, 100, &v)) smp.temperature = (float)v;
        else if (!strcmp(a, "--top-k") && has && cli_long(argv[++i], 0, INT_MAX, &k)) smp.top_k = (int)k;
        else if (!strcmp(a, "--top-p") && has && cli_double(argv[++i], 0, 1, &v)) smp.top_p = (float)v;
        else if (!strcmp(a, "--min-p") && has && cli_double(argv[++i], 0, 1, &v)) smp.min_p = (float)v;
        else if (!strcmp(a, "--repeat-penalty") && has && cli_double(argv[++i], 0.01, 100, &v))
            smp.repetition_penalty = (float)v;
        else if (!strcmp(a, "--repeat-last") && has && cli_long(argv[++i], 0, REPEAT_WINDOW_MAX, &k))
            repeat_last = (int)k;
        else if (!strcmp(a, "--seed") && has && cli_ull(argv[++i], &seed)) {}
        else if (!strcmp(a, "--threads") && has && cli_long(argv[++i], 1, 1024, &k)) threads = (int)k;
        else if (!strcmp(a, "--ids")) print_ids = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (a[0] != '-' && !path) path = a;
        else {
            fprintf(stderr, "generate: bad or incomplete option '%s'%s%s%s\n", a, a == argv[i] ? "" : " '",
                    a == argv[i] ? "" : argv[i], a == argv[i] ? "" : "'");
            usage(stderr);
            return 2;
        }
    }
    if (!path) { usage(stderr); return 2; }
    if (!!prompt + !!prompt_file + !!ids_text > 1) {
        fprintf(stderr, "generate: give one of -p, -f, --tokens\n");
        return 2;
    }
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#else
    (void)threads;
#endif

    /* the prompt's ids, checked before the model is read: each in 0..INT_MAX */
    if (ids_text) {
        const char *bad = ids_text;
        long n = cli_ids(ids_text, NULL, 0, &bad);
        if (n < 0 || n > INT_MAX) {
            fprintf(stderr, "generate: --tokens: '%.20s' is not a token id (0..%d)\n", bad, INT_MAX);
            return 2;
        }
        prompt_ids = (int *)malloc(sizeof(int) * (size_t)(n + 1));
        if (!prompt_ids) { fprintf(stderr, "generate: out of memory\n"); return 1; }
        n_prompt = (int)cli_ids(ids_text, prompt_ids, n, &bad);
    }
    if (cli_open_model("generate", &model, path) != MAMBA_OK) {
        free(prompt_ids);
        return 1;
    }
    have_tok = mamba_tokenizer_from_model(&tok, &model) == MAMBA_OK;
    if (!have_tok && model.tokenizer) fprintf(stderr, "generate: the model's tokenizer is malformed: %s\n", tok.error);
    mamba_rng_seed(&rng, seed);
    mamba_detok_init(&detok);

    /* the prompt, as ids */
    if (prompt_file) {
        file_text = cli_read_file("generate", prompt_file, MAX_PROMPT_BYTES, &prompt_len);
        if (!file_text) goto done;
        prompt = file_text;
    } else if (prompt) {
        prompt_len = strlen(prompt);
    }
    if (ids_text) {
        /* parsed above */
    } else if (prompt && prompt_len) {
        size_t len = prompt_len, n_ids = 0;
        prompt_ids = (int *)malloc(sizeof(int) * (3 * len + 2)); /* + the BOS */
        if (!prompt_ids) goto done;
        if (have_tok) {
            size_t wbytes = mamba_encode_work_size(&tok, len);
            int bos = tok.add_bos && tok.bos_id >= 0; /* what the tokenizer's template adds (Mistral's <s>) */
            encode_work = malloc(wbytes);
            if (!encode_work) goto done;
            prompt_ids[0] = tok.bos_id;
            r = mamba_encode(&tok, prompt, len, prompt_ids + bos, 3 * len + 1, &n_ids, encode_work, wbytes);
            if (r != MAMBA_OK) { fprintf(stderr, "generate: cannot encode the prompt: %s\n", mamba_result_string(r)); goto done; }
            n_ids += (size_t)bos;
        } else {
            for (n_ids = 0; n_ids < len; n_ids++) prompt_ids[n_ids] = (unsigned char)prompt[n_ids];
        }
        n_prompt = (int)n_ids;
    }
    if (n_prompt == 0) {
        /* no prompt: begin a new document, the way the training text does */
        int start = model.config.bos_id >= 0 ? model.config.bos_id : model.config.eos_id;
        if (start < 0) start = 0;
        if (!prompt_ids) prompt_ids = (int *)malloc(sizeof(int));
        if (!prompt_ids) goto done;
        prompt_ids[0] = start;
        n_prompt = 1;
    }

    logits = (float *)malloc(sizeof(float) * (size_t)model.config.n_vocab_padded);
    work = (int *)malloc(sizeof(int) * (size_t)model.config.n_vocab);
    out = (char *)malloc(have_tok ? tok.detok_bytes : 16);
    scratch_bytes = mamba_forward_scratch_size(&model, MAMBA_FORWARD_BLOCK);
    scratch = malloc(scratch_bytes);
    if (!logits || !work || !out || !scratch || mamba_state_new(&state, &model) != MAMBA_OK) {
        fprintf(stderr, "generate: out of memory\n");
        goto done;
    }

    /* echo the prompt, then read it in one batched call; the decoder sees the
       prompt's ids too, so the text goes on from it (Strip: no space lost) */
    if (!print_ids && prompt && prompt_len) fwrite(prompt, 1, prompt_len, stdout);
    else if (print_ids) for (i = 0; i < n_prompt; i++) printf("%d ", prompt_ids[i]);
    if (have_tok && prompt && prompt_len) {
        size_t n_out;
        for (i = 0; i < n_prompt; i++) mamba_detok_push(&tok, &detok, prompt_ids[i], out, tok.detok_bytes, &n_out);
        n_out = mamba_detok_flush(&detok, out);
    }
    fflush(stdout);
    t0 = wall_seconds();
    r = mamba_forward(&model, &state, prompt_ids, n_prompt, logits, 0, scratch, scratch_bytes);
    if (r != MAMBA_OK) {
        fprintf(stderr, "\ngenerate: prompt: %s\n", mamba_result_string(r));
        goto done_state;
    }
    t1 = wall_seconds();
    for (i = n_prompt > repeat_last ? n_prompt - repeat_last : 0; i < n_prompt; i++) recent[n_recent++] = prompt_ids[i];

    /* generate: sample, print, feed back */
    while (n_done < n_gen) {
        token = mamba_sample(&smp, &rng, logits, model.config.n_vocab, recent, n_recent < repeat_last ? n_recent : repeat_last, work);
        n_done++;
        if (token == model.config.eos_id || (model.config.eos_id < 0 && have_tok && token == tok.eos_id)) break;
        if (print_ids) {
            printf("%d ", token);
        } else if (have_tok) {
            size_t n_out = 0;
            if (mamba_detok_push(&tok, &detok, token, out, tok.detok_bytes, &n_out) == MAMBA_OK)
                fwrite(out, 1, n_out, stdout);
        } else if (token < 256) {
            putchar(token);
        } else {
            printf("<%d>", token);
        }
        fflush(stdout);
        /* keep the last repeat_last tokens, oldest first */
        if (repeat_last > 0) {
            if (n_recent == repeat_last) {
                memmove(recent, recent + 1, sizeof(int) * (size_t)(repeat_last - 1));
                n_recent--;
            }
            recent[n_recent++] = token;
        }
        if (n_done == n_gen) break;
        r = mamba_step(&model, &state, token, logits);
        if (r != MAMBA_OK) {
            fprintf(stderr, "\ngenerate: step: %s\n", mamba_result_string(r));
            goto done_state;
        }
    }
    if (have_tok) {
        size_t k = mamba_detok_flush(&detok, out);
        fwrite(out, 1, k, stdout);
    }
    printf("\n");
    fflush(stdout); /* the story before the speed report */
    t2 = wall_seconds();
    if (!quiet)
        fprintf(stderr, "prompt: %d tokens, %.1f tokens/s | generated: %d tokens, %.1f tokens/s\n", n_prompt,
                n_prompt / (t1 - t0 > 1e-9 ? t1 - t0 : 1e-9), n_done, n_done / (t2 - t1 > 1e-9 ? t2 - t1 : 1e-9));
    status = 0;
done_state:
    mamba_state_free(&state);
done:
    free(logits);
    free(work);
    free(out);
    free(scratch);
    free(encode_work);
    free(prompt_ids);
    free(file_text);
    mamba_model_close(&model);
    return status;
}
