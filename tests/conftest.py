"""Run every test on both implementations, as CPython's test_functools does.

The ``ap`` fixture is the ``admf_perf`` package: once as installed (compiled
hot paths), once as a fresh copy imported with ``ADMF_PERF_NO_EXTENSIONS=1``
(the pure-Python twins). Tests take ``ap`` and use ``ap.Cache``, ``ap.cached``
and so on, never a module-level import of the public names.
"""
from __future__ import annotations

import importlib
import math
import os
import sys
from pathlib import Path

import hypothesis
import pytest

ROOT = Path(__file__).resolve().parent.parent
#: CPython 3.13t makes every object with deferred reference counts (classes,
#: functions) immortal once a second thread has started (gh-117783; 3.14t
#: frees them again): a test that a dropped class or function is collected
#: cannot pass there once the suite has run a thread.
IMMORTAL_DEFERRED = bool(__import__("sysconfig").get_config_var("Py_GIL_DISABLED")) and sys.version_info < (3, 14)
#: Real data shared by every session and CI (never copied into the project).
SHARED_DATA = ROOT.parent / "shared" / "data"

_PACKAGE = "admf_perf"

#: ``ADMF_PERF_HYPOTHESIS_SCALE``: a factor on every property test's number of
#: examples (default 1).  CI's free-threaded pass sets 0.25: it is the second
#: interpreter over the same properties, whose full budget runs on the
#: default interpreter; its point is the thread tests, which do not scale.
try:
    HYPOTHESIS_SCALE = float(os.environ.get("ADMF_PERF_HYPOTHESIS_SCALE", "1"))
except ValueError:
    HYPOTHESIS_SCALE = math.nan
if not 0.0 < HYPOTHESIS_SCALE <= 100.0:
    raise pytest.UsageError("ADMF_PERF_HYPOTHESIS_SCALE must be a number in (0, 100], "
                            f"got {os.environ['ADMF_PERF_HYPOTHESIS_SCALE']!r}")


def examples(n: int) -> int:
    """A property test's ``max_examples``: ``n``, scaled (at least 10)."""
    return max(10, round(n * HYPOTHESIS_SCALE))


hypothesis.settings.register_profile("admf-perf", max_examples=examples(100))
hypothesis.settings.load_profile("admf-perf")


def _owned(name: str) -> bool:
    return name == _PACKAGE or name.startswith(_PACKAGE + ".")


def import_fresh_package(no_extensions: bool):
    """Import a separate copy of admf_perf, leaving sys.modules as it was.

    All submodules are imported by the package's ``__init__``, so the copy's
    modules reference each other, not the installed ones.
    """
    saved = {n: m for n, m in sys.modules.items() if _owned(n)}
    for name in saved:
        del sys.modules[name]
    old_env = os.environ.get("ADMF_PERF_NO_EXTENSIONS")
    os.environ["ADMF_PERF_NO_EXTENSIONS"] = "1" if no_extensions else "0"
    try:
        pkg = importlib.import_module(_PACKAGE)
        # Modules the package loads on first use (PEP 562) are loaded now,
        # while the copy's modules are the ones in sys.modules.
        for name in getattr(pkg, "_LAZY", ()):
            getattr(pkg, name)
        return pkg
    finally:
        if old_env is None:
            del os.environ["ADMF_PERF_NO_EXTENSIONS"]
        else:
            os.environ["ADMF_PERF_NO_EXTENSIONS"] = old_env
        for name in [n for n in sys.modules if _owned(n)]:
            del sys.modules[name]
        sys.modules.update(saved)


_packages: dict[str, object] = {}


def get_package(kind: str):
    """``"compiled"``: the installed package; ``"python"``: the twins."""
    if kind not in _packages:
        if kind == "compiled":
            _packages[kind] = importlib.import_module(_PACKAGE)
        else:
            _packages[kind] = import_fresh_package(no_extensions=True)
    return _packages[kind]


#: The two implementations; the fixtures that run a test on each one (``ap``
#: here, test_strategy's ``ours``, test_keys' ``keymod``) take both as params,
#: and the collection keeps those that the two variables below name.
ALL_IMPLS = ("compiled", "python")
IMPL_FIXTURES = ("ap", "ours", "keymod")


def _impls(variable: str, default: str) -> list[str]:
    value = os.environ.get(variable, default)
    kinds = [kind.strip() for kind in value.split(",") if kind.strip()]
    if not kinds or not set(kinds) <= set(ALL_IMPLS):
        raise pytest.UsageError(f"{variable} must name compiled, python or both, got {value!r}")
    return kinds


#: ``ADMF_PERF_TEST_IMPLS``: the implementations the tests run on, both by
#: default ("compiled" alone: tests/test_internals.py reruns its suites on the
#: compiled fallbacks, which the twins do not have).
IMPLS = _impls("ADMF_PERF_TEST_IMPLS", ",".join(ALL_IMPLS))
#: ``ADMF_PERF_TEST_THREAD_IMPLS``: the same for the tests that run threads
#: against shared objects (:data:`THREAD_MODULES`, and every test asking for
#: ``fast_switching``); by default the same as ``ADMF_PERF_TEST_IMPLS``.
#: The free-threaded pass of .ci/run runs the compiled modules everywhere and
#: the twins in these tests too: what a free-threaded build can break in a
#: pure-Python twin is its thread safety (docs/freethreading.md).
THREAD_IMPLS = _impls("ADMF_PERF_TEST_THREAD_IMPLS", ",".join(IMPLS))
THREAD_MODULES = frozenset({"test_freethreading", "test_linearizable", "test_concurrency"})


def pytest_collection_modifyitems(config, items):
    """Deselect the tests on an implementation that the variables above leave out."""
    if set(IMPLS) == set(THREAD_IMPLS) == set(ALL_IMPLS):
        return
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        kinds = {params[name] for name in IMPL_FIXTURES if name in params}
        module = getattr(item, "module", None)
        threaded = ("fast_switching" in getattr(item, "fixturenames", ())
                    or getattr(module, "__name__", "").rpartition(".")[2] in THREAD_MODULES)
        (keep if kinds <= set(THREAD_IMPLS if threaded else IMPLS) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(params=ALL_IMPLS, scope="session")
def ap(request):
    pkg = get_package(request.param)
    if request.param == "compiled" and not all(pkg.COMPILED.values()):
        pytest.skip("compiled modules not loaded (ADMF_PERF_NO_EXTENSIONS set or build missing; "
                    "tests/test_build.py fails in the latter case)")
    return pkg


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


_USER_SETUP = """
import sys
from setuptools import setup, Extension
from Cython.Build import cythonize
import admf_perf

sys.argv = ["setup.py", "build_ext", "--inplace", "-q"]
setup(ext_modules=cythonize(
    [Extension({name!r}, [{name!r} + ".pyx"], include_dirs=[admf_perf.get_include()])],
    include_path=[{site!r}], quiet=True))
"""


def _c_compiler() -> str | None:
    """The C compiler a build would use ($CC, else the interpreter's), if it
    can be run: a wheel's smoke test has none (scripts/wheel_smoke.sh)."""
    import shutil
    import sysconfig

    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "").split()
    return shutil.which(cc[0]) if cc and cc[0] not in ("false", "true") else None


def build_user_cython(pkg, where: Path, name: str, source: str) -> None:
    """Build a user's Cython module ``name`` (``source``) in ``where`` against
    the .pxd files of the installed ``pkg``, as a user would; skips where
    Cython or a C compiler is missing."""
    import subprocess
    import textwrap

    pytest.importorskip("Cython")
    if _c_compiler() is None:
        pytest.skip("no C compiler to build a user's Cython module with")
    site = os.path.dirname(os.path.dirname(pkg.__file__))
    (where / f"{name}.pyx").write_text(textwrap.dedent(source))
    (where / "setup.py").write_text(_USER_SETUP.format(name=name, site=site))
    build = subprocess.run([sys.executable, "setup.py"], cwd=where, capture_output=True, text=True,
                           timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]


def empyrical_curve_metric(name: str, r, b=None, ppy: float = 252.0, rf: float = 0.0) -> float:
    """empyrical's value of a risk calculator metric (CURVE_METRICS) on returns
    ``r`` and benchmark returns ``b``: the reference the searches rank by."""
    import empyrical
    import numpy as np

    funcs = {
        "calmar_ratio": lambda: empyrical.calmar_ratio(r, annualization=ppy),
        "omega_ratio": lambda: empyrical.omega_ratio(r, rf, annualization=ppy),
        "tail_ratio": lambda: empyrical.tail_ratio(r),
        "value_at_risk": lambda: empyrical.value_at_risk(r),
        "conditional_value_at_risk": lambda: empyrical.conditional_value_at_risk(r),
        "stability_of_timeseries": lambda: empyrical.stability_of_timeseries(r),
        "alpha": lambda: empyrical.alpha(r, b, rf, annualization=ppy),
        "beta": lambda: empyrical.beta(r, b, rf),
        "information_ratio": lambda: empyrical.excess_sharpe(r, b),
    }
    with np.errstate(all="ignore"):
        return float(funcs[name]())


@pytest.fixture
def fast_switching():
    """Threads switch every microsecond (with the GIL): races show sooner."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)
