#!/bin/sh
# t_views.sh - check every number build/views prints by recomputing it
# independently in numpy (general matrix exponential instead of the diagonal
# formula, quadrature instead of closed forms, impulse responses instead of
# the kernel product), plus the properties that must hold whatever the numbers.
# Run from the repo root:  PYTHON=/usr/bin/python3 BUILD=build sh tests/t_views.sh
# VIEWS_BIN overrides the program under test (used to show the test can fail).
set -eu
. tests/lib.sh
BIN=${VIEWS_BIN:-$BUILD/views}

if [ -z "${VIEWS_BIN:-}" ] && [ ! -x "$BIN" ]; then
    mkdir -p "$BUILD"
    ${CC:-cc} -std=c99 -O2 -Wall -Wextra -pedantic examples/views.c -o "$BIN" -lm
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$BIN" >"$out" || { echo "t_views: $BIN failed"; exit 1; }

"$PYTHON" - "$out" <<'EOF'
import sys
import numpy as np

lines = open(sys.argv[1]).read().splitlines()
fails = []
npass = 0

def check(ok, what):
    global npass
    if ok:
        npass += 1
    else:
        fails.append(what)
        print("FAIL", what)

def near(got, want, tol, what):
    check(abs(got - want) <= tol * max(1.0, abs(want)),
          "%s: got %.17g want %.17g (tol %g)" % (what, got, want, tol))

# --- parse "label words key=value ..." lines -----------------------------------
rec = {}   # label -> list of dicts (a label may repeat)
for ln in lines:
    if not ln or ln[0] in " =":
        continue
    words = ln.split()
    label = []
    kv = {}
    for w in words:
        if w.startswith("("):
            break
        if "=" in w:
            k, v = w.split("=", 1)
            kv[k] = v
        else:
            label.append(w)
    rec.setdefault(" ".join(label), []).append(kv)

def f(label, key, i=0):
    return float(rec[label][i][key])

check(len(lines) < 80, "output has %d lines, want < 80" % len(lines))
for lab in ["step_response", "zoh_vs_euler", "lti kernel", "lti conv_vs_recurrence",
            "s6 kernel_at", "s6 kernels_differ", "s6 scan_vs_matrix", "s6 gate",
            "state mamba130m", "kv_cache", "ssd recurrent", "ssd M_at", "ssd quadratic_vs_recurrent",
            "ssd chunked_vs_recurrent"]:
    check(lab in rec, "missing line '%s'" % lab)
if fails:
    print("t_views: %d passed, %d failed" % (npass, len(fails)))
    sys.exit(1)

# --- the setup, as specified in examples/views.c -------------------------------
N = 4
A = np.diag([-(n + 1.0) for n in range(N)])      # S4D-Real as a full matrix
Bv = np.ones(N)
Cv = np.array([1.0 / (n + 1) for n in range(N)])

def expm(M):
    """Matrix exponential by scaling and squaring with a Taylor series."""
    nrm = np.abs(M).sum(axis=1).max()
    s = max(0, int(np.ceil(np.log2(nrm / 0.25))) if nrm > 0 else 0)
    X = M / (2.0 ** s)
    E = np.eye(M.shape[0]); term = np.eye(M.shape[0])
    for k in range(1, 25):
        term = term @ X / k
        E = E + term
    for _ in range(s):
        E = E @ E
    return E

def zoh(dt):
    """ZOH via Van Loan's block trick: expm([[A, B], [0, 0]] dt) = [[Abar, Bbar], [0, I]].
    Needs no inverse of A and no diagonal structure."""
    M = np.zeros((N + 1, N + 1))
    M[:N, :N] = A * dt
    M[:N, N] = Bv * dt
    E = expm(M)
    return E[:N, :N], E[:N, N]

# --- 1. step response: exact y(1) = C int_0^1 exp(A s) B ds, by Simpson ---------
s = np.linspace(0.0, 1.0, 4001)
diagA = np.diag(A)
vals = (np.exp(np.outer(s, diagA)) * Bv) @ Cv
hs = s[1] - s[0]
y_exact = hs / 3 * (vals[0] + vals[-1] + 4 * vals[1:-1:2].sum() + 2 * vals[2:-1:2].sum())
near(f("step_response", "y_exact"), y_exact, 1e-12, "step_response y_exact")
near(f("step_response", "y_zoh"), y_exact, 1e-12, "ZOH is exact for a step input")
Ab, Bb = zoh(0.1)
h = np.zeros(N)
for _ in range(10):
    h = Ab @ h + 0.1 * Bv
near(f("step_response", "y_euler"), Cv @ h, 1e-12, "step_response y_euler")
check(abs(f("step_response", "y_euler") - y_exact) > 1e-3, "Euler-B is visibly off at dt=0.1")

# --- 2. ZOH versus Bbar ~ dt B ---------------------------------------------------
rows = rec["zoh_vs_euler"]
check(len(rows) >= 4, "need >= 4 halvings")
prev = None
for i, r in enumerate(rows):
    dt = float(r["dt"])
    if i:
        near(dt, float(rows[i - 1]["dt"]) / 2, 1e-6, "dt halves")
    Ab, Bb = zoh(dt)
    d = np.abs(Bb - dt * Bv)
    near(float(r["max_abs_diff"]), d.max(), 1e-5, "max_abs_diff dt=%g" % dt)
    near(float(r["max_rel_diff"]), (d / np.abs(Bb)).max(), 1e-5, "max_rel_diff dt=%g" % dt)
    if i:
        ra, rr = float(r["abs_ratio"]), float(r["rel_ratio"])
        den = float(r["max_abs_diff"])
        near(ra, float(rows[i - 1]["max_abs_diff"]) / den if den else float("inf"), 1e-3, "abs_ratio")
        check(3.5 < ra < 4.05, "abs diff is O(dt^2): ratio %g not ~4" % ra)
        check(1.9 < rr < 2.2, "rel diff is O(dt): ratio %g not ~2" % rr)
        if prev is not None:
            check(abs(ra - 4) <= abs(prev - 4) + 1e-9, "abs ratio approaches 4")
        prev = ra
check(abs(prev - 4) < 0.05, "last abs ratio %g within 0.05 of 4" % prev)

# --- 3. LTI: recurrence with the block-exp ZOH, convolution with np.convolve -----
L = 32
t = np.arange(L)
x = np.sin(0.5 * t) + 0.3 * ((t * 7) % 5 - 2)
Ab, Bb = zoh(0.1)
h = np.zeros(N); y_rec = np.zeros(L)
for i in range(L):
    h = Ab @ h + Bb * x[i]
    y_rec[i] = Cv @ h
K = np.array([Cv @ np.linalg.matrix_power(Ab, k) @ Bb for k in range(L)])
y_conv = np.convolve(K, x)[:L]
check(np.abs(y_conv - y_rec).max() < 1e-12, "numpy conv == recurrence")
for k in range(4):
    near(f("lti kernel", "K%d" % k), K[k], 1e-10, "Kbar_%d" % k)
check(f("lti conv_vs_recurrence", "max_abs_diff") < 1e-12, "C conv == recurrence to 1e-12")
near(f("lti conv_vs_recurrence", "y_last"), y_rec[-1], 1e-12, "lti y_last")

# --- 4. S6 ---------------------------------------------------------------------
D, LS = 2, 24
Wdt = np.array([[1.0, 0.5], [-0.5, 1.0]]); bdt = np.array([-1.0, -0.5])
WB = np.array([[0.5, -0.3], [0.2, 0.4], [-0.4, 0.1], [0.3, 0.3]])
WC = np.array([[0.6, 0.1], [-0.2, 0.5], [0.3, -0.4], [0.1, 0.2]])
ts = np.arange(LS)
U = np.stack([np.sin(0.5 * ts) + 0.3 * ((ts * 7) % 5 - 2), np.cos(0.3 * ts)], axis=1)
softplus = lambda z: np.logaddexp(0.0, z)
delta = softplus(U @ Wdt.T + bdt)          # (LS, D)
Bt = U @ WB.T; Ct = U @ WC.T               # (LS, N)
a = diagA

def scan(xin):
    """Selective scan of the channel inputs xin (LS, D), selection from U."""
    h = np.zeros((D, N)); ys = np.zeros((LS, D))
    for i in range(LS):
        h = np.exp(delta[i][:, None] * a[None, :]) * h + (delta[i][:, None] * Bt[i][None, :]) * xin[i][:, None]
        ys[i] = h @ Ct[i]
    return ys, h

Y, H = scan(U)
near(f("s6 scan_vs_matrix", "y_sum"), Y.sum(), 1e-12, "s6 y_sum")
check(f("s6 scan_vs_matrix", "max_abs_diff") < 1e-12, "C scan == matrix form to 1e-12")

def kernel_entry(tq, sq):
    """M[t][s] for channel 0: output at t for a unit impulse at s, selection unchanged."""
    xin = np.zeros((LS, D)); xin[sq, 0] = 1.0
    return scan(xin)[0][tq, 0]

kd = 0.0
for i, tq in enumerate([10, 20]):
    check(float(rec["s6 kernel_at"][i]["t"]) == tq, "kernel_at t=%d" % tq)
    for lag in range(4):
        want = kernel_entry(tq, tq - lag)
        near(f("s6 kernel_at", "lag%d" % lag, i), want, 1e-9, "s6 kernel t=%d lag=%d" % (tq, lag))
for lag in range(4):
    kd = max(kd, abs(kernel_entry(10, 10 - lag) - kernel_entry(20, 20 - lag)))
near(f("s6 kernels_differ", "max_abs_diff"), kd, 1e-5, "s6 kernels_differ")
check(kd > 1e-3, "selective kernels at two positions differ")

for i, (tok, big) in enumerate([((6.0, 3.0), True), ((-6.0, -3.0), False)]):
    r = rec["s6 gate"][i]
    u = np.array(tok)
    dl = softplus(Wdt @ u + bdt)[0]
    old = np.exp(dl * a) * H[0]
    new = dl * (WB @ u) * u[0]
    kept = np.linalg.norm(old) / np.linalg.norm(H[0])
    share = np.linalg.norm(new) / np.linalg.norm(old + new)
    near(float(r["delta"]), dl, 1e-5, "gate delta")
    near(float(r["old_state_kept"]), kept, 1e-5, "gate old_state_kept")
    near(float(r["token_share"]), share, 1e-5, "gate token_share")
    if big:
        check(float(r["old_state_kept"]) < 0.01, "large delta keeps < 1% of the state")
        check(float(r["token_share"]) > 0.99, "large delta: the state is the current token")
    else:
        check(float(r["old_state_kept"]) > 0.99, "small delta keeps > 99% of the state")

# --- 5. sizes --------------------------------------------------------------------
st = rec["state mamba130m"][0]
per_layer = 1536 * 16 + 1536 * 4
check(int(st["per_layer"]) == per_layer, "per-layer state floats")
check(int(st["total"]) == 24 * per_layer, "total state floats")
check(int(st["bytes_f32"]) == 4 * 24 * per_layer, "state bytes")
for r, nl in zip(rec["kv_cache"], [12, 24]):
    pt = 2 * nl * 768
    check(int(r["n_layer"]) == nl and int(r["per_token"]) == pt, "kv per token n_layer=%d" % nl)
    check(int(r["at_2048"]) == 2048 * pt, "kv at 2048")
    tx = int(r["tokens_to_exceed_state"])
    check(tx * pt > 24 * per_layer >= (tx - 1) * pt, "first token count where KV > state")

# --- 6. Mamba-2 (SSD): the head's recurrence in numpy, and M as L o (C B^T) built
# with a cumulative sum (segsum), independently of the C's loops
A2 = -0.7
dh = delta[:, 0]                                   # one delta per token for the head
S = np.zeros((D, N)); Yr = np.zeros((LS, D))
for i in range(LS):
    S = np.exp(dh[i] * A2) * S + dh[i] * np.outer(U[i], Bt[i])
    Yr[i] = S @ Ct[i]
ssd = rec["ssd recurrent"][0]
check(int(ssd["L"]) == LS and int(ssd["P"]) == D and int(ssd["N"]) == N and float(ssd["A"]) == A2, "ssd setup")
near(float(ssd["y_sum"]), Yr.sum(), 1e-12, "ssd y_sum")
cs = np.concatenate([[0.0], np.cumsum(dh)])        # cs[t+1] - cs[s+1] = delta_{s+1} + ... + delta_t
seg = cs[1:, None] - cs[None, 1:]
Lmask = np.where(np.tri(LS, dtype=bool), np.exp(A2 * np.where(np.tri(LS, dtype=bool), seg, 0.0)) * dh[None, :], 0.0)
M = Lmask * (Ct @ Bt.T)
check(np.abs(M @ U - Yr).max() < 1e-12, "numpy: M = L o (C B^T) applied to x equals the recurrence")
for lag in range(4):
    near(f("ssd M_at", "lag%d" % lag), M[10, 10 - lag], 1e-9, "ssd M t=10 lag=%d" % lag)
check(f("ssd quadratic_vs_recurrent", "max_abs_diff") < 1e-12, "C: quadratic form == recurrence to 1e-12")
check(f("ssd chunked_vs_recurrent", "max_abs_diff") < 1e-12, "C: chunked form == recurrence to 1e-12")
check(int(rec["ssd chunked_vs_recurrent"][0]["Q"]) < LS, "the chunks are shorter than the sequence")

print("t_views: %d passed, %d failed" % (npass, len(fails)))
sys.exit(1 if fails else 0)
EOF
