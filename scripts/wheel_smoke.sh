#!/usr/bin/env bash
# Install one built wheel where no compiler can be reached, and run the smoke
# subset (scripts/smoke.py).
#
#   scripts/wheel_smoke.sh dist/admf_perf-0.1.0-cp312-cp312-manylinux_2_28_x86_64.whl
#
# The wheel's tag names its interpreter (cp312 -> python3.12, found on PATH or
# in pyenv's versions). A fresh venv gets the wheel and the test extra's
# dependencies (wheels preferred; a pure-Python sdist may build), with CC=false and CXX=false
# and a PATH that holds the venv and the basic tools but no gcc, cc, clang or
# ld: a step that tried to compile would fail. Exit status: the first failure.
set -euo pipefail

wheel=$(realpath "$1")
repo=$(cd "$(dirname "$0")/.." && pwd)
name=$(basename "$wheel")
tag=$(echo "$name" | sed -E 's/^[^-]+-[^-]+-(cp3[0-9]+)-.*/\1/')
case "$tag" in
    cp3*) ;;
    *) echo "wheel_smoke.sh: cannot read the CPython tag of $name" >&2; exit 2 ;;
esac
ver="3.${tag#cp3}"
# shellcheck source=scripts/pythons.sh
. "$repo/scripts/pythons.sh"
py=$(find_python "$ver")
if [ -z "$py" ]; then
    echo "==> skip $name: no python$ver on this machine"
    exit 0
fi

work=$(mktemp -d /tmp/admf-wheel-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$py" -m venv "$work/venv"

# A PATH without compilers: the venv, and links to the tools the steps use.
mkdir "$work/bin"
for tool in bash sh env uname cat ls rm mkdir mktemp dirname basename sed grep tail head sort realpath readlink tr; do
    src=$(command -v "$tool" || true)
    [ -n "$src" ] && ln -s "$src" "$work/bin/$tool"
done
safe_path="$work/venv/bin:$work/bin"
for cc in gcc cc clang ld x86_64-linux-gnu-gcc; do
    if PATH="$safe_path" command -v "$cc" >/dev/null 2>&1; then
        echo "wheel_smoke.sh: $cc is reachable on the smoke PATH" >&2; exit 1
    fi
done

run() { env -i HOME="$HOME" PATH="$safe_path" CC=false CXX=false LC_ALL=C.UTF-8 "$@"; }

echo "==> $name on $("$py" -VV | head -1): install with no compiler"
# (this machine's pip configuration names index directories that may be
# missing: pip's warnings about them are dropped)
run python -m pip install -q --prefer-binary "$wheel[test]" 2>&1 | { grep -v "^WARNING: Location .* is ignored" || true; }
cd "$repo"
run python scripts/smoke.py
echo "==> ok: $name, no compiler"
