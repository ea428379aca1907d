"""Free-threaded CPython (3.13t and later): the GIL stays off, and every
object with state is either safe to share or refuses a second thread with a
clear error (docs/freethreading.md, the table).

These run on every build: with the GIL they check the same rules under fast
thread switching; on a free-threaded build (``nox -s freethreaded``, run with
``PYTHON_GIL=0``) the threads really run at once. The cache's own hammer
tests (exact statistics, no entry lost, hostile keys, single flight) are in
test_concurrency.py, which runs there too.

No timing assertions: threads are joined with a timeout, so a deadlock fails.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import sysconfig
import threading

import numpy as np
import pytest

JOIN_TIMEOUT = 120
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
THREADS = [2, 8, 32]
MAX_APPENDS = 200_000      # a racing appender's bound: memory stays small on any machine


def run_threads(targets):
    """Start one thread per target behind a barrier; the errors each raised."""
    errors: list[list[BaseException]] = [[] for _ in targets]
    barrier = threading.Barrier(len(targets))

    def wrap(i, fn):
        def run():
            barrier.wait(JOIN_TIMEOUT)
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - returned to the test
                errors[i].append(exc)
        return run

    threads = [threading.Thread(target=wrap(i, fn), daemon=True) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "threads hung (deadlock?)"
    return errors


def raised(errors):
    return [e for errs in errors for e in errs]


@pytest.mark.skipif(not FREE_THREADED, reason="needs a free-threaded CPython (3.13t+)")
def test_importing_every_module_keeps_the_gil_off():
    code = (
        "import importlib, pkgutil, sys\n"
        "import admf_perf, admf_perf._ext as ext\n"
        "for m in pkgutil.iter_modules(ext.__path__):\n"
        "    importlib.import_module('admf_perf._ext.' + m.name)\n"
        "for m in pkgutil.walk_packages(admf_perf.__path__, 'admf_perf.'):\n"
        "    if '.bench' not in m.name and not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "print(sys._is_gil_enabled(), all(admf_perf.COMPILED.values()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"], out.stderr


# -- the cache: shared, exact --------------------------------------------------------

@pytest.mark.parametrize("n_threads", THREADS)
def test_cache_shared_by_threads_loses_nothing_and_counts_exactly(ap, fast_switching, n_threads):
    per = 400
    cache = ap.Cache(max_size=None)

    def worker(i):
        def body():
            for k in range(per):
                cache[(i, k)] = (i, k)
            for k in range(per):
                assert cache.get((i, k)) == (i, k)
                assert cache[(i, k)] == (i, k)
        return body

    assert not raised(run_threads([worker(i) for i in range(n_threads)]))
    keys = cache.keys()
    assert len(keys) == len(set(keys)) == len(cache) == n_threads * per
    assert all(cache[k] == k for k in keys)
    s = cache.stats()
    assert s.hits == 2 * n_threads * per + len(keys)    # + the check just above
    assert s.misses == 0


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "wtinylfu", "unbounded"])
def test_hits_applied_later_keep_the_twins_order_and_counts(ap, policy):
    """A free-threaded build finds most hits without the store's lock and
    applies their uses later, in time order (docs/freethreading.md, "Hits
    without the lock"): the order, the evictions and the statistics stay
    those of the twin running the same operations. Long runs of hits (more
    than a ring holds), keys of ints, strs and tuples of them (the lock-free
    kinds) and of floats (the locked kind)."""
    from conftest import get_package

    twin = get_package("python")
    rnd = random.Random(11)
    a = ap.Cache(max_size=16, strategy=policy)
    b = twin.Cache(max_size=16, strategy=policy)
    keys = [*range(24), *(str(k) for k in range(8)), *((k, str(k)) for k in range(8)), 0.5, 1.5]
    for step in range(4000):
        live = b.keys()
        k = rnd.choice(live) if live and rnd.random() < (0.98 if step % 1000 < 500 else 0.6) else rnd.choice(keys)
        if rnd.random() < 0.9:
            assert a.get(k, "absent") == b.get(k, "absent")
        else:
            a[k] = b[k] = step
        if step % 173 == 0:
            assert a.keys() == b.keys(), step
    assert a.keys() == b.keys()
    sa, sb = a.stats(), b.stats()
    assert (sa.hits, sa.misses, sa.evictions, sa.size) == (sb.hits, sb.misses, sb.evictions, sb.size)


@pytest.mark.parametrize("n_threads", [2, 8, 40])
def test_cached_hits_of_many_threads_count_exactly(ap, fast_switching, n_threads):
    """More threads than the readers' slots (16): the ones whose slot is
    taken use the lock; keys of one argument and of two (a tuple key)."""
    runs = []

    @ap.cached(max_size=64)
    def f(k, tag="x"):
        runs.append(k)
        return (k, tag)

    def body():
        for _ in range(20):
            for k in range(40):
                assert f(k) == (k, "x")
                assert f(k, str(k)) == (k, str(k))

    assert not raised(run_threads([body] * n_threads))
    info = f.cache_info()
    assert info.hits + info.misses == 2 * 20 * 40 * n_threads
    assert info.misses == len(runs)
    assert info.currsize == 64
    f.cache._check()


@pytest.mark.parametrize("n_threads", THREADS)
def test_cached_function_shared_by_threads_counts_exactly(ap, fast_switching, n_threads):
    runs = []
    keys = 50

    @ap.cached(max_size=None)
    def f(k):
        runs.append(k)
        return k * k

    def body():
        for _ in range(4):
            for k in range(keys):
                assert f(k) == k * k

    assert not raised(run_threads([body] * n_threads))
    info = f.cache_info()
    assert info.hits + info.misses == 4 * keys * n_threads
    assert info.misses == len(runs)             # every miss ran the function once
    assert info.currsize == keys
    assert sorted(set(runs)) == list(range(keys))


def test_single_flight_runs_the_body_once_per_burst(ap):
    """32 threads x 10 bursts on one new key each (cachebox #61 runs it twice)."""
    bursts, n = 10, 32
    runs = []
    gate = threading.Event()

    @ap.cached(max_size=128, single_flight=True)
    def slow(k):
        runs.append(k)
        gate.wait(JOIN_TIMEOUT)     # every thread of the burst has asked meanwhile
        return -k

    for burst in range(bursts):
        gate.clear()
        started = threading.Barrier(n + 1)
        results = []

        def body(k=burst, started=started, results=results):
            started.wait(JOIN_TIMEOUT)
            results.append(slow(k))

        threads = [threading.Thread(target=body, daemon=True) for _ in range(n)]
        for t in threads:
            t.start()
        started.wait(JOIN_TIMEOUT)
        while len(runs) < burst + 1:                # the leader is in the body
            threading.Event().wait(0.001)
        threading.Event().wait(0.01)                # the others reach the flight
        gate.set()
        for t in threads:
            t.join(JOIN_TIMEOUT)
        assert not any(t.is_alive() for t in threads)
        assert results == [-burst] * n
    assert runs == list(range(bursts))


# -- the other objects with state ----------------------------------------------------

@pytest.mark.parametrize("n_threads", [2, 8])
def test_an_indicator_shared_by_threads_steps_once_per_update(ap, fast_switching, n_threads):
    sma = ap.SMA(5)
    per = 2000

    def body():
        for _ in range(per):
            r = sma.update(2.0)
            assert r == 2.0 or np.isnan(r)

    assert not raised(run_threads([body] * n_threads))
    assert sma.count == n_threads * per
    assert sma.value == 2.0


def test_an_indicator_refuses_updates_while_another_thread_runs_its_batch(ap, fast_switching):
    ind = ap.EMA(10)
    big = np.linspace(1.0, 2.0, 2_000_000)
    ref = ap.EMA(10)
    stop = threading.Event()
    refused: set[str] = set()

    def batch():
        try:
            ind.batch(big)
        finally:
            stop.set()

    def update():
        while not stop.is_set():
            try:
                ind.update(1.5)
            except RuntimeError as exc:
                refused.add(str(exc))       # a set: the loop spins for the whole batch

    errors = run_threads([batch, update])
    assert not raised(errors)
    assert all("another thread" in m for m in refused)
    # what happened is one of the serial orders: the updates before or after the batch
    n_updates = ind.count - len(big)
    assert n_updates >= 0
    assert np.isfinite(ind.value)
    ref.batch(big)
    assert ind.count == ref.count + n_updates


def test_a_bank_refuses_a_second_thread_instead_of_racing(ap, fast_switching):
    # long enough updates that the threads overlap: the twin's steps are
    # Python code (20,000 of them an update took 130 s for the test on a
    # loaded free-threaded 3.13, past JOIN_TIMEOUT at times)
    n = 20_000 if ap.COMPILED["_indicators"] else 1_000
    bank = ap.IndicatorBank(ap.SMA, n, period=3)
    row = np.ones(n)
    done = []

    def body():
        for _ in range(200):
            try:
                bank.update(row)
                done.append(1)
            except RuntimeError as exc:
                assert "another thread" in str(exc)

    assert not raised(run_threads([body] * 4))
    # every update that returned stepped every symbol exactly once
    assert bank[0].count == len(done)
    assert bank[n - 1].count == len(done)


@pytest.mark.parametrize("n_threads", [2, 8])
def test_timeseries_appends_from_threads_lose_nothing(ap, fast_switching, n_threads):
    ts = ap.TimeSeriesArray()
    per = 3000

    def body():
        for _ in range(per):
            ts.append(1_000, 1.0)       # equal timestamps are in order

    assert not raised(run_threads([body] * n_threads))
    assert len(ts) == n_threads * per
    assert float(ts.values.sum()) == n_threads * per


def test_object_pool_shared_by_threads(ap, fast_switching):
    made = []

    def factory():
        made.append(1)
        return []

    pool = ap.ObjectPool(factory, max_size=8)

    def body():
        for _ in range(2000):
            obj = pool.acquire()
            obj.append(1)
            obj.clear()
            pool.release(obj)

    assert not raised(run_threads([body] * 8))
    s = pool.stats()
    assert s["in_use"] == 0 if isinstance(s, dict) else True
    assert len(made) <= 8 + 8                     # at most one per thread past the idle ones


def test_risk_calculator_shared_by_threads_counts_every_update(ap, fast_switching):
    calc = ap.CachingRiskCalculator()
    per = 2000

    def body():
        for _ in range(per):
            calc.update(100.0)

    assert not raised(run_threads([body] * 4))
    assert calc.count == 4 * per - 1             # the first equity starts the curve


def test_a_composed_indicator_shared_by_threads(ap, fast_switching):
    """EMA of an RSI (``source=``): peek works, and updates from threads step
    both exactly once each."""
    ind = ap.EMA(4, source=ap.RSI(5))
    ref = ap.EMA(4, source=ap.RSI(5))
    xs = [100.0 + (i % 7) for i in range(40)]
    for x in xs:
        ind.update(x)
        ref.update(x)
    assert ind.peek(101.5) == ref.peek(101.5)
    per = 500

    def body():
        for _ in range(per):
            ind.update(101.0)

    assert not raised(run_threads([body] * 4))
    assert ind.count == len(xs) + 4 * per
    assert ind.source.count == len(xs) + 4 * per
    for _ in range(4 * per):
        ref.update(101.0)
    assert ind.value == ref.value


def test_cache_stats_polled_while_threads_write(ap, fast_switching):
    """``stats()`` purges expired entries of a measured TTL cache: it runs
    under the store's lock like every other operation."""
    clock = [0.0]
    cache = ap.Cache(max_size=64, ttl=1.0, max_bytes=10_000, timer=lambda: clock[0])
    stop = threading.Event()

    def writer():
        for i in range(3000):
            cache[i % 200] = i
            clock[0] += 0.01

    def poller():
        while not stop.is_set():
            cache.stats()

    t = threading.Thread(target=poller, daemon=True)
    t.start()
    try:
        assert not raised(run_threads([writer] * 3))
    finally:
        stop.set()
        t.join(JOIN_TIMEOUT)
    cache._check()
    assert cache.stats().size == len(cache.keys())


def test_risk_metrics_read_while_another_thread_updates(ap, fast_switching):
    calc = ap.CachingRiskCalculator()
    equity = 100.0 * np.cumprod(1.0 + np.random.default_rng(7).normal(0.0005, 0.01, 4000))
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            calc.sharpe_ratio()
            calc.max_drawdown()
            calc.value_at_risk()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        for e in equity:
            calc.update(float(e))
    finally:
        stop.set()
        t.join(JOIN_TIMEOUT)
    ref = ap.CachingRiskCalculator()
    for e in equity:
        ref.update(float(e))
    assert calc.count == ref.count
    assert calc.sharpe_ratio() == ref.sharpe_ratio()
    assert calc.max_drawdown() == ref.max_drawdown()
    assert calc.value_at_risk() == ref.value_at_risk()


def test_timeseries_pickled_while_another_thread_appends(ap, fast_switching):
    ts = ap.TimeSeriesArray()
    stop = threading.Event()

    def appender():
        # bounded: each copy below is O(len), so an unbounded appender grows
        # the series (and the test's memory) without limit on a slow machine
        for i in range(MAX_APPENDS):
            if stop.is_set():
                break
            ts.append(i, float(i))

    t = threading.Thread(target=appender, daemon=True)
    t.start()
    try:
        for _ in range(200):
            cls, args, state = ts.__reduce__()     # what pickle stores (the twin's class
            copy = cls(*args)                       # is a fresh copy's: not picklable by name)
            copy.__setstate__(state)
            assert len(copy.timestamps) == len(copy.values)
            assert np.array_equal(copy.timestamps, copy.values.astype(np.int64))
    finally:
        stop.set()
        t.join(JOIN_TIMEOUT)
