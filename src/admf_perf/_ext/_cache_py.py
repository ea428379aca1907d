"""Pure-Python twin of ``_cache.pyx``: the readable specification of the stores.

Semantics are documented in docs/caching.md. Structure:

- ``_data``: dict key -> ``_Entry`` (the only place user ``__hash__``/``__eq__`` run);
- the *order list* (``_ListOrder`` for LRU/FIFO/TLRU/UNBOUNDED, ``_LFUOrder``
  with frequency buckets for LFU, ``_WTinyLFUOrder``: window, probation and
  protected lists and a ``_Sketch`` for W-TinyLFU) and, with ``ttl``, the
  *time list* (write order), all keyed by entry identity, so reordering never
  runs user code;
- an ``RLock`` held for each operation (never while a cached function runs).
"""
from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ._types import KWD_MARK, LFU, LRU, TLRU, UNBOUNDED, WTINYLFU, CacheInfo

_MISSING: Any = object()

# Builtins the store calls, bound once: a program may replace ``builtins.len``
# with a cached function (CPython's test_lru_reentrancy_with_len does).
_len = len

__all__ = ["CacheCore", "CachedFunction", "MethodTokens", "call_key", "make_key",
           "set_enabled", "is_enabled"]

_enabled = True


def _fast_methods(cls: type) -> None:
    """The compiled module gives ``cls`` ``get`` and ``set`` as method
    descriptors the interpreter specializes; here CacheCore's own serve."""
    if not isinstance(cls, type) or not issubclass(cls, CacheCore) or cls is CacheCore:
        raise TypeError(f"cls must be a Python subclass of CacheCore, got {cls!r}")


def set_enabled(flag: bool) -> None:
    """Globally enable or disable cached functions (CacheManager.enable/disable)."""
    global _enabled
    _enabled = bool(flag)


def is_enabled() -> bool:
    return _enabled


class _Entry:
    __slots__ = ("key", "value", "created_at", "last_access", "access_count",
                 "expires_at", "args", "kwargs", "freq", "live", "nbytes", "hash", "seg")

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
        self.hash = 0       # the key's hash (W-TinyLFU's sketch reads it)
        self.seg = None     # W-TinyLFU: the list it is in


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


# -- W-TinyLFU (docs/caching.md, "W-TinyLFU") ------------------------------------

_M64 = (1 << 64) - 1
_MIX = 0xD6E8FEB86659FD93
_SEEDS = (0xC3A5C85C97CB3127, 0xB492B66FBE98F273, 0x9AE16A3B2F90404F, 0xCBF29CE484222325)
SKETCH_MIN = 16          # counters per row to start with
SKETCH_MAX = 1 << 24     # counters per row at most (32 MiB of counters)


def sketch_width(max_size: int) -> int:
    """The width a sketch may grow to: max_size rounded up to a power of 2,
    within [SKETCH_MIN, SKETCH_MAX] (SKETCH_MAX without a max_size)."""
    if max_size < 0:
        return SKETCH_MAX
    width = SKETCH_MIN
    while width < max_size and width < SKETCH_MAX:
        width <<= 1
    return width


def window_caps(max_size: int, size: int) -> tuple[int, int]:
    """(window, protected) capacities to start with: 1% window, 80% of the
    main area protected, of max_size (of the current size without one)."""
    n = max_size if max_size > 0 else max(size, 1)
    window = n - 99 * n // 100
    return window, 80 * (n - window) // 100


# The hill climber (Caffeine's): after each sample of 10 x width requests,
# move capacity between window and protected by a step that keeps its sign
# while the hit rate improves, decays by STEP_DECAY, and restarts at
# STEP_PERCENT of max_size when the hit rate jumps by RESTART_THRESHOLD.
STEP_PERCENT = 0.0625
STEP_DECAY = 0.98
RESTART_THRESHOLD = 0.05
TRANSFER_MAX = 1000      # entries moved between lists per adjustment at most


class _Sketch:
    """Count-min sketch of 4 rows of counters saturating at 15, a byte each
    (row r's counter j is byte ``r * width + j``), aged by halving every
    counter after 10 x width increments."""

    def __init__(self, cap: int):
        self.cap = cap
        self._alloc(min(SKETCH_MIN, cap))

    def _alloc(self, width: int) -> None:
        self.width = width
        self.bits = width.bit_length() - 1
        self.table = bytearray(4 * width)
        self.additions = 0

    def ensure(self, n: int) -> None:
        """Widen (and start over) when n entries outgrow the rows."""
        if n > self.width and self.width < self.cap:
            self._alloc(min(sketch_width(n), self.cap))

    def _counters(self, h: int) -> list[int]:
        x = h & _M64
        x ^= x >> 32
        x = x * _MIX & _M64
        x ^= x >> 32
        x = x * _MIX & _M64
        x ^= x >> 32
        shift = 64 - self.bits
        return [(row << self.bits) + ((x * seed & _M64) >> shift) for row, seed in enumerate(_SEEDS)]

    def frequency(self, h: int) -> int:
        t = self.table
        return min(t[i] for i in self._counters(h))

    def increment(self, h: int) -> None:
        t = self.table
        added = False
        for i in self._counters(h):
            if t[i] < 15:
                t[i] += 1
                added = True
        if added:
            self.additions += 1
            if self.additions >= 10 * self.width:
                self.table = bytearray(b >> 1 for b in t)
                self.additions //= 2


class _WTinyLFUOrder:
    """A window LRU (1%), then a segmented LRU main area: probation and
    protected (80% of it). New entries enter the window; the one it pushes
    out moves to probation, and when the store is full it must beat
    probation's least recently used entry on the sketch's frequency estimate
    to stay. A hit in probation promotes to protected, whose overflow goes
    back to probation."""

    def __init__(self, max_size: int):
        self.max_size = max_size
        self.window: OrderedDict[_Entry, None] = OrderedDict()
        self.probation: OrderedDict[_Entry, None] = OrderedDict()
        self.protected: OrderedDict[_Entry, None] = OrderedDict()
        self.clear()

    def __len__(self):
        return _len(self.window) + _len(self.probation) + _len(self.protected)

    def caps(self) -> tuple[int, int]:
        """(window, protected) capacities: the climber's with a max_size."""
        if self.max_size > 0:
            return self.window_max, self.protected_max
        return window_caps(self.max_size, _len(self))

    def _demote(self) -> None:
        _, protected = self.caps()
        while _len(self.protected) > protected:
            self._move(next(iter(self.protected)), self.probation)

    def _climb(self) -> None:
        """After a new entry (a miss): adapt the window's share to the hit rate."""
        self.sample_misses += 1
        requests = self.sample_hits + self.sample_misses
        if requests >= 10 * self.sketch.width:
            rate = self.sample_hits / requests
            change = rate - self.previous_rate
            amount = self.step if change >= 0 else -self.step
            if abs(change) >= RESTART_THRESHOLD:
                self.step = STEP_PERCENT * self.max_size * (1 if amount >= 0 else -1)
            else:
                self.step = STEP_DECAY * amount
            self.previous_rate = rate
            self.adjustment = int(amount)
            self.sample_hits = self.sample_misses = 0
        self._demote()
        if self.adjustment > 0:
            quota = min(self.adjustment, self.protected_max)
            self.protected_max -= quota
            self.window_max += quota
            self._demote()
            for _ in range(TRANSFER_MAX):
                source = self.probation or self.protected
                if not source or quota < 1:
                    break
                quota -= 1
                self._move(next(iter(source)), self.window)
            self.protected_max += quota
            self.window_max -= quota
            self.adjustment = quota
        elif self.adjustment < 0 and self.window_max > 1:
            quota = min(-self.adjustment, self.window_max - 1)
            self.protected_max += quota
            self.window_max -= quota
            for _ in range(TRANSFER_MAX):
                if not self.window or quota < 1:
                    break
                quota -= 1
                self._move(next(iter(self.window)), self.probation)
            self.protected_max -= quota
            self.window_max += quota
            self.adjustment = -quota

    def _move(self, e, seg):
        del e.seg[e]
        e.seg = seg
        seg[e] = None

    def add(self, e):
        e.seg = self.window
        self.window[e] = None
        self.sketch.ensure(_len(self))
        self.sketch.increment(e.hash)
        window, _ = self.caps()
        while _len(self.window) > window:
            self._move(next(iter(self.window)), self.probation)
        if self.max_size > 0:
            self._climb()

    def remove(self, e):
        del e.seg[e]
        e.seg = None

    def hit(self, e):
        self.sketch.increment(e.hash)
        self.sample_hits += 1
        if e.seg is not self.probation:
            e.seg.move_to_end(e)
            return
        self._move(e, self.protected)
        self._demote()

    overwrite = hit

    def victim(self):
        """The entry to evict for a new one: the window's least recently used
        entry (the candidate, when the window is at its share) against the
        main area's; the candidate stays (moves to probation) only if its
        estimated frequency is higher."""
        window, _ = self.caps()
        main = self.probation or self.protected
        victim = next(iter(main)) if main else None
        if not self.window or (_len(self.window) < window and victim is not None):
            return victim
        candidate = next(iter(self.window))
        if victim is None:
            return candidate
        if self.sketch.frequency(candidate.hash) > self.sketch.frequency(victim.hash):
            self._move(candidate, self.probation)
            return victim
        return candidate

    def ordered(self):
        """probation, protected, then window, least recently used first, lazily."""
        yield from self.probation
        yield from self.protected
        yield from self.window

    def __iter__(self):
        return iter([*self.probation, *self.protected, *self.window])

    def clear(self):
        """Empty, with a fresh history (sketch and climber)."""
        self.window.clear()
        self.probation.clear()
        self.protected.clear()
        self.sketch = _Sketch(sketch_width(self.max_size))
        self.window_max, self.protected_max = window_caps(self.max_size, 0)
        self.sample_hits = self.sample_misses = 0
        self.previous_rate = 0.0
        self.step = -STEP_PERCENT * self.max_size
        self.adjustment = 0


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
        if policy == LFU:
            self._order = _LFUOrder()
        elif policy == WTINYLFU:
            self._order = _WTinyLFUOrder(self._max_size)
        else:
            self._order = _ListOrder(policy in (LRU, TLRU))
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
            h = hash(key)
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
            e.hash = h
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
                self._time_link(e)
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
            if keep is None:        # room for a new entry: as for max_size
                victim = self._order.victim() if _len(self._order) else None
            else:
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
            self._time_link(e)

    def _time_link(self, e):
        """Put a written entry last in the time list, then move back after it
        any stamped later (writes made while its key was looked up, by a
        key's __eq__): the list stays in expiry order."""
        times = self._times
        times[e] = None
        times.move_to_end(e)
        later = []
        for x in reversed(times):
            if x is not e:
                if x.expires_at <= e.expires_at:
                    break
                later.append(x)
        for x in reversed(later):
            times.move_to_end(x)

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
            if isinstance(self._order, _WTinyLFUOrder):
                o = self._order
                for seg in (o.window, o.probation, o.protected):
                    assert all(e.seg is seg for e in seg)
                window, protected = o.caps()
                assert _len(o.protected) <= protected or o.max_size < 0
                assert window >= 1 and protected >= 0
                if o.max_size > 0:
                    assert window + protected <= o.max_size
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


def _store_of(f):
    """The store of a cached function (None too); TypeError when it has none:
    made by ``__new__`` without ``__init__``, or cleared by the garbage
    collector breaking a cycle (a finalizer's call after it)."""
    cache = getattr(f, "_cache", None)
    if cache is None:
        raise TypeError("this cached function has no store: it was made without __init__, "
                        "or the garbage collector has cleared it")
    return cache


class CachedFunction:
    """What ``cached`` returns: a functools-compatible caching wrapper."""

    def __init__(self, func, cache: CacheCore, typed: bool = False,
                 key_maker=None, fallback_key=None, single_flight: bool = False):
        if getattr(self, "_cache", None) is not None:
            raise RuntimeError("CachedFunction.__init__ called on a function already set up")
        if not callable(func):
            raise TypeError("func must be callable")
        typed = bool(typed)
        single_flight = bool(single_flight)
        tokens = MethodTokens(cache)
        self._func = func
        self._typed = typed
        self._key_maker = key_maker
        self._fallback_key = fallback_key
        self._single_flight = single_flight
        self._flights: dict = {}
        self._flight_lock = threading.RLock()
        self._tokens = tokens
        self._cache = cache     # last: a store means set up (_store_of), whatever raised before

    @property
    def cache(self):
        return self._cache

    def __call__(self, *args, **kwargs):
        return self._call(None, args, kwargs)

    def _call(self, prefix, args, kwargs, call_args=None):
        """prefix: the instance token of a bound call (call_args then holds obj)."""
        cache = _store_of(self)
        func_args = args if call_args is None else call_args
        if not _enabled:
            return self._func(*func_args, **kwargs)
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
        _store_of(func)
        self.__func__ = func
        self.__self__ = obj
        self._token = func._tokens.token(obj)

    def __call__(self, *args, **kwargs):
        try:
            func, token, obj = self.__func__, self._token, self.__self__
        except AttributeError:      # made by __new__ alone: _call's _store_of raises
            func = token = obj = None
        return CachedFunction._call(func, token, args, kwargs, (obj,) + args)

    def __getattr__(self, name):
        if name in self.__slots__:      # unset: made by __new__ alone
            raise AttributeError(name)
        return getattr(self.__func__, name)

    def __repr__(self):
        return f"<bound cached method {self.__func__.__qualname__} of {self.__self__!r}>"


