"""How a cache measures an entry for its byte budget (``max_bytes``).

``entry_size(key, value)``, the default: ``sys.getsizeof`` of the key and of
the value, where numpy arrays count their buffer (``nbytes``), pandas objects
``memory_usage(deep=True)`` (summed), and tuples and lists their own size
plus their items' (each item measured the same way; an object met twice in
one measurement counts once). ``checked_sizeof(fn)`` wraps a user's
``sizeof(key, value)`` so that what it returns is checked.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .._validate import check_int

__all__ = ["checked_sizeof", "entry_size", "object_size"]

_getsizeof = sys.getsizeof


def object_size(obj: Any, _seen: set[int] | None = None) -> int:
    """Bytes of one object, as the default measure counts them."""
    kind = type(obj)
    module = kind.__module__
    if module.startswith("numpy") and hasattr(obj, "nbytes") and hasattr(obj, "dtype"):
        return int(obj.nbytes)
    if module.startswith("pandas") and hasattr(obj, "memory_usage"):
        used = obj.memory_usage(deep=True)
        return int(used.sum()) if hasattr(used, "sum") else int(used)
    if kind is tuple or kind is list or isinstance(obj, (tuple, list)):
        if _seen is None:
            _seen = set()
        if id(obj) in _seen:
            return 0
        _seen.add(id(obj))
        return _getsizeof(obj) + sum(object_size(item, _seen) for item in obj)
    return _getsizeof(obj)


def entry_size(key: Any, value: Any) -> int:
    """The default measure of an entry: its key's bytes plus its value's."""
    return object_size(key) + object_size(value)


def checked_sizeof(sizeof: Callable[[Any, Any], Any]) -> Callable[[Any, Any], int]:
    """A user's ``sizeof(key, value)``, its result checked (an int >= 0)."""

    def measure(key: Any, value: Any) -> int:
        size: int = check_int(sizeof(key, value), "sizeof(key, value)", minimum=0)
        return size

    return measure
