"""ObjectPool scenario (issue 4, section 4): ``p.release(p.acquire())`` of an
idle object beside constructing the pooled object, a small ``__slots__``
class with two attributes, in the same run; gate: <= 0.40x the construction.
A pure-Python list pool doing the same work is shown for information.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from admf_perf.bench.scenario import Gate, Impl, Scenario, register

__all__ = ["ListPool", "Small"]

GROUP = "pool"
OPS = 1_000


class Small:
    """The pooled object: two attributes in ``__slots__``."""

    __slots__ = ("a", "b")

    def __init__(self, a: Any = 0, b: Any = 0) -> None:
        self.a = a
        self.b = b


class ListPool:
    """A minimal pure-Python pool: a list as the free list, no checks."""

    __slots__ = ("_free", "_factory", "_max")

    def __init__(self, factory: Any, max_size: int) -> None:
        self._free: list[Any] = []
        self._factory = factory
        self._max = max_size

    def acquire(self) -> Any:
        free = self._free
        return free.pop() if free else self._factory()

    def release(self, obj: Any) -> None:
        if len(self._free) < self._max:
            self._free.append(obj)


@functools.cache
def _seq(quick: bool = False) -> list[int]:
    return list(range(OPS))


def _ours() -> Mapping[str, Any]:
    from admf_perf.resources.pool import ObjectPool

    p = ObjectPool(Small, max_size=16, name="bench")
    p.release(p.acquire())
    return {"p": p}


def _list_pool() -> Mapping[str, Any]:
    p = ListPool(Small, 16)
    p.release(p.acquire())
    return {"p": p}


def _construct() -> Mapping[str, Any]:
    return {"C": Small}


_CONSTRUCT = "construct Small(0, 0) (__slots__, 2 attributes)"

register(
    Scenario(
        "ObjectPool acquire+release", GROUP,
        "p.release(p.acquire()) of an idle object (no reset hook)",
        "p.release(p.acquire())", _seq,
        Impl("admf_perf.ObjectPool", _ours),
        (
            Impl(_CONSTRUCT, _construct, stmt="C(0, 0)"),
            Impl("pure-Python list pool (information)", _list_pool),
        ),
        gate=Gate(0.40, (_CONSTRUCT,), "constructing a small __slots__ object"),
    ),
)
