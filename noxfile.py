"""The suite on every supported CPython found on this machine (docs/install.md).

    nox                      # "tests" on each interpreter found, "smoke" too
    nox -s tests             # the README's test command, per interpreter
    nox -s smoke             # the smoke subset, per interpreter
    nox -s smoke-3.12        # one interpreter
    nox -s bench             # the deterministic bench per interpreter (.bench/)
    nox -s freethreaded      # the suite on a free-threaded CPython, PYTHON_GIL=0
    nox -s wheel_smoke -- dist/admf_perf-0.1.0-cp312-cp312-manylinux*.whl

Interpreters: CPython 3.11 to 3.14, found by ``scripts/pythons.sh`` (on PATH as
``python3.X`` or in pyenv's versions directory). An interpreter the
machine lacks is skipped, with nox's line saying so.

The smoke subset is ``scripts/smoke.py`` (import, every module compiled, one
test module per area, ``admf-perf optimize``).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["tests", "smoke"]
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = False

_HERE = Path(__file__).resolve().parent


def _pythons() -> dict[str, str]:
    """Every supported CPython version -> its interpreter here ("" if the
    machine lacks it), from scripts/pythons.sh: the one list of supported
    versions and the one way of finding them."""
    out = subprocess.run(
        ["bash", str(_HERE / "scripts" / "pythons.sh"), "--list"],
        capture_output=True, text=True, check=True,
    ).stdout
    return {v: p for v, _, p in (line.strip().partition(" ") for line in out.splitlines()) if v}


PYTHONS = _pythons()
SUPPORTED = list(PYTHONS)
# pyenv's shims answer only for the active version: the interpreters' own
# directories go first on PATH, where nox looks for pythonX.Y
os.environ["PATH"] = os.pathsep.join(
    [*(str(Path(p).parent) for p in PYTHONS.values() if p), os.environ.get("PATH", "")]
)


@nox.session(python=SUPPORTED)
def tests(session: nox.Session) -> None:
    """The README's test command: install with the test extra (compiles the
    Cython), then the whole suite."""
    session.install(".[test]")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=SUPPORTED)
def smoke(session: nox.Session) -> None:
    """Install from source with the test extra, then the smoke subset."""
    session.install(".[test]")
    session.run("python", "scripts/smoke.py", *session.posargs)


@nox.session(python=SUPPORTED)
def bench(session: nox.Session) -> None:
    """The deterministic bench (callgrind instruction counts, quick inputs) on
    this interpreter, saved as .bench/bench-3.X.json; compare the interpreters
    side by side with scripts/bench_pythons.py. Posargs replace the bench's
    options (default: --instructions --quick). Needs valgrind."""
    session.install(".[bench]")
    out = _HERE / ".bench"
    out.mkdir(exist_ok=True)
    opts = session.posargs or ["--instructions", "--quick"]
    session.run("admf-perf", "bench", *opts, "--json", str(out / f"bench-{session.python}.json"))


@nox.session(python=False)
def freethreaded(session: nox.Session) -> None:
    """The whole suite on a free-threaded CPython (3.13t/3.14t) with
    PYTHON_GIL=0, after checking that importing every module keeps the GIL
    off (scripts/freethreaded.sh: the interpreter, the venv, which optional
    requirements install there). A machine without such an interpreter gets
    a line saying so. Posargs go to pytest."""
    session.run("bash", "scripts/freethreaded.sh", *session.posargs, external=True)


@nox.session(python=False)
def wheel_smoke(session: nox.Session) -> None:
    """The smoke subset against built wheels (paths in posargs), each in a
    fresh venv of its own interpreter where no compiler can be reached
    (scripts/wheel_smoke.sh does the same without nox)."""
    if not session.posargs:
        session.error("give the wheels: nox -s wheel_smoke -- dist/*.whl")
    for wheel in session.posargs:
        session.run("bash", "scripts/wheel_smoke.sh", wheel, external=True)
