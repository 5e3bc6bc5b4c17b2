# tests/lib.sh - what every tests/t_*.sh shares. Source it from the repo root
# (`make test` runs the tests there):   . tests/lib.sh
#
# Defaults, each overridable from the environment (make test passes them):
#   PYTHON  /usr/bin/python3 when it exists (Debian's, with numpy), else python3
#   BUILD   build          CC  cc          CXX  c++
# Names: T_NAME is the test's name (t_x for tests/t_x.sh).
#
#   t_tmp               TMP = a new temporary directory, removed when the test exits
#   t_fail MSG          print "T_NAME: FAIL: MSG" and count a failure
#   t_skip WHAT WHY     a check that could not run: print "T_NAME: SKIP: WHAT (WHY)"
#                       and log it for make test's summary. Under CI=true a skip is a
#                       failure: CI installs every tool (.ci/run), so a missing one is a bug.
#   t_skip_test WHAT WHY   the whole test cannot run: t_skip, then exit (0; 1 under CI)
#   t_have CMD...       true when every command is on PATH
#   t_have_torch        true when $PYTHON can import torch
#   t_have_omp [CC]     true when CC (default $CC) compiles and links -fopenmp
#   t_end MSG           exit: status 1 after any t_fail (or a skip under CI), else print
#                       "T_NAME: MSG" and exit 0. MSG must say only what ran; when
#                       something was skipped the line says how many.
#
# A check that did not run never prints that it passed: print its success line only
# on the path where it ran, and call t_skip on the other.

PYTHON=${PYTHON:-$(test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)}
BUILD=${BUILD:-build}
CC=${CC:-cc}
CXX=${CXX:-c++}
export PYTHON BUILD CC CXX
T_NAME=$(basename "$0" .sh)
T_FAILS=0
T_SKIPS=0

t_tmp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || { echo "$T_NAME: FAIL: mktemp"; exit 1; }
    # shellcheck disable=SC2064
    trap "rm -rf '$TMP'" EXIT
    trap 'exit 1' INT TERM
}

t_fail() {
    echo "$T_NAME: FAIL: $*"
    T_FAILS=$((T_FAILS + 1))
}

t_skip() {
    T_SKIPS=$((T_SKIPS + 1))
    if [ "${CI:-}" = true ]; then
        echo "$T_NAME: FAIL: $1 did not run ($2), and CI=true treats a missing tool as a failure"
        T_FAILS=$((T_FAILS + 1))
    else
        echo "$T_NAME: SKIP: $1 ($2)"
    fi
    # one line per skipped check for make test's summary
    if [ -n "${MAMBA_SKIP_LOG:-}" ]; then echo "$T_NAME: $1 ($2)" >>"$MAMBA_SKIP_LOG"; fi
}

t_skip_test() {
    t_skip "$1" "$2"
    [ "$T_FAILS" -eq 0 ] || exit 1
    exit 0
}

t_have() {
    for t_have_cmd in "$@"; do
        command -v "$t_have_cmd" >/dev/null 2>&1 || return 1
    done
}

t_have_torch() { "$PYTHON" -c "import torch" >/dev/null 2>&1; }

t_have_omp() {
    echo 'int main(void){return 0;}' | ${1:-$CC} -fopenmp -x c - -o /dev/null >/dev/null 2>&1
}

t_end() {
    if [ "$T_FAILS" -ne 0 ]; then echo "$T_NAME: FAIL ($T_FAILS)"; exit 1; fi
    if [ "$T_SKIPS" -ne 0 ]; then echo "$T_NAME: $* ($T_SKIPS check(s) skipped, see SKIP above)"
    else echo "$T_NAME: $*"; fi
    exit 0
}
