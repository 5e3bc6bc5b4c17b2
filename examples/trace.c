/* trace.c - watch the selective mechanism of a real model, token by token.

   build/trace [MODEL.mamba] [-p "text" | --tokens "ID ID ..."] [--csv FILE] [--svg FILE]

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

   --svg FILE draws the same numbers (examples/svg.h): a heatmap of mean
   Delta per token x layer with the prompt's tokens along it, beneath it the
   share of the state kept and |h| per token, and, when it fits (at most
   1024 rows of layer x head), Delta per head: one Delta per head is what
   the observation's delta holds, o->n_heads (= state.n_heads) of them
   (Mamba-1: every one of the d_inner channels is its own head; Mamba-2:
   one per head of head_dim channels).

   The default model is models/tinystories.mamba; the default prompt is a
   sentence encoded with the model's tokenizer (a fixed list of ids when the
   model has no tokenizer). */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "svg.h" /* beside this file */

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

/* What the observer fills for one token: stats[layer], and each layer's
   Delta per head when heads is not NULL, heads[layer * n_heads + head]. */
typedef struct trace_watch {
    trace_stats *stats;
    float *heads;
    int n_heads; /* the Delta values of a layer: state.n_heads (Mamba-1: d_inner) */
} trace_watch;

/* The observer: one call per layer and token, from inside mamba_step().
   The observation's vectors are valid only during the call: the
   statistics are taken here. */
static void trace_observe(void *user, const mamba_observation *o)
{
    const trace_watch *w = (const trace_watch *)user;
    trace_stats *st = w->stats + o->layer;
    double sum_delta = 0.0, max_delta = 0.0;
    int c;
    for (c = 0; c < o->n_heads; c++) { /* one Delta a head: a channel in Mamba-1 */
        sum_delta += o->delta[c];
        if (c == 0 || o->delta[c] > max_delta) max_delta = o->delta[c];
        if (w->heads && c < w->n_heads) w->heads[(size_t)o->layer * (size_t)w->n_heads + (size_t)c] = o->delta[c];
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
    fprintf(stderr, "usage: trace [MODEL.mamba] [-p \"text\" | --tokens \"ID ID ...\"] [--csv FILE] [--svg FILE]\n");
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

#define TRACE_HEAD_ROWS 1024 /* the per-head heatmap is drawn up to this many layer x head rows */

/* A token's text for a label: token_text() with each space shown as a
   middle dot, so " upon" and "upon" differ on the picture. */
static void token_label(const mamba_tokenizer *tok, int id, char *out, size_t cap)
{
    char raw[24];
    size_t i, o = 0;
    token_text(tok, id, raw, sizeof raw, 0);
    if (!raw[0]) { snprintf(out, cap, "#%d", id); return; }
    for (i = 0; raw[i] && o + 3 < cap; i++) {
        if (raw[i] == ' ') { out[o++] = (char)0xC2; out[o++] = (char)0xB7; } /* U+00B7 */
        else out[o++] = raw[i];
    }
    out[o] = 0;
}

/* One heatmap: rows of n_tok cells, value v[t * n_row + row], viridis over
   [lo, hi] (the per-head map on a log scale: a layer's Delta spans decades,
   dt_proj's bias is initialised log-uniform); each cell carries its numbers. head_of: 0 for a layer heatmap,
   else the heads per layer (row = layer * head_of + head). */
static void trace_heatmap(FILE *f, double x, double y, double cw, double rh, long n_tok, int n_row, const double *v,
                          double lo, double hi, int head_of)
{
    long t;
    int row;
    char col[8];
    for (row = 0; row < n_row; row++)
        for (t = 0; t < n_tok; t++) {
            double d = v[t * n_row + row];
            svg_viridis(svg_scale(d, lo, hi, head_of && lo > 0 ? SVG_LOG : SVG_LINEAR), col);
            fprintf(f, "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"",
                    head_of ? "hcell" : "cell", x + (double)t * cw, y + row * rh, cw + 0.2, rh + 0.2, col);
            if (head_of)
                fprintf(f, " data-token=\"%ld\" data-layer=\"%d\" data-head=\"%d\" data-delta=\"%.9g\">"
                           "<title>token %ld, layer %d, head %d: Delta %.5g</title></rect>\n",
                        t, row / head_of, row % head_of, d, t, row / head_of, row % head_of, d);
            else
                fprintf(f, " data-token=\"%ld\" data-layer=\"%d\" data-delta=\"%.9g\">"
                           "<title>token %ld, layer %d: mean Delta %.5g</title></rect>\n",
                        t, row, d, t, row, d);
        }
}

/* The picture of a trace (see the top of the file): hist[t * n_layer + l]
   for every token t and layer l; heads (or NULL) [(t * n_layer + l) * n_heads + h]. */
static int trace_svg(const char *svg_path, const char *model_path, const mamba_config *cfg, long n_ids,
                     const int *ids, const mamba_tokenizer *tok, const trace_stats *hist, const float *heads,
                     int n_heads)
{
    const int n_layer = cfg->n_layer, W = 1000, px = 110, pw = 720;
    const double cw = (double)pw / (double)n_ids;
    const double rh = n_layer <= 4 ? 36.0 : n_layer <= 16 ? 144.0 / n_layer : 4.0;
    const double hy = 86.0, hh = rh * n_layer;                /* the layer heatmap */
    const double label_h = 84.0;                             /* the tokens under it */
    const double ky = hy + hh + label_h + 8.0, kh = 150.0;    /* kept */
    const double ny = ky + kh + 70.0, nh = 150.0;             /* |h| */
    const int head_rows = heads ? n_layer * n_heads : 0;
    const double hrh = !head_rows ? 0.0 : head_rows >= 320 ? 1.0 : head_rows <= 18 ? 18.0 : 320.0 / head_rows;
    const double hdy = ny + nh + 110.0;
    const int H = (int)(head_rows ? hdy + head_rows * hrh + label_h + 20.0 : ny + nh + 60.0);
    const long every = n_ids <= 40 ? 1 : (n_ids + 39) / 40; /* a token label every so many */
    double *v = NULL, *xs = NULL, *kp = NULL, *hn = NULL, lo, hi, ymin, ymax;
    char label[320];
    int l, ok;
    long t;
    size_t k, nv = (size_t)n_ids * (size_t)(head_rows > n_layer ? head_rows : n_layer);
    svg_plot pk, pn;
    FILE *f = fopen(svg_path, "w");
    if (!f) { fprintf(stderr, "trace: cannot write %s\n", svg_path); return 0; }
    v = (double *)malloc(sizeof(double) * nv);
    xs = (double *)malloc(sizeof(double) * (size_t)n_ids);
    kp = (double *)malloc(sizeof(double) * (size_t)n_ids * (size_t)(n_layer + 1));
    hn = (double *)malloc(sizeof(double) * (size_t)n_ids * (size_t)(n_layer + 1));
    if (!v || !xs || !kp || !hn) { fclose(f); free(v); free(xs); free(kp); free(hn); return 0; }

    snprintf(label, sizeof label, "%s: %d layers, d_inner %d, d_state %d, %ld tokens", model_path, n_layer,
             cfg->d_inner, cfg->d_state, n_ids);
    svg_begin(f, W, H, "Bright = large \xce\x94: the layer let that token overwrite its state; dark = it kept the past",
              label);

    /* 1. mean Delta per token x layer */
    for (k = 0; k < (size_t)n_ids * (size_t)n_layer; k++) v[k] = hist[k].mean_delta;
    lo = hi = v[0];
    for (k = 0; k < (size_t)n_ids * (size_t)n_layer; k++) {
        if (v[k] < lo) lo = v[k];
        if (v[k] > hi) hi = v[k];
    }
    svg_text(f, px, hy - 10, "ink", "start", 0, "mean \xce\x94 of each layer (the step size the token chose; the mean over its %s)",
             n_heads == cfg->d_inner ? "channels" : "heads");
    trace_heatmap(f, px, hy, cw, rh, n_ids, n_layer, v, lo, hi, 0);
    fprintf(f, "<rect class=\"axis\" x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\"/>\n", px, hy, pw, hh);
    for (l = 0; l < n_layer; l++)
        if (n_layer <= 16 || l % 4 == 0)
            svg_text(f, px - 6, hy + (l + 0.5) * rh + 4, "ink small", "end", 0, "layer %d", l);
    svg_colorbar(f, px + pw + 24, hy, 14, hh < 100 ? 100 : hh, lo, hi, SVG_LINEAR, "mean \xce\x94 (no unit)");
    for (t = 0; t < n_ids; t += every) {
        token_label(tok, ids[t], label, sizeof label);
        svg_text(f, px + ((double)t + 0.5) * cw + 4, hy + hh + 10, "ink mono", "end", -50, "%s", label);
    }
    svg_text(f, px - 6, hy + hh + 14, "faint small", "end", 0, "token:");

    /* 2. and 3. the share of the state kept and |h|, per token: the mean over
       layers (the screen's numbers) and, up to 6 layers, each layer */
    for (t = 0; t < n_ids; t++) {
        double mk = 0.0, mh = 0.0;
        xs[t] = (double)t;
        for (l = 0; l < n_layer; l++) {
            kp[(size_t)(l + 1) * n_ids + t] = hist[t * n_layer + l].kept;
            hn[(size_t)(l + 1) * n_ids + t] = hist[t * n_layer + l].state_norm;
            mk += hist[t * n_layer + l].kept / n_layer;
            mh += hist[t * n_layer + l].state_norm / n_layer;
        }
        kp[t] = mk;
        hn[t] = mh;
    }
    for (ok = 0; ok < 2; ok++) {
        const double *val = ok ? hn : kp;
        svg_plot *p = ok ? &pn : &pk;
        const char *names[8], *cols[8];
        char lnames[7][40];
        int n_lines = n_layer <= 6 ? n_layer + 1 : 1;
        ymin = ymax = val[0];
        for (k = 0; k < (size_t)n_ids * (size_t)n_lines; k++) {
            if (val[k] < ymin) ymin = val[k];
            if (val[k] > ymax) ymax = val[k];
        }
        if (ok) ymin = 0.0; /* a norm: from zero */
        else if (ymax - ymin < 1e-3) { ymin -= 5e-4; ymax += 5e-4; }
        ymax += 0.05 * (ymax - ymin);
        if (!ok) { ymin -= 0.05 * (ymax - ymin); if (ymin < 0) ymin = 0; if (ymax > 1) ymax = 1; }
        p->x = px; p->y = ok ? ny : ky; p->w = pw; p->h = ok ? nh : kh;
        p->x0 = -0.5; p->x1 = (double)n_ids - 0.5; p->y0 = ymin; p->y1 = ymax; p->xlog = p->ylog = 0;
        svg_axes(f, p, "token position (the tokens named above)",
                 ok ? "|h| (Frobenius norm)" : "share of h kept (fraction)");
        svg_text(f, px, p->y - 8, "ink", "start", 0, "%s",
                 ok ? "|h| after the token: the size of what the layer remembers"
                    : "kept = mean exp(\xce\x94 A): the share of the old state that survives the step (1 = all)");
        for (l = n_lines - 1; l >= 0; l--) {
            if (l == 0) snprintf(lnames[0], sizeof lnames[0], "mean over layers");
            else snprintf(lnames[l], sizeof lnames[l], "layer %d", l - 1);
            names[l] = lnames[l];
            cols[l] = l == 0 ? NULL : svg_okabe_ito[l - 1];
            {
                char series[48];
                snprintf(series, sizeof series, "%s %s", ok ? "norm" : "kept", l == 0 ? "mean" : lnames[l]);
                svg_series(f, p, series, cols[l], l == 0 ? "6 3" : NULL, xs, val + (size_t)l * n_ids, (int)n_ids,
                           n_ids <= 64);
            }
        }
        svg_legend(f, px + pw + 20, p->y + 10, names, cols, NULL, n_lines);
    }

    /* 4. Delta per head */
    if (head_rows) {
        for (t = 0; t < n_ids; t++)
            for (k = 0; k < (size_t)head_rows; k++) v[(size_t)t * head_rows + k] = heads[(size_t)t * head_rows + k];
        lo = hi = v[0];
        for (k = 0; k < (size_t)n_ids * (size_t)head_rows; k++) {
            if (v[k] < lo) lo = v[k];
            if (v[k] > hi) hi = v[k];
        }
        svg_text(f, px, hdy - 24, "ink", "start", 0, "\xce\x94 per head (%d per layer%s), layer by layer, top to bottom",
                 n_heads, n_heads == cfg->d_inner ? "; Mamba-1: each channel is a head" : ", each shared by the head's channels");
        svg_text(f, px, hdy - 8, "faint small", "start", 0, "a layer's mean over its heads is its row in the first map");
        trace_heatmap(f, px, hdy, cw, hrh, n_ids, head_rows, v, lo, hi, n_heads);
        for (l = 0; l < n_layer; l++) {
            fprintf(f, "<rect class=\"axis\" x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\"/>\n", px,
                    hdy + l * n_heads * hrh, pw, n_heads * hrh);
            if (n_layer <= 16 || l % 4 == 0)
                svg_text(f, px - 6, hdy + (l + 0.5) * n_heads * hrh + 4, "ink small", "end", 0, "layer %d", l);
        }
        svg_colorbar(f, px + pw + 24, hdy, 14, head_rows * hrh < 100 ? 100 : head_rows * hrh, lo, hi, lo > 0 ? SVG_LOG : SVG_LINEAR,
                     lo > 0 ? "\xce\x94 (no unit, log scale)" : "\xce\x94 (no unit)");
        for (t = 0; t < n_ids; t += every) {
            token_label(tok, ids[t], label, sizeof label);
            svg_text(f, px + ((double)t + 0.5) * cw + 4, hdy + head_rows * hrh + 10, "ink mono", "end", -50, "%s", label);
        }
    }
    svg_end(f);
    free(v);
    free(xs);
    free(kp);
    free(hn);
    if (fclose(f) != 0) { fprintf(stderr, "trace: cannot write %s\n", svg_path); return 0; }
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = "models/tinystories.mamba", *tokens = NULL, *csv_path = NULL, *prompt = NULL, *svg_path = NULL;
    mamba_tokenizer tok;
    int have_tok;
    int *ids = NULL, i, l, status = 1, have_path = 0, n_layer;
    long n_ids, t;
    float *logits = NULL, *check = NULL;
    trace_stats *stats = NULL, *sum = NULL, *hist = NULL;
    float *heads = NULL;
    trace_watch watch;
    mamba_model model;
    mamba_state state, shadow;
    mamba_result r;
    FILE *csv = NULL;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokens") && i + 1 < argc) tokens = argv[++i];
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) prompt = argv[++i];
        else if (!strcmp(argv[i], "--csv") && i + 1 < argc) csv_path = argv[++i];
        else if (!strcmp(argv[i], "--svg") && i + 1 < argc) svg_path = argv[++i];
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
    watch.stats = stats;
    watch.n_heads = state.n_heads;
    watch.heads = NULL;
    if (svg_path) { /* the picture needs every token's numbers */
        hist = (trace_stats *)malloc(sizeof(trace_stats) * (size_t)n_ids * (size_t)n_layer);
        if ((long)n_layer * state.n_heads <= TRACE_HEAD_ROWS)
            heads = (float *)malloc(sizeof(float) * (size_t)n_ids * (size_t)n_layer * (size_t)state.n_heads);
        if (!hist || (!heads && (long)n_layer * state.n_heads <= TRACE_HEAD_ROWS)) {
            fprintf(stderr, "trace: out of memory\n");
            goto done;
        }
    }
    mamba_state_observe(&state, trace_observe, &watch); /* stats[l] gets layer l of each token */
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
        if (heads) watch.heads = heads + (size_t)t * (size_t)n_layer * (size_t)state.n_heads;
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
        if (hist) memcpy(hist + (size_t)t * (size_t)n_layer, stats, sizeof(trace_stats) * (size_t)n_layer);
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
    if (svg_path) {
        if (!trace_svg(svg_path, path, &model.config, n_ids, ids, have_tok ? &tok : NULL, hist, heads, state.n_heads))
            goto done;
        printf("picture: %s (%ld x %d cells%s)\n", svg_path, n_ids, n_layer, heads ? ", and per head" : "");
    }
    status = 0;
done:
    free(heads);
    free(hist);
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
