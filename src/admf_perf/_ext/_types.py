"""Plain-Python definitions shared by compiled modules and their twins."""
from __future__ import annotations

import functools
import threading
from collections import namedtuple
from collections.abc import Callable
from typing import Any

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


#: The pure-Python twins' one lock (reentrant: a composed indicator steps its
#: source inside). The compiled classes lock each object (a critical section
#: on a free-threaded build, the GIL otherwise); the twins, the specification
#: of behaviour and not of speed, keep the same promise more coarsely: a
#: mutation of any twin object runs alone (docs/freethreading.md).
TWIN_LOCK = threading.RLock()


def twin_locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` under ``TWIN_LOCK``."""

    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with TWIN_LOCK:
            return method(*args, **kwargs)

    return locked
