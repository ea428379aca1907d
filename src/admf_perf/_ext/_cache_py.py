"""Pure-Python twin of ``_cache.pyx``: the readable specification of the stores.

Semantics are documented in docs/caching.md. Structure:

- ``_data``: dict key -> ``_Entry`` (the only place user ``__hash__``/``__eq__`` run);
- the *order list* (``_ListOrder`` for LRU/FIFO/TLRU/UNBOUNDED, ``_LFUOrder``
  with frequency buckets for LFU) and, with ``ttl``, the *time list* (write
  order), all keyed by entry identity, so reordering never runs user code;
- an ``RLock`` held for each operation (never while a cached function runs).
"""
from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ._types import KWD_MARK, LFU, LRU, TLRU, UNBOUNDED, CacheInfo

_MISSING: Any = object()

# Builtins the store calls, bound once: a program may replace ``builtins.len``
# with a cached function (CPython's test_lru_reentrancy_with_len does).
_len = len

__all__ = ["CacheCore", "CachedFunction", "MethodTokens", "call_key", "make_key",
           "set_enabled", "is_enabled"]

_enabled = True


def set_enabled(flag: bool) -> None:
    """Globally enable or disable cached functions (CacheManager.enable/disable)."""
    global _enabled
    _enabled = bool(flag)


def is_enabled() -> bool:
    return _enabled


class _Entry:
    __slots__ = ("key", "value", "created_at", "last_access", "access_count",
                 "expires_at", "args", "kwargs", "freq", "live", "nbytes")

    def __init__(self, key, value, now, expires_at, args, kwargs):
        self.key = key
        self.value = value
        self.created_at = now
        self.last_access = now
        self.access_count = 0
        self.expires_at = expires_at
        self.args = args
        self.kwargs = kwargs
        self.freq = 1
        self.live = True
        self.nbytes = 0


class _ListOrder:
    """One list: LRU (hits move to the end), FIFO/UNBOUNDED (hits do not)."""

    def __init__(self, move_on_hit: bool):
        self.items: OrderedDict[_Entry, None] = OrderedDict()
        self.move_on_hit = move_on_hit

    def add(self, e):
        self.items[e] = None

    def remove(self, e):
        del self.items[e]

    def hit(self, e):
        if self.move_on_hit:
            self.items.move_to_end(e)

    def overwrite(self, e):
        self.items.move_to_end(e)

    def victim(self):
        return next(iter(self.items))

    def ordered(self):
        """The entries in eviction order, lazily."""
        return iter(self.items)

    def __len__(self):
        return _len(self.items)

    def __iter__(self):
        return iter(list(self.items))

    def clear(self):
        self.items.clear()


class _LFUOrder:
    """Frequency buckets; within a bucket, least recently used first."""

    def __init__(self):
        self.buckets: dict[int, OrderedDict[_Entry, None]] = {}
        self.size = 0

    def add(self, e):
        e.freq = 1
        self.buckets.setdefault(1, OrderedDict())[e] = None
        self.size += 1

    def remove(self, e):
        bucket = self.buckets[e.freq]
        del bucket[e]
        if not bucket:
            del self.buckets[e.freq]
        self.size -= 1

    def __len__(self):
        return self.size

    def hit(self, e):
        self.remove(e)
        e.freq += 1
        self.buckets.setdefault(e.freq, OrderedDict())[e] = None
        self.size += 1

    overwrite = hit

    def victim(self):
        return next(iter(self.buckets[min(self.buckets)]))

    def ordered(self):
        """The entries in eviction order, lazily."""
        for f in sorted(self.buckets):
            yield from self.buckets[f]

    def __iter__(self):
        return iter([e for f in sorted(self.buckets) for e in self.buckets[f]])

    def clear(self):
        self.buckets.clear()
        self.size = 0


class CacheCore:
    """The store behind ``Cache``: policy, TTL, statistics."""

    def __init__(self, max_size: int | None = 128, policy: int = LRU,
                 ttl: float | None = None, timer: Callable[[], float] | None = None,
                 max_bytes: int | None = None, measure: Callable[[Any, Any], int] | None = None):
        self._max_size = -1 if (max_size is None or policy == UNBOUNDED) else int(max_size)
        # bytes: counted when there is a measure (measure(key, value) -> int >= 0),
        # bounded when there is a budget too
        if max_bytes is not None and measure is None:
            raise ValueError("max_bytes needs a measure (the wrapper passes the default one)")
        self._max_bytes = -1 if max_bytes is None else int(max_bytes)
        self._measure = measure
        self._bytes = 0
        self._policy = policy
        self._ttl = ttl
        self._timer = time.monotonic if timer is None else (lambda: float(timer()))
        self._data: dict[Any, _Entry] = {}
        self._order = _LFUOrder() if policy == LFU else _ListOrder(policy in (LRU, TLRU))
        self._times: OrderedDict[_Entry, None] | None = OrderedDict() if ttl else None
        self._lock = threading.RLock()
        self.hits = self.misses = self.evictions = self.expirations = 0

    # -- internal helpers (lock held) -------------------------------------
    def _detach(self, e: _Entry) -> None:
        """Take a live entry out of the order and time lists."""
        e.live = False
        self._bytes -= e.nbytes
        self._order.remove(e)
        if self._times is not None:
            del self._times[e]

    def _remove(self, e: _Entry) -> bool:
        """Remove an entry from the store; False if it was gone already."""
        if not e.live:
            return False
        self._detach(e)
        if self._data.get(e.key) is e:
            self._data.pop(e.key, None)  # a key's __eq__ may have removed it meanwhile
        return True

    def _purge(self, now: float) -> int:
        count = 0
        while self._times:
            e = next(iter(self._times))
            if e.expires_at > now:
                break
            if self._remove(e):
                self.expirations += 1
                count += 1
            del e  # dropped here, between steps: its value's __del__ may use the store
        return count

    def _find(self, key, now):
        """The live entry of key, or None; an expired one is removed (counted)."""
        e = self._data.get(key)
        if e is None or not e.live:
            return None
        if self._ttl is not None and now >= e.expires_at:
            if self._remove(e):
                self.expirations += 1
            return None
        return e

    def _peek(self, key):
        """Like _find but without side effects."""
        e = self._data.get(key)
        if e is None or not e.live:
            return None
        if self._ttl is not None and self._timer() >= e.expires_at:
            return None
        return e

    def _lookup(self, key, default):
        """get(): counts a hit or a miss."""
        with self._lock:
            now = self._timer()
            e = self._find(key, now)
            if e is None:
                self.misses += 1
                return _MISSING if default is _MISSING else default
            self.hits += 1
            e.access_count += 1
            e.last_access = now
            self._order.hit(e)
            return e.value

    def _store(self, key, value, args, kwargs, overwrite=True) -> None:
        size = 0
        if self._measure is not None and self._max_size != 0:
            hash(key)
            size = self._measure(key, value)     # user code: before any change, without the lock
        with self._lock:
            hash(key)
            if self._max_size == 0:
                return
            now = self._timer()
            if self._times is not None:
                self._purge(now)
            expires_at = now + self._ttl if self._ttl is not None else None
            e = self._find(key, now)
            if 0 <= self._max_bytes < size:     # over the whole budget: not stored (counted)
                if e is not None and overwrite:
                    self._remove(e)             # the old value must not outlive its overwrite
                if e is None or overwrite:
                    self.evictions += 1
                return
            if e is not None:
                if overwrite:
                    self._rewrite(e, value, now, expires_at, args, kwargs)
                    self._bytes += size - e.nbytes
                    e.nbytes = size
                    self._evict_bytes(e)
                return
            if 0 < self._max_size <= _len(self._order):
                while _len(self._order) >= self._max_size:
                    if self._remove(self._order.victim()):
                        self.evictions += 1
            self._evict_bytes(None, size)
            e = _Entry(key, value, now, expires_at, args, kwargs)
            found = self._data.setdefault(key, e)
            if found is not e:  # inserted meanwhile by code run from __eq__
                if found.live:
                    self._rewrite(found, value, now, expires_at, args, kwargs)
                    self._bytes += size - found.nbytes
                    found.nbytes = size
                    self._evict_bytes(found)
                    return
                self._data[key] = e
            e.nbytes = size
            self._bytes += size
            self._order.add(e)
            if self._times is not None:
                self._times[e] = None
            # Code run by a key's __eq__ during setdefault may have filled the store.
            while 0 < self._max_size < _len(self._order):
                if self._remove(self._order.victim()):
                    self.evictions += 1
            self._evict_bytes(e)

    def _evict_bytes(self, keep, incoming=0):
        """Evict in policy order, never ``keep``, until the bytes (plus
        ``incoming``) fit the budget."""
        if self._max_bytes < 0:
            return
        while self._bytes + incoming > self._max_bytes:
            victim = next((v for v in self._order.ordered() if v is not keep), None)
            if victim is None:
                return
            if self._remove(victim):
                self.evictions += 1

    def _rewrite(self, e, value, now, expires_at, args, kwargs):
        _old = e.value  # dropped on return, when the entry is consistent: its __del__ may use the store
        e.value = value
        e.created_at = e.last_access = now
        e.access_count = 0
        e.expires_at = expires_at
        e.args = args
        e.kwargs = kwargs
        self._order.overwrite(e)
        if self._times is not None:
            self._times.move_to_end(e)

    # -- hot API ------------------------------------------------------------
    def get(self, key, default=None):
        return self._lookup(key, default)

    def set(self, key, value, args=None, kwargs=None) -> None:
        self._store(key, value, args, kwargs)

    def __getitem__(self, key):
        value = self._lookup(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value) -> None:
        self._store(key, value, None, None)

    def __delitem__(self, key) -> None:
        with self._lock:
            e = self._find(key, self._timer())
            if e is None:
                raise KeyError(key)
            self._remove(e)

    def __contains__(self, key) -> bool:
        with self._lock:
            return self._peek(key) is not None

    def __len__(self) -> int:
        with self._lock:
            if self._times is not None:
                self._purge(self._timer())
            return _len(self._order)

    def pop(self, key, default=_MISSING):
        with self._lock:
            e = self._find(key, self._timer())
            if e is None:
                if default is _MISSING:
                    raise KeyError(key)
                return default
            self._remove(e)
            return e.value

    # -- cold API ------------------------------------------------------------
    def _snapshot(self) -> list[_Entry]:
        with self._lock:
            if self._times is not None:
                self._purge(self._timer())
            return list(self._order)

    def keys(self) -> list:
        return [e.key for e in self._snapshot()]

    def values(self) -> list:
        return [e.value for e in self._snapshot()]

    def items(self) -> list:
        return [(e.key, e.value) for e in self._snapshot()]

    def _discard(self, key) -> bool:
        """Remove key if live (not an eviction). True if something was removed."""
        with self._lock:
            e = self._find(key, self._timer())
            if e is None:
                return False
            self._remove(e)
            return True

    def _discard_matching(self, predicate: Callable[[Any], bool]) -> int:
        """Remove the live entries whose key satisfies predicate."""
        removed = 0
        for e in self._snapshot():
            if predicate(e.key):
                with self._lock:
                    if e.live:
                        self._remove(e)
                        removed += 1
        return removed

    def expire(self) -> int:
        with self._lock:
            if self._times is None:
                return 0
            return self._purge(self._timer())

    def clear(self) -> None:
        with self._lock:
            entries = self._data
            for e in entries.values():
                e.live = False
            self._data = {}
            self._bytes = 0
            self._order.clear()
            if self._times is not None:
                self._times.clear()
        del entries  # values' __del__ run here, with the store consistent

    def reset_stats(self) -> None:
        with self._lock:
            self.hits = self.misses = self.evictions = self.expirations = 0

    def _counters(self) -> tuple[int, int, int, int]:
        return self.hits, self.misses, self.evictions, self.expirations

    def _entry(self, key):
        """(value, created_at, last_access, access_count, expires_at, args, kwargs) or None."""
        with self._lock:
            e = self._peek(key)
            if e is None:
                return None
            return (e.value, e.created_at, e.last_access, e.access_count,
                    e.expires_at, e.args, e.kwargs)

    @property
    def max_size(self) -> int | None:
        return None if self._max_size < 0 else self._max_size

    @property
    def max_bytes(self) -> int | None:
        return None if self._max_bytes < 0 else self._max_bytes

    @property
    def nbytes(self) -> int | None:
        """The bytes of the live entries as measured when stored (None: not measured)."""
        if self._measure is None:
            return None
        with self._lock:
            if self._times is not None:
                self._purge(self._timer())
            return self._bytes

    @property
    def ttl(self) -> float | None:
        return self._ttl

    @property
    def policy(self) -> int:
        return self._policy

    def _check(self, strict: bool = True) -> None:
        """Assert the internal invariants (for tests); ``strict``: see _cache.pyx."""
        with self._lock:
            ordered = list(self._order)
            assert all(e.live for e in ordered)
            assert _len(set(map(id, ordered))) == _len(ordered)
            if strict:
                assert _len(ordered) == _len(self._data), (_len(ordered), _len(self._data))
                for e in ordered:
                    assert self._data.get(e.key) is e
            assert _len(self._order) == _len(ordered)
            if self._max_size >= 0:
                assert _len(ordered) <= self._max_size
            assert self._bytes == sum(e.nbytes for e in ordered), (self._bytes, [e.nbytes for e in ordered])
            if self._max_bytes >= 0:
                assert self._bytes <= self._max_bytes
            if self._times is not None:
                assert set(self._times) == set(ordered)
                stamps = [e.expires_at for e in self._times]
                assert stamps == sorted(stamps)
            if isinstance(self._order, _LFUOrder):
                for f, bucket in self._order.buckets.items():
                    assert bucket and all(e.freq == f for e in bucket)


# -- cached functions ----------------------------------------------------------

class _HashedKey(tuple):
    """A tuple key whose hash is computed once (functools' _HashedSeq)."""

    def __new__(cls, items, hashvalue):
        self = tuple.__new__(cls, items)
        self.hashvalue = hashvalue
        return self

    def __hash__(self):
        return self.hashvalue


def make_key(args: tuple, kwargs: dict | None, typed: bool):
    """functools' key: the lone exact int/str argument, else a flat tuple."""
    key = args
    if kwargs:
        key += (KWD_MARK,)
        for item in kwargs.items():
            key += item
    if typed:
        key += tuple(type(v) for v in args)
        if kwargs:
            key += tuple(type(v) for v in kwargs.values())
    elif _len(key) == 1 and type(key[0]) in (int, str):
        return key[0]
    return key


def _hashed(key):
    """Hash key once; tuples carry their hash so the store never rehashes."""
    h = hash(key)
    if type(key) is tuple:
        return _HashedKey(key, h)
    return key


def call_key(key_args: tuple, kwargs: dict, typed: bool, key_maker, fallback):
    """(key, explicit) of one call of a cached function.

    ``key_maker(args, kwargs)`` replaces the key; otherwise functools' key,
    hashed once, or ``fallback(args, kwargs)`` when an argument is unhashable
    (a ``TypeError`` from hashing; other exceptions propagate). ``explicit``
    says the key does not have functools' layout, so the entry should keep
    the call's args and kwargs.
    """
    if key_maker is not None:
        return key_maker(key_args, kwargs), True
    try:
        return _hashed(make_key(key_args, kwargs, typed)), False
    except TypeError:
        if fallback is None:
            raise
    return _hashed(fallback(key_args, kwargs)), True


class _Flight:
    __slots__ = ("event", "owner", "result", "error")

    def __init__(self):
        self.event = threading.Event()
        self.owner = threading.get_ident()
        self.result = None
        self.error = None


class MethodTokens:
    """Identity tokens for the instances a cached method is called on.

    A token stands for its instance in keys, so the cache never holds the
    instance; when the instance dies its entries are removed from the cache.
    """

    def __init__(self, cache: CacheCore):
        self._cache_ref = weakref.ref(cache)
        self._by_id: dict[int, tuple[weakref.ref, object]] = {}

    def token(self, obj):
        found = self._by_id.get(id(obj))
        if found is not None and found[0]() is obj:
            return found[1]
        token = _Token()
        try:
            ref = weakref.ref(obj, self._make_callback(id(obj), token))
        except TypeError:
            return obj  # not weakly referenceable: keyed by the object itself
        self._by_id[id(obj)] = (ref, token)
        return token

    def _make_callback(self, ident, token):
        tokens_ref = weakref.ref(self)

        def died(_ref):
            tokens = tokens_ref()
            if tokens is None:
                return
            found = tokens._by_id.get(ident)
            if found is not None and found[1] is token:
                del tokens._by_id[ident]
            cache = tokens._cache_ref()
            if cache is not None:
                cache._discard_matching(
                    lambda k: type(k) is not int and type(k) is not str
                    and _len(k) > 0 and k[0] is token)
        return died


class _Token:
    __slots__ = ("__weakref__",)

    def __repr__(self):
        return f"<instance token {id(self):#x}>"


class CachedFunction:
    """What ``cached`` returns: a functools-compatible caching wrapper."""

    def __init__(self, func, cache: CacheCore, typed: bool = False,
                 key_maker=None, fallback_key=None, single_flight: bool = False):
        if not callable(func):
            raise TypeError("func must be callable")
        self._func = func
        self._cache = cache
        self._typed = bool(typed)
        self._key_maker = key_maker
        self._fallback_key = fallback_key
        self._single_flight = bool(single_flight)
        self._flights: dict = {}
        self._flight_lock = threading.RLock()
        self._tokens = MethodTokens(cache)

    @property
    def cache(self):
        return self._cache

    def __call__(self, *args, **kwargs):
        return self._call(None, args, kwargs)

    def _call(self, prefix, args, kwargs, call_args=None):
        """prefix: the instance token of a bound call (call_args then holds obj)."""
        func_args = args if call_args is None else call_args
        if not _enabled:
            return self._func(*func_args, **kwargs)
        cache = self._cache
        if cache._max_size == 0:
            with cache._lock:
                cache.misses += 1
            return self._func(*func_args, **kwargs)
        key, extra = self._key(prefix, args, kwargs)
        value = cache._lookup(key, _MISSING)
        if value is not _MISSING:
            return value
        if self._single_flight:
            return self._single(key, extra, func_args, kwargs)
        result = self._func(*func_args, **kwargs)
        cache._store(key, result, *extra, overwrite=False)
        return result

    def _key(self, prefix, args, kwargs):
        """(key, (args, kwargs) to keep on the entry) for one call."""
        key_args = args if prefix is None else (prefix,) + args
        key, explicit = call_key(key_args, kwargs, self._typed, self._key_maker,
                                 self._fallback_key)
        return key, ((args, kwargs) if explicit else (None, None))

    def _single(self, key, extra, args, kwargs):
        with self._flight_lock:
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                with self._cache._lock:
                    e = self._cache._peek(key)
                if e is not None:
                    return e.value
                flight = self._flights[key] = _Flight()
        if not leader:
            if flight.owner == threading.get_ident():  # recursion on the same key
                return self._func(*args, **kwargs)
            flight.event.wait()
            if flight.error is not None:
                raise flight.error
            return flight.result
        try:
            flight.result = result = self._func(*args, **kwargs)
            self._cache._store(key, result, *extra, overwrite=False)
            return result
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._flight_lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.event.set()

    # -- functools compatibility ------------------------------------------
    def cache_info(self):  # no annotations: signatures as functools'
        c = self._cache
        return CacheInfo(c.hits, c.misses, c.max_size, _len(c))

    def cache_clear(self):
        self._cache.clear()
        self._cache.reset_stats()

    def cache_parameters(self):
        return {"maxsize": self._cache.max_size, "typed": self._typed}

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return _BoundCachedMethod(self, obj)

    def __reduce__(self):
        return self.__qualname__

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class _BoundCachedMethod:
    """``obj.method`` of a cached function: keyed by obj's identity token."""

    __slots__ = ("__func__", "__self__", "_token")

    def __init__(self, func: CachedFunction, obj):
        self.__func__ = func
        self.__self__ = obj
        self._token = func._tokens.token(obj)

    def __call__(self, *args, **kwargs):
        return self.__func__._call(self._token, args, kwargs, (self.__self__,) + args)

    def __getattr__(self, name):
        return getattr(self.__func__, name)

    def __repr__(self):
        return f"<bound cached method {self.__func__.__qualname__} of {self.__self__!r}>"


