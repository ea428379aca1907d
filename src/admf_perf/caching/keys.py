"""``CacheKey``: hashable keys for any arguments (containers, numpy arrays,
pandas objects, objects with a ``cache_key()`` method).

The key builder is compiled (``_ext/_keys.pyx``; twin ``_ext/_keys_py.py``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _ext

if TYPE_CHECKING:  # the stub describes both implementations
    from .._ext import _keys
else:
    _keys = _ext.load("_keys")

__all__ = ["CacheKey"]


class CacheKey:
    """Cache keys for arbitrary arguments (arrays, frames, containers)."""

    generate_key = staticmethod(_keys.generate_key)
