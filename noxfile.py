"""The suite on every supported CPython found on this machine (docs/install.md).

    nox                      # "tests" on each interpreter found, "smoke" too
    nox -s tests             # the README's test command, per interpreter
    nox -s smoke             # the smoke subset, per interpreter
    nox -s smoke-3.12        # one interpreter
    nox -s wheel_smoke -- dist/admf_perf-0.1.0-cp312-cp312-manylinux*.whl

Interpreters: CPython 3.11 to 3.14 (``SUPPORTED``), found on PATH as
``python3.X`` or in pyenv's versions directory (pyenv's shims only answer for
the active version, so its installs are put on PATH here). An interpreter the
machine lacks is skipped, with nox's line saying so.

The smoke subset is ``scripts/smoke.py`` (import, every module compiled, one
test module per area, ``admf-perf optimize``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import nox

#: CPython versions this package supports (pyproject.toml: requires-python).
SUPPORTED = ("3.11", "3.12", "3.13", "3.14")

nox.options.sessions = ["tests", "smoke"]
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = False


def _pyenv_bins() -> list[str]:
    """pyenv's CPython installs of the supported versions (newest patch first)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if not root.is_dir():
        return []
    found: dict[str, tuple[tuple[int, ...], Path]] = {}
    for d in root.iterdir():
        m = re.fullmatch(r"(3\.\d+)\.(\d+)", d.name)
        if m and m.group(1) in SUPPORTED and (d / "bin" / f"python{m.group(1)}").exists():
            key = tuple(int(p) for p in d.name.split("."))
            if m.group(1) not in found or key > found[m.group(1)][0]:
                found[m.group(1)] = (key, d / "bin")
    return [str(b) for _, b in sorted(found.values(), reverse=True)]


os.environ["PATH"] = os.pathsep.join([*_pyenv_bins(), os.environ.get("PATH", "")])


@nox.session(python=list(SUPPORTED))
def tests(session: nox.Session) -> None:
    """The README's test command: install with the test extra (compiles the
    Cython), then the whole suite."""
    session.install(".[test]")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=list(SUPPORTED))
def smoke(session: nox.Session) -> None:
    """Install from source with the test extra, then the smoke subset."""
    session.install(".[test]")
    session.run("python", "scripts/smoke.py", *session.posargs)


@nox.session(python=False)
def wheel_smoke(session: nox.Session) -> None:
    """The smoke subset against built wheels (paths in posargs), each in a
    fresh venv of its own interpreter where no compiler can be reached
    (scripts/wheel_smoke.sh does the same without nox)."""
    if not session.posargs:
        session.error("give the wheels: nox -s wheel_smoke -- dist/*.whl")
    for wheel in session.posargs:
        session.run("bash", "scripts/wheel_smoke.sh", wheel, external=True)
