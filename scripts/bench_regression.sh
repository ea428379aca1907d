#!/usr/bin/env bash
# Regression check against another commit, both measured in this run.
#
#   scripts/bench_regression.sh [--ref REF] [--work DIR] [--phase both|base|head] [-- ARGS...]
#
# 1. Builds REF (default HEAD^, the parent of the checked-out commit) from
#    `git archive` into a second virtual environment (pip install ".[bench]",
#    compiling its Cython).
# 2. Measures it: `admf-perf bench --instructions --quick --save BASE.json`
#    (deterministic: callgrind's counts per op; compared on instructions and
#    first-level misses, see docs/bench.md).
# 3. Measures the admf-perf installed in the current environment (the head;
#    install it first) the same way with `--compare BASE.json`, passing ARGS
#    on (e.g. --check --json head.json).  A scenario whose per-op cost of ours
#    grew by more than 3% (--max-regression) fails the run, and is named.
#
# No figure from another machine is trusted: both sides are measured here,
# now.  When REF cannot be found (a shallow clone), fails to build, or
# predates --instructions, the script says so and runs the head alone (its
# gates still apply).  Both runs start from the repository root, where
# ../shared holds the data the scenarios read.
#
# --phase splits the run in two, so that CI can build and measure the base
# while it runs the tests (instruction counts do not change with the load):
# `base` does steps 1-2 only, into DIR (give --work), and records in
# DIR/base.skip why it could not; `head` does step 3 only, against what
# `base` left in DIR.  The default, `both`, does all three.
#
# Environment: PYTHON (interpreter of the second venv; default: `python` on
# PATH), BENCH_MODE (default "--instructions --quick").
set -euo pipefail

root="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
ref="HEAD^"
work=""
phase="both"
while (($#)); do
    case "$1" in
        --ref) ref="$2"; shift 2 ;;
        --work) work="$2"; shift 2 ;;
        --phase) phase="$2"; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "bench_regression: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$phase" in
    both|base|head) ;;
    *) echo "bench_regression: --phase must be both, base or head, got $phase" >&2; exit 2 ;;
esac
if [[ "$phase" != both && -z "$work" ]]; then
    echo "bench_regression: --phase $phase needs --work DIR (where the base is kept)" >&2
    exit 2
fi
read -r -a mode <<<"${BENCH_MODE:---instructions --quick}"
python="${PYTHON:-python}"
if [[ -n "$work" ]]; then
    mkdir -p "$work"
else
    work="$(mktemp -d "${TMPDIR:-/tmp}/admf-perf-base.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
fi
cd "$root"

head_run() {
    echo "==> head: admf-perf bench ${mode[*]} $*"
    admf-perf bench "${mode[@]}" "$@"
}

# skip REASON: no base to compare with. The head is measured alone (its gates
# still apply), now or, in the base phase, by the head phase (told in base.skip).
skip() {
    echo "==> regression check skipped: $1"
    if [[ "$phase" == base ]]; then
        echo "$1" >"$work/base.skip"
        exit 0
    fi
    head_run ${args[@]+"${args[@]}"}
    exit $?
}

args=("$@")
if [[ "$phase" == head ]]; then
    if [[ -f "$work/base.skip" ]]; then
        echo "==> regression check skipped: $(cat "$work/base.skip")"
        head_run "$@"
        exit $?
    fi
    if [[ ! -f "$work/base.json" ]]; then
        echo "bench_regression: no base measurement in $work (run --phase base first)" >&2
        exit 2
    fi
    head_run --compare "$work/base.json" "$@"
    exit $?
fi
rm -f "$work/base.skip" "$work/base.json"

if ! base="$(git rev-parse --verify --quiet "${ref}^{commit}")"; then
    skip "$ref is not in this clone (a shallow clone? git fetch --deepen=1)"
fi
echo "==> base: $ref = $(git log -1 --format='%h %s' "$base")"
mkdir -p "$work/src"
git archive "$base" | tar -x -C "$work/src"
t0=$SECONDS
if ! { "$python" -m venv "$work/venv" && PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$work/venv/bin/python" -m pip install -q "$work/src[bench]"; } >"$work/install.log" 2>&1; then
    tail -20 "$work/install.log"
    skip "$ref does not build (the log: $work/install.log)"
fi
echo "==> base built in $((SECONDS - t0)) s"
if ! "$work/venv/bin/admf-perf" bench --help | grep -q -- "--instructions"; then
    skip "$ref predates admf-perf bench --instructions"
fi
echo "==> base: admf-perf bench ${mode[*]} --save $work/base.json"
t0=$SECONDS
if ! "$work/venv/bin/admf-perf" bench "${mode[@]}" --save "$work/base.json" >"$work/base.txt" 2>"$work/base.err"; then
    tail -20 "$work/base.err"
    skip "the base run failed (the log: $work/base.err)"
fi
echo "==> base measured in $((SECONDS - t0)) s"
if [[ "$phase" == base ]]; then
    exit 0
fi
head_run --compare "$work/base.json" "$@"
