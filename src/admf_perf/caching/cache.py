"""``Cache``: a bounded store with a choice of policy and TTL, and the records
it gives (``CacheStrategy``, ``CacheEntry``, ``CacheStats``).

The stores are compiled (``_ext/_cache.pyx``); this module holds validation,
defaults, documentation and registration. Semantics beyond DESIGN.md are
written down in docs/caching.md.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from enum import Enum
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from .. import _ext
from .._ext import _types
from .._validate import check_callable, check_int, check_real, check_str
from .registry import CacheManager
from .sizeof import checked_sizeof, entry_size

if TYPE_CHECKING:  # the stubs describe both implementations
    from .._ext import _cache
else:
    _cache = _ext.load("_cache")

__all__ = ["Cache", "CacheEntry", "CacheStats", "CacheStrategy"]

_MISSING: Any = object()


class CacheStrategy(Enum):
    """Eviction policy of a cache. A string such as ``"lfu"`` is accepted too."""

    LRU = "lru"
    LFU = "lfu"
    TLRU = "tlru"
    FIFO = "fifo"
    UNBOUNDED = "unbounded"
    WTINYLFU = "wtinylfu"

    @classmethod
    def _missing_(cls, value: object) -> CacheStrategy | None:
        if isinstance(value, str):
            return cls.__members__.get(value.strip().upper())
        return None

    @classmethod
    def coerce(cls, strategy: CacheStrategy | str) -> CacheStrategy:
        """``strategy`` as a member; ``ValueError``/``TypeError`` naming it otherwise."""
        if isinstance(strategy, cls):
            return strategy
        accepted = ", ".join(m.value for m in cls)
        if not isinstance(strategy, str):
            raise TypeError(f"strategy must be a CacheStrategy or one of the strings "
                            f"{accepted}; got {type(strategy).__name__}")
        try:
            return cls(strategy)
        except ValueError:
            raise ValueError(f"strategy must be one of {accepted} (any case); "
                             f"got {strategy!r}") from None


_POLICY = {
    CacheStrategy.LRU: _types.LRU,
    CacheStrategy.LFU: _types.LFU,
    CacheStrategy.TLRU: _types.TLRU,
    CacheStrategy.FIFO: _types.FIFO,
    CacheStrategy.UNBOUNDED: _types.UNBOUNDED,
    CacheStrategy.WTINYLFU: _types.WTINYLFU,
}


@dataclass(frozen=True)
class CacheEntry:
    """A snapshot of one entry (``Cache.entry``). Times are ``time.monotonic()`` seconds."""

    value: Any
    created_at: float
    last_access: float
    access_count: int
    expires_at: float | None
    args: tuple | None = None
    kwargs: dict | None = None


@dataclass(frozen=True)
class CacheStats:
    """Cumulative statistics of one cache (``Cache.stats``)."""

    hits: int
    misses: int
    evictions: int
    expirations: int
    size: int
    max_size: int | None
    bytes: int | None = None        # measured bytes of the live entries (None: not measured)
    max_bytes: int | None = None    # the byte budget (None: none)
    hit_rate: float = field(init=False)

    def __post_init__(self) -> None:
        lookups = self.hits + self.misses
        object.__setattr__(self, "hit_rate", self.hits / lookups if lookups else 0.0)


def _check_max_size(max_size: object, *, for_cached: bool = False) -> int | None:
    """``max_size``: an int >= 0 or None; for ``cached``, any int, a negative
    one meaning 0 (as functools' ``maxsize``)."""
    if for_cached:
        size: int | None = check_int(max_size, "max_size", allow_none=True)
        return None if size is None else max(size, 0)
    size = check_int(max_size, "max_size", minimum=0, allow_none=True)
    return size


def _check_ttl(ttl: object) -> float | None:
    """``ttl``: a finite number of seconds > 0, or None."""
    seconds: float | None = check_real(ttl, "ttl", minimum=0, open_minimum=True, allow_none=True,
                                       what="a number of seconds")
    return seconds


def _check_budget(max_bytes: object, sizeof: object) -> tuple[int | None, Callable[[Any, Any], int] | None]:
    """``max_bytes`` (an int >= 0 or None) and the measure the store calls
    (the user's ``sizeof``, its results checked; the default with a budget;
    None: entries are not measured)."""
    budget: int | None = check_int(max_bytes, "max_bytes", minimum=0, allow_none=True)
    check_callable(sizeof, "sizeof", allow_none=True, what="a callable sizeof(key, value) -> int")
    if sizeof is not None:
        return budget, checked_sizeof(sizeof)  # type: ignore[arg-type]
    return budget, (entry_size if budget is not None else None)


_names = itertools.count(1)


class Cache(_cache.CacheCore):
    """A bounded key-value cache with a choice of eviction policy and optional TTL.

    ``Cache(max_size=128, strategy=CacheStrategy.LRU, ttl=None, name=None, *,
    max_bytes=None, sizeof=None, timer=None)``

    - ``max_size``: entries kept (``0`` stores nothing; ``None`` never evicts);
    - ``strategy``: ``LRU``, ``LFU``, ``FIFO``, ``TLRU``, ``UNBOUNDED`` or
      ``WTINYLFU`` (a 1% window LRU, count-min admission, a segmented LRU main
      area: resists scans, keeps what is used often), or its name as a string;
    - ``ttl``: seconds an entry lives after it was last written;
    - ``name``: the name it is registered under with the ``CacheManager``;
    - ``max_bytes``: a byte budget (alone or with ``max_size``): entries are
      evicted in policy order until the measured bytes fit; a value larger
      than the whole budget is not stored (counted as an eviction, and an
      overwrite by one removes the old value);
    - ``sizeof``: ``sizeof(key, value) -> int`` measures an entry (default:
      ``caching.sizeof.entry_size``: ``sys.getsizeof`` of key and value,
      numpy arrays by ``nbytes``, pandas objects by
      ``memory_usage(deep=True)``, tuples and lists summed);
    - ``timer``: the clock (seconds as float), ``time.monotonic`` by default.

    Supports ``get``/``set``, the mapping protocol (``cache[k]``, ``del``,
    ``in``, ``len``, iteration), ``entry``, ``stats``, ``invalidate``,
    ``expire``, ``clear`` and ``reset_stats``. Thread-safe.
    """

    __slots__ = ("name", "_strategy", "_key_layout")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _cache._fast_methods(cls)   # get and set the interpreter specializes

    def __init__(
        self,
        max_size: int | None = 128,
        strategy: CacheStrategy | str = CacheStrategy.LRU,
        ttl: float | None = None,
        name: str | None = None,
        *,
        max_bytes: int | None = None,
        sizeof: Callable[[Any, Any], int] | None = None,
        timer: Callable[[], float] | None = None,
    ) -> None:
        max_size = _check_max_size(max_size)
        strategy = CacheStrategy.coerce(strategy)
        ttl = _check_ttl(ttl)
        check_str(name, "name", allow_none=True)
        check_callable(timer, "timer", allow_none=True, what="a callable returning seconds")
        max_bytes, measure = _check_budget(max_bytes, sizeof)
        super().__init__(max_size, _POLICY[strategy], ttl, timer, max_bytes, measure)
        self._strategy = strategy
        self._key_layout: str | None = None  # set by ``cached``: how to read args from keys
        self.name = name if name is not None else f"cache-{next(_names)}"
        CacheManager.get_instance().register(self)

    @property
    def strategy(self) -> CacheStrategy:
        return self._strategy

    def stats(self) -> CacheStats:
        """Hits, misses, evictions, expirations, size, max_size, the bytes and
        the byte budget (None when entries are not measured), and hit rate."""
        size = len(self)
        hits, misses, evictions, expirations = self._counters()
        return CacheStats(hits, misses, evictions, expirations, size, self.max_size,
                          self.nbytes, self.max_bytes)

    def entry(self, key: Any) -> CacheEntry | None:
        """The entry of ``key`` with its metadata, or None (not a use, no statistic)."""
        raw = self._entry(key)
        if raw is None:
            return None
        value, created_at, last_access, access_count, expires_at, args, kwargs = raw
        if args is None and self._key_layout is not None:
            args, kwargs = _call_from_key(key, self._key_layout == "typed")
        return CacheEntry(value, created_at, last_access, access_count, expires_at, args, kwargs)

    def invalidate(self, key: Any = _MISSING, pattern: str | re.Pattern | None = None) -> int:
        """Remove ``key``, or every key whose ``str`` matches ``pattern``; return how many.

        A ``str`` pattern is an fnmatch glob (``fnmatchcase``), a compiled regular
        expression is applied with ``.search``.
        """
        if key is not _MISSING:
            if pattern is not None:
                raise ValueError("invalidate takes key or pattern, not both")
            return int(self._discard(key))
        if pattern is None:
            raise ValueError("invalidate needs key=... or pattern=... (a glob str or re.Pattern)")
        return self._discard_matching(_matcher(pattern))

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def __repr__(self) -> str:
        budget = f", max_bytes={self.max_bytes!r}" if self.max_bytes is not None else ""
        return (f"Cache(name={self.name!r}, strategy={self._strategy.value!r}, "
                f"max_size={self.max_size!r}{budget}, ttl={self.ttl!r}, size={len(self)})")

    __hash__ = object.__hash__


MutableMapping.register(Cache)


_cache._fast_methods(Cache)


def _matcher(pattern: str | re.Pattern) -> Callable[[Any], bool]:
    if isinstance(pattern, str):
        return lambda key: fnmatchcase(str(key), pattern)
    if isinstance(pattern, re.Pattern):
        return lambda key: pattern.search(str(key)) is not None
    raise TypeError(f"pattern must be a glob str or a compiled re.Pattern; got {type(pattern).__name__}")


def _call_from_key(key: Any, typed: bool) -> tuple[tuple, dict]:
    """The (args, kwargs) of a call, read back from its functools-layout key."""
    if type(key) is not tuple and not isinstance(key, tuple):
        return (key,), {}
    items = tuple(key)
    if typed:
        # args + [mark, k, v, ...] + one type per argument
        try:
            n = items.index(_types.KWD_MARK)
        except ValueError:
            n = len(items) // 2
            return items[:n], {}
        m = (len(items) - 2 * n - 1) // 3
        flat = items[n + 1:n + 1 + 2 * m]
        return items[:n], dict(zip(flat[::2], flat[1::2], strict=True))
    for n, item in enumerate(items):
        if item is _types.KWD_MARK:
            flat = items[n + 1:]
            return items[:n], dict(zip(flat[::2], flat[1::2], strict=True))
    return items, {}
