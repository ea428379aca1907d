"""``ObjectPool``: reuse expensive objects instead of constructing them again.

>>> pool = ObjectPool(list, max_size=4, reset=list.clear)
>>> buf = pool.acquire()
>>> buf.append(1)
>>> pool.release(buf)
>>> pool.acquire() is buf, buf
(True, [])
>>> pool.release(buf)
>>> with pool.borrow() as b:
...     b is buf
True
>>> pool.stats()
{'created': 1, 'reused': 2, 'in_use': 0, 'idle': 1, 'dropped': 0, 'max_size': 4}

Semantics:

- ``acquire()`` returns the most recently released idle object (LIFO: the
  one most likely still in the CPU cache) or, when none is idle, a new one
  from ``factory()``.
- ``release(obj)`` runs the reset hook, then keeps ``obj`` if fewer than
  ``max_size`` objects are idle, else drops it.  The hook is a subclass's
  ``_reset_object(obj)`` when it overrides it (decided once, at
  construction), else the ``reset`` callable, else nothing (no call at all).
  A hook that raises: the object is dropped (counted in ``dropped``), the
  exception propagates and the pool stays consistent.
- Releasing an object twice, or one this pool never gave out, raises
  ``ValueError``: an object is never handed to two owners.  The pool holds a
  reference to each object given out until it comes back, so an object that
  is never released is never freed -- use :meth:`borrow` where possible.
- ``borrow()``: ``with pool.borrow() as obj:`` releases ``obj`` on exit, also
  when the body raises.
- ``clear()`` drops the idle objects (returns how many); ``stats()`` gives
  ``created``, ``reused``, ``in_use``, ``idle``, ``dropped`` and ``max_size``.
- Thread-safe: the bookkeeping of ``acquire``/``release`` is atomic (C
  sections under the GIL in the compiled core, a lock in the twin); the
  factory and the hook run with no lock held.

Cost model: ``acquire``/``release`` are the compiled core's methods
(``_ext/_pool.pyx``, ``PoolCore``; twin ``_ext/_pool_py.py``): a pop from a
list and an insert into a C open-addressing set of addresses, then a removal
from the set and an append.  An ``acquire`` + ``release`` of an idle object
costs <= 0.40x constructing a small ``__slots__`` object (``admf-perf bench
-k pool``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .. import _ext
from .._validate import check_callable, check_int, check_str
from .memory import MemoryManager

if TYPE_CHECKING:  # the stub describes both implementations
    from .._ext import _pool
else:
    _pool = _ext.load("_pool")

__all__ = ["DEFAULT_MAX_SIZE", "ObjectPool"]

#: Idle objects kept by default.
DEFAULT_MAX_SIZE = 64


class ObjectPool(_pool.PoolCore):
    """A pool of reusable objects made by ``factory()`` (see the module docs).

    ``factory``: zero-argument callable making a new object.  ``max_size``:
    how many idle objects are kept (an int >= 0).  ``reset``: ``None`` or a
    callable ``reset(obj)`` run on every released object; a subclass may
    override ``_reset_object(obj)`` instead (the core's default calls
    ``reset``; this class must not override it, so that a pool without a
    hook skips the call; the override is detected once, at construction).
    ``name``: for ``repr`` and
    the managers (default: derived from the pool's id).
    """

    __slots__ = ("name",)

    def __init__(self, factory: Callable[[], Any], max_size: int = DEFAULT_MAX_SIZE,
                 reset: Callable[[Any], object] | None = None, name: str | None = None) -> None:
        check_callable(factory, "factory", what="a callable returning a new object")
        max_size = check_int(max_size, "max_size", minimum=0)
        check_callable(reset, "reset", allow_none=True, what="a callable taking the object")
        check_str(name, "name", allow_none=True)
        super().__init__(factory, max_size, reset)
        self.name = name if name is not None else f"ObjectPool@{id(self):x}"
        MemoryManager.get_instance().register_pool(self)  # idle objects are cleared under pressure

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        """``with pool.borrow() as obj:``: an acquired object, released on
        exit even when the body raises."""
        obj = self.acquire()
        try:
            yield obj
        finally:
            self.release(obj)

    def clear(self) -> int:
        """Drop the idle objects; returns how many were dropped (objects in
        use are not affected)."""
        return super().clear()

    def stats(self) -> dict[str, int]:
        """``created``, ``reused``, ``in_use``, ``idle``, ``dropped`` (when
        full or by a failing reset hook) and ``max_size``."""
        return super().stats()

    def __repr__(self) -> str:
        return (f"<ObjectPool {self.name!r}: {self.in_use} in use, {self.idle} idle, "
                f"max_size={self.max_size}>")
