"""``CacheManager``: one registry of every cache, cached function and calculator.

Objects register themselves weakly: a cache that is dropped leaves the
registry. A registered object has a ``name`` and some of ``stats()``,
``clear()`` (or ``reset()``) and ``invalidate(pattern=...)``; the manager
uses what it finds.
"""
from __future__ import annotations

import itertools
import re
import threading
import weakref
from typing import TYPE_CHECKING, Any

from .. import _ext
from .._singleton import Singleton

__all__ = ["CacheManager"]

if TYPE_CHECKING:
    from .._ext import _cache
else:
    _cache = _ext.load("_cache")


class CacheManager(Singleton):
    """Process-wide registry: statistics, clearing, invalidation, enable/disable."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._objects: dict[int, weakref.ref] = {}
        self._order = itertools.count()

    # -- registry ------------------------------------------------------------
    def register(self, obj: Any) -> None:
        """Track ``obj`` (weakly) until it is garbage or ``unregister``-ed."""
        ident = next(self._order)

        def drop(_ref: weakref.ref, ident: int = ident,
                 registry: weakref.ref = weakref.ref(self)) -> None:  # noqa: B008 -- bound now, on purpose
            manager = registry()
            if manager is not None:
                with manager._lock:
                    manager._objects.pop(ident, None)

        with self._lock:
            self._objects[ident] = weakref.ref(obj, drop)

    def unregister(self, obj: Any) -> None:
        with self._lock:
            for ident, ref in list(self._objects.items()):
                if ref() is obj:
                    del self._objects[ident]

    def _live(self) -> list[Any]:
        """Registered objects still alive, oldest first."""
        with self._lock:
            refs = list(self._objects.values())
        return [obj for obj in (ref() for ref in refs) if obj is not None]

    def get(self, name: str) -> Any | None:
        """The most recently registered live object called ``name``, or None."""
        for obj in reversed(self._live()):
            if getattr(obj, "name", None) == name:
                return obj
        return None

    def get_stats(self) -> dict[str, Any]:
        """``name -> stats()`` of every registered object that has statistics.

        A name registered more than once (two live caches called alike) is
        reported as ``name``, ``name#2``, ... in registration order.
        """
        stats: dict[str, Any] = {}
        for obj in self._live():
            method = getattr(obj, "stats", None)
            if method is None:
                continue
            name = str(getattr(obj, "name", type(obj).__name__))
            key, n = name, 1
            while key in stats:
                n += 1
                key = f"{name}#{n}"
            stats[key] = method()
        return stats

    def clear_caches(self) -> None:
        """Empty every registered cache (statistics stay); calculators keep
        their state.  What the MemoryManager does under pressure: a cache
        entry can be computed again, a calculator's history cannot."""
        for obj in self._live():
            method = getattr(obj, "clear", None)
            if method is not None:
                method()

    def clear_all(self) -> None:
        """Empty every registered cache and reset every calculator (statistics stay)."""
        for obj in self._live():
            method = getattr(obj, "clear", None) or getattr(obj, "reset", None)
            if method is not None:
                method()

    def invalidate_by_pattern(self, pattern: str | re.Pattern) -> int:
        """Remove matching keys from every registered cache; return how many."""
        removed = 0
        for obj in self._live():
            method = getattr(obj, "invalidate", None)
            if method is not None:
                removed += method(pattern=pattern)
        return removed

    # -- switch ----------------------------------------------------------------
    def enable(self) -> None:
        """Cached functions look up and store results again (the default)."""
        _cache.set_enabled(True)

    def disable(self) -> None:
        """Cached functions call straight through: no lookup, no statistics."""
        _cache.set_enabled(False)

    @property
    def enabled(self) -> bool:
        return bool(_cache.is_enabled())

    def __repr__(self) -> str:
        return f"<CacheManager: {len(self._live())} registered, enabled={self.enabled}>"
