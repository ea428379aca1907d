#!/usr/bin/env bash
# Regression check against another commit, both measured in this run.
#
#   scripts/bench_regression.sh [--ref REF] [--work DIR] [--phase both|base|head] [-- ARGS...]
#
# 1. Builds REF (default HEAD^, the parent of the checked-out commit) and
#    the head (HEAD, with any uncommitted change to its tracked files) the same
#    way: each from its files into DIR/base and DIR/head, paths of the same
#    length, in a virtual environment of its own (pip install ".[bench]",
#    compiling its Cython).  Identical code so builds to identical counts:
#    what the process holds (the venv's path, its packages) moves the heap,
#    and with it the first-level misses, by a few percent (docs/bench.md).
# 2. Measures the base: `admf-perf bench --instructions --quick --save
#    BASE.json` (deterministic: callgrind's counts per op; compared on
#    instructions and first-level misses, see docs/bench.md).
# 3. Measures the head's build the same way with `--compare BASE.json`,
#    passing ARGS on (e.g. --check --json head.json).  A scenario whose
#    per-op cost of ours grew by more than 3% (--max-regression) fails the
#    run, and is named.
#
# When no file the package is built from differs between REF and the head
# (the change is to the tests, the docs, the benches, CI or the scripts),
# both would build the same package: nothing is built, the comparison is
# skipped with a line saying so, and the admf-perf installed in the current
# environment is measured alone (its gates still apply).
#
# No figure from another machine is trusted: both sides are measured here,
# now.  When REF cannot be found (a shallow clone), fails to build, or
# predates --instructions, the script says so and runs the admf-perf
# installed in the current environment alone (its gates still apply).  Both
# runs start from the repository root, where ../shared holds the data the
# scenarios read.
#
# --phase splits the run in two, so that CI can build both and measure the
# base while it runs the tests (instruction counts do not change with the
# load): `base` does steps 1-2 only, into DIR (give --work), and records in
# DIR/base.skip why it could not; `head` does step 3 only, against what
# `base` left in DIR.  The default, `both`, does all three.
#
# Environment: PYTHON (interpreter of both venvs; default: `python` on
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

# head_run ADMF_PERF ARGS...: measure the head with that admf-perf
head_run() {
    local exe="$1"
    shift
    echo "==> head: $exe bench ${mode[*]} $*"
    "$exe" bench "${mode[@]}" "$@"
}

# skip REASON: no base to compare with. The head is measured alone (its gates
# still apply), now or, in the base phase, by the head phase (told in base.skip).
skip() {
    echo "==> regression check skipped: $1"
    if [[ "$phase" == base ]]; then
        echo "$1" >"$work/base.skip"
        exit 0
    fi
    head_run admf-perf ${args[@]+"${args[@]}"}
    exit $?
}

args=("$@")
# What `pip install .` does not build the package from.
not_the_package=(':(exclude)tests' ':(exclude)docs' ':(exclude)benches' ':(exclude).ci'
                 ':(exclude)scripts' ':(exclude)noxfile.py' ':(exclude)*.md')
if [[ "$phase" == head ]]; then
    if [[ -f "$work/base.skip" ]]; then
        echo "==> regression check skipped: $(cat "$work/base.skip")"
        head_run admf-perf "$@"
        exit $?
    fi
    if [[ ! -f "$work/base.json" || ! -x "$work/head/venv/bin/admf-perf" ]]; then
        echo "bench_regression: no base measurement or head build in $work (run --phase base first)" >&2
        exit 2
    fi
    head_run "$work/head/venv/bin/admf-perf" --compare "$work/base.json" "$@"
    exit $?
fi
rm -f "$work/base.skip" "$work/base.json"

if ! base="$(git rev-parse --verify --quiet "${ref}^{commit}")"; then
    skip "$ref is not in this clone (a shallow clone? git fetch --deepen=1)"
fi
echo "==> base: $ref = $(git log -1 --format='%h %s' "$base")"
# The head: HEAD, or with uncommitted changes to tracked files a commit of
# the working tree that `git stash create` makes (nothing is stashed).
head_tree="HEAD"
if ! git diff --quiet HEAD --; then head_tree="$(git stash create)"; fi
# Nothing the package is built from changed (only the tests, the docs, the
# benches, CI or the scripts did): both sides would build the same package,
# and measuring it twice compares it with itself.
if git diff --quiet "$base" "$head_tree" -- . "${not_the_package[@]}"; then
    changed="${not_the_package[*]#:(exclude)}"
    skip "$ref builds the same package (the change is to ${changed// /, } only): nothing to compare"
fi
# build SIDE: install DIR/SIDE/src, extracted by the caller, into a fresh
# DIR/SIDE/venv; the same recipe for both sides (its log: DIR/SIDE/install.log)
build() {
    local dir="$work/$1" t0=$SECONDS
    if ! { "$python" -m venv "$dir/venv" && PIP_DISABLE_PIP_VERSION_CHECK=1 \
            "$dir/venv/bin/python" -m pip install -q "$dir/src[bench]"; } >"$dir/install.log" 2>&1; then
        tail -20 "$dir/install.log"
        return 1
    fi
    echo "==> $1 built in $((SECONDS - t0)) s"
}
rm -rf "$work/base" "$work/head"
mkdir -p "$work/base/src" "$work/head/src"
git archive "$base" | tar -x -C "$work/base/src"
if ! build base; then
    skip "$ref does not build (the log: $work/base/install.log)"
fi
git archive "$head_tree" | tar -x -C "$work/head/src"
if ! build head; then
    echo "bench_regression: the head does not build (the log: $work/head/install.log)" >&2
    exit 1
fi
if ! "$work/base/venv/bin/admf-perf" bench --help | grep -q -- "--instructions"; then
    skip "$ref predates admf-perf bench --instructions"
fi
echo "==> base: admf-perf bench ${mode[*]} --save $work/base.json"
t0=$SECONDS
if ! "$work/base/venv/bin/admf-perf" bench "${mode[@]}" --save "$work/base.json" >"$work/base.txt" 2>"$work/base.err"; then
    tail -20 "$work/base.err"
    skip "the base run failed (the log: $work/base.err)"
fi
echo "==> base measured in $((SECONDS - t0)) s"
if [[ "$phase" == base ]]; then
    exit 0
fi
head_run "$work/head/venv/bin/admf-perf" --compare "$work/base.json" "$@"
