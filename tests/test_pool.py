"""ObjectPool (issue 4, section 1) on both implementations."""
from __future__ import annotations

import gc
import importlib
import os
import sys
import threading
import weakref

import pytest

_fresh: dict[bool, object] = {}


def _pool_module(ap):
    """``ap.pool``; until the package imports it, the ``pool`` module of a copy
    of the package with the same implementations as ``ap``."""
    mod = getattr(ap, "pool", None)
    if mod is not None:
        return mod
    twins = not any(ap.COMPILED.values())
    if twins not in _fresh:
        saved = {n: m for n, m in sys.modules.items() if n == "admf_perf" or n.startswith("admf_perf.")}
        for n in saved:
            del sys.modules[n]
        old = os.environ.get("ADMF_PERF_NO_EXTENSIONS")
        os.environ["ADMF_PERF_NO_EXTENSIONS"] = "1" if twins else "0"
        try:
            _fresh[twins] = importlib.import_module("admf_perf.resources.pool")
        finally:
            if old is None:
                del os.environ["ADMF_PERF_NO_EXTENSIONS"]
            else:
                os.environ["ADMF_PERF_NO_EXTENSIONS"] = old
            for n in [n for n in sys.modules if n == "admf_perf" or n.startswith("admf_perf.")]:
                del sys.modules[n]
            sys.modules.update(saved)
    return _fresh[twins]


@pytest.fixture
def pool_cls(ap):
    cls = _pool_module(ap).ObjectPool
    core = cls.__mro__[1]
    assert core.__module__.endswith("_pool_py") == (not any(ap.COMPILED.values()))
    return cls


class Thing:
    __slots__ = ("a", "b", "__weakref__")

    def __init__(self) -> None:
        self.a = 0
        self.b = []


def test_acquire_release_reuses_lifo(pool_cls):
    p = pool_cls(Thing, max_size=4)
    a, b = p.acquire(), p.acquire()
    assert a is not b and isinstance(a, Thing)
    p.release(a)
    p.release(b)
    assert p.acquire() is b and p.acquire() is a
    assert p.stats() == {"created": 2, "reused": 2, "in_use": 2, "idle": 0, "dropped": 0, "max_size": 4}


def test_max_size_drops_extra(pool_cls):
    p = pool_cls(Thing, max_size=2)
    objs = [p.acquire() for _ in range(5)]
    for o in objs:
        p.release(o)
    s = p.stats()
    assert (s["idle"], s["dropped"], s["in_use"], s["created"]) == (2, 3, 0, 5)
    z = pool_cls(Thing, max_size=0)
    z.release(z.acquire())
    assert z.stats()["dropped"] == 1 and z.idle == 0


def test_double_release_and_foreign_objects(pool_cls):
    p = pool_cls(Thing, max_size=4)
    o = p.acquire()
    p.release(o)
    with pytest.raises(ValueError, match="already released"):
        p.release(o)
    with pytest.raises(ValueError, match="not in use"):
        p.release(Thing())
    with pytest.raises(ValueError, match="not in use"):
        p.release(None)
    other = pool_cls(Thing, max_size=4)
    x = other.acquire()
    with pytest.raises(ValueError):
        p.release(x)
    other.release(x)
    # dropped when full, then released again: still refused
    q = pool_cls(Thing, max_size=0)
    y = q.acquire()
    q.release(y)
    with pytest.raises(ValueError):
        q.release(y)
    assert p.stats()["idle"] == 1 and p.in_use == 0


def test_reset_callable_and_subclass_hook(pool_cls):
    seen = []
    p = pool_cls(Thing, max_size=4, reset=lambda o: seen.append(o))
    o = p.acquire()
    p.release(o)
    assert seen == [o]

    class Resetting(pool_cls):
        __slots__ = ()

        def _reset_object(self, obj):
            obj.a = 0
            obj.b.clear()
            super()._reset_object(obj)

    r = Resetting(Thing, max_size=4, reset=lambda o: seen.append("cb"))
    o = r.acquire()
    o.a, o.b = 5, [1]
    r.release(o)
    assert (o.a, o.b) == (0, []) and seen[-1] == "cb"
    assert r.acquire() is o


def test_failing_reset_drops_and_reraises(pool_cls):
    def bad(o):
        if o.a:
            raise RuntimeError("boom")

    p = pool_cls(Thing, max_size=4, reset=bad)
    o, k = p.acquire(), p.acquire()
    o.a = 1
    with pytest.raises(RuntimeError, match="boom"):
        p.release(o)
    p.release(k)
    s = p.stats()
    assert (s["dropped"], s["in_use"], s["idle"]) == (1, 0, 1)
    with pytest.raises(ValueError):
        p.release(o)  # no longer the pool's
    assert p.acquire() is k


def test_failing_factory_leaves_pool_consistent(pool_cls):
    calls = []

    def factory():
        calls.append(1)
        if len(calls) == 2:
            raise OSError("no more")
        return Thing()

    p = pool_cls(factory, max_size=2)
    a = p.acquire()
    with pytest.raises(OSError):
        p.acquire()
    assert p.stats()["created"] == 1 and p.in_use == 1
    p.release(a)
    assert p.acquire() is a


def test_factory_returning_an_object_in_use(pool_cls):
    single = Thing()
    p = pool_cls(lambda: single, max_size=2)
    assert p.acquire() is single
    with pytest.raises(ValueError, match="factory"):
        p.acquire()
    p.release(single)
    assert p.acquire() is single


def test_borrow_releases_even_on_error(pool_cls):
    p = pool_cls(Thing, max_size=2)
    with p.borrow() as o:
        assert p.in_use == 1
    assert p.in_use == 0 and p.idle == 1
    with pytest.raises(KeyError):
        with p.borrow() as o2:
            assert o2 is o
            raise KeyError("x")
    assert p.in_use == 0 and p.idle == 1


def test_clear_and_objects_freed(pool_cls):
    p = pool_cls(Thing, max_size=8)
    objs = [p.acquire() for _ in range(3)]
    refs = [weakref.ref(o) for o in objs]
    for o in objs:
        p.release(o)
    del objs, o
    assert p.clear() == 3 and p.idle == 0 and p.clear() == 0
    gc.collect()
    assert all(r() is None for r in refs)
    # objects given out are held by the pool until released, then freed with it
    x = p.acquire()
    rx = weakref.ref(x)
    del x
    assert rx() is not None
    del p
    gc.collect()
    assert rx() is None


def test_many_objects_in_use(pool_cls):
    p = pool_cls(Thing, max_size=100)
    objs = [p.acquire() for _ in range(5000)]
    assert p.in_use == 5000
    for o in objs[::2]:
        p.release(o)
    for o in objs[::2]:
        with pytest.raises(ValueError):
            p.release(o)
    for o in objs[1::2]:
        p.release(o)
    s = p.stats()
    assert (s["in_use"], s["idle"], s["dropped"], s["created"]) == (0, 100, 4900, 5000)


def test_validation_names_the_parameter(pool_cls):
    with pytest.raises(TypeError, match="factory"):
        pool_cls(42)
    with pytest.raises(TypeError, match="max_size"):
        pool_cls(Thing, max_size=2.5)
    with pytest.raises(TypeError, match="max_size"):
        pool_cls(Thing, max_size=True)
    with pytest.raises(ValueError, match="max_size"):
        pool_cls(Thing, max_size=-1)
    with pytest.raises(TypeError, match="reset"):
        pool_cls(Thing, reset=3)
    with pytest.raises(TypeError, match="name"):
        pool_cls(Thing, name=3)
    p = pool_cls(Thing, name="bufs")
    assert "bufs" in repr(p) and p.max_size > 0 and p.factory is Thing and p.reset is None


def test_threads_never_share_an_object(pool_cls):
    p = pool_cls(Thing, max_size=4, reset=lambda o: None)
    errors = []
    owners = {}
    lock = threading.Lock()

    def work(tid):
        try:
            for _ in range(2000):
                o = p.acquire()
                with lock:
                    assert id(o) not in owners
                    owners[id(o)] = tid
                with lock:
                    del owners[id(o)]
                p.release(o)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    s = p.stats()
    assert s["in_use"] == 0 and s["created"] + s["reused"] == 8000
    assert s["idle"] + s["dropped"] == s["created"]
