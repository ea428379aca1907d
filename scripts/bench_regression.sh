#!/usr/bin/env bash
# Regression check against another commit, both measured in this run.
#
#   scripts/bench_regression.sh [--ref REF] [--work DIR] [-- ARGS...]
#
# 1. Builds REF (default HEAD^, the parent of the checked-out commit) and
#    the head (HEAD, with any uncommitted change to its tracked files) the same
#    way: each from its files into DIR/base and DIR/head, paths of the same
#    length, in a virtual environment of its own (pip install ".[bench]",
#    compiling its Cython).  Identical code so builds to identical counts:
#    what the process holds (the venv's path, its packages) moves the heap,
#    and with it the first-level misses, by a few percent (docs/bench.md).
# 2. Measures the head: `admf-perf bench --instructions --quick ARGS`
#    (deterministic: callgrind's counts per op), ARGS passed on (e.g.
#    --check --json head.json); its record (ARGS' --json, else DIR/head.json)
#    says which of the package's compiled modules each loop ran.
# 3. Measures REF the same way (`--save DIR/base.json`), but only the
#    workers where a loop of ours ran a compiled module that the change
#    rebuilt differently, or every one when a changed file of the package is
#    not a compiled source (`python -m admf_perf.bench.affected`, whose
#    reasons are printed; docs/bench.md, "Regressions against the parent"),
#    and of those only the scenarios the head measured (ARGS' -k).  None: the
#    comparison is skipped with a line saying why.
# 4. Compares them (`python -m admf_perf.bench.compare`): a scenario whose
#    per-op cost of ours grew by more than 3% fails the run, and is named.
#    The exit status is the head's (its gates) or else the comparison's.
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
# Environment: PYTHON (interpreter of both venvs; default: `python` on
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
        -h|--help) sed -n '2,40p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "bench_regression: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
read -r -a mode <<<"${BENCH_MODE:---instructions --quick}"
python="${PYTHON:-python}"
if [[ -n "$work" ]]; then
    mkdir -p "$work"
else
    work="$(mktemp -d "${TMPDIR:-/tmp}/admf-perf-base.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
fi
cd "$root"

args=("$@")
# The head's record: where ARGS save it, else DIR/head.json.
head_json=""
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --json|--save) head_json="${args[i + 1]:-}" ;;
        --json=*|--save=*) head_json="${args[i]#*=}" ;;
    esac
done
if [[ -z "$head_json" ]]; then
    head_json="$work/head.json"
    args+=(--json "$head_json")
fi

# head_run ADMF_PERF ARGS...: measure the head with that admf-perf
head_run() {
    local exe="$1"
    shift
    echo "==> head: $exe bench ${mode[*]} $*"
    "$exe" bench "${mode[@]}" "$@"
}

# skip REASON: no base to compare with; the head is measured alone (its gates still apply).
skip() {
    echo "==> regression check skipped: $1"
    head_run admf-perf ${args[@]+"${args[@]}"}
    exit $?
}

# What `pip install .` does not build the package from.
not_the_package=(':(exclude)tests' ':(exclude)docs' ':(exclude)benches' ':(exclude).ci'
                 ':(exclude)scripts' ':(exclude)noxfile.py' ':(exclude)*.md')
rm -f "$work/base.json" "$work/affected.txt"

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

# 2. The head, first: its record says which compiled modules each loop ran.
t0=$SECONDS
head_rc=0
head_run "$work/head/venv/bin/admf-perf" "${args[@]}" || head_rc=$?
echo "==> head measured in $((SECONDS - t0)) s (exit $head_rc)"
if [[ ! -f "$head_json" ]]; then
    echo "bench_regression: the head's run wrote no record ($head_json): nothing to compare" >&2
    exit $((head_rc ? head_rc : 1))
fi

# 3. REF, in the workers the change can move.
ext_dir() { (cd / && "$work/$1/venv/bin/python" -c 'import os, admf_perf._ext as e; print(os.path.dirname(e.__file__))'); }
changed_files=()
while IFS= read -r f; do changed_files+=(--changed "$f"); done \
    < <(git diff --name-only "$base" "$head_tree" -- . "${not_the_package[@]}")
if ! "$work/head/venv/bin/python" -m admf_perf.bench.affected --record "$head_json" \
        --base-ext "$(ext_dir base)" --head-ext "$(ext_dir head)" ${changed_files[@]+"${changed_files[@]}"} \
        >"$work/affected.txt" 2>"$work/affected.why"; then
    cat "$work/affected.why"
    echo "==> regression check skipped: which workers to measure is unknown (above)"
    exit "$((head_rc ? head_rc : 1))"
fi
sed 's/^affected: /==> regression check: /' "$work/affected.why"
select=()
while IFS= read -r name; do
    if [[ -n "$name" ]]; then select+=(-k "$name"); fi
done <"$work/affected.txt"
if ((${#select[@]} == 0)); then
    echo "==> regression check skipped: nothing the change rebuilt runs in a measured loop"
    exit "$head_rc"
fi
echo "==> base: admf-perf bench ${mode[*]} --save $work/base.json -k NAME ($((${#select[@]} / 2)) scenarios, above)"
t0=$SECONDS
if ! "$work/base/venv/bin/admf-perf" bench "${mode[@]}" --save "$work/base.json" "${select[@]}" \
        >"$work/base.txt" 2>"$work/base.err"; then
    tail -20 "$work/base.err"
    echo "==> regression check skipped: the base run failed (the log: $work/base.err)"
    exit "$head_rc"
fi
echo "==> base measured in $((SECONDS - t0)) s"

# 4. The comparison.
compare_rc=0
"$work/head/venv/bin/python" -m admf_perf.bench.compare "$work/base.json" "$head_json" \
    --only "$work/affected.txt" || compare_rc=$?
if ((head_rc != 0)); then exit "$head_rc"; fi
exit "$compare_rc"
