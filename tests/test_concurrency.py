"""Threads, reentrancy and hostile keys/values (DESIGN.md: "Thread-safe";
docs/caching.md: "Thread safety and reentrancy", ``cached`` single flight and
coroutines).

No timing assertions: threads are joined with a timeout so that a deadlock
fails the test instead of hanging it.
"""
from __future__ import annotations

import asyncio
import gc
import inspect
import random
import sys
import threading
import time

import pytest

N_THREADS = 8
JOIN_TIMEOUT = 60
POLICIES = ["lru", "lfu", "fifo", "tlru", "unbounded", "wtinylfu"]


def run_threads(targets, timeout=JOIN_TIMEOUT):
    """Start one thread per target behind a barrier; re-raise the first error."""
    errors = []
    barrier = threading.Barrier(len(targets))

    def wrap(fn):
        def run():
            try:
                barrier.wait(timeout)
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "threads hung (deadlock?)"
    if errors:
        raise errors[0]


class Clock:
    """A shared fake timer that the threads advance (monotonic under a lock)."""

    def __init__(self):
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self):
        return self.now

    def advance(self, dt):
        with self._lock:
            self.now += dt


# -- 8 threads hammering one Cache ---------------------------------------------

@pytest.mark.parametrize("ttl", [None, 5.0, "real"], ids=["no-ttl", "ttl", "ttl-real-clock"])
@pytest.mark.parametrize("policy", POLICIES)
def test_hammer_cache_exact_counts(ap, fast_switching, policy, ttl):
    clock = Clock()
    max_size = 16
    if ttl == "real":  # the default clock, a ttl short enough to expire entries
        ttl = 0.002
        cache = ap.Cache(max_size=max_size, strategy=policy, ttl=ttl)
    else:
        cache = ap.Cache(max_size=max_size, strategy=policy, ttl=ttl, timer=clock)
    ops_per_thread = 3000
    counts = [[0, 0] for _ in range(N_THREADS)]  # per thread: hits, misses
    missing = object()

    def worker(i):
        rnd = random.Random(i)
        mine = counts[i]

        def body():
            for _ in range(ops_per_thread):
                k = rnd.randrange(40)
                op = rnd.random()
                if op < 0.35:
                    v = cache.get(k, missing)
                    if v is missing:
                        mine[1] += 1
                    else:
                        assert v[0] == k, (k, v)
                        mine[0] += 1
                elif op < 0.45:
                    try:
                        v = cache[k]
                    except KeyError:
                        mine[1] += 1
                    else:
                        assert v[0] == k, (k, v)
                        mine[0] += 1
                elif op < 0.75:
                    cache.set(k, (k, i))
                elif op < 0.80:
                    try:
                        del cache[k]
                    except KeyError:
                        pass
                elif op < 0.84:
                    v = cache.pop(k, missing)
                    assert v is missing or v[0] == k
                elif op < 0.87:
                    assert cache.invalidate(key=k) in (0, 1)
                elif op < 0.88:
                    cache.invalidate(pattern=f"{rnd.randrange(10)}*")
                elif op < 0.885:
                    cache.clear()
                elif op < 0.92:
                    _ = k in cache
                    e = cache.entry(k)
                    assert e is None or e.value[0] == k
                elif op < 0.95:
                    snap = cache.items()
                    assert len(snap) <= max_size or policy == "unbounded"
                    assert all(key == v[0] for key, v in snap)
                elif op < 0.97:
                    assert len(cache) >= 0
                    cache.stats()
                else:
                    clock.advance(rnd.choice([0.5, 1.0, 2.0]))
                    if ttl is not None and rnd.random() < 0.3:
                        cache.expire()
        return body

    run_threads([worker(i) for i in range(N_THREADS)])
    cache._check()
    if ttl == 0.002:
        # With the real clock, entries expire between any two calls below on
        # a loaded machine: let every one of them expire first.
        time.sleep(2 * ttl)
    s = cache.stats()
    assert s.hits == sum(c[0] for c in counts)
    assert s.misses == sum(c[1] for c in counts)
    assert s.hits + s.misses > 0
    assert s.size == len(cache) == len(cache.keys())
    if policy != "unbounded":
        assert s.size <= max_size
    for key, value in cache.items():
        assert value[0] == key


@pytest.mark.parametrize("ttl", [None, 0.002], ids=["no-ttl", "ttl"])
@pytest.mark.parametrize("policy", POLICIES)
def test_hammer_cached_function_exact_counts(ap, fast_switching, policy, ttl):
    runs = []  # list.append is atomic
    total_calls = [0] * N_THREADS

    @ap.cached(max_size=12, strategy=policy, ttl=ttl)
    def f(k):
        runs.append(k)
        return (k, k * k)

    def worker(i):
        rnd = random.Random(100 + i)

        def body():
            for _ in range(3000):
                k = rnd.randrange(30)
                r = rnd.random()
                if r < 0.04:
                    f.cache.invalidate(key=k)
                    continue
                if r < 0.06:
                    f.cache.pop(k, None)
                    continue
                if r < 0.07:
                    try:
                        del f.cache[k]
                    except KeyError:
                        pass
                    continue
                if r < 0.072:
                    f.cache.clear()  # entries only: the statistics are kept
                    continue
                assert f(k) == (k, k * k)
                total_calls[i] += 1
        return body

    run_threads([worker(i) for i in range(N_THREADS)])
    info = f.cache_info()
    f.cache._check()
    # without single_flight every miss runs the function exactly once
    assert info.misses == len(runs)
    assert info.hits + info.misses == sum(total_calls)
    assert info.currsize <= (30 if policy == "unbounded" else 12)


def test_hammer_cached_function_max_size_zero(ap, fast_switching):
    # max_size=0 counts every call as a miss: none may be lost under contention.
    runs = []

    @ap.cached(max_size=0)
    def f(k):
        runs.append(k)
        return k

    def body():
        for k in range(3000):
            f(k)

    run_threads([body] * N_THREADS)
    assert len(runs) == 3000 * N_THREADS
    assert f.cache_info() == (0, 3000 * N_THREADS, 0, 0)


def test_hammer_single_flight_cached_function(ap, fast_switching):
    runs = []
    total = [0] * N_THREADS

    @ap.cached(max_size=8, single_flight=True)
    def f(k):
        runs.append(k)
        return -k

    def worker(i):
        rnd = random.Random(200 + i)

        def body():
            for _ in range(1500):
                k = rnd.randrange(20)
                assert f(k) == -k
                total[i] += 1
        return body

    run_threads([worker(i) for i in range(N_THREADS)])
    info = f.cache_info()
    assert info.hits + info.misses == sum(total)
    assert len(runs) <= info.misses
    f.cache._check()


# -- keys whose __hash__ / __eq__ run Python code that touches the cache ------------

class Hostile:
    """A key whose __hash__/__eq__ mutate the cache it is used with."""

    cache = None
    rnd = random.Random(0)
    active = False
    lookups = 0  # get() calls made by _meddle (each counts a hit or a miss)

    def __init__(self, v, h=None):
        self.v = v
        self.h = v % 3 if h is None else h  # few hash values: many __eq__ calls

    def _meddle(self):
        c = Hostile.cache
        if c is None or not Hostile.active:
            return
        Hostile.active = False  # no unbounded recursion
        try:
            r = Hostile.rnd.random()
            k = Hostile.rnd.randrange(12)
            if r < 0.3:
                c[k] = ("meddled", k)
            elif r < 0.45:
                c.set(Hostile(k), ("meddled", k))
            elif r < 0.6:
                c.pop(k, None)
            elif r < 0.7:
                c.pop(Hostile(k), None)
            elif r < 0.8:
                Hostile.lookups += 1
                c.get(Hostile(k))
            elif r < 0.85:
                c.clear()
            elif r < 0.9:
                c.invalidate(pattern="*")
            else:
                list(c.items())
        finally:
            Hostile.active = True

    def __hash__(self):
        self._meddle()
        return self.h

    def __eq__(self, other):
        self._meddle()
        return isinstance(other, Hostile) and self.v == other.v

    def __repr__(self):
        return f"Hostile({self.v})"


@pytest.mark.parametrize("timer", [True, False], ids=["timer", "clock"])
@pytest.mark.parametrize("ttl", [None, 3.0], ids=["no-ttl", "ttl"])
@pytest.mark.parametrize("policy", POLICIES)
def test_keys_mutating_the_cache(ap, policy, ttl, timer):
    """Without ttl or timer, writes take the compiled store's in-place
    overwrite path; with either, the general one."""
    clock = Clock()
    cache = ap.Cache(max_size=6, strategy=policy, ttl=ttl, timer=clock if timer else None)
    exact = all(ap.COMPILED.values())    # the compiled table never holds two equal keys
    rnd = random.Random(7)
    Hostile.cache, Hostile.rnd = cache, random.Random(8)
    Hostile.active = True
    try:
        for step in range(3000):
            k = Hostile(rnd.randrange(12)) if rnd.random() < 0.7 else rnd.randrange(12)
            op = rnd.randrange(10)
            if op in (0, 1):
                if op == 0:
                    cache.set(k, ("v", step))
                else:
                    cache[k] = ("v", step)
                if exact and policy != "unbounded":
                    Hostile.active = False
                    assert cache.entry(k).value == ("v", step)   # the write is the last word
                    Hostile.active = True
            elif op == 2:
                cache.get(k)
            elif op == 3:
                try:
                    cache[k]
                except KeyError:
                    pass
            elif op == 4:
                try:
                    del cache[k]
                except KeyError:
                    pass
            elif op == 5:
                cache.pop(k, None)
            elif op == 6:
                _ = k in cache
                cache.entry(k)
            elif op == 7:
                cache.invalidate(key=k)
            elif op == 8:
                clock.advance(1.0)
                list(cache)
            else:
                cache.items()
                len(cache)
            Hostile.active = False
            # Structural invariants only: when a key's __eq__ mutates the store
            # during a dict operation, a plain dict can end up holding two equal
            # keys (tested below), and so can the store's dict.
            cache._check(strict=False)
            s = cache.stats()
            assert s.size == len(cache.keys())
            if policy != "unbounded":
                assert s.size <= 6
            Hostile.active = True
    finally:
        Hostile.active = False
        Hostile.cache = None
    cache._check(strict=False)
    # still a working cache, consistent again once cleared
    cache.clear()
    cache["x"] = 1
    assert cache["x"] == 1 and cache.keys() == ["x"]
    cache._check()


def test_keys_mutating_a_cached_function(ap):
    @ap.cached(max_size=5)
    def f(x):
        return ("r", x.v if isinstance(x, Hostile) else x)

    rnd = random.Random(3)
    Hostile.cache, Hostile.rnd = f.cache, random.Random(4)
    Hostile.lookups = 0
    Hostile.active = True
    try:
        for _ in range(2000):
            v = rnd.randrange(10)
            assert f(Hostile(v)) == ("r", v)
            Hostile.active = False
            f.cache._check(strict=False)  # see test_keys_mutating_the_cache
            Hostile.active = True
    finally:
        Hostile.active = False
        Hostile.cache = None
    f.cache._check(strict=False)
    info = f.cache_info()
    assert Hostile.lookups > 0
    assert info.hits + info.misses == 2000 + Hostile.lookups


class Boom(Exception):
    pass


class Raising:
    """A key whose __hash__ or __eq__ raises a given exception object."""

    def __init__(self, v, h, error, where):
        self.v, self.h, self.error, self.where = v, h, error, where

    def __hash__(self):
        if self.where == "hash":
            raise self.error
        return self.h

    def __eq__(self, other):
        if self.where == "eq":
            raise self.error
        return isinstance(other, Raising) and self.v == other.v


@pytest.mark.parametrize("ttl", [None, 3.0], ids=["no-ttl", "ttl"])
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("where", ["hash", "eq"])
def test_exceptions_from_keys_propagate_unchanged(ap, policy, ttl, where):
    clock = Clock()
    cache = ap.Cache(max_size=3, strategy=policy, ttl=ttl, timer=clock)
    # A stored key with the probe's hash: a lookup compares the two, and the
    # dict calls the stored key's __eq__ first, so it raises too (when armed).
    stored = Raising(1, 42, None, None)
    cache[stored] = "stored"
    cache["other"] = "o"
    missing = object()

    ops = {
        "get": lambda k: cache.get(k),
        "get_default": lambda k: cache.get(k, missing),
        "getitem": lambda k: cache[k],
        "set": lambda k: cache.set(k, 1),
        "setitem": lambda k: cache.__setitem__(k, 1),
        "delitem": lambda k: cache.__delitem__(k),
        "contains": lambda k: k in cache,
        "pop": lambda k: cache.pop(k, None),
        "invalidate": lambda k: cache.invalidate(key=k),
        "entry": lambda k: cache.entry(k),
    }
    before = cache.stats()
    for name, op in ops.items():
        error = Boom(f"{where} in {name}")
        if where == "eq":
            stored.error, stored.where = error, "eq"
        try:
            with pytest.raises(Boom) as info:
                op(Raising(2, 42, error, where))
        finally:
            stored.error, stored.where = None, None
        assert info.value is error, name
        cache._check()
        assert dict(cache.items()) == {stored: "stored", "other": "o"}, name
    after = cache.stats()
    assert (after.evictions, after.expirations) == (before.evictions, before.expirations)
    # still usable
    cache["new"] = 3
    assert cache.get(stored) == "stored" and cache["new"] == 3
    cache._check()


@pytest.mark.parametrize("where", ["hash", "eq"])
def test_exceptions_from_keys_propagate_from_cached(ap, where):
    calls = []

    @ap.cached(max_size=4)
    def f(x, y=0):
        calls.append(x)
        return "r"

    stored = Raising(1, 42, None, None)
    f(stored, 5)  # a same-hash key to compare against
    error = Boom(where)
    if where == "eq":
        stored.error, stored.where = error, "eq"
    try:
        with pytest.raises(Boom) as info:
            f(Raising(2, 42, error, where), 5)
    finally:
        stored.error, stored.where = None, None
    assert info.value is error
    assert len(calls) == 1  # the function never ran for the failing call
    f.cache._check()
    assert f(stored, 5) == "r"
    assert f.cache_info()[:2] == (1, 1)


def test_timer_exception_propagates(ap):
    error = Boom("timer")
    state = {"fail": False}

    def timer():
        if state["fail"]:
            raise error
        return 0.0

    cache = ap.Cache(max_size=2, ttl=1.0, timer=timer)
    cache["a"] = 1
    state["fail"] = True
    for op in (lambda: cache.set("b", 2), lambda: cache.get("a"), lambda: cache["a"]):
        with pytest.raises(Boom) as info:
            op()
        assert info.value is error
        cache._check()
    state["fail"] = False
    assert cache.items() == [("a", 1)]


# -- values whose __del__ mutates the cache --------------------------------------

@pytest.mark.parametrize("ttl", [None, 2.0], ids=["no-ttl", "ttl"])
@pytest.mark.parametrize("policy", POLICIES)
def test_values_whose_del_mutates_the_cache(ap, policy, ttl):
    clock = Clock()
    cache = ap.Cache(max_size=4, strategy=policy, ttl=ttl, timer=clock)
    errors = []
    rnd = random.Random(11)

    class Value:
        def __init__(self, tag):
            self.tag = tag

        def __del__(self):
            try:
                r = rnd.random()
                k = rnd.randrange(8)
                if r < 0.4:
                    cache[("del", k)] = k  # plain values: no chain reaction
                elif r < 0.6:
                    cache.pop(k, None)
                elif r < 0.7:
                    cache.clear()
                elif r < 0.85:
                    cache.get(k)
                else:
                    cache.items()
                cache._check()
            except BaseException as exc:  # noqa: BLE001 - __del__ cannot raise
                errors.append(exc)

    for step in range(3000):
        k = rnd.randrange(8)
        op = rnd.randrange(8)
        if op < 3:
            cache[k] = Value(step)  # overwrite / eviction drops a Value
        elif op == 3:
            cache.pop(k, None)
        elif op == 4:
            try:
                del cache[k]
            except KeyError:
                pass
        elif op == 5:
            cache.invalidate(pattern=f"{k}*")
        elif op == 6:
            clock.advance(1.0)
            cache.get(k)
        else:
            if rnd.random() < 0.2:
                cache.clear()
            else:
                cache.expire()
        cache._check()
        assert not errors, errors[0]
    cache.clear()
    gc.collect()
    cache._check()
    assert not errors, errors[0]


# -- single flight ---------------------------------------------------------------

def _wait_for(predicate, timeout=30.0):
    """Poll until predicate() (a synchronisation helper, not an assertion on time)."""
    done = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if predicate():
            return True
        done.wait(0.005)
    return predicate()


def _all_waiting(threads):
    """Every thread is blocked in a ``wait`` (an Event's or a Condition's)."""
    frames = sys._current_frames()
    for t in threads:
        frame = frames.get(t.ident)
        while frame is not None and frame.f_code.co_name != "wait":
            frame = frame.f_back
        if frame is None:
            return False
    return True


def _run_all_missing(f, worker, release):
    """Start N_THREADS threads on worker(i); once all have missed, release them."""
    threads = [threading.Thread(target=worker(i), daemon=True) for i in range(N_THREADS)]
    for t in threads:
        t.start()
    try:
        assert _wait_for(lambda: f.cache_info().misses == N_THREADS)
        # and every one of them waits (in the body, or for the flight): a
        # thread still on its way to the flight when the leader finished
        # would start a flight of its own (threads really run at once on a
        # free-threaded build)
        assert _wait_for(lambda: _all_waiting(threads))
    finally:
        release.set()
        for t in threads:
            t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads)


@pytest.mark.parametrize("single_flight", [True, False])
def test_single_flight_runs_once(ap, single_flight):
    release = threading.Event()
    runs = []

    @ap.cached(max_size=16, single_flight=single_flight)
    def f(k):
        runs.append(k)
        assert release.wait(JOIN_TIMEOUT)
        return ["result", k]

    results = [None] * N_THREADS

    def worker(i):
        def body():
            results[i] = f(7)
        return body

    # every thread has looked the key up and missed before the first run ends
    _run_all_missing(f, worker, release)
    assert all(r == ["result", 7] for r in results)
    info = f.cache_info()
    assert (info.hits, info.misses, info.currsize) == (0, N_THREADS, 1)
    if single_flight:
        assert runs == [7]
        assert all(r is results[0] for r in results)  # the one result, shared
    else:
        assert runs == [7] * N_THREADS  # as functools: each miss runs the function
    assert f(7) == ["result", 7]
    assert f.cache_info().hits == 1


def test_single_flight_shares_the_exception(ap):
    release = threading.Event()
    runs = []
    error = Boom("once")

    @ap.cached(max_size=16, single_flight=True)
    def f(k):
        runs.append(k)
        assert release.wait(JOIN_TIMEOUT)
        if len(runs) == 1:
            raise error
        return k

    outcomes = [None] * N_THREADS

    def worker(i):
        def body():
            try:
                outcomes[i] = f(3)
            except Boom as exc:
                outcomes[i] = exc
        return body

    _run_all_missing(f, worker, release)
    assert runs == [3]
    assert all(o is error for o in outcomes)
    assert f.cache_info().currsize == 0  # exceptions are not cached
    assert f(3) == 3  # the next call runs again
    assert runs == [3, 3]


def test_single_flight_recursion_on_same_key_does_not_deadlock(ap):
    runs = []

    @ap.cached(max_size=16, single_flight=True)
    def f(k, depth=0):
        runs.append(depth)
        if len(runs) == 1:
            return f(k) + 1  # the same key again, from the computing thread
        return 10

    result = []
    t = threading.Thread(target=lambda: result.append(f(1)), daemon=True)
    t.start()
    t.join(JOIN_TIMEOUT)
    assert not t.is_alive(), "single_flight deadlocked on recursion"
    assert result == [11] or result == [10]
    assert len(runs) == 2
    f.cache._check()
    # whichever value was stored, it is the cached one from now on
    assert f(1) == f(1)
    assert len(runs) == 2


def test_single_flight_fibonacci_recursion(ap):
    @ap.cached(max_size=None, single_flight=True)
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    result = []
    t = threading.Thread(target=lambda: result.append(fib(60)), daemon=True)
    t.start()
    t.join(JOIN_TIMEOUT)
    assert not t.is_alive()
    assert result == [1548008755920]
    assert fib.cache_info().misses == 61


# -- coroutine functions ----------------------------------------------------------

def test_coroutine_concurrent_awaits_run_once(ap):
    runs = []

    @ap.cached(max_size=8)
    async def g(k):
        runs.append(k)
        for _ in range(3):
            await asyncio.sleep(0)
        return {"k": k}

    assert inspect.iscoroutinefunction(g)

    async def main():
        first = await asyncio.gather(*[g(5) for _ in range(10)])
        again = await g(5)
        return first, again

    first, again = asyncio.run(main())
    assert runs == [5]
    assert all(r == {"k": 5} for r in first)
    assert all(r is first[0] for r in first)
    assert again is first[0]
    info = g.cache_info()
    # the first counts a miss and runs, the others count misses and await it
    assert (info.hits, info.misses, info.currsize) == (1, 10, 1)


def test_coroutine_exception_is_shared_and_not_cached(ap):
    runs = []

    @ap.cached(max_size=8)
    async def g(k):
        runs.append(k)
        await asyncio.sleep(0)
        if len(runs) == 1:
            raise Boom("first")
        return k

    async def main():
        outcome = await asyncio.gather(*[g(1) for _ in range(10)], return_exceptions=True)
        return outcome, await g(1)

    outcome, later = asyncio.run(main())
    assert runs == [1, 1]
    assert all(isinstance(o, Boom) for o in outcome)
    assert later == 1
    assert g.cache_info().currsize == 1


def test_coroutine_distinct_keys_run_separately(ap):
    runs = []

    @ap.cached(max_size=None)
    async def g(k):
        runs.append(k)
        await asyncio.sleep(0)
        return k * 2

    async def main():
        return await asyncio.gather(*[g(k % 3) for k in range(9)])

    assert asyncio.run(main()) == [0, 2, 4] * 3
    assert sorted(runs) == [0, 1, 2]
