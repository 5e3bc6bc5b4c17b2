/* chat.c - a conversation that never reads its past again.

   build/chat MODEL.mamba [options]            a readable loop on the terminal
   build/chat MODEL.mamba --protocol           one line in, one line out, for programs

   A recurrent model's state is the whole conversation so far, in a fixed
   size. So each turn reads only its own tokens (the template prefix, the
   message, the template suffix) on top of the state the last turn left, and
   generates the reply token by token. Nothing earlier is read again:
   - /undo takes back the last exchange by restoring a prefix checkpoint
     (mamba_checkpoints_*: a copy of the state where that exchange began);
   - --session FILE saves the state, the token history and the undo
     checkpoints when the program ends, and resumes them when it starts
     (state snapshots: a damaged file or another model's is refused).

   The chat template is plain text: --prefix before each message, --suffix
   after it; a reply ends at the end-of-text token, at the --stop string
   (default a newline) or after -n tokens. The tokens of a reply, its stop
   included, stay in the history, so the state has read exactly the history.
   Replies depend only on the history and --seed (the sampler is seeded from
   the seed and the position), so a conversation replays exactly: after
   /undo, after a resume, in a fresh session.

   Protocol (--protocol). Each input line is a message, or a command:
     /undo     take back the last exchange      -> "undo: pos=P reread=0"
     /reset    forget the conversation          -> "reset: pos=0"
     /quit     end (so does end of input)
   A message may carry escapes: \n newline, \t tab, \\ backslash. Output:
     "ready: pos=P turns=T"       once, at the start (P tokens of history)
     "reply: TEXT"                TEXT escaped the same way (\n, \t, \\, \r, \xHH)
     "stats: read=R gen=G pos=P ttft_ms=X tok_s=Y"
                                  R tokens read for the message, G generated
     "error: WHY"                 the line was refused; the conversation is unchanged
   The terminal mode prints the same, readably: the reply as it is made,
   the stats in brackets on stderr.

   Only the public API of mamba.h is used. */
#define _POSIX_C_SOURCE 200112L /* isatty, clock_gettime */
#define MAMBA_IMPLEMENTATION
#include "mamba.h"
#include "cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MAX_LINE (1 << 16)        /* bytes of one input line */
#define SESSION_VERSION 1u
static const unsigned char session_magic[8] = {0x89, 'M', 'C', 'H', 'A', 'T', '\r', '\n'};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: chat MODEL.mamba [options]\n"
            "  --protocol           line protocol for programs (see examples/chat.c)\n"
            "  --prefix STR         text before each message (default \"User: \")\n"
            "  --suffix STR         text after each message (default \"\\nAssistant:\")\n"
            "  --system STR         text read once, before the first message\n"
            "  --stop STR           a reply ends with this text (default \"\\n\"; \"\" = none)\n"
            "                       (STR may use the escapes \\n \\t \\\\)\n"
            "  -n N                 most tokens in a reply (default 200)\n"
            "  --temp T             temperature (default 0.8; 0 = greedy)\n"
            "  --top-k K, --top-p P, --min-p P   sampling filters (default off, 0.95, off)\n"
            "  --seed S             random seed (default 42)\n"
            "  --session FILE       resume from FILE if it exists; save to it at the end\n"
            "  --undo N             exchanges /undo can take back (default 8)\n"
            "  --max-history N      tokens the conversation may hold (default 65536)\n"
            "  --threads N          OpenMP threads (default: all)\n");
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* \n, \t, \\ in place; anything else after a backslash stays as it is */
static size_t unescape(char *s)
{
    size_t i = 0, o = 0;
    while (s[i]) {
        if (s[i] == '\\' && (s[i + 1] == 'n' || s[i + 1] == 't' || s[i + 1] == '\\')) {
            s[o++] = s[i + 1] == 'n' ? '\n' : s[i + 1] == 't' ? '\t' : '\\';
            i += 2;
        } else {
            s[o++] = s[i++];
        }
    }
    s[o] = 0;
    return o;
}

static void put_escaped(FILE *f, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\\') fputs("\\\\", f);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch == '\t') fputs("\\t", f);
        else if (ch == '\r') fputs("\\r", f);
        else if (ch < 0x20 || ch == 0x7F) fprintf(f, "\\x%02X", ch);
        else fputc(ch, f);
    }
}

/* ---- the conversation ---------------------------------------------------- */

typedef struct chat {
    const mamba_model *m;
    mamba_tokenizer tok;
    int have_tok;
    mamba_state state, tmp;
    mamba_checkpoints ck; /* a checkpoint at the end of every exchange (KEEP_RECENT) */
    int *hist, n_hist, max_hist;
    int *starts, n_starts; /* where each exchange began, for /undo (the oldest dropped first) */
    int undo_levels;
    float *logits;
    int have_logits; /* logits follow the last history token (0 after /undo or a resume) */
    int *work;
    void *scratch;
    size_t scratch_bytes;
    void *enc_work;
    size_t enc_work_bytes;
    char *reply;
    size_t reply_cap;
    /* options */
    const char *prefix, *suffix, *stop;
    int n_gen, protocol;
    mamba_sampler smp;
    unsigned long long seed;
} chat;

/* text -> ids appended to out (capacity cap); the number, or -1 when it does not fit */
static int encode(chat *c, const char *text, size_t len, int *out, int cap)
{
    size_t n = 0;
    if (!c->have_tok) {
        if (len > (size_t)cap) return -1;
        for (n = 0; n < len; n++) out[n] = (unsigned char)text[n];
        return (int)n;
    }
    if (mamba_encode_work_size(&c->tok, len) > c->enc_work_bytes) {
        size_t want = mamba_encode_work_size(&c->tok, len);
        void *w = realloc(c->enc_work, want);
        if (!w) return -1;
        c->enc_work = w;
        c->enc_work_bytes = want;
    }
    if (mamba_encode(&c->tok, text, len, out, (size_t)cap, &n, c->enc_work, c->enc_work_bytes) != MAMBA_OK) return -1;
    return (int)n;
}

/* the bytes of one id (a model without a tokenizer: id = byte) */
static void token_bytes(const chat *c, int id, const char **b, size_t *n, char *one)
{
    *n = 0;
    *b = one;
    if (c->have_tok) {
        if (mamba_decode_token(&c->tok, id, b, n) != MAMBA_OK) *n = 0;
    } else if (id < 256) {
        one[0] = (char)id;
        *n = 1;
    }
}

/* length of the longest end of s[0..n) that begins stop */
static size_t partial_stop(const char *s, size_t n, const char *stop, size_t ns)
{
    size_t k = ns - 1 < n ? ns - 1 : n;
    for (; k > 0; k--)
        if (memcmp(s + n - k, stop, k) == 0) return k;
    return 0;
}

/* Read ids on top of the state: the only way tokens enter the state
   besides generation. */
static int read_ids(chat *c, const int *ids, int n)
{
    if (n == 0) return 1;
    if (mamba_forward(c->m, &c->state, ids, n, c->logits, 0, c->scratch, c->scratch_bytes) != MAMBA_OK) return 0;
    memcpy(c->hist + c->n_hist, ids, sizeof(int) * (size_t)n);
    c->n_hist += n;
    c->have_logits = 1;
    return 1;
}

/* The checkpoint at the end of an exchange (or of the system text). */
static void checkpoint(chat *c)
{
    if (c->n_hist > 0) mamba_checkpoints_add(&c->ck, &c->state, c->hist, c->n_hist);
}

static void push_start(chat *c, int pos)
{
    if (c->undo_levels == 0) return;
    if (c->n_starts == c->undo_levels) { /* forget the oldest */
        memmove(c->starts, c->starts + 1, sizeof(int) * (size_t)(c->n_starts - 1));
        c->n_starts--;
    }
    c->starts[c->n_starts++] = pos;
}

static void say_error(const chat *c, const char *why)
{
    if (c->protocol) printf("error: %s\n", why);
    else fprintf(stderr, "[%s]\n", why);
    fflush(stdout);
}

/* One exchange: read the message, generate the reply. */
static void turn(chat *c, const char *msg, size_t len)
{
    size_t lp = strlen(c->prefix), ls = strlen(c->suffix), lstop = strlen(c->stop), n_reply = 0, shown = 0;
    char *text, one[1];
    int room = c->max_hist - c->n_hist, n_in, g = 0, start = c->n_hist, stopped = 0;
    double t0, t_read, t_first = 0, t_end;
    mamba_rng rng;

    if (room <= c->n_gen + 1) { say_error(c, "the conversation is full (/reset, or a larger --max-history)"); return; }
    text = (char *)malloc(lp + len + ls + 1);
    if (!text) { say_error(c, "out of memory"); return; }
    memcpy(text, c->prefix, lp);
    memcpy(text + lp, msg, len);
    memcpy(text + lp + len, c->suffix, ls);
    t0 = now_seconds();
    n_in = encode(c, text, lp + len + ls, c->hist + c->n_hist, room - c->n_gen - 1);
    free(text);
    if (n_in < 0) { say_error(c, "the message does not fit in the conversation"); return; }
    if (n_in == 0 && !c->have_logits) { say_error(c, "an empty message with no template: nothing to answer"); return; }
    /* from here the exchange happens: the start is where /undo returns */
    {
        int *ids = (int *)malloc(sizeof(int) * (size_t)(n_in > 0 ? n_in : 1));
        int ok;
        if (!ids) { say_error(c, "out of memory"); return; }
        memcpy(ids, c->hist + c->n_hist, sizeof(int) * (size_t)n_in);
        ok = read_ids(c, ids, n_in);
        free(ids);
        if (!ok) { say_error(c, "cannot read the message"); return; }
    }
    push_start(c, start);
    t_read = now_seconds();
    /* the sampler's seed depends only on the seed and the position */
    mamba_rng_seed(&rng, c->seed ^ (0x9E3779B97F4A7C15ull * (unsigned long long)(c->n_hist + 1)));
    if (!c->protocol) fflush(stdout);
    while (g < c->n_gen) {
        int t = mamba_sample(&c->smp, &rng, c->logits, c->m->config.n_vocab, NULL, 0, c->work);
        const char *b;
        size_t nb;
        if (g == 0) t_first = now_seconds();
        g++;
        c->hist[c->n_hist++] = t;
        mamba_step(c->m, &c->state, t, c->logits); /* t is in range: sampled from n_vocab */
        if (t == c->m->config.eos_id) break;
        token_bytes(c, t, &b, &nb, one);
        if (n_reply + nb + 1 > c->reply_cap) {
            size_t cap = 2 * (n_reply + nb + 1);
            char *r = (char *)realloc(c->reply, cap);
            if (!r) break;
            c->reply = r;
            c->reply_cap = cap;
        }
        memcpy(c->reply + n_reply, b, nb);
        n_reply += nb;
        if (lstop > 0 && n_reply >= lstop) {
            /* the stop string can only have appeared in the last nb + lstop - 1 bytes */
            size_t from = n_reply > nb + lstop - 1 ? n_reply - nb - lstop + 1 : 0, i;
            for (i = from; i + lstop <= n_reply; i++)
                if (memcmp(c->reply + i, c->stop, lstop) == 0) break;
            if (i + lstop <= n_reply) {
                n_reply = i;
                stopped = 1;
            }
        }
        if (!c->protocol) { /* show what cannot be the start of the stop string */
            size_t hold = stopped || lstop == 0 ? 0 : partial_stop(c->reply, n_reply, c->stop, lstop);
            if (n_reply - hold > shown) {
                fwrite(c->reply + shown, 1, n_reply - hold - shown, stdout);
                fflush(stdout);
                shown = n_reply - hold;
            }
        }
        if (stopped) break;
    }
    t_end = now_seconds();
    checkpoint(c);
    if (c->protocol) {
        fputs("reply: ", stdout);
        put_escaped(stdout, c->reply, n_reply);
        printf("\nstats: read=%d gen=%d pos=%d ttft_ms=%.1f tok_s=%.1f\n", n_in, g, c->n_hist,
               1e3 * (t_first - t0), g / (t_end - t_read));
    } else {
        if (shown < n_reply) fwrite(c->reply + shown, 1, n_reply - shown, stdout);
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "[read %d tokens, first token after %.1f ms, %d tokens at %.1f tok/s, %d in the conversation]\n",
                n_in, 1e3 * (t_first - t0), g, g / (t_end - t_read), c->n_hist);
    }
    fflush(stdout);
}

/* /undo: back to where the last exchange began, through its checkpoint. */
static void undo(chat *c)
{
    int target, pos = 0, reread;
    if (c->n_starts == 0) { say_error(c, "nothing to undo"); return; }
    target = c->starts[c->n_starts - 1];
    if (mamba_checkpoints_restore(&c->ck, &c->state, c->hist, target, &pos) != MAMBA_OK) {
        say_error(c, "cannot restore the checkpoint");
        return;
    }
    /* the checkpoint is kept for --undo exchanges: normally pos == target;
       an older one (after a --session resume with fewer levels) is read on */
    reread = target - pos;
    if (reread > 0 && mamba_forward(c->m, &c->state, c->hist + pos, reread, NULL, 0, c->scratch, c->scratch_bytes) !=
                          MAMBA_OK) {
        say_error(c, "cannot restore the conversation");
        return;
    }
    c->n_hist = target;
    c->n_starts--;
    c->have_logits = 0;
    if (c->protocol) printf("undo: pos=%d reread=%d\n", c->n_hist, reread);
    else fprintf(stderr, "[took back the last exchange: %d tokens in the conversation, %d read again]\n", c->n_hist,
                 reread);
    fflush(stdout);
}

static void reset(chat *c)
{
    mamba_state_reset(&c->state);
    mamba_checkpoints_clear(&c->ck);
    c->n_hist = 0;
    c->n_starts = 0;
    c->have_logits = 0;
    if (c->protocol) printf("reset: pos=0\n");
    else fprintf(stderr, "[a new conversation]\n");
    fflush(stdout);
}

/* ---- the session file ---------------------------------------------------- */
/* Little-endian:
     0   8  magic "\x89MCHAT\r\n"
     8   4  version (1)
    12   4  H, tokens of history
    16   4  S, exchange starts (for /undo)
    20   4  K, checkpoints saved
    24   8  B, bytes of one state snapshot
    32  4H  the history's ids, then 4S the starts (increasing, each < H)
        B   the state's snapshot (mamba_state_save: checksummed, model-fingerprinted)
       K*B  the checkpoints' snapshots, by position
     end 8  FNV-1a 64 of everything before
   Every count is checked against the file's size before use, the checksum
   before anything is believed, and each snapshot by mamba_state_load. */

static void w32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}
static unsigned long r32(const unsigned char *p)
{
    return (unsigned long)p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
}
static unsigned long long fnv(const unsigned char *p, size_t n)
{
    unsigned long long h = 0xCBF29CE484222325ull;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}
static void w64(unsigned char *p, unsigned long long v)
{
    w32(p, (unsigned long)(v & 0xFFFFFFFFu));
    w32(p + 4, (unsigned long)(v >> 32));
}
static unsigned long long r64(const unsigned char *p)
{
    return (unsigned long long)r32(p) | (unsigned long long)r32(p + 4) << 32;
}

static int save_session(chat *c, const char *path)
{
    size_t B = mamba_state_snapshot_size(&c->state), total, off, i;
    int k = 0, j, *have;
    unsigned char *buf;
    FILE *f;
    char tmp_path[4096];
    /* which undo points still have their exact checkpoint */
    have = (int *)calloc((size_t)c->n_starts + 1, sizeof(int));
    if (!have) return 0;
    for (j = 0; j < c->n_starts; j++) {
        int pos = -1;
        if (c->starts[j] > 0 && mamba_checkpoints_restore(&c->ck, &c->tmp, c->hist, c->starts[j], &pos) == MAMBA_OK &&
            pos == c->starts[j]) {
            have[j] = 1;
            k++;
        }
    }
    total = 32 + 4 * (size_t)c->n_hist + 4 * (size_t)c->n_starts + (size_t)(k + 1) * B + 8;
    buf = (unsigned char *)malloc(total);
    if (!buf) { free(have); return 0; }
    memcpy(buf, session_magic, 8);
    w32(buf + 8, SESSION_VERSION);
    w32(buf + 12, (unsigned long)c->n_hist);
    w32(buf + 16, (unsigned long)c->n_starts);
    w32(buf + 20, (unsigned long)k);
    w64(buf + 24, (unsigned long long)B);
    off = 32;
    for (i = 0; i < (size_t)c->n_hist; i++, off += 4) w32(buf + off, (unsigned long)c->hist[i]);
    for (i = 0; i < (size_t)c->n_starts; i++, off += 4) w32(buf + off, (unsigned long)c->starts[i]);
    if (mamba_state_save(&c->state, c->m, buf + off, B, NULL) != MAMBA_OK) { free(buf); free(have); return 0; }
    off += B;
    for (j = 0; j < c->n_starts; j++) {
        int pos;
        if (!have[j]) continue;
        mamba_checkpoints_restore(&c->ck, &c->tmp, c->hist, c->starts[j], &pos);
        if (mamba_state_save(&c->tmp, c->m, buf + off, B, NULL) != MAMBA_OK) { free(buf); free(have); return 0; }
        off += B;
    }
    w64(buf + off, fnv(buf, off));
    free(have);
    /* write a new file, then rename it over the old one: a crash never leaves half a session */
    if (strlen(path) + 5 > sizeof tmp_path) { free(buf); return 0; }
    sprintf(tmp_path, "%s.tmp", path);
    f = fopen(tmp_path, "wb");
    if (!f) { free(buf); return 0; }
    if (fwrite(buf, 1, total, f) != total) { fclose(f); free(buf); return 0; }
    free(buf);
    if (fclose(f) != 0 || rename(tmp_path, path) != 0) return 0;
    return 1;
}

/* 1 loaded, 0 no such file (a new session), -1 refused (why in *why) */
static int load_session(chat *c, const char *path, const char **why)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long sz;
    size_t n, off, B, i;
    unsigned long H, S, K;
    mamba_result r;
    int result = -1;
    if (!f) return 0;
    *why = "cannot read the file";
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) goto out;
    n = (size_t)sz;
    buf = (unsigned char *)malloc(n ? n : 1);
    if (!buf || fread(buf, 1, n, f) != n) goto out;
    *why = "not a chat session file";
    if (n < 8 || memcmp(buf, session_magic, 8) != 0) goto out;
    *why = "a session file of another version";
    if (n < 12 || r32(buf + 8) != SESSION_VERSION) goto out;
    *why = "the session file is truncated";
    if (n < 40) goto out;
    *why = "the session file is damaged (checksum)";
    if (r64(buf + n - 8) != fnv(buf, n - 8)) goto out;
    H = r32(buf + 12);
    S = r32(buf + 16);
    K = r32(buf + 20);
    B = (size_t)r64(buf + 24);
    *why = "the session is for a model with another state size";
    if (B != mamba_state_snapshot_size(&c->state)) goto out;
    *why = "the session file is damaged (sizes)";
    /* subtract from the known size, never add untrusted counts */
    off = n - 8 - 32;
    if (H > off / 4) goto out;
    off -= 4 * H;
    if (S > off / 4) goto out;
    off -= 4 * S;
    if (B != mamba_state_snapshot_size(&c->state) || B == 0 || K > off / B || off != (K + 1) * B) goto out;
    *why = "the session holds more history than --max-history";
    if (H > (unsigned long)c->max_hist) goto out;
    *why = "the session file is damaged (contents)";
    if (K > S) goto out;
    for (i = 0; i < H; i++) {
        unsigned long id = r32(buf + 32 + 4 * i);
        if (id >= (unsigned long)c->m->config.n_vocab_padded) goto out;
        c->hist[i] = (int)id;
    }
    c->n_hist = (int)H;
    c->n_starts = 0;
    for (i = 0; i < S; i++) {
        unsigned long st = r32(buf + 32 + 4 * H + 4 * i);
        if (st >= H || (i > 0 && st <= (unsigned long)c->starts[c->n_starts - 1])) goto out;
        push_start(c, (int)st); /* more than --undo levels: the oldest go */
    }
    off = 32 + 4 * H + 4 * S;
    r = mamba_state_load(&c->state, c->m, buf + off, B);
    if (r != MAMBA_OK) { *why = mamba_result_string(r); goto out; }
    *why = "the session's state does not match its history";
    if (c->state.pos != (long)H) goto out;
    /* the checkpoints, in position order, then the state itself */
    mamba_checkpoints_clear(&c->ck);
    for (i = 0; i < K; i++) {
        r = mamba_state_load(&c->tmp, c->m, buf + off + (i + 1) * B, B);
        if (r != MAMBA_OK) { *why = mamba_result_string(r); goto out; }
        if (c->tmp.pos < 1 || c->tmp.pos > (long)H) goto out;
        if (mamba_checkpoints_add(&c->ck, &c->tmp, c->hist, (int)c->tmp.pos) != MAMBA_OK) goto out;
    }
    checkpoint(c);
    c->have_logits = 0;
    result = 1;
out:
    if (f) fclose(f);
    free(buf);
    if (result < 0) { /* leave nothing half-loaded */
        mamba_state_reset(&c->state);
        mamba_checkpoints_clear(&c->ck);
        c->n_hist = c->n_starts = 0;
    }
    return result;
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const char *path = NULL, *session = NULL, *system_text = NULL;
    char *line = NULL, *prefix, *suffix, *stop, *sys_copy = NULL;
    int i, threads = 0, status = 1, interactive;
    mamba_model model;
    mamba_result r;
    chat c;
    double v;
    long n;

    memset(&c, 0, sizeof c);
    c.smp = mamba_sampler_default();
    c.smp.temperature = 0.8f;
    c.smp.top_p = 0.95f;
    c.n_gen = 200;
    c.seed = 42;
    c.undo_levels = 8;
    c.max_hist = 65536;
    c.prefix = "User: ";
    c.suffix = "\\nAssistant:";
    c.stop = "\\n";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--protocol")) c.protocol = 1;
        else if (!strcmp(a, "--prefix") && has) c.prefix = argv[++i];
        else if (!strcmp(a, "--suffix") && has) c.suffix = argv[++i];
        else if (!strcmp(a, "--system") && has) system_text = argv[++i];
        else if (!strcmp(a, "--stop") && has) c.stop = argv[++i];
        else if (!strcmp(a, "--session") && has) session = argv[++i];
        else if (!strcmp(a, "-n") && has && cli_long(argv[++i], 1, 1L << 20, &n)) c.n_gen = (int)n;
        else if (!strcmp(a, "--temp") && has && cli_double(argv[++i], 0, 100, &v)) c.smp.temperature = (float)v;
        else if (!strcmp(a, "--top-k") && has && cli_long(argv[++i], 0, INT_MAX, &n)) c.smp.top_k = (int)n;
        else if (!strcmp(a, "--top-p") && has && cli_double(argv[++i], 0, 1, &v)) c.smp.top_p = (float)v;
        else if (!strcmp(a, "--min-p") && has && cli_double(argv[++i], 0, 1, &v)) c.smp.min_p = (float)v;
        else if (!strcmp(a, "--seed") && has && cli_ull(argv[++i], &c.seed));
        else if (!strcmp(a, "--undo") && has && cli_long(argv[++i], 0, 1024, &n)) c.undo_levels = (int)n;
        else if (!strcmp(a, "--max-history") && has && cli_long(argv[++i], 16, 1L << 28, &n)) c.max_hist = (int)n;
        else if (!strcmp(a, "--threads") && has && cli_long(argv[++i], 1, 1024, &n)) threads = (int)n;
        else if (a[0] != '-' && !path) path = a;
        else {
            fprintf(stderr, "chat: bad or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!path) { usage(stderr); return 2; }
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    /* the template strings, with their escapes */
    prefix = (char *)malloc(strlen(c.prefix) + 1);
    suffix = (char *)malloc(strlen(c.suffix) + 1);
    stop = (char *)malloc(strlen(c.stop) + 1);
    if (!prefix || !suffix || !stop) { fprintf(stderr, "chat: out of memory\n"); return 1; }
    strcpy(prefix, c.prefix);
    strcpy(suffix, c.suffix);
    strcpy(stop, c.stop);
    unescape(prefix);
    unescape(suffix);
    unescape(stop);
    c.prefix = prefix;
    c.suffix = suffix;
    c.stop = stop;

    r = mamba_model_open(&model, path);
    if (r != MAMBA_OK) {
        fprintf(stderr, "chat: %s: %s (%s)\n", path, mamba_result_string(r), model.error ? model.error : "");
        return 1;
    }
    c.m = &model;
    c.have_tok = mamba_tokenizer_from_model(&c.tok, &model) == MAMBA_OK;
    c.hist = (int *)malloc(sizeof(int) * (size_t)c.max_hist);
    c.starts = (int *)malloc(sizeof(int) * (size_t)(c.undo_levels + 1));
    c.logits = (float *)malloc(sizeof(float) * (size_t)model.config.n_vocab_padded);
    c.work = (int *)malloc(sizeof(int) * (size_t)model.config.n_vocab);
    c.scratch_bytes = mamba_forward_scratch_size(&model, 64);
    c.scratch = malloc(c.scratch_bytes);
    line = (char *)malloc(MAX_LINE + 2);
    if (!c.hist || !c.starts || !c.logits || !c.work || !c.scratch || !line ||
        mamba_state_new(&c.state, &model) != MAMBA_OK || mamba_state_new(&c.tmp, &model) != MAMBA_OK ||
        mamba_checkpoints_new(&c.ck, &model, c.undo_levels + 1, c.max_hist, 0, MAMBA_CHECKPOINTS_KEEP_RECENT) !=
            MAMBA_OK) {
        fprintf(stderr, "chat: out of memory\n");
        goto done;
    }
    if (session) {
        const char *why = "";
        int got = load_session(&c, session, &why);
        if (got < 0) {
            fprintf(stderr, "chat: %s: refused: %s\n", session, why);
            goto done;
        }
    }
    if (system_text && c.n_hist == 0) { /* a resumed session has read it already */
        size_t len;
        int n;
        sys_copy = (char *)malloc(strlen(system_text) + 1);
        if (!sys_copy) goto done;
        strcpy(sys_copy, system_text);
        len = unescape(sys_copy);
        n = encode(&c, sys_copy, len, c.hist, c.max_hist / 2);
        if (n < 0) { fprintf(stderr, "chat: the --system text does not fit\n"); goto done; }
        {
            int *ids = (int *)malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
            if (!ids) goto done;
            memcpy(ids, c.hist, sizeof(int) * (size_t)n);
            if (!read_ids(&c, ids, n)) { free(ids); fprintf(stderr, "chat: cannot read the --system text\n"); goto done; }
            free(ids);
        }
        checkpoint(&c);
    }
    interactive = !c.protocol && isatty(0);
    if (c.protocol) printf("ready: pos=%d turns=%d\n", c.n_hist, c.n_starts);
    else if (interactive)
        fprintf(stderr, "[%s: %d tokens of conversation; /undo, /reset, /quit]\n", path, c.n_hist);
    fflush(stdout);

    for (;;) {
        size_t len;
        if (interactive) { fputs("> ", stdout); fflush(stdout); }
        if (!fgets(line, MAX_LINE + 2, stdin)) break;
        len = strlen(line);
        if (len > MAX_LINE) { /* a line longer than MAX_LINE: refuse it whole */
            int ch;
            while ((ch = getchar()) != EOF && ch != '\n') {}
            say_error(&c, "the line is too long");
            continue;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!strcmp(line, "/quit")) break;
        if (!strcmp(line, "/undo")) { undo(&c); continue; }
        if (!strcmp(line, "/reset")) { reset(&c); continue; }
        if (line[0] == '/') { say_error(&c, "unknown command (/undo, /reset, /quit)"); continue; }
        if (c.protocol) len = unescape(line);
        turn(&c, line, len);
    }
    status = 0;
    if (session && !save_session(&c, session)) {
        fprintf(stderr, "chat: cannot save the session to %s\n", session);
        status = 1;
    }
done:
    mamba_checkpoints_free(&c.ck);
    mamba_state_free(&c.state);
    mamba_state_free(&c.tmp);
    mamba_model_close(&model);
    free(c.hist);
    free(c.starts);
    free(c.logits);
    free(c.work);
    free(c.scratch);
    free(c.enc_work);
    free(c.reply);
    free(line);
    free(prefix);
    free(suffix);
    free(stop);
    free(sys_copy);
    return status;
}
