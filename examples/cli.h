/* cli.h - what the example programs share on their command lines: strict
   numbers, whole files, and error messages that name the file and give the
   system's reason.

   A command line is untrusted input too. Every number is parsed whole
   (no trailing junk), in base 10, and range-checked before it is narrowed:
   nothing wraps, so `--tokens 4294967296` or `--max-tokens -1` is an
   error, not id 0 or 2^64-1. Files are read to their end with fread (so a
   pipe works too); a read error, e.g. a directory given as a file, is an
   error with strerror(errno), never empty input. Include after mamba.h,
   in a program (these are `static` helpers, not library code). */
#ifndef MAMBA_EXAMPLES_CLI_H
#define MAMBA_EXAMPLES_CLI_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* each program uses some of these */
#if defined(__GNUC__) || defined(__clang__)
#define CLI_FN static __attribute__((unused))
#else
#define CLI_FN static
#endif

/* s, all of it, as a decimal integer in lo..hi: 1 and *out, else 0 */
CLI_FN int cli_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end != 0 || errno == ERANGE || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/* s, all of it, as a decimal in 0..ULLONG_MAX (no sign: strtoull would
   wrap "-1" to the largest value) */
CLI_FN int cli_ull(const char *s, unsigned long long *out)
{
    char *end;
    unsigned long long v;
    const char *p = s;
    while (*p == ' ' || *p == '\t') p++;
    if (*p < '0' || *p > '9') return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != 0 || errno == ERANGE) return 0;
    *out = v;
    return 1;
}

/* s, all of it, as a number in lo..hi (NaN is in no range) */
CLI_FN int cli_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != 0 || (errno == ERANGE && (v > 1.0 || v < -1.0)) || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

/* Token ids separated by white space, each a decimal in 0..INT_MAX (the
   model then refuses those outside its vocabulary). Returns the count and
   fills ids (when cap allows), or -1 with *bad pointing at the first thing
   that is not such an id. */
CLI_FN long cli_ids(const char *text, int *ids, long cap, const char **bad)
{
    long n = 0;
    const char *p = text;
    for (;;) {
        char *end;
        long v;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) return n;
        *bad = p;
        if (*p < '0' || *p > '9') return -1; /* no sign: "-1" and "+1" are not ids */
        errno = 0;
        v = strtol(p, &end, 10);
        if (errno == ERANGE || v > INT_MAX || (*end && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r'))
            return -1;
        if (n >= LONG_MAX - 1) return -1;
        if (n < cap) ids[n] = (int)v;
        n++;
        p = end;
    }
}

/* All of a stream, up to max bytes, NUL-terminated (the NUL is not
   counted in *len). NULL on a read error (errno says which; a directory
   gives EISDIR), when out of memory (ENOMEM), or when the stream is longer
   than max (EFBIG). */
CLI_FN char *cli_read_stream(FILE *f, size_t max, size_t *len)
{
    size_t cap = 1 << 16, n = 0, got;
    char *buf = (char *)malloc(cap + 1), *bigger;
    if (!buf) { errno = ENOMEM; return NULL; }
    for (;;) {
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
        if (n > max) { free(buf); errno = EFBIG; return NULL; }
        if (n == cap) {
            if (cap > ((size_t)-1 - 1) / 2) { free(buf); errno = ENOMEM; return NULL; }
            bigger = (char *)realloc(buf, cap * 2 + 1);
            if (!bigger) { free(buf); errno = ENOMEM; return NULL; }
            buf = bigger;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        int e = errno ? errno : EIO;
        free(buf);
        errno = e;
        return NULL;
    }
    if (n > max) { free(buf); errno = EFBIG; return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* All of the file at path (see cli_read_stream); on failure prints
   "prog: path: reason" and returns NULL. */
CLI_FN char *cli_read_file(const char *prog, const char *path, size_t max, size_t *len)
{
    FILE *f;
    char *buf;
    errno = 0;
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno ? errno : EIO));
        return NULL;
    }
    buf = cli_read_stream(f, max, len);
    if (!buf) {
        int e = errno;
        if (e == EFBIG) fprintf(stderr, "%s: %s: longer than the %lu bytes this program reads\n", prog, path,
                                (unsigned long)max);
        else fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(e));
    }
    fclose(f);
    return buf;
}

/* mamba_model_open with the message a user needs when it fails: the
   file, the result, the check that failed and, for an I/O error, the
   system's reason ("prog: path: input/output error (cannot open the
   file): No such file or directory"). */
CLI_FN mamba_result cli_open_model(const char *prog, mamba_model *model, const char *path)
{
    mamba_result r;
    errno = 0;
    r = mamba_model_open(model, path);
    if (r != MAMBA_OK) {
        int e = errno;
        fprintf(stderr, "%s: %s: %s (%s)", prog, path, mamba_result_string(r), model->error ? model->error : "");
        if (r == MAMBA_ERR_IO && e != 0) fprintf(stderr, ": %s", strerror(e));
        fprintf(stderr, "\n");
    }
    return r;
}

#endif /* MAMBA_EXAMPLES_CLI_H */
