/* svg.h - the few drawing helpers that build/trace, build/views and
   build/constant share to write a picture of what they print (--svg FILE).

   SVG is text, so a picture needs no library: these helpers print elements
   with fprintf. What every picture here promises, and where it is kept:
     - self-contained: one file, no script, no external font or stylesheet;
     - readable in light and dark mode: the colours of paper, ink and grid
       are classes in one embedded <style>, switched by
       `@media (prefers-color-scheme: dark)`, and the picture paints its own
       background, so it never shows dark ink on a dark page (a code host's
       dark theme and the reader's system setting can disagree);
     - colour-blind safe: series take Okabe-Ito colours (Okabe & Ito 2008,
       chosen to stay apart under the common colour-vision deficiencies;
       black is left out, it vanishes on a dark background), heatmaps take
       viridis (perceptually uniform, monotone in lightness, so it also
       reads in grey);
     - checkable: every plotted number is also in the file as a data-*
       attribute and a <title> (the tooltip), so tests/t_pictures.sh can
       compare the picture with the program's text output.

   Include in a program (these are `static` helpers, not library code). */
#ifndef MAMBA_EXAMPLES_SVG_H
#define MAMBA_EXAMPLES_SVG_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* each program uses some of these */
#if defined(__GNUC__) || defined(__clang__)
#define SVG_FN static __attribute__((unused))
#define SVG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SVG_FN static
#define SVG_PRINTF(f, a)
#endif

/* Okabe-Ito without black: orange, sky blue, bluish green, vermillion,
   reddish purple, blue, yellow. */
static const char *const svg_okabe_ito[7] = {"#E69F00", "#56B4E9", "#009E73", "#D55E00",
                                            "#CC79A7", "#0072B2", "#F0E442"};

/* Text as XML character data: & < > " escaped, control bytes and bytes that
   are not well-formed UTF-8 (a byte-level BPE token can be half a
   character) written as '?', so the file always parses. */
SVG_FN void svg_escape(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        int k, ok = len > 0;
        for (k = 1; ok && k < len; k++) ok = (p[k] & 0xC0) == 0x80;
        if (ok && len == 2 && c < 0xC2) ok = 0;                          /* overlong */
        if (ok && len == 3 && c == 0xE0 && p[1] < 0xA0) ok = 0;          /* overlong */
        if (ok && len == 3 && c == 0xED && p[1] >= 0xA0) ok = 0;         /* surrogate */
        if (ok && len == 4 && (c > 0xF4 || (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))) ok = 0;
        if (!ok) { fputc('?', f); p++; continue; }
        if (len > 1) { fwrite(p, 1, (size_t)len, f); p += len; continue; }
        if (c == '&') fputs("&amp;", f);
        else if (c == '<') fputs("&lt;", f);
        else if (c == '>') fputs("&gt;", f);
        else if (c == '"') fputs("&quot;", f);
        else if (c < 32 || c == 127) fputc('?', f);
        else fputc(c, f);
        p++;
    }
}

/* svg_escape of a printf-formatted string (cut at 511 bytes). */
SVG_FN SVG_PRINTF(2, 3) void svg_escapef(FILE *f, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    svg_escape(f, buf);
}

/* The document: size in px, the title shown on top (what to notice) and a
   second line under it. The palette classes:
     paper  the background   ink   text and axes   faint  grid, secondary text */
SVG_FN void svg_begin(FILE *f, int width, int height, const char *title, const char *subtitle)
{
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
               " font-family=\"DejaVu Sans, Verdana, Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
            width, height, width, height);
    fputs("<title>", f);
    svg_escape(f, title);
    fputs("</title>\n<style>\n"
          "  .paper { fill: #ffffff; } .ink { fill: #1a1a1a; } .faint { fill: #5f5f5f; }\n"
          "  .axis { stroke: #1a1a1a; fill: none; } .grid { stroke: #d9d9d9; fill: none; } .inkline { stroke: #1a1a1a; }\n"
          "  .title { font-size: 15px; font-weight: bold; } .small { font-size: 10px; }\n"
          "  .mono { font-family: DejaVu Sans Mono, Menlo, Consolas, monospace; white-space: pre; }\n"
          "  @media (prefers-color-scheme: dark) {\n"
          "    .paper { fill: #16181d; } .ink { fill: #e6e6e6; } .faint { fill: #a8a8a8; }\n"
          "    .axis { stroke: #e6e6e6; } .grid { stroke: #3a3d45; } .inkline { stroke: #e6e6e6; }\n"
          "  }\n"
          "</style>\n",
          f);
    fprintf(f, "<rect class=\"paper\" x=\"0\" y=\"0\" width=\"%d\" height=\"%d\"/>\n", width, height);
    fputs("<text class=\"ink title\" x=\"16\" y=\"24\">", f);
    svg_escape(f, title);
    fputs("</text>\n", f);
    if (subtitle && *subtitle) {
        fputs("<text class=\"faint\" x=\"16\" y=\"42\">", f);
        svg_escape(f, subtitle);
        fputs("</text>\n", f);
    }
}

SVG_FN void svg_end(FILE *f) { fputs("</svg>\n", f); }

/* One line of text; cls are classes (e.g. "ink small"), anchor is
   start|middle|end, rotate in degrees about (x, y). */
SVG_FN SVG_PRINTF(7, 8) void svg_text(FILE *f, double x, double y, const char *cls, const char *anchor,
                                      double rotate, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(f, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"", cls, x, y, anchor);
    if (rotate != 0.0) fprintf(f, " transform=\"rotate(%.1f %.1f %.1f)\"", rotate, x, y);
    fputs(">", f);
    svg_escape(f, buf);
    fputs("</text>\n", f);
}

/* Viridis (matplotlib's, by van der Walt and Smith), 9 stops, linearly
   interpolated: t in [0, 1] (clamped) to "#rrggbb". */
SVG_FN void svg_viridis(double t, char out[8])
{
    static const unsigned char stop[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                                             {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                                             {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    double s;
    int i, k;
    if (!(t > 0.0)) t = 0.0; /* NaN too */
    if (t > 1.0) t = 1.0;
    s = t * 8.0;
    i = (int)s;
    if (i > 7) i = 7;
    s -= i;
    out[0] = '#';
    for (k = 0; k < 3; k++) {
        int v = (int)floor(stop[i][k] + s * (stop[i + 1][k] - stop[i][k]) + 0.5);
        sprintf(out + 1 + 2 * k, "%02x", (unsigned)v);
    }
}

/* A plot area: the rectangle (px) and the data range on each axis, linear
   or log10. */
typedef struct svg_plot {
    double x, y, w, h;          /* px: left, top, width, height */
    double x0, x1, y0, y1;      /* data: the axis ranges */
    int xlog, ylog;             /* 1: that axis is log10 */
} svg_plot;

SVG_FN double svg__map(double v, double a, double b, int lg)
{
    if (lg) { v = log10(v); a = log10(a); b = log10(b); }
    return b == a ? 0.5 : (v - a) / (b - a);
}
SVG_FN double svg_px(const svg_plot *p, double v) { return p->x + p->w * svg__map(v, p->x0, p->x1, p->xlog); }
SVG_FN double svg_py(const svg_plot *p, double v) { return p->y + p->h * (1.0 - svg__map(v, p->y0, p->y1, p->ylog)); }

/* A step for about n ticks over span: 1, 2 or 5 times a power of ten. */
SVG_FN double svg__nice_step(double span, int n)
{
    double raw = span / n, p = pow(10.0, floor(log10(raw))), m = raw / p;
    return p * (m < 1.5 ? 1.0 : m < 3.5 ? 2.0 : m < 7.5 ? 5.0 : 10.0);
}

/* A tick label: as many decimals as the step needs; in thousands ("20k")
   when the step is. */
SVG_FN void svg__tick_label(char *buf, size_t cap, double v, double step)
{
    int dec = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < step * 1e-9) { snprintf(buf, cap, "0"); return; }
    if (step >= 1000.0 && fabs(v) < 1e9 && fmod(v, 1000.0) == 0.0) snprintf(buf, cap, "%gk", v / 1000.0);
    else snprintf(buf, cap, "%.*f", dec, v);
}

/* Frame, grid, ticks and the two axis labels (say the unit in each). */
SVG_FN void svg_axes(FILE *f, const svg_plot *p, const char *xlabel, const char *ylabel)
{
    char buf[32];
    int axis;
    fprintf(f, "<g class=\"axes\">\n");
    for (axis = 0; axis < 2; axis++) {
        double a = axis ? p->y0 : p->x0, b = axis ? p->y1 : p->x1, v;
        int lg = axis ? p->ylog : p->xlog;
        double step = lg ? 0.0 : svg__nice_step(b - a, axis ? 5 : 8);
        double start = lg ? pow(10.0, floor(log10(a) + 1e-9)) : ceil(a / step - 1e-9) * step;
        for (v = start; v <= b * (1 + 1e-9) + (lg ? 0 : step * 1e-9); v = lg ? v * 10.0 : v + step) {
            double px = axis ? p->x : svg_px(p, v), py = axis ? svg_py(p, v) : p->y + p->h;
            int major = !lg || v >= a * (1 - 1e-9);
            if (lg) {
                int m;
                if (v >= 1e-3 && v < 1e5) snprintf(buf, sizeof buf, "%g", v);
                else snprintf(buf, sizeof buf, "1e%d", (int)floor(log10(v) + 0.5));
                for (m = 2; m <= 5 && log10(b / a) < 3.0; m += 3) { /* 2 and 5 between the decades of a short axis */
                    double u = v * m, q = axis ? svg_py(p, u) : svg_px(p, u);
                    char sub[32];
                    if (u > b * (1 + 1e-9)) break;
                    if (u < a * (1 - 1e-9)) continue;
                    snprintf(sub, sizeof sub, "%g", u);
                    if (axis) {
                        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", p->x, q,
                                p->x + p->w, q);
                        svg_text(f, p->x - 5, q + 4, "faint small", "end", 0, "%s", sub);
                    } else {
                        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", q, p->y, q,
                                p->y + p->h);
                        svg_text(f, q, p->y + p->h + 14, "faint small", "middle", 0, "%s", sub);
                    }
                }
            } else {
                svg__tick_label(buf, sizeof buf, v, step);
            }
            if (!major) {
                continue;
            } else if (axis) {
                fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", p->x, py,
                        p->x + p->w, py);
                svg_text(f, px - 5, py + 4, "ink small", "end", 0, "%s", buf);
            } else {
                fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px, p->y, px,
                        p->y + p->h);
                svg_text(f, px, py + 14, "ink small", "middle", 0, "%s", buf);
            }
        }
    }
    fprintf(f, "<rect class=\"axis\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", p->x, p->y, p->w,
            p->h);
    if (xlabel) svg_text(f, p->x + p->w / 2, p->y + p->h + 32, "ink", "middle", 0, "%s", xlabel);
    if (ylabel) svg_text(f, p->x - 46, p->y + p->h / 2, "ink", "middle", -90, "%s", ylabel);
    fprintf(f, "</g>\n");
}

/* A series as a line through n points, each point also a small circle
   carrying data-x, data-y and a tooltip. name goes into data-series;
   dash is NULL or a stroke-dasharray ("6 3"); colour NULL draws in the
   ink colour (which follows light and dark mode). */
SVG_FN void svg_series(FILE *f, const svg_plot *p, const char *name, const char *colour, const char *dash,
                       const double *xs, const double *ys, int n, int markers)
{
    int i;
    fputs("<g class=\"series\" data-series=\"", f);
    svg_escape(f, name);
    if (colour) fprintf(f, "\" data-n=\"%d\">\n<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\"", n, colour);
    else fprintf(f, "\" data-n=\"%d\">\n<path class=\"inkline\" fill=\"none\" stroke-width=\"2\"", n);
    if (dash) fprintf(f, " stroke-dasharray=\"%s\"", dash);
    fputs(" d=\"", f);
    for (i = 0; i < n; i++) fprintf(f, "%s%.2f %.2f", i ? " L" : "M", svg_px(p, xs[i]), svg_py(p, ys[i]));
    fputs("\"/>\n", f);
    for (i = 0; i < n; i++) {
        fprintf(f, "<circle class=\"pt%s\" cx=\"%.2f\" cy=\"%.2f\" r=\"%s\"", colour ? "" : " ink", svg_px(p, xs[i]),
                svg_py(p, ys[i]), markers ? "2.5" : "1");
        if (colour) fprintf(f, " fill=\"%s\"", colour);
        fprintf(f, " data-x=\"%.9g\" data-y=\"%.9g\">", xs[i], ys[i]);
        fputs("<title>", f);
        svg_escape(f, name);
        fprintf(f, ": %.6g at %.6g</title></circle>\n", ys[i], xs[i]);
    }
    fputs("</g>\n", f);
}

/* A band between lo[i] and hi[i] over xs[i] (a spread), filled with colour
   at low opacity; name goes into data-series. */
SVG_FN void svg_band(FILE *f, const svg_plot *p, const char *name, const char *colour, const double *xs,
                     const double *lo, const double *hi, int n)
{
    int i;
    fputs("<path class=\"band\" data-series=\"", f);
    svg_escape(f, name);
    fprintf(f, "\" data-n=\"%d\" fill=\"%s\" fill-opacity=\"0.3\" stroke=\"none\" d=\"", n, colour);
    for (i = 0; i < n; i++) fprintf(f, "%s%.2f %.2f", i ? " L" : "M", svg_px(p, xs[i]), svg_py(p, hi[i]));
    for (i = n - 1; i >= 0; i--) fprintf(f, " L%.2f %.2f", svg_px(p, xs[i]), svg_py(p, lo[i]));
    fputs(" Z\"/>\n", f);
}

/* Clip what follows to the plot area until svg_clip_end(): a series may
   leave the axis range (an outlier), its data-* attributes keep the value.
   id names the clip path, unique in the file. */
SVG_FN void svg_clip_begin(FILE *f, const svg_plot *p, const char *id)
{
    fprintf(f, "<clipPath id=\"%s\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>\n"
               "<g clip-path=\"url(#%s)\">\n", id, p->x, p->y, p->w, p->h, id);
}
SVG_FN void svg_clip_end(FILE *f) { fputs("</g>\n", f); }

/* A legend: n rows of a coloured line and its name, from (x, y) down;
   dashes[i] (or dashes NULL) a stroke-dasharray, or "band" for a filled swatch. */
SVG_FN void svg_legend(FILE *f, double x, double y, const char *const *names, const char *const *colours,
                       const char *const *dashes, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        double yy = y + 16.0 * i;
        if (dashes && dashes[i] && !strcmp(dashes[i], "band")) { /* a swatch of svg_band's fill */
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"22\" height=\"9\" fill=\"%s\" fill-opacity=\"0.3\"/>\n", x,
                    yy - 9, colours[i]);
            svg_text(f, x + 28, yy, "ink small", "start", 0, "%s", names[i]);
            continue;
        }
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke-width=\"2.5\"", x, yy - 4, x + 22,
                yy - 4);
        if (colours[i]) fprintf(f, " stroke=\"%s\"", colours[i]);
        else fputs(" class=\"inkline\"", f);
        if (dashes && dashes[i]) fprintf(f, " stroke-dasharray=\"%s\"", dashes[i]);
        fputs("/>\n", f);
        svg_text(f, x + 28, yy, "ink small", "start", 0, "%s", names[i]);
    }
}

/* The colour scales: linear; signed square root, zero in the middle and
   sqrt(|v| / max|v|) either side, so one large entry does not flatten all
   the others to one colour; log10, for positive values over decades. */
enum { SVG_LINEAR = 0, SVG_SIGNED_SQRT = 1, SVG_LOG = 2 };

/* Where v sits on a colour scale over [v0, v1], 0..1. */
SVG_FN double svg_scale(double v, double v0, double v1, int kind)
{
    double m = fabs(v0) > fabs(v1) ? fabs(v0) : fabs(v1);
    if (kind == SVG_LOG) return v1 > v0 && v0 > 0 && v > 0 ? log10(v / v0) / log10(v1 / v0) : 0.5;
    if (kind == SVG_LINEAR) return v1 > v0 ? (v - v0) / (v1 - v0) : 0.5;
    if (m == 0.0) return 0.5;
    return 0.5 + 0.5 * (v < 0 ? -1.0 : 1.0) * sqrt(fabs(v) / m);
}

/* A vertical viridis colour bar for a scale over [v0, v1] (svg_scale's
   kind), ticks at round values, and its label. */
SVG_FN void svg_colorbar(FILE *f, double x, double y, double w, double h, double v0, double v1, int kind,
                         const char *label)
{
    char col[8], buf[32];
    int i, n = 32, nt = 0;
    double step = svg__nice_step(v1 - v0, 4), v;
    if (kind != SVG_LINEAR) { /* signed sqrt: 0, +-max, +-max/4, +-max/16; log: the 1-2-5 values inside */
        double m = fabs(v0) > fabs(v1) ? fabs(v0) : fabs(v1), ticks[40];
        if (kind == SVG_SIGNED_SQRT) {
            ticks[nt++] = 0.0;
            for (i = 0; i < 3; i++) { ticks[nt++] = m / pow(4.0, i); ticks[nt++] = -m / pow(4.0, i); }
        } else if (v0 > 0 && v1 > v0) {
            double d;
            int many = log10(v1 / v0) > 2.5;
            for (d = pow(10.0, floor(log10(v0))); d <= v1 && nt < 37; d *= 10.0) {
                if (d >= v0) ticks[nt++] = d;
                if (!many && 2 * d >= v0 && 2 * d <= v1) ticks[nt++] = 2 * d;
                if (!many && 5 * d >= v0 && 5 * d <= v1) ticks[nt++] = 5 * d;
            }
        }
        for (i = 0; i < n; i++) {
            svg_viridis((i + 0.5) / n, col);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" height=\"%.2f\" fill=\"%s\"/>\n", x,
                    y + h - (i + 1) * h / n, w, h / n + 0.3, col);
        }
        fprintf(f, "<rect class=\"axis\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", x, y, w, h);
        for (i = 0; i < nt; i++) {
            double py = y + h * (1.0 - svg_scale(ticks[i], v0, v1, kind));
            fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x + w, py,
                    x + w + 3, py);
            svg_text(f, x + w + 5, py + 4, "ink small", "start", 0, "%.2g", ticks[i]);
        }
        svg_text(f, x + w + 52, y + h / 2, "ink", "middle", -90, "%s", label);
        return;
    }
    for (i = 0; i < n; i++) {
        svg_viridis((i + 0.5) / n, col);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" height=\"%.2f\" fill=\"%s\"/>\n", x,
                y + h - (i + 1) * h / n, w, h / n + 0.3, col);
    }
    fprintf(f, "<rect class=\"axis\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", x, y, w, h);
    for (v = ceil(v0 / step - 1e-9) * step; v <= v1 + step * 1e-9; v += step) {
        double py = y + h * (1.0 - (v1 == v0 ? 0.5 : (v - v0) / (v1 - v0)));
        svg__tick_label(buf, sizeof buf, v, step);
        fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x + w, py, x + w + 3,
                py);
        svg_text(f, x + w + 5, py + 4, "ink small", "start", 0, "%s", buf);
    }
    svg_text(f, x + w + 48, y + h / 2, "ink", "middle", -90, "%s", label);
}

#endif /* MAMBA_EXAMPLES_SVG_H */
