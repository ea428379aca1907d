"""The compiled hot paths are the ones loaded by default."""
import os

import pytest

from conftest import get_package

EXPECTED = {"_cache", "_keys", "_indicators", "_pool", "_risk", "_timeseries"}


@pytest.mark.skipif(
    os.environ.get("ADMF_PERF_NO_EXTENSIONS", "").strip() not in ("", "0"),
    reason="pure-Python twins requested",
)
def test_compiled_modules_loaded_by_default():
    pkg = get_package("compiled")
    assert EXPECTED <= set(pkg.COMPILED), pkg.COMPILED
    missing = [name for name, compiled in pkg.COMPILED.items() if not compiled]
    assert not missing, f"compiled modules silently not loaded: {missing}"


def test_twins_selected_by_environment():
    pkg = get_package("python")
    assert EXPECTED <= set(pkg.COMPILED)
    assert not any(pkg.COMPILED.values()), pkg.COMPILED


def test_stubs_match_the_compiled_modules():
    """Every compiled module's .pyi agrees with it (mypy's stubtest, as pandas does)."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("mypy.stubtest")
    import pkgutil

    pkg = get_package("compiled")
    if not any(pkg.COMPILED.values()):
        pytest.skip("compiled modules not loaded")
    # every compiled module, also those loaded only on demand (``_bench``)
    compiled = sorted(f"admf_perf._ext.{m.name}" for m in pkgutil.iter_modules(pkg._ext.__path__)
                      if m.name.startswith("_") and not m.name.endswith("_py") and m.name != "_types")
    assert "admf_perf._ext._bench" in compiled and "admf_perf._ext._cache" in compiled, compiled
    allowlist = Path(__file__).resolve().parent.parent / "scripts" / "stubtest_allowlist.txt"
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", *compiled, "--allowlist", str(allowlist),
         "--ignore-disjoint-bases"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_missing_build_warns_once_and_falls_back():
    """A compiled module that cannot be imported: the twin, and one warning."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import importlib.abc, sys, warnings

        class NoCompiled(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                prefix = "admf_perf._ext._"
                if name.startswith(prefix) and not name.endswith(("_py", "_types")):
                    raise ImportError(f"simulated missing build of {name}")
                return None

        sys.meta_path.insert(0, NoCompiled())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import admf_perf
        runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        assert len(runtime) == 1, [str(w.message) for w in runtime]
        assert "pure-Python" in str(runtime[0].message)
        assert admf_perf.COMPILED and not any(admf_perf.COMPILED.values()), admf_perf.COMPILED
        assert admf_perf.cached(lambda x: x * 2)(21) == 42
    """)
    env = {k: v for k, v in os.environ.items() if k != "ADMF_PERF_NO_EXTENSIONS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr


def test_import_does_not_load_pandas_until_needed():
    """``import admf_perf`` stays light; the pandas-backed names load on first use."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import admf_perf
        assert "pandas" not in sys.modules, "import admf_perf imported pandas"
        assert "load_csv" in dir(admf_perf) and "backtest" in dir(admf_perf)
        from admf_perf import load_csv
        assert "pandas" in sys.modules
        assert admf_perf.resources.load_csv is load_csv is admf_perf.frames.load_csv
        assert all(hasattr(admf_perf, name) for name in admf_perf.__all__)
        try:
            admf_perf.no_such_name
        except AttributeError as exc:
            assert "no_such_name" in str(exc)
        else:
            raise AssertionError("no AttributeError")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


_UNINITIALIZED = r'''
import importlib, pkgutil, sys
import admf_perf._ext as ext

ARGS = [(), (1,), (1.5,), ("a",), (1, 2), (1, 2.0), (1.0, 2.0, 3.0), (1.0, 2.0, 3.0, 4.0)]
DUNDERS = {"__call__", "__len__", "__iter__", "__next__", "__getitem__", "__setitem__", "__delitem__",
           "__contains__", "__repr__", "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__",
           "__copy__", "__deepcopy__", "__sizeof__", "__array__", "__eq__", "__hash__", "__get__",
           "__enter__", "__exit__"}
tried = 0
for m in pkgutil.iter_modules(ext.__path__):
    if m.name.endswith("_py") or m.name in ("_types", "_indicator_state"):
        continue
    mod = importlib.import_module("admf_perf._ext." + m.name)
    for T in list(vars(mod).values()):
        if not isinstance(T, type) or T.__module__ != mod.__name__:
            continue
        try:
            obj = T.__new__(T)
        except Exception:
            continue
        for name in dir(T):
            if name.startswith("__") and name not in DUNDERS:
                continue
            try:
                attr = getattr(obj, name)
            except Exception:
                continue
            if not callable(attr):
                continue
            for args in ARGS:
                print(f"{T.__module__}.{T.__name__}.{name}{args}", file=sys.stderr, flush=True)
                tried += 1
                try:
                    attr(*args)
                except BaseException:
                    pass
print(tried)
'''


@pytest.mark.skipif(
    os.environ.get("ADMF_PERF_NO_EXTENSIONS", "").strip() not in ("", "0"),
    reason="pure-Python twins requested",
)
def test_compiled_objects_made_by_new_alone_never_crash():
    """Every compiled type made by ``T.__new__(T)`` (no ``__init__``), each of
    its methods called with a few argument shapes: errors, never a crash (in
    a child process; the last call it printed names a crash)."""
    import subprocess
    import sys

    pkg = get_package("compiled")
    if not all(pkg.COMPILED.values()):
        pytest.skip("compiled modules not loaded")
    result = subprocess.run([sys.executable, "-c", _UNINITIALIZED], capture_output=True, text=True,
                            timeout=600)
    last = result.stderr.strip().splitlines()[-1:] if result.stderr.strip() else []
    assert result.returncode == 0, f"exit {result.returncode} after {last}"
    assert int(result.stdout) > 1000, result.stdout
