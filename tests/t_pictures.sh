#!/bin/sh
# t_pictures.sh - the SVGs of build/trace, build/views and build/constant (--svg):
# each parses as XML, is self-contained (no script, no external reference), has
# its light/dark <style>, a title, and holds the series it should (tokens x layers
# heatmap cells and tokens x layers x heads per-head cells, on a Mamba-1 and a
# Mamba-2 checkpoint; the 300 cells of the S6 and of the SSD lower triangle; ...),
# and every number the picture carries (data-* attributes) matches the program's
# text output (trace's CSV and screen, views' lines, constant's table) or the
# formula the text states. Then the committed pictures (docs/pictures, made by
# `make pictures`) parse, hold a full heatmap, carry the numbers a fresh trace and
# views draw now (to 1e-4: kernels differ per CPU), and are the ones README.md and
# docs/recurrent-view.md show. Nothing here looks at a timing's value, only that
# the picture shows the printed one.
# Run from the repo root:  PYTHON=/usr/bin/python3 BUILD=build sh tests/t_pictures.sh
# TRACE_BIN, VIEWS_BIN, CONSTANT_BIN override the programs (to show the test can fail).
set -eu
. tests/lib.sh
TRACE=${TRACE_BIN:-$BUILD/trace}
VIEWS=${VIEWS_BIN:-$BUILD/views}
CONSTANT=${CONSTANT_BIN:-$BUILD/constant}
for b in "$TRACE" "$VIEWS" "$CONSTANT"; do
    [ -x "$b" ] || { echo "t_pictures: FAIL: $b missing (make)"; exit 1; }
done
t_tmp

ids="3 17 0 25 9 9 9 30 1 12 44 7"
"$PYTHON" tools/convert.py tests/data/ckpt/hf_intermediate "$TMP/m1.mamba" >"$TMP/convert.log" 2>&1 ||
    { echo "t_pictures: FAIL: convert: $(tail -n 1 "$TMP/convert.log")"; exit 1; }
"$PYTHON" tools/convert.py tests/data/mamba2/ckpt/m2_ss_basic "$TMP/mamba2.mamba" >"$TMP/convert.log" 2>&1 ||
    { echo "t_pictures: FAIL: convert (Mamba-2): $(tail -n 1 "$TMP/convert.log")"; exit 1; }
"$PYTHON" tools/convert.py tests/data/ckpt/hf_sharded_f16 "$TMP/m2.mamba" >"$TMP/convert.log" 2>&1 ||
    { echo "t_pictures: FAIL: convert: $(tail -n 1 "$TMP/convert.log")"; exit 1; }

"$TRACE" "$TMP/m1.mamba" --tokens "$ids" --csv "$TMP/trace.csv" --svg "$TMP/trace.svg" >"$TMP/trace.out" 2>&1 ||
    t_fail "trace --svg failed: $(tail -n 1 "$TMP/trace.out")"
"$TRACE" "$TMP/mamba2.mamba" --tokens "$ids" --csv "$TMP/trace2.csv" --svg "$TMP/trace2.svg" >"$TMP/trace2.out" 2>&1 ||
    t_fail "trace --svg (Mamba-2) failed: $(tail -n 1 "$TMP/trace2.out")"
# the shipped model has a tokenizer: token text with XML's special characters
# and a multi-byte character must still make a file that parses
"$TRACE" models/tinystories.mamba -p 'a <b> & "c" caf\303\251' --svg "$TMP/text.svg" >"$TMP/text.out" 2>&1 ||
    t_fail "trace -p with <&\"> failed: $(tail -n 1 "$TMP/text.out")"
"$VIEWS" --svg "$TMP/views.svg" >"$TMP/views.out" 2>&1 || t_fail "views --svg failed: $(tail -n 1 "$TMP/views.out")"
# the committed trace and views pictures, redrawn as `make pictures` draws them
prompt=$(sed -n 's/^TRACE_PROMPT = //p' Makefile)
[ -n "$prompt" ] || t_fail "no TRACE_PROMPT in the Makefile"
"$TRACE" models/tinystories.mamba -p "$prompt" --svg "$TMP/trace_again.svg" >/dev/null 2>&1 || t_fail "trace of the shipped model failed"
"$VIEWS" --svg "$TMP/views_again.svg" >/dev/null 2>&1 || t_fail "views --svg (again) failed"
OMP_NUM_THREADS=1 "$CONSTANT" "$TMP/m2.mamba" --tokens 2000 --svg "$TMP/constant.svg" >"$TMP/constant.out" 2>&1 ||
    t_fail "constant --svg failed: $(tail -n 1 "$TMP/constant.out")"

"$PYTHON" - "$TMP" "$ids" tests/data/ckpt/hf_intermediate/config.json tests/data/ckpt/hf_sharded_f16/config.json \
    tests/data/mamba2/ckpt/m2_ss_basic/config.json \
    <<'EOF' || T_FAILS=$((T_FAILS + 1))
import csv
import json
import re
import os
import sys
import xml.etree.ElementTree as ET

tmp, ids = sys.argv[1], [int(v) for v in sys.argv[2].split()]
cfg1, cfg2, cfg3 = (json.load(open(a)) for a in sys.argv[3:6])
NS = "{http://www.w3.org/2000/svg}"
fails = []
checks = 0


def check(ok, what):
    global checks
    checks += 1
    if not ok:
        fails.append(what)


def near(got, want, rel, what):
    check(abs(got - want) <= rel * max(abs(want), 1e-300), "%s: picture %.9g, text %.9g" % (what, got, want))


def load(path, what):
    """Parse; check it is one self-contained picture that follows light and dark mode."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        fails.append("%s: does not parse: %s" % (what, e))
        return None
    text = open(path, encoding="utf-8").read()
    check(root.tag == NS + "svg", "%s: root is %s" % (what, root.tag))
    check(root.find(NS + "title") is not None and root.find(NS + "title").text, "%s: no <title>" % what)
    style = "".join(s.text or "" for s in root.iter(NS + "style"))
    check("prefers-color-scheme: dark" in style, "%s: no dark-mode style" % what)
    check(not list(root.iter(NS + "script")), "%s: has a script" % what)
    check(not re.search(r'(href|src)="(?!#)', text) and "url(http" not in text, "%s: refers outside itself" % what)
    named = text.replace(tmp, "TMP")  # the model's path given on the command line may be named
    here = [os.path.abspath("."), os.path.expanduser("~")]
    check(not [d for d in here if len(d) > 1 and d in named], "%s: a path of this machine" % what)
    return root


def series(root, name):
    """The (x, y) points of data-series=name, from each point's data-x/data-y."""
    for g in root.iter(NS + "g"):
        if g.get("data-series") == name:
            return [(float(c.get("data-x")), float(c.get("data-y"))) for c in g.iter(NS + "circle")]
    fails.append("no series %r" % name)
    return []


# ---- trace ----------------------------------------------------------------------
def check_trace(tag, name, n_layer, n_heads):
    """trace<tag>.svg against trace<tag>.csv and the screen trace<tag>.out."""
    T = len(ids)
    root = load(tmp + "/trace%s.svg" % tag, name)
    rows = list(csv.DictReader(open(tmp + "/trace%s.csv" % tag)))
    screen = [ln for ln in open(tmp + "/trace%s.out" % tag).read().splitlines()
              if ln[:5].strip().isdigit() and "|" in ln]
    if root is None:
        return
    cells = [r for r in root.iter(NS + "rect") if r.get("class") == "cell"]
    check(len(cells) == T * n_layer, "%s: %d heatmap cells, want %d tokens x %d layers" % (name, len(cells), T, n_layer))
    got = {(int(c.get("data-token")), int(c.get("data-layer"))): float(c.get("data-delta")) for c in cells}
    check(len(got) == T * n_layer, "%s: heatmap cells repeat a (token, layer)" % name)
    for r in rows:
        key = (int(r["token_index"]), int(r["layer"]))
        check(key in got and got[key] == float(r["mean_delta"]),
              "%s: cell %s: %s, CSV mean_delta %s" % (name, key, got.get(key), r["mean_delta"]))
    # the per-head map: one cell per token x layer x head; a layer's mean and
    # max over its heads are the CSV's mean_delta and max_delta
    heads = [r for r in root.iter(NS + "rect") if r.get("class") == "hcell"]
    check(len(heads) == T * n_layer * n_heads,
          "%s: %d per-head cells, want %d x %d x %d" % (name, len(heads), T, n_layer, n_heads))
    per = {}
    for c in heads:
        per.setdefault((int(c.get("data-token")), int(c.get("data-layer"))), []).append(float(c.get("data-delta")))
    for r in rows:
        v = per.get((int(r["token_index"]), int(r["layer"])), [0.0])
        where = "%s/%s" % (r["token_index"], r["layer"])
        near(sum(v) / len(v), float(r["mean_delta"]), 1e-6, "%s: mean over heads, %s" % (name, where))
        check(max(v) == float(r["max_delta"]), "%s: max over heads, %s" % (name, where))
    # the token labels, one per token under each map
    labels = [t for t in root.iter(NS + "text") if "mono" in (t.get("class") or "")]
    check(len(labels) == 2 * T, "%s: %d token labels, want %d (under each map)" % (name, len(labels), 2 * T))
    # kept and |h|: the mean over layers is the screen's, each layer the CSV's
    # (the screen rounds: kept to 4 decimals, |h| to 4 significant digits)
    for what, col, scr, rounding in (("kept", "kept", -2, lambda v: 5.01e-5), ("norm", "state_norm", -1, lambda v: 5.01e-4 * v)):
        mean = series(root, what + " mean")
        check(len(mean) == T and len(screen) == T,
              "%s: %s mean has %d points, screen %d lines" % (name, what, len(mean), len(screen)))
        for t, (x, y) in enumerate(mean):
            check(x == t, "%s: %s point %d at x=%g" % (name, what, t, x))
            if t < len(screen):
                shown = float(screen[t].split()[scr])
                check(abs(y - shown) <= rounding(abs(shown)),
                      "%s: %s mean at token %d: picture %.9g, screen %s" % (name, what, t, y, shown))
        for li in range(n_layer):
            pts = series(root, "%s layer %d" % (what, li))
            want = [float(r[col]) for r in rows if int(r["layer"]) == li]
            check(len(pts) == len(want), "%s: %s layer %d: %d points" % (name, what, li, len(pts)))
            for (x, y), w in zip(pts, want):
                near(y, w, 1e-8, "%s: %s layer %d token %d vs the CSV" % (name, what, li, x))


# a Mamba-1 checkpoint: 2 layers, d_inner 80, so 80 one-channel heads
check_trace("", "trace", cfg1["num_hidden_layers"], cfg1["intermediate_size"])
# a Mamba-2 checkpoint (state-spaces layout): 2 layers, d_inner 64 in 4 heads of 16
ssm = cfg3["ssm_cfg"]
check_trace("2", "trace (Mamba-2)", cfg3["n_layer"], cfg3["d_model"] * ssm["expand"] // ssm["headdim"])
root = load(tmp + "/text.svg", "trace -p <&\">")
if root is not None:
    labels = "".join(t.text or "" for t in root.iter(NS + "text") if "mono" in (t.get("class") or ""))
    check("<" in labels and "&" in labels, "trace: the token text lost its < or &: %r" % labels)

# ---- views ----------------------------------------------------------------------
rec = {}
for ln in open(tmp + "/views.out").read().splitlines():
    kv = dict(w.split("=", 1) for w in ln.split() if "=" in w and not w.startswith("("))
    label = " ".join(w for w in ln.split()[:3] if "=" not in w)
    if kv:
        rec.setdefault(label, []).append(kv)
root = load(tmp + "/views.svg", "views")
if root is not None and "lti kernel" in rec and "s6 kernel_at" in rec and "zoh_vs_euler" in rec:
    s4 = series(root, "s4 kernel")
    check(len(s4) == 21, "views: s4 kernel has %d points, want lags 0..20" % len(s4))
    for k in range(4):
        near(s4[k][1], float(rec["lti kernel"][0]["K%d" % k]), 2e-8, "views: S4 K%d" % k)
    for i, t in enumerate((10, 20)):
        pts = series(root, "s6 kernel at t=%d" % t)
        check(len(pts) == t + 1, "views: s6 kernel at t=%d has %d points" % (t, len(pts)))
        for k in range(4):
            near(pts[k][1], float(rec["s6 kernel_at"][i]["lag%d" % k]), 2e-8, "views: S6 t=%d lag %d" % (t, k))
    zoh = rec["zoh_vs_euler"]
    for name, key in (("abs diff", "max_abs_diff"), ("rel diff", "max_rel_diff")):
        pts = series(root, name)
        check(len(pts) == len(zoh), "views: %s has %d points, text %d" % (name, len(pts), len(zoh)))
        for (x, y), kv in zip(pts, zoh):
            near(x, float(kv["dt"]), 1e-6, "views: %s dt" % name)
            near(y, float(kv[key]), 1e-6, "views: %s at dt=%s" % (name, kv["dt"]))
    cells = [r for r in root.iter(NS + "rect") if r.get("class") == "cell"]
    M = {(int(c.get("data-t")), int(c.get("data-s"))): float(c.get("data-m")) for c in cells}
    check(len(cells) == 24 * 25 // 2 and len(M) == len(cells), "views: %d matrix cells, want 300" % len(cells))
    check(all(s <= t for t, s in M), "views: a matrix cell above the diagonal")
    for i, t in enumerate((10, 20)):  # row t of the matrix is the kernel seen from t
        for k in range(4):
            near(M.get((t, t - k), 0.0), float(rec["s6 kernel_at"][i]["lag%d" % k]), 1e-8, "views: M[%d][%d]" % (t, t - k))
    # Mamba-2's matrix (section 6), beside it
    cells = [r for r in root.iter(NS + "rect") if r.get("class") == "ssdcell"]
    M = {(int(c.get("data-t")), int(c.get("data-s"))): float(c.get("data-m")) for c in cells}
    check(len(cells) == 24 * 25 // 2 and len(M) == len(cells) and all(s <= t for t, s in M),
          "views: %d SSD matrix cells, want the 300 of a lower triangle" % len(cells))
    check("ssd M_at" in rec, "views: no 'ssd M_at' line")
    for k in range(4):
        near(M.get((10, 10 - k), 0.0), float(rec.get("ssd M_at", [{}])[0].get("lag%d" % k, "nan")), 1e-8,
             "views: SSD M[10][%d]" % (10 - k))
elif root is not None:
    fails.append("views: text output lacks the lti/s6/zoh lines")

# ---- constant -------------------------------------------------------------------
units = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}
lines = open(tmp + "/constant.out").read().splitlines()
row = re.compile(r"^\s*(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(?:[\d.]+ \w+|n/a)\s+([\d.]+) (\w+)\s+[\d.]+ \w+$")
table = [m.groups() for m in map(row.match, lines) if m]
root = load(tmp + "/constant.svg", "constant")
if root is not None:
    check([int(r[0]) for r in table] == [1, 1000, 2000], "constant: table positions %s" % [r[0] for r in table])
    fork, med = dict(series(root, "ms fork")), dict(series(root, "ms median"))
    kv, st = series(root, "kv cache f32"), series(root, "mamba state")
    check(len(med) >= 2 and len(kv) >= 100, "constant: %d median and %d memory points, want ~100" % (len(med), len(kv)))
    for r in table:
        pos = float(r[0])
        check(pos in fork, "constant: no forked point at %d" % pos)
        near(fork.get(pos, -1.0), float(r[1]), 1e-4 / float(r[1]) + 1e-12, "constant: fork ms at %d" % pos)
        if pos >= 1000:  # the window is full
            check(pos in med, "constant: no median point at %d" % pos)
            near(med.get(pos, -1.0), float(r[2]), 1e-4 / float(r[2]) + 1e-12, "constant: window ms at %d" % pos)
        want_state = float(r[4]) * units[r[5]] / 1024 ** 2
        for x, y in st:
            near(y, want_state, 0.005, "constant: state MiB at %d" % x)
    n_layer2, d_model2 = cfg2["num_hidden_layers"], cfg2["hidden_size"]
    for x, y in kv:
        near(y, 2 * n_layer2 * d_model2 * 4 * x / 1024 ** 2, 1e-8, "constant: KV MiB at %d" % x)
    check(kv and kv[-1][0] == 2000, "constant: the memory curve ends at %s, want 2000" % (kv[-1][0] if kv else None))

# ---- the committed pictures, and the documents that show them ---------------------
for name in ("trace", "views", "constant"):
    root = load("docs/pictures/%s.svg" % name, "docs/pictures/%s.svg" % name)
    if root is None:
        continue
    if name == "trace":
        cells = [r for r in root.iter(NS + "rect") if r.get("class") == "cell"]
        keys = {(c.get("data-token"), c.get("data-layer")) for c in cells}
        nt, nl = len({k[0] for k in keys}), len({k[1] for k in keys})
        check(cells and len(keys) == len(cells) == nt * nl, "committed trace: %d cells, not a full grid" % len(cells))
    if name == "constant":
        kv = series(root, "kv cache f32")
        check(kv and kv[-1][0] == 100000, "committed constant: does not reach 100k tokens")
# ... and they are what `make pictures` draws now (to rounding: another CPU's
# kernels may differ in the last bits)
for name, rel in (("trace", 1e-4), ("views", 1e-9)):
    try:
        old = ET.parse("docs/pictures/%s.svg" % name).getroot()
        new = ET.parse("%s/%s_again.svg" % (tmp, name)).getroot()
    except (ET.ParseError, OSError) as e:
        fails.append("%s: %s" % (name, e))
        continue
    def numbers(root):
        return [(el.tag, k, v) for el in root.iter() for k, v in sorted(el.attrib.items()) if k.startswith("data-")]
    a, b = numbers(old), numbers(new)
    check(len(a) == len(b) and len(a) > 0, "committed %s.svg has %d numbers, a fresh one %d: run make pictures" % (name, len(a), len(b)))
    def differ(x, y):
        try:
            return abs(float(x) - float(y)) > rel * max(1.0, abs(float(y)))
        except ValueError:  # a name (data-series)
            return x != y
    bad = [(x, y) for x, y in zip(a, b) if x[:2] != y[:2] or differ(x[2], y[2])]
    check(not bad, "committed %s.svg differs from a fresh one (%d numbers, first %s): run make pictures" % (name, len(bad), bad[:1]))
readme, view_doc = open("README.md").read(), open("docs/recurrent-view.md").read()
for pic in ("docs/pictures/trace.svg", "docs/pictures/constant.svg"):
    check("(%s)" % pic in readme, "README.md does not show %s" % pic)
check("(pictures/views.svg)" in view_doc, "docs/recurrent-view.md does not show pictures/views.svg")

for f in fails[:15]:
    print("t_pictures: FAIL:", f)
if fails:
    print("t_pictures: %d of %d checks failed" % (len(fails), checks))
    sys.exit(1)
print("t_pictures: %d checks: trace (%d tokens, cells per layer and per head), views, constant, committed pictures" % (checks, len(ids)))
EOF

# misuse: a picture that cannot be written is an error, not a crash
if "$VIEWS" --svg "$TMP/no/such/dir.svg" >/dev/null 2>&1; then t_fail "views wrote to a missing directory"; fi
if "$TRACE" "$TMP/m1.mamba" --tokens "1 2" --svg "$TMP/no/such/dir.svg" >/dev/null 2>&1; then
    t_fail "trace wrote to a missing directory"
fi
t_end "PASS"
