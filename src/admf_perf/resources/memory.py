"""Memory management: process and system usage, tracked allocations, pressure.

``MemoryManager.get_instance()`` reads memory through psutil, tracks objects
weakly (a freed object leaves the tracking), and under pressure releases what
the toolkit holds: every cache through the ``CacheManager``, every registered
pool's idle objects, a garbage collection, and registered callbacks.
"""
from __future__ import annotations

import gc
import itertools
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

import psutil

from .._singleton import Singleton
from .._validate import check_int, check_real
from ..caching.registry import CacheManager

__all__ = ["MemoryManager", "sizeof"]


def sizeof(obj: Any) -> int:
    """Bytes held by ``obj``: numpy ``nbytes``, a DataFrame's or Series'
    deep ``memory_usage``, else ``sys.getsizeof``."""
    usage = getattr(obj, "memory_usage", None)
    if callable(usage) and hasattr(obj, "iloc"):            # pandas
        total = usage(deep=True)
        return int(total.sum() if hasattr(total, "sum") else total)
    nbytes = getattr(obj, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    return sys.getsizeof(obj)


class MemoryManager(Singleton):
    """Process-wide memory accounting and pressure relief.

    The pressure threshold is either a percent of system memory in use
    (``threshold_percent``, default 85) or bytes of this process's RSS
    (``threshold_rss``); memory is under pressure when either set threshold
    is reached.
    """

    def __init__(self, threshold_percent: float | None = 85.0,
                 threshold_rss: int | None = None) -> None:
        self._lock = threading.RLock()
        self._tracked: dict[int, tuple[weakref.ref, int]] = {}
        self._ids = itertools.count()
        self._pools: weakref.WeakSet[Any] = weakref.WeakSet()
        self._callbacks: list[Callable[[dict[str, Any]], Any]] = []
        self._process = psutil.Process()
        self.threshold_percent: float | None = None
        self.threshold_rss: int | None = None
        self.set_threshold(percent=threshold_percent, rss=threshold_rss)

    # -- readings ------------------------------------------------------------------
    def memory_usage(self) -> dict[str, float]:
        """Process RSS/VMS (bytes) and system total/available (bytes), percent used."""
        info = self._process.memory_info()
        system = psutil.virtual_memory()
        return {"rss": info.rss, "vms": info.vms, "system_total": system.total,
                "system_available": system.available, "system_percent": system.percent}

    # -- tracking --------------------------------------------------------------------
    def track_allocation(self, obj: Any, size: int | None = None) -> int:
        """Track ``obj`` (weakly) as holding ``size`` bytes (measured when None).

        Returns the size recorded. Objects that cannot be weakly referenced
        raise ``TypeError``.
        """
        size = sizeof(obj) if size is None else check_int(size, "size", minimum=0)
        ident = next(self._ids)

        def gone(_ref: weakref.ref, ident: int = ident,
                 manager: weakref.ref = weakref.ref(self)) -> None:  # noqa: B008 -- bound now, on purpose
            m = manager()
            if m is not None:
                with m._lock:
                    m._tracked.pop(ident, None)

        try:
            ref = weakref.ref(obj, gone)
        except TypeError:
            raise TypeError(f"obj of type {type(obj).__name__} cannot be tracked: "
                            "it does not support weak references") from None
        with self._lock:
            self._tracked[ident] = (ref, size)
        return size

    def tracked(self) -> dict[str, int]:
        """``count`` and ``bytes`` of the live tracked objects."""
        with self._lock:
            live = [size for ref, size in self._tracked.values() if ref() is not None]
        return {"count": len(live), "bytes": sum(live)}

    # -- pressure ----------------------------------------------------------------------
    def set_threshold(self, percent: float | None = None, rss: int | None = None) -> None:
        """Pressure when system memory in use reaches ``percent`` or RSS reaches ``rss`` bytes."""
        percent = check_real(percent, "percent", minimum=0.0, open_minimum=True, maximum=100.0, allow_none=True,
                             what="a percent of system memory")
        rss = check_int(rss, "rss", minimum=1, allow_none=True)
        if percent is None and rss is None:
            raise ValueError("set_threshold needs percent or rss")
        self.threshold_percent = percent
        self.threshold_rss = rss

    def is_memory_pressure_high(self, usage: dict[str, float] | None = None) -> bool:
        """True when a threshold is reached (by ``usage``, or a fresh reading)."""
        usage = usage if usage is not None else self.memory_usage()
        if self.threshold_percent is not None and usage["system_percent"] >= self.threshold_percent:
            return True
        return self.threshold_rss is not None and usage["rss"] >= self.threshold_rss

    def register_pool(self, pool: Any) -> None:
        """A pool whose ``clear()`` drops its idle objects (held weakly)."""
        self._pools.add(pool)

    def on_pressure(self, callback: Callable[[dict[str, Any]], Any]) -> None:
        """Call ``callback(report)`` after every ``release_memory_pressure``."""
        if not callable(callback):
            raise TypeError(f"callback must be callable; got {type(callback).__name__}")
        self._callbacks.append(callback)

    def release_memory_pressure(self) -> int:
        """Clear caches and pools, collect garbage; return the RSS bytes freed (>= 0).

        Caches only: calculators registered with the CacheManager keep their
        state (``CacheManager.clear_caches``)."""
        before = self.memory_usage()["rss"]
        CacheManager.get_instance().clear_caches()
        pooled = sum(int(pool.clear() or 0) for pool in list(self._pools))
        collected = gc.collect()
        freed = max(0, int(before - self.memory_usage()["rss"]))
        report = {"freed_bytes": freed, "pooled_objects_dropped": pooled,
                  "gc_collected": collected}
        for callback in list(self._callbacks):
            callback(report)
        return freed
