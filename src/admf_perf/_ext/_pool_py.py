"""Pure-Python twin of ``_pool.pyx`` (the readable specification).

``PoolCore(factory, max_size, reset=None)``: ``_free`` is a LIFO list of idle
objects, ``_out`` a dict ``id(obj) -> obj`` of the objects given out (holding
them, so an id is never reused while its object is out).  ``acquire`` pops an
idle object or calls ``factory()``; ``release`` checks that the object is out
(else ``ValueError``), runs the reset hook -- none, the ``reset`` callable, or
a subclass's ``_reset_object`` (decided once in ``__init__``) -- and keeps the
object when fewer than ``max_size`` are idle, else drops it.  A failing hook
drops the object (counted in ``dropped``) and re-raises.  The bookkeeping is
done under a lock (the compiled core relies on the GIL instead); the factory
and the hook run with no lock held.
"""
from __future__ import annotations

import threading
from typing import Any

__all__ = ["PoolCore"]

_NONE, _CALLABLE, _METHOD = 0, 1, 2
_MISSING = object()


class PoolCore:
    """Free list of reusable objects (see the module docs)."""

    __slots__ = ("_factory", "_reset", "_max_size", "_hook", "_free", "_out", "_lock",
                 "_created", "_reused", "_dropped", "__weakref__")

    def __init__(self, factory: Any, max_size: int, reset: Any = None) -> None:
        self._free: list[Any] = []
        self._out: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._created = self._reused = self._dropped = 0
        self._factory = factory
        self._max_size = int(max_size)
        self._reset = reset
        if type(self)._reset_object is not PoolCore._reset_object:
            self._hook = _METHOD
        elif reset is not None:
            self._hook = _CALLABLE
        else:
            self._hook = _NONE

    @property
    def factory(self) -> Any:
        return self._factory

    @property
    def reset(self) -> Any:
        return self._reset

    @property
    def max_size(self) -> int:
        return self._max_size

    @property
    def in_use(self) -> int:
        return len(self._out)

    @property
    def idle(self) -> int:
        return len(self._free)

    def acquire(self) -> Any:
        with self._lock:
            if self._free:
                obj = self._free.pop()
                self._reused += 1
                self._out[id(obj)] = obj
                return obj
        obj = self._factory()
        with self._lock:
            if id(obj) in self._out:
                raise ValueError(
                    f"factory returned an object this pool has already given out "
                    f"({type(obj).__name__} at 0x{id(obj):x}); the factory must return a new object")
            self._created += 1
            self._out[id(obj)] = obj
        return obj

    def release(self, obj: Any) -> None:
        with self._lock:
            if self._out.get(id(obj), _MISSING) is not obj:
                self._not_out(obj)
            del self._out[id(obj)]
        if self._hook:
            try:
                if self._hook == _CALLABLE:
                    self._reset(obj)
                else:
                    self._reset_object(obj)
            except BaseException:
                with self._lock:
                    self._dropped += 1
                raise
        with self._lock:
            if len(self._free) < self._max_size:
                self._free.append(obj)
            else:
                self._dropped += 1

    def _not_out(self, obj: Any) -> None:
        if any(x is obj for x in self._free):
            raise ValueError(
                f"{type(obj).__name__} object at 0x{id(obj):x} was already released to this pool")
        raise ValueError(
            f"{type(obj).__name__} object at 0x{id(obj):x} is not in use from this pool "
            "(never acquired from it, or already released)")

    def _reset_object(self, obj: Any) -> None:
        if self._reset is not None:
            self._reset(obj)

    def clear(self) -> int:
        with self._lock:
            old, self._free = self._free, []
        return len(old)

    def stats(self) -> dict[str, int]:
        return {
            "created": self._created,
            "reused": self._reused,
            "in_use": len(self._out),
            "idle": len(self._free),
            "dropped": self._dropped,
            "max_size": self._max_size,
        }
