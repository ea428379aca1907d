#!/usr/bin/env bash
# Regression check against another commit, both measured in this run.
#
#   scripts/bench_regression.sh [--ref REF] [--work DIR] [-- ARGS...]
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
# Environment: PYTHON (interpreter of the second venv; default: `python` on
# PATH), BENCH_MODE (default "--instructions --quick").
set -euo pipefail

root="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
ref="HEAD^"
work=""
while (($#)); do
    case "$1" in
        --ref) ref="$2"; shift 2 ;;
        --work) work="$2"; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "bench_regression: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
read -r -a mode <<<"${BENCH_MODE:---instructions --quick}"
python="${PYTHON:-python}"
if [[ -z "$work" ]]; then
    work="$(mktemp -d "${TMPDIR:-/tmp}/admf-perf-base.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
fi
cd "$root"

head_run() {
    echo "==> head: admf-perf bench ${mode[*]} $*"
    admf-perf bench "${mode[@]}" "$@"
}

if ! base="$(git rev-parse --verify --quiet "${ref}^{commit}")"; then
    echo "==> regression check skipped: $ref is not in this clone (a shallow clone? git fetch --deepen=1)"
    head_run "$@"
    exit $?
fi
echo "==> base: $ref = $(git log -1 --format='%h %s' "$base")"
mkdir -p "$work/src"
git archive "$base" | tar -x -C "$work/src"
t0=$SECONDS
if ! { "$python" -m venv "$work/venv" && PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$work/venv/bin/python" -m pip install -q "$work/src[bench]"; } >"$work/install.log" 2>&1; then
    tail -20 "$work/install.log"
    echo "==> regression check skipped: $ref does not build (log above)"
    head_run "$@"
    exit $?
fi
echo "==> base built in $((SECONDS - t0)) s"
if ! "$work/venv/bin/admf-perf" bench --help | grep -q -- "--instructions"; then
    echo "==> regression check skipped: $ref predates admf-perf bench --instructions"
    head_run "$@"
    exit $?
fi
echo "==> base: admf-perf bench ${mode[*]} --save $work/base.json"
t0=$SECONDS
if ! "$work/venv/bin/admf-perf" bench "${mode[@]}" --save "$work/base.json" >"$work/base.txt" 2>"$work/base.err"; then
    tail -20 "$work/base.err"
    echo "==> regression check skipped: the base run failed (log above)"
    head_run "$@"
    exit $?
fi
echo "==> base measured in $((SECONDS - t0)) s"
head_run --compare "$work/base.json" "$@"
