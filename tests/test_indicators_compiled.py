"""What only the compiled indicators have: a C entry point for user Cython
code (``cimport``), and batches that run without the GIL while the indicator
refuses every other call."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from conftest import build_user_cython, get_package


@pytest.fixture
def compiled():
    pkg = get_package("compiled")
    if not pkg.COMPILED.get("_indicators"):
        pytest.skip("the compiled indicators are not built")
    return pkg


USER_PYX = """
# cython: language_level=3
from admf_perf._ext._indicators cimport ATR, MACD, SMA

def run(double[:] h, double[:] l, double[:] c):
    cdef SMA sma = SMA(5)
    cdef ATR atr = ATR(3)
    cdef MACD macd = MACD(3, 6, 2)
    cdef Py_ssize_t i
    cdef double s = 0.0, a = 0.0, m = 0.0
    for i in range(c.shape[0]):
        s = sma.update_raw(c[i])
        a = atr.update_raw(h[i], l[i], c[i])
        m = macd.update_raw(c[i])
    return s, a, m, macd.value, sma.count

def bad(double x):
    cdef SMA sma = SMA(5)
    return sma.update_raw(x)
"""

def test_user_cython_cimports_the_indicators(compiled, tmp_path):
    """A strategy compiled against admf_perf's .pxd calls update_raw as C
    and gets what update gives."""
    build_user_cython(compiled, tmp_path, "user_strategy", USER_PYX)
    rng = np.random.default_rng(3)
    c = 100 + np.cumsum(rng.normal(size=300))
    h, l = c + rng.random(300), c - rng.random(300)
    check = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(tmp_path)!r})
        import admf_perf as ap, user_strategy
        c = np.array({c.tolist()!r}); h = np.array({h.tolist()!r}); l = np.array({l.tolist()!r})
        s, a, m, macd, count = user_strategy.run(h, l, c)
        assert s == ap.SMA(5).batch(c)[-1] and count == 300
        assert a == ap.ATR(3).batch(h, l, c)[-1]
        want = ap.MACD(3, 6, 2).batch(c)
        assert m == want[0][-1] and macd == tuple(w[-1] for w in want)
        try:
            user_strategy.bad(float("nan"))
        except ValueError as exc:
            assert "SMA" in str(exc) and "x" in str(exc)
        else:
            raise AssertionError("a NaN went through update_raw")
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr


def test_batch_in_another_thread_is_never_raced(compiled):
    """While a batch runs without the GIL, update, peek, batch, reset, copy
    and pickling refuse with RuntimeError; afterwards the state is exactly the
    batch's, followed by whatever calls succeeded once it had finished."""
    x = 100 + np.cumsum(np.random.default_rng(4).normal(size=20_000_000))
    calls = {
        "update": lambda ind: ind.update(1.0), "peek": lambda ind: ind.peek(1.0),
        "batch": lambda ind: ind.batch(x[:3]), "reset": lambda ind: ind.reset(),
        "copy": lambda ind: ind.copy(), "pickle": lambda ind: ind.__reduce__(),
    }
    refused: set[str] = set()
    # each attempt a race that a loaded machine can lose (this thread not run
    # while the batch is): attempts until every call was seen refusing
    for _attempt in range(100):
        ind = compiled.SMA(20)
        done = threading.Event()
        t = threading.Thread(target=lambda ind=ind, done=done: (ind.batch(x), done.set()))
        t.start()
        busy = False
        while not done.is_set() and not busy:       # peek changes nothing: safe before the batch starts
            try:
                ind.peek(1.0)
            except RuntimeError:
                busy = True
        succeeded = []
        while busy and not done.is_set() and refused != set(calls):
            for name, call in calls.items():
                try:
                    call(ind)
                except RuntimeError as exc:
                    assert "another thread" in str(exc)
                    refused.add(name)
                else:                                # only once the batch has finished
                    succeeded.append(name)
        t.join()
        ref = compiled.SMA(20)
        ref.batch(x)
        for name in succeeded:
            calls[name](ref)
        assert ind.count == ref.count and ind.__getstate__()[3] == ref.__getstate__()[3]
        assert np.array_equal(ind.batch(x[:100]), ref.batch(x[:100]), equal_nan=True)
        if refused == set(calls):
            break
    assert refused == set(calls), f"not seen refusing: {set(calls) - refused}"
