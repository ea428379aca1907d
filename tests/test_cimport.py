"""Every compiled module ships its declarations: a .pyi for Python (checked
against the module by stubtest in test_build.py) and a .pxd for Cython. A
user's module built against the .pxd files sees the same objects and gets the
same results as Python does (the indicators' C entry point has its own test in
test_indicators_compiled.py)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from conftest import build_user_cython, get_package


@pytest.fixture
def compiled():
    pkg = get_package("compiled")
    if not all(pkg.COMPILED.values()):
        pytest.skip("the compiled modules are not built")
    return pkg


def _compiled_modules(pkg) -> list[str]:
    """The extension modules installed in ``admf_perf._ext``."""
    ext = Path(pkg._ext.__file__).parent
    names = set()
    for p in ext.iterdir():
        # a module's name has no dot: what follows the first is the suffix,
        # this interpreter's or another's built in place beside it (3.13t's)
        if p.name.endswith(tuple(EXTENSION_SUFFIXES)):
            names.add(p.name.split(".", 1)[0])
    return sorted(names)


def test_every_compiled_module_ships_pyx_pxd_and_pyi(compiled):
    ext = Path(compiled._ext.__file__).parent
    modules = _compiled_modules(compiled)
    assert {"_cache", "_keys", "_indicators", "_pool", "_risk", "_timeseries", "_bench"} <= set(modules)
    missing = [f"{m}{suffix}" for m in modules for suffix in (".pyx", ".pxd", ".pyi")
               if not (ext / f"{m}{suffix}").is_file()]
    assert not missing, f"not shipped: {missing}"
    assert (Path(compiled.__file__).parent / "py.typed").is_file()


USER_PYX = """
# cython: language_level=3
from admf_perf._ext._cache cimport CacheCore, CachedFunction
from admf_perf._ext._keys cimport _digest_buffer, _digest_raw, _generate_key
from admf_perf._ext._pool cimport PoolCore
from admf_perf._ext._risk cimport PositionCore, RiskCore
from admf_perf._ext._timeseries cimport TimeSeriesArray

def key(args, kwargs, bint include_self):
    return _generate_key(args, kwargs, include_self)

def digest(bytes b):
    cdef unsigned char out[16]
    _digest_raw(<const unsigned char*>b, len(b), out)
    return _digest_buffer(b), (<char*>out)[:16]

def typed(cache, fn, pool, risk, tracker, ts):
    # each assignment checks the type, as Cython does for a cimported class
    cdef CacheCore c = cache
    cdef CachedFunction f = fn
    cdef PoolCore p = pool
    cdef RiskCore r = risk
    cdef PositionCore t = tracker
    cdef TimeSeriesArray s = ts
    return True
"""


def test_user_cython_cimports_every_pxd(compiled, tmp_path):
    build_user_cython(compiled, tmp_path, "user_decls", USER_PYX)
    check = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import admf_perf as ap, user_decls
        from admf_perf._ext import _keys
        for args, kwargs, self_ in [((1, 2.5, "a"), {{"b": 1, "a": [1, 2]}}, True),
                                    ((object(), 3), None, False), ((), {{}}, True)]:
            assert user_decls.key(args, kwargs, self_) == _keys.generate_key(args, kwargs, self_)
        b = bytes(range(77))
        whole, raw = user_decls.digest(b)
        assert whole == raw == _keys.digest(b), (whole, raw)
        objs = [ap.Cache(max_size=4), ap.cached(max_size=4)(abs), ap.ObjectPool(list),
                ap.CachingRiskCalculator(), ap.IncrementalPositionTracker(), ap.TimeSeriesArray()]
        assert user_decls.typed(*objs)
        for i in range(len(objs)):
            wrong = list(objs)
            wrong[i] = object()
            try:
                user_decls.typed(*wrong)
            except TypeError:
                pass
            else:
                raise AssertionError(f"argument {{i}} was not type-checked")
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr
