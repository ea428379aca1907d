#!/usr/bin/env bash
# The whole suite on a free-threaded CPython (3.13t, 3.14t) with PYTHON_GIL=0
# (docs/freethreading.md). `nox -s freethreaded` and .ci/run run this.
#
#   scripts/freethreaded.sh [pytest args...]
#
# The interpreter: $ADMF_PYTHON_FT, else the one scripts/build_cpython.sh
# builds (/opt/admf-perf/cpython-3.13t/bin/python3.13t), else python3.14t or
# python3.13t on PATH. A machine without one gets a line saying so, and exit
# status 0: CI never builds an interpreter.
#
# In a fresh venv (under $ADMF_FT_WORK, default a temporary directory): the
# runtime dependencies (numpy, pandas, psutil), pytest and hypothesis, then
# every other requirement of the [test] extra that publishes a wheel for
# this interpreter (issue 17: an optional extra that does not is skipped
# there; its own dependencies may still build from source); each one that
# does not is skipped with a line saying so, and the tests that need it
# skip as they do anywhere it is missing.  No build of a requirement itself
# is tried: TA-Lib's took two minutes to fail (it needs its C library). Then the project, the
# check that importing every module keeps the GIL off (no PYTHON_GIL set:
# the modules' own declaration, not the override), and the suite.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)
step() { echo "==> [freethreaded, +$(( $(date +%s) - start ))s] $*"; }

py=""
for cand in "${ADMF_PYTHON_FT:-}" /opt/admf-perf/cpython-3.13t/bin/python3.13t \
            "$(command -v python3.14t 2>/dev/null || true)" "$(command -v python3.13t 2>/dev/null || true)"; do
    if [ -n "$cand" ] && [ -x "$cand" ] &&
       "$cand" -c 'import sys, sysconfig; sys.exit(0 if sysconfig.get_config_var("Py_GIL_DISABLED") else 1)' \
           2>/dev/null; then
        py=$cand
        break
    fi
done
if [ -z "$py" ]; then
    step "no free-threaded CPython on this machine (set ADMF_PYTHON_FT, or build one with" \
         "scripts/build_cpython.sh): skipped"
    exit 0
fi
step "interpreter: $py ($("$py" -VV | head -1))"

work=${ADMF_FT_WORK:-$(mktemp -d -t admf-perf-ft.XXXXXX)}
mkdir -p "$work"
venv="$work/venv"
rm -rf "$venv"
"$py" -m venv "$venv"
vpy="$venv/bin/python"
# hypothesis: the wheel (its newest releases build a Rust extension from source)
pip_install() { "$vpy" -m pip install -q --disable-pip-version-check --prefer-binary --only-binary hypothesis "$@"; }

step "runtime dependencies, pytest, hypothesis, the build tools"
pip_install numpy pandas psutil pytest hypothesis "setuptools>=64" wheel "Cython>=3.1"

step "the [test] extra, one requirement at a time"
mapfile -t reqs < <("$vpy" - "$repo/pyproject.toml" <<'EOF'
import sys, tomllib
extra = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["test"]
print("\n".join(r for r in extra if not r.lower().startswith(("pytest", "hypothesis", "cython", "setuptools"))))
EOF
)
skipped=()
for req in "${reqs[@]}"; do
    name=${req%%[<>=!~;[ ]*}
    if timeout 900 "$vpy" -m pip install -q --disable-pip-version-check --prefer-binary \
            --only-binary "hypothesis,$name" "$req" \
            >"$work/pip.log" 2>&1; then
        echo "    installed: $req"
    else
        skipped+=("$req")
        echo "    skipped on the free-threaded build: $req (no wheel of it for this interpreter, or a dependency that does not install; its tests skip)"
    fi
done

step "the project (compiles the extensions)"
pip_install --no-build-isolation "$repo"

step "importing every module keeps the GIL off (PYTHON_GIL unset)"
(cd "$work" && env -u PYTHON_GIL "$vpy" -W error::RuntimeWarning - <<'EOF'
import importlib, pkgutil, sys
import admf_perf
import admf_perf._ext as ext
for m in pkgutil.iter_modules(ext.__path__):
    importlib.import_module("admf_perf._ext." + m.name)
assert all(admf_perf.COMPILED.values()), admf_perf.COMPILED
assert not sys._is_gil_enabled(), "the GIL is enabled after importing admf_perf"
print("    sys._is_gil_enabled() is False; compiled:", ", ".join(sorted(admf_perf.COMPILED)))
EOF
)

step "the suite, PYTHON_GIL=0${skipped:+ (skipped requirements: ${skipped[*]})}"
cd "$repo"
PYTHON_GIL=0 "$vpy" -m pytest -q -p no:cacheprovider "$@"
step "done"
