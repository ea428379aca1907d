# Sourced by the scripts that run on every supported CPython
# (build_wheels.sh, wheel_smoke.sh); noxfile.py asks it too (`pythons.sh --list`).
#
#   SUPPORTED_PYTHONS             the supported versions (pyproject.toml: requires-python)
#   find_python VER               prints the path of CPython VER's interpreter,
#                                 on PATH (pythonVER) or in pyenv's versions
#                                 (newest patch); nothing if the machine lacks it

SUPPORTED_PYTHONS="3.11 3.12 3.13 3.14"

find_python() {
    local ver="$1" p
    p=$(command -v "python$ver" 2>/dev/null || true)
    # a pyenv shim answers only for the active version: it must run
    if [ -n "$p" ] && "$p" -c '' >/dev/null 2>&1; then
        echo "$p"
        return 0
    fi
    p=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$ver".*/bin/"python$ver" 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$p" ] && "$p" -c '' >/dev/null 2>&1; then
        echo "$p"
    fi
    return 0
}

# `bash scripts/pythons.sh --list`: one line per supported version, "VER PATH",
# or "VER" alone where the machine lacks it
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = "--list" ]; then
    for ver in $SUPPORTED_PYTHONS; do
        echo "$ver $(find_python "$ver")"
    done
    exit 0
fi
