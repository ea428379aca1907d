#!/usr/bin/env bash
# Build a free-threaded CPython 3.13 (./configure --disable-gil) from Debian's
# source package, into a prefix outside the repository (docs/install.md).
#
#   scripts/build_cpython.sh [PREFIX]      (default: /opt/admf-perf/cpython-3.13t)
#
# Idempotent: when PREFIX already holds a free-threaded python3.13t, it says
# so and exits. Otherwise it adds a deb-src line for Debian's trixie suite
# (the 3.13.5 source; bookworm has no 3.13), downloads the source package
# without unpacking it (`apt-get source --download-only python3.13`),
# configures the orig tarball with --disable-gil, builds with every core and
# installs with `make altinstall` (no `python3` link is written). It needs
# root for apt-get, and reports how long each step took. Nothing is written
# inside the repository.
#
# The free-threading work (issue 17) runs the suite on the result; give it
# another prefix as the first argument or ADMF_PYTHON_FT_PREFIX.
set -euo pipefail

PREFIX=${1:-${ADMF_PYTHON_FT_PREFIX:-/opt/admf-perf/cpython-3.13t}}
WORK=${ADMF_CPYTHON_WORK:-/var/tmp/admf-cpython-src}
SOURCES=/etc/apt/sources.list.d/admf-perf-trixie-src.sources
PY="$PREFIX/bin/python3.13t"
start=$(date +%s)

step() { echo "==> [$(date +%H:%M:%S), +$(( $(date +%s) - start ))s] $*"; }

case "$PREFIX" in
    /*) ;;
    *) echo "build_cpython.sh: PREFIX must be an absolute path (got '$PREFIX')" >&2; exit 2 ;;
esac
repo=$(cd "$(dirname "$0")/.." && pwd)
case "$PREFIX/" in
    "$repo"/*) echo "build_cpython.sh: PREFIX must be outside the repository ($repo)" >&2; exit 2 ;;
esac

if [ -x "$PY" ] && "$PY" -c 'import sys; sys.exit(0 if not sys._is_gil_enabled() else 1)' 2>/dev/null; then
    step "already built: $PY ($("$PY" -VV | head -1)); nothing to do"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "build_cpython.sh: needs root for apt-get (deb-src line, build dependencies)" >&2
    exit 2
fi

if [ ! -f "$SOURCES" ]; then
    step "adding the deb-src line for trixie: $SOURCES"
    cat > "$SOURCES" <<'EOF'
# Written by admf-perf scripts/build_cpython.sh: source packages only.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi
step "apt-get update"
apt-get update -qq

missing=()
for pkg in build-essential dpkg-dev pkg-config libssl-dev zlib1g-dev libbz2-dev liblzma-dev \
           libffi-dev libsqlite3-dev libreadline-dev libncurses-dev libgdbm-dev uuid-dev xz-utils; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "installing build dependencies: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

mkdir -p "$WORK"
cd "$WORK"
orig=$(ls python3.13_3.13.*.orig.tar.xz 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$orig" ]; then
    step "apt-get source --download-only python3.13 (into $WORK)"
    apt-get source --download-only python3.13 >/dev/null
    orig=$(ls python3.13_3.13.*.orig.tar.xz | sort -V | tail -1)
fi
version=${orig#python3.13_}
version=${version%.orig.tar.xz}
src="$WORK/Python-$version"
if [ ! -d "$src" ]; then
    step "unpacking $orig"
    tar -xf "$orig"
fi

build="$WORK/build-ft"
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
    step "configure --disable-gil --prefix=$PREFIX"
    "$src/configure" --disable-gil --prefix="$PREFIX" --enable-shared \
        LDFLAGS="-Wl,-rpath,$PREFIX/lib" >configure.log 2>&1 \
        || { tail -30 configure.log; exit 1; }
fi
step "make -j$(nproc)"
make -j"$(nproc)" >make.log 2>&1 || { tail -40 make.log; exit 1; }
step "make altinstall"
make altinstall >install.log 2>&1 || { tail -40 install.log; exit 1; }

"$PY" -c 'import sys; assert not sys._is_gil_enabled(), "the GIL is enabled"; print(sys.version)'
step "done: $PY, CPython $version free-threaded, in $(( $(date +%s) - start )) s"
