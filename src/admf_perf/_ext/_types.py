"""Plain-Python definitions shared by compiled modules and their twins."""
from __future__ import annotations

from collections import namedtuple

#: What ``cache_info()`` of a cached function returns, as functools does.
CacheInfo = namedtuple("CacheInfo", ["hits", "misses", "maxsize", "currsize"])

# Eviction policy codes understood by the stores (``_cache`` and ``_cache_py``).
LRU = 0
LFU = 1
FIFO = 2
TLRU = 3
UNBOUNDED = 4
WTINYLFU = 5


class _KwdMark:
    """Separates positional from keyword arguments in a cached function's key."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<kwargs>"

    def __reduce__(self) -> str:
        return "KWD_MARK"


KWD_MARK = _KwdMark()
