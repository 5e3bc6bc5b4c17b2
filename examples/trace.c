/* trace.c - watch the selective mechanism of a real model, token by token.

   build/trace [MODEL.mamba] [-p "text" | --tokens "ID ID ..."] [--csv FILE]

   Runs the model over a prompt and shows, for every token and every layer,
   what the selective scan did with its state:

     mean_delta  mean over the d_inner channels of Delta = softplus(...), the
                 step size the block chose for this token (max_delta: the largest)
     kept        mean over channels c and state entries n of exp(Delta[c] A[c][n]):
                 the fraction of the old state h that survives this step.
                 1 - kept is what the token overwrote. A is negative, so a
                 small Delta keeps (kept ~ 1: remember the past) and a large
                 Delta resets (kept ~ 0: focus on this token).
     state_norm  |h|, the Frobenius norm of the layer's (d_inner, d_state) state
                 after the step.

   The screen gets one line per token with a one-character shade per layer
   for "kept"; --csv FILE gets every number, one row per (token, layer):
     token_index,token_id,text,layer,mean_delta,max_delta,kept,state_norm

   How: the library's own mamba_step() runs the model, with an observer
   set on the state (mamba_state_observe): after each layer's scan it hands
   trace_observe() below that layer's Delta, the share of the state kept and
   |h|. The program uses the public API only. To show that watching changes
   nothing, every token is also fed to mamba_step() on a second state
   without an observer, and the two must agree bit for bit (logits and
   state); the program stops with an error if they do not.

   The default model is models/tinystories.mamba; the default prompt is a
   sentence encoded with the model's tokenizer (a fixed list of ids when the
   model has no tokenizer). */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What one layer did with one token. */
typedef struct trace_stats {
    double mean_delta, max_delta; /* over the d_inner channels */
    double kept;                  /* mean exp(Delta A) over d_inner x d_state */
    double state_norm;            /* |h| after the step */
} trace_stats;

/* The observer: one call per layer and token, from inside mamba_step().
   The observation's vectors are valid only during the call: the
   statistics are taken here. */
static void trace_observe(void *user, const mamba_observation *o)
{
    trace_stats *st = (trace_stats *)user + o->layer;
    double sum_delta = 0.0, max_delta = 0.0;
    int c;
    for (c = 0; c < o->n_heads; c++) { /* one Delta a head: a channel in Mamba-1 */
        sum_delta += o->delta[c];
        if (c == 0 || o->delta[c] > max_delta) max_delta = o->delta[c];
    }
    st->mean_delta = sum_delta / o->n_heads;
    st->max_delta = max_delta;
    st->kept = o->kept;             /* mean exp(Delta A): what the scan multiplied h by */
    st->state_norm = o->state_norm; /* |h| after the step */
}

/* The shade of "kept": darker keeps more. The scale is not linear, because
   what matters for memory is how close to 1 the factor is: kept = 0.99 per
   step still remembers ~100 tokens back, 0.9 only ~10. */
static const char trace_shades[] = " .:-=+*#%@";
static const double trace_shade_from[] = {0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999};

static char trace_shade(double kept)
{
    int k = 9;
    while (k > 0 && kept < trace_shade_from[k]) k--;
    return trace_shades[k];
}

/* Whitespace-separated non-negative ids: returns the count, -1 if malformed. */
static long parse_ids(const char *text, int *ids, long cap)
{
    long n = 0;
    const char *p = text;
    for (;;) {
        char *end;
        long v;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') p++;
        if (!*p) return n;
        v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 0x7FFFFFFFL) return -1;
        if (n < cap) ids[n] = (int)v;
        n++;
        p = end;
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: trace [MODEL.mamba] [-p \"text\" | --tokens \"ID ID ...\"] [--csv FILE]\n");
    return 2;
}

/* A token's text for display: its exact bytes with newlines, tabs and other
   control bytes escaped, cut to fit; for CSV also double the quotes. */
static void token_text(const mamba_tokenizer *tok, int id, char *out, size_t cap, int csv)
{
    const char *b = "";
    size_t n = 0, i, o = 0;
    out[0] = 0;
    if (!tok || mamba_decode_token(tok, id, &b, &n) != MAMBA_OK) return;
    for (i = 0; i < n && o + 3 < cap; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (c == '\t') { out[o++] = '\\'; out[o++] = 't'; }
        else if (c < 32 || c == 127) out[o++] = '?';
        else if (c == '"' && csv) { out[o++] = '"'; out[o++] = '"'; }
        else out[o++] = (char)c;
    }
    out[o] = 0;
}

int main(int argc, char **argv)
{
    const char *path = "models/tinystories.mamba", *tokens = NULL, *csv_path = NULL, *prompt = NULL;
    mamba_tokenizer tok;
    int have_tok;
    int *ids = NULL, i, l, status = 1, have_path = 0, n_layer;
    long n_ids, t;
    float *logits = NULL, *check = NULL;
    trace_stats *stats = NULL, *sum = NULL;
    mamba_model model;
    mamba_state state, shadow;
    mamba_result r;
    FILE *csv = NULL;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokens") && i + 1 < argc) tokens = argv[++i];
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) prompt = argv[++i];
        else if (!strcmp(argv[i], "--csv") && i + 1 < argc) csv_path = argv[++i];
        else if (argv[i][0] != '-' && !have_path) { path = argv[i]; have_path = 1; }
        else return usage();
    }

    r = mamba_model_open(&model, path);
    if (r != MAMBA_OK) {
        fprintf(stderr, "trace: %s: %s (%s)\n", path, mamba_result_string(r), model.error ? model.error : "");
        return 1;
    }
    n_layer = model.config.n_layer;

    /* The prompt: text through the model's tokenizer, the given ids, or a
       fixed spread of ids inside the vocabulary. */
    have_tok = mamba_tokenizer_from_model(&tok, &model) == MAMBA_OK;
    if (prompt && !have_tok) { fprintf(stderr, "trace: -p needs a model with a tokenizer\n"); goto done_model; }
    if (!tokens && have_tok) {
        const char *text = prompt ? prompt : "Once upon a time, there was a little girl named Lily. She";
        size_t len = strlen(text), got = 0, wbytes = mamba_encode_work_size(&tok, len);
        void *work = malloc(wbytes);
        ids = (int *)malloc(sizeof(int) * (3 * len + 1));
        if (!work || !ids || mamba_encode(&tok, text, len, ids, 3 * len + 1, &got, work, wbytes) != MAMBA_OK ||
            got == 0) {
            free(work);
            fprintf(stderr, "trace: cannot encode the prompt\n");
            goto done_model;
        }
        free(work);
        n_ids = (long)got;
    } else if (tokens) {
        n_ids = parse_ids(tokens, NULL, 0);
        if (n_ids <= 0) { fprintf(stderr, "trace: --tokens: need one or more ids\n"); goto done_model; }
    } else {
        n_ids = 16;
    }
    if (!ids) {
        ids = (int *)malloc(sizeof(int) * (size_t)n_ids);
        if (!ids) goto done_model;
        if (tokens) parse_ids(tokens, ids, n_ids);
        else
            for (t = 0; t < n_ids; t++) ids[t] = (int)((t * 7919 + 1) % model.config.n_vocab);
    }

    if (mamba_state_new(&state, &model) != MAMBA_OK) goto done_model;
    if (mamba_state_new(&shadow, &model) != MAMBA_OK) { mamba_state_free(&state); goto done_model; }
    logits = (float *)malloc(sizeof(float) * (size_t)model.config.n_vocab_padded);
    check = (float *)malloc(sizeof(float) * (size_t)model.config.n_vocab_padded);
    stats = (trace_stats *)malloc(sizeof(trace_stats) * (size_t)n_layer);
    sum = (trace_stats *)calloc((size_t)n_layer, sizeof(trace_stats));
    if (!logits || !check || !stats || !sum) { fprintf(stderr, "trace: out of memory\n"); goto done; }
    mamba_state_observe(&state, trace_observe, stats); /* stats[l] gets layer l of each token */
    if (csv_path) {
        csv = fopen(csv_path, "w");
        if (!csv) { fprintf(stderr, "trace: cannot write %s\n", csv_path); goto done; }
        fprintf(csv, "token_index,token_id,text,layer,mean_delta,max_delta,kept,state_norm\n");
    }

    printf("trace: %s  n_layer=%d d_inner=%d d_state=%d, %ld tokens\n", path, n_layer, model.config.d_inner,
           model.config.d_state, n_ids);
    printf("kept = mean exp(Delta*A) over channels and state entries: the share of the old state a layer keeps\n");
    printf("shade of kept, per layer:");
    for (i = 0; i < 10; i++) printf("  '%c'>=%g", trace_shades[i], trace_shade_from[i]);
    printf("\n\n%5s %7s %-10s  %-*s %9s %9s %7s %10s\n", "t", "id", "text", n_layer + 2 > 6 ? n_layer + 2 : 6,
           "layers", "meanDelta", "maxDelta", "kept", "|h|");

    for (t = 0; t < n_ids; t++) {
        double md = 0.0, xd = 0.0, kp = 0.0, hn = 0.0;
        char shown[16], quoted[64];
        r = mamba_step(&model, &state, ids[t], logits);
        if (r == MAMBA_OK) r = mamba_step(&model, &shadow, ids[t], check);
        if (r != MAMBA_OK) {
            fprintf(stderr, "trace: token %ld (id %d): %s\n", t, ids[t], mamba_result_string(r));
            goto done;
        }
        /* watching must change nothing */
        if (memcmp(logits, check, sizeof(float) * (size_t)model.config.n_vocab_padded) != 0 ||
            memcmp(state.ssm, shadow.ssm,
                   sizeof(float) * (size_t)n_layer * (size_t)model.config.d_inner * (size_t)model.config.d_state)) {
            fprintf(stderr, "trace: token %ld: mamba_step() with and without an observer differ\n", t);
            goto done;
        }
        token_text(have_tok ? &tok : NULL, ids[t], shown, sizeof shown, 0);
        printf("%5ld %7d %-10s  |", t, ids[t], shown);
        if (csv) token_text(have_tok ? &tok : NULL, ids[t], quoted, sizeof quoted, 1);
        for (l = 0; l < n_layer; l++) {
            putchar(trace_shade(stats[l].kept));
            md += stats[l].mean_delta / n_layer;
            if (stats[l].max_delta > xd) xd = stats[l].max_delta;
            kp += stats[l].kept / n_layer;
            hn += stats[l].state_norm / n_layer;
            sum[l].mean_delta += stats[l].mean_delta / (double)n_ids;
            if (stats[l].max_delta > sum[l].max_delta) sum[l].max_delta = stats[l].max_delta;
            sum[l].kept += stats[l].kept / (double)n_ids;
            sum[l].state_norm = stats[l].state_norm; /* the last one */
            if (csv)
                fprintf(csv, "%ld,%d,\"%s\",%d,%.9g,%.9g,%.9g,%.9g\n", t, ids[t], quoted, l, stats[l].mean_delta,
                        stats[l].max_delta, stats[l].kept, stats[l].state_norm);
        }
        printf("|%*s %9.5f %9.5f %7.4f %10.4g\n", n_layer + 2 < 6 ? 6 - n_layer - 2 : 0, "", md, xd, kp, hn);
    }
    printf("(numbers on a line: mean over layers of meanDelta, kept and |h|; max over layers of maxDelta)\n");
    printf("\nper layer, over the %ld tokens:\n%5s %9s %9s %7s %10s\n", n_ids, "layer", "meanDelta", "maxDelta",
           "kept", "|h| last");
    for (l = 0; l < n_layer; l++)
        printf("%5d %9.5f %9.5f %7.4f %10.4g\n", l, sum[l].mean_delta, sum[l].max_delta, sum[l].kept,
               sum[l].state_norm);
    printf("observed mamba_step() == unobserved mamba_step() bit for bit at all %ld tokens\n", n_ids);
    status = 0;
done:
    if (csv && fclose(csv) != 0) status = 1;
    free(sum);
    free(stats);
    free(check);
    free(logits);
    mamba_state_free(&shadow);
    mamba_state_free(&state);
done_model:
    free(ids);
    mamba_model_close(&model);
    return status;
}
